"""The report's section for posterior benchmarks (``hemodynamics``): pair plots, SBC, coverage, GUM.

It reads what ``trustbench.protocols.posterior`` stores per cell (task, estimator, seed):

``posterior_pairs``
    draws of the estimator and of the reference posterior for the task's first observation, the
    true parameters and the parameter names;
``posterior_sbc``
    SBC ranks of the calibration simulations with the simultaneous ECDF band (Säilynoja et al. 2022);
``posterior_coverage``
    empirical coverage of central credible intervals per parameter (and of HPD regions for density
    estimators) and the TARP curve (Lemos et al. 2023);
``posterior_gum``
    estimate, standard uncertainty u and 95 % coverage interval per parameter (JCGM 101:2008, 7.7);
``posterior_task``
    the task's position in a sweep (``family``, ``noise``, ``model_error``) and warnings;
``posterior_reference`` (method ``reference``)
    how the reference posteriors were made, with their diagnostics.

:func:`posterior_view` builds one task's part; :func:`sweep_view` the benchmark's metrics against
noise level with and without model error. Figures are bare matplotlib Figures rendered to inline
SVG by :func:`trustbench.report.figures._render`; dense point clouds are rasterized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trustbench.report.figures import _label, _panels, _render, _yerr
from trustbench.report.html import REFERENCE_COLOR, _artifact, fmt

__all__ = ["posterior_view", "sweep_view", "pairs_figure", "sbc_figure", "calibration_figure", "sweep_figure",
           "MAX_PAIR_PARAMETERS", "MAX_SBC_PANELS", "SWEEP_METRICS"]

MAX_PAIR_PARAMETERS = 4
"""A pair plot shows at most the first this many parameters."""
MAX_SBC_PANELS = 8
SWEEP_METRICS = ("c2st", "nrmse", "interval_coverage_error")
"""Metrics drawn against the noise level (those present)."""
_REF_POINTS = "#9ca3af"
REFERENCE_NAME = "reference"


def _corner_limits(clouds: Sequence[np.ndarray], truth: np.ndarray | None, j: int) -> tuple[float, float]:
    vals = np.concatenate([c[:, j] for c in clouds if c is not None and len(c)])
    if truth is not None:
        vals = np.append(vals, truth[j])
    lo, hi = np.quantile(vals, [0.005, 0.995]) if len(vals) > 10 else (vals.min(), vals.max())
    pad = 0.08 * (hi - lo) if hi > lo else 0.5
    return float(lo - pad), float(hi + pad)


def pairs_figure(draws: np.ndarray, reference: np.ndarray | None, truth: np.ndarray | None, names: Sequence[str],
                 color: str, salt: str) -> str:
    """A corner plot of one estimator's draws (colour) over the reference draws (grey) and the truth (+)."""
    k = min(draws.shape[1], MAX_PAIR_PARAMETERS)

    def draw(fig):
        size = 0.95 * k + 0.7
        fig.set_size_inches(size, size)
        axes = fig.subplots(k, k, squeeze=False, gridspec_kw={"left": 0.55 / size, "right": 0.97, "bottom": 0.5 / size,
                                                               "top": 0.97, "wspace": 0.08, "hspace": 0.08})
        lims = [_corner_limits([draws, reference], truth, j) for j in range(k)]
        for r in range(k):
            for c in range(k):
                ax = axes[r, c]
                if c > r:
                    ax.remove()
                    continue
                ax.grid(False)
                ax.tick_params(labelsize=6, length=2)
                if r == c:
                    bins = np.linspace(*lims[c], 30)
                    if reference is not None:
                        ax.hist(reference[:, c], bins=bins, density=True, color=_REF_POINTS, alpha=0.5)
                    ax.hist(draws[:, c], bins=bins, density=True, histtype="step", color=color, linewidth=1.1)
                    if truth is not None:
                        ax.axvline(truth[c], color=REFERENCE_COLOR, linewidth=0.9)
                    ax.set_yticks([])
                else:
                    if reference is not None:
                        ax.scatter(reference[:, c], reference[:, r], s=1.5, color=_REF_POINTS, alpha=0.5,
                                   linewidths=0, rasterized=True)
                    ax.scatter(draws[:, c], draws[:, r], s=1.5, color=color, alpha=0.55, linewidths=0, rasterized=True)
                    if truth is not None:
                        ax.plot(truth[c], truth[r], "+", color=REFERENCE_COLOR, markersize=7, markeredgewidth=1.3)
                    ax.set_ylim(lims[r])
                ax.set_xlim(lims[c])
                ax.locator_params(nbins=3)
                if r == k - 1:
                    ax.set_xlabel(_label(names[c], 14), fontsize=7)
                else:
                    ax.set_xticklabels([])
                if c == 0 and r > 0:
                    ax.set_ylabel(_label(names[r], 14), fontsize=7)
                elif c > 0 or r == 0:
                    ax.set_yticklabels([])

    return _render(draw, salt)


def sbc_figure(lines: Sequence[dict[str, Any]], band: Mapping[str, Any], names: Sequence[str], salt: str) -> str:
    """ECDF difference plots of SBC ranks, one panel per parameter, with the simultaneous band.

    ``lines``: dicts with ``color`` and ``diff`` ((n_z, d): ECDF(z) − z at ``band["z"]``).
    """
    z = np.asarray(band["z"], dtype=float)
    lower, upper = np.asarray(band["lower"], dtype=float) - z, np.asarray(band["upper"], dtype=float) - z
    d = min(len(names), MAX_SBC_PANELS)

    def draw(fig):
        for j, ax in enumerate(_panels(fig, d, 4, panel=(1.7, 1.25), left=0.45, bottom=0.35, hgap=0.4)):
            ax.fill_between(z, lower, upper, color="#e5e7eb", linewidth=0)
            ax.axhline(0, color="#9ca3af", linewidth=0.6)
            for line in lines:
                ax.plot(z, np.asarray(line["diff"])[:, j], color=line["color"], linewidth=1.0)
            ax.set_title(_label(names[j], 24))
            ax.set_xlim(0, 1)

    return _render(draw, salt)


def calibration_figure(lines: Sequence[dict[str, Any]], salt: str) -> str:
    """Two panels: coverage of central intervals (and HPD regions, dashed) vs nominal level, and TARP."""

    def draw(fig):
        cov, tarp = _panels(fig, 2, 2, panel=(2.1, 2.1), left=0.5, wgap=0.5)
        for ax, title in ((cov, "credible intervals"), (tarp, "TARP")):
            ax.plot([0, 1], [0, 1], color="#9ca3af", linestyle="--", linewidth=0.9)
            ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
        for line in lines:
            cov.plot(line["levels"], line["central"], color=line["color"], marker="o", markersize=1.8, linewidth=1.0)
            if line.get("hpd") is not None:
                cov.plot(line["levels"], line["hpd"], color=line["color"], linestyle=(0, (3, 1.5)), linewidth=0.9)
            if line.get("tarp") is not None:
                tarp.plot(line["tarp"]["alpha"], line["tarp"]["ecp"], color=line["color"], linewidth=1.0)
        cov.set(xlabel="nominal level", ylabel="empirical coverage")
        tarp.set(xlabel="credibility level α", ylabel="expected coverage")

    return _render(draw, salt)


def sweep_figure(panels: Sequence[dict[str, Any]], salt: str, xlabel: str = "noise level") -> str:
    """Metric against noise level per method: solid = same simulator, dashed = model error.

    ``panels``: dicts with ``title``, ``ylabel`` and ``lines`` (``color``, ``dashed``, ``x``, ``y``,
    ``low``, ``high``).
    """

    def draw(fig):
        for ax, p in zip(_panels(fig, len(panels), 3, panel=(2.3, 1.7), left=0.55), panels):
            for line in p["lines"]:
                x, y = np.asarray(line["x"], float), np.asarray(line["y"], float)
                style = (0, (4, 2)) if line["dashed"] else "-"
                ax.errorbar(x, y, yerr=_yerr(y, np.asarray(line["low"], float), np.asarray(line["high"], float)),
                            color=line["color"], linestyle=style, marker="o", markersize=2.5, linewidth=1.0,
                            elinewidth=0.6, capsize=1.5, mfc="white" if line["dashed"] else line["color"])
            ax.set(title=_label(p["title"], 40), xlabel=xlabel, ylabel=p["ylabel"])

    return _render(draw, salt)


# --------------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------------


def _first(items: list) -> dict[str, Any]:
    return items[0][1]


def _ecdf_diff(ranks: np.ndarray, n_draws: int, z: np.ndarray) -> np.ndarray:
    """ECDF of the fractional ranks ``(rank + 1) / (n_draws + 1)`` minus z, at ``z``: (len(z), d)."""
    u = (np.asarray(ranks, dtype=float) + 1) / (n_draws + 1)
    return (u[None, :, :] <= z[:, None, None]).mean(axis=1) - z[:, None]


def _gum_table(gum: dict, methods: list[str]) -> dict[str, Any] | None:
    rows, names, truth, ref = [], None, None, None
    for m in methods:
        if m not in gum:
            continue
        value = _first(gum[m])
        names = names or [r["parameter"] for r in value["rows"]]
        truth = truth or [r.get("truth") for r in value["rows"]]
        ref = ref or ([r["reference"] for r in value["rows"]] if all("reference" in r for r in value["rows"]) else None)
        rows.append({"label": m, "cells": [_gum_cell(r) for r in value["rows"]], "is_reference": False})
    if not rows:
        return None
    if ref is not None:
        rows.insert(0, {"label": "reference", "cells": [_gum_cell(r) for r in ref], "is_reference": True})
    return {"parameters": names, "truth": [fmt(t) if t is not None else "–" for t in truth], "rows": rows}


def _gum_cell(r: Mapping[str, Any]) -> dict[str, str]:
    return {"value": f"{fmt(r.get('estimate', np.nan))} ± {fmt(r.get('u', np.nan))}",
            "ci": f"[{fmt(r.get('symmetric_low', np.nan))}, {fmt(r.get('symmetric_high', np.nan))}]"}


def posterior_view(artifacts, salt: str, colors: Mapping[str, str], methods: Sequence[str]) -> dict[str, Any] | None:
    """The posterior section of one task, or None when it has no posterior artifacts.

    Returns a dict with ``figures`` (``title``, ``width``, ``svg`` as Markup, ``caption``), ``gum``
    (a table per parameter), ``notes`` (warnings of the cells) and ``reference`` (how the
    reference posteriors were made).
    """
    from markupsafe import Markup

    pairs = _artifact(artifacts, "posterior_pairs")
    sbc = _artifact(artifacts, "posterior_sbc")
    cov = _artifact(artifacts, "posterior_coverage")
    gum = _artifact(artifacts, "posterior_gum")
    info = _artifact(artifacts, "posterior_task")
    ref = _artifact(artifacts, "posterior_reference")
    if not (pairs or sbc or cov or ref):
        return None
    order = [m for m in methods if m in pairs or m in sbc or m in cov]
    figures = []
    for m in (m for m in order if m in pairs):
        value = _first(pairs[m])
        if not value.get("draws"):
            continue
        draws = np.asarray(value["draws"], float)
        reference = np.asarray(value["reference"], float) if value.get("reference") else None
        truth = np.asarray(value["truth"], float) if value.get("truth") is not None else None
        svg = pairs_figure(draws, reference, truth, value["parameter_names"], colors[m], f"{salt}-pairs-{m}")
        figures.append({"title": f"Posterior of observation 1: {m.split('(')[0]}", "width": 2, "svg": Markup(svg),
                        "caption": f"{m} draws (colour) over the reference posterior (grey), first "
                                   f"{min(len(value['parameter_names']), MAX_PAIR_PARAMETERS)} parameters; "
                                   "+ and vertical lines: the true parameters."})
    if sbc:
        names = next((_first(pairs[m])["parameter_names"] for m in order if m in pairs), None)
        band = _first(next(iter(sbc.values())))["band"]
        z = np.asarray(band["z"], float)
        lines = [{"color": colors[m], "diff": _ecdf_diff(_first(sbc[m])["ranks"], _first(sbc[m])["n_draws"], z)}
                 for m in order if m in sbc]
        d = lines[0]["diff"].shape[1] if lines else 0
        names = names or [f"θ{j + 1}" for j in range(d)]
        svg = sbc_figure(lines, band, names, f"{salt}-sbc")
        figures.append({"title": "Simulation-based calibration", "width": 6 if d > 2 else 3, "svg": Markup(svg),
                        "caption": "ECDF of the SBC ranks minus the uniform ECDF, per parameter (Talts et al. 2018; "
                                   "Säilynoja et al. 2022); grey: the simultaneous 95 % band of a calibrated "
                                   "posterior. ∩ above the band: too wide; ∪ or a slope: too narrow or biased."})
    if cov:
        lines = []
        for m in (m for m in order if m in cov):
            value = _first(cov[m])
            lines.append({"color": colors[m], "levels": value["levels"],
                          "central": np.mean(np.asarray(value["observed"], float), axis=1),
                          "hpd": value.get("hpd"), "tarp": value.get("tarp")})
        svg = calibration_figure(lines, f"{salt}-cal")
        figures.append({"title": "Coverage", "width": 3, "svg": Markup(svg),
                        "caption": "Left: empirical coverage of central credible intervals (mean over parameters; "
                                   "dashed: joint highest-density regions of density estimators) over the calibration "
                                   "simulations. Right: TARP expected coverage (Lemos et al. 2023). Below the "
                                   "diagonal: over-confident."})
    notes = sorted({n for items in info.values() for _, v in items for n in v.get("notes", [])})
    reference = None
    if REFERENCE_NAME in ref:
        value = _first(ref[REFERENCE_NAME])
        reference = {"methods": sorted({str(o.get("method", "")) for o in value.get("observations", []) if o.get("method")}),
                     "notes": value.get("notes", []), "published": _published(value.get("published_c2st"))}
        notes = sorted(set(notes) | set(value.get("notes", [])))
    return {"figures": figures, "gum": _gum_table(gum, list(order)), "notes": notes, "reference": reference}



def _published(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Published C2ST by simulation budget as text: mean over the observations and their range."""
    if not value:
        return None
    items = []
    for n, scores in value["by_simulations"].items():
        v = np.asarray(scores, float)
        items.append(f"{int(n):,} simulations: {v.mean():.3f} ({v.min():.3f}–{v.max():.3f})")
    return {"items": items, "source": value["source"]}


def sweep_view(records, artifacts, methods: Sequence[str], colors: Mapping[str, str], salt: str, *,
               artifact: str = "posterior_task", metrics: Sequence[str] = SWEEP_METRICS,
               xlabel: str = "noise level") -> list[dict[str, Any]]:
    """Per task family: metrics against the noise level, with and without model error (dashed).

    A task's place in a sweep is the ``sweep`` entry (``family``, ``noise``, ``model_error``) of its
    ``artifact``; another protocol names its own artifact, metrics and x-axis label (the eeg
    protocol: ``source_task``, SNR in dB)."""
    from markupsafe import Markup

    where: dict[str, dict[str, Any]] = {}  # task -> its place in the sweep
    sub = artifacts[artifacts["name"] == artifact]
    for task, value in zip(sub["task"].astype(str), sub["value"]):
        sweep = (value or {}).get("sweep") or {}
        if "family" in sweep and "noise" in sweep:
            where[task] = sweep
    if len(where) < 2:
        return []
    out = []
    clean = records[records["perturbation"] == "none"]
    for family in dict.fromkeys(s["family"] for s in where.values()):
        tasks = {t: s for t, s in where.items() if s["family"] == family}
        if len({s["noise"] for s in tasks.values()}) < 2:  # a sweep needs two noise levels at least
            continue
        panels = []
        for metric in metrics:
            rows = clean[(clean["metric"] == metric) & clean["task"].isin(list(tasks))]
            if rows.empty:
                continue
            lines = []
            for m in methods:
                mine = rows[rows["method"] == m]
                for error in (False, True):
                    pts = [(tasks[t]["noise"], g) for t, g in mine.groupby("task") if bool(tasks[t].get("model_error")) == error]
                    if not pts:
                        continue
                    pts.sort(key=lambda p: p[0])
                    lines.append({"color": colors.get(m, REFERENCE_COLOR), "dashed": error, "x": [p for p, _ in pts],
                                  "y": [g["value"].mean() for _, g in pts], "low": [g["ci_low"].mean() for _, g in pts],
                                  "high": [g["ci_high"].mean() for _, g in pts]})
            if lines:
                panels.append({"title": metric, "ylabel": metric, "lines": lines})
        if panels:
            svg = sweep_figure(panels, f"{salt}-sweep-{family}", xlabel=xlabel)
            out.append({"family": family, "svg": Markup(svg)})
    return out
