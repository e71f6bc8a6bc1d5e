"""Last-layer Laplace approximation with evidence-tuned noise and prior (our own implementation).

The ``laplace-torch`` package (Daxberger et al. 2021) is not used: it requires torchvision, which
breaks beside the CPU torch wheel this project pins. For a Gaussian likelihood the last-layer
generalized Gauss-Newton Laplace approximation is Bayesian linear regression on the last hidden
layer's features, so it is written here in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Gaussian
from trustbench.uq._common import NetworkConfig, Scaler, begin_fit, check_predict_X

__all__ = ["LastLayerLaplace", "evidence", "log_evidence"]

_BOUNDS = (1e-8, 1e8)


def log_evidence(Phi: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Log marginal likelihood ln p(y | α, β) of Bayesian linear regression y = Φw + ε.

    Prior w ~ N(0, α⁻¹ I), noise ε ~ N(0, β⁻¹ I) (Bishop 2006, eq. 3.86).
    """
    n, m = Phi.shape
    A = alpha * np.eye(m) + beta * Phi.T @ Phi
    L = np.linalg.cholesky(A)
    mean = beta * np.linalg.solve(A, Phi.T @ y)
    energy = 0.5 * beta * np.sum((y - Phi @ mean) ** 2) + 0.5 * alpha * mean @ mean
    return float(
        0.5 * m * np.log(alpha) + 0.5 * n * np.log(beta) - energy
        - np.log(np.diag(L)).sum() - 0.5 * n * np.log(2 * np.pi)
    )


def evidence(Phi: np.ndarray, y: np.ndarray, *, max_iter: int = 500, tol: float = 1e-10) -> dict[str, Any]:
    """Prior precision α and noise precision β that maximize the evidence, and the posterior.

    MacKay's fixed-point iteration (MacKay 1992; Bishop 2006, §3.5.2) in the eigenbasis of ΦᵀΦ:
    γ = Σ βe_i / (α + βe_i), α = γ / mᵀm, β = (n − γ) / ‖y − Φm‖², m the posterior mean; α and β
    are kept inside [1e-8, 1e8].

    Returns
    -------
    dict with ``alpha``, ``beta``, ``mean`` (m,) and ``cov`` (m, m) = (αI + βΦᵀΦ)⁻¹.
    """
    n, _ = Phi.shape
    e, V = np.linalg.eigh(Phi.T @ Phi)
    e = np.maximum(e, 0.0)
    proj = V.T @ (Phi.T @ y)
    alpha, beta = 1.0, 1.0 / max(np.var(y), 1e-12)
    for _ in range(max_iter):
        mean = V @ (beta * proj / (alpha + beta * e))
        gamma = float(np.sum(beta * e / (alpha + beta * e)))
        new_alpha = float(np.clip(gamma / max(mean @ mean, 1e-300), *_BOUNDS))
        new_beta = float(np.clip((n - gamma) / max(np.sum((y - Phi @ mean) ** 2), 1e-300), *_BOUNDS))
        done = abs(np.log(new_alpha / alpha)) < tol and abs(np.log(new_beta / beta)) < tol
        alpha, beta = new_alpha, new_beta
        if done:
            break
    mean = V @ (beta * proj / (alpha + beta * e))
    cov = (V / (alpha + beta * e)) @ V.T
    return {"alpha": alpha, "beta": beta, "mean": mean, "cov": cov}


@dataclass(kw_only=True, eq=False)
class LastLayerLaplace(NetworkConfig):
    """A MAP network whose last layer gets a Gaussian (Laplace) posterior, with evidence-tuned σ² and λ.

    The network is trained on squared error (the Gaussian likelihood's MAP, L2 ``weight_decay``).
    With φ(x) the last hidden layer's features and a constant for the bias, the posterior over the
    last layer (weights and bias) under the prior N(0, λ⁻¹I) and noise σ² is Gaussian with
    precision ΦᵀΦ/σ² + λI — the generalized Gauss-Newton Laplace approximation, exact for this
    linear-Gaussian layer. σ² and λ maximize the marginal likelihood (MacKay's evidence fixed
    point, :func:`evidence`), and the last layer is set to its posterior mode under them. The
    linearized predictive is Gaussian(φ(x)ᵀm, φ(x)ᵀΣφ(x) + σ²).

    MacKay, D. J. C. (1992). Bayesian interpolation. Neural Computation 4(3). Daxberger, E. et al.
    (2021). Laplace redux — effortless Bayesian deep learning. NeurIPS 34. Kristiadi, A., Hein, M.
    & Hennig, P. (2020). Being Bayesian, even just a bit, fixes overconfidence in ReLU networks. ICML.

    Parameters
    ----------
    hidden, activation, steps, lr, weight_decay : as in :class:`trustbench.uq.mlp.MLP`;
        ``hidden=()`` makes the features the (standardized) inputs: Bayesian linear regression.
    """

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> LastLayerLaplace:
        X, y, seed = begin_fit(self, X, y, seed)
        from trustbench.uq import _torch

        self.scaler_ = Scaler.fit(X, y)
        ys = self.scaler_.y(y)
        self.params_ = _torch.fit_mlp(self, self.scaler_.x(X), ys, _torch.generator(seed), _torch.mse, out=1)
        post = evidence(self.features(X), ys)
        self.prior_precision_ = post["alpha"]
        self.sigma2_ = 1.0 / post["beta"]
        self.posterior_mean_ = post["mean"]
        self.posterior_cov_ = post["cov"]
        return self

    def features(self, X: Any) -> np.ndarray:
        """φ(x) of the fitted network at inputs ``X`` (original units), with a trailing 1 for the bias."""
        import torch

        from trustbench.uq import _torch

        X = check_predict_X(self, X)
        with torch.no_grad():
            phi = _torch.numpy(_torch.forward(self.params_, _torch.as_tensor(self.scaler_.x(X)), self.activation)[1][0])
        return np.hstack([phi, np.ones((len(X), 1))])

    def predict(self, X: Any) -> Gaussian:
        phi = self.features(X)
        var = np.einsum("ni,ij,nj->n", phi, self.posterior_cov_, phi) + self.sigma2_
        return Gaussian(self.scaler_.loc(phi @ self.posterior_mean_), self.scaler_.scale(np.sqrt(var)))
