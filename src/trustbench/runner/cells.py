"""Cells: the unit of work of a suite, keyed by a hash of their configuration."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Spec", "Cell", "CellResult", "stable_json", "RECORD_KEYS"]

RECORD_KEYS = ("benchmark", "task", "method", "perturbation", "severity", "seed", "metric",
               "value", "ci_low", "ci_high", "n")
"""The keys of a record as a protocol returns it (the runner adds run_id, suite, cell_key, ...)."""


def stable_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) used for hashing and storing configurations."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Spec:
    """A registry name (or ``module:attr``) with keyword parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """The name, with parameters when there are any: ``gp(lengthscale=0.5)``."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class Cell:
    """One (benchmark, task, method, seed); evaluated on clean data and every perturbation."""

    suite: str
    benchmark: str
    protocol: str
    task: Spec
    method: Spec
    seed: int
    perturbations: tuple[Spec, ...] = ()
    metrics: tuple[str, ...] = ()
    n_boot: int = 1000
    depends_on: tuple[str, ...] = ()
    explainers: tuple[Spec, ...] = ()
    """Attribution methods applied to the fitted method (the attribution protocol); empty elsewhere."""
    task_label: str = ""
    """How records and the report name the task when its registry name is not enough (one task class
    with several cohorts: ``icu/mortality24/eicu_demo``); empty means ``task.name``."""

    @property
    def task_name(self) -> str:
        return self.task_label or self.task.name

    def config(self) -> dict[str, Any]:
        """The JSON-able configuration that defines this cell."""
        out = asdict(self)
        out["task"] = self.task.to_dict()
        out["method"] = self.method.to_dict()
        out["perturbations"] = [p.to_dict() for p in self.perturbations]
        out["metrics"] = list(self.metrics)
        out["depends_on"] = list(self.depends_on)
        out["explainers"] = [e.to_dict() for e in self.explainers]
        if not self.explainers:  # cells of other protocols keep the keys they had before explainers existed
            del out["explainers"]
        return out

    @property
    def key(self) -> str:
        """sha256 of the configuration and the package version (a new version re-runs the cell)."""
        from trustbench import __version__

        text = stable_json({"cell": self.config(), "version": __version__})
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class CellResult:
    """What running a cell gives back to the driver (workers never write to the store)."""

    key: str
    records: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    payload: Any = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self) -> None:
        """Raise ValueError unless every record has exactly :data:`RECORD_KEYS` and no two records
        share (method, perturbation, severity, metric)."""
        seen = set()
        for i, rec in enumerate(self.records):
            if set(rec) != set(RECORD_KEYS):
                raise ValueError(f"record {i} of cell {self.key} has keys {sorted(rec)}; expected {list(RECORD_KEYS)}.")
            ident = (rec["method"], rec["perturbation"], float(rec["severity"]), rec["metric"])
            if ident in seen:
                raise ValueError(f"cell {self.key} returned two records for {ident}.")
            seen.add(ident)
