"""The Python API: run a suite into the store, or evaluate one method on one task.

>>> from trustbench import run_suite, evaluate
>>> summary = run_suite("quick", workers=2)                          # doctest: +SKIP
>>> df = evaluate("regression/polynomial", "gp", perturbations={"gaussian_noise": [0.1, 0.3]})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustbench.runner.cells import Cell
from trustbench.runner.config import Suite, load_suite, resolve_suite
from trustbench.validation import check_int

__all__ = ["RunSummary", "run_suite", "evaluate"]


@dataclass(frozen=True)
class RunSummary:
    """What a run did. ``failures`` holds one line per failed cell (its full traceback is in the store)."""

    run_id: str
    suite: str
    db: str
    n_cells: int
    n_skipped: int
    n_failed: int
    seconds: float
    failures: tuple[str, ...] = ()
    cell_keys: tuple[str, ...] = ()

    @property
    def n_run(self) -> int:
        """Cells run now (the others were already stored as ok)."""
        return self.n_cells - self.n_skipped


@contextlib.contextmanager
def _progress(enabled: bool, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (cells done / total, failures, elapsed); plain when not a TTY."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
               TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not enabled) as bar:
        task = bar.add_task(label, total=total, failed=0)
        yield lambda failed: bar.update(task, advance=1, failed=failed)


def _execute(suite: Suite, cells: Sequence[Cell], store: Any, *, workers: int, scheduler: str | None,
             progress: bool) -> RunSummary:
    """Run the cells not yet stored as ok and write each result as it arrives (the driver's loop)."""
    from trustbench.runner.executors import execute
    from trustbench.runner.store import store_url

    start = time.perf_counter()
    run_id = uuid.uuid4().hex
    status = store.status(c.key for c in cells)
    todo = [c for c in cells if status.get(c.key) != "ok"]
    store.start_run(run_id, suite.name, suite.config())
    failures: list[str] = []
    with _progress(progress, suite.name, len(todo)) as advance:
        for cell, result in execute(todo, load_payload=store.payload, workers=workers, scheduler=scheduler):
            store.write(cell, result, run_id)
            if not result.ok:
                last = result.error.strip().splitlines()[-1] if result.error.strip() else "error"
                failures.append(f"{cell.benchmark} / {cell.task.label()} / {cell.method.label()} / "
                                f"seed {cell.seed}: {last}")
            advance(len(failures))
    return RunSummary(run_id=run_id, suite=suite.name, db=store_url(store.url),
                      n_cells=len(cells), n_skipped=len(cells) - len(todo), n_failed=len(failures),
                      seconds=time.perf_counter() - start, failures=tuple(failures),
                      cell_keys=tuple(c.key for c in cells))


def run_suite(suite: str | Path | Mapping[str, Any] | Suite, *, db: str | Path | None = None,
              out: str | Path | None = None, workers: int = 1, scheduler: str | None = None,
              benchmarks: Iterable[str] | None = None, progress: bool = True) -> RunSummary:
    """Run a suite: validate it, expand it into cells, run the cells not yet stored, store the results.

    Parameters
    ----------
    suite : a built-in suite name (``"quick"``, ``"full"``), a YAML file, a mapping or a Suite.
    db : database URL or SQLite file; default ``OUT/trustbench.sqlite`` (``results/`` without ``out``).
    out : when given, the report is written to ``OUT/report`` after the run.
    workers : worker processes (1: run in this process).
    scheduler : ``"local"`` for a Dask LocalCluster of ``workers`` processes, or a Dask scheduler
        address such as ``"tcp://host:8786"``; None runs locally.
    benchmarks : run only these benchmarks of the suite.
    progress : show a progress bar on stderr.

    Returns
    -------
    RunSummary
        run id, number of cells, skipped (already stored) and failed cells, seconds. A failed cell
        is stored with its traceback and runs again next time; the other cells go on.
    """
    from trustbench.runner.grid import expand
    from trustbench.runner.store import Store, store_url

    workers = check_int(workers, "workers", minimum=1)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise TypeError(f"scheduler must be None, 'local' or an address like 'tcp://host:8786'; got {scheduler!r}.")
    if isinstance(benchmarks, str):
        benchmarks = [benchmarks]
    resolved = load_suite(suite, benchmarks=benchmarks)
    cells = expand(resolved)  # every check happens before the store is touched
    store = Store(store_url(db, out))
    summary = _execute(resolved, cells, store, workers=workers, scheduler=scheduler, progress=progress)
    if out is not None:
        from trustbench.report import write_report

        write_report(summary.db, Path(out))
    return summary


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def _as_reference(obj: Any, params: Mapping[str, Any] | None, kind: str,
                  temporary: list[tuple[Any, str]]) -> tuple[str, dict[str, Any]]:
    """(name, params) for a registry name, a ``module:attr`` string, a class/factory or an instance.

    An instance is taken apart into its class and its configuration (its public attributes not
    ending in ``_``: constructor = configuration). A class that cannot be imported by name
    (defined in ``__main__`` or a function) is registered in this process under its name.
    """
    import importlib

    from trustbench.registry import registry

    reg = registry(kind + "s")
    params = dict(params or {})
    if isinstance(obj, str):
        reg.check(obj, kind)
        return obj, params
    if kind == "task" and getattr(obj, "protocol", None) == "posterior" and not isinstance(obj, type):
        # a posterior task instance holds callables and arrays (from_simulator): it is used as it is,
        # registered under its name and a fingerprint of its content (so a database never mixes two)
        if params:
            raise TypeError("params apply to a task name or class; a task instance carries its own configuration.")
        name = f"{obj.name}@{_fingerprint(obj)}"
        reg.register(name, obj, overwrite=True)
        temporary.append((reg, name))
        return name, {}
    if not callable(obj) or not hasattr(obj, "__qualname__"):  # an instance
        if params:
            raise TypeError(f"{kind}_params apply to a {kind} name or class; the {kind} instance "
                            f"{type(obj).__name__} carries its own configuration.")
        cls = type(obj)
        params = {k: v for k, v in vars(obj).items() if not k.startswith("_") and not k.endswith("_")}
        try:
            cls(**params)
        except TypeError as err:
            raise TypeError(f"{kind} instance {cls.__name__} cannot be rebuilt from its attributes {params} "
                            f"({err}); pass the class and its parameters instead.") from None
        obj = cls
    module, qualname = getattr(obj, "__module__", ""), obj.__qualname__
    with contextlib.suppress(ImportError, AttributeError):
        if module != "__main__" and "<locals>" not in qualname:
            found = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
            if found is obj:
                return f"{module}:{qualname}", params
    name = obj.__name__
    if name in reg.names() and reg.load(name) is not obj:
        name = f"{module}.{qualname}".replace("<locals>.", "")
    reg.register(name, obj, overwrite=True)
    temporary.append((reg, name))
    return name, params


def _fingerprint(obj: Any) -> str:
    """A short hash of an object's pickled content; its id when it cannot be pickled (a lambda)."""
    import hashlib
    import pickle

    try:
        data = pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the identity
        return f"id{id(obj):x}"
    return hashlib.sha256(data).hexdigest()[:12]


def _benchmark_of(task: str) -> Any:
    """The registered benchmark whose presets list ``task`` (benchmarks that fail to load are
    passed over), or an ad hoc one under the task's ``protocol`` attribute (default: predictive;
    a posterior task such as one from ``trustbench.tasks.from_simulator`` says ``"posterior"``)."""
    from trustbench.registry import BENCHMARKS, TASKS
    from trustbench.types import Benchmark

    for name in BENCHMARKS.names():
        try:
            bench = BENCHMARKS.load(name)
        except ValueError:
            continue
        for preset in getattr(bench, "presets", {}).values():
            if task in (t if isinstance(t, str) else t.get("name") for t in preset.get("tasks", ())):
                return bench
    protocol = str(getattr(TASKS.load(task), "protocol", "predictive"))
    return Benchmark(name="evaluate", question="evaluate()", protocol=protocol, presets={})


def evaluate(task: Any, method: Any, *, params: Mapping[str, Any] | None = None,
             method_params: Mapping[str, Any] | None = None,
             perturbations: Mapping[str, Sequence[float] | None] | None = None,
             seeds: int | Iterable[int] = (0,), metrics: Iterable[str] | None = None, n_boot: int = 1000,
             db: str | Path | None = None):
    """Evaluate one method on one task, in this process; returns the records as a DataFrame.

    Parameters
    ----------
    task : a task name (``"regression/polynomial"``), a ``module:attr`` string, a class or an instance.
    method : a method name, ``module:attr`` string, class or instance (e.g. your own model).
    params, method_params : constructor parameters of the task and the method.
    perturbations : ``{"gaussian_noise": [0.1, 0.3]}``; None as severities means the defaults.
    seeds : seeds to run (one cell per seed).
    metrics : metric names; None means every registered metric.
    n_boot : bootstrap resamples for the confidence intervals.
    db : when given, results also go to (and already stored cells come from) this database.

    Returns
    -------
    pandas.DataFrame
        One row per (cell, perturbation, severity, metric) as in the store, including the task's
        reference method when it has one. Raises RuntimeError if a cell fails.

    The cells run as a one-benchmark suite named ``"evaluate"`` under the protocol of the task's
    benchmark (``predictive`` when the task belongs to none).
    """
    from trustbench.runner.grid import expand
    from trustbench.runner.store import Store

    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if perturbations is not None and not isinstance(perturbations, Mapping):
        raise TypeError(f"perturbations must be a mapping like {{'gaussian_noise': [0.1, 0.3]}}; got {perturbations!r}.")
    temporary: list[tuple[Any, str]] = []
    try:
        task_name, task_params = _as_reference(task, params, "task", temporary)
        method_name, method_kw = _as_reference(method, method_params, "method", temporary)
        bench = _benchmark_of(task_name)
        entry: dict[str, Any] = {
            "name": bench.name,
            "tasks": [{"name": task_name, "params": task_params}],
            "methods": [{"name": method_name, "params": method_kw}],
            "perturbations": [{"name": k, "severities": None if v is None else list(v)}
                              for k, v in (perturbations or {}).items()],
        }
        if metrics is not None:
            entry["metrics"] = [metrics] if isinstance(metrics, str) else list(metrics)
        raw = {"name": "evaluate", "seeds": seeds, "n_boot": n_boot, "benchmarks": [entry]}
        suite = resolve_suite(raw, "evaluate()", lookup=lambda name: bench)
        cells = expand(suite)
        store = Store("sqlite://" if db is None else db)
        summary = _execute(suite, cells, store, workers=1, scheduler=None, progress=False)
    finally:
        for reg, name in temporary:
            reg.unregister(name)
    if summary.n_failed:
        cells_df = store.cells()
        bad = cells_df[(cells_df.status == "error") & cells_df.cell_key.isin(summary.cell_keys)]
        raise RuntimeError(f"{summary.n_failed} cell(s) failed:\n" + "\n".join(summary.failures)
                           + f"\n\nfirst traceback:\n{bad.error.iloc[0]}")
    return store.records(cell_keys=summary.cell_keys).reset_index(drop=True)

