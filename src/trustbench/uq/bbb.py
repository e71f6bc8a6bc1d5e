"""Bayes by Backprop: mean-field Gaussian variational inference over all weights (Blundell et al. 2015)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Mixture
from trustbench.uq._common import Scaler, begin_fit, check_network, check_number, check_predict_X
from trustbench.validation import check_int

__all__ = ["BayesByBackprop"]

NOISE_INIT = 0.05
"""Initial noise standard deviation (standardized units): small, so the likelihood drives the first
steps and the posterior does not settle on the prior before the mean has fitted the data."""


@dataclass(kw_only=True, eq=False)
class BayesByBackprop:
    """A Bayesian network with a factorized Gaussian posterior q(w) = Π N(μ_i, σ_i²), fitted by the ELBO.

    Every weight and bias has a Gaussian prior N(0, ``prior_std``²) (on standardized data) and a
    variational mean and spread σ = softplus(ρ). Training maximizes the evidence lower bound
    E_q[log p(y | w)] − KL(q ‖ p) by full-batch Adam, the expectation estimated with one draw per
    step through the local reparameterization trick (Kingma, Salimans & Welling 2015: the
    pre-activations are sampled instead of the weights, one independent draw per row, which cuts
    the gradient variance). The observation noise is homoscedastic and learned (a point estimate).
    The KL term may be warmed up linearly from 0 to 1 over the first ``kl_warmup`` share of the steps.

    Small data and a wide network let the KL term dominate and the posterior collapse onto the
    prior (a flat mean and all variance explained as noise); the defaults — two layers of 20
    units, small initial spreads and noise, 2500 steps — avoid that for 50 to 1000 rows. The predictive is
    the mixture over ``n_samples`` weight draws w_s ~ q: Σ_s N(f(x; w_s), σ²) / S.

    Blundell, C., Cornebise, J., Kavukcuoglu, K. & Wierstra, D. (2015). Weight uncertainty in
    neural networks. ICML.

    Parameters
    ----------
    hidden, activation, steps, lr : as in :class:`trustbench.uq.mlp.MLP`.
    prior_std : standard deviation of the Gaussian prior on every weight and bias (> 0).
    init_std : initial posterior spread of every weight (> 0).
    kl_warmup : share of the steps in [0, 1) over which the KL weight rises from 0 to 1 (0 = off).
    n_samples : S, the weight draws of the predictive mixture (≥ 1).
    """

    hidden: tuple[int, ...] = (20, 20)
    activation: str = "relu"
    steps: int = 2500
    lr: float = 1e-2
    prior_std: float = 1.0
    init_std: float = 1e-3
    kl_warmup: float = 0.25
    n_samples: int = 50

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_network(self)
        check_number(self.prior_std, "prior_std", 0.0, np.inf)
        check_number(self.init_std, "init_std", 0.0, np.inf)
        check_number(self.kl_warmup, "kl_warmup", 0.0, 1.0, closed="left")
        check_int(self.n_samples, "n_samples", minimum=1)

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> BayesByBackprop:
        X, y, seed = begin_fit(self, X, y, seed)
        import torch

        from trustbench.uq import _torch

        self.scaler_ = Scaler.fit(X, y)
        x, t = _torch.as_tensor(self.scaler_.x(X)), _torch.as_tensor(self.scaler_.y(y))
        gen = _torch.generator(seed)
        init = _torch.init_mlp([X.shape[1], *self.hidden, 1], gen)
        shapes = [p.shape[1:] for p in init]
        mu = torch.cat([p.detach().reshape(-1) for p in init]).requires_grad_()
        rho = torch.full_like(mu, math.log(math.expm1(self.init_std))).requires_grad_()
        log_noise = torch.tensor(math.log(NOISE_INIT), dtype=_torch.DTYPE, requires_grad=True)
        act = _torch.activation(self.activation)
        warm = self.kl_warmup * self.steps

        def objective(step: int) -> torch.Tensor:
            sigma = torch.nn.functional.softplus(rho)
            means, sds = _unflatten(mu, shapes), _unflatten(sigma, shapes)
            h = x
            for i in range(0, len(shapes), 2):
                m = h @ means[i] + means[i + 1]
                v = (h**2) @ sds[i] ** 2 + sds[i + 1] ** 2
                h = m + v.sqrt() * torch.randn(m.shape, generator=gen, dtype=_torch.DTYPE)
                h = act(h) if i < len(shapes) - 2 else h
            nll = _torch.gaussian_nll(h[:, 0], torch.exp(2 * log_noise), t)
            kl = (math.log(self.prior_std) - sigma.log() + (sigma**2 + mu**2) / (2 * self.prior_std**2) - 0.5).sum()
            return nll + min(1.0, (step + 1) / warm if warm else 1.0) * kl / len(t)

        _torch.train([mu], objective, steps=self.steps, lr=self.lr, extra=[rho, log_noise])
        self.seed_ = seed
        self.mu_ = _unflatten(mu.detach(), shapes)
        self.sigma_ = _unflatten(torch.nn.functional.softplus(rho).detach(), shapes)
        self.noise_std_ = float(torch.exp(log_noise).detach())
        return self

    def predict(self, X: Any) -> Mixture:
        import torch

        from trustbench.uq import _torch

        X = check_predict_X(self, X)
        gen = _torch.generator(self.seed_)
        draws = [
            m + s * torch.randn((self.n_samples, *m.shape), generator=gen, dtype=_torch.DTYPE)
            for m, s in zip(self.mu_, self.sigma_, strict=True)
        ]
        loc = _torch.predict(draws, self.scaler_.x(X), self.activation)[..., 0].T
        return Mixture(self.scaler_.loc(loc), self.scaler_.scale(np.full(loc.shape, self.noise_std_)))


def _unflatten(flat: Any, shapes: list) -> list:
    """Views of a flat parameter vector as the weight and bias matrices of each layer."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[start : start + size].view(shape))
        start += size
    return out
