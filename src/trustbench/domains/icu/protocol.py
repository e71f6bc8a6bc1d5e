"""The ICU protocol: fit on the training stays, calibrate conformal sets on the calibration stays,
score on the clean test cohort and on every perturbation × severity, and assemble a quality card.

A cell is (task, method, seed). Records carry the task's display label (``icu/mortality24/eicu_demo``,
``icu/synthetic/aki/A→B``), so transfer tasks appear beside their within-site twins. Subgroup metrics
are named ``metric[group=value]``; the largest gap and the equalized-odds difference per grouping are
``auroc_gap[sex]`` and ``eq_odds_diff[sex]``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from trustbench.protocols.predictive import _entry_field, _rng, as_spec, make_method, make_task, task_method_cells
from trustbench.runner.cells import Cell, CellResult

__all__ = ["grid", "run_cell", "evaluation_sets", "predict_arrays"]

PROTOCOL = "trustbench.domains.icu.protocol"


def _supports(method, task) -> bool:
    """Methods say which tasks they take (``supports``); plain models take every prediction task."""
    return method.supports(task) if hasattr(method, "supports") else task.kind != "effect"


def grid(suite: str, benchmark: str, entry: Any, seeds: Iterable[int]) -> list[Cell]:
    """One cell per (task, method, seed) the method supports (effect learners only on effect tasks)."""
    perturbations = tuple(as_spec(p) for p in _entry_field(entry, "perturbations", ()) or ())
    return task_method_cells(suite, benchmark, entry, seeds, protocol=PROTOCOL, supports=_supports,
                             perturbations=perturbations)


def evaluation_sets(split, perturbations, seed: int) -> list[tuple[str, float, Any]]:
    """(perturbation, severity, cohort): the clean test cohort and each perturbed one, the same in
    every cell of a task and seed."""
    from trustbench.registry import PERTURBATIONS

    sets = [("none", 0.0, split.test)]
    for spec in perturbations:
        fn = PERTURBATIONS.load(spec.name)
        for severity in spec.params.get("severities", getattr(fn, "severities", ())):
            cohort = fn(split.test, float(severity), _rng(seed, spec.name, severity), train=split.train)
            sets.append((spec.name, float(severity), cohort))
    return sets


def predict_arrays(method, cohort, kind: str) -> dict[str, np.ndarray]:
    """The method's prediction on ``cohort`` as row arrays: ``p`` (binary), ``mean``/``std``/``lo``/``hi``
    (regression) or ``ite_hat`` (effect)."""
    pred = method.predict(cohort)
    n = len(cohort.outc)
    if kind == "effect":
        return {"ite_hat": _rows(pred, n, "ITE")}
    if kind == "binary":
        p = _rows(pred, n, "probabilities")
        if ((p < 0) | (p > 1)).any():
            raise ValueError(f"{type(method).__name__}.predict returned probabilities outside [0, 1].")
        return {"p": p}
    mean, std = np.asarray(pred.mean(), float), np.asarray(pred.std(), float)
    lo, hi = pred.interval(0.9)
    return {"mean": _rows(mean, n, "means"), "std": std, "lo": np.asarray(lo, float), "hi": np.asarray(hi, float)}


def _rows(values, n: int, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=float).reshape(-1)
    if values.shape != (n,) or not np.isfinite(values).all():
        raise ValueError(f"the method returned {values.shape[0]} {what} (finite: {np.isfinite(values).all()}); "
                         f"expected {n} finite values, one per outcome row.")
    return values


def _truth_arrays(cohort, kind: str) -> dict[str, np.ndarray]:
    t = cohort.truth
    if t is None:
        return {}
    if kind == "effect":
        return {"ite": t["ite"].to_numpy(float)}
    if kind == "binary" and "p_true" in t:
        return {"p_true": t["p_true"].to_numpy(float)}
    if kind == "regression" and "mu_true" in t:
        return {"mu_true": t["mu_true"].to_numpy(float)}
    return {}


def run_cell(cell: Cell, inputs: dict[str, Any] | None = None) -> CellResult:
    """Fit once; calibrate conformal sets; score clean and perturbed test cohorts; build the card."""
    from trustbench.domains.icu import card as C
    from trustbench.domains.icu import evaluation as E
    from trustbench.domains.icu.cohort import subgroups

    start = time.perf_counter()
    task = make_task(cell.task)
    method = make_method(cell.method, task)
    split = task.make(cell.seed)
    kind = task.kind
    sets = evaluation_sets(split, cell.perturbations, cell.seed)

    method.fit(split.train, seed=cell.seed)
    conformal = C.fit_conformal(method, split.cal, kind) if kind != "effect" else None
    base = {"benchmark": cell.benchmark, "task": cell.task_name, "method": cell.method.label(), "seed": cell.seed}
    records: list[dict[str, Any]] = []
    artifacts: dict[str, Any] = {}
    for pert, severity, cohort in sets:
        arrays = {"y": cohort.y, **predict_arrays(method, cohort, kind), **_truth_arrays(cohort, kind)}
        if conformal is not None:
            arrays.update(conformal.apply(arrays))
        defs = C.metric_defs(kind, arrays)
        rows = E.score_rows(defs, arrays, cohort.row_stays, n_boot=cell.n_boot, seed=cell.seed)
        if pert == "none":
            groups = subgroups(cohort)
            rows += C.subgroup_rows(defs, arrays, cohort, groups, conformal, n_boot=cell.n_boot, seed=cell.seed)
            artifacts["card"] = C.card_artifact(task, split, kind, arrays, groups, conformal, method)
        records += [{**base, "perturbation": pert, "severity": severity, **row} for row in rows]
    return CellResult(key=cell.key, records=records, artifacts=artifacts, seconds=time.perf_counter() - start)
