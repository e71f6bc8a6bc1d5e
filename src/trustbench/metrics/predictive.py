"""Scoring of predictive distributions (``trustbench.types``): the metrics a predictive cell reports.

A :class:`MetricSpec` turns an :class:`EvalContext` (targets, the method's predictive, and where
known the true predictive and the reference method's :class:`Summary`) into a statistic and the
arrays it is computed from; :func:`score` bootstraps each into a record. The module-level specs
(``RMSE``, ``CRPS``, ...) are registered under the ``trustbench.metrics`` entry points.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.metrics.bootstrap import bootstrap_ci, mean_metric
from trustbench.metrics.calibration import coverage_error, ence, pit_calibration_error, sharpness
from trustbench.metrics.distances import gaussian_kl, wasserstein_quantiles
from trustbench.metrics.scores import (
    crps_gaussian,
    crps_mixture,
    crps_samples,
    crps_student_t,
    interval_coverage,
    interval_score,
    interval_width,
    mae,
    mean_score,
    pinball_loss,
    rmse,
    rows,
)
from trustbench.types import Gaussian, Mixture, Predictive, Quantiles, Samples, StudentT
from trustbench.validation import check_array, check_choice, check_int, check_level, short_repr

__all__ = [
    "LEVELS",
    "Summary",
    "crps",
    "crps_quadrature",
    "EvalContext",
    "MetricSpec",
    "score",
    "RMSE",
    "MAE",
    "NLL",
    "CRPS",
    "COVERAGE_90",
    "WIDTH_90",
    "INTERVAL_SCORE_90",
    "COVERAGE_ERROR",
    "PIT_CALIBRATION_ERROR",
    "ENCE",
    "SHARPNESS",
    "GUM_COVERAGE",
    "TRUTH_W1",
    "TRUTH_KL",
    "REFERENCE_W1",
    "REFERENCE_KL",
    "SPECS",
]

LEVELS = (np.arange(200) + 0.5) / 200
"""Midpoint quantile levels (i + ½)/200 at which predictives are summarised and compared (W1)."""

MAX_CLOSED_FORM_COMPONENTS = 64
"""Gaussian mixtures with more components than this are scored by quadrature (O(k) instead of O(k²))."""


# --------------------------------------------------------------------------------------------
# summary of a predictive (the reference payload)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Summary:
    """Mean, standard deviation and quantiles at :data:`LEVELS` of a predictive, row by row.

    What passes the reference method's predictive from the reference cell to the method cells.
    ``mean`` may be NaN and ``std`` +inf (a Student-t without those moments); ``q`` is finite.
    """

    mean: np.ndarray
    std: np.ndarray
    q: np.ndarray

    def __post_init__(self) -> None:
        mean = check_array(self.mean, "mean", ndim=1, finite=False)
        std = check_array(self.std, "std", ndim=1, finite=False)
        q = check_array(self.q, "q", ndim=2)
        if len(std) != len(mean) or q.shape != (len(mean), len(LEVELS)):
            raise ValueError(
                f"mean, std and q must have shapes (n,), (n,), (n, {len(LEVELS)}); "
                f"got {mean.shape}, {std.shape}, {q.shape}."
            )
        if np.isinf(mean).any() or not (std > 0).all():
            raise ValueError("mean must not be ±inf and std must be > 0 (or +inf) everywhere.")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "q", q)

    @classmethod
    def of(cls, pred: Predictive) -> Summary:
        """Summarise a predictive: ``pred.mean()``, ``pred.std()``, ``pred.quantile(LEVELS)``."""
        _check_predictive(pred, "pred")
        return cls(pred.mean(), pred.std(), pred.quantile(LEVELS))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"mean", "std", "q"}`` arrays, for ``np.savez`` (or ``.tolist()`` for JSON)."""
        return {"mean": self.mean, "std": self.std, "q": self.q}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Summary:
        """Inverse of :meth:`to_arrays`; accepts arrays or nested lists (from JSON or an npz file)."""
        missing = {"mean", "std", "q"} - set(arrays)
        if missing:
            raise ValueError(f"arrays must hold 'mean', 'std' and 'q'; missing {sorted(missing)}.")
        return cls(np.asarray(arrays["mean"], float), np.asarray(arrays["std"], float), np.asarray(arrays["q"], float))

    def __len__(self) -> int:
        return len(self.mean)


def _check_predictive(pred: Any, name: str) -> None:
    if not isinstance(pred, Predictive):
        raise TypeError(
            f"{name} must be a trustbench.types predictive (Gaussian, StudentT, Mixture, Quantiles, "
            f"Samples); got {type(pred).__name__}."
        )


def _targets(pred: Predictive, y: Any) -> np.ndarray:
    return rows("y", y, len(pred))


# --------------------------------------------------------------------------------------------
# CRPS of any predictive
# --------------------------------------------------------------------------------------------


@functools.singledispatch
def crps(pred: Any, y: Any) -> np.ndarray:
    """(n,) per-row CRPS of a predictive at the targets ``y``.

    Gaussian: closed form (Gneiting & Raftery 2007). StudentT: closed form (Jordan, Krüger & Lerch
    2019) when every df > 1, else quadrature. Gaussian mixture with k <= 64 components: closed form
    (Grimit et al. 2006); larger k, or Student-t components: quadrature (:func:`crps_quadrature`).
    Samples: exact CRPS of the empirical distribution (not the fair estimator). Quantiles:
    2 · mean pinball loss over its levels — CRPS = 2 ∫_0^1 ρ_u(y - Q(u)) du (Laio & Tamea 2007)
    by an equal-weight rule on the given levels, an approximation that is good only for many,
    evenly spread levels. A CRPS that is infinite (Student-t tails with df <= ½) raises ValueError.
    """
    _check_predictive(pred, "pred")
    raise TypeError(f"no CRPS is defined for {type(pred).__name__}.")


def _check_finite_crps(df: Any) -> None:
    df = np.asarray(df, dtype=float)
    if (df <= 0.5).any():
        raise ValueError(f"df must be > 0.5 for a finite CRPS (Student-t tails); got {df[df <= 0.5].flat[0]!r}.")


@crps.register
def _(pred: Gaussian, y: Any) -> np.ndarray:
    return crps_gaussian.pointwise(_targets(pred, y), pred.loc, pred.scale)


@crps.register
def _(pred: StudentT, y: Any) -> np.ndarray:
    y = _targets(pred, y)
    if (pred.df > 1).all():
        return crps_student_t.pointwise(y, pred.loc, pred.scale, pred.df)
    _check_finite_crps(pred.df)
    return crps_quadrature(pred, y)


@crps.register
def _(pred: Mixture, y: Any) -> np.ndarray:
    y = _targets(pred, y)
    if pred.df is None and pred.n_components <= MAX_CLOSED_FORM_COMPONENTS:
        return crps_mixture.pointwise(y, pred.loc, pred.scale, pred.weights)
    if pred.df is not None:
        _check_finite_crps(pred.df)
    return crps_quadrature(pred, y)


@crps.register
def _(pred: Samples, y: Any) -> np.ndarray:
    return crps_samples.pointwise(_targets(pred, y), pred.values)


@crps.register
def _(pred: Quantiles, y: Any) -> np.ndarray:
    return 2 * pinball_loss.pointwise(_targets(pred, y), pred.values, pred.levels)


def crps_quadrature(pred: Predictive, y: Any, *, n_grid: int = 512) -> np.ndarray:
    """(n,) per-row CRPS = ∫ (F(z) - 1{z >= y})² dz by quadrature, for any continuous predictive.

    Each half-line, below and above ``y``, is mapped by z = y + s·sinh(t) (s: half the
    interquartile range), which packs points near ``y`` and spreads them geometrically into the
    tails, out to the 10⁻⁹ and 1 - 10⁻⁹ quantiles (beyond which the integrand is neglected). The
    integrand is smooth in t on each half, so the trapezoid rule on ``n_grid`` points converges
    fast; with a density, the Euler-Maclaurin end correction at t = 0 (using f(y)) makes it
    O(h⁴). Heavy (power-law) tails stay resolved. Costs 2·``n_grid`` - 1 evaluations of
    ``pred.cdf``.
    """
    _check_predictive(pred, "pred")
    y = _targets(pred, y)
    n_grid = check_int(n_grid, "n_grid", minimum=3)
    far_lo, q1, q3, far_hi = pred.quantile(np.array([1e-9, 0.25, 0.75, 1 - 1e-9])).T
    s = np.maximum((q3 - q1) / 2, 1e-12 * np.maximum(1.0, np.abs(y)))
    f_y = np.exp(pred.logpdf(y)) if pred.has_density else np.zeros_like(y)
    cdf_y = pred.cdf(y)
    u = np.linspace(0.0, 1.0, n_grid)[1:]
    total = np.zeros_like(y)
    for end, side in ((np.minimum(far_lo, y), 0.0), (np.maximum(far_hi, y), 1.0)):
        t_end = np.arcsinh((end - y) / s)
        t = t_end[:, None] * u[None, :]
        z = y[:, None] + s[:, None] * np.sinh(t)
        F = np.stack([pred.cdf(z[:, j]) for j in range(z.shape[1])], axis=1)
        g = (F - side) ** 2 * np.cosh(t)  # integrand in t, over s
        g0 = (cdf_y - side) ** 2
        h = np.abs(t_end) / (n_grid - 1)
        trapezoid = h * (g0 / 2 + g[:, :-1].sum(axis=1) + g[:, -1] / 2)
        slope = 2 * np.abs(cdf_y - side) * f_y * s  # |d/dt of the integrand over s| at t = 0
        total += s * (trapezoid - h**2 / 12 * slope)
    return total


# --------------------------------------------------------------------------------------------
# evaluation context and metric specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EvalContext:
    """What the metrics of one evaluation set see; derived quantities are computed once, on demand.

    Parameters
    ----------
    y : (n,) observed targets.
    pred : the method's predictive for those rows.
    truth : the true predictive p(y | x) at the same inputs, or None (real data).
    reference : the reference method's :class:`Summary` on the same rows, or None.
    """

    y: np.ndarray
    pred: Predictive
    truth: Predictive | None = None
    reference: Summary | None = None

    def __post_init__(self) -> None:
        _check_predictive(self.pred, "pred")
        object.__setattr__(self, "y", _targets(self.pred, self.y))
        if self.truth is not None:
            _check_predictive(self.truth, "truth")
            if len(self.truth) != len(self.y):
                raise ValueError(f"truth must have one row per target ({len(self.y)}); got {len(self.truth)}.")
        if self.reference is not None:
            if not isinstance(self.reference, Summary):
                raise TypeError(f"reference must be a Summary; got {type(self.reference).__name__}.")
            if len(self.reference) != len(self.y):
                raise ValueError(f"reference must have one row per target ({len(self.y)}); got {len(self.reference)}.")

    @functools.cached_property
    def mean(self) -> np.ndarray:
        return self.pred.mean()

    @functools.cached_property
    def std(self) -> np.ndarray:
        return self.pred.std()

    @functools.cached_property
    def pit(self) -> np.ndarray:
        """PIT values F(y), clipped to [0, 1]."""
        return np.clip(self.pred.cdf(self.y), 0.0, 1.0)

    @functools.cached_property
    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        """The central 90% predictive interval (lower, upper)."""
        return self.pred.interval(0.9)

    @functools.cached_property
    def q(self) -> np.ndarray:
        """Predictive quantiles at :data:`LEVELS`, (n, 200)."""
        return self.pred.quantile(LEVELS)

    @functools.cached_property
    def truth_summary(self) -> Summary:
        return Summary.of(self.truth)


Prepared = tuple[Callable[..., float], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class MetricSpec:
    """A metric of a predictive cell: its metadata and how to get its statistic from a context.

    Parameters
    ----------
    name : the record's ``metric`` value and the registry name.
    needs : "y" (targets only), "truth" (the true predictive) or "reference" (the reference Summary).
    higher_is_better : True, False, or None when closeness to ``ideal`` is what counts (coverage).
    ideal : the best attainable value (0 for an error, the nominal level for a coverage), or None.
    description : one line for reports.
    prepare : ``ctx -> (statistic, arrays) | None``; ``statistic(*arrays)`` is the value, and the
        arrays are resampled by rows for its bootstrap CI. None: does not apply to this predictive.
    """

    name: str
    needs: str
    higher_is_better: bool | None
    ideal: float | None
    description: str
    prepare: Callable[[EvalContext], Prepared | None] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice(self.needs, "needs", ("y", "truth", "reference"))

    def compute(self, ctx: EvalContext) -> Prepared | None:
        """``(statistic, arrays)``, or None when the metric does not apply to ``ctx``."""
        if (self.needs == "truth" and ctx.truth is None) or (self.needs == "reference" and ctx.reference is None):
            return None
        return self.prepare(ctx)


def _finite(statistic: Callable[..., float], *arrays: np.ndarray) -> Prepared | None:
    """``(statistic, arrays)`` when every array is finite, else None (e.g. no finite mean or std)."""
    return (statistic, arrays) if all(np.isfinite(a).all() for a in arrays) else None


@mean_metric
def _interval_score_90(y: Any, lower: Any, upper: Any) -> np.ndarray:
    return interval_score.pointwise(y, lower, upper, 0.1)


def _nll(ctx: EvalContext) -> Prepared | None:
    return _finite(mean_score, -ctx.pred.logpdf(ctx.y)) if ctx.pred.has_density else None


def _crps(ctx: EvalContext) -> Prepared | None:
    df = getattr(ctx.pred, "df", None)
    if df is not None and (np.asarray(df) <= 0.5).any():
        return None  # infinite CRPS
    return _finite(mean_score, crps(ctx.pred, ctx.y))


def _gum(ctx: EvalContext) -> Prepared | None:
    return _finite(interval_coverage, ctx.y, ctx.mean - 2 * ctx.std, ctx.mean + 2 * ctx.std)


def _kl(other: Summary, ctx: EvalContext) -> Prepared | None:
    return _finite(gaussian_kl, other.mean, other.std, ctx.mean, ctx.std)


RMSE = MetricSpec("rmse", "y", False, 0.0, "Root mean squared error of the predictive mean.",
                  lambda c: _finite(rmse, c.y, c.mean))
MAE = MetricSpec("mae", "y", False, 0.0, "Mean absolute error of the predictive mean.",
                 lambda c: _finite(mae, c.y, c.mean))
NLL = MetricSpec("nll", "y", False, None, "Mean negative log predictive density (nats); kinds with a density.", _nll)
CRPS = MetricSpec("crps", "y", False, 0.0, "Mean continuous ranked probability score.", _crps)
COVERAGE_90 = MetricSpec("coverage_90", "y", None, 0.9, "Share of targets inside the central 90% interval.",
                         lambda c: (interval_coverage, (c.y, *c.interval)))
WIDTH_90 = MetricSpec("width_90", "y", None, None,
                      "Mean width of the central 90% interval (narrower is better only at the right coverage).",
                      lambda c: (interval_width, c.interval))
INTERVAL_SCORE_90 = MetricSpec("interval_score_90", "y", False, 0.0,
                               "Mean interval score of the central 90% interval (Gneiting & Raftery 2007).",
                               lambda c: (_interval_score_90, (c.y, *c.interval)))
COVERAGE_ERROR = MetricSpec("coverage_error", "y", False, 0.0,
                            "Mean |observed - nominal| coverage of the central 10%, ..., 90% intervals.",
                            lambda c: (coverage_error, (c.pit,)))
PIT_CALIBRATION_ERROR = MetricSpec("pit_calibration_error", "y", False, 0.0,
                                   "Miscalibration area ∫|Ĝ(p) - p| dp of the PIT values.",
                                   lambda c: (pit_calibration_error, (c.pit,)))
ENCE = MetricSpec("ence", "y", False, 0.0, "Expected normalized calibration error over 10 std bins (Levi et al.).",
                  lambda c: _finite(ence, c.y, c.mean, c.std) if len(c.y) >= 10 else None)
SHARPNESS = MetricSpec("sharpness", "y", None, None,
                       "sqrt(mean predictive variance); sharper is better only subject to calibration (Gneiting 2007).",
                       lambda c: _finite(sharpness, c.std))
GUM_COVERAGE = MetricSpec("gum_coverage", "y", None, 0.9545,
                          "Share of |y - mean| <= 2 std (GUM expanded uncertainty, k = 2).", _gum)
TRUTH_W1 = MetricSpec("truth_w1", "truth", False, 0.0, "Mean W1 distance from the true predictive.",
                      lambda c: (wasserstein_quantiles, (c.q, c.truth_summary.q)))
TRUTH_KL = MetricSpec("truth_kl", "truth", False, 0.0, "Mean KL(truth || pred) between moment-matched Gaussians.",
                      lambda c: _kl(c.truth_summary, c))
REFERENCE_W1 = MetricSpec("reference_w1", "reference", False, 0.0,
                          "Mean W1 distance from the reference method's predictive.",
                          lambda c: (wasserstein_quantiles, (c.q, c.reference.q)))
REFERENCE_KL = MetricSpec("reference_kl", "reference", False, 0.0,
                          "Mean KL(reference || pred) between moment-matched Gaussians.",
                          lambda c: _kl(c.reference, c))

SPECS = (RMSE, MAE, NLL, CRPS, COVERAGE_90, WIDTH_90, INTERVAL_SCORE_90, COVERAGE_ERROR, PIT_CALIBRATION_ERROR,
         ENCE, SHARPNESS, GUM_COVERAGE, TRUTH_W1, TRUTH_KL, REFERENCE_W1, REFERENCE_KL)
"""All predictive metric specs, in report order."""


def _resolve(spec: Any) -> MetricSpec:
    if isinstance(spec, str):
        from trustbench.registry import METRICS

        spec = METRICS.load(spec)
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"specs must hold MetricSpec objects or metric names; got {short_repr(spec)}.")
    return spec


def score(
    ctx: EvalContext,
    specs: Iterable[MetricSpec | str],
    *,
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> list[dict[str, Any]]:
    """Score one evaluation set: ``{"metric", "value", "ci_low", "ci_high", "n"}`` per applicable spec.

    Specs that do not apply (no density, no truth, no reference, no finite moments) are skipped.
    Every metric is bootstrapped with the same ``seed``, so all use the same resampled rows.
    """
    if not isinstance(ctx, EvalContext):
        raise TypeError(f"ctx must be an EvalContext; got {type(ctx).__name__}.")
    check_int(n_boot, "n_boot", minimum=0)
    check_int(seed, "seed", minimum=0)
    check_level(level, "level")
    resolved = [_resolve(s) for s in specs]
    records = []
    for spec in resolved:
        prepared = spec.compute(ctx)
        if prepared is None:
            continue
        statistic, arrays = prepared
        ci = bootstrap_ci(statistic, *arrays, n_boot=n_boot, level=level, seed=seed)
        records.append(
            {"metric": spec.name, "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "n": ci.n}
        )
    return records
