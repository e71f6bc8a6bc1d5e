"""The words of trustbench as types: data, predictions, records, and the Task / Method protocols.

Predictions are frozen dataclasses over arrays with one row per test input. Every predictive kind
answers the same questions (``mean``, ``std``, ``cdf``, ``quantile``, ``interval``, ``sample``,
and ``logpdf`` where a density exists), so metrics never care which method made them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from trustbench.validation import (
    check_array,
    check_int,
    check_level,
    check_levels,
    check_positive,
    check_same_length,
)

__all__ = [
    "Data",
    "Dataset",
    "Predictive",
    "Gaussian",
    "StudentT",
    "Mixture",
    "Quantiles",
    "Samples",
    "ClassProbs",
    "Record",
    "Task",
    "SimulatorTask",
    "Method",
    "Benchmark",
]


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Data:
    """One split of a task: inputs, targets and, where known, the ground truth.

    Parameters
    ----------
    X : (n, d) inputs; NaN marks a missing value.
    y : (n,) targets (may be None for unlabelled data).
    truth : the true predictive distribution p(y | x) at ``X`` (None on real data).
    groups : (n,) group labels (sex, site, ...) for subgroup analyses, or None.
    meta : free-form metadata (units, feature names, the true latent inputs, ...).
    """

    X: np.ndarray
    y: np.ndarray | None = None
    truth: Predictive | None = None
    groups: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        X = check_array(self.X, "X", ndim=(1, 2), allow_nan=True, min_size=0)
        _set(self, "X", X.reshape(-1, 1) if X.ndim == 1 else X)
        if self.y is not None:
            _set(self, "y", check_array(self.y, "y", ndim=1, min_size=0))
        if self.groups is not None:
            _set(self, "groups", np.asarray(self.groups))
        check_same_length(X=self.X, y=self.y, groups=self.groups)
        if self.truth is not None and len(self.truth) != len(self.X):
            raise ValueError(
                f"truth must have one row per input; got {len(self.truth)} rows for {len(self.X)} inputs."
            )

    def __len__(self) -> int:
        return len(self.X)

    def replace(self, **changes: Any) -> Data:
        """A copy with some fields changed (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Dataset:
    """What ``Task.make(seed)`` returns: a training and a test split (and optionally a calibration split)."""

    train: Data
    test: Data
    calibration: Data | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("train", "test"):
            part = getattr(self, name)
            if not isinstance(part, Data):
                raise TypeError(f"{name} must be a trustbench.types.Data; got {type(part).__name__}.")
            if len(part) == 0:
                raise ValueError(f"the {name} split is empty; it needs at least one row.")
        if self.train.X.shape[1] != self.test.X.shape[1]:
            raise ValueError(
                f"train and test must have the same number of features; got "
                f"{self.train.X.shape[1]} and {self.test.X.shape[1]}."
            )


# --------------------------------------------------------------------------------------------
# predictions
# --------------------------------------------------------------------------------------------


def _as_rows(y: Any, n: int, name: str = "y") -> np.ndarray:
    arr = check_array(y, name, ndim=1)
    if len(arr) != n:
        raise ValueError(f"{name} must have one value per prediction row ({n}); got {len(arr)}.")
    return arr


class Predictive:
    """Shared behaviour of the predictive distributions (one level of inheritance, no more).

    Subclasses define ``__len__``, ``mean``, ``var``, ``cdf`` and ``quantile``; ``logpdf`` and
    ``sample`` where they can. Everything else follows from those.
    """

    has_density: bool = True

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def mean(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def var(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def std(self) -> np.ndarray:
        """Predictive standard deviation per row."""
        return np.sqrt(self.var())

    def cdf(self, y: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def quantile(self, levels: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def logpdf(self, y: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no density")

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval of probability ``level``: the (1-level)/2 and (1+level)/2 quantiles."""
        level = check_level(level, "level")
        q = self.quantile(np.array([(1 - level) / 2, (1 + level) / 2]))
        return q[:, 0], q[:, 1]

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """(n, n_samples) draws by inverse-CDF sampling (subclasses may do better)."""
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        u = rng.uniform(1e-12, 1 - 1e-12, size=(len(self), n_samples))
        return np.stack([self.quantile(u[i])[i] for i in range(len(self))])


@dataclass(frozen=True, eq=False)
class Gaussian(Predictive):
    """Normal predictive distribution N(mean, std²) per row."""

    loc: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        loc = check_array(self.loc, "mean", ndim=1)
        scale = check_positive(np.broadcast_to(self.scale, loc.shape), "std")
        _set(self, "loc", loc)
        _set(self, "scale", np.array(scale, dtype=float))

    def __len__(self) -> int:
        return len(self.loc)

    def mean(self) -> np.ndarray:
        return self.loc

    def var(self) -> np.ndarray:
        return self.scale**2

    def std(self) -> np.ndarray:
        return self.scale

    def cdf(self, y: Any) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr((_as_rows(y, len(self)) - self.loc) / self.scale)

    def logpdf(self, y: Any) -> np.ndarray:
        z = (_as_rows(y, len(self)) - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * np.log(2 * np.pi)

    def quantile(self, levels: Any) -> np.ndarray:
        from scipy.special import ndtri

        lv = check_levels(levels)
        return self.loc[:, None] + self.scale[:, None] * ndtri(lv)[None, :]

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        return self.loc[:, None] + self.scale[:, None] * rng.standard_normal((len(self), n_samples))


@dataclass(frozen=True, eq=False)
class StudentT(Predictive):
    """Location-scale Student-t predictive distribution per row (``df`` > 0, scalar or per row)."""

    loc: np.ndarray
    scale: np.ndarray
    df: Any

    def __post_init__(self) -> None:
        loc = check_array(self.loc, "loc", ndim=1)
        _set(self, "loc", loc)
        _set(self, "scale", np.array(check_positive(np.broadcast_to(self.scale, loc.shape), "scale")))
        _set(self, "df", np.array(check_positive(np.broadcast_to(self.df, loc.shape), "df")))

    def __len__(self) -> int:
        return len(self.loc)

    def mean(self) -> np.ndarray:
        return np.where(self.df > 1, self.loc, np.nan)

    def var(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.df > 2, self.scale**2 * self.df / (self.df - 2), np.inf)

    def cdf(self, y: Any) -> np.ndarray:
        from scipy.special import stdtr

        return stdtr(self.df, (_as_rows(y, len(self)) - self.loc) / self.scale)

    def logpdf(self, y: Any) -> np.ndarray:
        return _t_logpdf((_as_rows(y, len(self)) - self.loc) / self.scale, self.df) - np.log(self.scale)

    def quantile(self, levels: Any) -> np.ndarray:
        from scipy.special import stdtrit

        lv = check_levels(levels)
        return self.loc[:, None] + self.scale[:, None] * stdtrit(self.df[:, None], lv[None, :])

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        t = rng.standard_t(self.df[:, None], size=(len(self), n_samples))
        return self.loc[:, None] + self.scale[:, None] * t


def _t_logpdf(z: np.ndarray, df: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return (
        gammaln((df + 1) / 2)
        - gammaln(df / 2)
        - 0.5 * np.log(df * np.pi)
        - (df + 1) / 2 * np.log1p(z**2 / df)
    )


@dataclass(frozen=True, eq=False)
class Mixture(Predictive):
    """Finite mixture of Gaussian (``df=None``) or Student-t components, per row.

    The predictive of a deep ensemble (Lakshminarayanan et al. 2017), of MC dropout and BBB passes,
    and of MCMC posterior draws: p(y|x) = Σ_k w_k N(y; loc_k(x), scale_k(x)²). Scored exactly,
    not moment-matched.

    Parameters
    ----------
    loc, scale : (n, k) component locations and scales.
    weights : None (equal), (k,) shared, or (n, k) per-row weights; normalised to sum to one.
    df : None for Gaussian components, or the Student-t degrees of freedom (scalar).
    """

    loc: np.ndarray
    scale: np.ndarray
    weights: np.ndarray | None = None
    df: float | None = None

    def __post_init__(self) -> None:
        loc = check_array(self.loc, "loc", ndim=2)
        scale = np.array(check_positive(np.broadcast_to(self.scale, loc.shape), "scale"))
        n, k = loc.shape
        w = np.full((1, k), 1.0 / k) if self.weights is None else check_array(self.weights, "weights")
        w = np.atleast_2d(w)
        if w.shape not in ((1, k), (n, k)):
            raise ValueError(f"weights must have shape ({k},) or ({n}, {k}); got {w.shape}.")
        if (w < 0).any() or (w.sum(axis=1) <= 0).any():
            raise ValueError("weights must be >= 0 with a positive sum per row.")
        _set(self, "loc", loc)
        _set(self, "scale", scale)
        _set(self, "weights", w / w.sum(axis=1, keepdims=True))
        if self.df is not None:
            _set(self, "df", float(check_positive(self.df, "df")))

    def __len__(self) -> int:
        return self.loc.shape[0]

    @property
    def n_components(self) -> int:
        return self.loc.shape[1]

    def _component_var_factor(self) -> float:
        if self.df is None:
            return 1.0
        return self.df / (self.df - 2) if self.df > 2 else np.inf

    def mean(self) -> np.ndarray:
        return (self.weights * self.loc).sum(axis=1)

    def var(self) -> np.ndarray:
        m = self.mean()
        second = (self.weights * (self.scale**2 * self._component_var_factor() + self.loc**2)).sum(axis=1)
        return np.maximum(second - m**2, 0.0)

    def _std_cdf(self, z: np.ndarray) -> np.ndarray:
        from scipy.special import ndtr, stdtr

        return ndtr(z) if self.df is None else stdtr(self.df, z)

    def _std_logpdf(self, z: np.ndarray) -> np.ndarray:
        if self.df is None:
            return -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        return _t_logpdf(z, np.asarray(self.df))

    def _cdf_at(self, z: np.ndarray) -> np.ndarray:
        """Mixture CDF at points ``z`` of shape (n, m) -> (n, m)."""
        u = (z[:, :, None] - self.loc[:, None, :]) / self.scale[:, None, :]
        return np.einsum("nmk,nk->nm", self._std_cdf(u), np.broadcast_to(self.weights, self.loc.shape))

    def _pdf_at(self, z: np.ndarray) -> np.ndarray:
        u = (z[:, :, None] - self.loc[:, None, :]) / self.scale[:, None, :]
        dens = np.exp(self._std_logpdf(u)) / self.scale[:, None, :]
        return np.einsum("nmk,nk->nm", dens, np.broadcast_to(self.weights, self.loc.shape))

    def cdf(self, y: Any) -> np.ndarray:
        return self._cdf_at(_as_rows(y, len(self))[:, None])[:, 0]

    def logpdf(self, y: Any) -> np.ndarray:
        from scipy.special import logsumexp

        y = _as_rows(y, len(self))
        u = (y[:, None] - self.loc) / self.scale
        return logsumexp(self._std_logpdf(u) - np.log(self.scale), b=self.weights, axis=1)

    def quantile(self, levels: Any) -> np.ndarray:
        lv = check_levels(levels)
        return _invert_cdf(self._cdf_at, self._pdf_at, lv, self._bracket(lv))

    def _bracket(self, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row interval that contains every requested quantile."""
        from scipy.special import ndtri, stdtrit

        p = min(lv.min(), 1 - lv.max()) / 2
        c = -ndtri(p) if self.df is None else -stdtrit(self.df, p)
        return (self.loc - c * self.scale).min(axis=1), (self.loc + c * self.scale).max(axis=1)

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        n, k = self.loc.shape
        w = np.broadcast_to(self.weights, (n, k))
        comp = (rng.uniform(size=(n, n_samples, 1)) > np.cumsum(w, axis=1)[:, None, :]).sum(axis=2)
        comp = np.minimum(comp, k - 1)
        rows = np.arange(n)[:, None]
        eps = (
            rng.standard_normal((n, n_samples))
            if self.df is None
            else rng.standard_t(self.df, size=(n, n_samples))
        )
        return self.loc[rows, comp] + self.scale[rows, comp] * eps


def _invert_cdf(cdf, pdf, levels: np.ndarray, bracket, grid: int = 256, newton: int = 4) -> np.ndarray:
    """Quantiles of a continuous, increasing per-row CDF, vectorised over rows and levels.

    The CDF is tabulated on ``grid`` points per row between the bracket ends; linear inversion of
    the table gives a start inside the right cell, and safeguarded Newton steps (kept inside that
    cell) polish it to near machine precision.
    """
    lo, hi = bracket
    t = np.linspace(0.0, 1.0, grid)
    z = lo[:, None] + (hi - lo)[:, None] * t[None, :]
    F = cdf(z)
    F = np.maximum.accumulate(F, axis=1)
    n = len(lo)
    out = np.empty((n, len(levels)))
    cell_lo = np.empty_like(out)
    cell_hi = np.empty_like(out)
    for i in range(n):
        j = np.clip(np.searchsorted(F[i], levels, side="left"), 1, grid - 1)
        f0, f1 = F[i, j - 1], F[i, j]
        frac = np.where(f1 > f0, (levels - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.5)
        out[i] = z[i, j - 1] + np.clip(frac, 0.0, 1.0) * (z[i, j] - z[i, j - 1])
        cell_lo[i], cell_hi[i] = z[i, j - 1], z[i, j]
    for _ in range(newton):
        resid = cdf(out) - levels[None, :]
        if np.abs(resid).max() < 1e-13:
            break
        out = np.clip(out - resid / np.maximum(pdf(out), 1e-300), cell_lo, cell_hi)
    return out


@dataclass(frozen=True, eq=False)
class Quantiles(Predictive):
    """Predictive quantiles at fixed levels (quantile regression, conformal bands).

    ``values`` rows are sorted (monotone rearrangement, Chernozhukov et al. 2010) so crossing
    quantiles never produce a negative density. Between levels the CDF is linear; beyond the
    outermost levels it continues with the slope of the outer segment, clipped to [0, 1].
    There is no density, so NLL is not defined for this kind.
    """

    levels: np.ndarray
    values: np.ndarray
    has_density = False

    def __post_init__(self) -> None:
        lv = check_levels(self.levels)
        if len(lv) < 2 or (np.diff(lv) <= 0).any():
            raise ValueError(f"levels must be at least two increasing values in (0, 1); got {lv!r}.")
        vals = check_array(self.values, "values", ndim=2)
        if vals.shape[1] != len(lv):
            raise ValueError(
                f"values must have one column per level ({len(lv)}); got shape {vals.shape}."
            )
        _set(self, "levels", lv)
        _set(self, "values", np.sort(vals, axis=1))

    def __len__(self) -> int:
        return self.values.shape[0]

    def _weights(self) -> np.ndarray:
        """Midpoint-rule weights of the levels on [0, 1]."""
        edges = np.concatenate([[0.0], (self.levels[1:] + self.levels[:-1]) / 2, [1.0]])
        return np.diff(edges)

    def mean(self) -> np.ndarray:
        return self.values @ self._weights()

    def var(self) -> np.ndarray:
        w = self._weights()
        m = self.values @ w
        return np.maximum((self.values**2) @ w - m**2, 1e-300)

    def cdf(self, y: Any) -> np.ndarray:
        y = _as_rows(y, len(self))
        v, lv = self.values, self.levels
        out = np.array([np.interp(y[i], v[i], lv) for i in range(len(y))]) if len(y) else np.zeros(0)
        gap_lo = np.maximum(v[:, 1] - v[:, 0], 1e-12)
        gap_hi = np.maximum(v[:, -1] - v[:, -2], 1e-12)
        below = lv[0] + (y - v[:, 0]) * (lv[1] - lv[0]) / gap_lo
        above = lv[-1] + (y - v[:, -1]) * (lv[-1] - lv[-2]) / gap_hi
        out = np.where(y < v[:, 0], below, np.where(y > v[:, -1], above, out))
        return np.clip(out, 0.0, 1.0)

    def quantile(self, levels: Any) -> np.ndarray:
        lv = check_levels(levels)
        v, own = self.values, self.levels
        out = np.empty((len(self), len(lv)))
        for i in range(len(self)):
            out[i] = np.interp(lv, own, v[i])
        # linear continuation beyond the outermost levels, as in ``cdf``
        lo, hi = lv < own[0], lv > own[-1]
        if lo.any():
            slope = (v[:, 1] - v[:, 0]) / (own[1] - own[0])
            out[:, lo] = v[:, :1] + slope[:, None] * (lv[lo] - own[0])[None, :]
        if hi.any():
            slope = (v[:, -1] - v[:, -2]) / (own[-1] - own[-2])
            out[:, hi] = v[:, -1:] + slope[:, None] * (lv[hi] - own[-1])[None, :]
        return out


@dataclass(frozen=True, eq=False)
class Samples(Predictive):
    """Predictive draws, (n, n_samples): empirical CDF and quantiles. No density."""

    values: np.ndarray
    has_density = False

    def __post_init__(self) -> None:
        vals = check_array(self.values, "values", ndim=2)
        if vals.shape[1] < 2:
            raise ValueError(f"values must hold at least 2 samples per row; got shape {vals.shape}.")
        _set(self, "values", vals)

    def __len__(self) -> int:
        return self.values.shape[0]

    def mean(self) -> np.ndarray:
        return self.values.mean(axis=1)

    def var(self) -> np.ndarray:
        return self.values.var(axis=1, ddof=1)

    def cdf(self, y: Any) -> np.ndarray:
        y = _as_rows(y, len(self))
        return (self.values <= y[:, None]).mean(axis=1)

    def quantile(self, levels: Any) -> np.ndarray:
        lv = check_levels(levels)
        return np.quantile(self.values, lv, axis=1).T

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        idx = rng.integers(0, self.values.shape[1], size=(len(self), n_samples))
        return np.take_along_axis(self.values, idx, axis=1)


@dataclass(frozen=True, eq=False)
class ClassProbs:
    """Class probabilities, (n, n_classes), rows summing to one."""

    probs: np.ndarray
    classes: tuple = ()

    def __post_init__(self) -> None:
        p = check_array(self.probs, "probs", ndim=2)
        if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError("probs must be >= 0 with rows summing to 1.")
        _set(self, "probs", p)
        if not self.classes:
            _set(self, "classes", tuple(range(p.shape[1])))

    def __len__(self) -> int:
        return self.probs.shape[0]

    def predict(self) -> np.ndarray:
        """The most probable class per row."""
        return np.asarray(self.classes)[self.probs.argmax(axis=1)]


# --------------------------------------------------------------------------------------------
# records and protocols
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One result row: a metric of one method on one task under one perturbation, with its CI."""

    benchmark: str
    task: str
    method: str
    perturbation: str
    severity: float
    seed: int
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int


@runtime_checkable
class Task(Protocol):
    """A reference problem: makes data with its ground truth, deterministically for a seed."""

    name: str

    def make(self, seed: int) -> Dataset: ...


@runtime_checkable
class SimulatorTask(Task, Protocol):
    """A task with a known data-generating process: it can draw targets and give the true
    predictive distribution at any inputs (so shifted inputs keep their ground truth)."""

    def simulate(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def truth(self, X: np.ndarray) -> Predictive: ...


@runtime_checkable
class Method(Protocol):
    """The thing under test. Constructor = configuration; ``fit`` learns state ending in ``_``."""

    def fit(self, X: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Method: ...

    def predict(self, X: np.ndarray) -> Any: ...


@dataclass(frozen=True)
class Benchmark:
    """A named question: which tasks, methods, perturbations and metrics, under which protocol.

    ``presets`` maps a preset name ("quick", "full") to a suite entry (the same mapping a suite
    YAML file holds under ``benchmarks:``).
    """

    name: str
    question: str
    protocol: str
    presets: Mapping[str, Mapping[str, Any]]
    description: str = ""
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Metadata (``higher_is_better``, ``ideal``, ``description``) of metrics the protocol reports that
    are not in the metric registry (the report reads it). ``"key": True`` marks the benchmark's
    leaderboard columns (without any, the report's default key metrics)."""
