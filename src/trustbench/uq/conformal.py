"""Split conformal prediction (Vovk et al. 2005; Lei et al. 2018) and conformalized quantile
regression (Romano et al. 2019).

Both wrap a registered base method, fitted on a seeded *proper training* part of the data, and
widen its intervals by a finite-sample quantile of conformity scores on the held-out
*calibration* part. For exchangeable data every central interval of level c then covers with
probability at least c, and at most c + 1/(n_cal + 1) (continuous scores, no ties).

Both are the same algorithm with different base values B_l(x) at each quantile level l: split
conformal uses the base mean at every level, CQR the base quantiles. For each symmetric pair
(l, 1 − l) of central level c = 1 − 2l, the score is E = max(B_l(x) − y, y − B_{1−l}(x)) —
|y − mean| for split conformal — and the pair moves out by the ⌈(n_cal + 1)c⌉-th smallest score.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Quantiles
from trustbench.uq._common import begin_fit, check_level_grid, check_number, check_predict_X, split

__all__ = ["SplitConformal", "CQR", "conformal_quantile"]

log = logging.getLogger("trustbench")


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ⌈(n + 1)·level⌉-th smallest of n scores: the finite-sample conformal quantile.

    Where that rank exceeds n (too few calibration rows for ``level``) the guarantee cannot be
    met with a finite interval; the largest score is returned and the caller warns.
    """
    n = len(scores)
    return float(np.sort(scores)[min(max(_rank(n, level), 1), n) - 1])


def _rank(n: int, level: float) -> int:
    """⌈(n + 1)·level⌉, robust to the rounding of level (0.9 · 20 is not exactly 18 in floating point)."""
    return math.ceil((n + 1) * level - 1e-9)


@dataclass(kw_only=True, eq=False)
class _Conformal:
    """The shared split-conformal procedure; subclasses set the default ``base`` and the base values to widen.

    The parameters are documented in :class:`SplitConformal`.
    """

    base: str
    base_params: Mapping[str, Any] | None = None
    cal_fraction: float = 0.25
    levels: Any = None

    def _base(self) -> Any:
        from trustbench.registry import METHODS

        METHODS.check(self.base, "base")
        if self.base_params is not None and not isinstance(self.base_params, Mapping):
            raise TypeError(f"base_params must be a mapping of keyword arguments; got {self.base_params!r}.")
        return METHODS.create(self.base, **dict(self.base_params or {}))

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter (here or in the base method), before any work."""
        check_number(self.cal_fraction, "cal_fraction", 0.0, 1.0)
        check_level_grid(self.levels, symmetric=True)
        base = self._base()
        if hasattr(base, "validate"):
            base.validate()

    def _base_values(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> _Conformal:
        X, y, seed = begin_fit(self, X, y, seed, min_samples=3)
        proper, cal = split(len(y), self.cal_fraction, seed, "cal_fraction")
        self.levels_ = check_level_grid(self.levels, symmetric=True)
        self.base_ = self._base().fit(X[proper], y[proper], seed=seed)
        B, yc = self._base_values(X[cal]), y[cal]
        self.n_cal_ = len(cal)
        self.shift_ = np.zeros(len(self.levels_))
        short = []
        for lo in np.flatnonzero(self.levels_ < 0.5):
            hi = int(np.argmin(np.abs(self.levels_ - (1.0 - self.levels_[lo]))))
            central = float(self.levels_[hi] - self.levels_[lo])
            if _rank(len(cal), central) > len(cal):
                short.append(round(central, 6))
            q = conformal_quantile(np.maximum(B[:, lo] - yc, yc - B[:, hi]), central)
            self.shift_[lo], self.shift_[hi] = -q, q
        if short:
            log.warning(
                "%s: %d calibration rows are too few for the central levels %s; their intervals use "
                "the largest score and may under-cover.", type(self).__name__, len(cal), short,
            )
        return self

    def predict(self, X: Any) -> Quantiles:
        X = check_predict_X(self, X)
        return Quantiles(self.levels_, self._base_values(X) + self.shift_)


@dataclass(kw_only=True, eq=False)
class SplitConformal(_Conformal):
    """Split conformal regression around a point method's mean (Vovk et al. 2005; Lei et al. 2018).

    The base method (any registered method; its predictive mean is the point prediction) is fitted
    on ``1 - cal_fraction`` of the training rows; the absolute residuals on the rest calibrate a
    symmetric band m(x) ± q̂_c for each central level c of ``levels``. The band has the same width
    everywhere: marginal, not conditional, coverage.

    Vovk, V., Gammerman, A. & Shafer, G. (2005). Algorithmic Learning in a Random World. Springer.
    Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. & Wasserman, L. (2018). Distribution-free
    predictive inference for regression. JASA 113(523).

    Parameters
    ----------
    base : registry name (or ``module:attr``) of the base method; default "mlp".
    base_params : keyword parameters of the base method (None = none).
    cal_fraction : share of the training rows held out for calibration, in (0, 1); the split is seeded.
    levels : symmetric quantile levels of the returned :class:`~trustbench.types.Quantiles`;
        None = :data:`trustbench.uq._common.LEVELS`.
    """

    base: str = "mlp"

    def _base_values(self, X: np.ndarray) -> np.ndarray:
        mean = self.base_.predict(X).mean()
        return np.repeat(mean[:, None], len(self.levels_), axis=1)


@dataclass(kw_only=True, eq=False)
class CQR(_Conformal):
    """Conformalized quantile regression (Romano, Patterson & Candès 2019).

    The base quantile regressor (default "quantile_mlp"; any method whose predictive has
    ``quantile``) is fitted on the proper training part. For each symmetric pair of levels
    (l, 1 − l), the calibration scores E = max(q_l(x) − y, y − q_{1−l}(x)) give the correction
    Q = the ⌈(n_cal + 1)(1 − 2l)⌉-th smallest E, and the interval becomes [q_l − Q, q_{1−l} + Q]:
    adaptive widths with the finite-sample guarantee. The median (if among the levels) is kept.

    Romano, Y., Patterson, E. & Candès, E. (2019). Conformalized quantile regression. NeurIPS 32.

    Parameters
    ----------
    base : registry name (or ``module:attr``) of the base method; default "quantile_mlp".
    base_params, cal_fraction, levels : as in :class:`SplitConformal`.
    """

    base: str = "quantile_mlp"

    def _base_values(self, X: np.ndarray) -> np.ndarray:
        return self.base_.predict(X).quantile(self.levels_)
