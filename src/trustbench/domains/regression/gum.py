"""The GUM view of a regression task with a physical model y = f(x, θ) + ε.

Two ways metrology evaluates the uncertainty of a prediction made with a fitted measurement model:

* :class:`GumLPU` — JCGM 100:2008 (GUM), law of propagation of uncertainty: θ̂ from nonlinear least
  squares, u(θ̂) from the Jacobian and the residual variance, first-order propagation to f(x, θ̂)
  plus the noise term; a Gaussian predictive.
* :class:`GumMC` — JCGM 101:2008 (GUM Supplement 1), propagation of distributions by Monte Carlo:
  draws from the state-of-knowledge distribution of (θ, σ) go through the *nonlinear* model.

Both need the task's :class:`PhysicalModel` (``task.physical_model``); ``supports(task)`` says whether
a task has one, and ``for_task(task)`` returns a copy configured with it (the predictive protocol
calls it when it builds the method).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Gaussian, Mixture
from trustbench.validation import check_array, check_int, check_same_length

__all__ = ["PhysicalModel", "GumLPU", "GumMC"]


@dataclass(frozen=True)
class PhysicalModel:
    """A measurement model y = f(x, θ) + ε with named parameters in physical units (JCGM 100 §4.1).

    Parameters
    ----------
    f : ``f(X, theta, xp=numpy) -> (..., n)``: the model at inputs ``X`` (n, d) for parameters
        ``theta`` (..., p); broadcasts over leading axes of ``theta``; ``xp`` is the array namespace
        (numpy, or jax.numpy inside a sampler).
    param_names, units : names and units of the p parameters.
    theta0 : initial guess for the least-squares fit.
    lower, upper : bounds of the parameters (prior knowledge such as positivity); ±inf for none.
    """

    f: Callable[..., Any]
    param_names: tuple[str, ...]
    units: tuple[str, ...]
    theta0: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @property
    def n_params(self) -> int:
        return len(self.param_names)


def _jacobian(model: PhysicalModel, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(n, p) sensitivity coefficients ∂f/∂θ_j (JCGM 100 §5.1.3) by central differences."""
    h = np.cbrt(np.finfo(float).eps) * np.maximum(np.abs(theta), 1.0)
    steps = np.diag(h)
    return ((model.f(X, theta + steps) - model.f(X, theta - steps)) / (2 * h[:, None])).T


def _least_squares(model: PhysicalModel, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """θ̂, its covariance s²(JᵀJ)⁻¹, the residual variance s² and ν = n − p (JCGM 100 §H.3)."""
    from scipy.optimize import least_squares

    fit = least_squares(lambda th: model.f(X, th) - y, np.asarray(model.theta0, float),
                        bounds=(model.lower, model.upper), method="trf", x_scale="jac")
    theta = fit.x
    J = _jacobian(model, X, theta)
    dof = len(y) - model.n_params
    s2 = float(np.sum((model.f(X, theta) - y) ** 2) / dof)
    return {"theta": theta, "cov": s2 * np.linalg.inv(J.T @ J), "noise_var": s2, "dof": dof}


class _GumBase:
    """Shared checks and least-squares fit of the two GUM methods (abstract)."""

    physical_model: PhysicalModel | None

    def supports(self, task: Any) -> bool:
        """True when the task carries a physical model (``task.physical_model``)."""
        return getattr(task, "physical_model", None) is not None

    def for_task(self, task: Any):
        """A copy of this method configured with the task's physical model (None if it has none)."""
        return dataclasses.replace(self, physical_model=getattr(task, "physical_model", None))

    def validate(self) -> None:
        """Check the configuration (``physical_model`` may still be None: ``for_task`` sets it)."""
        if self.physical_model is not None and not isinstance(self.physical_model, PhysicalModel):
            raise TypeError("physical_model must be a PhysicalModel or None; "
                            f"got {type(self.physical_model).__name__}.")

    def _fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        self.validate()
        if self.physical_model is None:
            raise ValueError(f"{type(self).__name__} needs physical_model (e.g. task.physical_model) to fit; "
                             "got None. Configure it with for_task(task) or pass physical_model=.")
        X = check_array(X, "X", ndim=2)
        y = check_array(y, "y", ndim=1)
        check_same_length(X=X, y=y)
        p = self.physical_model.n_params
        if len(y) <= p:
            raise ValueError(f"y must have more than {p} observations (one per parameter plus one); got {len(y)}.")
        self.fit_ = _least_squares(self.physical_model, X, y)
        return X, y


@dataclass
class GumLPU(_GumBase):
    """GUM law of propagation of uncertainty around a nonlinear least-squares fit (JCGM 100:2008).

    ``fit`` finds θ̂ by nonlinear least squares (``scipy.optimize.least_squares``, trust-region
    reflective within the model's bounds) and evaluates its covariance U(θ̂) = s²(JᵀJ)⁻¹ from the
    Jacobian J and the residual variance s² = RSS / (n − p) (a Type A evaluation, JCGM 100 §4.2 and
    §H.3). ``predict`` propagates to the prediction at x with the sensitivity coefficients
    c = ∂f/∂θ (§5.1.2, first order): u²(y) = c U(θ̂) cᵀ + s² — the noise term makes it the
    uncertainty of a new observation, not of f alone. The predictive is Gaussian with that
    standard uncertainty (the GUM's k = 2 intervals then are the ±2u intervals of this Gaussian).

    Parameters
    ----------
    physical_model : the task's :class:`PhysicalModel` (set by ``for_task``).
    """

    physical_model: PhysicalModel | None = None

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> GumLPU:
        self._fit(X, y)
        self.theta_ = self.fit_["theta"]
        self.cov_ = self.fit_["cov"]
        self.noise_var_ = self.fit_["noise_var"]
        return self

    def predict(self, X: Any) -> Gaussian:
        X = check_array(X, "X", ndim=2)
        c = _jacobian(self.physical_model, X, self.theta_)
        var = np.einsum("nj,jk,nk->n", c, self.cov_, c) + self.noise_var_
        return Gaussian(self.physical_model.f(X, self.theta_), np.sqrt(var))


@dataclass
class GumMC(_GumBase):
    """GUM Supplement 1 Monte Carlo propagation of distributions (JCGM 101:2008).

    State of knowledge after the least-squares fit: σ² ~ ν s² / χ²_ν and θ | σ² ~ N(θ̂, σ² (JᵀJ)⁻¹),
    ν = n − p. Marginally θ follows the scaled and shifted multivariate t-distribution with ν degrees
    of freedom that JCGM 101 §6.4.9 (and JCGM 102 §6.5.3) assign to a Type A evaluation from ν
    degrees of freedom; it is also the Bayesian posterior of the linearised model under the prior
    p(θ, σ²) ∝ 1/σ². Draws outside the model's bounds (e.g. a negative decay time) are discarded:
    the bounds are prior knowledge. The ``n_draws`` draws are made once in ``fit`` (seeded), so every
    test set sees the same draws (common random numbers).

    ``predict`` propagates each draw θ_m through the nonlinear model and adds the noise term
    *analytically*: the predictive is the mixture Σ_m N(f(x, θ_m), σ_m²) / M. This is the Monte
    Carlo distribution of JCGM 101 with the noise draw Rao–Blackwellised: the same distribution as
    adding ε_m ~ N(0, σ_m²) to each model value, with less Monte Carlo noise and a density, so it is
    scored exactly (NLL, CRPS) like every other method.

    Parameters
    ----------
    physical_model : the task's :class:`PhysicalModel` (set by ``for_task``).
    n_draws : Monte Carlo trials M (mixture components).
    """

    physical_model: PhysicalModel | None = None
    n_draws: int = 200

    def validate(self) -> None:
        super().validate()
        check_int(self.n_draws, "n_draws", minimum=2)

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> GumMC:
        self._fit(X, y)
        model, fit = self.physical_model, self.fit_
        rng = np.random.default_rng(seed)
        sigma2 = fit["dof"] * fit["noise_var"] / rng.chisquare(fit["dof"], size=self.n_draws)
        L = np.linalg.cholesky(fit["cov"])
        z = rng.standard_normal((self.n_draws, model.n_params))
        theta = fit["theta"] + np.sqrt(sigma2 / fit["noise_var"])[:, None] * (z @ L.T)
        keep = np.all((theta >= model.lower) & (theta <= model.upper), axis=1)
        if keep.sum() < 2:
            raise ValueError("fewer than 2 Monte Carlo draws lie inside the model's parameter bounds; "
                             "the parameters are not identified by these data.")
        self.theta_draws_ = theta[keep]
        self.noise_draws_ = np.sqrt(sigma2[keep])
        return self

    def predict(self, X: Any) -> Mixture:
        X = check_array(X, "X", ndim=2)
        loc = self.physical_model.f(X, self.theta_draws_).T
        return Mixture(loc, np.broadcast_to(self.noise_draws_, loc.shape))
