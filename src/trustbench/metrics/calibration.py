"""Calibration and sharpness of predictive distributions, from PIT values or (mean, std) pairs.

The probability integral transform (PIT) of a test point is F(y), its predictive CDF at the
observed target; a calibrated forecaster has PIT ~ U(0, 1) (Dawid 1984; Gneiting, Balabdaoui &
Raftery 2007). ``y`` lies in the central interval of level l exactly when |PIT - ½| <= l/2.

Relation to uncertainty-toolbox (Chung et al. 2021): its ``miscalibration_area`` with
``prop_type="quantile"`` traces 1 - Ĝ(1 - p) against p on a grid, so it converges to
:func:`pit_calibration_error` as its number of bins grows; with the default
``prop_type="interval"`` its observed proportions are exactly :func:`coverage_curve`, and its area
is the limit of :func:`coverage_error` over a dense grid of levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.metrics.bootstrap import mean_metric
from trustbench.metrics.scores import rows, rows_positive
from trustbench.validation import check_int, check_levels

__all__ = ["pit_calibration_error", "coverage_error", "coverage_curve", "pit_histogram", "ence", "sharpness"]

_PER_BUCKET = 4  # PIT values per bucket, on average, in pit_calibration_error

DEFAULT_LEVELS = np.arange(1, 10) / 10
"""Nominal central-interval levels 0.1, 0.2, ..., 0.9."""


def _pit(pit: Any) -> np.ndarray:
    p = rows("pit", pit)
    bad = (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"pit must lie in [0, 1]; got {p[i]!r} at index {i}.")
    return p


def pit_calibration_error(pit: Any) -> float:
    """Miscalibration area ∫_0^1 |Ĝ(p) - p| dp, with Ĝ the empirical CDF of the PIT values.

    Computed exactly, in O(n) instead of sorting. Ĝ is piecewise constant, and on a piece of
    level c, ∫_a^b |c - p| dp = G(b) - G(a) with G(x) = ½(x - c)|x - c|. [0, 1] is cut into n/4
    equal buckets; where Ĝ - p keeps its sign on a whole bucket (known from the counts
    alone), the bucket's integral needs only the count and the sum of its PIT values; the few
    buckets near a crossing of the diagonal (about √n of them) are integrated piece by piece.
    In [0, ½]; for a calibrated forecaster it shrinks like n^(-1/2). See Kuleshov, Fenner &
    Ermon (2018) and Chung et al. (2021).
    """
    p = _pit(pit)
    n = len(p)
    nb = -(-n // _PER_BUCKET)  # buckets [j/nb, (j+1)/nb]
    k = np.minimum((p * nb).astype(np.intp), nb - 1)
    count = np.bincount(k, minlength=nb)
    before = np.cumsum(count) - count  # PIT values in earlier buckets
    j = np.arange(nb)
    # n·nb·(∫_bucket Ĝ - ∫_bucket p), from n∫Ĝ = before/nb + Σ_v (b - v) and ∫p = (b² - a²)/2
    signed = (before + count * (j + 1) - n * (j + 0.5) / nb) - nb * np.bincount(k, weights=p, minlength=nb)
    above = before * nb >= n * (j + 1)  # Ĝ >= before/n >= b >= p on the whole bucket
    below = (before + count) * nb <= n * j  # Ĝ <= (before + count)/n <= a <= p
    area = (signed[above].sum() - signed[below].sum()) / (n * nb)
    mixed = np.flatnonzero(~(above | below))
    if mixed.size:
        is_mixed = np.zeros(nb, dtype=bool)
        is_mixed[mixed] = True
        values = np.sort(p[is_mixed[k]])
        rank = np.searchsorted(mixed, np.minimum((values * nb).astype(np.intp), nb - 1))
        size = count[mixed] + 1  # pieces per mixed bucket: [a, v_1], [v_1, v_2], ..., [v_c, b]
        first = np.cumsum(size) - size
        left, right = np.empty(size.sum()), np.empty(size.sum())
        left[first], right[first + size - 1] = mixed / nb, (mixed + 1) / nb
        slot = np.arange(len(values)) + rank
        right[slot], left[slot + 1] = values, values
        owner = np.repeat(np.arange(len(mixed)), size)
        level = (before[mixed][owner] + np.arange(size.sum()) - first[owner]) / n

        def g(x: np.ndarray) -> np.ndarray:
            d = x - level
            return 0.5 * d * np.abs(d)

        area += (g(right) - g(left)).sum()
    return float(area)


def coverage_curve(pit: Any, levels: Any = DEFAULT_LEVELS) -> np.ndarray:
    """Observed coverage of the central intervals of each nominal level: share of |PIT - ½| <= l/2."""
    dist = np.sort(np.abs(_pit(pit) - 0.5))
    lv = check_levels(levels, "levels")
    return np.searchsorted(dist, lv / 2, side="right") / len(dist)


def coverage_error(pit: Any, levels: Any = DEFAULT_LEVELS) -> float:
    """Mean over nominal levels of |observed central-interval coverage - nominal| (0 is ideal)."""
    lv = check_levels(levels, "levels")
    return float(np.mean(np.abs(coverage_curve(pit, lv) - lv)))


def pit_histogram(pit: Any, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the PIT values in ``bins`` equal bins over [0, 1], and the bin edges (Dawid 1984)."""
    p = _pit(pit)
    bins = check_int(bins, "bins", minimum=1)
    return np.histogram(p, bins=bins, range=(0.0, 1.0))


def ence(y: Any, mean: Any, std: Any, n_bins: int = 10) -> float:
    """Expected normalized calibration error (Levi, Gispan, Giladi & Fetaya 2022, Sensors 22(15)).

    Rows are sorted by predicted ``std`` and split into ``n_bins`` bins of (nearly) equal count;
    in each bin RMV = sqrt(mean std²) and RMSE = sqrt(mean (y - mean)²), and
    ENCE = (1/B) Σ_b |RMV_b - RMSE_b| / RMV_b. 0 is ideal.
    """
    y = rows("y", y)
    mean = rows("mean", mean, len(y))
    std = rows_positive("std", std, len(y))
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    if n_bins > len(y):
        raise ValueError(f"n_bins must be <= the number of rows ({len(y)}); got {n_bins}.")
    order = np.argsort(std, kind="stable")
    sizes = np.full(n_bins, len(y) // n_bins) + (np.arange(n_bins) < len(y) % n_bins)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rmv = np.sqrt(np.add.reduceat(std[order] ** 2, starts) / sizes)
    rmse = np.sqrt(np.add.reduceat((y - mean)[order] ** 2, starts) / sizes)
    return float(np.mean(np.abs(rmv - rmse) / rmv))


@mean_metric(transform=np.sqrt)
def sharpness(std: Any) -> np.ndarray:
    """Sharpness sqrt(mean(std²)), as in uncertainty-toolbox (Tran et al. 2020); lower is sharper."""
    return rows_positive("std", std) ** 2
