"""Names -> factories for tasks, methods, perturbations, metrics and benchmarks.

Built-ins and third-party plugins use the same mechanism: Python entry points in the groups
``trustbench.tasks``, ``trustbench.methods``, ``trustbench.perturbations``, ``trustbench.metrics``,
``trustbench.explainers`` and ``trustbench.benchmarks`` (see this project's ``pyproject.toml``). Entries stay ``module:attr``
strings until used, so listing names imports no torch or jax. Anywhere a name is accepted, a
``module:callable`` reference to the user's own object is accepted too.
"""

from __future__ import annotations

import importlib
from typing import Any


__all__ = ["lazy_getattr", "import_object", "Registry", "TASKS", "METHODS", "PERTURBATIONS", "METRICS", "EXPLAINERS", "BENCHMARKS", "registry", "KINDS"]

def import_object(ref: str, what: str = "object") -> Any:
    """Import ``module:attr`` (``attr`` may be dotted)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{what} reference must look like 'module:attr'; got {ref!r}.")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r} for {what} {ref!r}: {err}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (for {what} {ref!r}).") from None
    return obj

def lazy_getattr(module: str, targets: dict[str, str]):
    """A module ``__getattr__`` (PEP 562) importing ``targets[name]`` (``module:attr``) on first access."""

    def __getattr__(name: str) -> Any:
        if name in targets:
            return import_object(targets[name])
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


class Registry:
    """One kind of thing, by name. Lazy: entry points are read on first use, objects imported on demand."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, str | Any] | None = None

    def _load_entries(self) -> dict[str, str | Any]:
        if self._entries is None:
            from importlib.metadata import entry_points

            self._entries = {ep.name: ep.value for ep in entry_points(group=self.group)}
        return self._entries

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._load_entries())

    def __contains__(self, name: str) -> bool:
        return name in self._load_entries() or (isinstance(name, str) and ":" in name)

    def register(self, name: str, target: str | Any, *, overwrite: bool = False) -> None:
        """Register ``target`` (an object or a ``module:attr`` string) under ``name`` in this process."""
        entries = self._load_entries()
        if name in entries and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it.")
        entries[name] = target

    def unregister(self, name: str) -> None:
        self._load_entries().pop(name, None)

    def check(self, name: Any, field: str | None = None) -> str:
        """Raise a ValueError (with a suggestion) unless ``name`` is registered or a ``module:attr``."""
        label = field or self.kind
        if not isinstance(name, str) or not name:
            raise TypeError(f"{label} must be a non-empty name string; got {name!r}.")
        if ":" in name:
            import_object(name, self.kind)
            return name
        if name not in self._load_entries():
            from trustbench.validation import did_you_mean

            hint = did_you_mean(name, self.names())
            raise ValueError(
                f"unknown {label} {name!r}.{hint} Known {self.kind}s: {', '.join(self.names()) or 'none'}."
            )
        return name

    def load(self, name: str) -> Any:
        """The registered object (class, function or instance), imported now."""
        self.check(name)
        if ":" in name and name not in self._load_entries():
            return import_object(name, self.kind)
        target = self._load_entries()[name]
        return import_object(target, f"{self.kind} {name!r}") if isinstance(target, str) else target

    def create(self, name: str, **params: Any) -> Any:
        """Instantiate a registered class (or call a factory) with ``params``.

        A registered object that is not callable (a Benchmark, a metric spec) is returned as is;
        passing parameters to it is an error.
        """
        obj = self.load(name)
        if isinstance(obj, type) or (callable(obj) and self.kind in ("task", "method", "explainer")):
            try:
                return obj(**params)
            except TypeError as err:
                raise TypeError(f"{self.kind} {name!r} does not accept parameters {params}: {err}") from None
        if params:
            raise TypeError(f"{self.kind} {name!r} takes no parameters; got {params}.")
        return obj

    def describe(self, name: str) -> str:
        """One line about ``name``: a benchmark's question or description, else the first docstring line."""
        obj = self.load(name)
        for attr in ("question", "description"):
            text = getattr(obj, attr, None)
            if isinstance(text, str) and text.strip():
                return text.strip().splitlines()[0]
        doc = getattr(obj, "__doc__", None)
        if not doc or (not isinstance(obj, type) and not callable(obj) and doc == type(obj).__doc__):
            return ""
        return doc.strip().splitlines()[0]


TASKS = Registry("task", "trustbench.tasks")
METHODS = Registry("method", "trustbench.methods")
PERTURBATIONS = Registry("perturbation", "trustbench.perturbations")
METRICS = Registry("metric", "trustbench.metrics")
EXPLAINERS = Registry("explainer", "trustbench.explainers")
BENCHMARKS = Registry("benchmark", "trustbench.benchmarks")

KINDS: dict[str, Registry] = {
    "tasks": TASKS,
    "methods": METHODS,
    "perturbations": PERTURBATIONS,
    "metrics": METRICS,
    "explainers": EXPLAINERS,
    "benchmarks": BENCHMARKS,
}

def registry(kind: str) -> Registry:
    """The registry for ``kind`` (plural: 'tasks', 'methods', ...)."""
    from trustbench.validation import check_choice

    return KINDS[check_choice(kind, "kind", KINDS)]
