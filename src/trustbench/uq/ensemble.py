"""Deep ensembles (Lakshminarayanan, Pritzel & Blundell 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Mixture
from trustbench.uq._common import NetworkConfig, Scaler, begin_fit, check_number, check_predict_X
from trustbench.validation import check_int

__all__ = ["DeepEnsemble"]


@dataclass(kw_only=True, eq=False)
class DeepEnsemble(NetworkConfig):
    """M heteroscedastic Gaussian networks from independent random initializations.

    Each member has a mean and a variance output (softplus, floored) and is trained on the Gaussian
    negative log-likelihood; the members differ only by their random initialization (the paper's
    recommendation; full-batch training has no shuffling to add). The predictive is the exact
    equal-weight mixture Σ_m N(μ_m(x), σ_m²(x)) / M — scored as a mixture, not moment-matched.
    The members train together as one batched network (see :mod:`trustbench.uq._torch`).

    Lakshminarayanan, B., Pritzel, A. & Blundell, C. (2017). Simple and scalable predictive
    uncertainty estimation using deep ensembles. NeurIPS 30.

    Parameters
    ----------
    n_members : M, the number of networks (≥ 1).
    hidden, activation, steps, lr, weight_decay : as in :class:`trustbench.uq.mlp.MLP`.
    adversarial : add the paper's adversarial-training term: the NLL at inputs moved by
        ``epsilon`` × (range of each standardized input) in the direction of the loss gradient's
        sign (fast gradient sign method, Goodfellow et al. 2015). Off by default; it doubles the cost.
    epsilon : the adversarial step, as a fraction of each input's range (the paper's 0.01).
    """

    n_members: int = 5
    adversarial: bool = False
    epsilon: float = 0.01

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_int(self.n_members, "n_members", minimum=1)
        super().validate()
        if not isinstance(self.adversarial, bool):
            raise TypeError(f"adversarial must be True or False; got {self.adversarial!r}.")
        check_number(self.epsilon, "epsilon", 0.0, np.inf)

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> DeepEnsemble:
        X, y, seed = begin_fit(self, X, y, seed)
        import torch

        from trustbench.uq import _torch

        self.scaler_ = Scaler.fit(X, y)
        Xs = self.scaler_.x(X)
        step = _torch.as_tensor(self.epsilon * (Xs.max(axis=0) - Xs.min(axis=0)))

        def loss(net, x, t):
            if self.adversarial:
                x = x.expand(self.n_members, *x.shape).clone().requires_grad_()
            nll = _torch.nll(net, x, t)
            if not self.adversarial:
                return nll
            (grad,) = torch.autograd.grad(nll, x, retain_graph=True)
            return nll + _torch.nll(net, x.detach() + step * grad.sign(), t)

        self.params_ = _torch.fit_mlp(
            self, Xs, self.scaler_.y(y), _torch.generator(seed), loss, out=2, members=self.n_members
        )
        return self

    def predict(self, X: Any) -> Mixture:
        from trustbench.uq import _torch

        X = check_predict_X(self, X)
        mean, std = _torch.predict_gaussian(self.params_, self.scaler_.x(X), self.activation)
        return Mixture(self.scaler_.loc(mean), self.scaler_.scale(std))
