"""The explainable-AI benchmark: do attribution methods find the features that are truly associated
with the target — and do they stay off suppressors — better than model-free baselines?"""

from __future__ import annotations

from trustbench.protocols.attribution import METRICS_META
from trustbench.types import Benchmark

__all__ = ["BENCHMARK", "EXPLAINERS", "BASELINES"]

BASELINES = ["random", "input", "sobel", "laplace"]
EXPLAINERS = [
    "saliency", "input_x_gradient", "integrated_gradients", "deeplift", "deeplift_shap", "gradient_shap",
    "guided_backprop", "deconvolution", "guided_gradcam", "lrp_epsilon", "occlusion", "lime", "kernel_shap",
    "shapley_sampling", "pattern_net", "pattern_attribution", "haufe_pattern", "permutation_importance",
    *BASELINES,
]
# cheaper sample counts for the quick suite (the full suite uses each explainer's defaults)
_QUICK_EXPLAINERS = [
    {"name": e, "params": {"n_samples": 64}} if e in ("lime", "kernel_shap") else e for e in EXPLAINERS
]


def _tris(scenario: str, background: str, size: int, **params) -> dict:
    return {"name": "xai/tris", "params": {"scenario": scenario, "background": background, "size": size, **params}}


BENCHMARK = Benchmark(
    name="xai",
    question=(
        "Do attribution methods mark the features that are truly associated with the target — and not "
        "suppressors, which a model uses only to cancel noise — better than model-free baselines (random, "
        "the input, edge filters), on problems whose ground-truth importance is known?"
    ),
    protocol="attribution",
    description=(
        "Ground truth is statistical association with the target (Haufe et al. 2014; Wilming et al. 2022). "
        "Problems: the analytic two-feature suppressor, linear 8x8 images with a suppressor, the XAI-TRIS "
        "scenarios LIN, MULT, RIGID and XOR on white and correlated backgrounds at 8x8 and 64x64 (Clark et al. "
        "2024), and a clinical-style table with confounders and suppressors. Models: logistic regression, MLP, "
        "CNN; explanations of correctly classified test samples. Metrics with bootstrap CIs; each explainer "
        "is tested against the random and edge-filter baselines (one-sided paired Wilcoxon, Holm-corrected). "
        "See src/trustbench/domains/xai/README.md."
    ),
    metrics=METRICS_META,
    presets={
        "quick": {
            "tasks": [
                {"name": "xai/suppressor_2d", "params": {"n_train": 1000, "n_test": 200}},
                {"name": "xai/linear_8x8", "params": {"n_train": 1500, "n_test": 120}},
                _tris("lin", "white", 8, n_train=1500, n_test=120),
                _tris("xor", "corr", 8, n_train=1500, n_test=120),
                {"name": "xai/clinical", "params": {"n_train": 3000, "n_test": 200}},
            ],
            "methods": ["logistic", "mlp_classifier", "cnn"],
            "explainers": _QUICK_EXPLAINERS,
            "seeds": [0],
            "n_boot": 200,
        },
        "full": {
            "tasks": [
                {"name": "xai/suppressor_2d"},
                {"name": "xai/linear_8x8"},
                *[_tris(s, b, size, n_train=8000 if size == 64 else 4000, n_test=500)
                  for size in (8, 64) for s in ("lin", "mult", "rigid", "xor") for b in ("white", "corr")],
                {"name": "xai/clinical"},
            ],
            "methods": ["logistic", "mlp_classifier", "cnn"],
            "explainers": EXPLAINERS,
            "seeds": [0, 1, 2],
            "n_boot": 1000,
        },
    },
)
