"""The icu benchmark's presets cover what the issue promises, and expand into cells without error."""

from __future__ import annotations

from trustbench.domains.icu.benchmark import BENCHMARK
from trustbench.domains.icu.synthetic import ENDPOINTS
from trustbench.domains.icu.yaib import DEMO_SOURCES, DEMO_TASKS
from trustbench.registry import BENCHMARKS, METHODS, PERTURBATIONS, TASKS
from trustbench.runner.config import load_suite
from trustbench.runner.grid import expand


def names(items):
    return [i if isinstance(i, str) else i["name"] for i in items]


def test_registered_and_described():
    assert BENCHMARKS.load("icu") is BENCHMARK
    for preset in BENCHMARK.presets.values():
        assert all(n in TASKS.names() for n in names(preset["tasks"]))
        assert all(n in METHODS.names() for n in names(preset["methods"]))
        assert all(n in PERTURBATIONS.names() for n in names(preset["perturbations"]))
        assert all(len(p["severities"]) >= 3 for p in preset["perturbations"])


def test_full_preset_covers_every_cohort_endpoint_transfer_model_and_perturbation():
    full = BENCHMARK.presets["full"]
    yaib = [t["params"] for t in full["tasks"] if t["name"] == "icu/yaib"]
    assert {(p["cohort"], p["source"]) for p in yaib} == {(c, s) for c in DEMO_TASKS for s in DEMO_SOURCES}
    assert {(p["source"], p["test_source"]) for p in yaib if "test_source" in p} == {
        ("mimic_demo", "eicu_demo"), ("eicu_demo", "mimic_demo")}
    synthetic = [t["params"] for t in full["tasks"] if t["name"] == "icu/synthetic"]
    assert {p["endpoint"] for p in synthetic} == set(ENDPOINTS) and any("test_site" in p for p in synthetic)
    assert set(names(full["methods"])) == {"logreg", "lightgbm", "gru", "transformer", "recalibrated",
                                           "s_learner", "t_learner", "dr_learner"}
    assert sorted(names(full["perturbations"])) == sorted(n for n in PERTURBATIONS.names() if n.startswith("icu_"))
    assert any(m.get("params", {}).get("n_members", 1) > 1 for m in full["methods"] if isinstance(m, dict))


def test_quick_preset_expands_with_each_method_on_the_tasks_it_supports():
    cells = expand(load_suite("quick", benchmarks=["icu"]))
    assert {c.benchmark for c in cells} == {"icu"}
    by_method = {}
    for c in cells:
        by_method.setdefault(c.method.name, set()).add(c.task_label)
    assert by_method["t_learner"] == by_method["dr_learner"] == {"icu/synthetic/effect/A"}
    assert "icu/kidney_function/eicu_demo" in by_method["logreg"]
    assert "icu/kidney_function/eicu_demo" not in by_method["recalibrated"]  # binary only
    assert {"icu/mortality24/eicu_demo→mimic_demo", "icu/synthetic/mortality/A→B"} <= by_method["lightgbm"]
    assert len({c.key for c in cells}) == len(cells) == 21
