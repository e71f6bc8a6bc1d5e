"""The regression Benchmark: registered, presets valid for the runner, the quick share's contents."""

import time

import pytest

from trustbench.domains.regression.benchmark import BENCHMARK
from trustbench.registry import BENCHMARKS, PERTURBATIONS, TASKS


def names(items):
    return [item if isinstance(item, str) else item["name"] for item in items]


def test_registered_and_predictive():
    assert BENCHMARKS.load("regression") is BENCHMARK
    assert BENCHMARK.protocol == "predictive" and "reference" in BENCHMARK.question


def test_quick_and_full_presets_cover_what_they_promise():
    quick, full = BENCHMARK.presets["quick"], BENCHMARK.presets["full"]
    assert names(quick["tasks"]) == ["regression/polynomial", "regression/gap", "regression/exp_decay",
                                     "regression/diabetes"]
    assert sorted(names(full["tasks"])) == sorted(n for n in TASKS.names() if n.startswith("regression/"))
    for preset in (quick, full):
        assert names(preset["methods"]) == ["deep_ensemble", "mc_dropout", "laplace", "bbb", "gp",
                                            "split_conformal", "cqr", "gum_lpu", "gum_mc"]
        assert sorted(names(preset["perturbations"])) == sorted(n for n in PERTURBATIONS.names() if not n.startswith("icu_"))
        assert all(len(p["severities"]) == 3 for p in preset["perturbations"])
    assert (quick["seeds"], quick["n_boot"], len(full["seeds"]), full["n_boot"]) == ([0], 200, 3, 1000)


def test_presets_pass_the_runner_checks():
    """The suite loader builds every task and method of both presets and validates them."""
    config = pytest.importorskip("trustbench.runner.config")
    for preset in ("quick", "full"):
        suite = config.resolve_suite({"name": "t", "preset": preset, "benchmarks": ["regression"]})
        (entry,) = suite.entries
        assert len(entry.tasks) == len(BENCHMARK.presets[preset]["tasks"])


@pytest.mark.slow
def test_reference_cells_of_the_quick_share_run_and_converge():
    """The reference (and GUM) cells of the quick preset through the predictive protocol, timed."""
    from trustbench.protocols import predictive

    entry = {**BENCHMARK.presets["quick"], "methods": ["gum_lpu", {"name": "gum_mc", "params": {"n_draws": 64}}]}
    payloads, seconds = {}, {}
    for cell in predictive.grid("quick", "regression", entry, [0]):
        start = time.perf_counter()
        result = predictive.run_cell(cell, {k: payloads[k] for k in cell.depends_on})
        seconds[cell.task.name, cell.method.name] = time.perf_counter() - start
        assert result.ok and result.records
        payloads[cell.key] = result.payload
        if "diagnostics" in result.artifacts:
            assert result.artifacts["diagnostics"]["rhat_max"] <= 1.05
    print({k: round(v, 1) for k, v in seconds.items()})
    assert set(seconds) == {(t, "reference") for t in names(BENCHMARK.presets["quick"]["tasks"])} | {
        ("regression/exp_decay", "gum_lpu"), ("regression/exp_decay", "gum_mc")}
