"""Uncertainty tools for binary clinical prediction, over arrays of predicted probabilities.

Every function and class here takes ``p``, a 1-D array of predicted probabilities P(y = 1 | x),
and binary labels ``y`` in {0, 1}.

Recalibration (fitted on held-out rows, applied to new ones):

======================  ===================================================  ==========================
class                   map                                                  reference
======================  ===================================================  ==========================
``TemperatureScaling``  p' = σ(logit(p) / T), T by minimum NLL               Guo et al. 2017
``PlattScaling``        p' = σ(a·logit(p) + b), (a, b) by minimum NLL        Platt 1999
``IsotonicCalibration`` p' = non-decreasing step function of p (PAV)         Zadrozny & Elkan 2002
======================  ===================================================  ==========================

Conformal prediction sets (Vovk et al. 2005; Angelopoulos & Bates 2021), as boolean arrays of
shape (n, 2) whose column c says whether class c is in the set:

* :class:`SplitConformalClassifier` – marginal coverage P(y ∈ C(x)) ≥ 1 − α;
* :class:`MondrianConformalClassifier` – coverage ≥ 1 − α within each group (Vovk 2003, 2012).

:func:`selective_risk` is the error rate on the most confident fraction of rows
(Geifman & El-Yaniv 2017).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.uq._common import check_number
from trustbench.validation import check_array, check_choice, check_int, check_same_length, short_repr

__all__ = [
    "TemperatureScaling",
    "PlattScaling",
    "IsotonicCalibration",
    "RECALIBRATORS",
    "recalibrator",
    "SplitConformalClassifier",
    "MondrianConformalClassifier",
    "SCORES",
    "conformal_scores",
    "selective_risk",
]

#: Probabilities are clipped to [EPS, 1 − EPS] before taking logits, so 0 and 1 stay finite.
EPS = 1e-12

RECALIBRATORS = ("temperature", "platt", "isotonic")
SCORES = ("lac", "aps")


# ---------------------------------------------------------------------------------------------
# input checks and small helpers
# ---------------------------------------------------------------------------------------------


def _check_p(p: Any, name: str = "p") -> np.ndarray:
    """A 1-D array of probabilities in [0, 1]."""
    arr = check_array(p, name, ndim=1)
    bad = (arr < 0.0) | (arr > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold probabilities in [0, 1]; got {arr[i]!r} at index {i}.")
    return arr


def _check_y(y: Any, name: str = "y") -> np.ndarray:
    """A 1-D array of binary labels in {0, 1}, returned as int64."""
    arr = check_array(y, name, ndim=1)
    bad = (arr != 0.0) & (arr != 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold binary labels 0 or 1; got {arr[i]!r} at index {i}.")
    return arr.astype(np.int64)


def _check_fit(p: Any, y: Any, p_name: str = "p", y_name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    p = _check_p(p, p_name)
    y = _check_y(y, y_name)
    check_same_length(**{p_name: p, y_name: y})
    return p, y


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1.0 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def _require_fitted(obj: Any, attr: str) -> None:
    if not hasattr(obj, attr):
        raise RuntimeError(f"{type(obj).__name__} is not fitted yet; call fit first.")


# ---------------------------------------------------------------------------------------------
# recalibration
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class TemperatureScaling:
    """Temperature scaling for a binary classifier (Guo et al. 2017): p' = σ(logit(p) / T).

    T is the minimiser of the mean negative log-likelihood

        NLL(T) = mean( log(1 + exp(z/T)) − y·z/T ),   z = logit(p),

    found by bounded :func:`scipy.optimize.minimize_scalar` over log T. T > 1 softens
    over-confident probabilities, T < 1 sharpens under-confident ones; the ranking of rows (and
    so the AUROC) is unchanged.

    Parameters
    ----------
    log_t_bounds : (float, float)
        Search interval for log T; the default allows T in [e^-5, e^5].

    Attributes
    ----------
    temperature_ : float
        The fitted temperature T.
    """

    log_t_bounds: tuple[float, float] = (-5.0, 5.0)

    def fit(self, p: Any, y: Any) -> TemperatureScaling:
        """Fit T on held-out probabilities ``p`` and labels ``y``."""
        from scipy.optimize import minimize_scalar

        lo, hi = self._bounds()
        p, y = _check_fit(p, y)
        z = _logit(p)

        def nll(log_t: float) -> float:
            q = z * math.exp(-log_t)
            return float(np.mean(np.logaddexp(0.0, q) - y * q))

        res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-8})
        self.temperature_ = float(math.exp(res.x))
        return self

    def _bounds(self) -> tuple[float, float]:
        b = self.log_t_bounds
        if not (isinstance(b, (tuple, list)) and len(b) == 2):
            raise TypeError(f"log_t_bounds must be a pair (low, high); got {short_repr(b)}.")
        lo = check_number(b[0], "log_t_bounds[0]", -np.inf, np.inf)
        hi = check_number(b[1], "log_t_bounds[1]", -np.inf, np.inf)
        if not lo < hi:
            raise ValueError(f"log_t_bounds must satisfy low < high; got {b!r}.")
        return lo, hi

    def transform(self, p: Any) -> np.ndarray:
        """Calibrated probabilities σ(logit(p) / T)."""
        _require_fitted(self, "temperature_")
        return _sigmoid(_logit(_check_p(p)) / self.temperature_)


@dataclass(eq=False)
class PlattScaling:
    """Platt scaling (Platt 1999): p' = σ(a·logit(p) + b), a logistic regression on the logit.

    (a, b) minimise the mean negative log-likelihood, found by Newton's method (IRLS) with
    step halving. With ``smooth_targets`` the labels are replaced by Platt's regularised targets
    (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2), which keeps (a, b) finite on separable data; without it
    (the default) the fit is the plain maximum-likelihood one.

    Parameters
    ----------
    smooth_targets : bool
        Use Platt's (1999) smoothed targets instead of 0/1.
    max_iter : int
        Maximum number of Newton steps.
    tol : float
        Stop when the largest change of (a, b) falls below ``tol``.

    Attributes
    ----------
    a_, b_ : float
        The fitted slope and intercept.
    n_iter_ : int
        Newton steps taken.
    """

    smooth_targets: bool = False
    max_iter: int = 100
    tol: float = 1e-10

    def fit(self, p: Any, y: Any) -> PlattScaling:
        """Fit (a, b) on held-out probabilities ``p`` and labels ``y``."""
        check_int(self.max_iter, "max_iter", minimum=1)
        check_number(self.tol, "tol", 0.0, np.inf)
        p, y = _check_fit(p, y)
        target = y.astype(np.float64)
        if self.smooth_targets:
            n_pos = float(target.sum())
            n_neg = float(len(target) - n_pos)
            target = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
        A = np.column_stack([_logit(p), np.ones_like(p)])

        def nll(w: np.ndarray) -> float:
            eta = A @ w
            return float(np.mean(np.logaddexp(0.0, eta) - target * eta))

        w = np.array([1.0, 0.0])
        f = nll(w)
        n_iter, converged = 0, False
        for n_iter in range(1, self.max_iter + 1):  # Newton steps, not rows
            mu = _sigmoid(A @ w)
            grad = A.T @ (mu - target) / len(p)
            hess = (A * (mu * (1.0 - mu))[:, None]).T @ A / len(p) + 1e-12 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while t > 1e-10:  # step halving until the NLL does not increase
                w_new = w - t * step
                f_new = nll(w_new)
                if f_new <= f + 1e-14:
                    break
                t *= 0.5
            else:  # no descent possible: converged only if the Newton step itself was negligible
                converged = float(np.max(np.abs(step))) < 1e-6
                break
            change = float(np.max(np.abs(w_new - w)))
            w, f = w_new, f_new
            if change < self.tol:
                converged = True
                break
        if not converged:
            warnings.warn(
                f"PlattScaling did not converge after {n_iter} Newton steps (a = {w[0]:.3g}, "
                f"b = {w[1]:.3g}); the labels may be separable by p: try smooth_targets=True.",
                UserWarning,
                stacklevel=2,
            )
        self.a_, self.b_ = float(w[0]), float(w[1])
        self.n_iter_ = n_iter
        return self

    def transform(self, p: Any) -> np.ndarray:
        """Calibrated probabilities σ(a·logit(p) + b)."""
        _require_fitted(self, "a_")
        return _sigmoid(self.a_ * _logit(_check_p(p)) + self.b_)


@dataclass(eq=False)
class IsotonicCalibration:
    """Isotonic-regression calibration (Zadrozny & Elkan 2002).

    Fits the non-decreasing step function of p that minimises the squared error to y (pool
    adjacent violators, :class:`sklearn.isotonic.IsotonicRegression` with outputs bounded to
    [0, 1]). New probabilities outside the fitted range are clipped to it
    (``out_of_bounds="clip"``), and the map interpolates linearly between fitted points.

    Attributes
    ----------
    model_ : sklearn.isotonic.IsotonicRegression
        The fitted regression.
    """

    def fit(self, p: Any, y: Any) -> IsotonicCalibration:
        """Fit the monotone map on held-out probabilities ``p`` and labels ``y``."""
        from sklearn.isotonic import IsotonicRegression

        p, y = _check_fit(p, y)
        self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        self.model_.fit(p, y.astype(np.float64))
        return self

    def transform(self, p: Any) -> np.ndarray:
        """Calibrated probabilities, clipped into [0, 1]."""
        _require_fitted(self, "model_")
        return np.clip(self.model_.predict(_check_p(p)), 0.0, 1.0)


def recalibrator(name: str) -> TemperatureScaling | PlattScaling | IsotonicCalibration:
    """A fresh, unfitted recalibrator: ``"temperature"``, ``"platt"`` or ``"isotonic"``."""
    check_choice(name, "name", RECALIBRATORS)
    return {"temperature": TemperatureScaling, "platt": PlattScaling, "isotonic": IsotonicCalibration}[name]()


# ---------------------------------------------------------------------------------------------
# conformal prediction sets
# ---------------------------------------------------------------------------------------------


def conformal_scores(p: Any, score: str = "lac") -> np.ndarray:
    """Non-conformity scores s(x, c) of both classes, shape (n, 2); large = unusual.

    With class probabilities π = (1 − p, p):

    * ``"lac"`` (least ambiguous set-valued classifier; Sadinle et al. 2019): s(x, c) = 1 − π_c.
    * ``"aps"`` (adaptive prediction sets, non-randomised; Romano et al. 2020): the total
      probability of the classes at least as likely as c, s(x, c) = π_c + Σ_{c': π_c' > π_c} π_c'.
      For two classes it is π_c for the more likely class and 1 for the other (both 0.5 on a tie).

    A class c is in the conformal set exactly when s(x, c) ≤ the calibrated threshold.
    """
    check_choice(score, "score", SCORES)
    p = _check_p(p)
    probs = np.column_stack([1.0 - p, p])
    if score == "lac":
        return 1.0 - probs
    other = probs[:, ::-1]
    return np.where(other > probs, 1.0, probs)


def _threshold(scores: np.ndarray, alpha: float) -> float:
    """The k-th smallest score, k = ⌈(n + 1)(1 − α)⌉; 1.0 (every score ≤ 1: the full set) when k > n.

    This is ``np.quantile(scores, k/n, method="inverted_cdf")``. NumPy's ``method="higher"``, often
    quoted for this, interpolates at position (k/n)(n − 1) and so returns the (k + 1)-th smallest
    for k < n: valid but conservative by one rank.
    """
    from trustbench.uq.conformal import _rank

    n = len(scores)
    k = _rank(n, 1.0 - alpha)
    if k > n:
        return 1.0
    return float(np.partition(scores, k - 1)[k - 1])


def _true_class_scores(p: np.ndarray, y: np.ndarray, score: str) -> np.ndarray:
    return conformal_scores(p, score)[np.arange(len(y)), y]


def _check_alpha_score(alpha: Any, score: Any) -> float:
    alpha = check_number(alpha, "alpha", 0.0, 1.0)
    check_choice(score, "score", SCORES)
    return alpha


@dataclass(eq=False)
class SplitConformalClassifier:
    """Split conformal prediction sets for a binary classifier (Vovk et al. 2005; Angelopoulos &
    Bates 2021).

    On n calibration rows the threshold q̂ is the ⌈(n + 1)(1 − α)⌉-th smallest true-class score
    (``np.quantile(scores, ⌈(n+1)(1−α)⌉/n, method="inverted_cdf")``), and the set of a new
    row is C(x) = {c : s(x, c) ≤ q̂}. For exchangeable rows

        1 − α ≤ P(y ∈ C(x)) ≤ 1 − α + 1/(n + 1)

    (the upper bound for continuous scores without ties). Where ⌈(n + 1)(1 − α)⌉ > n, too few
    calibration rows for the level, q̂ = 1 and every set is {0, 1}. Sets may be empty (confident
    rows with q̂ below the top-class score): that is part of the guarantee, not a bug.

    Parameters
    ----------
    alpha : float in (0, 1)
        Miscoverage level.
    score : {"lac", "aps"}
        Non-conformity score, see :func:`conformal_scores`.

    Attributes
    ----------
    threshold_ : float
        The calibrated score threshold q̂.
    n_cal_ : int
        Number of calibration rows.
    """

    alpha: float = 0.1
    score: str = "lac"

    def fit(self, p_cal: Any, y_cal: Any) -> SplitConformalClassifier:
        """Calibrate the threshold on held-out probabilities and labels."""
        alpha = _check_alpha_score(self.alpha, self.score)
        p, y = _check_fit(p_cal, y_cal, "p_cal", "y_cal")
        self.threshold_ = _threshold(_true_class_scores(p, y, self.score), alpha)
        self.n_cal_ = len(y)
        return self

    def predict_sets(self, p: Any) -> np.ndarray:
        """Boolean prediction sets of shape (n, 2): column c is True when class c is in the set."""
        _require_fitted(self, "threshold_")
        return conformal_scores(p, self.score) <= self.threshold_


@dataclass(eq=False)
class MondrianConformalClassifier:
    """Group-conditional (Mondrian) split conformal sets (Vovk et al. 2003; Vovk 2012).

    One threshold per group, each the split-conformal threshold of that group's calibration rows
    alone, so that for exchangeable rows within each group g

        P(y ∈ C(x) | group = g) ≥ 1 − α,

    where the pooled :class:`SplitConformalClassifier` only guarantees it on average over groups
    (and under-covers the groups where the model is worse).

    Edge cases (both conservative):

    * a group with too few calibration rows for the level (⌈(n_g + 1)(1 − α)⌉ > n_g, i.e.
      n_g < 1/α − 1) gets threshold 1: its sets are always {0, 1};
    * a group at predict time that was not seen in fit gets the pooled threshold, computed on
      all calibration rows together; its coverage is then only the marginal one.

    Parameters
    ----------
    alpha : float in (0, 1)
        Miscoverage level.
    score : {"lac", "aps"}
        Non-conformity score, see :func:`conformal_scores`.

    Attributes
    ----------
    thresholds_ : dict
        Group label -> threshold.
    group_sizes_ : dict
        Group label -> number of calibration rows.
    threshold_ : float
        Pooled threshold, used for unseen groups.
    """

    alpha: float = 0.1
    score: str = "lac"

    def fit(self, p_cal: Any, y_cal: Any, groups_cal: Any) -> MondrianConformalClassifier:
        """Calibrate one threshold per group of ``groups_cal`` (any 1-D array of labels)."""
        alpha = _check_alpha_score(self.alpha, self.score)
        p, y = _check_fit(p_cal, y_cal, "p_cal", "y_cal")
        groups = _check_groups(groups_cal, "groups_cal")
        check_same_length(p_cal=p, groups_cal=groups)
        scores = _true_class_scores(p, y, self.score)
        labels, inverse = np.unique(groups, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse, minlength=len(labels)))[:-1]
        per_group = np.split(scores[order], bounds)  # a loop over groups below, not over rows
        keys = labels.tolist()
        self.thresholds_ = {g: _threshold(s, alpha) for g, s in zip(keys, per_group, strict=True)}
        self.group_sizes_ = {g: len(s) for g, s in zip(keys, per_group, strict=True)}
        self.threshold_ = _threshold(scores, alpha)
        return self

    def thresholds_for(self, groups: Any) -> np.ndarray:
        """Threshold of each row's group (the pooled one for groups unseen in fit)."""
        _require_fitted(self, "thresholds_")
        groups = _check_groups(groups, "groups")
        labels, inverse = np.unique(groups, return_inverse=True)
        per_label = np.array([self.thresholds_.get(g, self.threshold_) for g in labels.tolist()])
        return per_label[inverse.reshape(-1)]

    def predict_sets(self, p: Any, groups: Any) -> np.ndarray:
        """Boolean prediction sets of shape (n, 2), each row with its group's threshold."""
        scores = conformal_scores(p, self.score)
        thr = self.thresholds_for(groups)
        check_same_length(p=scores, groups=thr)
        return scores <= thr[:, None]


def _check_groups(groups: Any, name: str) -> np.ndarray:
    if groups is None or isinstance(groups, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array of group labels; got {short_repr(groups)}.")
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} must have at least 1 element; got shape {arr.shape}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must not contain NaN or ±inf; got {arr[i]!r} at index {i}.")
    if arr.dtype.kind == "O":
        try:
            np.unique(arr)
        except TypeError as err:
            raise TypeError(f"{name} must hold mutually comparable labels ({err}).") from None
    return arr


# ---------------------------------------------------------------------------------------------
# selective prediction
# ---------------------------------------------------------------------------------------------


def selective_risk(y: Any, p: Any, coverage: float) -> float:
    """Error rate on the ``coverage`` fraction of rows the model is most confident about.

    Rows are ranked by confidence max(p, 1 − p) (ties in their original order) and the top
    ⌈coverage · n⌉ are kept; the prediction is 1 where p > 0.5 and 0 otherwise (scikit-learn's
    convention, so p = 0.5 predicts 0). ``coverage = 1`` gives the plain error rate. Plotting the
    risk against coverage gives the risk–coverage curve (Geifman & El-Yaniv 2017).

    Parameters
    ----------
    y : array (n,)
        Binary labels.
    p : array (n,)
        Predicted probabilities P(y = 1).
    coverage : float in (0, 1]
        Fraction of rows kept.

    Returns
    -------
    float
        Error rate on the kept rows.
    """
    p, y = _check_fit(p, y)
    coverage = check_number(coverage, "coverage", 0.0, 1.0, closed="right")
    n_keep = max(1, min(len(y), math.ceil(coverage * len(y) - 1e-9)))
    confidence = np.maximum(p, 1.0 - p)
    keep = np.argsort(-confidence, kind="stable")[:n_keep]
    return float(np.mean((p[keep] > 0.5).astype(np.int64) != y[keep]))
