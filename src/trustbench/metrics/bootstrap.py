"""Percentile-bootstrap confidence intervals for any metric, with a vectorised path for mean-type metrics.

Rows are resampled with replacement, jointly across all arrays (Efron & Tibshirani 1993, ch. 13).
A *mean-type* metric is ``transform(mean(pointwise(*arrays)))``; :func:`mean_metric` builds one
from its per-row scores and sets ``metric.pointwise`` and ``metric.transform``, so a bootstrap
replicate is a gather and a mean over a (chunk, n) index matrix instead of a Python call per
replicate. Both paths draw the same index matrix from the same seed, so they give the same numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_int, check_level, check_same_length, short_repr

__all__ = ["CI", "mean_metric", "bind", "bootstrap_ci", "paired_bootstrap_ci", "finite_mean_ci"]

_CHUNK_ELEMENTS = 1 << 22  # index-matrix elements per chunk (32 MiB of int64)


def mean_metric(
    pointwise: Callable[..., np.ndarray] | None = None,
    *,
    transform: Callable[[Any], Any] | None = None,
) -> Any:
    """Decorator: turn a per-row score function into a metric that returns the mean over rows.

    ``@mean_metric`` or ``@mean_metric(transform=np.sqrt)`` on ``f(*arrays, **kw) -> (n,) scores``
    gives ``metric(*arrays, **kw) -> float = transform(mean(f(*arrays, **kw)))`` with the
    attributes ``metric.pointwise = f`` and ``metric.transform`` (None or the function), which
    :func:`bootstrap_ci` uses for its vectorised path.
    """
    if pointwise is None:
        return functools.partial(mean_metric, transform=transform)

    @functools.wraps(pointwise)
    def metric(*arrays: Any, **kwargs: Any) -> float:
        value = np.mean(pointwise(*arrays, **kwargs))
        return float(value if transform is None else transform(value))

    metric.pointwise = pointwise
    metric.transform = transform
    return metric


def bind(metric: Callable[..., float], **params: Any) -> Callable[..., float]:
    """``metric`` with keyword parameters fixed, keeping its fast bootstrap forms (``pointwise`` and
    ``transform`` of :func:`mean_metric`, ``weighted`` of the classification metrics)."""
    if not params:
        return metric

    def bound(*arrays: Any) -> float:
        return metric(*arrays, **params)

    if hasattr(metric, "pointwise"):
        bound.pointwise = functools.partial(metric.pointwise, **params)
        bound.transform = metric.transform
    if hasattr(metric, "weighted"):
        bound.weighted = functools.partial(metric.weighted, **params)
    return bound


@dataclass(frozen=True)
class CI:
    """A point estimate with its percentile-bootstrap confidence interval.

    Attributes
    ----------
    estimate : the metric on all rows.
    low, high : the (1 - level)/2 and (1 + level)/2 percentiles of the bootstrap replicates;
        NaN when no interval can be given (``n_boot=0``, fewer than two rows, or a replicate or
        the estimate is NaN).
    n : the number of rows.
    level : the nominal coverage of the interval.
    """

    estimate: float
    low: float
    high: float
    n: int
    level: float


def _check_common(metric: Any, n_boot: Any, level: Any, seed: Any) -> np.random.Generator:
    if not callable(metric):
        raise TypeError(f"metric must be callable; got {short_repr(metric)}.")
    check_int(n_boot, "n_boot", minimum=0)
    check_level(level, "level")
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int(seed, "seed", minimum=0))


def _rows(arrays: Sequence[Any], name: str) -> tuple[list[np.ndarray], int]:
    if not isinstance(arrays, (tuple, list)) or not arrays:
        raise TypeError(
            f"{name} must be a non-empty tuple of arrays with one row per test point; got {short_repr(arrays)}."
        )
    arrs = [np.asarray(a) for a in arrays]
    if any(a.ndim == 0 for a in arrs):
        raise ValueError(f"{name} must be arrays with a row axis; got a scalar.")
    n = check_same_length(**{f"{name}[{i}]": a for i, a in enumerate(arrs)})
    if n == 0:
        raise ValueError(f"{name} must have at least one row; got 0.")
    return arrs, n


def _index_chunks(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[np.ndarray]:
    """The (n_boot, n) resampling index matrix, drawn in row chunks (same stream as one draw)."""
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, step):
        yield rng.integers(0, n, size=(min(step, n_boot - start), n))


def _replicate_fn(metric: Any, arrays: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``idx (c, n) -> (c,)`` metric values on the resampled rows; vectorised for mean-type metrics."""
    pointwise = getattr(metric, "pointwise", None)
    if pointwise is None:
        return lambda idx: np.array([metric(*(a[i] for a in arrays)) for i in idx], dtype=float)
    scores = np.asarray(pointwise(*arrays), dtype=float)
    transform = metric.transform or (lambda v: v)
    return lambda idx: np.asarray(transform(scores[idx].mean(axis=1)), dtype=float)


def _interval(
    estimate: float, replicate: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, level: float, rng
) -> CI:
    if n < 2 or n_boot == 0 or np.isnan(estimate):
        return CI(estimate, np.nan, np.nan, n, level)
    reps = np.concatenate([replicate(idx) for idx in _index_chunks(rng, n, n_boot)])
    if np.isnan(reps).any():
        return CI(estimate, np.nan, np.nan, n, level)
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return CI(estimate, float(low), float(high), n, level)


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> CI:
    """Percentile-bootstrap confidence interval of ``metric(*arrays)``.

    Parameters
    ----------
    metric : callable returning a float. A metric made by :func:`mean_metric` (it has
        ``.pointwise``) is bootstrapped in vectorised form; the numbers are the same as the
        generic loop, which calls ``metric`` once per replicate.
    *arrays : arrays sharing their first (row) axis; rows are resampled jointly.
    n_boot : number of bootstrap replicates (>= 0).
    level : nominal coverage of the interval, in (0, 1).
    seed : integer seed or a ``numpy.random.Generator``.

    Returns
    -------
    CI
        ``low``/``high`` are NaN when the bootstrap cannot say anything: ``n_boot=0`` (no interval
        was asked for), a single row (every replicate equals the estimate; a zero-width interval
        would claim a certainty one row cannot give), or a NaN estimate or replicate.

    References
    ----------
    Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall, ch. 13.
    """
    rng = _check_common(metric, n_boot, level, seed)
    arrs, n = _rows(arrays, "arrays")
    estimate = float(metric(*arrs))
    return _interval(estimate, _replicate_fn(metric, arrs), n, n_boot, level, rng)


def paired_bootstrap_ci(
    metric: Callable[..., float],
    arrays_a: Sequence[Any],
    arrays_b: Sequence[Any],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> CI:
    """Percentile-bootstrap CI of ``metric(*arrays_a) - metric(*arrays_b)`` on the same resampled rows.

    For comparing two methods on the same test points: both are scored on each replicate's rows,
    so the shared difficulty of the points cancels and the interval is narrower than two
    independent ones. Parameters and NaN rules as in :func:`bootstrap_ci`.
    """
    rng = _check_common(metric, n_boot, level, seed)
    arrs_a, n = _rows(arrays_a, "arrays_a")
    arrs_b, n_b = _rows(arrays_b, "arrays_b")
    if n_b != n:
        raise ValueError(f"arrays_a and arrays_b must have the same number of rows; got {n} and {n_b}.")
    estimate = float(metric(*arrs_a)) - float(metric(*arrs_b))
    rep_a, rep_b = _replicate_fn(metric, arrs_a), _replicate_fn(metric, arrs_b)
    return _interval(estimate, lambda idx: rep_a(idx) - rep_b(idx), n, n_boot, level, rng)


def finite_mean_ci(values: Any, *, n_boot: int = 1000, seed: int | np.random.Generator = 0) -> CI:
    """Mean of the finite entries of ``values`` with its percentile-bootstrap CI (over those
    entries); estimate and bounds are NaN and ``n`` is 0 when no entry is finite. For per-case
    scores (per sample, per observation, per run) where a case may have no score."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return CI(np.nan, np.nan, np.nan, 0, 0.95)
    return bootstrap_ci(mean_metric(lambda x: x), v, n_boot=n_boot, seed=seed)
