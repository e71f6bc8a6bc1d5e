"""Recalibration of predictive distributions from their PIT values on held-out data.

Kuleshov, Fenner & Ermon (2018), Accurate uncertainties for deep learning using calibrated
regression, ICML: fit an isotonic map R from predicted CDF values p to the observed frequency
P(PIT ≤ p) on a calibration split; the recalibrated forecast's CDF is R∘F, so a test point's
recalibrated PIT is R(F(y)). Evaluate it on a split not used for the fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.validation import check_array, check_int

__all__ = ["IsotonicPIT"]


class IsotonicPIT:
    """Isotonic recalibration map of PIT values (Kuleshov et al. 2018).

    ``fit(pit)`` regresses the empirical CDF of the calibration PIT values on the values themselves
    (scikit-learn's ``IsotonicRegression``, increasing, clipped to [0, 1]), at most ``max_points``
    quantiles of them (the map is the empirical CDF; the quantiles keep it small for millions of
    values); ``transform(pit)`` applies it.
    """

    def __init__(self, max_points: int = 2000) -> None:
        self.max_points = max_points

    def fit(self, pit: Any) -> IsotonicPIT:
        from sklearn.isotonic import IsotonicRegression

        check_int(self.max_points, "max_points", minimum=2)
        p = np.sort(check_array(pit, "pit").ravel())
        if p.min() < 0 or p.max() > 1:
            raise ValueError(f"pit must lie in [0, 1]; got values in [{p.min()}, {p.max()}].")
        q = np.unique(np.quantile(p, np.linspace(0.0, 1.0, self.max_points)))
        ecdf = np.searchsorted(p, q, side="right") / len(p)
        self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(
            np.r_[0.0, q, 1.0], np.r_[0.0, ecdf, 1.0])
        return self

    def transform(self, pit: Any) -> np.ndarray:
        p = np.asarray(pit, dtype=float)
        return self.model_.predict(p.ravel()).reshape(p.shape)
