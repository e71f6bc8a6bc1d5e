"""The runner: suite files, the grid of cells, executors (local processes, Dask), the store.

Everything loads lazily (``trustbench.runner.cells`` is imported by protocols, and SQLAlchemy,
pandas and pydantic load only when a suite is run or the store is read).
"""

from __future__ import annotations

from trustbench.registry import lazy_getattr

__all__ = ["load_suite", "Suite", "SuiteError", "run_suite", "evaluate", "RunSummary", "Store"]

_LAZY = {
    "load_suite": "trustbench.runner.config:load_suite",
    "Suite": "trustbench.runner.config:Suite",
    "SuiteError": "trustbench.runner.config:SuiteError",
    "run_suite": "trustbench.runner.api:run_suite",
    "evaluate": "trustbench.runner.api:evaluate",
    "RunSummary": "trustbench.runner.api:RunSummary",
    "Store": "trustbench.runner.store:Store",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
