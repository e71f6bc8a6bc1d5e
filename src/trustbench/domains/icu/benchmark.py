"""The ICU benchmark: how good, calibrated, fair, robust and transferable are clinical prediction models
on real ICU cohorts and on a synthetic ICU whose true risks are known?"""

from __future__ import annotations

from trustbench.domains.icu.evaluation import METRICS_META
from trustbench.types import Benchmark

__all__ = ["BENCHMARK"]

_PERTURBATIONS_QUICK = [
    {"name": "icu_noise", "severities": [0.1, 0.25, 0.5]},
    {"name": "icu_missing_mnar", "severities": [0.1, 0.3, 0.5]},
    {"name": "icu_unit_errors", "severities": [0.05, 0.2, 0.5]},
    {"name": "icu_downsample", "severities": [2, 4, 8]},
]
_PERTURBATIONS_FULL = [
    *_PERTURBATIONS_QUICK,
    {"name": "icu_missing_mcar", "severities": [0.1, 0.3, 0.5]},
    {"name": "icu_missing_mar", "severities": [0.1, 0.3, 0.5]},
    {"name": "icu_outliers", "severities": [0.01, 0.05, 0.1]},
]


def _yaib(cohort: str, source: str, test_source: str | None = None) -> dict:
    params = {"cohort": cohort, "source": source}
    if test_source:
        params["test_source"] = test_source
    return {"name": "icu/yaib", "params": params}


def _synthetic(endpoint: str, n_stays: int, test_site: str | None = None) -> dict:
    params = {"endpoint": endpoint, "n_stays": n_stays}
    if test_site:
        params["test_site"] = test_site
    return {"name": "icu/synthetic", "params": params}


_GRU_QUICK = {"name": "gru", "params": {"epochs": 8}}

BENCHMARK = Benchmark(
    name="icu",
    question=(
        "How good are clinical prediction models for the ICU when measured on every axis a clinic needs — "
        "discrimination, calibration (against the true risk where it is known), fairness across sex and "
        "age, robustness to measurement error, missing data, unit errors and sparser sampling, uncertainty "
        "(conformal sets, selective prediction) and transfer to another hospital — each with a CI?"
    ),
    protocol="trustbench.domains.icu.protocol",
    description=(
        "Real cohorts: the MIMIC-III and eICU demo databases in the YAIB format (ODbL; "
        "src/trustbench/domains/icu/data/NOTICE.md) — mortality after 24 h, hourly AKI onset within 6 h, "
        "creatinine (kidney function) and remaining length of stay — within each site and across sites. "
        "Synthetic ICU: a latent-physiology structural causal model with known risks, sites with "
        "configurable shift, and a confounded treatment with a known individual effect. Confidence "
        "intervals resample stays. See src/trustbench/domains/icu/README.md."
    ),
    metrics=METRICS_META,
    presets={
        "quick": {
            "tasks": [
                _yaib("mortality24", "eicu_demo"),
                _yaib("mortality24", "eicu_demo", "mimic_demo"),
                _yaib("kidney_function", "eicu_demo"),
                _synthetic("mortality", 2000),
                _synthetic("mortality", 2000, "B"),
                _synthetic("effect", 2000),
            ],
            "methods": ["logreg", "lightgbm", _GRU_QUICK,
                        {"name": "recalibrated", "params": {"base": "lightgbm", "how": "platt"}},
                        "t_learner", "dr_learner"],
            "perturbations": _PERTURBATIONS_QUICK,
            "seeds": [0],
            "n_boot": 200,
        },
        "full": {
            "tasks": [
                *[_yaib(c, s) for c in ("mortality24", "aki", "kidney_function", "los") for s in ("mimic_demo", "eicu_demo")],
                *[_yaib(c, s, t) for c in ("mortality24", "aki", "kidney_function", "los")
                  for s, t in (("mimic_demo", "eicu_demo"), ("eicu_demo", "mimic_demo"))],
                *[_synthetic(e, 5000) for e in ("mortality", "aki", "delirium", "kidney_function", "effect")],
                _synthetic("mortality", 5000, "B"),
                _synthetic("aki", 5000, "B"),
            ],
            "methods": ["logreg", "lightgbm", "gru", "transformer", {"name": "gru", "params": {"n_members": 5}},
                        *[{"name": "recalibrated", "params": {"base": "lightgbm", "how": h}}
                          for h in ("temperature", "platt", "isotonic")],
                        "s_learner", "t_learner", "dr_learner"],
            "perturbations": _PERTURBATIONS_FULL,
            "seeds": [0, 1, 2],
            "n_boot": 1000,
        },
    },
)
