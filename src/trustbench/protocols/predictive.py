"""The predictive protocol: fit once, then predict and score on clean and perturbed test data.

A cell is (task, method, seed). Its method is fitted on the training split, then evaluated on the
clean test split and on every perturbation × severity. Every predictive distribution is scored
against the observed targets, against the task's true predictive distribution where the task knows
it, and against the **reference** predictive (the task's reference Bayesian method) at the same
inputs: the reference gap. The reference runs in a cell of its own per (task, seed); its predictive
on every evaluation set travels to the method cells as a payload of :class:`Summary` objects, so it
is fitted once, not once per method.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.runner.cells import Cell, CellResult, Spec
from trustbench.types import Data, Dataset

__all__ = ["grid", "run_cell", "evaluation_sets", "task_method_cells", "EvalSet", "REFERENCE", "COVERAGE_LEVELS", "GUM_K"]

REFERENCE = "reference"
"""Method name of a task's own reference method (``task.reference()``)."""

COVERAGE_LEVELS = np.round(np.arange(0.05, 1.0, 0.05), 2)
GUM_K = 2.0
BAND_LEVEL = 0.9
N_GUM_ROWS = 5


def as_spec(item: Any) -> Spec:
    """A Spec from a Spec, a name, or a mapping ``{"name": ..., "params": ...}``."""
    if isinstance(item, Spec):
        return item
    if isinstance(item, str):
        return Spec(item)
    if isinstance(item, dict) or hasattr(item, "name"):
        get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
        params = dict(get("params", None) or {})
        if get("severities", None) is not None:
            params["severities"] = [float(s) for s in get("severities")]
        return Spec(get("name"), params)
    raise TypeError(f"expected a name or a {{name, params}} mapping; got {item!r}.")


def _entry_field(entry: Any, name: str, default: Any = None) -> Any:
    return entry.get(name, default) if isinstance(entry, dict) else getattr(entry, name, default)


def make_task(spec: Spec):
    from trustbench.registry import TASKS

    return TASKS.create(spec.name, **spec.params)


def make_method(spec: Spec, task):
    from trustbench.registry import METHODS

    if spec.name == REFERENCE:
        if not hasattr(task, "reference"):
            raise ValueError(f"task {task.name!r} has no reference method.")
        return task.reference()
    method = METHODS.create(spec.name, **spec.params)
    # a method that needs knowledge only the task has (the GUM methods: its physical model) takes it here
    return method.for_task(task) if hasattr(method, "for_task") else method


def task_method_cells(suite: str, benchmark: str, entry: Any, seeds: Iterable[int], *, protocol: str,
                      supports, **fields: Any) -> list[Cell]:
    """One cell per (task, method, seed) with ``supports(method, task)`` true, for protocols without
    reference cells (ICU, attribution). The task's ``label`` (default: its name) is the cell's
    ``task_label``; ``fields`` are further Cell fields (perturbations, explainers)."""
    n_boot = int(_entry_field(entry, "n_boot", 1000))
    methods = [as_spec(m) for m in _entry_field(entry, "methods", ())]
    cells = []
    for task_spec in (as_spec(t) for t in _entry_field(entry, "tasks", ())):
        task = make_task(task_spec)
        for method_spec in methods:
            if not supports(make_method(method_spec, task), task):
                continue
            cells += [Cell(suite=suite, benchmark=benchmark, protocol=protocol, task=task_spec, method=method_spec,
                           seed=int(seed), n_boot=n_boot, task_label=getattr(task, "label", task.name), **fields)
                      for seed in seeds]
    return cells


def grid(suite: str, benchmark: str, entry: Any, seeds: Iterable[int]) -> list[Cell]:
    """Cells of one benchmark entry: a reference cell per (task, seed) plus its method cells.

    ``entry`` has ``tasks``, ``methods``, ``perturbations`` (with ``severities``), ``metrics``
    (empty = every registered metric) and ``n_boot``. Methods whose ``supports(task)`` is False
    (e.g. the GUM methods on a task without a physical model) get no cell.
    """
    from trustbench.registry import METRICS

    perturbations = tuple(as_spec(p) for p in _entry_field(entry, "perturbations", ()) or ())
    metrics = tuple(_entry_field(entry, "metrics", ()) or METRICS.names())
    n_boot = int(_entry_field(entry, "n_boot", 1000))
    methods = [as_spec(m) for m in _entry_field(entry, "methods", ())]
    cells: list[Cell] = []
    for task_spec in (as_spec(t) for t in _entry_field(entry, "tasks", ())):
        task = make_task(task_spec)
        common = dict(suite=suite, benchmark=benchmark, protocol="predictive", task=task_spec,
                      perturbations=perturbations, metrics=metrics, n_boot=n_boot)
        for seed in seeds:
            deps: tuple[str, ...] = ()
            if hasattr(task, "reference"):
                ref = Cell(method=Spec(REFERENCE), seed=int(seed), **common)
                cells.append(ref)
                deps = (ref.key,)
            for method_spec in methods:
                if method_spec.name == REFERENCE:
                    continue
                method = make_method(method_spec, task)
                if hasattr(method, "supports") and not method.supports(task):
                    continue
                cells.append(Cell(method=method_spec, seed=int(seed), depends_on=deps, **common))
    return cells


# --------------------------------------------------------------------------------------------
# evaluation sets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalSet:
    """One test set a fitted method is scored on: clean, or one perturbation at one severity."""

    perturbation: str
    severity: float
    data: Data

    @property
    def key(self) -> str:
        return f"{self.perturbation}/{self.severity:g}"


def _rng(seed: int, name: str, severity: float, stream: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, perturbation, severity, stream): same sets in every cell."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), int(round(severity * 1e6)), stream])


def evaluation_sets(task, dataset: Dataset, perturbations: Sequence[Spec], seed: int) -> list[EvalSet]:
    """The clean test set and every perturbed one, identical in every cell of the same task and seed.

    Input perturbations (noise, missingness, outliers) keep the targets and the truth: the patient
    is the same, the measurement is worse. Shifts move the population, so targets and truth are
    re-simulated at the new inputs; a shift on a task without a simulator is skipped.
    """
    from trustbench.registry import PERTURBATIONS

    test, train_X = dataset.test, dataset.train.X
    sets = [EvalSet("none", 0.0, test)]
    can_simulate = hasattr(task, "simulate") and hasattr(task, "truth")
    for spec in perturbations:
        fn = PERTURBATIONS.load(spec.name)
        if getattr(fn, "shift", False) and not can_simulate:
            continue
        for severity in spec.params.get("severities", getattr(fn, "severities", ())):
            X = fn(test.X, float(severity), _rng(seed, spec.name, severity), train_X=train_X)
            if getattr(fn, "shift", False):
                y = task.simulate(X, _rng(seed, spec.name, severity, stream=1))
                data = test.replace(X=X, y=y, truth=task.truth(X))
            else:
                data = test.replace(X=X)
            sets.append(EvalSet(spec.name, float(severity), data))
    return sets


# --------------------------------------------------------------------------------------------
# running a cell
# --------------------------------------------------------------------------------------------


def run_cell(cell: Cell, inputs: dict[str, Any] | None = None) -> CellResult:
    """Fit the cell's method once, then score it on every evaluation set.

    ``inputs`` maps the keys of ``cell.depends_on`` to their payloads (the reference summaries).
    Returns records, report artifacts and, for a reference cell, the payload.
    """
    from trustbench.metrics.predictive import EvalContext, Summary, score
    from trustbench.registry import METRICS

    start = time.perf_counter()
    task = make_task(cell.task)
    method = make_method(cell.method, task)
    dataset = task.make(cell.seed)
    sets = evaluation_sets(task, dataset, cell.perturbations, cell.seed)
    specs = [METRICS.load(name) for name in cell.metrics]
    reference: dict[str, Any] = {}
    for key in cell.depends_on:
        reference.update((inputs or {}).get(key) or {})

    method.fit(dataset.train.X, dataset.train.y, seed=cell.seed)
    records: list[dict[str, Any]] = []
    artifacts: dict[str, Any] = {}
    summaries: dict[str, Any] = {}
    label = REFERENCE if cell.method.name == REFERENCE else cell.method.label()
    for ev in sets:
        pred = method.predict(ev.data.X)
        ctx = EvalContext(ev.data.y, pred, truth=ev.data.truth, reference=reference.get(ev.key))
        for row in score(ctx, specs, n_boot=cell.n_boot, seed=cell.seed):
            records.append({"benchmark": cell.benchmark, "task": cell.task.name, "method": label,
                            "perturbation": ev.perturbation, "severity": ev.severity, "seed": cell.seed, **row})
        if cell.method.name == REFERENCE:
            summaries[ev.key] = Summary(mean=ctx.mean, std=ctx.std, q=ctx.q)
        if ev.perturbation == "none":
            artifacts.update(_clean_artifacts(ctx, ev.data))
    artifacts.update(_band_artifacts(task, method, dataset, is_reference=cell.method.name == REFERENCE))
    if getattr(method, "diagnostics_", None):
        artifacts["diagnostics"] = {k: float(v) for k, v in method.diagnostics_.items()}
    return CellResult(key=cell.key, records=records, artifacts=artifacts,
                      payload=summaries or None, seconds=time.perf_counter() - start)


def _clean_artifacts(ctx, data: Data) -> dict[str, Any]:
    """PIT histogram, coverage curve and the GUM view (estimate, u, U = k·u, 95 % interval)."""
    from trustbench.metrics import coverage_curve, pit_histogram

    counts, edges = pit_histogram(ctx.pit, bins=20)
    order = np.argsort(data.X[:, 0], kind="stable")
    rows = order[np.linspace(0, len(order) - 1, min(N_GUM_ROWS, len(order))).round().astype(int)]
    lo, hi = ctx.pred.interval(0.95)
    gum = [{"x": data.X[i].round(6).tolist(), "estimate": float(ctx.mean[i]), "u": float(ctx.std[i]),
            "U": float(GUM_K * ctx.std[i]), "low": float(lo[i]), "high": float(hi[i])} for i in rows]
    return {
        "pit": {"hist": np.asarray(counts).tolist(), "edges": np.asarray(edges).tolist()},
        "coverage": {"levels": COVERAGE_LEVELS.tolist(),
                     "observed": np.asarray(coverage_curve(ctx.pit, COVERAGE_LEVELS)).tolist()},
        "gum": {"k": GUM_K, "level": 0.95, "rows": gum},
    }


def _band(pred) -> dict[str, Any]:
    lo, hi = pred.interval(BAND_LEVEL)
    return {"mean": pred.mean().tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "level": BAND_LEVEL}


def _band_artifacts(task, method, dataset: Dataset, *, is_reference: bool) -> dict[str, Any]:
    """Predictive bands on the task's plotting grid (1-D tasks), with the truth and the training data."""
    x = task.plot_grid() if hasattr(task, "plot_grid") else None
    if x is None:
        return {}
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    truth = _band(task.truth(x)) if hasattr(task, "truth") else None
    out: dict[str, Any] = {"bands": {"x": x[:, 0].tolist(), **_band(method.predict(x)), "truth": truth}}
    if is_reference:
        out["data"] = {"x_train": dataset.train.X[:, 0].tolist(), "y_train": dataset.train.y.tolist()}
    return out
