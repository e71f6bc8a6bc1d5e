"""Scoring of ICU predictions: every metric with a stay-level (cluster) bootstrap CI.

Hourly rows of one stay are dependent, so confidence intervals resample **stays** (Field & Welsh
2007); on once-per-stay tasks that is the ordinary row bootstrap. Three kinds of prediction:

- binary: P(label = 1) per row — discrimination, calibration (equal-width and equal-mass ECE,
  calibration intercept and slope; Van Calster et al. 2019), Brier, net benefit (Vickers & Elkin
  2006), selective risk (AURC), conformal sets, and calibration against the **true** risk;
- regression: a Gaussian per row — MAE, RMSE, NLL, 90 % interval coverage and width;
- effect: an individual treatment effect per stay — PEHE (Hill 2011) and ATE error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MetricDef", "BINARY", "TRUE_RISK", "REGRESSION", "TRUE_MEAN", "EFFECT", "SUBGROUP", "METRICS_META",
           "DECISION_THRESHOLD", "ALPHA", "score_rows"]

DECISION_THRESHOLD = 0.1
"""Risk threshold of the decision rule used for net benefit and equalized odds (treat when p >= 10 %)."""
ALPHA = 0.1
"""Miscoverage of conformal prediction sets (90 % sets)."""


@dataclass(frozen=True)
class MetricDef:
    """A record metric: its function of the row arrays, its direction and what it means."""

    name: str
    fn: Callable[..., float]
    higher_is_better: bool | None
    ideal: float | None
    description: str


def _m(name, fn, hib, ideal, description) -> MetricDef:
    return MetricDef(name, fn, hib, ideal, description)


def _cm():
    from trustbench.metrics import classification as C

    return C


# each fn takes a dict of row arrays ("y", "p", "p_true", "sets", "mean", "std", "mu_true", "ite", "ite_hat")
BINARY = (
    _m("auroc", lambda a: _cm().auroc(a["y"], a["p"]), True, 1.0, "area under the ROC curve"),
    _m("auprc", lambda a: _cm().auprc(a["y"], a["p"]), True, 1.0, "average precision (area under the PR curve)"),
    _m("brier", lambda a: _cm().brier(a["y"], a["p"]), False, 0.0, "Brier score, mean (p - y)²"),
    _m("ece", lambda a: _cm().ece(a["y"], a["p"], n_bins=10, strategy="uniform"), False, 0.0,
       "expected calibration error, 10 equal-width bins"),
    _m("ece_mass", lambda a: _cm().ece(a["y"], a["p"], n_bins=10, strategy="quantile"), False, 0.0,
       "expected calibration error, 10 equal-mass bins"),
    _m("cal_intercept", lambda a: _cm().calibration_intercept(a["y"], a["p"]), None, 0.0,
       "calibration-in-the-large: intercept of logit(y) on the offset logit(p) (ideal 0)"),
    _m("cal_slope", lambda a: _cm().calibration_slope(a["y"], a["p"]), None, 1.0,
       "calibration slope: coefficient of logit(p) (ideal 1; < 1 = overfitted, too extreme)"),
    _m("net_benefit", lambda a: _cm().net_benefit(a["y"], a["p"], DECISION_THRESHOLD), True, None,
       f"net benefit of treating when p >= {DECISION_THRESHOLD:g} (Vickers & Elkin 2006)"),
    _m("aurc", lambda a: _cm().aurc(a["y"], a["p"]), False, 0.0,
       "area under the risk-coverage curve of selective prediction (abstaining on the least confident)"),
    _m("conformal_coverage", lambda a: _cm().set_coverage(a["y"], a["sets"]), None, 1 - ALPHA,
       f"coverage of split-conformal prediction sets at nominal {1 - ALPHA:g}"),
    _m("conformal_set_size", lambda a: _cm().set_size(a["sets"]), False, 1.0,
       "mean size of the conformal prediction sets (1 = decisive, 2 = abstains)"),
)
TRUE_RISK = (
    _m("true_risk_mae", lambda a: _cm().true_risk_mae(a["p_true"], a["p"]), False, 0.0,
       "mean |p - true risk| (synthetic data: the true probability is known)"),
    _m("true_risk_ece", lambda a: _cm().true_risk_ece(a["p_true"], a["p"], n_bins=10), False, 0.0,
       "calibration error against the true risk, 10 bins of p"),
)
REGRESSION = (
    _m("mae", lambda a: float(np.mean(np.abs(a["y"] - a["mean"]))), False, 0.0, "mean absolute error"),
    _m("rmse", lambda a: float(np.sqrt(np.mean((a["y"] - a["mean"]) ** 2))), False, 0.0, "root mean squared error"),
    _m("nll", lambda a: float(np.mean(0.5 * np.log(2 * np.pi * a["std"] ** 2) + 0.5 * ((a["y"] - a["mean"]) / a["std"]) ** 2)),
       False, None, "Gaussian negative log-likelihood"),
    _m("coverage_90", lambda a: _cm().interval_coverage(a["y"], a["lo"], a["hi"]), None, 0.9,
       "coverage of the central 90 % predictive interval"),
    _m("width_90", lambda a: float(np.mean(a["hi"] - a["lo"])), False, 0.0, "mean width of the 90 % interval"),
    _m("conformal_coverage", lambda a: _cm().interval_coverage(a["y"], a["clo"], a["chi"]), None, 1 - ALPHA,
       f"coverage of split-conformal intervals (normalised residuals) at nominal {1 - ALPHA:g}"),
)
TRUE_MEAN = (
    _m("truth_mae", lambda a: float(np.mean(np.abs(a["mean"] - a["mu_true"]))), False, 0.0,
       "mean |predicted mean - true conditional mean| (synthetic data)"),
)
EFFECT = (
    _m("pehe", lambda a: _cm().pehe(a["ite"], a["ite_hat"]), False, 0.0,
       "precision in estimating heterogeneous effects, RMSE of the ITE (Hill 2011)"),
    _m("ate_error", lambda a: _cm().ate_error(a["ite"], a["ite_hat"]), False, 0.0, "|estimated ATE - true ATE|"),
)
SUBGROUP = {"auroc", "brier", "ece", "conformal_coverage", "conformal_set_size", "true_risk_mae", "mae", "coverage_90"}
"""Metrics also reported per subgroup (``auroc[sex=Female]``) on clean test data."""

METRICS_META: dict[str, dict[str, Any]] = {
    d.name: {"higher_is_better": d.higher_is_better, "ideal": d.ideal, "description": d.description}
    for d in (*BINARY, *TRUE_RISK, *REGRESSION, *TRUE_MEAN, *EFFECT)
}
METRICS_META.update({
    "auroc_gap": {"higher_is_better": False, "ideal": 0.0, "description": "largest AUROC difference between subgroups"},
    "eq_odds_diff": {"higher_is_better": False, "ideal": 0.0,
                     "description": f"equalized-odds difference at p >= {DECISION_THRESHOLD:g} (max of TPR and FPR gaps)"},
    "mondrian_coverage": {"higher_is_better": None, "ideal": 1 - ALPHA,
                          "description": "coverage of group-conditional (Mondrian) conformal sets"},
})


def score_rows(defs, arrays: dict[str, np.ndarray], clusters: np.ndarray, *, n_boot: int, seed: int,
               suffix: str = "") -> list[dict[str, Any]]:
    """One record dict (metric, value, ci_low, ci_high, n) per metric, CIs by resampling ``clusters``."""
    from trustbench.metrics.classification import cluster_bootstrap_ci

    keys = sorted(arrays)
    out = []
    for d in defs:
        fn = (lambda *cols, _d=d: _d.fn(dict(zip(keys, cols))))
        ci = cluster_bootstrap_ci(fn, *(arrays[k] for k in keys), clusters=clusters, n_boot=n_boot, seed=seed)
        out.append({"metric": d.name + suffix, "value": float(ci.estimate), "ci_low": float(ci.low),
                    "ci_high": float(ci.high), "n": int(len(clusters))})
    return out
