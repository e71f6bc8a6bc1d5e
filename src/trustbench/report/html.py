"""The HTML report: one self-contained page from the store's records, cells and artifacts.

The page opens offline: CSS in the template, figures as inline SVG, no JavaScript, no external
resource. Every user-provided string (benchmark, task and method names, parameters, error text) is
escaped by jinja2's autoescape. ``build_report`` is a pure function of three data frames (and the
benchmark / metric metadata); ``write_report`` reads them from the store and writes the file.

Per benchmark: its question and run metadata, the reference gap (distance of each method's
predictive to the reference posterior predictive, the headline figure), then per task a
leaderboard on clean data (mean over seeds of the value and of its bootstrap CI bounds, best
method under test marked), PIT histograms, coverage curves, predictive bands (1-D tasks), metrics
against perturbation severity, the GUM view (estimate, u, U = k·u, coverage interval; JCGM 100:2008)
and MCMC diagnostics (R-hat, ESS; Vehtari et al. 2021), and finally the failed cells.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trustbench.protocols.predictive import REFERENCE

__all__ = ["build_report", "write_report", "MetricInfo", "metric_info", "fmt", "KEY_METRICS"]

logger = logging.getLogger("trustbench")

KEY_METRICS = ("crps", "nll", "rmse", "coverage_90", "width_90", "pit_calibration_error",
               "reference_w1", "truth_w1", "auroc", "auprc", "brier", "ece", "cal_slope", "true_risk_mae",
               "truth_mae", "pehe", "ate_error")
"""Leaderboard columns, in this order, when present; the other metrics go to a folded table."""
GAP_METRICS = ("reference_w1", "reference_kl")
SEVERITY_METRICS = (("crps", "nll", "rmse", "mae", "auroc", "pehe"), ("coverage_90", "ece"))
"""Severity figures: the first present metric of each group."""
RHAT_MAX, ESS_MIN = 1.01, 400.0
ERROR_LINES = 30
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
REFERENCE_COLOR = "#111827"

RECORD_COLUMNS = ("benchmark", "task", "method", "perturbation", "severity", "seed", "metric",
                  "value", "ci_low", "ci_high")
CELL_COLUMNS = ("benchmark", "task", "method", "seed", "status", "error", "seconds")
ARTIFACT_COLUMNS = ("benchmark", "task", "method", "seed", "name", "value")


# --------------------------------------------------------------------------------------------
# formatting and metadata
# --------------------------------------------------------------------------------------------


def fmt(x: Any) -> str:
    """A number with 3 significant digits (fixed notation from 1e-3 to 1e5), '–' when missing."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    x = float(f"{x:.3g}")
    if x == 0:
        return "0"
    if not 1e-3 <= abs(x) < 1e5:
        return f"{x:.2e}"
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a mapping, ``obj.name`` otherwise."""
    return obj.get(name, default) if isinstance(obj, Mapping) else getattr(obj, name, default)


@dataclass(frozen=True)
class MetricInfo:
    """What the report needs to know about a metric: which way is better, and what it means.

    ``higher_is_better=None`` with an ``ideal`` (coverage_90: 0.9) means "closest to ideal";
    with neither, the column is shown without a best mark.
    """

    name: str
    higher_is_better: bool | None = None
    ideal: float | None = None
    description: str = ""

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return "" if self.ideal is None else f"ideal {self.ideal:g}"
        return "↑" if self.higher_is_better else "↓"

    def score(self, values: Any) -> np.ndarray:
        """Larger is better: the value, its negative, or minus its distance to the ideal; NaN when
        the metric has no direction."""
        v = np.asarray(values, dtype=float)
        if self.higher_is_better is None:
            return np.full(v.shape, np.nan) if self.ideal is None else -np.abs(v - self.ideal)
        return v if self.higher_is_better else -v

    def best(self, values: Any) -> np.ndarray:
        """Boolean mask of the best finite values (ties all marked)."""
        score = self.score(values)
        ok = np.isfinite(score)
        if not ok.any():
            return ok
        return ok & np.isclose(score, score[ok].max(), rtol=1e-9, atol=0.0)


def metric_info(name: str, spec: Any = None) -> MetricInfo:
    """MetricInfo from ``spec`` (a MetricSpec or a mapping), else from the metric registry.

    An unknown metric (not registered, or its module not importable) gets no direction.
    """
    if spec is None:
        from trustbench.registry import METRICS

        try:
            spec = METRICS.load(name)
        except (ValueError, TypeError) as err:
            logger.debug("report: no metadata for metric %r (%s)", name, err)
            return MetricInfo(name)
    hib = _field(spec, "higher_is_better")
    ideal = _field(spec, "ideal")
    return MetricInfo(
        name=name,
        higher_is_better=None if hib is None else bool(hib),
        ideal=None if ideal is None else float(ideal),
        description=str(_field(spec, "description", "") or ""),
    )


def _benchmark_meta(names: list[str]) -> dict[str, Any]:
    """Benchmark objects from the registry; a name that does not load is left out."""
    from trustbench.registry import BENCHMARKS

    out = {}
    for name in names:
        try:
            out[name] = BENCHMARKS.load(name)
        except (ValueError, TypeError) as err:
            logger.debug("report: no metadata for benchmark %r (%s)", name, err)
    return out


# --------------------------------------------------------------------------------------------
# small helpers over frames
# --------------------------------------------------------------------------------------------


def _check_frame(frame: Any, name: str, columns: tuple[str, ...]):
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it has {list(frame.columns)}.")
    return frame


def _slugger():
    used: set[str] = set()

    def slug(*parts: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-") or "section"
        out, k = base, 2
        while out in used:
            out, k = f"{base}-{k}", k + 1
        used.add(out)
        return out

    return slug


def _ordered_methods(*frames) -> list[str]:
    """Methods in order of first appearance, the reference first."""
    seen: dict[str, None] = {}
    for frame in frames:
        for m in frame["method"].astype(str):
            seen.setdefault(m, None)
    return sorted(seen, key=lambda m: m != REFERENCE)


def _colors(methods: list[str]) -> dict[str, str]:
    others = [m for m in methods if m != REFERENCE]
    out = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(others)}
    out[REFERENCE] = REFERENCE_COLOR
    return out


def _mean_ci(frame, by: list[str]):
    """Mean over seeds of value, ci_low and ci_high per group (NaN ignored), with the seed count."""
    g = frame.groupby(by, sort=False)
    out = g[["value", "ci_low", "ci_high"]].mean()
    out["seeds"] = g["seed"].nunique()
    return out


def _text(value: Any) -> str:
    """A stored error message; a missing one (None, NaN) is empty."""
    return value if isinstance(value, str) else ""


def _clip_lines(text: str) -> str:
    lines = text.strip().splitlines()
    if len(lines) <= ERROR_LINES:
        return "\n".join(lines)
    head, tail = 5, ERROR_LINES - 6
    return "\n".join([*lines[:head], f"… {len(lines) - head - tail} lines omitted …", *lines[-tail:]])


def _headline(text: str) -> str:
    """The line that says what went wrong: a traceback's last line, else the first line."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no error message)"
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


# --------------------------------------------------------------------------------------------
# views: plain dicts and lists for the template
# --------------------------------------------------------------------------------------------


def _table(agg, rows: list[str], cols: list[tuple[Any, str, MetricInfo]]) -> dict[str, Any]:
    """A table of ``value [low, high]`` cells; ``agg`` maps (row, col key) -> (value, low, high).

    ``cols`` are (key, header, info). Per column, the best row other than the reference is marked.
    """
    columns, grid = [], {}
    for key, header, info in cols:
        vals = [agg.get((r, key), (np.nan,) * 3) for r in rows]
        test = np.array([v[0] if r != REFERENCE else np.nan for r, v in zip(rows, vals)], float)
        best = info.best(test)
        columns.append({"name": header, "direction": info.direction, "title": info.description})
        for r, v, b in zip(rows, vals, best):
            grid[r, key] = {"key": str(key), "value": fmt(v[0]), "ci": f"[{fmt(v[1])}, {fmt(v[2])}]",
                            "best": bool(b), "missing": not np.isfinite(v[0])}
    return {
        "columns": columns,
        "rows": [{"label": r, "is_ref": r == REFERENCE, "cells": [grid[r, c[0]] for c in cols]} for r in rows],
    }


def _agg_dict(agg) -> dict[tuple, tuple[float, float, float]]:
    return {k: (row.value, row.ci_low, row.ci_high) for k, row in zip(agg.index, agg.itertuples())}


def _leaderboards(clean, infos: dict[str, MetricInfo], key_metrics: Sequence[str] = KEY_METRICS,
                  ) -> tuple[dict | None, dict | None, int]:
    """Key-metric leaderboard and the table of the other metrics, for one task's clean records."""
    if clean.empty:
        return None, None, 0
    agg = _mean_ci(clean, ["method", "metric"])
    present = list(dict.fromkeys(clean["metric"].astype(str)))
    key = [m for m in key_metrics if m in present] or present
    other = sorted(m for m in present if m not in key)
    values = _agg_dict(agg)
    primary = next((m for m in key if infos[m].direction), None)

    def order(m: str) -> tuple[int, float]:
        """The reference first, then the best on the primary metric; unranked methods last."""
        if m == REFERENCE or primary is None:
            return (m != REFERENCE, 0.0)
        score = infos[primary].score(values.get((m, primary), (np.nan,))[0])
        return (1, -score if np.isfinite(score) else np.inf)

    rows = sorted(dict.fromkeys(clean["method"].astype(str)), key=order)
    table = _table(values, rows, [(m, m, infos[m]) for m in key])
    rest = _table(values, rows, [(m, m, infos[m]) for m in other]) if other else None
    return table, rest, int(agg["seeds"].max())


def _gap(records, infos, tasks: list[str], methods: list[str], colors, salt: str) -> list[dict]:
    """Reference gap tables (methods × tasks) and figures, one per gap metric present."""
    from trustbench.report.figures import gap_figure

    clean = records[(records["perturbation"] == "none") & records["metric"].isin(GAP_METRICS)
                    & (records["method"] != REFERENCE)]
    out = []
    for metric in (m for m in GAP_METRICS if (clean["metric"] == m).any()):
        sub = clean[clean["metric"] == metric]
        values = _agg_dict(_mean_ci(sub, ["method", "task"]))
        rows = [m for m in methods if m in set(sub["method"])]
        cols = [t for t in tasks if t in set(sub["task"])]
        panels = [{"title": t, "rows": [{"label": m, "color": colors[m], **dict(zip(
            ("value", "low", "high"), values.get((m, t), (np.nan,) * 3)))} for m in rows]} for t in cols]
        out.append({
            "metric": metric,
            "table": _table(values, rows, [(t, t, infos[metric]) for t in cols]),
            "figure": gap_figure(panels, metric, f"{salt}-{metric}"),
        })
    return out


def _artifact(arts, name: str) -> dict[str, list]:
    """method -> [(seed, value dict), ...] for one artifact name, seeds ascending."""
    out: dict[str, list] = {}
    sub = arts[arts["name"] == name].sort_values("seed", kind="stable")
    for method, seed, value in zip(sub["method"].astype(str), sub["seed"], sub["value"]):
        if isinstance(value, Mapping):
            out.setdefault(method, []).append((seed, value))
    return out


def _width(n_panels: int) -> int:
    """Columns (of the page's 6) for a figure of small multiples: a third, a half, or all."""
    return {1: 2, 2: 3}.get(n_panels, 6)


def _figures(records, arts, methods: list[str], colors, salt: str) -> list[dict]:
    """The figures of one task, those whose data exist."""
    from trustbench.report import figures as F

    figs = []
    pit = _artifact(arts, "pit")
    if pit:
        panels = []
        for m in (m for m in methods if m in pit):
            edges = pit[m][0][1]["edges"]
            same = [v["hist"] for _, v in pit[m] if len(v["hist"]) == len(pit[m][0][1]["hist"])]
            panels.append({"label": m, "color": colors[m], "hist": np.sum(same, axis=0), "edges": edges})
        figs.append({"title": "PIT histograms", "width": 4 if len(panels) > 2 else 2, "svg": F.pit_figure(panels, f"{salt}-pit"),
                     "caption": "Probability integral transform on clean test data, summed over seeds. "
                                "Flat (dashed line) is calibrated; ∪ = too narrow, ∩ = too wide."})
    cov = _artifact(arts, "coverage")
    if cov:
        lines = [{"label": m, "color": colors[m], "levels": cov[m][0][1]["levels"],
                  "observed": np.mean([v["observed"] for _, v in cov[m]], axis=0)}
                 for m in methods if m in cov]
        figs.append({"title": "Coverage", "width": 2, "svg": F.coverage_figure(lines, f"{salt}-cov"),
                     "caption": "Observed coverage of central intervals vs nominal level (mean over seeds). "
                                "Below the diagonal: over-confident."})
    bands = _artifact(arts, "bands")
    if bands:
        seed = min(s for items in bands.values() for s, _ in items)
        at = {m: dict(items)[seed] for m, items in bands.items() if seed in dict(items)}
        data = next((dict(items)[seed] for items in _artifact(arts, "data").values() if seed in dict(items)), None)
        truth = next((b["truth"] for b in at.values() if b.get("truth")), None)
        ref = at.get(REFERENCE)
        shown = [m for m in methods if m in at and m != REFERENCE] or [m for m in methods if m in at]
        panels = [{"label": m, "color": colors[m], "band": at[m]} for m in shown]
        level = next(iter(at.values())).get("level")
        figs.append({"title": "Predictive bands", "width": _width(len(panels)),
                     "svg": F.bands_figure(panels, ref, truth, data, f"{salt}-bands"),
                     "caption": f"Mean and {f'{100 * level:g} %' if level else ''} central band of each method "
                                f"(seed {seed}), against the truth (grey, dashed) and the reference method "
                                "(black, dotted band)."})
    figs.extend(_severity_figures(records, methods, colors, salt))
    return figs


def _severity_figures(records, methods: list[str], colors, salt: str) -> list[dict]:
    """Per severity metric (crps or the first of nll/rmse/mae; coverage_90), one figure with a panel per
    perturbation: mean over seeds with the mean CI, the clean value drawn at severity 0."""
    import pandas as pd

    from trustbench.report.figures import severity_figure

    if (records["perturbation"] == "none").all():
        return []
    present = set(records["metric"])
    chosen = [next(m for m in group if m in present) for group in SEVERITY_METRICS
              if any(m in present for m in group)]
    out = []
    for metric in chosen:
        agg = _mean_ci(records[records["metric"] == metric], ["perturbation", "method", "severity"]).reset_index()
        groups = dict(iter(agg.groupby(["perturbation", "method"], sort=False)))
        panels = []
        for pert in dict.fromkeys(agg.loc[agg["perturbation"] != "none", "perturbation"].astype(str)):
            series = []
            for m in (m for m in methods if (pert, m) in groups):
                s = groups[pert, m].sort_values("severity")
                if ("none", m) in groups:  # severity 0 = the clean test set
                    s = pd.concat([groups["none", m].assign(severity=0.0), s])
                series.append({"label": m, "color": colors[m], "severity": s["severity"].to_numpy(float),
                               "value": s["value"].to_numpy(float), "low": s["ci_low"].to_numpy(float),
                               "high": s["ci_high"].to_numpy(float)})
            if series:
                panels.append({"title": pert, "series": series})
        if panels:
            out.append({"title": f"{metric} vs severity", "width": _width(len(panels)),
                        "svg": severity_figure(panels, metric, f"{salt}-sev-{metric}"),
                        "caption": f"{metric} (mean over seeds, bars: mean CI) against perturbation "
                                   "severity; severity 0 is the clean test set."})
    return out


def _fmt_x(x: Any) -> str:
    """An input vector, shortened to its first three coordinates."""
    v = np.atleast_1d(np.asarray(x, dtype=float))
    return ", ".join(fmt(c) for c in v[:3]) + (", …" if v.size > 3 else "")


def _gum(arts, methods: list[str]) -> dict | None:
    """The GUM view: per method (first seed) and test input, estimate ± U with u and the interval."""
    gum = _artifact(arts, "gum")
    entries = [(m, gum[m][0][1]) for m in methods if m in gum and gum[m][0][1].get("rows")]
    if not entries:
        return None
    inputs = [[_fmt_x(r.get("x", [])) for r in value["rows"]] for _, value in entries]
    same = all(x == inputs[0] for x in inputs)
    n = max(len(x) for x in inputs)
    rows = []
    for (m, value), xs in zip(entries, inputs):
        k = value.get("k")
        cells = [{"estimate": fmt(r.get("estimate")), "U": fmt(r.get("U")), "u": fmt(r.get("u")),
                  "interval": f"[{fmt(r.get('low'))}, {fmt(r.get('high'))}]", "x": None if same else x}
                 for r, x in zip(value["rows"], xs)]
        rows.append({"method": m, "is_ref": m == REFERENCE, "k": "–" if k is None else f"{float(k):g}",
                     "cells": cells + [None] * (n - len(cells))})
    level = entries[0][1].get("level")
    return {"columns": [f"x = {x}" for x in inputs[0]] if same else [f"input {i + 1}" for i in range(n)],
            "rows": rows, "level": "" if level is None else f"{100 * float(level):g} %"}


def _diag_flag(key: str, value: float) -> bool:
    k = key.lower().replace("_", "").replace("-", "")
    if "rhat" in k:
        return value > RHAT_MAX
    if "ess" in k:
        return value < ESS_MIN
    if "diverg" in k:
        return value > 0
    return False


def _diagnostics(arts, methods: list[str]) -> dict | None:
    """MCMC diagnostics per method and seed, values outside the usual thresholds flagged."""
    diag = _artifact(arts, "diagnostics")
    if not diag:
        return None
    keys = list(dict.fromkeys(k for items in diag.values() for _, v in items for k in v))
    keys.sort(key=lambda k: (0 if "rhat" in k.lower() else 1 if "ess" in k.lower() else 2))
    rows = []
    for m in (m for m in methods if m in diag):
        for seed, v in diag[m]:
            cells = []
            for k in keys:
                x = v.get(k)
                number = isinstance(x, (int, float)) and not isinstance(x, bool)
                # R-hat needs three decimals: 1.004 is fine, 1.014 is not
                text = f"{x:.3f}" if number and "rhat" in k.lower() and math.isfinite(x) else fmt(x)
                cells.append({"value": text, "flag": number and _diag_flag(k, float(x))})
            rows.append({"method": m, "seed": seed, "cells": cells, "flag": any(c["flag"] for c in cells)})
    return {"keys": keys, "rows": rows}


def _run_meta(records, cells) -> dict[str, str]:
    import pandas as pd

    def joined(col: str) -> str:
        if col not in records or records.empty:
            return "–"
        vals = [str(v) for v in dict.fromkeys(records[col].dropna())]
        return ", ".join(vals[:3]) + (f" (+{len(vals) - 3})" if len(vals) > 3 else "") if vals else "–"

    date = "–"
    if "created_at" in records and not records.empty:
        stamps = pd.to_datetime(records["created_at"], errors="coerce", utc=True).dropna()
        date = stamps.max().strftime("%Y-%m-%d %H:%M UTC") if len(stamps) else "–"
    ok = int((cells["status"] == "ok").sum())
    return {
        "suite": joined("suite"), "run id": joined("run_id"), "version": joined("version"), "date": date,
        "cells ok": str(ok), "cells failed": str(len(cells) - ok),
        "total time": f"{fmt(cells['seconds'].sum())} s" if len(cells) else "–",
    }


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------


def build_report(records, cells, artifacts, benchmarks_meta: Mapping[str, Any] | None = None, *,
                 metrics_meta: Mapping[str, Any] | None = None, title: str = "trustbench report") -> str:
    """The report page as one self-contained HTML string.

    Parameters
    ----------
    records : DataFrame of result rows (``benchmark task method perturbation severity seed metric
        value ci_low ci_high``, plus ``suite run_id version created_at`` for the run metadata).
    cells : DataFrame of cells (``benchmark task method seed status error seconds``).
    artifacts : DataFrame (``benchmark task method seed name value``), ``value`` a dict in the
        formats of docs/architecture.md (pit, coverage, bands, data, gum, diagnostics).
    benchmarks_meta : benchmark name -> object or mapping with ``question`` and ``description``
        (a ``trustbench.types.Benchmark``); a benchmark not listed is shown without them.
    metrics_meta : metric name -> object or mapping with ``higher_is_better``, ``ideal`` and
        ``description``; metrics not listed are looked up in the metric registry.
    title : the page title.

    Returns
    -------
    The HTML page (deterministic: the same frames give the same bytes).
    """
    import jinja2
    from markupsafe import Markup

    from trustbench.report.attribution import attribution_view
    from trustbench.report.posterior import posterior_view, sweep_view
    from trustbench.report.sources import SOURCE_SWEEP_METRICS, ica_map_view, sources_view

    _check_frame(records, "records", RECORD_COLUMNS)
    _check_frame(cells, "cells", CELL_COLUMNS)
    _check_frame(artifacts, "artifacts", ARTIFACT_COLUMNS)
    benchmarks_meta = benchmarks_meta or {}
    metrics_meta = {**{k: v for meta in benchmarks_meta.values() for k, v in (_field(meta, "metrics", None) or {}).items()},
                    **(metrics_meta or {})}
    infos = {m: metric_info(m, metrics_meta.get(_SUBGROUP.sub(r"\g<metric>", m))) for m in dict.fromkeys(records["metric"].astype(str))}
    slug = _slugger()

    benches = []
    for bench in dict.fromkeys([*records["benchmark"].astype(str), *cells["benchmark"].astype(str)]):
        rec = records[records["benchmark"] == bench]
        cel = cells[cells["benchmark"] == bench]
        art = artifacts[artifacts["benchmark"] == bench]
        methods = _ordered_methods(rec, cel)
        colors = _colors(methods)
        shown = set(rec["method"]) | set(art["method"])  # the legend leaves out methods that only failed
        bid = slug(bench)
        # a benchmark may name its leaderboard columns (``"key": True`` in Benchmark.metrics)
        key_metrics = [m for m, spec in (_field(benchmarks_meta.get(bench), "metrics", None) or {}).items()
                       if _field(spec, "key", False)] or KEY_METRICS
        tasks = list(dict.fromkeys([*rec["task"].astype(str), *cel["task"].astype(str)]))
        task_views = []
        for task in tasks:
            r, a = rec[rec["task"] == task], art[art["task"] == task]
            if r.empty and a.empty:
                continue
            tid = slug(bench, task)
            plain = r[~r["metric"].astype(str).str.contains("[", regex=False)]  # subgroup metrics go to the cards
            board, rest, seeds = _leaderboards(plain[plain["perturbation"] == "none"], infos, key_metrics)
            figs = _figures(r, a, methods, colors, tid)
            task_views.append({
                "name": task, "id": tid, "board": board, "rest": rest, "seeds": seeds,
                "figures": [{**f, "svg": Markup(f["svg"])} for f in figs],
                "gum": _gum(a, methods), "diagnostics": _diagnostics(a, methods),
                "attribution": attribution_view(r, a, tid),
                "posterior": posterior_view(a, tid, colors, methods),
                "sources": sources_view(a, tid, colors, methods),
            })
        failed = cel[cel["status"] != "ok"]
        meta = benchmarks_meta.get(bench)
        benches.append({
            "name": bench, "id": bid,
            "question": str(_field(meta, "question", "") or ""),
            "description": str(_field(meta, "description", "") or ""),
            "meta": _run_meta(rec, cel),
            "legend": [{"label": m, "color": colors[m]} for m in methods if m in shown],
            "gap": [{**g, "figure": Markup(g["figure"])} for g in _gap(rec, infos, tasks, methods, colors, bid)],
            "gap_id": slug(bench, "reference-gap"),
            "sweep": sweep_view(rec, art, methods, colors, bid)
            + sweep_view(rec, art, methods, colors, bid, artifact="source_task", metrics=SOURCE_SWEEP_METRICS,
                         xlabel="SNR (dB)"),
            "sweep_id": slug(bench, "noise-sweep"),
            "ica_map": ica_map_view(art, bid, methods),
            "ica_map_id": slug(bench, "ica-stability-map"),
            "tasks": task_views,
            "cards": _card_views(rec, art, infos, colors, slug, bench),
            "failed": [{"task": str(f.task), "method": str(f.method), "seed": f.seed,
                        "headline": _headline(_text(f.error)), "text": _clip_lines(_text(f.error))}
                       for f in failed.itertuples()],
            "failed_id": slug(bench, "failed-cells"),
        })

    env = jinja2.Environment(loader=jinja2.PackageLoader("trustbench.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(
        title=title, benchmarks=benches,
        n_cells=len(cells), n_failed=int((cells["status"] != "ok").sum()), n_records=len(records),
    )


def write_report(db: str | Path | None = None, out_dir: str | Path = "results") -> Path:
    """Read the store at ``db`` and write ``<out_dir>/report/index.html`` (and ``cards.json`` beside it
    when the store holds quality cards); return the page's path.

    ``db`` is a SQLAlchemy URL (``sqlite:///results/trustbench.sqlite``, ``postgresql+psycopg://...``)
    or a SQLite file path; None means ``<out_dir>/trustbench.sqlite``, where ``run_suite`` puts it.
    """
    from trustbench.runner.store import Store, store_url

    out_dir = Path(out_dir)
    store = Store(store_url(db, out_dir))
    records, cells, artifacts = store.records(), store.cells(), store.artifacts()
    names = list(dict.fromkeys([*records["benchmark"].astype(str), *cells["benchmark"].astype(str)]))
    html = build_report(records, cells, artifacts, _benchmark_meta(names))
    path = out_dir / "report" / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    from trustbench.report.cards import all_cards, write_cards

    cards = all_cards(records, artifacts)
    if cards:
        write_cards(cards, path.parent / "cards.json")
    return path


# --------------------------------------------------------------------------------------------
# quality cards
# --------------------------------------------------------------------------------------------

_SUBGROUP = re.compile(r"^(?P<metric>[^\[]+)\[(?P<group>[^=\]]+)(?:=(?P<value>[^\]]*))?\]$")


def _ci_text(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if np.isfinite(low) and np.isfinite(high) else ""


def _value_ci(row: dict) -> str:
    return f"{fmt(row['value'])} {_ci_text(row['ci_low'], row['ci_high'])}".strip()


def _value_rows(rows: list[dict], infos: dict[str, MetricInfo]) -> list[dict]:
    return [{"metric": r["metric"], "value": fmt(r["value"]), "ci": _ci_text(r["ci_low"], r["ci_high"]),
             "direction": infos[r["metric"]].direction if r["metric"] in infos else "",
             "title": infos[r["metric"]].description if r["metric"] in infos else ""} for r in rows]


def _subgroup_table(rows: list[dict]) -> dict | None:
    """``metric[group=value]`` rows pivoted to (group, value) × metric, and ``metric[group]`` gaps."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    metrics: list[str] = []
    gaps = []
    for r in rows:
        m = _SUBGROUP.match(r["metric"])
        if not m:
            continue
        if m["value"] is None:
            gaps.append({"metric": m["metric"], "group": m["group"], "value": fmt(r["value"]),
                         "ci": _ci_text(r["ci_low"], r["ci_high"])})
            continue
        cells.setdefault((m["group"], m["value"]), {})[m["metric"]] = _value_ci(r)
        metrics.append(m["metric"])
    if not cells:
        return None
    metrics = list(dict.fromkeys(metrics))
    return {"metrics": metrics, "gaps": gaps,
            "rows": [{"group": g, "value": v, "cells": [c.get(k, "–") for k in metrics]} for (g, v), c in cells.items()]}


def _pivot(rows: list[dict], key: str) -> dict | None:
    if not rows:
        return None
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    table: dict[str, dict[str, str]] = {}
    for r in rows:
        table.setdefault(r[key], {})[r["metric"]] = _value_ci(r)
    return {"metrics": metrics, "rows": [{"name": k, "cells": [v.get(m, "–") for m in metrics]} for k, v in table.items()]}


def _card_views(rec, art, infos: dict[str, MetricInfo], colors: dict[str, str], slug, bench: str) -> list[dict]:
    """Rendered quality cards of one benchmark (empty when its protocol stores no ``card`` artifact)."""
    from markupsafe import Markup

    from trustbench.report import figures as F
    from trustbench.report.cards import build_cards

    views = []
    for card in build_cards(rec, art):
        cid = slug(bench, "card", card["task"], card["method"])
        color = colors.get(card["method"], PALETTE[0])
        curves = F.card_figure(card, color, cid)
        robust = None
        by_metric: dict[str, list[dict]] = {}
        for r in card["robustness"]:
            by_metric.setdefault(r["metric"], []).append(r)
        if by_metric:
            metric, rows = next(iter(by_metric.items()))
            clean = [r for r in rows if r["perturbation"] == "none"]
            panels = []
            for pert in dict.fromkeys(r["perturbation"] for r in rows if r["perturbation"] != "none"):
                pts = sorted(clean + [r for r in rows if r["perturbation"] == pert], key=lambda r: r["severity"])
                panels.append({"title": pert, "series": [{
                    "label": card["method"], "color": color, "severity": [r["severity"] for r in pts],
                    "value": [r["value"] for r in pts], "low": [r["ci_low"] for r in pts], "high": [r["ci_high"] for r in pts]}]})
            if panels:
                robust = {"metric": metric, "svg": Markup(F.severity_figure(panels, metric, cid + "-rob"))}
        data = [{"split": k, **{f: fmt(v) if isinstance(v, float) else v for f, v in d.items()}}
                for k, d in card["data"].items()]
        views.append({
            "id": cid, "task": card["task"], "method": card["method"], "kind": card["kind"],
            "seeds": ", ".join(map(str, card["seeds"])), "intended_use": card["intended_use"],
            "data": data, "data_keys": list(dict.fromkeys(k for d in data for k in d if k != "split")),
            "variables": card["variables"], "synthetic": card["synthetic"],
            "model": card["model"],
            "discrimination": _value_rows(card["discrimination"] + card["calibration"]["metrics"]
                                          + card["decision"]["metrics"], infos),
            "curves": Markup(curves) if curves else None, "robustness": robust,
            "subgroups": _subgroup_table(card["subgroups"]),
            "uncertainty": _value_rows(card["uncertainty"]["metrics"], infos),
            "conformal": card["uncertainty"].get("conformal"),
            "transfer": _pivot(card["transfer"], "task"),
            "tripod": {s: " · ".join(i["item"] for i in items) for s, items in card["tripod_ai"].items()},
        })
    return views
