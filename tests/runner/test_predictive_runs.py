"""The runner with the real predictive protocol (the lead's test task, real metrics and methods)."""

import pandas as pd
import pytest

from trustbench.registry import BENCHMARKS
from trustbench.runner.api import run_suite
from trustbench.runner.store import Store
from trustbench.types import Benchmark

TASK = "tests.protocols.fake:LinearTask"


@pytest.fixture
def predictive_benchmark():
    preset = {"tasks": [{"name": TASK, "params": {"n_train": 60, "n_test": 40}}],
              "methods": ["tests.protocols.fake:Overconfident"],
              "perturbations": [{"name": "gaussian_noise", "severities": [0.2]},
                                {"name": "covariate_shift", "severities": [1.0]}],
              "metrics": ["rmse", "crps", "coverage_90", "truth_w1", "reference_w1"], "n_boot": 50}
    BENCHMARKS.register("pred", Benchmark("pred", "Does the predictive protocol run?", "predictive", {"quick": preset}))
    yield preset
    BENCHMARKS.unregister("pred")


def stable(df):
    return (df.drop(columns=["run_id", "seconds", "created_at"])
            .sort_values(["cell_key", "perturbation", "severity", "metric"]).reset_index(drop=True))


def test_predictive_suite_stores_records_artifacts_and_payloads(predictive_benchmark, tmp_path):
    db = tmp_path / "p.sqlite"
    summary = run_suite({"name": "p", "seeds": [0, 1], "benchmarks": [{"name": "pred", "preset": "quick"}]},
                        db=db, progress=False)
    assert (summary.n_cells, summary.n_failed) == (4, 0), summary.failures
    store = Store(db)
    df = store.records()
    assert set(df.method) == {"reference", "tests.protocols.fake:Overconfident"}
    assert {("none", 0.0), ("gaussian_noise", 0.2), ("covariate_shift", 1.0)} == set(zip(df.perturbation, df.severity))
    over = df[(df.method != "reference") & (df.perturbation == "none") & (df.metric == "coverage_90")]
    assert (over.value < 0.6).all()  # the overconfident line under-covers
    art = store.artifacts()
    assert {"pit", "coverage", "gum", "bands"} <= set(art.name)
    assert "data" in set(art[art.method == "reference"].name)
    ref_key = store.cells().query("method == 'reference' and seed == 0").cell_key.item()
    assert set(store.payload(ref_key)) == {"none/0", "gaussian_noise/0.2", "covariate_shift/1"}


@pytest.mark.slow
def test_torch_method_gives_the_same_records_with_one_or_two_workers(predictive_benchmark, tmp_path):
    entry = {"name": "pred", "preset": "quick", "seeds": [0, 1],
             "methods": [{"name": "mlp", "params": {"steps": 300, "hidden": [32, 32]}}]}
    s = {"name": "t", "benchmarks": [entry]}
    one = run_suite(s, db=tmp_path / "one.sqlite", progress=False)
    two = run_suite(s, db=tmp_path / "two.sqlite", workers=2, progress=False)
    assert one.n_failed == two.n_failed == 0, one.failures + two.failures
    pd.testing.assert_frame_equal(stable(Store(tmp_path / "one.sqlite").records()),
                                  stable(Store(tmp_path / "two.sqlite").records()))
