"""trustbench: standardized quality control of medical AI.

Reference problems with known ground truth, reference methods, perturbations and metrics that
carry their own uncertainty, run by one runner into one database and one report.

Heavy libraries (torch, jax, pandas, SQLAlchemy) load only when used, so ``import trustbench`` is fast.
"""

from __future__ import annotations

from trustbench.registry import lazy_getattr

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "run_suite", "write_report"]

_LAZY = {
    "evaluate": "trustbench.runner.api:evaluate",
    "run_suite": "trustbench.runner.api:run_suite",
    "write_report": "trustbench.report:write_report",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
