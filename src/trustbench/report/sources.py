"""The report's section for source-imaging and ICA benchmarks (``eeg``).

It reads what ``trustbench.domains.eeg.protocol`` stores per cell (task, method, seed):

``source_maps``
    source positions (mm) and, for two test samples, the true and the estimated maps (peak 1);
``credible_coverage``
    observed coverage of central credible intervals at nominal levels, over all and over the truly
    active sources, before and after isotonic recalibration;
``ica_stability``
    ICASSO quality index Iq per component cluster, Amari distance per run, the task's settings.

Source maps are drawn as glass brains: maximum-intensity projections of the map onto the axial,
coronal and sagittal planes (each source a dot; the strongest drawn last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trustbench.report.figures import _panels, _render
from trustbench.report.html import _artifact
from trustbench.report.posterior import _first

__all__ = ["SOURCE_SWEEP_METRICS", "sources_view", "ica_map_view", "glass_brain_figure", "coverage_figure", "ica_figure", "ica_map_figure"]

SOURCE_SWEEP_METRICS = ("peak_localization_error", "source_emd", "detection_auc", "coverage_error_active")
"""Metrics drawn against the SNR for each family of source tasks (those present)."""
_PLANES = (("axial", 0, 1), ("coronal", 0, 2), ("sagittal", 1, 2))
_MAX_MAPS = 12


def glass_brain_figure(positions: np.ndarray, rows: Sequence[tuple[str, np.ndarray]], salt: str) -> str:
    """One row per map (label, values over the sources, peak 1), three projections per row."""

    def draw(fig):
        axes = _panels(fig, 3 * len(rows), 3, panel=(1.25, 1.15), left=0.85, bottom=0.15, top=0.25, wgap=0.05,
                       hgap=0.12)
        for r, (label, values) in enumerate(rows):
            order = np.argsort(values)
            for c, (plane, i, j) in enumerate(_PLANES):
                ax = axes[3 * r + c]
                ax.scatter(positions[order, i], positions[order, j], c=values[order], cmap="magma_r", vmin=0, vmax=1,
                           s=2 + 16 * values[order], linewidths=0, rasterized=True)
                ax.set_aspect("equal")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(plane, fontsize=7)
                if c == 0:
                    ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")

    return _render(draw, salt)


def coverage_figure(levels: np.ndarray, lines: Sequence[Mapping[str, Any]], salt: str) -> str:
    """Observed vs nominal coverage: all sources (left), active sources (right); dashed: recalibrated."""

    def draw(fig):
        axes = _panels(fig, 2, 2, panel=(2.2, 2.0))
        for ax, key, title in zip(axes, ("", "_active"), ("all sources", "truly active sources"), strict=True):
            ax.plot([0, 1], [0, 1], color="#9ca3af", linewidth=0.8)
            for line in lines:
                ax.plot(levels, line[f"observed{key}"], color=line["color"], marker="o", markersize=2.5, linewidth=1.2)
                ax.plot(levels, line[f"recalibrated{key}"], color=line["color"], linestyle="--", linewidth=1.0)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal level", title=title)
        axes[0].set_ylabel("observed coverage")

    return _render(draw, salt)


def ica_figure(lines: Sequence[Mapping[str, Any]], salt: str) -> str:
    """Iq per component cluster (sorted) and Amari distance per run, one colour per algorithm."""

    def draw(fig):
        ax_iq, ax_am = _panels(fig, 2, 2, panel=(2.2, 1.8))
        for k, line in enumerate(lines):
            iq = np.asarray(line["iq"], float)
            ax_iq.plot(np.arange(1, len(iq) + 1), iq, color=line["color"], marker="o", markersize=3, linewidth=1.2)
            amari = np.asarray([a for a in line["amari"] if a is not None], float)
            if len(amari):
                ax_am.scatter(np.full(len(amari), k) + np.linspace(-0.15, 0.15, len(amari)), amari, color=line["color"], s=9)
        ax_iq.set(ylim=(0, 1.02), xlabel="component cluster (by Iq)", ylabel="quality index Iq", title="stability")
        ax_am.set(xticks=range(len(lines)), xticklabels=[line["label"] for line in lines], ylim=(0, None),
                  ylabel="Amari distance", title="per run vs true mixing")
        ax_am.tick_params(axis="x", labelsize=6)

    return _render(draw, salt)


def ica_map_figure(rows: Sequence[str], cols: Sequence[str], iq: np.ndarray, amari: np.ndarray, salt: str) -> str:
    """A detectability map: mean Iq (colour) and mean Amari distance (text) per ICA task × algorithm."""

    def draw(fig):
        h = 0.28 * len(rows) + 0.2
        (ax,) = _panels(fig, 1, 1, panel=(0.8 * len(cols) + 0.4, h), left=2.6, right=0.9, bottom=0.35, top=0.35)
        image = ax.imshow(iq, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        bar = fig.add_axes((ax.get_position().x1 + 0.01, ax.get_position().y0, 0.012, ax.get_position().height))
        fig.colorbar(image, cax=bar).set_label("mean Iq", fontsize=7)
        for (r, c), v in np.ndenumerate(amari):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if iq[r, c] < 0.6 else "black")
        ax.set_xticks(range(len(cols)), cols, fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=6)
        ax.xaxis.tick_top()
        ax.grid(False)

    return _render(draw, salt)


def sources_view(artifacts, salt: str, colors: Mapping[str, str], methods: Sequence[str]) -> dict[str, Any] | None:
    """The source-imaging / ICA part of one task, or None when it has none of these artifacts."""
    from markupsafe import Markup

    maps = _artifact(artifacts, "source_maps")
    cov = _artifact(artifacts, "credible_coverage")
    ica = _artifact(artifacts, "ica_stability")
    if not (maps or cov or ica):
        return None
    figures = []
    order = [m for m in methods if m in maps][: _MAX_MAPS - 1]
    if order:
        first = _first(maps[order[0]])
        positions = np.asarray(first["positions_mm"], float)
        for k in range(len(first["true"])):
            rows = [("true", np.asarray(first["true"][k], float))]
            rows += [(m.split("(")[0], np.asarray(_first(maps[m])["estimate"][k], float)) for m in order]
            figures.append({"title": f"Source maps, test sample {k + 1}", "width": 3,
                            "svg": Markup(glass_brain_figure(positions, rows, f"{salt}-maps-{k}")),
                            "caption": f"Glass brain ({first['head']}): maximum-intensity projections of the true map "
                                       "and each solver's RMS source map, each scaled to its peak (darker = stronger)."})
    with_cov = [m for m in methods if m in cov]
    if with_cov:
        levels = np.asarray(_first(cov[with_cov[0]])["levels"], float)
        lines = [{**_first(cov[m]), "color": colors[m]} for m in with_cov]
        figures.append({"title": "Coverage of credible intervals", "width": 3,
                        "svg": Markup(coverage_figure(levels, lines, f"{salt}-coverage")),
                        "caption": "Observed coverage of central credible intervals against the nominal level, on the "
                                   "test samples (solid) and after isotonic recalibration fitted on a separate "
                                   "calibration split (dashed); the diagonal is perfect calibration. Quantity: "
                                   + ", ".join(sorted({str(line['quantity']) for line in lines})) + "."})
    with_ica = [m for m in methods if m in ica]
    if with_ica:
        lines = [{**_first(ica[m]), "color": colors[m], "label": m.split("(")[0]} for m in with_ica]
        figures.append({"title": "ICA stability (ICASSO)", "width": 3,
                        "svg": Markup(ica_figure(lines, f"{salt}-ica")),
                        "caption": "Left: quality index Iq of each component cluster across bootstrap runs (1 = the "
                                   "component reappears identically in every run). Right: Amari distance of each run's "
                                   "unmixing to the true mixing (0 = perfect separation up to scale and order)."})
    return {"figures": figures}


def ica_map_view(artifacts, salt: str, methods: Sequence[str]) -> dict[str, Any] | None:
    """The benchmark-wide ICA detectability map (tasks × algorithms), or None without ICA cells."""
    from markupsafe import Markup

    sub = artifacts[artifacts["name"] == "ica_stability"]
    if sub.empty:
        return None
    tasks = list(dict.fromkeys(sub["task"].astype(str)))
    cols = [m for m in methods if m in set(sub["method"].astype(str))]
    cells: dict[tuple[int, int], list] = {}
    for t, m, v in zip(sub["task"].astype(str), sub["method"].astype(str), sub["value"], strict=True):
        if isinstance(v, Mapping) and m in cols:
            cells.setdefault((tasks.index(t), cols.index(m)), []).append(v)
    iq = np.full((len(tasks), len(cols)), np.nan)
    amari = np.full_like(iq, np.nan)
    for (r, c), values in cells.items():  # mean over seeds
        iq[r, c] = np.mean([v["mean_iq"] for v in values])
        amari[r, c] = np.mean([np.nan if v.get("amari_mean") is None else v["amari_mean"] for v in values])
    rows = [t.removeprefix("eeg/ica/") for t in tasks]
    svg = ica_map_figure(rows, [c.split("(")[0] for c in cols], iq, amari, f"{salt}-icamap")
    return {"svg": Markup(svg), "caption": "Stability across conditions: mean ICASSO Iq (colour, 1 = stable) and mean "
                                          "Amari distance to the true mixing (number, 0 = perfect) per simulated "
                                          "recording (scenario, sources × sensors, samples, SNR) and algorithm."}
