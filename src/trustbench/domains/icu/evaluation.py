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
from dataclasses import dataclass, field
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
    """A record metric: ``metric(*arrays[args], **params)``, its direction and what it means."""

    name: str
    metric: Callable[..., float]
    args: tuple[str, ...]
    higher_is_better: bool | None
    ideal: float | None
    description: str
    params: dict[str, Any] = field(default_factory=dict)

    def bound(self) -> Callable[..., float]:
        """The metric with its parameters fixed, keeping its fast bootstrap forms."""
        from trustbench.metrics.bootstrap import bind

        return bind(self.metric, **self.params)


def _defs(*specs) -> tuple[MetricDef, ...]:
    """MetricDefs from (name, function name in trustbench.metrics, args, hib, ideal, description[, params])."""
    import trustbench.metrics as M

    return tuple(MetricDef(name, getattr(M, fn), tuple(args.split()), hib, ideal, desc, *extra)
                 for name, fn, args, hib, ideal, desc, *extra in specs)


# arrays: "y", "p", "p_true", "sets", "mean", "std", "lo", "hi", "clo", "chi", "mu_true", "ite", "ite_hat"
BINARY = _defs(
    ("auroc", "auroc", "y p", True, 1.0, "area under the ROC curve"),
    ("auprc", "auprc", "y p", True, 1.0, "average precision (area under the PR curve)"),
    ("brier", "brier", "y p", False, 0.0, "Brier score, mean (p - y)²"),
    ("ece", "ece", "y p", False, 0.0, "expected calibration error, 10 equal-width bins",
     {"n_bins": 10, "strategy": "uniform"}),
    ("ece_mass", "ece", "y p", False, 0.0, "expected calibration error, 10 equal-mass bins",
     {"n_bins": 10, "strategy": "quantile"}),
    ("cal_intercept", "calibration_intercept", "y p", None, 0.0,
     "calibration-in-the-large: intercept of logit(y) on the offset logit(p) (ideal 0)"),
    ("cal_slope", "calibration_slope", "y p", None, 1.0,
     "calibration slope: coefficient of logit(p) (ideal 1; < 1 = overfitted, too extreme)"),
    ("net_benefit", "net_benefit", "y p", True, None,
     f"net benefit of treating when p >= {DECISION_THRESHOLD:g} (Vickers & Elkin 2006)",
     {"threshold": DECISION_THRESHOLD}),
    ("aurc", "aurc", "y p", False, 0.0,
     "area under the risk-coverage curve of selective prediction (abstaining on the least confident)"),
    ("conformal_coverage", "set_coverage", "y sets", None, 1 - ALPHA,
     f"coverage of split-conformal prediction sets at nominal {1 - ALPHA:g}"),
    ("conformal_set_size", "set_size", "sets", False, 1.0,
     "mean size of the conformal prediction sets (1 = decisive, 2 = abstains)"),
)
TRUE_RISK = _defs(
    ("true_risk_mae", "true_risk_mae", "p_true p", False, 0.0,
     "mean |p - true risk| (synthetic data: the true probability is known)"),
    ("true_risk_ece", "true_risk_ece", "p_true p", False, 0.0, "calibration error against the true risk, 10 bins of p",
     {"n_bins": 10}),
)
REGRESSION = _defs(
    ("mae", "mae", "y mean", False, 0.0, "mean absolute error"),
    ("rmse", "rmse", "y mean", False, 0.0, "root mean squared error"),
    ("nll", "gaussian_nll", "y mean std", False, None, "Gaussian negative log-likelihood"),
    ("coverage_90", "interval_coverage", "y lo hi", None, 0.9, "coverage of the central 90 % predictive interval"),
    ("width_90", "interval_width", "lo hi", False, 0.0, "mean width of the 90 % interval"),
    ("conformal_coverage", "interval_coverage", "y clo chi", None, 1 - ALPHA,
     f"coverage of split-conformal intervals (normalised residuals) at nominal {1 - ALPHA:g}"),
)
TRUE_MEAN = _defs(
    ("truth_mae", "mae", "mu_true mean", False, 0.0, "mean |predicted mean - true conditional mean| (synthetic data)"),
)
EFFECT = _defs(
    ("pehe", "pehe", "ite ite_hat", False, 0.0,
     "precision in estimating heterogeneous effects, RMSE of the ITE (Hill 2011)"),
    ("ate_error", "ate_error", "ite ite_hat", False, 0.0, "|estimated ATE - true ATE|"),
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

    out = []
    for d in defs:
        ci = cluster_bootstrap_ci(d.bound(), *(arrays[k] for k in d.args), clusters=clusters, n_boot=n_boot, seed=seed)
        out.append({"metric": d.name + suffix, "value": float(ci.estimate), "ci_low": float(ci.low),
                    "ci_high": float(ci.high), "n": int(len(clusters))})
    return out
