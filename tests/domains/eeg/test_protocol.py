"""The eeg protocol end to end: cells of both kinds through the runner, records and artifacts, the
report section, and the calibration bookkeeping (PIT, coverage rows, recalibration)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from trustbench.domains.eeg import protocol as P
from trustbench.runner.cells import Cell, Spec

_TASK = {"montage": "biosemi32", "spacing": 25.0, "n_active": 1, "snr_db": 10.0, "n_test": 4, "n_calibration": 4,
         "n_baseline": 20}


def _cell(task: Spec, method: Spec) -> Cell:
    return Cell(suite="t", benchmark="eeg", protocol=P.PROTOCOL, task=task, method=method, seed=0, n_boot=50)


def test_a_source_cell_scores_every_map_metric_and_calibration():
    res = P.run_cell(_cell(Spec("eeg/sources", _TASK), Spec("bayes_mn")))
    got = {r["metric"]: r for r in res.records}
    for metric in (*P.SOURCE_METRICS, "seconds_per_sample", "fit_seconds", "coverage_error", "coverage_error_active",
                   "coverage_90", "coverage_error_recalibrated", "pit_calibration_error"):
        assert metric in got, metric
        assert np.isfinite(got[metric]["value"])
    assert 0 <= got["coverage_90"]["value"] <= 1
    assert set(res.artifacts) == {"source_maps", "credible_coverage", "source_task"}
    assert res.artifacts["source_task"]["sweep"]["noise"] == 10.0
    cov = res.artifacts["credible_coverage"]
    assert cov["levels"] == P.LEVELS.tolist() and len(cov["observed_active"]) == len(P.LEVELS)
    maps = res.artifacts["source_maps"]
    assert len(maps["true"]) == P.N_EXAMPLES and max(maps["true"][0]) == 1.0


def test_a_linear_solver_has_no_calibration_records():
    res = P.run_cell(_cell(Spec("eeg/sources", _TASK), Spec("eloreta")))
    metrics = {r["metric"] for r in res.records}
    assert "peak_localization_error" in metrics and not any(m.startswith("coverage") for m in metrics)


def test_an_ica_cell_reports_stability_and_accuracy():
    task = Spec("eeg/ica", {"scenario": "nongaussian", "n_sources": 3, "n_sensors": 3, "n_samples": 2000})
    res = P.run_cell(_cell(task, Spec("fastica", {"n_runs": 3})))
    got = {r["metric"]: r["value"] for r in res.records}
    assert got["ica_mean_iq"] > 0.9 and got["ica_amari"] < 0.1 and got["ica_match"] > 0.95
    art = res.artifacts["ica_stability"]
    assert len(art["iq"]) == 3 and art["task"]["scenario"] == "nongaussian"


def test_methods_run_only_on_their_kind_of_task():
    from trustbench.registry import METHODS, TASKS

    sources, ica = TASKS.create("eeg/sources"), TASKS.create("eeg/ica")
    assert METHODS.create("champagne").supports(sources) and not METHODS.create("champagne").supports(ica)
    assert METHODS.create("picard").supports(ica) and not METHODS.create("picard").supports(sources)
    cells = P.grid("t", "eeg", {"tasks": [{"name": "eeg/sources"}, {"name": "eeg/ica"}],
                                "methods": ["mne", "infomax"]}, [0])
    assert sorted((c.task.name, c.method.name) for c in cells) == [("eeg/ica", "infomax"), ("eeg/sources", "mne")]


def test_pit_and_coverage_rows_against_closed_forms():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((3, 500))
    pit = P.pit_values(truth, np.zeros_like(truth), np.ones((3, 1)))
    np.testing.assert_allclose(pit, norm.cdf(truth))
    rows = P._coverage_rows(pit)
    np.testing.assert_allclose(rows, [[np.mean(np.abs(t) <= norm.ppf(0.5 + lv / 2)) for lv in P.LEVELS] for t in truth])
    mask = truth > 0
    masked = P._coverage_rows(pit, mask)
    np.testing.assert_allclose(masked[0, 4], np.mean(np.abs(truth[0][mask[0]]) <= norm.ppf(0.75)))
    # a zero std is a point mass: PIT 1/2 where the truth equals the mean, else 0 or 1
    np.testing.assert_array_equal(P.pit_values(np.array([0.0, 1.0, -1.0]), np.zeros(3), np.zeros(3)), [0.5, 1.0, 0.0])


def test_task_parameters_are_checked_when_the_task_is_made():
    from trustbench.registry import TASKS

    with pytest.raises(ValueError, match="n_active"):
        TASKS.create("eeg/sources", n_active=0)
    with pytest.raises(ValueError, match="montage must be one of .* Did you mean 'biosemi64'"):
        TASKS.create("eeg/sources", montage="biosemi46")
    with pytest.raises(ValueError, match="forward must be the path"):
        TASKS.create("eeg/sources", forward="/no/such-fwd.fif")
    with pytest.raises(ValueError, match="scenario must be one of"):
        TASKS.create("eeg/ica", scenario="gauss")
