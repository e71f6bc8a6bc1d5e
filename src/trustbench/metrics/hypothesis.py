"""Paired tests and multiple-comparison correction for comparing methods on the same samples.

References
----------
Wilcoxon F (1945). Individual comparisons by ranking methods. Biometrics Bull. 1, 80-83.
Holm S (1979). A simple sequentially rejective multiple test procedure. Scand. J. Stat. 6, 65-70.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["paired_wilcoxon", "holm"]


def paired_wilcoxon(a: Any, b: Any, *, higher_is_better: bool = True) -> float:
    """One-sided p-value of the Wilcoxon signed-rank test that ``a`` is better than ``b``, paired.

    Pairs with a NaN are dropped; zero differences are dropped (``zero_method="wilcox"``). The
    p-value is exact for fewer than 50 pairs without ties, else the normal approximation with
    continuity correction (scipy's ``method="auto"``). No usable pair, or all differences zero,
    gives p = 1 (no evidence that ``a`` is better).
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D arrays of the same length; got shapes {a.shape} and {b.shape}.")
    d = a - b if higher_is_better else b - a
    d = d[np.isfinite(d) & (d != 0)]  # zeros dropped here, so scipy's 'auto' stays exact for small n
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="greater").pvalue)


def holm(pvalues: Any) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given): reject ``H_i`` at family-wise level
    ``alpha`` iff ``adjusted_i <= alpha``. ``adjusted_(k) = max_{j <= k} min(1, (m - j + 1) p_(j))``
    over the sorted p-values; NaN entries stay NaN and do not count in ``m``."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok) == 0:
        return out
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("pvalues must lie in [0, 1].")
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out
