"""Suite files: which benchmarks, tasks, methods, explainers, perturbations, metrics and seeds to run.

A suite is a YAML file (or a mapping) checked in three steps before any work is done:

1. shape: pydantic models reject unknown keys and wrong types;
2. names: every benchmark, task, method, explainer, perturbation and metric must be registered (or be a
   ``module:attr`` reference), every severity must lie in the perturbation's bounds;
3. objects: every task, method and explainer is constructed with its parameters and its optional
   ``validate()`` is called.

Any failure raises :class:`SuiteError`, whose message names the file and the field, e.g.
``suite.yaml: benchmarks[0].methods[2]: unknown method 'deep_ensembel'. Did you mean 'deep_ensemble'?``

Precedence of a benchmark entry's fields: what the entry says, then what the suite says at its top
level (``seeds``, ``n_boot``), then the benchmark's ``preset``, then the defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from trustbench.runner.cells import Spec
from trustbench.validation import did_you_mean

__all__ = ["SuiteError", "Suite", "Entry", "load_suite", "builtin_suites", "resolve_suite", "protocol_module"]

SUITES_DIR = Path(__file__).with_name("suites")

Name = Annotated[str, Strict(), Field(min_length=1)]
Seed = Annotated[int, Strict(), Field(ge=0)]
NBoot = Annotated[int, Strict(), Field(ge=1)]
Number = Annotated[float, Strict()]


class SuiteError(ValueError):
    """A suite that cannot run; the message names the file and the field path."""


# --------------------------------------------------------------------------------------------
# step 1: shape (pydantic)
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        """A bare string stands for ``{name: string}``."""
        return {"name": value} if isinstance(value, str) else value


class SpecModel(_Model):
    """A task or method: a registry name (or ``module:attr``) and constructor parameters."""

    name: Name
    params: dict[str, Any] = {}


class PerturbationModel(_Model):
    """A perturbation and its severities (default: the perturbation's own ``severities``)."""

    name: Name
    severities: list[Number] | None = None


class EntryModel(_Model):
    """One benchmark of a suite, as written in the file (or in a benchmark's preset)."""

    name: Name
    preset: Name | None = None
    tasks: list[SpecModel] | None = None
    methods: list[SpecModel] | None = None
    perturbations: list[PerturbationModel] = []
    explainers: list[SpecModel] | None = None
    metrics: list[Name] | None = None
    seeds: list[Seed] | None = Field(default=None, min_length=1)
    n_boot: NBoot | None = None


class SuiteModel(BaseModel):
    """A suite file. ``benchmarks: all`` means every registered benchmark (with ``preset``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    seeds: list[Seed] = Field(default=[0], min_length=1)
    n_boot: NBoot = 1000
    preset: Name | None = None
    benchmarks: list[EntryModel] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _all_benchmarks(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and value.get("benchmarks") == "all":
            from trustbench.registry import BENCHMARKS

            return {**value, "benchmarks": BENCHMARKS.names()}
        return value


_MODEL_AT = {"": SuiteModel, "benchmarks": EntryModel, "tasks": SpecModel, "methods": SpecModel,
             "perturbations": PerturbationModel}


def _path(loc: Iterable[Any]) -> str:
    """``('benchmarks', 0, 'methods', 2)`` -> ``benchmarks[0].methods[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_message(err: Mapping[str, Any]) -> tuple[str, str]:
    """(field path, message) for one pydantic error, in the words of a suite file."""
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        parent = [p for p in loc[:-1] if isinstance(p, str)]
        allowed = list(_MODEL_AT[parent[-1] if parent else ""].model_fields)
        key = loc[-1]
        return _path(loc[:-1]) or "suite", (
            f"unknown key {key!r}.{did_you_mean(key, allowed)} Allowed keys: {', '.join(allowed)}."
        )
    if err["type"] == "model_type":
        return _path(loc), f"expected a name or a mapping; got {err['input']!r}."
    if err["type"] == "missing":
        return _path(loc), "required field is missing."
    msg = err["msg"][0].lower() + err["msg"][1:]
    return _path(loc), f"{msg}; got {err['input']!r}."


def _parse(raw: Any, source: str, model: type[BaseModel], prefix: str = "") -> BaseModel:
    if not isinstance(raw, Mapping):
        raise SuiteError(f"{source}: {prefix or 'suite'}: expected a mapping; got {raw!r}.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        path, msg = _pydantic_message(errors[0])
        more = f" ({len(errors) - 1} more error(s) after this one)" if len(errors) > 1 else ""
        raise SuiteError(f"{source}: {prefix}{path}: {msg}{more}") from None


# --------------------------------------------------------------------------------------------
# step 2 and 3: names and objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One benchmark of a suite, resolved: preset applied, defaults filled, names checked.

    This is the ``entry`` a protocol module's ``grid(suite, benchmark, entry, seeds)`` receives.
    Perturbation specs carry their severities as ``params["severities"]``.
    """

    name: str
    protocol: str
    tasks: tuple[Spec, ...]
    methods: tuple[Spec, ...]
    perturbations: tuple[Spec, ...]
    metrics: tuple[str, ...]
    seeds: tuple[int, ...]
    n_boot: int
    explainers: tuple[Spec, ...] = ()

    def config(self) -> dict[str, Any]:
        """JSON-able form (stored with each run)."""
        return {"name": self.name, "protocol": self.protocol, "seeds": list(self.seeds),
                "n_boot": self.n_boot, "metrics": list(self.metrics),
                **{k: [s.to_dict() for s in getattr(self, k)] for k in ("tasks", "methods", "perturbations")},
                **({"explainers": [s.to_dict() for s in self.explainers]} if self.explainers else {})}


@dataclass(frozen=True)
class Suite:
    """A validated suite: its name, its resolved benchmark entries and where it came from."""

    name: str
    entries: tuple[Entry, ...]
    source: str = "<suite>"

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "benchmarks": [e.config() for e in self.entries]}


def protocol_module(name: str):
    """The module of a protocol: ``"predictive"`` is ``trustbench.protocols.predictive``; a dotted
    name (``"mypkg.my_protocol"``) is imported as given."""
    return importlib.import_module(name if "." in name else f"trustbench.protocols.{name}")


def _check(source: str, path: str, fn: Callable[[], Any]) -> Any:
    """Run one check; turn its ValueError / TypeError into a SuiteError at ``path``."""
    try:
        return fn()
    except SuiteError:
        raise
    except (ValueError, TypeError) as err:
        raise SuiteError(f"{source}: {path}: {err}") from None


def _severities(name: str, given: list[float] | None, source: str, path: str) -> list[float]:
    from trustbench.perturb.base import check_severity
    from trustbench.registry import PERTURBATIONS

    fn = _check(source, path, lambda: PERTURBATIONS.load(PERTURBATIONS.check(name, "perturbation")))
    severities = given if given is not None else list(getattr(fn, "severities", ()) or ())
    if not severities:
        raise SuiteError(f"{source}: {path}: perturbation {name!r} has no default severities; give `severities`.")
    if hasattr(fn, "bounds"):
        for k, s in enumerate(severities):
            _check(source, f"{path}.severities[{k}]", lambda s=s: check_severity(fn, s))
    return [float(s) for s in severities]


def _build(spec: Spec, kind: str, source: str, path: str) -> None:
    """Construct a task or method from its parameters and call its optional ``validate()``."""
    from trustbench.registry import registry

    obj = _check(source, path, lambda: registry(kind).create(spec.name, **spec.params))
    if hasattr(obj, "validate"):
        _check(source, path, obj.validate)


def _resolve_entry(model: SuiteModel, entry: EntryModel, index: int, source: str,
                   lookup: Callable[[str], Any]) -> Entry:
    from trustbench.registry import EXPLAINERS, METHODS, METRICS, TASKS

    base = f"benchmarks[{index}]"
    bench = _check(source, f"{base}.name", lambda: lookup(entry.name))
    layers: list[tuple[EntryModel, set[str], str]] = [(entry, set(entry.model_fields_set), base)]
    layers.append((model, set(model.model_fields_set) & {"seeds", "n_boot"}, ""))
    preset_name = entry.preset or model.preset
    if preset_name is not None:
        presets = getattr(bench, "presets", {}) or {}
        if preset_name not in presets:
            field = f"{base}.preset" if entry.preset else "preset"
            raise SuiteError(f"{source}: {field}: benchmark {entry.name!r} has no preset {preset_name!r}."
                             f"{did_you_mean(preset_name, presets)} Presets: {', '.join(presets) or 'none'}.")
        where = f"{base} (preset {preset_name!r} of benchmark {entry.name!r})"
        preset = _parse({"name": entry.name, **presets[preset_name]}, source, EntryModel, prefix=f"{where}.")
        layers.append((preset, set(preset.model_fields_set) - {"name"}, where))

    def pick(field: str, default: Any = None) -> tuple[Any, str]:
        for layer, fields, where in layers:
            if field in fields:
                return getattr(layer, field), f"{where}.{field}" if where else field
        if default is None:
            raise SuiteError(f"{source}: {base}: no {field} given (and no preset to take them from).")
        return default, f"{base}.{field}"

    specs: dict[str, list[tuple[Spec, str]]] = {}
    for field, registry_ in (("tasks", TASKS), ("methods", METHODS)):
        items, path = pick(field)
        if not items:
            raise SuiteError(f"{source}: {path}: needs at least one entry.")
        for k, item in enumerate(items):
            _check(source, f"{path}[{k}]", lambda item=item: registry_.check(item.name))
        specs[field] = [(Spec(item.name, dict(item.params)), f"{path}[{k}]") for k, item in enumerate(items)]
    items, path = pick("explainers", [])
    for k, item in enumerate(items):
        _check(source, f"{path}[{k}]", lambda item=item: EXPLAINERS.check(item.name))
    specs["explainers"] = [(Spec(item.name, dict(item.params)), f"{path}[{k}]") for k, item in enumerate(items)]
    perturbations = []
    items, path = pick("perturbations", [])
    for k, item in enumerate(items):
        severities = _severities(item.name, item.severities, source, f"{path}[{k}]")
        perturbations.append(Spec(item.name, {"severities": severities}))
    metrics, path = pick("metrics", METRICS.names())
    for k, name in enumerate(metrics):
        _check(source, f"{path}[{k}]", lambda name=name: METRICS.check(name))
    seeds, path = pick("seeds", [0])
    if len(set(seeds)) != len(seeds):
        raise SuiteError(f"{source}: {path}: seeds must be distinct; got {list(seeds)}.")
    n_boot, _ = pick("n_boot", 1000)
    protocol = str(getattr(bench, "protocol", "predictive"))
    _check(source, f"{base}.name", lambda: _protocol_or_error(protocol, entry.name))
    for kind, items in specs.items():
        for spec, path in items:
            _build(spec, kind, source, path)
    return Entry(name=entry.name, protocol=protocol, tasks=tuple(s for s, _ in specs["tasks"]),
                 methods=tuple(s for s, _ in specs["methods"]), perturbations=tuple(perturbations),
                 metrics=tuple(metrics), seeds=tuple(seeds), n_boot=int(n_boot),
                 explainers=tuple(s for s, _ in specs["explainers"]))


def _protocol_or_error(protocol: str, benchmark: str) -> None:
    try:
        module = protocol_module(protocol)
    except ImportError as err:
        raise ValueError(f"benchmark {benchmark!r} has protocol {protocol!r}, which cannot be imported: {err}") from None
    missing = [f for f in ("grid", "run_cell") if not callable(getattr(module, f, None))]
    if missing:
        raise ValueError(f"protocol module {module.__name__!r} of benchmark {benchmark!r} lacks {', '.join(missing)}.")


def resolve_suite(raw: Any, source: str = "<suite>", *, benchmarks: Iterable[str] | None = None,
                  lookup: Callable[[str], Any] | None = None) -> Suite:
    """Validate a suite mapping (shape, names, objects) and resolve every entry.

    Parameters
    ----------
    raw : the suite as a mapping (what a suite YAML file holds).
    source : how errors name the suite (usually the file name).
    benchmarks : keep only these benchmark names (the CLI's ``--benchmark``); None keeps all.
    lookup : benchmark name -> Benchmark object; default: the ``trustbench.benchmarks`` registry.
    """
    from trustbench.registry import BENCHMARKS

    lookup = lookup or (lambda name: BENCHMARKS.load(BENCHMARKS.check(name)))
    model = _parse(raw, source, SuiteModel)
    indexed = list(enumerate(model.benchmarks))
    if benchmarks is not None:
        keep = list(benchmarks)
        names = [e.name for e in model.benchmarks]
        for name in keep:
            if name not in names:
                raise SuiteError(f"{source}: benchmark {name!r} is not in suite {model.name!r}."
                                 f"{did_you_mean(name, names)} Its benchmarks: {', '.join(names)}.")
        indexed = [(i, e) for i, e in indexed if e.name in keep]
    entries = tuple(_resolve_entry(model, entry, i, source, lookup) for i, entry in indexed)
    return Suite(name=model.name, entries=entries, source=source)


def builtin_suites() -> list[str]:
    """Names of the suites shipped with trustbench (``runner/suites/*.yaml``)."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def read_yaml(path: Path, source: str) -> Any:
    """Parse a YAML file; malformed YAML becomes a SuiteError with the line and column."""
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SuiteError(f"{source}: {where}malformed YAML: {err.problem or err.context}.") from None
    except yaml.YAMLError as err:
        raise SuiteError(f"{source}: malformed YAML: {err}") from None


def load_suite(suite: str | Path | Mapping[str, Any] | Suite, *, benchmarks: Iterable[str] | None = None) -> Suite:
    """Load and validate a suite: a built-in name (``quick``, ``full``), a YAML path, or a mapping.

    Every check runs before any work; a bad suite raises :class:`SuiteError` naming the file and
    the field. ``benchmarks`` keeps only those benchmark entries.
    """
    if isinstance(suite, Suite):
        if benchmarks is None:
            return suite
        keep = set(benchmarks)
        return Suite(suite.name, tuple(e for e in suite.entries if e.name in keep), suite.source)
    if isinstance(suite, Mapping):
        return resolve_suite(suite, f"<suite {suite.get('name', '?')!r}>", benchmarks=benchmarks)
    if not isinstance(suite, (str, Path)):
        raise TypeError(f"suite must be a suite name, a path to a YAML file or a mapping; got {suite!r}.")
    path = Path(suite)
    if not path.is_file():
        if str(suite) not in builtin_suites():
            known = builtin_suites()
            raise SuiteError(f"suite {str(suite)!r} not found: no such file and no built-in suite of that name."
                             f"{did_you_mean(str(suite), known)} Built-in suites: {', '.join(known)}.")
        path = SUITES_DIR / f"{suite}.yaml"
        source = path.name
    else:
        source = str(suite)
    return resolve_suite(read_yaml(path, source), source, benchmarks=benchmarks)
