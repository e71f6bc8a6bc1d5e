"""trustbench: standardized quality control of medical AI.

Reference problems with known ground truth, reference methods, perturbations and metrics that
carry their own uncertainty, run by one runner into one database and one report.

Heavy libraries (torch, jax, pandas, SQLAlchemy) load only when used, so ``import trustbench`` is fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "run_suite", "write_report"]

_LAZY = {
    "evaluate": "trustbench.runner.api:evaluate",
    "run_suite": "trustbench.runner.api:run_suite",
    "write_report": "trustbench.report:write_report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from trustbench.registry import import_object

        return import_object(_LAZY[name])
    raise AttributeError(f"module 'trustbench' has no attribute {name!r}")
