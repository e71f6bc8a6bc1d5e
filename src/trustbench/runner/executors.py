"""Where cells run: in this process, in a pool of local processes, or on a Dask cluster.

Workers only run :func:`run_cell_safely` and send back :class:`CellResult` objects; the driver
writes them to the store. A cell is submitted once the payloads of its ``depends_on`` cells are
available, from this run or from the store. Every cell runs with one thread (torch, BLAS, XLA), so
its records are the same whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from trustbench.runner.cells import Cell, CellResult

__all__ = ["run_cell_safely", "execute", "THREAD_ENV"]

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
"""Environment that keeps numerical libraries on one thread (set before they are imported)."""


def _one_thread() -> None:
    os.environ.update(THREAD_ENV)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _worker_init() -> None:
    """A local worker process: one thread, and exit when the parent dies (a ``kill``/SIGTERM of
    ``trustbench run`` runs no cleanup, and the workers would otherwise compute on, orphaned)."""
    import threading
    import time

    _one_thread()
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="trustbench-parent-watch", daemon=True).start()


def run_cell_safely(cell: Cell, inputs: dict[str, Any]) -> CellResult:
    """Run one cell with its protocol's ``run_cell``, on one thread; an exception becomes an error result."""
    from threadpoolctl import threadpool_limits

    from trustbench.runner.config import protocol_module

    start = time.perf_counter()
    _one_thread()
    try:
        with threadpool_limits(1):
            result = protocol_module(cell.protocol).run_cell(cell, inputs)
        result.key = cell.key
        result.check()
    except Exception:
        return CellResult(key=cell.key, error=traceback.format_exc(), seconds=time.perf_counter() - start)
    finally:
        _one_thread()  # torch may have been imported by the cell
    return result


# --------------------------------------------------------------------------------------------
# pools: submit(cell, inputs) -> future, and wait for the first finished futures
# --------------------------------------------------------------------------------------------


class _InProcess:
    """Runs each cell when the driver waits for it, one at a time, so results are stored as they come."""

    def __init__(self) -> None:
        self.queue: list[tuple[Future, Cell, dict[str, Any]]] = []

    def submit(self, cell: Cell, inputs: dict[str, Any]) -> Future:
        fut: Future = Future()
        self.queue.append((fut, cell, inputs))
        return fut

    def wait_first(self, futures: Sequence[Future]) -> set[Future]:
        fut, cell, inputs = self.queue.pop(0)
        fut.set_result(run_cell_safely(cell, inputs))
        return {fut}


@contextlib.contextmanager
def _in_process() -> Iterator[_InProcess]:
    """In-process pool; the thread settings of this process are restored afterwards."""
    saved_env = {k: os.environ.get(k) for k in THREAD_ENV}
    torch = sys.modules.get("torch")
    saved_threads = torch.get_num_threads() if torch is not None else None
    try:
        yield _InProcess()
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if saved_threads is not None:
            torch.set_num_threads(saved_threads)


class _Processes:
    def __init__(self, executor: Any, wait_fn: Callable) -> None:
        self.executor = executor
        self.wait_fn = wait_fn

    def submit(self, cell: Cell, inputs: dict[str, Any]):
        return self.executor.submit(run_cell_safely, cell, inputs)

    def wait_first(self, futures):
        return set(self.wait_fn(list(futures), return_when=FIRST_COMPLETED).done)


@contextlib.contextmanager
def _local_processes(workers: int) -> Iterator[_Processes]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        yield _Processes(pool, wait)


class _Dask(_Processes):
    def submit(self, cell: Cell, inputs: dict[str, Any]):
        return self.executor.submit(run_cell_safely, cell, inputs, key=f"cell-{cell.key}", pure=False)


@contextlib.contextmanager
def _dask(scheduler: str, workers: int) -> Iterator[_Dask]:
    from distributed import Client, LocalCluster
    from distributed import wait as dask_wait

    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=THREAD_ENV)
        with cluster, Client(cluster) as client:
            yield _Dask(client, dask_wait)
    else:
        with Client(scheduler) as client:
            yield _Dask(client, dask_wait)


def _pool(workers: int, scheduler: str | None):
    if scheduler is not None:
        return _dask(scheduler, workers)
    return _in_process() if workers == 1 else _local_processes(workers)


# --------------------------------------------------------------------------------------------
# scheduling
# --------------------------------------------------------------------------------------------


def _failed(cell: Cell, reason: str) -> CellResult:
    return CellResult(key=cell.key, error=reason)


def execute(cells: Sequence[Cell], *, load_payload: Callable[[str], Any], workers: int = 1,
            scheduler: str | None = None) -> Iterator[tuple[Cell, CellResult]]:
    """Run ``cells`` and yield ``(cell, result)`` as each finishes.

    Parameters
    ----------
    cells : cells in dependency order (:func:`trustbench.runner.grid.order`).
    load_payload : key -> payload of a dependency that is not in ``cells`` (from the store);
        raises KeyError when there is none.
    workers : number of worker processes (1 without ``scheduler``: this process).
    scheduler : None (local), ``"local"`` (a Dask LocalCluster of ``workers`` processes) or the
        address of a Dask scheduler (``"tcp://host:8786"``).

    A cell whose dependency failed (or is missing) is yielded as an error without running.
    """
    keys = {c.key for c in cells}
    dependents: dict[str, int] = {}
    for cell in cells:
        for d in cell.depends_on:
            dependents[d] = dependents.get(d, 0) + 1
    payloads: dict[str, Any] = {}
    failed: set[str] = set()
    with _pool(workers, scheduler) as pool:
        pending, running = list(cells), {}
        while pending or running:
            waiting = []
            for cell in pending:
                blocked = _blocked(cell, keys, payloads, failed, load_payload)
                if blocked is None:
                    inputs = {d: payloads[d] for d in cell.depends_on}
                    for d in cell.depends_on:  # forget a payload once every dependent has it
                        dependents[d] -= 1
                        if dependents[d] == 0:
                            del payloads[d]
                    try:
                        running[pool.submit(cell, inputs)] = cell
                    except Exception:  # a broken pool (a worker was killed) takes no more work
                        failed.add(cell.key)
                        yield cell, _failed(cell, traceback.format_exc())
                elif blocked:
                    failed.add(cell.key)
                    yield cell, _failed(cell, blocked)
                else:
                    waiting.append(cell)
            pending = waiting
            if not running:
                if pending:  # impossible for cells in dependency order
                    raise RuntimeError(f"cells wait for dependencies that never run: {[c.key for c in pending]}")
                break
            for fut in pool.wait_first(running):
                cell = running.pop(fut)
                try:
                    result = fut.result()
                except Exception:  # the worker itself died (killed, out of memory, ...)
                    result = _failed(cell, traceback.format_exc())
                if result.ok:
                    if dependents.get(cell.key):
                        payloads[cell.key] = result.payload
                else:
                    failed.add(cell.key)
                yield cell, result


def _blocked(cell: Cell, keys: set[str], payloads: dict[str, Any], failed: set[str],
             load_payload: Callable[[str], Any]) -> str | None:
    """None when the cell can run now; "" when it must wait; else why it cannot run."""
    for d in cell.depends_on:
        if d in failed:
            return f"dependency {d} failed; this cell runs again on the next run."
        if d in payloads:
            continue
        if d in keys:
            return ""
        try:
            payloads[d] = load_payload(d)
        except KeyError:
            return f"dependency {d} is neither in this run nor stored as ok."
    return None
