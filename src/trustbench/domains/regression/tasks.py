"""Seven regression reference problems; six are simulated and know their true predictive p(y | x).

Every simulated task draws targets at any inputs (``simulate``) and gives the true predictive there
(``truth``), so a covariate shift keeps its ground truth. Training inputs cover a range; test inputs
cover it and extend beyond it by ``extrapolation`` × its width on each side, so extrapolation is
measured. ``reference()`` is the task's reference Bayesian method (unfitted): the exact conjugate
posterior where one exists, NUTS on the correct model family otherwise. See README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from trustbench.domains.regression.gum import PhysicalModel
from trustbench.types import Data, Dataset, Gaussian, Mixture, StudentT
from trustbench.validation import check_array, check_int, check_positive

__all__ = [
    "Polynomial",
    "HeteroSine",
    "Gap",
    "HeavyTail",
    "ExpDecay",
    "ErrorsInVariables",
    "Diabetes",
    "exp_decay",
]

N_GRID = 101


def _check_reference_params(value: Any) -> dict[str, Any]:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"reference_params must be a mapping of keyword arguments or None; got {value!r}.")
    return dict(value or {})


def _check_coef(coef: Any) -> np.ndarray:
    coef = check_array(coef, "coef", ndim=1)
    if len(coef) < 2:
        raise ValueError(f"coef must hold at least 2 polynomial coefficients (degree >= 1); got {coef.tolist()}.")
    return coef


def _one_column(X: Any) -> np.ndarray:
    """The single input column of a 1-D task, from (n,) or (n, 1) inputs."""
    X = check_array(X, "X", ndim=(1, 2))
    if X.ndim == 2 and X.shape[1] != 1:
        raise ValueError(f"X must have exactly one column for this 1-D task; got shape {X.shape}.")
    return X.reshape(-1)


def _polyval(x: np.ndarray, coef: Any) -> np.ndarray:
    """Σ_k coef[k] x^k (increasing powers)."""
    from numpy.polynomial import polynomial

    return polynomial.polyval(x, np.asarray(coef, dtype=float))


def exp_decay(X: Any, theta: Any, xp: Any = np) -> Any:
    """Exponential decay y = A·exp(−t/τ) (+ c): ``theta = (A, τ[, c])`` (..., p), ``X`` (n, 1) -> (..., n)."""
    t = X[:, 0]
    out = theta[..., 0, None] * xp.exp(-t / theta[..., 1, None])
    return out + theta[..., 2, None] if theta.shape[-1] == 3 else out


@dataclass(kw_only=True, eq=False)
class _Simulated1D:
    """Shared configuration and behaviour of the simulated tasks with one input (abstract; one level
    of inheritance).

    Subclasses declare their own fields (and their default ``n_train``), and define ``simulate``,
    ``truth``, ``reference``, ``_check`` (their own parameters) and the training input range
    ``_x_range`` (or ``_train_inputs``).
    """

    name: ClassVar[str]
    _x_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    n_train: int
    n_test: int = 200
    extrapolation: float = 0.25
    reference_params: Mapping[str, Any] | None = None

    def _check(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ValueError / TypeError on a bad configuration, before any work."""
        check_int(self.n_train, "n_train", minimum=2)
        check_int(self.n_test, "n_test", minimum=1)
        check_positive(self.extrapolation, "extrapolation", strict=False)
        _check_reference_params(self.reference_params)
        self._check()

    def _train_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(*self._x_range, size=n)

    def _test_range(self) -> tuple[float, float]:
        lo, hi = self._x_range
        margin = self.extrapolation * (hi - lo)
        return lo - margin, hi + margin

    def make(self, seed: int) -> Dataset:
        """Training inputs on the training range, test inputs on the wider test range; targets simulated."""
        self.validate()
        rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
        parts = []
        for X in (self._train_inputs(rng, self.n_train), rng.uniform(*self._test_range(), size=self.n_test)):
            X = X.reshape(-1, 1)
            parts.append(Data(X, self.simulate(X, rng), truth=self.truth(X)))
        return Dataset(*parts)

    def plot_grid(self) -> np.ndarray:
        """(101, 1) inputs spanning the test range, for predictive-band figures."""
        return np.linspace(*self._test_range(), N_GRID)[:, None]

    def _reference_kwargs(self, **defaults: Any) -> dict[str, Any]:
        return {**defaults, **_check_reference_params(self.reference_params)}


@dataclass(kw_only=True, eq=False)
class Polynomial(_Simulated1D):
    """Cubic polynomial with Gaussian noise: y = Σ_k coef[k] x^k + σ ε, x ~ U(−1, 1).

    The textbook case where the Bayesian reference is exact: Bayesian linear regression on the
    polynomial features with a conjugate Normal–Inverse-Gamma prior (:class:`BayesLinear`).
    True predictive: N(f(x), σ²).

    Parameters
    ----------
    n_train, n_test : sizes of the splits.
    noise : σ, the noise standard deviation.
    coef : polynomial coefficients, increasing powers.
    extrapolation : the test range extends the training range by this fraction of its width per side.
    reference_params : keyword arguments for the reference method (override its defaults).
    """

    name = "regression/polynomial"

    n_train: int = 30
    noise: float = 0.2
    coef: tuple[float, ...] = (0.5, -1.0, 0.0, 1.5)

    def _check(self) -> None:
        check_positive(self.noise, "noise")
        _check_coef(self.coef)

    def truth(self, X: Any) -> Gaussian:
        x = _one_column(X)
        return Gaussian(_polyval(x, self.coef), np.full(len(x), float(self.noise)))

    def simulate(self, X: Any, rng: np.random.Generator) -> np.ndarray:
        x = _one_column(X)
        return _polyval(x, self.coef) + self.noise * rng.standard_normal(len(x))

    def reference(self):
        """Exact Bayesian linear regression on the polynomial features (:class:`BayesLinear`)."""
        from trustbench.domains.regression.reference import BayesLinear

        self.validate()
        return BayesLinear(**self._reference_kwargs(degree=len(self.coef) - 1))


@dataclass(kw_only=True, eq=False)
class HeteroSine(_Simulated1D):
    """Sinusoid with input-dependent (heteroscedastic) Gaussian noise.

    y = a·sin(ω x) + σ(x) ε with σ(x) = σ₀·exp(γ x²), x ~ U(−1, 1): the noise grows towards the edges
    and beyond them, so a method must learn σ(x), not one σ (the setting of Nix & Weigend 1994 and of
    the heteroscedastic toy problems of Lakshminarayanan et al. 2017). True predictive:
    N(a sin(ω x), σ(x)²). Reference: NUTS on the true parametric family (model ``hetero_sine``).

    Parameters
    ----------
    amplitude, frequency : a and ω.
    noise, noise_growth : σ₀ and γ of σ(x) = σ₀ exp(γ x²).
    n_train, n_test, extrapolation, reference_params : as in :class:`Polynomial`.
    """

    name = "regression/hetero_sine"

    n_train: int = 60
    amplitude: float = 1.0
    frequency: float = 3.0
    noise: float = 0.1
    noise_growth: float = 1.0

    def _check(self) -> None:
        check_array(self.amplitude, "amplitude", ndim=0)
        check_positive(self.frequency, "frequency")
        check_positive(self.noise, "noise")
        check_positive(self.noise_growth, "noise_growth", strict=False)

    def noise_std(self, X: Any) -> np.ndarray:
        """The known noise function σ(x) = σ₀ exp(γ x²)."""
        return self.noise * np.exp(self.noise_growth * _one_column(X) ** 2)

    def truth(self, X: Any) -> Gaussian:
        x = _one_column(X)
        return Gaussian(self.amplitude * np.sin(self.frequency * x), self.noise_std(x))

    def simulate(self, X: Any, rng: np.random.Generator) -> np.ndarray:
        x = _one_column(X)
        return self.amplitude * np.sin(self.frequency * x) + self.noise_std(x) * rng.standard_normal(len(x))

    def reference(self):
        """NUTS on a·sin(ωx) + b with log σ(x) = c₀ + c₁x² (the true family)."""
        from trustbench.domains.regression.reference import NUTS

        self.validate()
        return NUTS(**self._reference_kwargs(model="hetero_sine"))


@dataclass(kw_only=True, eq=False)
class Gap(_Simulated1D):
    """The "in-between" problem of Foong et al. (2019): two clusters of inputs with a gap between them.

    x is drawn half from each cluster (default [−1, −0.5] and [0.5, 1]); y = sin(3x) + σ ε. Test
    inputs are uniform over the gap, the clusters and beyond them (``extrapolation``). Mean-field
    variational inference is known to be over-confident in the gap; the reference is the posterior
    of a small Bayesian neural network (1 hidden tanh layer) sampled by NUTS, the full-batch HMC
    reference of Izmailov et al. (2021) at toy size. True predictive: N(sin(3x), σ²).

    Parameters
    ----------
    clusters : two (low, high) input intervals, the left one first.
    noise : σ.
    n_train, n_test, extrapolation, reference_params : as in :class:`Polynomial`.
    """

    name = "regression/gap"

    n_train: int = 40
    noise: float = 0.1
    clusters: tuple[tuple[float, float], tuple[float, float]] = ((-1.0, -0.5), (0.5, 1.0))

    def _check(self) -> None:
        check_positive(self.noise, "noise")
        c = check_array(self.clusters, "clusters")
        if c.shape != (2, 2) or not (c[0, 0] < c[0, 1] < c[1, 0] < c[1, 1]):
            raise ValueError(f"clusters must be two ordered, disjoint intervals ((a, b), (c, d)) with "
                             f"a < b < c < d; got {self.clusters!r}.")

    @property
    def _x_range(self) -> tuple[float, float]:
        return float(self.clusters[0][0]), float(self.clusters[1][1])

    def _train_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        (a, b), (c, d) = self.clusters
        left = n // 2
        return np.concatenate([rng.uniform(a, b, size=left), rng.uniform(c, d, size=n - left)])

    def truth(self, X: Any) -> Gaussian:
        x = _one_column(X)
        return Gaussian(np.sin(3.0 * x), np.full(len(x), float(self.noise)))

    def simulate(self, X: Any, rng: np.random.Generator) -> np.ndarray:
        x = _one_column(X)
        return np.sin(3.0 * x) + self.noise * rng.standard_normal(len(x))

    def reference(self):
        """NUTS on a one-hidden-layer tanh BNN (model ``bnn``) with N(0, 2²) priors on standardised data.

        Scale 2 rather than 1: on standardised inputs sin(3x) needs first-layer weights near 2.5,
        in the tail of N(0, 1); with scale 1 the posterior is over-confident in the gap and beyond
        (90 % intervals cover about 0.6-0.8 of the test targets at the quick sizes, about 0.9 with 2).
        """
        from trustbench.domains.regression.reference import NUTS

        self.validate()
        return NUTS(**self._reference_kwargs(model="bnn", prior_scale=2.0))


@dataclass(kw_only=True, eq=False)
class HeavyTail(_Simulated1D):
    """Polynomial trend with Student-t noise: y = Σ_k coef[k] x^k + s·t_ν, x ~ U(−1, 1).

    Heavy-tailed noise (ν = 3 by default: finite variance, infinite kurtosis) punishes methods that
    assume Gaussian noise in the tails of their predictive (NLL, interval coverage at high levels).
    True predictive: StudentT(f(x), s, ν). Reference: NUTS on the polynomial trend with a Student-t
    likelihood of known ν (model ``student_t``), so its predictive is a mixture of Student-t
    components with that ν, scored exactly.

    Parameters
    ----------
    coef : polynomial trend, increasing powers.
    scale, df : s and ν of the Student-t noise.
    n_train, n_test, extrapolation, reference_params : as in :class:`Polynomial`.
    """

    name = "regression/heavy_tail"

    n_train: int = 60
    coef: tuple[float, ...] = (1.0, 2.0)
    scale: float = 0.2
    df: float = 3.0

    def _check(self) -> None:
        _check_coef(self.coef)
        check_positive(self.scale, "scale")
        check_positive(self.df, "df")

    def truth(self, X: Any) -> StudentT:
        x = _one_column(X)
        return StudentT(_polyval(x, self.coef), np.full(len(x), float(self.scale)), float(self.df))

    def simulate(self, X: Any, rng: np.random.Generator) -> np.ndarray:
        x = _one_column(X)
        return _polyval(x, self.coef) + self.scale * rng.standard_t(self.df, size=len(x))

    def reference(self):
        """NUTS with a Student-t likelihood of the task's ν (model ``student_t``)."""
        from trustbench.domains.regression.reference import NUTS

        self.validate()
        return NUTS(**self._reference_kwargs(model="student_t", degree=len(self.coef) - 1, df=float(self.df)))


@dataclass(kw_only=True, eq=False)
class ExpDecay(_Simulated1D):
    """A physical measurement model: exponential decay y = A·exp(−t/τ) + c + σ ε, t ~ U(0, t_max).

    Positive amplitude A and decay time τ (a relaxation signal, a radioactive or fluorescence decay, a
    drug's elimination curve), an optional baseline offset c (``offset=None`` drops it), Gaussian
    noise. The task exposes its ``physical_model`` for the GUM methods (JCGM 100 / 101). Test times
    extend beyond t_max (later times only: negative times are not measured). True predictive:
    N(f(t), σ²). Reference: NUTS with log-normal priors on A and τ (model ``exp_decay``).

    Parameters
    ----------
    amplitude, tau : A (a.u.) and τ (s).
    offset : c (a.u.), or None for a model without offset.
    noise : σ (a.u.).
    t_max : end of the training time range (s).
    n_train, n_test, extrapolation, reference_params : as in :class:`Polynomial`.
    """

    name = "regression/exp_decay"

    n_train: int = 30
    amplitude: float = 2.0
    tau: float = 1.5
    offset: float | None = 0.1
    noise: float = 0.05
    t_max: float = 4.0

    def _check(self) -> None:
        check_positive(self.amplitude, "amplitude")
        check_positive(self.tau, "tau")
        if self.offset is not None:
            check_array(self.offset, "offset", ndim=0)
        check_positive(self.noise, "noise")
        check_positive(self.t_max, "t_max")

    @property
    def _x_range(self) -> tuple[float, float]:
        return 0.0, float(self.t_max)

    def _test_range(self) -> tuple[float, float]:
        return 0.0, float(self.t_max) * (1.0 + self.extrapolation)

    @property
    def theta(self) -> np.ndarray:
        """The true parameters (A, τ[, c])."""
        return np.array([self.amplitude, self.tau] + ([] if self.offset is None else [self.offset]), float)

    @property
    def physical_model(self) -> PhysicalModel:
        """y = A exp(−t/τ) (+ c) with A, τ > 0; the GUM methods fit and propagate through it."""
        with_offset = self.offset is not None
        return PhysicalModel(
            f=exp_decay,
            param_names=("amplitude", "tau") + (("offset",) if with_offset else ()),
            units=("a.u.", "s") + (("a.u.",) if with_offset else ()),
            theta0=(1.0, 1.0) + ((0.0,) if with_offset else ()),
            lower=(0.0, 0.0) + ((-np.inf,) if with_offset else ()),
            upper=(np.inf, np.inf) + ((np.inf,) if with_offset else ()),
        )

    def truth(self, X: Any) -> Gaussian:
        x = _one_column(X)
        return Gaussian(exp_decay(x[:, None], self.theta), np.full(len(x), float(self.noise)))

    def simulate(self, X: Any, rng: np.random.Generator) -> np.ndarray:
        x = _one_column(X)
        return exp_decay(x[:, None], self.theta) + self.noise * rng.standard_normal(len(x))

    def reference(self):
        """NUTS on the decay model with positive priors (model ``exp_decay``)."""
        from trustbench.domains.regression.reference import NUTS

        self.validate()
        return NUTS(**self._reference_kwargs(model="exp_decay", offset=self.offset is not None))


@dataclass(kw_only=True, eq=False)
class ErrorsInVariables(_Simulated1D):
    """Errors-in-variables regression (Martin & Elster 2022): the inputs are observed with noise.

    True inputs ζ ~ N(μ, τ²); observed inputs x = ζ + σₓ δ; targets y = f(ζ) + σ ε with a cubic f.
    A method sees only x. Given x, ζ | x ~ N(m(x), v) with v = (1/τ² + 1/σₓ²)⁻¹ and
    m(x) = v (μ/τ² + x/σₓ²), so the true predictive is the continuous mixture
    p(y | x) = ∫ N(y; f(ζ), σ²) N(ζ; m(x), v) dζ — skewed and wider than σ where f is curved. It is
    computed by Gauss–Hermite quadrature (``n_nodes`` nodes of the Gaussian ζ | x) as a
    :class:`~trustbench.types.Mixture`. Training and test inputs come from the same population (the
    truth depends on it); covariate shift re-simulates from p(y | x) at the moved inputs. The true
    inputs are in ``Data.meta["x_true"]``. Reference: NUTS on the EIV model with one latent true
    input per training point (model ``eiv``).

    Parameters
    ----------
    coef : cubic f, increasing powers.
    x_noise : σₓ, the known input noise.
    noise : σ, the output noise.
    x_loc, x_scale : μ and τ of the true-input population.
    n_nodes : Gauss–Hermite nodes of the truth.
    n_train, n_test, reference_params : as in :class:`Polynomial`.
    """

    name = "regression/errors_in_variables"

    n_train: int = 50
    coef: tuple[float, ...] = (0.0, 1.0, 0.0, -0.25)
    x_noise: float = 0.2
    noise: float = 0.1
    x_loc: float = 0.0
    x_scale: float = 1.0
    n_nodes: int = 128
    # the truth depends on the input population: test inputs come from the same one (not a parameter)
    extrapolation: float = field(default=0.0, init=False)

    def _check(self) -> None:
        _check_coef(self.coef)
        check_positive(self.x_noise, "x_noise")
        check_positive(self.noise, "noise")
        check_array(self.x_loc, "x_loc", ndim=0)
        check_positive(self.x_scale, "x_scale")
        check_int(self.n_nodes, "n_nodes", minimum=2)

    def _test_range(self) -> tuple[float, float]:
        spread = 2.5 * np.hypot(self.x_scale, self.x_noise)
        return self.x_loc - spread, self.x_loc + spread

    def latent_posterior(self, X: Any) -> tuple[np.ndarray, float]:
        """Mean m(x) (n,) and variance v of the true input ζ given the observed x."""
        x = _one_column(X)
        v = 1.0 / (1.0 / self.x_scale**2 + 1.0 / self.x_noise**2)
        return v * (self.x_loc / self.x_scale**2 + x / self.x_noise**2), v

    def truth(self, X: Any) -> Mixture:
        from numpy.polynomial.hermite_e import hermegauss

        m, v = self.latent_posterior(X)
        nodes, weights = hermegauss(self.n_nodes)
        zeta = m[:, None] + np.sqrt(v) * nodes[None, :]
        return Mixture(_polyval(zeta, self.coef), np.full(zeta.shape, float(self.noise)), weights=weights)

    def simulate(self, X: Any, rng: np.random.Generator) -> np.ndarray:
        m, v = self.latent_posterior(X)
        zeta = m + np.sqrt(v) * rng.standard_normal(len(m))
        return _polyval(zeta, self.coef) + self.noise * rng.standard_normal(len(m))

    def make(self, seed: int) -> Dataset:
        """Generate in the natural order: ζ from the population, then x = ζ + noise and y = f(ζ) + noise."""
        self.validate()
        rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
        parts = []
        for n in (self.n_train, self.n_test):
            zeta = self.x_loc + self.x_scale * rng.standard_normal(n)
            X = (zeta + self.x_noise * rng.standard_normal(n))[:, None]
            y = _polyval(zeta, self.coef) + self.noise * rng.standard_normal(n)
            parts.append(Data(X, y, truth=self.truth(X), meta={"x_true": zeta}))
        return Dataset(*parts)

    def reference(self):
        """NUTS on the EIV model with latent true inputs and known σₓ (model ``eiv``); 1000 warm-up steps,
        as the 50 latent inputs need a longer adaptation (R-hat 1.06 after 500, 1.01 after 1000)."""
        from trustbench.domains.regression.reference import NUTS

        self.validate()
        return NUTS(**self._reference_kwargs(model="eiv", degree=len(self.coef) - 1, x_noise=float(self.x_noise),
                                             num_warmup=1000))


@dataclass(kw_only=True, eq=False)
class Diabetes:
    """Real data: disease progression one year after baseline for 442 diabetes patients (Efron et al. 2004).

    scikit-learn's ``load_diabetes`` (it ships with scikit-learn; nothing is downloaded): ten baseline
    variables (age, sex, body-mass index, mean blood pressure and six blood serum measurements) and a
    quantitative measure of disease progression. A seeded permutation of the patients gives the
    training split and held-out patients as the test split. The inputs are z-scored with the training
    split's mean and standard deviation (``meta`` keeps them); the targets keep their units. ``groups``
    is the sex code (1 or 2) for subgroup analyses. No simulator and no truth (``truth=None``); the
    reference is exact Bayesian linear regression on the ten inputs (:class:`BayesLinear`).

    Parameters
    ----------
    n_train, n_test : split sizes, n_train + n_test <= 442.
    reference_params : keyword arguments for the reference method.
    """

    name = "regression/diabetes"
    n_patients = 442

    n_train: int = 300
    n_test: int = 142
    reference_params: Mapping[str, Any] | None = None

    def validate(self) -> None:
        """Raise ValueError / TypeError on a bad configuration, before any work."""
        check_int(self.n_train, "n_train", minimum=2)
        check_int(self.n_test, "n_test", minimum=1)
        if self.n_train + self.n_test > self.n_patients:
            raise ValueError(f"n_train + n_test must be <= {self.n_patients} (the patients in the data set); "
                             f"got {self.n_train} + {self.n_test}.")
        _check_reference_params(self.reference_params)

    def make(self, seed: int) -> Dataset:
        from sklearn.datasets import load_diabetes

        self.validate()
        rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
        data = load_diabetes(scaled=False)
        order = rng.permutation(len(data.target))
        train, test = order[: self.n_train], order[self.n_train : self.n_train + self.n_test]
        mean, std = data.data[train].mean(axis=0), data.data[train].std(axis=0)
        meta = {"feature_names": list(data.feature_names), "x_mean": mean, "x_std": std,
                "target": "disease progression one year after baseline"}
        sex = data.feature_names.index("sex")
        return Dataset(*(Data((data.data[i] - mean) / std, data.target[i], groups=data.data[i, sex].astype(int),
                              meta={**meta, "patients": i}) for i in (train, test)))

    def plot_grid(self) -> None:
        """No band figure: the inputs are ten-dimensional."""
        return None

    def reference(self):
        """Exact Bayesian linear regression on the ten standardised inputs (:class:`BayesLinear`)."""
        from trustbench.domains.regression.reference import BayesLinear

        self.validate()
        return BayesLinear(**_check_reference_params(self.reference_params))
