"""Metrics: pure functions over arrays, each with a bootstrap confidence interval.

Families: :mod:`~trustbench.metrics.scores` (point errors and proper scoring rules),
:mod:`~trustbench.metrics.calibration` (PIT, coverage, ENCE, sharpness),
:mod:`~trustbench.metrics.distances` (W1, Gaussian KL), :mod:`~trustbench.metrics.bootstrap`
(percentile-bootstrap CIs), :mod:`~trustbench.metrics.attribution` (explanations against ground-truth importance masks),
:mod:`~trustbench.metrics.sources` (source maps against true sources, ICA unmixing against the mixing),
:mod:`~trustbench.metrics.classification` (discrimination,
calibration, decision curves, fairness gaps, conformal sets, treatment effects) and :mod:`~trustbench.metrics.predictive` (scoring of predictive
distributions: the metric specs a predictive cell reports). Importing this package loads numpy
and the trustbench core only; scipy.special is imported by the functions that use it.
"""

from trustbench.metrics.attribution import (
    attribution_ap,
    attribution_auroc,
    emd_score,
    grid_emd,
    precision_at_k,
    relevance_mass_accuracy,
    suppressor_share,
)
from trustbench.metrics.bootstrap import CI, bind, bootstrap_ci, mean_metric, paired_bootstrap_ci
from trustbench.metrics.calibration import (
    coverage_curve,
    coverage_error,
    ence,
    pit_calibration_error,
    pit_histogram,
    sharpness,
)
from trustbench.metrics.classification import (
    aurc,
    auroc,
    auprc,
    ate_error,
    brier,
    calibration_curve,
    calibration_intercept,
    calibration_intercept_slope,
    calibration_slope,
    cluster_bootstrap_ci,
    decision_curve,
    ece,
    equalized_odds_difference,
    group_gap,
    log_loss,
    max_gap,
    net_benefit,
    pehe,
    risk_coverage_curve,
    set_coverage,
    set_size,
    subgroup_metric,
    true_risk_ece,
    true_risk_mae,
)
from trustbench.metrics.distances import gaussian_kl, wasserstein_1d, wasserstein_quantiles
from trustbench.metrics.predictive import (
    COVERAGE_90,
    COVERAGE_ERROR,
    CRPS,
    ENCE,
    GUM_COVERAGE,
    INTERVAL_SCORE_90,
    LEVELS,
    MAE,
    NLL,
    PIT_CALIBRATION_ERROR,
    REFERENCE_KL,
    REFERENCE_W1,
    RMSE,
    SHARPNESS,
    SPECS,
    TRUTH_KL,
    TRUTH_W1,
    WIDTH_90,
    EvalContext,
    MetricSpec,
    Summary,
    crps,
    crps_quadrature,
    score,
)
from trustbench.metrics.scores import (
    crps_gaussian,
    crps_mixture,
    crps_samples,
    crps_student_t,
    gaussian_nll,
    interval_coverage,
    interval_score,
    interval_width,
    mae,
    mean_score,
    pinball_loss,
    rmse,
)
from trustbench.metrics.sources import (
    amari_distance,
    centre_of_gravity_error,
    peak_localization_error,
    source_emd,
    spatial_dispersion,
)

__all__ = [
    "CI", "bind", "bootstrap_ci", "paired_bootstrap_ci", "mean_metric",
    "rmse", "mae", "gaussian_nll", "crps_gaussian", "crps_student_t", "crps_samples", "crps_mixture",
    "pinball_loss", "interval_coverage", "interval_width", "interval_score", "mean_score",
    "pit_calibration_error", "coverage_error", "coverage_curve", "pit_histogram", "ence", "sharpness",
    "wasserstein_1d", "wasserstein_quantiles", "gaussian_kl",
    "LEVELS", "Summary", "crps", "crps_quadrature", "EvalContext", "MetricSpec", "score", "SPECS",
    "RMSE", "MAE", "NLL", "CRPS", "COVERAGE_90", "WIDTH_90", "INTERVAL_SCORE_90", "COVERAGE_ERROR",
    "PIT_CALIBRATION_ERROR", "ENCE", "SHARPNESS", "GUM_COVERAGE", "TRUTH_W1", "TRUTH_KL",
    "REFERENCE_W1", "REFERENCE_KL",
    "auroc", "auprc", "brier", "log_loss", "ece", "calibration_curve", "calibration_intercept_slope",
    "calibration_slope", "calibration_intercept", "true_risk_ece", "true_risk_mae", "net_benefit",
    "decision_curve", "subgroup_metric", "max_gap", "group_gap", "equalized_odds_difference", "set_coverage",
    "set_size", "pehe", "ate_error", "risk_coverage_curve", "aurc", "cluster_bootstrap_ci",
    "precision_at_k", "emd_score", "grid_emd", "attribution_auroc", "attribution_ap", "relevance_mass_accuracy",
    "suppressor_share",
    "amari_distance", "peak_localization_error", "centre_of_gravity_error", "spatial_dispersion", "source_emd",
]
