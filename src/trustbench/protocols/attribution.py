"""The attribution protocol: fit a model, explain its correct test decisions, score the explanations
against the ground-truth importance, and test every explainer against model-free baselines.

A cell is (task, model, seed) with the suite's list of **explainers**. The task gives ``train`` and
``test`` data with per-sample ground-truth ``mask`` (and ``suppressor``) arrays. The model is fitted
once; its test accuracy is recorded (method = the model); every explainer that applies to it
explains the correctly classified test samples for their true class (Clark et al. 2024), and each
explanation is scored per sample by the attribution metrics (:mod:`trustbench.metrics.attribution`).

Records (method ``<model>/<explainer>``): the mean of each metric with a percentile-bootstrap CI
over samples, ``seconds_per_sample``, and ``p_holm[<metric> vs <baseline>]``: the one-sided paired
Wilcoxon signed-rank p-value that the explainer beats the baseline (``random``, ``sobel``,
``laplace``) on that metric, Holm-adjusted over all explainers × baselines of the cell and metric.
An explainer "does not beat" a baseline when that p-value is ≥ :data:`ALPHA`.

Artifacts: ``attribution_model`` (accuracy, counts), ``attribution_scores`` (per-sample scores of
every explainer, for box plots), ``attribution_examples`` (one correctly classified sample per class
with every explainer's map, normalised to max |a| = 1).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from trustbench.protocols.predictive import _entry_field, as_spec, make_method, make_task, task_method_cells
from trustbench.runner.cells import Cell, CellResult

__all__ = ["grid", "run_cell", "score_attributions", "METRICS", "METRICS_META", "TEST_BASELINES", "ALPHA"]

PROTOCOL = "attribution"
ALPHA = 0.05
TEST_BASELINES = ("random", "sobel", "laplace")
"""Baselines every explainer is tested against (by explainer name in the suite)."""

METRICS = ("precision_at_k", "emd_score", "attribution_auroc", "attribution_ap", "relevance_mass_accuracy",
           "suppressor_share")
METRICS_META = {
    "test_accuracy": {"higher_is_better": True, "ideal": 1.0,
                      "description": "accuracy of the model on the test set (explanations are evaluated on its correct decisions)"},
    "precision_at_k": {"higher_is_better": True, "ideal": 1.0,
                       "description": "share of the k = |mask| features with the largest |attribution| that lie in the ground-truth mask"},
    "emd_score": {"higher_is_better": True, "ideal": 1.0,
                  "description": "1 - EMD/D between normalised |attribution| and the mask on the pixel grid (XAI-TRIS)"},
    "attribution_auroc": {"higher_is_better": True, "ideal": 1.0,
                          "description": "AUROC of |attribution| for telling mask features from the rest"},
    "attribution_ap": {"higher_is_better": True, "ideal": 1.0,
                       "description": "average precision of |attribution| for the mask features"},
    "relevance_mass_accuracy": {"higher_is_better": True, "ideal": 1.0,
                                "description": "share of |attribution| inside the mask"},
    "suppressor_share": {"higher_is_better": False, "ideal": 0.0,
                         "description": "share of |attribution| on suppressor features (no association with the target)"},
    "seconds_per_sample": {"higher_is_better": False, "ideal": 0.0,
                           "description": "wall time of the explainer per explained sample"},
}


def _supports(model, task) -> bool:
    return model.supports(task) if hasattr(model, "supports") else True


def grid(suite: str, benchmark: str, entry: Any, seeds: Iterable[int]) -> list[Cell]:
    """One cell per (task, model, seed) the model supports, each with the entry's explainers."""
    explainers = tuple(as_spec(e) for e in _entry_field(entry, "explainers", ()) or ())
    if not explainers:
        raise ValueError(f"benchmark {benchmark!r}: the attribution protocol needs `explainers` in the suite entry.")
    return task_method_cells(suite, benchmark, entry, seeds, protocol=PROTOCOL, supports=_supports,
                             explainers=explainers)


# ----------------------------------------------------------------------------- scoring


def score_attributions(attribution: np.ndarray, mask: np.ndarray, suppressor: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-sample scores of a batch of attributions against its masks (every metric of :data:`METRICS`
    that applies: ``suppressor_share`` only where some sample has a suppressor)."""
    from trustbench.metrics import attribution as A

    nd = mask.ndim - 1
    out = {
        "precision_at_k": A.precision_at_k(attribution, mask, sample_ndim=nd),
        "emd_score": A.emd_score(attribution, mask, sample_ndim=nd),
        "attribution_auroc": A.attribution_auroc(attribution, mask, sample_ndim=nd),
        "attribution_ap": A.attribution_ap(attribution, mask, sample_ndim=nd),
        "relevance_mass_accuracy": A.relevance_mass_accuracy(attribution, mask, sample_ndim=nd),
    }
    if suppressor is not None and suppressor.reshape(len(suppressor), -1).any(axis=1).all():
        out["suppressor_share"] = A.suppressor_share(attribution, suppressor, sample_ndim=nd)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _tests(scores: dict[str, dict[str, np.ndarray]], baselines: set[str]) -> dict[tuple[str, str, str], float]:
    """Holm-adjusted one-sided Wilcoxon p-values: (explainer, metric, baseline) -> p."""
    from trustbench.metrics.hypothesis import holm, paired_wilcoxon

    out = {}
    refs = [b for b in TEST_BASELINES if b in scores]
    metrics = sorted({m for s in scores.values() for m in s})
    for metric in metrics:
        keys, raw = [], []
        for name, s in scores.items():
            if name in baselines or metric not in s:
                continue
            for ref in refs:
                if metric in scores[ref]:
                    keys.append((name, metric, ref))
                    raw.append(paired_wilcoxon(s[metric], scores[ref][metric],
                                               higher_is_better=METRICS_META[metric]["higher_is_better"]))
        out.update(zip(keys, holm(raw)))
    return out


def _normalised(a: np.ndarray) -> list:
    top = np.abs(a).max()
    return np.round(a / top if top > 0 else a, 3).tolist()


def _example_indices(y: np.ndarray) -> list[int]:
    """The first evaluated sample of each class."""
    return [int(np.flatnonzero(y == c)[0]) for c in (0, 1) if (y == c).any()]


def run_cell(cell: Cell, inputs: dict[str, Any] | None = None) -> CellResult:
    from trustbench.metrics.bootstrap import bootstrap_ci, finite_mean_ci, mean_metric
    from trustbench.registry import EXPLAINERS

    from trustbench.explain.base import Context

    start = time.perf_counter()
    task = make_task(cell.task)
    split = task.make(cell.seed)
    model = make_method(cell.method, task).fit(split.train.X, split.train.y, seed=cell.seed)
    test = split.test
    correct = np.asarray(model.predict_proba(test.X)).argmax(axis=1) == test.y
    model_name = cell.method.label()
    base = {"benchmark": cell.benchmark, "task": cell.task_name, "perturbation": "none", "severity": 0.0,
            "seed": cell.seed}
    acc = bootstrap_ci(mean_metric(lambda c: c), correct.astype(float), n_boot=cell.n_boot, seed=cell.seed)
    records = [{**base, "method": model_name, "metric": "test_accuracy", "value": acc.estimate,
                "ci_low": acc.low, "ci_high": acc.high, "n": acc.n}]
    idx = np.flatnonzero(correct)
    X, y, mask = test.X[idx], test.y[idx], test.mask[idx]
    suppressor = test.suppressor[idx] if test.suppressor.any() else None
    context = Context(split.train.X, split.train.y, cell.seed)
    scores: dict[str, dict[str, np.ndarray]] = {}
    maps: dict[str, list] = {}
    baselines: set[str] = set()
    examples = _example_indices(y)
    for spec in cell.explainers:
        explainer = EXPLAINERS.create(spec.name, **spec.params)
        if len(idx) == 0 or not explainer.supports(model, X.shape[1:]):
            continue
        label = spec.label()
        if getattr(explainer, "baseline", False):
            baselines.add(label)
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # captum warns about hooks and sample counts on every call
            warnings.simplefilter("ignore")
            attribution = np.asarray(explainer.explain(model, X, y, context=context), dtype=float)
        seconds = (time.perf_counter() - t0) / len(idx)
        if attribution.shape != X.shape:
            raise ValueError(f"explainer {label!r} returned shape {attribution.shape}; expected {X.shape}.")
        scores[label] = score_attributions(attribution, mask, suppressor)
        maps[label] = [_normalised(attribution[i]) for i in examples]
        records.append({**base, "method": f"{model_name}/{label}", "metric": "seconds_per_sample", "value": seconds,
                        "ci_low": np.nan, "ci_high": np.nan, "n": len(idx)})
        for metric, values in scores[label].items():
            ci = finite_mean_ci(values, n_boot=cell.n_boot, seed=cell.seed)
            records.append({**base, "method": f"{model_name}/{label}", "metric": metric, "value": ci.estimate,
                            "ci_low": ci.low, "ci_high": ci.high, "n": ci.n})
    for (name, metric, ref), p in _tests(scores, baselines).items():
        records.append({**base, "method": f"{model_name}/{name}", "metric": f"p_holm[{metric} vs {ref}]",
                        "value": p, "ci_low": np.nan, "ci_high": np.nan, "n": int(np.isfinite(scores[name][metric]).sum())})
    artifacts = {
        "attribution_model": {"model": model_name, "test_accuracy": acc.estimate, "n_test": len(test.y),
                              "n_correct": int(correct.sum()), "n_evaluated": len(idx)},
        "attribution_scores": {"metrics": sorted({m for s in scores.values() for m in s}),
                               "baselines": sorted(baselines), "alpha": ALPHA,
                               "scores": {k: {m: np.round(v, 4) for m, v in s.items()} for k, s in scores.items()}},
        "attribution_examples": {
            "shape": list(X.shape[1:]), "feature_names": getattr(task, "feature_names", None),
            "inputs": [np.round(X[i], 3).tolist() for i in examples], "masks": [mask[i].tolist() for i in examples],
            "suppressors": None if suppressor is None else [suppressor[i].tolist() for i in examples],
            "labels": [int(y[i]) for i in examples], "maps": maps},
    }
    return CellResult(key=cell.key, records=records, artifacts=artifacts, seconds=time.perf_counter() - start)
