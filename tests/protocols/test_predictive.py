"""The predictive protocol: evaluation sets, the reference payload, scores and artifacts."""

import numpy as np
import pandas as pd
import pytest

from trustbench.protocols import predictive
from trustbench.runner.cells import Spec

TASK = "tests.protocols.fake:LinearTask"
PERTS = [{"name": "gaussian_noise", "severities": [0.2]}, {"name": "covariate_shift", "severities": [1.0, 2.0]}]


def entry(methods, task=TASK, metrics=("crps", "nll", "coverage_90", "truth_w1", "reference_w1", "reference_kl")):
    return {"tasks": [task], "methods": methods, "perturbations": PERTS, "metrics": list(metrics), "n_boot": 50}


def run_all(cells):
    """Run cells in order, passing payloads as the runner does."""
    payloads, results = {}, []
    for cell in cells:
        res = predictive.run_cell(cell, {k: payloads[k] for k in cell.depends_on})
        payloads[cell.key] = res.payload
        results.append(res)
    return results


def test_grid_makes_one_reference_cell_per_task_and_seed():
    cells = predictive.grid("s", "b", entry(["tests.protocols.fake:Overconfident", "tests.protocols.fake:Oracle"]), [0, 1])
    assert [c.method.name for c in cells].count("reference") == 2
    for c in cells:
        if c.method.name != "reference":
            (dep,) = c.depends_on
            ref = next(r for r in cells if r.key == dep)
            assert ref.seed == c.seed and ref.method.name == "reference"
    assert len({c.key for c in cells}) == len(cells)


def test_scores_reference_gap_and_shift():
    cells = predictive.grid("s", "b", entry(["tests.protocols.fake:Oracle", "tests.protocols.fake:Overconfident"]), [0])
    results = run_all(cells)
    df = pd.DataFrame([r for res in results for r in res.records])
    assert set(zip(df.perturbation, df.severity)) == {("none", 0.0), ("gaussian_noise", 0.2),
                                                     ("covariate_shift", 1.0), ("covariate_shift", 2.0)}
    clean = df[df.perturbation == "none"].set_index(["method", "metric"]).value
    # the oracle is the reference: zero gap; the overconfident line is far from it and under-covers
    assert clean["tests.protocols.fake:Oracle", "reference_w1"] == pytest.approx(0.0, abs=1e-12)
    assert clean["tests.protocols.fake:Oracle", "truth_w1"] == pytest.approx(0.0, abs=1e-12)
    assert clean["tests.protocols.fake:Overconfident", "reference_w1"] > 0.2
    assert clean["tests.protocols.fake:Overconfident", "coverage_90"] < 0.5
    assert ("reference", "reference_w1") not in clean.index  # the reference is not scored against itself
    # a shift re-simulates targets and truth: the oracle stays perfect at the moved inputs
    shifted = df[(df.perturbation == "covariate_shift") & (df.method == "tests.protocols.fake:Oracle")]
    assert np.allclose(shifted[shifted.metric == "truth_w1"].value, 0.0)
    ref = results[0]
    assert set(ref.payload) == {"none/0", "gaussian_noise/0.2", "covariate_shift/1", "covariate_shift/2"}
    assert {"pit", "coverage", "gum", "bands", "data"} <= set(ref.artifacts)
    assert len(ref.artifacts["gum"]["rows"]) == 5
    row = ref.artifacts["gum"]["rows"][0]
    assert row["U"] == pytest.approx(2 * row["u"]) and row["low"] < row["estimate"] < row["high"]


def test_cells_are_deterministic():
    cells = predictive.grid("s", "b", entry(["tests.protocols.fake:Overconfident"]), [3])
    a, b = run_all(cells), run_all(cells)
    assert [r.records for r in a] == [r.records for r in b]


def test_real_task_skips_shift_and_truth_metrics():
    cells = predictive.grid("s", "b", entry(["tests.protocols.fake:Overconfident"], task="tests.protocols.fake:RealTask"), [0])
    df = pd.DataFrame([r for res in run_all(cells) for r in res.records])
    assert "covariate_shift" not in set(df.perturbation)
    assert "truth_w1" not in set(df.metric)
    assert "reference_w1" in set(df.metric)


def test_method_that_does_not_support_the_task_gets_no_cell():
    class Picky:
        def supports(self, task):
            return False

    from trustbench.registry import METHODS

    METHODS.register("picky_test_method", Picky)
    try:
        cells = predictive.grid("s", "b", entry(["picky_test_method"]), [0])
    finally:
        METHODS.unregister("picky_test_method")
    assert [c.method.name for c in cells] == ["reference"]


def test_spec_conversion():
    assert predictive.as_spec("gp") == Spec("gp")
    assert predictive.as_spec({"name": "gaussian_noise", "severities": [1, 2]}).params == {"severities": [1.0, 2.0]}
    with pytest.raises(TypeError, match="expected a name"):
        predictive.as_spec(3)
