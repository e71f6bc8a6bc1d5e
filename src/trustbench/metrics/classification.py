"""Binary-classification metrics: discrimination, calibration, decisions, fairness, selective prediction,
conformal sets, treatment effects, and a cluster bootstrap for rows that come in dependent groups.

Conventions: ``y`` holds labels in {0, 1}, ``p`` the predicted probability of class 1. Every function
is vectorised over rows and validates its inputs first (errors name the parameter).

Degenerate data: :func:`auroc`, :func:`auprc`, :func:`calibration_slope` and
:func:`calibration_intercept` return NaN when ``y`` holds a single class (the quantity is undefined
or its maximum-likelihood estimate is infinite); scikit-learn raises or warns there instead. Rates of
a group with no positives (or no negatives) are NaN in :func:`equalized_odds_difference`, and so is
the gap (fairlearn reports a rate of 0 for such a group).

Three kinds of metric are bootstrapped quickly by :func:`cluster_bootstrap_ci`:

* mean-type metrics made by :func:`~trustbench.metrics.bootstrap.mean_metric` (``brier``,
  ``log_loss``, ``set_coverage``, ``pehe``, ...), through per-cluster sums;
* metrics with a ``weighted`` attribute (``auroc``, ``auprc``, equal-width ``ece`` and
  ``true_risk_ece``, ``calibration_intercept``/``calibration_slope``, ``net_benefit``):
  ``metric.weighted(*arrays, **params)`` returns ``(order, f)``, a row permutation and
  ``f(w) -> (c,) values`` for a (c, n) matrix of multiplicities of the rows ``order`` (column j
  weights row ``order[j]``), equal to the metric on the rows repeated that many times (or None when
  no such form applies, e.g. equal-mass bins); a replicate is then a few cumulative sums over a
  presorted matrix, a matrix product, or one step of a Newton iteration batched over replicates;
* anything else, through one call per replicate on the concatenated rows.

References
----------
Hanley JA, McNeil BJ (1982). The meaning and use of the area under a ROC curve. Radiology 143, 29-36.
Brier GW (1950). Verification of forecasts expressed in terms of probability. Mon. Weather Rev. 78, 1-3.
Naeini MP, Cooper G, Hauskrecht M (2015). Obtaining well calibrated probabilities using Bayesian
binning. AAAI, 2901-2907 (expected calibration error).
Cox DR (1958). Two further applications of a model for binary regression. Biometrika 45, 562-565.
Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW (2016). A calibration
hierarchy for risk models was defined: from utopia to empirical data. J. Clin. Epidemiol. 74, 167-176.
Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW (2019). Calibration: the Achilles
heel of predictive analytics. BMC Med. 17, 230.
Vickers AJ, Elkin EB (2006). Decision curve analysis: a novel method for evaluating prediction
models. Med. Decis. Making 26, 565-574.
Hardt M, Price E, Srebro N (2016). Equality of opportunity in supervised learning. NeurIPS.
Geifman Y, El-Yaniv R (2017). Selective classification for deep neural networks. NeurIPS.
Hill JL (2011). Bayesian nonparametric modeling for causal inference. J. Comput. Graph. Stat. 20, 217-240.
Field CA, Welsh AH (2007). Bootstrapping clustered data. J. R. Stat. Soc. B 69, 369-390.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from trustbench.metrics.bootstrap import CI, mean_metric
from trustbench.metrics.scores import interval_coverage, rows
from trustbench.validation import (
    check_choice,
    check_int,
    check_level,
    check_levels,
    short_repr,
)

__all__ = [
    "auroc",
    "auprc",
    "brier",
    "log_loss",
    "ece",
    "calibration_curve",
    "calibration_intercept_slope",
    "calibration_slope",
    "calibration_intercept",
    "true_risk_ece",
    "true_risk_mae",
    "net_benefit",
    "decision_curve",
    "subgroup_metric",
    "max_gap",
    "group_gap",
    "equalized_odds_difference",
    "set_coverage",
    "set_size",
    "pehe",
    "ate_error",
    "interval_coverage",
    "risk_coverage_curve",
    "aurc",
    "cluster_bootstrap_ci",
]

_STRATEGIES = ("uniform", "quantile")
_LOGIT_EPS = 1e-12  # p is clipped to [eps, 1 - eps] before the logit in the calibration regressions
_NAN_SHARE = 0.10  # cluster bootstrap: above this share of NaN replicates, no interval
_CHUNK_ELEMENTS = 1 << 21  # replicate-by-row elements per chunk in cluster_bootstrap_ci


# ----------------------------------------------------------------------------------------- validation


def _labels(y: Any, name: str = "y", n: int | None = None) -> np.ndarray:
    """A 1-D float array of 0s and 1s."""
    arr = rows(name, y, n)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold binary labels 0 or 1; got {arr[i]!r} at index {i}.")
    return arr


def _probs(p: Any, name: str = "p", n: int | None = None) -> np.ndarray:
    """A 1-D float array of probabilities in [0, 1]."""
    arr = rows(name, p, n)
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold probabilities in [0, 1]; got {arr[i]!r} at index {i}.")
    return arr


def _binary(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y)
    return y, _probs(p, "p", len(y))


def _codes(values: Any, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels of a 1-D label array (one per row, no NaN) and each row's code into them."""
    if values is None or isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array of labels; got {short_repr(values)}.")
    g = np.asarray(values)
    if g.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {g.shape}.")
    if len(g) != n:
        raise ValueError(f"{name} must have one label per row ({n}); got {len(g)}.")
    if g.dtype.kind == "f" and np.isnan(g).any():
        i = int(np.flatnonzero(np.isnan(g))[0])
        raise ValueError(f"{name} must not contain NaN; got NaN at index {i}.")
    uniq, codes = np.unique(g, return_inverse=True)
    return uniq, codes.reshape(-1)


def _groups(groups: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct group labels and each row's code into them."""
    return _codes(groups, "groups", n)


def _sets(sets: Any, n: int) -> np.ndarray:
    """A boolean (n, 2) prediction-set matrix."""
    if sets is None or isinstance(sets, (str, bytes)):
        raise TypeError(f"sets must be a boolean array of shape (n, 2); got {short_repr(sets)}.")
    s = np.asarray(sets)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"sets must have shape (n, 2) (column k: class k in the set); got {s.shape}.")
    if len(s) != n:
        raise ValueError(f"sets must have one row per label ({n}); got {len(s)}.")
    if s.dtype != bool:
        bad = (s != 0) & (s != 1)
        if bad.any():
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            raise ValueError(f"sets must be boolean (or 0/1); got {s[i]!r} at index {i}.")
        s = s.astype(bool)
    return s


def _tie_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0."""
    ok = den > 0
    return np.where(ok, num / np.where(ok, den, 1.0), np.nan)


# ------------------------------------------------------------------------------------- discrimination


def _group_cumsums(ws: np.ndarray, ys: np.ndarray, ends: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative positive and total weight at the end of each tie group (each row if ends is None)."""
    tp = np.cumsum(ws * ys, axis=1)
    tw = np.cumsum(ws, axis=1)
    if ends is not None:
        tp, tw = tp[:, ends], tw[:, ends]
    return tp, tw


def _sorted_ties(p_sorted: np.ndarray) -> np.ndarray | None:
    """Index of the last row of each run of equal values; None if all values are distinct."""
    ends = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True])
    return None if len(ends) == len(p_sorted) else ends


def _auroc_weighted(y: Any, p: Any) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``(order, f)``: ``f(w)`` is the AUROC of the rows ``order`` weighted by ``w`` (c, n), row by row.

    Integer weights give the AUROC of the rows repeated that many times.
    """
    y, p = _binary(y, p)
    order = np.argsort(p, kind="stable")
    ys = y[order]
    ends = _sorted_ties(p[order])

    def f(ws: np.ndarray) -> np.ndarray:
        ws = np.asarray(ws, dtype=float)
        if ends is None:  # no ties: Σ over positives of their weight × the negative weight below them
            wp = ws * ys
            tn = np.cumsum(ws - wp, axis=1)
            return _ratio(np.einsum("ij,ij->i", wp, tn), wp.sum(axis=1) * tn[:, -1])
        tp, tw = _group_cumsums(ws, ys, ends)
        tn = tw - tp  # negatives at or below each threshold
        neg = np.diff(tn, axis=1, prepend=0.0)
        pos = np.diff(tp, axis=1, prepend=0.0)
        below = tn - 0.5 * neg  # negatives strictly below + half the tied ones
        return _ratio((pos * below).sum(axis=1), tp[:, -1] * tn[:, -1])

    return order, f


def auroc(y: Any, p: Any) -> float:
    """Area under the ROC curve: P(p of a random positive > p of a random negative), ties counting ½.

    The Mann-Whitney form (Hanley & McNeil 1982), equal to ``sklearn.metrics.roc_auc_score``.
    Returns NaN when ``y`` holds a single class (undefined; scikit-learn raises).
    """
    y, p = _binary(y, p)
    return float(_auroc_weighted(y, p)[1](np.ones((1, len(y))))[0])


def _auprc_weighted(y: Any, p: Any) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """``(order, f)``: ``f(w)`` is the average precision of the rows ``order`` weighted by ``w``."""
    y, p = _binary(y, p)
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    ends = _sorted_ties(p[order])

    def f(ws: np.ndarray) -> np.ndarray:
        ws = np.asarray(ws, dtype=float)
        if ends is None:  # no ties: every row is a threshold
            pos = ws * ys
            tp, pp = np.cumsum(pos, axis=1), np.cumsum(ws, axis=1)
        else:  # thresholds: distinct p, descending
            tp, pp = _group_cumsums(ws, ys, ends)
            pos = np.diff(tp, axis=1, prepend=0.0)
        precision = np.where(pp > 0, tp / np.where(pp > 0, pp, 1.0), 0.0)
        n_pos = tp[:, -1]
        both = (n_pos > 0) & (pp[:, -1] > n_pos)
        return np.where(both, _ratio((pos * precision).sum(axis=1), n_pos), np.nan)

    return order, f


def auprc(y: Any, p: Any) -> float:
    """Average precision AP = Σ_k (R_k - R_{k-1}) P_k over the distinct thresholds, as
    ``sklearn.metrics.average_precision_score`` (a step-wise area under the precision-recall curve).

    Returns NaN when ``y`` holds a single class (by this package's convention; with only
    positives scikit-learn gives 1, with none it warns).
    """
    y, p = _binary(y, p)
    return float(_auprc_weighted(y, p)[1](np.ones((1, len(y))))[0])


auroc.weighted = _auroc_weighted
auprc.weighted = _auprc_weighted


# ---------------------------------------------------------------------------------- proper scores


@mean_metric
def brier(y: Any, p: Any) -> np.ndarray:
    """Brier score mean((p - y)²) (Brier 1950); ``sklearn.metrics.brier_score_loss``."""
    y, p = _binary(y, p)
    return (p - y) ** 2


@mean_metric
def log_loss(y: Any, p: Any) -> np.ndarray:
    """Mean negative log-likelihood -mean(y log p + (1 - y) log(1 - p)), in nats.

    p is clipped to [ε, 1 - ε] with ε the float64 machine epsilon, as ``sklearn.metrics.log_loss``.
    """
    y, p = _binary(y, p)
    eps = np.finfo(np.float64).eps
    q = np.clip(p, eps, 1 - eps)
    return -(y * np.log(q) + (1 - y) * np.log1p(-q))


# -------------------------------------------------------------------------------------- calibration


def _bin_ids(p: np.ndarray, n_bins: Any, strategy: Any) -> tuple[np.ndarray, int]:
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    check_choice(strategy, "strategy", _STRATEGIES)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.percentile(p, np.linspace(0.0, 100.0, n_bins + 1))
    # bin k holds (e_k, e_{k+1}], the first one [0, e_1]: the same rule as sklearn's calibration_curve
    return np.searchsorted(edges[1:-1], p), n_bins


def calibration_curve(y: Any, p: Any, n_bins: int = 10, strategy: str = "uniform") -> dict[str, np.ndarray]:
    """Reliability diagram: mean prediction and observed frequency in each non-empty bin of p.

    Parameters
    ----------
    y, p : labels in {0, 1} and predicted probabilities of class 1.
    n_bins : number of bins (>= 1).
    strategy : ``"uniform"`` (equal-width bins on [0, 1]) or ``"quantile"`` (equal-mass bins
        with edges at the quantiles of p; tied edges leave empty bins, which are dropped).

    Returns
    -------
    dict with ``prob_pred`` (mean p per bin), ``prob_true`` (mean y per bin) and ``count``
    (rows per bin), for the non-empty bins in increasing order; ``prob_true`` and ``prob_pred``
    equal ``sklearn.calibration.calibration_curve``.
    """
    y, p = _binary(y, p)
    ids, k = _bin_ids(p, n_bins, strategy)
    count = np.bincount(ids, minlength=k)
    keep = count > 0
    c = count[keep]
    return {
        "prob_pred": np.bincount(ids, weights=p, minlength=k)[keep] / c,
        "prob_true": np.bincount(ids, weights=y, minlength=k)[keep] / c,
        "count": c,
    }


def _binned_gap(target: np.ndarray, p: np.ndarray, n_bins: Any, strategy: Any) -> float:
    ids, k = _bin_ids(p, n_bins, strategy)
    gap = np.bincount(ids, weights=target, minlength=k) - np.bincount(ids, weights=p, minlength=k)
    return float(np.abs(gap).sum() / len(p))  # Σ_b (n_b/n) |mean_b(target) - mean_b(p)|


def _binned_gap_weighted(target: np.ndarray, p: np.ndarray, n_bins: Any, strategy: Any):
    """``(order, f)`` for equal-width bins, which do not move when rows are resampled; ``None`` for
    equal-mass bins (their edges are quantiles of the resample: the bootstrap calls the metric)."""
    if strategy != "uniform":
        return None
    ids, k = _bin_ids(p, n_bins, strategy)
    gap_by_bin = np.zeros((len(p), k))
    gap_by_bin[np.arange(len(p)), ids] = target - p

    def f(ws: np.ndarray) -> np.ndarray:
        return np.abs(ws @ gap_by_bin).sum(axis=1) / ws.sum(axis=1)

    return np.arange(len(p)), f


def ece(y: Any, p: Any, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error Σ_b (n_b / n) |mean_b(y) - mean_b(p)| (Naeini et al. 2015).

    Bins as :func:`calibration_curve`: ``"uniform"`` equal-width, ``"quantile"`` equal-mass.
    """
    y, p = _binary(y, p)
    return _binned_gap(y, p, n_bins, strategy)


def _ece_weighted(y: Any, p: Any, n_bins: int = 10, strategy: str = "uniform"):
    y, p = _binary(y, p)
    return _binned_gap_weighted(y, p, n_bins, strategy)


ece.weighted = _ece_weighted


def true_risk_ece(p_true: Any, p: Any, n_bins: int = 10, strategy: str = "uniform") -> float:
    """ECE against the true risk: Σ_b (n_b / n) |mean_b(p_true) - mean_b(p)|, binned on p.

    For simulated data whose risk P(y = 1 | x) is known; free of the label noise that makes the
    label-based :func:`ece` positive even for a perfect model.
    """
    p_true = _probs(p_true, "p_true")
    p = _probs(p, "p", len(p_true))
    return _binned_gap(p_true, p, n_bins, strategy)


def _true_risk_ece_weighted(p_true: Any, p: Any, n_bins: int = 10, strategy: str = "uniform"):
    p_true = _probs(p_true, "p_true")
    return _binned_gap_weighted(p_true, _probs(p, "p", len(p_true)), n_bins, strategy)


true_risk_ece.weighted = _true_risk_ece_weighted


@mean_metric
def true_risk_mae(p_true: Any, p: Any) -> np.ndarray:
    """Mean absolute error of the predicted risk against the true risk, mean |p - p_true|."""
    p_true = _probs(p_true, "p_true")
    return np.abs(_probs(p, "p", len(p_true)) - p_true)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.log(q) - np.log1p(-q)


def _logistic_mle(
    X: np.ndarray, y: np.ndarray, offset: np.ndarray, ws: np.ndarray, beta: np.ndarray, max_iter: int = 100
) -> np.ndarray:
    """Unpenalised weighted logistic regressions y ~ X β + offset, one per row of weights ``ws``
    (c, n), by damped Newton-Raphson, all at once; (c, d) coefficients, NaN where singular."""
    from scipy.special import expit, log_expit

    c, d = len(ws), X.shape[1]
    beta = np.tile(np.asarray(beta, dtype=float), (c, 1))
    outer = (X[:, :, None] * X[:, None, :]).reshape(len(X), d * d)  # x xᵀ per row, for the Hessians

    def loglik(b: np.ndarray, w: np.ndarray) -> np.ndarray:
        eta = b @ X.T + offset
        return np.einsum("cn,cn->c", w, log_expit(np.where(y == 1, eta, -eta)))

    ll = loglik(beta, ws)
    active = np.arange(c)
    for _ in range(max_iter):
        w, b = ws[active], beta[active]
        mu = expit(b @ X.T + offset)
        grad = (w * (y - mu)) @ X
        hess = ((w * mu * (1 - mu)) @ outer).reshape(-1, d, d)
        singular = ~(np.abs(np.linalg.det(hess)) > 1e-300)
        hess[singular] = np.eye(d)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        bad = singular | ~np.isfinite(step).all(axis=1)
        beta[active[bad]] = np.nan
        step[bad] = 0.0
        done = np.max(np.abs(step), axis=1) < 1e-10  # converged: take the last tiny step as it is
        beta[active[done & ~bad]] += step[done & ~bad]
        go = np.flatnonzero(~done & ~bad)
        b, w, step = b[go], w[go], step[go]
        t = np.ones(len(go))
        new_ll = loglik(b + step, w)
        ll_go = ll[active[go]]
        for _ in range(40):  # step halving keeps each log-likelihood from decreasing
            worse = new_ll < ll_go - 1e-12 * np.abs(ll_go)
            if not worse.any():
                break
            t[worse] /= 2
            new_ll[worse] = loglik(b[worse] + t[worse, None] * step[worse], w[worse])
        beta[active[go]] = b + t[:, None] * step
        ll[active[go]] = new_ll
        active = active[go]
        if not len(active):
            return beta
    warnings.warn(
        "calibration regression did not converge (are the classes separated by p?); "
        "the estimate may be unreliable.",
        RuntimeWarning,
        stacklevel=3,
    )
    return beta


def _calibration_weighted(y: Any, p: Any, which: str):
    """``(order, f)``: ``f(w)`` fits the calibration ``which`` ('intercept' or 'slope') with row weights."""
    y, p = _binary(y, p)
    z = _logit(p)
    n = len(y)
    ones = np.ones((n, 1))

    def f(ws: np.ndarray) -> np.ndarray:
        ws = np.asarray(ws, dtype=float)
        pos = ws @ y
        ok = (pos > 0) & (pos < ws.sum(axis=1))  # both classes drawn, else the MLE is infinite
        if which == "slope":  # and p not constant, else the slope is unidentified
            used = ws > 0
            ok &= np.where(used, z, np.inf).min(axis=1) < np.where(used, z, -np.inf).max(axis=1)
        out = np.full(len(ws), np.nan)
        if ok.any():
            out[ok] = _logistic_mle(X, y, offset, ws[ok], start())[:, -1]
        return out

    if which == "intercept":  # logit(p) as offset, the intercept alone
        X, offset, beta0 = ones, z, np.zeros(1)
    else:
        X, offset, beta0 = np.column_stack([ones, z]), np.zeros(n), np.array([0.0, 1.0])

    @functools.cache
    def start() -> np.ndarray:  # replicates start from the fit on all rows (or the default if that fails)
        full = _logistic_mle(X, y, offset, np.ones((1, n)), beta0)[0]
        return full if np.isfinite(full).all() and 0 < y.sum() < n else beta0

    return np.arange(n), f


def calibration_intercept_slope(y: Any, p: Any) -> tuple[float, float]:
    """Logistic recalibration of p: calibration-in-the-large and calibration slope.

    * slope: b in logit P(y = 1) = a + b·logit(p) (Cox 1958); 1 is ideal, < 1 means predictions
      too extreme (overfitting), > 1 too modest.
    * intercept: a in logit P(y = 1) = a + logit(p), i.e. logit(p) as an offset (slope fixed at 1):
      the calibration-in-the-large of Van Calster et al. (2016, 2019); 0 is ideal, > 0 means
      risks underestimated on average.

    Both are unpenalised maximum-likelihood fits by Newton-Raphson; p is clipped to
    [1e-12, 1 - 1e-12] before the logit. NaN when ``y`` holds one class (the MLE is infinite) or
    p is constant (for the slope, which is then unidentified).

    Returns
    -------
    (intercept, slope) : tuple of floats.
    """
    return calibration_intercept(y, p), calibration_slope(y, p)


def calibration_slope(y: Any, p: Any) -> float:
    """Calibration slope (see :func:`calibration_intercept_slope`); 1 is ideal."""
    order, f = _calibration_weighted(y, p, "slope")
    return float(f(np.ones((1, len(order))))[0])


def calibration_intercept(y: Any, p: Any) -> float:
    """Calibration-in-the-large: intercept with logit(p) as offset (see
    :func:`calibration_intercept_slope`); 0 is ideal."""
    order, f = _calibration_weighted(y, p, "intercept")
    return float(f(np.ones((1, len(order))))[0])


calibration_slope.weighted = functools.partial(_calibration_weighted, which="slope")
calibration_intercept.weighted = functools.partial(_calibration_weighted, which="intercept")


# ---------------------------------------------------------------------------------------- decisions


def _net_benefits(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    n = len(y)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    pos_from = np.r_[np.cumsum(y[order][::-1])[::-1], 0.0]  # positives among rows k..n-1
    k = np.searchsorted(ps, t, side="left")  # rows k..n-1 have p >= t: treated
    tp = pos_from[k]
    fp = (n - k) - tp
    return tp / n - fp / n * t / (1 - t)


def net_benefit(y: Any, p: Any, threshold: float) -> float:
    """Net benefit of treating the rows with p >= threshold (Vickers & Elkin 2006).

    NB(t) = TP/n - FP/n · t/(1 - t): true positives, minus false positives weighted by the odds
    of the threshold probability t at which a patient is indifferent to treatment.
    """
    y, p = _binary(y, p)
    t = check_level(threshold, "threshold")
    return float(_net_benefits(y, p, np.array([t]))[0])


def _net_benefit_weighted(y: Any, p: Any, threshold: float):
    y, p = _binary(y, p)
    t = check_level(threshold, "threshold")
    treated = p >= t
    gain = np.where(treated, np.where(y == 1, 1.0, -t / (1 - t)), 0.0)  # TP - FP·t/(1-t), per row

    def f(ws: np.ndarray) -> np.ndarray:
        return (ws @ gain) / ws.sum(axis=1)

    return np.arange(len(y)), f


net_benefit.weighted = _net_benefit_weighted


def decision_curve(y: Any, p: Any, thresholds: Any) -> dict[str, np.ndarray]:
    """Decision curve (Vickers & Elkin 2006): net benefit against the threshold probability.

    Returns
    -------
    dict with ``threshold``, ``model`` (net benefit of treating p >= t), ``treat_all``
    (prevalence - (1 - prevalence)·t/(1 - t)) and ``treat_none`` (zeros).
    """
    y, p = _binary(y, p)
    t = check_levels(thresholds, "thresholds")
    prev = y.mean()
    return {
        "threshold": t,
        "model": _net_benefits(y, p, t),
        "treat_all": prev - (1 - prev) * t / (1 - t),
        "treat_none": np.zeros_like(t),
    }


# ----------------------------------------------------------------------------------------- subgroups


def subgroup_metric(metric: Callable[..., float], groups: Any, *arrays: Any) -> dict[Any, float]:
    """``metric`` on the rows of each group: {group label: metric(*rows of that group)}.

    Groups appear in sorted order; labels are returned as Python scalars. As fairlearn's
    ``MetricFrame(metrics=metric, ...).by_group``.
    """
    if not callable(metric):
        raise TypeError(f"metric must be callable; got {short_repr(metric)}.")
    if not arrays:
        raise TypeError("subgroup_metric needs at least one array after groups.")
    arrs = [np.asarray(a) for a in arrays]
    n = len(arrs[0])
    for i, a in enumerate(arrs):
        if a.ndim == 0 or len(a) != n:
            raise ValueError(f"arrays[{i}] must have one row per row of arrays[0] ({n}); got {a.shape}.")
    uniq, codes = _groups(groups, n)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(uniq)))]
    out = {}
    for g, label in enumerate(uniq):
        idx = order[bounds[g] : bounds[g + 1]]
        key = label.item() if isinstance(label, np.generic) else label
        out[key] = float(metric(*(a[idx] for a in arrs)))
    return out


def max_gap(metric: Callable[..., float], groups: Any, *arrays: Any) -> float:
    """Largest pairwise difference of ``metric`` between groups: max - min over the groups.

    As fairlearn's ``MetricFrame(...).difference()``; NaN if the metric is NaN in any group.
    """
    values = np.array(list(subgroup_metric(metric, groups, *arrays).values()))
    if np.isnan(values).any():
        return float("nan")
    return float(values.max() - values.min())


def equalized_odds_difference(y: Any, yhat: Any, groups: Any) -> float:
    """Equalized-odds difference (Hardt et al. 2016): max(TPR gap, FPR gap) between groups.

    Each gap is max - min over groups of the rate of yhat = 1 among the group's positives (TPR)
    or negatives (FPR); as ``fairlearn.metrics.equalized_odds_difference``. NaN when a group has
    no positives or no negatives (fairlearn counts its rate as 0 instead).
    """
    y = _labels(y)
    yhat = _labels(yhat, "yhat", len(y))
    uniq, codes = _groups(groups, len(y))
    k = len(uniq)
    pos = np.bincount(codes, weights=y, minlength=k)
    neg = np.bincount(codes, minlength=k) - pos
    tpr = _ratio(np.bincount(codes, weights=y * yhat, minlength=k), pos)
    fpr = _ratio(np.bincount(codes, weights=(1 - y) * yhat, minlength=k), neg)
    if np.isnan(tpr).any() or np.isnan(fpr).any():
        return float("nan")
    return float(max(tpr.max() - tpr.min(), fpr.max() - fpr.min()))


def _present_gap(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """max - min over the groups present in each row of ``values`` (c, k); NaN if any present one is NaN."""
    vals = np.where(present, values, np.nan)
    bad = (present & np.isnan(values)).any(axis=1) | ~present.any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are set to NaN below
        gap = np.nanmax(vals, axis=1) - np.nanmin(vals, axis=1)
    return np.where(bad, np.nan, gap)


def group_gap(metric: Callable[..., float]) -> Callable[..., float]:
    """``gap(*arrays, groups)`` = :func:`max_gap` ``(metric, groups, *arrays)``, the groups last so that
    :func:`cluster_bootstrap_ci` resamples them with the rows; vectorised when ``metric`` has a
    ``weighted`` form (a group absent from a replicate is left out, as on the concatenated rows)."""

    def gap(*arrays: Any) -> float:
        *rows_, groups = arrays
        return max_gap(metric, groups, *rows_)

    def weighted(*arrays: Any):
        *rows_, groups = (np.asarray(a) for a in arrays)
        _, codes = _groups(groups, len(rows_[0]))
        orders, forms, bounds = [], [], [0]
        for g in range(codes.max() + 1):
            idx = np.flatnonzero(codes == g)
            prepared = metric.weighted(*(a[idx] for a in rows_))
            if prepared is None:
                return None
            orders.append(idx[prepared[0]])
            forms.append(prepared[1])
            bounds.append(bounds[-1] + len(idx))

        def f(ws: np.ndarray) -> np.ndarray:
            parts = [ws[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            values = np.column_stack([fg(w) for fg, w in zip(forms, parts)])
            return _present_gap(values, np.column_stack([w.sum(axis=1) > 0 for w in parts]))

        return np.concatenate(orders), f

    if hasattr(metric, "weighted"):
        gap.weighted = weighted
    return gap


def _equalized_odds_weighted(y: Any, yhat: Any, groups: Any):
    y = _labels(y)
    yhat = _labels(yhat, "yhat", len(y))
    _, codes = _groups(groups, len(y))
    member = np.zeros((len(y), codes.max() + 1))
    member[np.arange(len(y)), codes] = 1.0
    pos, neg = member * y[:, None], member * (1 - y)[:, None]

    def f(ws: np.ndarray) -> np.ndarray:
        tpr = _ratio(ws @ (pos * yhat[:, None]), ws @ pos)
        fpr = _ratio(ws @ (neg * yhat[:, None]), ws @ neg)
        present = (ws @ member) > 0
        return np.maximum(_present_gap(tpr, present), _present_gap(fpr, present))  # NaN if either is

    return np.arange(len(y)), f


equalized_odds_difference.weighted = _equalized_odds_weighted


# ---------------------------------------------------------------------------------- conformal sets


@mean_metric
def set_coverage(y: Any, sets: Any) -> np.ndarray:
    """Share of rows whose label is in its prediction set; ``sets[i, k]`` is True if class k is in set i."""
    y = _labels(y)
    s = _sets(sets, len(y))
    return s[np.arange(len(y)), y.astype(np.intp)].astype(float)


@mean_metric
def set_size(sets: Any) -> np.ndarray:
    """Mean number of classes per prediction set (0, 1 or 2)."""
    if sets is None or isinstance(sets, (str, bytes)):
        raise TypeError(f"sets must be a boolean array of shape (n, 2); got {short_repr(sets)}.")
    s = _sets(sets, len(np.asarray(sets)))
    return s.sum(axis=1).astype(float)


# ------------------------------------------------------------------------------- treatment effects


def _ite(ite_true: Any, ite_hat: Any) -> np.ndarray:
    t = rows("ite_true", ite_true)
    return rows("ite_hat", ite_hat, len(t)) - t


@mean_metric(transform=np.sqrt)
def pehe(ite_true: Any, ite_hat: Any) -> np.ndarray:
    """Precision in estimation of heterogeneous effects, sqrt(mean((τ̂ - τ)²)) (Hill 2011)."""
    return _ite(ite_true, ite_hat) ** 2


@mean_metric(transform=np.abs)
def ate_error(ite_true: Any, ite_hat: Any) -> np.ndarray:
    """Absolute error of the average treatment effect, |mean(τ̂) - mean(τ)|."""
    return _ite(ite_true, ite_hat)


# --------------------------------------------------------------------------- selective prediction


def risk_coverage_curve(y: Any, p: Any, loss: str = "error") -> dict[str, np.ndarray]:
    """Risk-coverage curve of selective prediction (Geifman & El-Yaniv 2017).

    The rows are ranked by confidence max(p, 1 - p); keeping the k most confident (coverage
    k/n), the risk is their mean loss, for k = 1..n. ``loss="error"``: 0-1 loss of the prediction
    1{p >= 0.5}; ``loss="brier"``: (p - y)². Rows tied in confidence are treated as in random
    order: within a tie, the cumulative loss is interpolated linearly (its expectation over the
    orders), so the curve does not depend on how ties are sorted.

    Returns
    -------
    dict with ``coverage`` (k/n) and ``risk``, each of length n.
    """
    y, p = _binary(y, p)
    check_choice(loss, "loss", ("error", "brier"))
    per_row = ((p >= 0.5) != (y == 1)).astype(float) if loss == "error" else (p - y) ** 2
    conf = np.maximum(p, 1 - p)
    order = np.argsort(-conf, kind="stable")
    lo = per_row[order]
    n = len(y)
    starts = _tie_starts(conf[order])
    sizes = np.diff(np.r_[starts, n])
    group_sum = np.add.reduceat(lo, starts)
    before = np.cumsum(group_sum) - group_sum
    gid = np.repeat(np.arange(len(starts)), sizes)
    k = np.arange(1, n + 1)
    cum = before[gid] + (k - starts[gid]) * (group_sum / sizes)[gid]
    return {"coverage": k / n, "risk": cum / k}


def aurc(y: Any, p: Any, loss: str = "error") -> float:
    """Area under the risk-coverage curve, the mean risk over coverages k/n, k = 1..n
    (Geifman & El-Yaniv 2017); lower is better. See :func:`risk_coverage_curve`."""
    return float(np.mean(risk_coverage_curve(y, p, loss)["risk"]))


# ------------------------------------------------------------------------------- cluster bootstrap


def _cluster_codes(clusters: Any, n: int) -> tuple[np.ndarray, int]:
    if clusters is None:
        return np.arange(n), n
    uniq, codes = _codes(clusters, "clusters", n)
    return codes, len(uniq)


def _cluster_replicate_fn(
    metric: Any, arrs: list[np.ndarray], codes: np.ndarray, n_clusters: int
) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """``idx (c, G) -> (c,)`` metric on the rows of the drawn clusters; and elements per replicate."""
    pointwise = getattr(metric, "pointwise", None)
    if pointwise is not None:  # mean-type: sum of drawn cluster sums / sum of drawn cluster sizes
        scores = np.asarray(pointwise(*arrs), dtype=float)
        sums = np.bincount(codes, weights=scores, minlength=n_clusters)
        sizes = np.bincount(codes, minlength=n_clusters).astype(float)
        transform = metric.transform or (lambda v: v)

        def rep_mean(idx: np.ndarray) -> np.ndarray:
            return np.asarray(transform(sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)), dtype=float)

        return rep_mean, n_clusters

    weighted = getattr(metric, "weighted", None)
    prepared = weighted(*arrs) if weighted is not None else None
    if prepared is not None:  # row multiplicity = times its cluster was drawn
        order, f = prepared
        row_cluster = codes[order]

        def rep_weighted(idx: np.ndarray) -> np.ndarray:
            c = len(idx)
            counts = np.bincount((idx + n_clusters * np.arange(c)[:, None]).ravel(), minlength=c * n_clusters)
            # one gather from the small (c, G) table, already in the metric's row order
            return np.asarray(f(counts.reshape(c, n_clusters).astype(float)[:, row_cluster]), dtype=float)

        return rep_weighted, max(len(codes), n_clusters)

    order = np.argsort(codes, kind="stable")  # rows of cluster g: order[start[g] : start[g] + size[g]]
    size = np.bincount(codes, minlength=n_clusters)
    start = np.cumsum(size) - size

    def rep_loop(idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(idx))
        for r, draw in enumerate(idx):
            s = size[draw]
            offset = np.cumsum(s) - s
            rows_ = order[np.repeat(start[draw] - offset, s) + np.arange(s.sum())]
            out[r] = metric(*(a[rows_] for a in arrs))
        return out

    return rep_loop, n_clusters


def cluster_bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    clusters: Any = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> CI:
    """Percentile cluster-bootstrap confidence interval of ``metric(*arrays)``.

    Whole clusters (e.g. ICU stays, whose hourly rows are dependent) are drawn with replacement,
    as many as there are clusters, and the metric is recomputed on the concatenation of their
    rows (Field & Welsh 2007; Davison & Hinkley 1997, section 3.8). Resampling rows instead would
    treat dependent rows as independent and give intervals that are too narrow.

    Parameters
    ----------
    metric : callable returning a float. Mean-type metrics (from
        :func:`~trustbench.metrics.bootstrap.mean_metric`) and metrics with a ``weighted``
        attribute (:func:`auroc`, :func:`auprc`; see the module docstring) are bootstrapped in
        vectorised form; other metrics are called once per replicate. All paths use the same
        draws, so they agree up to floating-point rounding.
    *arrays : arrays sharing their first (row) axis.
    clusters : one cluster label per row, or None (each row its own cluster: then the draws, and
        so the interval, are those of :func:`~trustbench.metrics.bootstrap.bootstrap_ci` with
        the same seed, except for the NaN rule below).
    n_boot : number of bootstrap replicates (>= 0).
    level : nominal coverage, in (0, 1).
    seed : integer seed or a ``numpy.random.Generator``.

    Returns
    -------
    CI
        ``n`` is the number of rows. A replicate may be NaN (e.g. AUROC of a resample with one
        class): NaN replicates are left out of the percentiles, but if more than 10% of them
        are NaN, ``low`` and ``high`` are NaN. They are NaN too for ``n_boot=0``, fewer than two
        clusters, or a NaN estimate.
    """
    if not callable(metric):
        raise TypeError(f"metric must be callable; got {short_repr(metric)}.")
    check_int(n_boot, "n_boot", minimum=0)
    check_level(level, "level")
    if isinstance(seed, np.random.Generator):
        rng = seed
    else:
        rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    arrs = _row_arrays(arrays)
    n = len(arrs[0])
    codes, n_clusters = _cluster_codes(clusters, n)

    estimate = float(metric(*arrs))
    if n_clusters < 2 or n_boot == 0 or np.isnan(estimate):
        return CI(estimate, np.nan, np.nan, n, level)
    replicate, width = _cluster_replicate_fn(metric, arrs, codes, n_clusters)
    step = max(1, _CHUNK_ELEMENTS // width)
    reps = np.concatenate(
        [
            replicate(rng.integers(0, n_clusters, size=(min(step, n_boot - s), n_clusters)))
            for s in range(0, n_boot, step)
        ]
    )
    ok = ~np.isnan(reps)
    if ok.mean() < 1 - _NAN_SHARE:
        return CI(estimate, np.nan, np.nan, n, level)
    low, high = np.quantile(reps[ok], [(1 - level) / 2, (1 + level) / 2])
    return CI(estimate, float(low), float(high), n, level)


def _row_arrays(arrays: Sequence[Any]) -> list[np.ndarray]:
    if not arrays:
        raise TypeError("cluster_bootstrap_ci needs at least one array after metric.")
    arrs = [np.asarray(a) for a in arrays]
    if any(a.ndim == 0 for a in arrs):
        raise ValueError("arrays must be arrays with a row axis; got a scalar.")
    n = len(arrs[0])
    for i, a in enumerate(arrs):
        if len(a) != n:
            raise ValueError(f"arrays[{i}] must have one row per row of arrays[0] ({n}); got {len(a)}.")
    if n == 0:
        raise ValueError("arrays must have at least one row; got 0.")
    return arrs
