"""Reference Bayesian methods for the regression tasks: the answer a full Bayesian treatment gives.

* :class:`BayesLinear` — exact conjugate Bayesian linear regression (Normal–Inverse-Gamma prior) on
  a polynomial feature map; its posterior predictive is a Student-t in closed form.
* :class:`NUTS` — the No-U-Turn sampler (Hoffman & Gelman 2014) of numpyro (Phan et al. 2019) on a
  named model ("linear", "polynomial", "hetero_sine", "bnn", "student_t", "exp_decay", "eiv").
  numpyro is used because it is maintained, JIT-compiles the whole sampler with jax, runs several
  chains vectorised in one process on CPU (``chain_method="vectorized"``), and ships split R-hat and
  ESS (``numpyro.diagnostics``). Its predictive is the mixture over thinned posterior draws of the
  model's noise distribution, so it is scored exactly.

jax is imported lazily, single-threaded on CPU (``XLA_FLAGS``), so two fits with the same seed give
bit-identical draws. The flags only take effect if jax is not yet imported when the first fit runs.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np

from trustbench.types import Mixture, StudentT
from trustbench.validation import (
    check_array,
    check_choice,
    check_int,
    check_level,
    check_positive,
    check_same_length,
)

__all__ = ["BayesLinear", "NUTS", "MODELS"]

_XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _import_jax():
    """Import jax (and numpyro), configured for CPU and one thread (bit-reproducible sampling)."""
    if "jax" not in sys.modules:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {_XLA_SINGLE_THREAD}".strip()
    import jax
    import numpyro  # noqa: F401  (imported here, after the flags are set)

    return jax


def _check_xy(X: Any, y: Any, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    X = check_array(X, "X", ndim=2)
    y = check_array(y, "y", ndim=1)
    check_same_length(X=X, y=y)
    if len(y) < minimum:
        raise ValueError(f"y must hold at least {minimum} observations; got {len(y)}.")
    return X, y


# --------------------------------------------------------------------------------------------
# features in standardised coordinates
# --------------------------------------------------------------------------------------------


def _powers(X: np.ndarray, degree: int) -> np.ndarray:
    """Polynomial features without interactions: [X, X², ..., X^degree] (degree 1: X itself)."""
    return np.concatenate([X**k for k in range(1, degree + 1)], axis=1)


@dataclass(frozen=True)
class _Scaling:
    """z-scoring of the features and of the target, fitted on the training data.

    Priors are stated in these coordinates (an empirical-Bayes choice of location and scale), which
    makes one default prior sensible for any units.
    """

    degree: int
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, degree: int) -> _Scaling:
        F = _powers(X, degree)
        x_std, y_std = F.std(axis=0), float(y.std())
        return cls(degree, F.mean(axis=0), np.where(x_std > 0, x_std, 1.0), float(y.mean()), y_std or 1.0)

    def features(self, X: np.ndarray) -> np.ndarray:
        """Standardised features (n, q), no intercept."""
        return (_powers(X, self.degree) - self.x_mean) / self.x_std

    def design(self, X: np.ndarray) -> np.ndarray:
        """[1, standardised features] (n, 1 + q)."""
        return np.column_stack([np.ones(len(X)), self.features(X)])

    def target(self, y: np.ndarray) -> np.ndarray:
        return (y - self.y_mean) / self.y_std


# --------------------------------------------------------------------------------------------
# exact conjugate reference
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True, eq=False)
class BayesLinear:
    """Exact Bayesian linear regression with a conjugate Normal–Inverse-Gamma prior.

    In standardised coordinates (features and target z-scored on the training data, an intercept
    column added) the model is y = Zβ + ε, ε ~ N(0, σ²), with the prior β | σ² ~ N(0, σ²/λ · I),
    σ² ~ InvGamma(a₀, b₀). The posterior is NIG(m_n, V_n, a_n, b_n) with V_n = (ZᵀZ + λI)⁻¹,
    m_n = V_n Zᵀy, a_n = a₀ + n/2, b_n = b₀ + (yᵀy − m_nᵀ V_n⁻¹ m_n)/2, and the posterior predictive
    at z is Student-t with 2a_n degrees of freedom, location zᵀm_n and squared scale
    (b_n/a_n)(1 + zᵀV_n z) (Bishop 2006 §3.3; Murphy 2012 §7.6.3). It is returned in the target's units.

    Prior: a₀ = b₀ = 0.01 is weakly informative on σ² (the data dominate it for n ≥ 3); the
    precision λ is either given or, by default, chosen to maximise the closed-form marginal
    likelihood (evidence; MacKay 1992, type-II maximum likelihood) over λ ∈ [1e-6, 1e6].

    Parameters
    ----------
    degree : polynomial degree of the feature map (1 = the inputs themselves; no interactions).
    prior_precision : λ > 0, or "evidence" to maximise the marginal likelihood.
    a0, b0 : Inverse-Gamma prior of σ² (in standardised units).
    """

    degree: int = 1
    prior_precision: float | str = "evidence"
    a0: float = 0.01
    b0: float = 0.01

    def validate(self) -> None:
        check_int(self.degree, "degree", minimum=1)
        if isinstance(self.prior_precision, str):
            check_choice(self.prior_precision, "prior_precision", ["evidence"])
        else:
            check_positive(self.prior_precision, "prior_precision")
        check_positive(self.a0, "a0")
        check_positive(self.b0, "b0")

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> BayesLinear:
        """Compute the posterior (``seed`` is unused: the fit is exact)."""
        from scipy.optimize import minimize_scalar
        from scipy.special import gammaln

        self.validate()
        X, y = _check_xy(X, y)
        self.scaling_ = _Scaling.fit(X, y, self.degree)
        Z, t = self.scaling_.design(X), self.scaling_.target(y)
        n, p = Z.shape
        eig, Q = np.linalg.eigh(Z.T @ Z)
        eig = np.maximum(eig, 0.0)
        c = Q.T @ (Z.T @ t)
        a_n = self.a0 + n / 2

        def b_n(lam: float) -> float:
            return self.b0 + 0.5 * (t @ t - np.sum(c**2 / (eig + lam)))

        def log_evidence(lam: float) -> float:
            return (-0.5 * n * np.log(2 * np.pi) + 0.5 * p * np.log(lam) - 0.5 * np.sum(np.log(eig + lam))
                    + self.a0 * np.log(self.b0) - a_n * np.log(b_n(lam)) + gammaln(a_n) - gammaln(self.a0))

        if self.prior_precision == "evidence":
            best = minimize_scalar(lambda s: -log_evidence(np.exp(s)), bounds=(np.log(1e-6), np.log(1e6)),
                                   method="bounded", options={"xatol": 1e-6})
            lam = float(np.exp(best.x))
        else:
            lam = float(self.prior_precision)
        self.prior_precision_ = lam
        self.coef_ = Q @ (c / (eig + lam))
        self.coef_cov_ = (Q / (eig + lam)) @ Q.T
        self.a_ = a_n
        self.b_ = b_n(lam)
        self.log_evidence_ = float(log_evidence(lam))
        return self

    def predict(self, X: Any) -> StudentT:
        """Posterior predictive Student-t at ``X`` in the target's units."""
        X = check_array(X, "X", ndim=2)
        Z, s = self.scaling_.design(X), self.scaling_
        scale = np.sqrt(self.b_ / self.a_ * (1.0 + np.einsum("ni,ij,nj->n", Z, self.coef_cov_, Z)))
        return StudentT(Z @ self.coef_ * s.y_std + s.y_mean, scale * s.y_std, 2 * self.a_)


# --------------------------------------------------------------------------------------------
# NUTS models
# --------------------------------------------------------------------------------------------


def _poly(z: Any, coef: Any, xp: Any = np) -> Any:
    """Σ_k coef[..., k] z^k for z (..., n) and coef (..., K)."""
    powers = z[..., None] ** xp.arange(coef.shape[-1])
    return xp.einsum("...nk,...k->...n", powers, coef)


def _bnn_mean(p: dict[str, Any], X: Any, xp: Any = np) -> Any:
    """One hidden tanh layer: f(x) = tanh(x W₁ + b₁) w₂ + b₂, batched over leading axes of the weights."""
    h = xp.tanh(xp.einsum("nd,...dh->...nh", X, p["w1"]) + p["b1"][..., None, :])
    return xp.einsum("...nh,...h->...n", h, p["w2"]) + p["b2"][..., None]


def _sample_linear(m: NUTS, Z: Any, y: Any) -> None:
    """β | σ² ~ N(0, σ²/λ I) (non-centred), σ² ~ InvGamma(a₀, b₀); Gaussian or Student-t(ν) noise."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    sigma2 = numpyro.sample("sigma2", dist.InverseGamma(m.a0, m.b0))
    z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([Z.shape[1]]).to_event(1))
    beta = numpyro.deterministic("beta", z * jnp.sqrt(sigma2 / m.prior_precision))
    loc, scale = Z @ beta, jnp.sqrt(sigma2)
    noise = dist.StudentT(m.df, loc, scale) if m.model == "student_t" else dist.Normal(loc, scale)
    numpyro.sample("y", noise, obs=y)


def _predict_linear(m: NUTS, d: dict[str, np.ndarray], Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return Z @ d["beta"].T, np.sqrt(d["sigma2"])[None, :]


def _sample_bnn(m: NUTS, X: Any, y: Any) -> None:
    """Gaussian priors N(0, s²) on W₁, b₁, b₂ and N(0, s²/H) on w₂; σ ~ HalfNormal(1) (standardised units)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    d, H, s = X.shape[1], m.hidden, m.prior_scale
    p = {"w1": numpyro.sample("w1", dist.Normal(0.0, s).expand([d, H]).to_event(2)),
         "b1": numpyro.sample("b1", dist.Normal(0.0, s).expand([H]).to_event(1)),
         "w2": numpyro.sample("w2", dist.Normal(0.0, s / np.sqrt(H)).expand([H]).to_event(1)),
         "b2": numpyro.sample("b2", dist.Normal(0.0, s))}
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(_bnn_mean(p, X, jnp), sigma), obs=y)


def _predict_bnn(m: NUTS, d: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _bnn_mean(d, X).T, d["sigma"][None, :]


def _monitor_bnn(m: NUTS, chains: dict[str, np.ndarray], X: np.ndarray) -> dict[str, np.ndarray]:
    """Function values at the training inputs and σ: the weights themselves are not identified
    (hidden units can be permuted and sign-flipped), so R-hat and ESS are computed in function
    space, as Izmailov et al. (2021) do."""
    return {"f": _bnn_mean(chains, X), "sigma": chains["sigma"]}


def _sample_hetero_sine(m: NUTS, X: Any, y: Any) -> None:
    """y = a sin(ωx) + b + exp(c₀ + c₁x²) ε with weakly informative priors (raw units)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    x = X[:, 0]
    a = numpyro.sample("amplitude", dist.Normal(0.0, 2.0))
    w = numpyro.sample("frequency", dist.HalfNormal(5.0))
    b = numpyro.sample("offset", dist.Normal(0.0, 1.0))
    c0 = numpyro.sample("log_noise", dist.Normal(-1.0, 2.0))
    c1 = numpyro.sample("noise_growth", dist.Normal(0.0, 2.0))
    numpyro.sample("y", dist.Normal(a * jnp.sin(w * x) + b, jnp.exp(c0 + c1 * x**2)), obs=y)


def _predict_hetero_sine(m: NUTS, d: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = X[:, :1]
    return d["amplitude"] * np.sin(d["frequency"] * x) + d["offset"], np.exp(d["log_noise"] + d["noise_growth"] * x**2)


def _exp_theta(d: dict[str, Any], offset: bool, xp: Any = np) -> Any:
    parts = [d["amplitude"], d["tau"]] + ([d["offset"]] if offset else [])
    return xp.stack(parts, axis=-1)


def _sample_exp_decay(m: NUTS, X: Any, y: Any) -> None:
    """A, τ ~ LogNormal(0, 1.5) (positive), c ~ N(0, 1), σ ~ HalfNormal(1) (raw units)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from trustbench.domains.regression.tasks import exp_decay

    d = {"amplitude": numpyro.sample("amplitude", dist.LogNormal(0.0, 1.5)),
         "tau": numpyro.sample("tau", dist.LogNormal(0.0, 1.5))}
    if m.offset:
        d["offset"] = numpyro.sample("offset", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(exp_decay(X, _exp_theta(d, m.offset, jnp), jnp), sigma), obs=y)


def _predict_exp_decay(m: NUTS, d: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from trustbench.domains.regression.tasks import exp_decay

    return exp_decay(X, _exp_theta(d, m.offset)).T, d["sigma"][None, :]


def _sample_eiv(m: NUTS, X: Any, y: Any) -> None:
    """Latent true inputs ζᵢ ~ N(μ, τ²), xᵢ ~ N(ζᵢ, σₓ²) (σₓ known), yᵢ ~ N(poly(ζᵢ), σ²) (raw units)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("x_loc", dist.Normal(0.0, 2.0))
    tau = numpyro.sample("x_scale", dist.HalfNormal(2.0))
    zeta = numpyro.sample("zeta", dist.Normal(mu, tau).expand([X.shape[0]]).to_event(1))
    numpyro.sample("x", dist.Normal(zeta, m.x_noise).to_event(1), obs=X[:, 0])
    coef = numpyro.sample("coef", dist.Normal(0.0, 2.0).expand([m.degree + 1]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(_poly(zeta, coef, jnp), sigma), obs=y)


def _predict_eiv(m: NUTS, d: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw s, one ζ from p(ζ | x, μ_s, τ_s) (stratified normal quantiles in a seeded random
    order, the same for every x), then N(poly_s(ζ), σ_s²): the mixture is a Monte Carlo estimate of
    ∫∫ p(y | ζ, θ) p(ζ | x, θ) p(θ | data) dζ dθ."""
    from scipy.special import ndtri

    S = len(d["sigma"])
    z = np.random.default_rng(m.seed_).permutation(ndtri((np.arange(S) + 0.5) / S))
    v = 1.0 / (1.0 / d["x_scale"] ** 2 + 1.0 / m.x_noise**2)
    mean = v[:, None] * (d["x_loc"][:, None] / d["x_scale"][:, None] ** 2 + X[None, :, 0] / m.x_noise**2)
    zeta = mean + (np.sqrt(v) * z)[:, None]
    return _poly(zeta, d["coef"]).T, d["sigma"][None, :]


@dataclass(frozen=True)
class _Model:
    """A NUTS model: its numpyro body, its predictive components, and how its data are prepared."""

    sample: Callable[..., None]
    predict: Callable[..., tuple[np.ndarray, np.ndarray]]
    scaled: bool  # standardise features and target (and add an intercept column when ``design``)
    design: bool = False
    monitor: Callable[..., dict[str, np.ndarray]] | None = None
    one_input: bool = False  # the model uses exactly one input column
    dense_mass: bool = True  # adapt a dense mass matrix (correlated parameters: polynomial and decay coefficients)
    init: str = "uniform"  # "uniform": random in (-2, 2) unconstrained; "median": prior median;
    # "latent": the latent true inputs at the observed ones, the rest random; "profile": least squares


MODELS: dict[str, _Model] = {
    "linear": _Model(_sample_linear, _predict_linear, scaled=True, design=True),
    "polynomial": _Model(_sample_linear, _predict_linear, scaled=True, design=True),
    "student_t": _Model(_sample_linear, _predict_linear, scaled=True, design=True),
    "bnn": _Model(_sample_bnn, _predict_bnn, scaled=True, monitor=_monitor_bnn, dense_mass=False),
    "hetero_sine": _Model(_sample_hetero_sine, _predict_hetero_sine, scaled=False, one_input=True, init="profile"),
    "exp_decay": _Model(_sample_exp_decay, _predict_exp_decay, scaled=False, one_input=True, init="median"),
    "eiv": _Model(_sample_eiv, _predict_eiv, scaled=False, one_input=True, init="latent"),
}
"""The models :class:`NUTS` knows, by name."""


def _hetero_sine_start(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares start for ``hetero_sine``: the frequency that best explains the data on a grid
    (a periodogram), then amplitude and offset by linear least squares. The likelihood has local
    modes at other frequencies; a chain started in one stays there (R-hat ≫ 1, seen at n = 200)."""
    best = None
    for w in np.linspace(0.1, 15.0, 600):
        A = np.column_stack([np.sin(w * x), np.ones_like(x)])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        rss = float(np.sum((A @ coef - y) ** 2))
        if best is None or rss < best[0]:
            best = (rss, w, coef)
    rss, w, (a, b) = best
    return {"amplitude": float(a), "frequency": float(w), "offset": float(b),
            "log_noise": 0.5 * float(np.log(rss / len(y))), "noise_growth": 0.0}


def _init_strategy(kind: str, inputs: np.ndarray, target: np.ndarray):
    """The numpyro initialisation of a model (see ``_Model.init``)."""
    from numpyro.infer import init_to_median, init_to_uniform, init_to_value

    if kind == "latent":
        return init_to_value(values={"zeta": inputs[:, 0]})
    if kind == "profile":
        return init_to_value(values=_hetero_sine_start(inputs[:, 0], target))
    return init_to_median() if kind == "median" else init_to_uniform()


def _rank_normalize(x: np.ndarray) -> np.ndarray:
    """Rank-normalised draws (Vehtari et al. 2021), (chains, draws, ...) -> the same shape."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    flat = x.reshape(x.shape[0] * x.shape[1], -1)
    z = ndtri((rankdata(flat, axis=0) - 0.375) / (len(flat) + 0.25))
    return z.reshape(x.shape)


def _diagnostics(monitored: dict[str, np.ndarray], divergences: int) -> dict[str, float]:
    """Max rank-normalised split R-hat (bulk and folded tail) and min bulk ESS over all monitored
    quantities (Vehtari et al. 2021), with numpyro's ``split_gelman_rubin`` and ``effective_sample_size``."""
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

    rhat, ess = [], []
    for draws in monitored.values():
        draws = np.asarray(draws, dtype=np.float64)
        bulk = _rank_normalize(draws)
        folded = _rank_normalize(np.abs(draws - np.median(draws, axis=(0, 1))))
        rhat += [np.ravel(split_gelman_rubin(bulk)), np.ravel(split_gelman_rubin(folded))]
        ess.append(np.ravel(effective_sample_size(bulk)))
    return {"rhat_max": float(np.nanmax(np.concatenate(rhat))),
            "ess_bulk_min": float(np.nanmin(np.concatenate(ess))), "divergences": float(divergences)}


@dataclass(eq=False)
class NUTS:
    """Posterior predictive by the No-U-Turn sampler (Hoffman & Gelman 2014) in numpyro (Phan et al. 2019).

    Models (``MODELS``; priors in each model's docstring):

    ``linear`` / ``polynomial`` / ``student_t``
        The :class:`BayesLinear` model on features of degree 1 / ``degree`` / ``degree`` in
        standardised coordinates, with the same prior (fixed λ = ``prior_precision``); ``student_t``
        replaces the Gaussian noise by Student-t noise with known ``df``.
    ``bnn``
        One hidden tanh layer of ``hidden`` units, Gaussian priors of scale ``prior_scale``
        (Neal 1996; Izmailov et al. 2021), on standardised inputs and target.
    ``hetero_sine``
        a sin(ωx) + b with noise exp(c₀ + c₁x²): the family of :class:`~.tasks.HeteroSine`.
    ``exp_decay``
        A exp(−t/τ) (+ c if ``offset``) with positive A, τ: the family of :class:`~.tasks.ExpDecay`.
    ``eiv``
        Errors-in-variables: a polynomial of ``degree`` in latent true inputs, inputs observed with
        known noise ``x_noise`` (Martin & Elster 2022).

    The mass matrix is adapted dense (diagonal for ``bnn``). Chains run vectorised in one process
    from ``jax.random.PRNGKey(seed)`` (``chain_method="sequential"`` runs them one after the other:
    same target, a cheaper compile; see README.md). After ``fit``,
    ``diagnostics_`` holds ``rhat_max`` (rank-normalised split R-hat, bulk and tail), ``ess_bulk_min``
    and ``divergences``. ``predict`` returns the mixture of the noise distribution over
    ``n_predictive`` evenly thinned posterior draws (Gaussian components, Student-t for ``student_t``).

    Parameters
    ----------
    model : one of ``MODELS``.
    num_warmup, num_samples, num_chains : sampler budget (per chain).
    n_predictive : posterior draws kept as predictive mixture components.
    degree : polynomial degree for ``polynomial``, ``student_t`` and ``eiv``.
    prior_precision, a0, b0 : prior of the linear-family models (see :class:`BayesLinear`).
    hidden, prior_scale : width and prior scale of ``bnn``.
    df : Student-t degrees of freedom of ``student_t`` (known).
    x_noise : input noise standard deviation of ``eiv`` (known).
    offset : whether ``exp_decay`` has a baseline offset.
    target_accept, max_tree_depth : NUTS settings.
    chain_method : "vectorized" (one vmapped sampler) or "sequential".
    """

    model: str = "linear"
    _: KW_ONLY
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    n_predictive: int = 200
    degree: int = 3
    prior_precision: float = 1.0
    a0: float = 0.01
    b0: float = 0.01
    hidden: int = 10
    prior_scale: float = 1.0
    df: float | None = None
    x_noise: float | None = None
    offset: bool = True
    target_accept: float = 0.8
    max_tree_depth: int = 10
    chain_method: str = "vectorized"

    def validate(self) -> None:
        check_choice(self.model, "model", MODELS)
        check_int(self.num_warmup, "num_warmup", minimum=1)
        check_int(self.num_samples, "num_samples", minimum=4)
        check_int(self.num_chains, "num_chains", minimum=1)
        check_int(self.n_predictive, "n_predictive", minimum=2)
        check_int(self.degree, "degree", minimum=1)
        check_int(self.hidden, "hidden", minimum=1)
        check_int(self.max_tree_depth, "max_tree_depth", minimum=1)
        for name in ("prior_precision", "a0", "b0", "prior_scale"):
            check_positive(getattr(self, name), name)
        check_level(self.target_accept, "target_accept")
        check_choice(self.chain_method, "chain_method", ["vectorized", "sequential"])
        for name, model in (("df", "student_t"), ("x_noise", "eiv")):
            if self.model == model:
                if getattr(self, name) is None:
                    raise ValueError(f"{name} is required for model {model!r}; got None.")
                check_positive(getattr(self, name), name)

    def _degree(self) -> int:
        return 1 if self.model in ("linear", "bnn") else self.degree

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        spec = MODELS[self.model]
        if not spec.scaled:
            return X
        return self.scaling_.design(X) if spec.design else self.scaling_.features(X)

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> NUTS:
        """Sample the posterior (``num_chains`` vectorised chains from ``PRNGKey(seed)``) and keep thinned draws."""
        self.validate()
        X, y = _check_xy(X, y)
        seed = check_int(seed, "seed", minimum=0)
        spec = MODELS[self.model]
        if spec.one_input and X.shape[1] != 1:
            raise ValueError(f"model {self.model!r} takes one input column; got X of shape {X.shape}.")
        jax = _import_jax()
        from numpyro.infer import MCMC
        from numpyro.infer import NUTS as Kernel

        self.scaling_ = _Scaling.fit(X, y, self._degree()) if spec.scaled else None
        inputs = self._inputs(X)
        target = self.scaling_.target(y) if spec.scaled else y
        kernel = Kernel(functools.partial(spec.sample, self), target_accept_prob=self.target_accept,
                        max_tree_depth=self.max_tree_depth, dense_mass=spec.dense_mass,
                        init_strategy=_init_strategy(spec.init, inputs, target))
        mcmc = MCMC(kernel, num_warmup=self.num_warmup, num_samples=self.num_samples, num_chains=self.num_chains,
                    chain_method=self.chain_method, progress_bar=False)
        mcmc.run(jax.random.PRNGKey(seed), inputs.astype(np.float32), target.astype(np.float32),
                 extra_fields=("diverging",))
        chains = {k: np.asarray(v, dtype=np.float64) for k, v in mcmc.get_samples(group_by_chain=True).items()}
        monitored = spec.monitor(self, chains, inputs) if spec.monitor else chains
        self.diagnostics_ = _diagnostics(monitored, int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum()))
        total = self.num_chains * self.num_samples
        keep = np.linspace(0, total - 1, min(self.n_predictive, total)).round().astype(int)
        self.draws_ = {k: v.reshape((total,) + v.shape[2:])[keep] for k, v in chains.items()}
        self.seed_ = seed
        return self

    def predict(self, X: Any) -> Mixture:
        """The posterior predictive at ``X``: a mixture over the kept posterior draws."""
        X = check_array(X, "X", ndim=2)
        loc, scale = MODELS[self.model].predict(self, self.draws_, self._inputs(X))
        scale = np.broadcast_to(scale, loc.shape)
        if self.scaling_ is not None:
            loc, scale = loc * self.scaling_.y_std + self.scaling_.y_mean, scale * self.scaling_.y_std
        return Mixture(loc, scale, df=self.df if self.model == "student_t" else None)
