"""The ``eeg`` protocol: inverse solvers on simulated EEG, and ICA stability.

A cell is (task, method, seed); a method runs on the tasks of its kind (inverse solvers on
``eeg/sources``, ICA algorithms on ``eeg/ica``).

**Source cells.** The solver is fitted on the head model and the baseline noise covariance (a
solver that learns from simulations draws them from the task's simulator), applied to every test
sample, and each estimated source map is scored against the true one
(:mod:`trustbench.metrics.sources`; distances in mm). Records: the mean over test samples with a
percentile-bootstrap CI for every metric in :data:`SOURCE_METRICS`, ``seconds_per_sample`` and
``fit_seconds``.
Solvers with a posterior std are also scored for calibration: the PIT Φ((x − μ)/σ) of every true
value (moment components × times, or map values for solvers that estimate the map) gives the
coverage of central credible intervals at levels 0.1…0.9 (:mod:`trustbench.metrics.calibration`),
over all sources and over the truly active ones; an isotonic recalibration map
(:class:`trustbench.uq.recalibration.IsotonicPIT`) is fitted on the calibration split and scored on
the test split (Kuleshov et al. 2018; the CaliBrain question, Hashemi et al.).

**ICA cells.** :func:`.ica.ica_stability` (bootstrap runs, ICASSO clustering) on the task's recording;
records: mean and minimum quality index Iq, mean Amari distance to the true mixing and the mean
match of the true sources.

Artifacts (drawn by :mod:`trustbench.report.sources`): ``source_maps`` (true and estimated maps of
two test samples, source positions), ``credible_coverage`` (observed vs nominal coverage, raw and
recalibrated), ``ica_stability`` (Iq per component, Amari per run, the task's settings),
``source_task`` (the task's place in an SNR sweep: ``{"sweep": {"family", "noise": snr_db}}``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from trustbench.protocols.predictive import make_method, make_task, task_method_cells
from trustbench.runner.cells import Cell, CellResult

__all__ = ["grid", "run_cell", "score_maps", "pit_values", "SOURCE_METRICS", "METRICS_META", "LEVELS"]

PROTOCOL = "trustbench.domains.eeg.protocol"
LEVELS = np.round(np.arange(0.1, 1.0, 0.1), 2)
N_EXAMPLES = 2

SOURCE_METRICS = ("peak_localization_error", "centre_of_gravity_error", "spatial_dispersion", "source_emd",
                  "detection_auc", "active_set_f1", "active_set_jaccard", "map_nmse")
_MM = ("peak_localization_error", "centre_of_gravity_error", "spatial_dispersion", "source_emd")

METRICS_META = {  # "key": a leaderboard column of the report (the others are folded)
    "peak_localization_error": {"key": True, "higher_is_better": False, "ideal": 0.0, "unit": "mm",
                                "description": "distance (mm) from the estimated map's peak to the nearest truly active source"},
    "centre_of_gravity_error": {"higher_is_better": False, "ideal": 0.0, "unit": "mm",
                                "description": "distance (mm) between the magnitude-weighted centres of the estimated and true maps"},
    "spatial_dispersion": {"higher_is_better": False, "ideal": 0.0, "unit": "mm",
                           "description": "spread (mm) of the estimated map around the true peak (Molins et al. 2008)"},
    "source_emd": {"key": True, "higher_is_better": False, "ideal": 0.0, "unit": "mm",
                   "description": "earth mover's distance (mm) between the normalised true and estimated maps"},
    "detection_auc": {"key": True, "higher_is_better": True, "ideal": 1.0,
                      "description": "AUROC of the estimated magnitude for telling active from inactive sources"},
    "active_set_f1": {"key": True, "higher_is_better": True, "ideal": 1.0,
                      "description": "F1 of the estimated active set (≥ half the map's peak) against the true one"},
    "active_set_jaccard": {"higher_is_better": True, "ideal": 1.0,
                           "description": "Jaccard index of the estimated (≥ half peak) and true active sets"},
    "map_nmse": {"key": True, "higher_is_better": False, "ideal": 0.0,
                 "description": "normalised MSE between the true and estimated maps, each scaled to peak 1"},
    "seconds_per_sample": {"higher_is_better": False, "ideal": 0.0, "description": "solver wall time per sample"},
    "fit_seconds": {"higher_is_better": False, "ideal": 0.0,
                    "description": "wall time of fit: the inverse operator, or simulating and training (nn_ensemble)"},
    "coverage_error": {"higher_is_better": False, "ideal": 0.0,
                       "description": "mean |observed − nominal| coverage of central credible intervals (levels 0.1…0.9), all sources"},
    "coverage_error_active": {"key": True, "higher_is_better": False, "ideal": 0.0,
                              "description": "coverage error over the truly active sources only"},
    "coverage_90": {"higher_is_better": None, "ideal": 0.9,
                    "description": "observed coverage of the 90 % credible intervals, all sources"},
    "coverage_90_active": {"key": True, "higher_is_better": None, "ideal": 0.9,
                           "description": "observed coverage of the 90 % credible intervals, truly active sources"},
    "pit_calibration_error": {"higher_is_better": False, "ideal": 0.0,
                              "description": "miscalibration area of the PIT values, all sources"},
    "coverage_error_recalibrated": {"higher_is_better": False, "ideal": 0.0,
                                    "description": "coverage error on the test split after isotonic recalibration fitted on the calibration split"},
    "coverage_error_active_recalibrated": {"higher_is_better": False, "ideal": 0.0,
                                           "description": "active-source coverage error after isotonic recalibration"},
    "ica_mean_iq": {"key": True, "higher_is_better": True, "ideal": 1.0,
                    "description": "mean ICASSO quality index Iq of the component clusters (stability across bootstrap runs)"},
    "ica_min_iq": {"key": True, "higher_is_better": True, "ideal": 1.0, "description": "lowest Iq: the least stable component"},
    "ica_amari": {"key": True, "higher_is_better": False, "ideal": 0.0,
                  "description": "Amari distance of each run's unmixing to the true mixing (mean over runs)"},
    "ica_match": {"key": True, "higher_is_better": True, "ideal": 1.0,
                  "description": "mean over true sources of the best |correlation| with a stable (centrotype) component"},
}


def _supports(method, task) -> bool:
    return method.supports(task) if hasattr(method, "supports") else False


def grid(suite: str, benchmark: str, entry: Any, seeds: Iterable[int]) -> list[Cell]:
    """One cell per (task, method, seed) where the method runs on the task's kind."""
    return task_method_cells(suite, benchmark, entry, seeds, protocol=PROTOCOL, supports=_supports)


# ----------------------------------------------------------------------------- scoring


def score_maps(positions: np.ndarray, true: np.ndarray, estimate: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample scores (B,) of estimated maps (B, n) against true maps; distances in mm."""
    from trustbench.metrics import sources as S

    out = {name: np.atleast_1d(getattr(S, name)(positions, true, estimate)) * 1000.0 for name in _MM}
    out["detection_auc"] = np.atleast_1d(S.detection_auc(true, estimate))
    out["active_set_f1"] = np.atleast_1d(S.active_set_f1(true, estimate))
    out["active_set_jaccard"] = np.atleast_1d(S.active_set_jaccard(true, estimate))
    out["map_nmse"] = np.atleast_1d(S.map_nmse(true, estimate))
    return out


def pit_values(truth: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Φ((x − μ)/σ); where σ = 0 (a pruned source) the PIT is ½ if the truth equals the mean, else 0 or 1."""
    from scipy.special import ndtr

    d = truth - mean
    s = np.broadcast_to(std, d.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, d / np.where(s > 0, s, 1.0), np.where(d == 0, 0.0, np.sign(d) * np.inf))
    return ndtr(z)


def _row(base: dict, metric: str, value: float, low: float = np.nan, high: float = np.nan, n: int = 1) -> dict:
    return {**base, "metric": metric, "value": value, "ci_low": low, "ci_high": high, "n": n}


def _mean_row(base: dict, metric: str, values: np.ndarray, n_boot: int, seed: int) -> list[dict]:
    """The mean of the finite ``values`` with its bootstrap CI, as a record (none without values)."""
    from trustbench.metrics.bootstrap import finite_mean_ci

    ci = finite_mean_ci(values, n_boot=n_boot, seed=seed)
    return [_row(base, metric, ci.estimate, ci.low, ci.high, ci.n)] if ci.n else []


def _base(cell: Cell) -> dict:
    return {"benchmark": cell.benchmark, "task": cell.task_name, "method": cell.method.label(), "perturbation": "none",
            "severity": 0.0, "seed": cell.seed}


def _coverage_rows(pit: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(B, L) observed coverage per sample at :data:`LEVELS` (over the entries in ``mask``)."""
    dist = np.abs(pit - 0.5).reshape(len(pit), -1)
    inside = dist[:, :, None] <= LEVELS / 2
    if mask is None:
        return inside.mean(axis=1)
    m = mask.reshape(len(pit), -1)[:, :, None]
    return (inside & m).sum(axis=1) / m.sum(axis=1)


def _coverage_error(rows: np.ndarray) -> float:
    return float(np.mean(np.abs(rows.mean(axis=0) - LEVELS)))


def _coverage_90(rows: np.ndarray) -> float:
    return float(rows[:, list(LEVELS).index(0.9)].mean())


def _uncertainty_targets(sim, est) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, mean, active mask) in the quantity the solver's std is about."""
    if est.std_of == "amplitude":
        a = sim.amplitude()
        truth = a / a.max(axis=1, keepdims=True)
        return truth, est.amplitude, truth > 0
    truth = sim.moments()
    active = np.broadcast_to(sim.active()[:, :, None, None], truth.shape)
    return truth, est.moments, active


def _calibration(method, split, est_test, base: dict, n_boot: int, seed: int) -> tuple[list[dict], dict]:
    from trustbench.metrics.bootstrap import bootstrap_ci
    from trustbench.metrics.calibration import pit_calibration_error
    from trustbench.uq.recalibration import IsotonicPIT

    est_cal = method.apply(split.calibration.eeg)
    truth_c, mean_c, _ = _uncertainty_targets(split.calibration, est_cal)
    truth_t, mean_t, active_t = _uncertainty_targets(split.test, est_test)
    pit_cal = pit_values(truth_c, mean_c, est_cal.std)
    pit_test = pit_values(truth_t, mean_t, est_test.std)
    recal = IsotonicPIT().fit(pit_cal).transform(pit_test)
    rows = {"": _coverage_rows(pit_test), "_active": _coverage_rows(pit_test, active_t)}
    rows_recal = {"": _coverage_rows(recal), "_active": _coverage_rows(recal, active_t)}
    records = []

    def add(metric: str, fn, data: np.ndarray) -> None:
        ci = bootstrap_ci(fn, data, n_boot=n_boot, seed=seed)  # samples resampled: their coverage rows
        records.append(_row(base, metric, ci.estimate, ci.low, ci.high, ci.n))

    for suffix in ("", "_active"):
        add(f"coverage_error{suffix}", _coverage_error, rows[suffix])
        add(f"coverage_90{suffix}", _coverage_90, rows[suffix])
        add(f"coverage_error{suffix}_recalibrated", _coverage_error, rows_recal[suffix])
    records.append(_row(base, "pit_calibration_error", pit_calibration_error(pit_test.ravel()), n=int(pit_test.size)))
    artifact = {"levels": LEVELS.tolist(), "quantity": est_test.std_of,
                **{f"observed{k}": np.round(v.mean(axis=0), 4).tolist() for k, v in rows.items()},
                **{f"recalibrated{k}": np.round(v.mean(axis=0), 4).tolist() for k, v in rows_recal.items()}}
    return records, artifact


def _maps_artifact(head, truth: np.ndarray, est) -> dict:
    truth = truth[:N_EXAMPLES]
    return {"positions_mm": np.round(head.positions * 1000.0, 1).tolist(), "head": head.name,
            "true": [np.round(t / t.max(), 3).tolist() for t in truth],
            "estimate": [np.round(e / e.max(), 3).tolist() if e.max() > 0 else np.zeros_like(e).tolist()
                         for e in est.amplitude[:N_EXAMPLES]]}


def _run_sources(cell: Cell, task, method) -> tuple[list[dict], dict]:
    split = task.make(cell.seed)
    head = split.head
    t0 = time.perf_counter()
    method.fit(head, split.noise_cov, split.simulate, seed=cell.seed)
    fit_seconds = time.perf_counter() - t0
    est = method.apply(split.test.eeg)
    base = _base(cell)
    records = [_row(base, "seconds_per_sample", est.seconds / len(split.test), n=len(split.test)),
               _row(base, "fit_seconds", fit_seconds)]
    truth = split.test.amplitude()
    for metric, values in score_maps(head.positions, truth, est.amplitude).items():
        records += _mean_row(base, metric, values, cell.n_boot, cell.seed)
    what = "dipole" if task.extent == 0 else f"{task.extent:g} mm patch"
    family = f"{task.n_active} × {what}, {head.name}"
    artifacts = {"source_maps": _maps_artifact(head, truth, est),
                 "source_task": {"sweep": {"family": family, "noise": float(task.snr_db), "model_error": False}}}
    if est.std is not None:
        more, artifacts["credible_coverage"] = _calibration(method, split, est, base, cell.n_boot, cell.seed)
        records += more
    return records, artifacts


def _run_ica(cell: Cell, task, method) -> tuple[list[dict], dict]:
    data = task.make(cell.seed)
    res = method.run(data, seed=cell.seed)
    base = _base(cell)
    records = []
    for metric, values in (("ica_mean_iq", res.iq), ("ica_amari", res.amari), ("ica_match", res.match)):
        records += _mean_row(base, metric, values, cell.n_boot, cell.seed)
    records.append(_row(base, "ica_min_iq", float(np.min(res.iq)), n=len(res.iq)))
    settings = {k: getattr(task, k) for k in ("scenario", "n_sources", "n_sensors", "n_samples", "snr", "beta")}
    return records, {"ica_stability": {**res.to_dict(), "kinds": list(data.kinds), "task": settings}}


def run_cell(cell: Cell, inputs: dict[str, Any] | None = None) -> CellResult:
    start = time.perf_counter()
    task = make_task(cell.task)
    method = make_method(cell.method, task)
    run = _run_ica if task.kind == "ica" else _run_sources
    records, artifacts = run(cell, task, method)
    return CellResult(key=cell.key, records=records, artifacts=artifacts, seconds=time.perf_counter() - start)
