"""The attribution protocol end to end: a small xai suite through the real runner into SQLite."""

from __future__ import annotations

import numpy as np
import pytest

from trustbench.domains.xai.benchmark import BENCHMARK, EXPLAINERS
from trustbench.metrics.hypothesis import holm, paired_wilcoxon
from trustbench.protocols import attribution as P
from trustbench.registry import BENCHMARKS, EXPLAINERS as EXPLAINER_REGISTRY, METHODS, TASKS
from trustbench.runner.api import run_suite
from trustbench.runner.config import SuiteError, load_suite
from trustbench.runner.grid import expand
from trustbench.runner.store import Store

SUITE = {
    "name": "xai-test", "seeds": [0], "n_boot": 50,
    "benchmarks": [{
        "name": "xai",
        "tasks": [{"name": "xai/suppressor_2d", "params": {"n_train": 2000, "n_test": 120, "correlation": 0.9}},
                  {"name": "xai/tris", "params": {"scenario": "lin", "size": 8, "n_train": 600, "n_test": 60}}],
        "methods": ["logistic", {"name": "cnn", "params": {"epochs": 5}}],
        "explainers": ["saliency", "haufe_pattern", "pattern_attribution", "guided_gradcam",
                       "random", "input", "sobel", "laplace"],
    }],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xai")
    summary = run_suite(SUITE, out=out, progress=False)
    store = Store(out / "trustbench.sqlite")
    return out, summary, store, store.records(), store.artifacts()


def test_cells_per_task_and_model_that_applies(run):
    _, summary, store, _, _ = run
    assert summary.n_failed == 0, summary.failures
    pairs = set(zip(store.cells().task, store.cells().method))
    # the CNN takes images only
    assert pairs == {("xai/suppressor_2d", "logistic"), ("xai/tris/lin/white/8", "logistic"),
                     ("xai/tris/lin/white/8", "cnn(epochs=5)")}


def test_records_only_for_explainers_that_apply(run):
    records = run[3]
    methods = set(records[records.task == "xai/suppressor_2d"].method)
    # no edge filters on a vector, no GradCAM without a convolution, Haufe only for a linear model
    assert methods == {"logistic", *(f"logistic/{e}" for e in ("saliency", "haufe_pattern", "pattern_attribution",
                                                                "random", "input"))}
    cnn = set(records[records.method.str.startswith("cnn")].method)
    assert "cnn(epochs=5)/guided_gradcam" in cnn and "cnn(epochs=5)/haufe_pattern" not in cnn
    assert "cnn(epochs=5)/sobel" in cnn


def test_values_and_cis_are_the_per_sample_means(run):
    _, _, _, records, arts = run
    scores = arts[(arts.task == "xai/tris/lin/white/8") & (arts.name == "attribution_scores")
                  & (arts.method == "logistic")].value.iloc[0]
    r = records[(records.task == "xai/tris/lin/white/8") & (records.method == "logistic/saliency")].set_index("metric")
    for metric in ("precision_at_k", "emd_score", "attribution_auroc", "attribution_ap", "relevance_mass_accuracy"):
        per_sample = np.array(scores["scores"]["saliency"][metric], dtype=float)
        assert r.loc[metric, "value"] == pytest.approx(per_sample.mean(), abs=1e-4)  # artifact is rounded to 1e-4
        assert r.loc[metric, "ci_low"] <= r.loc[metric, "value"] <= r.loc[metric, "ci_high"]
        assert r.loc[metric, "n"] == len(per_sample)
    model = arts[(arts.task == "xai/tris/lin/white/8") & (arts.name == "attribution_model")
                 & (arts.method == "logistic")].value.iloc[0]
    acc = records[(records.task == "xai/tris/lin/white/8") & (records.method == "logistic")
                  & (records.metric == "test_accuracy")].iloc[0]
    assert model["n_evaluated"] == model["n_correct"] == acc.n * acc.value == pytest.approx(len(per_sample))


def test_suppressor_scenario_separates_gradients_from_patterns(run):
    """Wilming et al. (2022): gradients of the suppressor-using model put weight on the suppressor,
    the activation pattern and PatternAttribution do not."""
    records = run[3]
    share = records[(records.task == "xai/suppressor_2d") & (records.metric == "suppressor_share")].set_index("method").value
    assert share["logistic/saliency"] > 0.35
    assert share["logistic/haufe_pattern"] < 0.1 and share["logistic/pattern_attribution"] < 0.1


def test_holm_adjusted_wilcoxon_against_baselines(run):
    _, _, _, records, arts = run
    cell = arts[(arts.task == "xai/tris/lin/white/8") & (arts.method == "logistic")]
    scores = cell[cell.name == "attribution_scores"].value.iloc[0]["scores"]
    r = records[(records.task == "xai/tris/lin/white/8") & records.method.str.startswith("logistic/")
                & records.metric.str.startswith("p_holm[emd_score")]
    explainers = [e for e in scores if e not in ("random", "input", "sobel", "laplace")]
    keys = [(e, b) for e in explainers for b in ("random", "sobel", "laplace")]
    raw = [paired_wilcoxon(scores[e]["emd_score"], scores[b]["emd_score"]) for e, b in keys]
    expected = dict(zip(keys, holm(raw)))
    got = {(m.split("/", 1)[1], metric.split(" vs ")[1][:-1]): v for m, metric, v in zip(r.method, r.metric, r.value)}
    assert got.keys() == expected.keys()
    for key, p in expected.items():  # recomputed from the rounded per-sample artifact: same up to ties
        assert got[key] == pytest.approx(p, rel=0.05, abs=1e-6)
    assert got[("saliency", "random")] < P.ALPHA  # a trained linear model's gradient beats random noise


def test_artifacts_hold_examples_for_the_report(run):
    arts = run[4]
    ex = arts[(arts.task == "xai/tris/lin/white/8") & (arts.method == "logistic")
              & (arts.name == "attribution_examples")].value.iloc[0]
    assert ex["shape"] == [8, 8] and sorted(ex["labels"]) == [0, 1]
    assert set(ex["maps"]) == {"saliency", "haufe_pattern", "pattern_attribution", "random", "input", "sobel", "laplace"}
    for maps in ex["maps"].values():
        a = np.array(maps)
        assert a.shape == (2, 8, 8) and np.abs(a).max() == pytest.approx(1.0)
    assert np.array(ex["masks"]).sum(axis=(1, 2)).tolist() == [4, 4]  # a tetromino has four cells


def test_grid_needs_explainers_and_names_are_checked():
    entry = {k: v for k, v in SUITE["benchmarks"][0].items() if k != "explainers"}
    with pytest.raises(ValueError, match="explainers"):
        P.grid("s", "xai", entry, [0])
    bad = {**SUITE, "benchmarks": [{**SUITE["benchmarks"][0], "explainers": ["saliancy"]}]}
    with pytest.raises(SuiteError, match=r"explainers\[0\].*unknown explainer 'saliancy'.*saliency"):
        load_suite(bad)
    bad = {**SUITE, "benchmarks": [{**SUITE["benchmarks"][0],
                                    "explainers": ["saliency", {"name": "occlusion", "params": {"window": 0}}]}]}
    with pytest.raises(SuiteError, match=r"explainers\[1\].*window must be >= 1; got 0"):
        load_suite(bad)  # parameters are checked before any work


def test_benchmark_registered_and_presets_expand():
    assert BENCHMARKS.load("xai") is BENCHMARK
    for name, preset in BENCHMARK.presets.items():
        for item in preset["tasks"]:
            assert item["name"] in TASKS.names()
        for item in preset["methods"]:
            assert (item if isinstance(item, str) else item["name"]) in METHODS.names()
        names = [e if isinstance(e, str) else e["name"] for e in preset["explainers"]]
        assert sorted(names) == sorted(EXPLAINERS) and set(names) <= set(EXPLAINER_REGISTRY.names())
    full = BENCHMARK.presets["full"]
    tris = {(t["params"]["scenario"], t["params"]["background"], t["params"]["size"])
            for t in full["tasks"] if t["name"] == "xai/tris"}
    assert tris == {(s, b, z) for s in ("lin", "mult", "rigid", "xor") for b in ("white", "corr") for z in (8, 64)}
    cells = expand(load_suite({"name": "q", "preset": "quick", "benchmarks": ["xai"]}))
    assert len(cells) == 13 and all(c.explainers for c in cells)
