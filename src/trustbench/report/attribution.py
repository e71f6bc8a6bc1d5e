"""The report's section for attribution benchmarks (``xai``): example maps, metric distributions, a table.

It reads what ``trustbench.protocols.attribution`` stores per cell (task, model, seed):

records
    ``<model>`` × ``test_accuracy`` (with a CI); ``<model>/<explainer>`` × the attribution metrics
    (mean over the evaluated samples with a bootstrap CI) and ``p_holm[<metric> vs <baseline>]``: the
    Holm-adjusted p-value of the one-sided paired Wilcoxon signed-rank test "explainer better than
    baseline" over the same samples (NaN for the baseline itself).
artifacts (``method`` = the model)
    ``attribution_examples`` (inputs, ground-truth masks, suppressor masks and maps of a few samples),
    ``attribution_scores`` (per-sample metric values of every explainer, ``alpha``) and
    ``attribution_model`` (test accuracy, ``n_test``, ``n_correct``, ``n_evaluated``).

Ground truth is statistical association with the target (Haufe et al. 2014, NeuroImage 87:96-110;
Wilming et al. 2022, Mach. Learn. 111:1903-1923; Clark, Wilming & Haufe 2024, XAI-TRIS): a
suppressor feature is used by the model but is not important. Model-free baselines (random, Sobel and
Laplace edge filters, the input itself) are what an explainer has to beat; an explainer that does
not beat the edge filters explains the image, not the model (Clark et al. 2024).

The section has three parts, built by :func:`attribution_view`:

1. :func:`examples_figure` (images) or :func:`tabular_figure` (1-D inputs): rows = explainers
   (baselines last), columns = models × examples, the input and its masks first;
2. :func:`scores_figure`: box plots of each metric's per-sample values per explainer, one panel per
   model and metric, the baselines' medians as reference lines;
3. a table of mean [CI] per model/explainer and metric, with a mark where the explainer does not
   beat a baseline (``p_holm >= alpha``).

Figures are bare matplotlib Figures rendered to inline SVG by :func:`trustbench.report.figures._render`
(``svg.hashsalt`` per figure: deterministic bytes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trustbench.protocols.attribution import ALPHA, METRICS, METRICS_META, TEST_BASELINES
from trustbench.report.figures import _label, _render
from trustbench.report.html import PALETTE, MetricInfo, _artifact, fmt, metric_info

__all__ = [
    "attribution_view",
    "examples_figure",
    "tabular_figure",
    "scores_figure",
    "BASELINES",
    "DISPLAY_MAX",
]

BASELINES = ("random", "sobel", "laplace", "input")
"""Model-free baselines, drawn last, in this order."""
DISPLAY_MAX = 32
"""Images larger than this (pixels per side) are shown block-averaged to at most this size."""
PANEL = 0.55
"""Inches per map panel."""
MAP_CMAP = "Reds"
MASK_COLOR = "#1d4ed8"
SUPPRESSOR_COLOR = "#15803d"
BASELINE_STYLE = {"random": ("#111827", (0, (4, 2))), "sobel": ("#0f766e", (0, (1, 1.2))),
                  "laplace": ("#7c2d12", (0, (5, 1.5, 1, 1.5))), "input": ("#9d174d", "-")}
"""Reference-line colour and dash of each baseline: dark, apart from the model colours (PALETTE)."""
_OTHER_STYLE = ("#9ca3af", (0, (2, 2)))
_P_HOLM = re.compile(r"^p_holm\[(?P<metric>.+) vs (?P<baseline>[^\]\s]+)\]$")


# --------------------------------------------------------------------------------------------
# small helpers over arrays
# --------------------------------------------------------------------------------------------


def _info(metric: str) -> MetricInfo:
    return metric_info(metric, METRICS_META.get(metric, {}))


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` × ``factor`` blocks (the last blocks may be smaller); NaN ignored."""
    if factor <= 1:
        return image
    h, w = image.shape
    H, W = -(-h // factor), -(-w // factor)
    padded = np.full((H * factor, W * factor), np.nan)
    padded[:h, :w] = image
    blocks = padded.reshape(H, factor, W, factor)
    ok = np.isfinite(blocks)
    total = np.where(ok, blocks, 0.0).sum(axis=(1, 3))
    count = ok.sum(axis=(1, 3))
    return np.divide(total, count, out=np.full((H, W), np.nan), where=count > 0)


def _normalised_abs(image: np.ndarray, factor: int) -> np.ndarray:
    """``|map|`` block-averaged for display, divided by its largest finite value (0 when none)."""
    a = _block_mean(np.abs(np.asarray(image, float)), factor)
    top = np.nanmax(a) if np.isfinite(a).any() else 0.0
    return a / top if top > 0 else np.zeros_like(a)


def _outline(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> np.ndarray | None:
    """The pixel-edge outline of a boolean mask as segment end points, shape (2 n_segments, 2); None
    when the mask is empty.

    Edges between a mask pixel and a non-mask pixel (or the border) are collected per grid line and
    merged into runs, so a block mask is four segments. Pixel centres are at integers (``imshow``'s
    default), then the points are scaled by ``scale`` and shifted by ``offset`` (x, y).
    """
    m = np.pad(np.asarray(mask, bool), 1)
    if not m.any():
        return None
    verts: list[tuple[float, float]] = []

    def runs(flags: np.ndarray):
        d = np.diff(np.r_[0, flags.astype(np.int8), 0])
        return zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))

    horizontal = m[1:, 1:-1] != m[:-1, 1:-1]  # the grid line above image row i
    for i, row in enumerate(horizontal):
        verts += [pt for a, b in runs(row) for pt in ((a - 0.5, i - 0.5), (b - 0.5, i - 0.5))]
    vertical = m[1:-1, 1:] != m[1:-1, :-1]  # the grid line left of image column j
    for j, col in enumerate(vertical.T):
        verts += [pt for a, b in runs(col) for pt in ((j - 0.5, a - 0.5), (j - 0.5, b - 0.5))]
    return np.asarray(verts, float) * scale + np.asarray(offset, float)


def _draw_segments(ax, parts: list, color: str, style: Any, width: float) -> None:
    """Outline segments (arrays of end-point pairs) as one path: one SVG element however many."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    parts = [p for p in parts if p is not None]
    if not parts:
        return
    verts = np.concatenate(parts)
    codes = np.tile([Path.MOVETO, Path.LINETO], len(verts) // 2)
    ax.add_patch(PathPatch(Path(verts, codes), fill=False, edgecolor=color, linestyle=style, linewidth=width,
                           capstyle="butt"))


def _explainer_label(name: str, baselines: Sequence[str]) -> str:
    return _label(name, 24) + (" (baseline)" if name in baselines else "")


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def examples_figure(columns: Sequence[dict[str, Any]], explainers: Sequence[str], baselines: Sequence[str],
                    salt: str, display_max: int = DISPLAY_MAX) -> str:
    """Example attribution maps of image inputs: rows = explainers, columns = models × examples.

    ``columns``: dicts with ``group`` (the model), ``title`` (e.g. ``class 1``), ``input`` (h × w),
    ``mask`` and ``suppressor`` (h × w booleans or None) and ``maps`` (explainer -> h × w). The
    first row shows the input (grey scale, its own range) with the ground-truth mask outlined (blue)
    and the suppressor mask (green, dashed); every map shows ``|map|`` divided by its own maximum
    (white = 0, dark red = the largest), with the same outlines on top. Images larger than
    ``display_max`` pixels per side are block-averaged to at most that size (the outlines stay at
    full resolution). Images are embedded at their own resolution (``interpolation="none"``: the
    browser scales them, pixelated), which keeps the SVG small and exact.
    """
    rows = ["input", *explainers]
    n_rows = len(rows)
    groups = list(dict.fromkeys(c["group"] for c in columns))
    left, right, top, bottom = 1.35, 0.06, 0.42, 0.08
    gap, group_gap, row_gap = 0.04, 0.14, 0.1
    n_base = sum(e in baselines for e in explainers)

    xs, x = [], left
    for j, c in enumerate(columns):
        if j and c["group"] != columns[j - 1]["group"]:
            x += group_gap - gap
        xs.append(x)
        x += PANEL + gap
    width = x - gap + right
    ys, y = [], top
    for i, name in enumerate(rows):
        if i == 1 or (n_base and i == n_rows - n_base):
            y += row_gap
        ys.append(y)
        y += PANEL + gap
    height = y - gap + bottom

    def draw(fig):
        # one axes in inches (y down) for the whole grid: far faster than an axes per panel
        fig.set_size_inches(width, height)
        fig.suppressComposite = True  # keep each image at its own resolution (no 72-dpi composite)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        text = {"fontsize": 6.5, "clip_on": False}
        for g in groups:
            js = [j for j, c in enumerate(columns) if c["group"] == g]
            ax.text((xs[js[0]] + xs[js[-1]] + PANEL) / 2, 0.1, _label(g, 22), ha="center", va="top",
                    fontsize=7.5, fontweight="bold", color="#1f2937", clip_on=False)
        for j, c in enumerate(columns):
            ax.text(xs[j] + PANEL / 2, top - 0.04, _label(c["title"], 14), ha="center", va="bottom",
                    color="#4b5563", **text)
        for i, name in enumerate(rows):
            base = name in baselines
            ax.text(left - 0.06, ys[i] + PANEL / 2, "input + masks" if i == 0 else _explainer_label(name, baselines),
                    ha="right", va="center", color="#6b7280" if base else "#1f2937",
                    style="italic" if base else "normal", **text)
        outlines: dict[tuple[str, bool], list] = {}
        for j, c in enumerate(columns):
            x_in = np.asarray(c["input"], float)
            h, w = x_in.shape
            factor = max(1, math.ceil(max(h, w) / display_max))
            scale = PANEL / max(h, w)
            mask = None if c.get("mask") is None else np.asarray(c["mask"], bool)
            supp = None if c.get("suppressor") is None else np.asarray(c["suppressor"], bool)
            for i, name in enumerate(rows):
                x0 = xs[j] + (PANEL - w * scale) / 2
                y0 = ys[i] + (PANEL - h * scale) / 2
                extent = (x0, x0 + w * scale, y0 + h * scale, y0)
                if i == 0:
                    shown = _block_mean(x_in, factor)
                    lo, hi = np.nanmin(shown), np.nanmax(shown)
                    ax.imshow(shown, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="none",
                              extent=extent, aspect="auto")
                else:
                    amap = c["maps"].get(name)
                    if amap is None:
                        ax.text(xs[j] + PANEL / 2, ys[i] + PANEL / 2, "–", ha="center", va="center",
                                color="#9ca3af", **text)
                        continue
                    ax.imshow(_normalised_abs(np.asarray(amap, float).reshape(h, w), factor), cmap=MAP_CMAP,
                              vmin=0.0, vmax=1.0, interpolation="none", extent=extent, aspect="auto")
                offset = (x0 + 0.5 * scale, y0 + 0.5 * scale)
                for key, m in (("mask", mask), ("suppressor", supp)):
                    if m is not None:
                        outlines.setdefault((key, i == 0), []).append(_outline(m, offset, scale))
        for (key, first), parts in outlines.items():
            color, style = (MASK_COLOR, "-") if key == "mask" else (SUPPRESSOR_COLOR, (0, (2, 1.5)))
            _draw_segments(ax, parts, color, style, 0.8 if first else 0.6)
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)

    return _render(draw, salt)


def tabular_figure(panels: Sequence[dict[str, Any]], explainers: Sequence[str], baselines: Sequence[str],
                   feature_names: Sequence[str] | None, salt: str, max_width: float = 11.0,
                   max_labels: int = 30) -> str:
    """Example attributions of tabular inputs: one heatmap (rows = explainers, columns = features)
    per model and example.

    ``panels``: dicts with ``title``, ``input`` (d values), ``mask`` and ``suppressor`` (d booleans
    or None) and ``maps`` (explainer -> d values). Each row shows ``|map|`` divided by the row's
    maximum (white 0, dark red the largest). Ground-truth features are outlined (blue) and marked ▼
    above, suppressors dashed green and marked ◆. The features' input values are in the column
    labels (``name = value``; features have their own units, so they are not colour-coded), for at
    most ``max_labels`` features.
    """
    d = len(panels[0]["input"]) if panels else 0
    names = [str(n) for n in feature_names] if feature_names is not None else [f"x{j + 1}" for j in range(d)]
    show_labels = d <= max_labels
    labels = [[f"{_label(n, 18)} = {fmt(v)}" for n, v in zip(names, p["input"])] for p in panels]
    pw = min(4.0, max(1.3, 0.14 * d))
    ph = 0.13 * len(explainers) + 0.05
    left, right, top = 1.35, 0.1, 0.5
    longest = max((len(t) for row in labels for t in row), default=0)
    bottom = 0.12 + (0.046 * longest if show_labels else 0.0)
    wgap, hgap = 0.15, top + bottom - 0.1
    ncols = max(1, min(len(panels), int((max_width - left - right + wgap) // (pw + wgap))))
    nrows = -(-len(panels) // ncols)
    width = left + right + ncols * pw + (ncols - 1) * wgap
    height = top + bottom + nrows * ph + (nrows - 1) * hgap
    n = len(explainers)

    def draw(fig):
        from matplotlib.lines import Line2D

        fig.set_size_inches(width, height)
        for k, p in enumerate(panels):
            r, c = divmod(k, ncols)
            x0 = left + c * (pw + wgap)
            y0 = top + r * (ph + hgap)
            ax = fig.add_axes((x0 / width, 1 - (y0 + ph) / height, pw / width, ph / height))
            grid = np.full((n, d), np.nan)
            for i, name in enumerate(explainers):
                amap = p["maps"].get(name)
                if amap is not None:
                    grid[i] = _normalised_abs(np.asarray(amap, float)[None, :], 1)[0]
            ax.imshow(np.ma.masked_invalid(grid), cmap=MAP_CMAP, vmin=0, vmax=1, interpolation="none",
                      extent=(-0.5, d - 0.5, n - 0.5, -0.5), aspect="auto")
            for key, color, style, marker in (("mask", MASK_COLOR, "-", "v"),
                                              ("suppressor", SUPPRESSOR_COLOR, (0, (2, 1.5)), "D")):
                if p.get(key) is None:
                    continue
                feats = np.asarray(p[key], bool)
                _draw_segments(ax, [_outline(np.tile(feats, (n, 1)))], color, style, 1.0)
                idx = np.flatnonzero(feats)
                ax.plot(idx, np.full(idx.shape, -0.5 - 0.07 * n / ph), linestyle="none",  # 0.07 in above
                        marker=marker, markersize=3, color=color, clip_on=False)
            ax.set_xlim(-0.5, d - 0.5)
            ax.set_ylim(n - 0.5, -0.5)
            ax.grid(False)
            for side in ("left", "bottom"):
                ax.spines[side].set_visible(False)
            ax.set_title(_label(p["title"], 30), pad=9, fontsize=7.5)
            if c == 0:
                ax.set_yticks(range(n), [_explainer_label(e, baselines) for e in explainers], fontsize=6.5)
                for tick, name in zip(ax.get_yticklabels(), explainers):
                    if name in baselines:
                        tick.set_color("#6b7280")
                        tick.set_fontstyle("italic")
            else:
                ax.set_yticks([])
            ax.tick_params(length=0)
            if show_labels:
                ax.set_xticks(range(d), labels[k], rotation=90, fontsize=6)
            else:
                ax.set_xticks([])
        handles = [Line2D([], [], color=MASK_COLOR, marker="v", markersize=3, linewidth=1.0, label="ground truth"),
                   Line2D([], [], color=SUPPRESSOR_COLOR, marker="D", markersize=3, linewidth=1.0,
                          linestyle=(0, (2, 1.5)), label="suppressor")]
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), ncols=2, fontsize=6.5,
                   borderaxespad=0.2)

    return _render(draw, salt)


def _compound(pieces: Sequence[np.ndarray], closed: bool):
    """One matplotlib Path of several polylines (each an (n, 2) array), closed polygons if ``closed``."""
    from matplotlib.path import Path

    codes = []
    for p in pieces:
        codes += [Path.MOVETO] + [Path.LINETO] * (len(p) - 1) + ([Path.CLOSEPOLY] if closed else [])
    verts = [np.vstack([p, p[:1]]) if closed else p for p in pieces]
    return Path(np.concatenate(verts), codes)


def _boxes(ax, data: Sequence[np.ndarray], pos: Sequence[float], color: str, height: float = 0.62) -> None:
    """Horizontal box plots as three paths: boxes (quartiles), whiskers (5th-95th percentile) with
    caps, and medians. One SVG element each, however many boxes; ``Axes.boxplot`` makes several
    artists per box (slow, and about ten times the SVG)."""
    from matplotlib.patches import PathPatch

    q = np.array([np.percentile(v, [5, 25, 50, 75, 95]) for v in data])
    y = np.asarray(pos, float)
    lo, hi, cap = y - height / 2, y + height / 2, height / 4
    boxes = [np.array([(a, b), (c, b), (c, t), (a, t)]) for a, c, b, t in zip(q[:, 1], q[:, 3], lo, hi)]
    whiskers = [np.array(seg) for (p5, p25, _, p75, p95), yi in zip(q, y) for seg in (
        [(p5, yi), (p25, yi)], [(p75, yi), (p95, yi)],  # whiskers
        [(p5, yi - cap), (p5, yi + cap)], [(p95, yi - cap), (p95, yi + cap)])]  # caps
    medians = [np.array([(m, a), (m, b)]) for m, a, b in zip(q[:, 2], lo, hi)]
    ax.add_patch(PathPatch(_compound(boxes, True), facecolor=color, edgecolor=color, alpha=0.35, linewidth=0.6))
    ax.add_patch(PathPatch(_compound(whiskers, False), fill=False, edgecolor=color, linewidth=0.7))
    ax.add_patch(PathPatch(_compound(medians, False), fill=False, edgecolor="#111827", linewidth=1.0))


def scores_figure(models: Sequence[dict[str, Any]], metrics: Sequence[str], explainers: Sequence[str],
                  baselines: Sequence[str], salt: str) -> str:
    """Per-sample metric values per explainer: one panel per model (rows) and metric (columns).

    ``models``: dicts with ``label``, ``color``, ``title`` (the row's heading) and ``scores``
    (explainer -> metric -> per-sample values). Boxes show the quartiles and the median, whiskers the
    5th and 95th percentiles (no outlier points). The baselines' medians on the same samples are
    the vertical reference lines (random, sobel, laplace, input). Explainers are listed top to
    bottom in the order given, the same in every panel.
    """
    from matplotlib.lines import Line2D

    ranked = [e for e in explainers if e not in baselines]
    bases = [b for b in baselines if b in explainers]
    n = max(1, len(ranked))
    pw, ph = 1.6, 0.17 * n + 0.15
    left, right, top, bottom, wgap, hgap = 1.35, 0.15, 0.55, 0.45, 0.22, 0.62
    ncols, nrows = max(1, len(metrics)), max(1, len(models))
    width = left + right + ncols * pw + (ncols - 1) * wgap
    height = top + bottom + nrows * ph + (nrows - 1) * hgap
    y = np.arange(len(ranked))[::-1].astype(float)

    def draw(fig):
        fig.set_size_inches(width, height)
        grid = {"left": left / width, "right": 1 - right / width, "bottom": bottom / height,
                "top": 1 - top / height, "wspace": wgap / pw, "hspace": hgap / ph}
        axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=grid)
        for r, model in enumerate(models):
            fig.text(0.06 / width, 1 - (top + r * (ph + hgap) - 0.22) / height, _label(model["title"], 80),
                     ha="left", va="bottom", fontsize=7.5, fontweight="bold", color=model["color"])
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                scores = model["scores"]
                data, pos = [], []
                for yi, e in zip(y, ranked):
                    v = np.asarray(scores.get(e, {}).get(metric, []), float)
                    v = v[np.isfinite(v)]
                    if v.size:
                        data.append(v)
                        pos.append(yi)
                if data:
                    _boxes(ax, data, pos, model["color"])
                for b in bases:
                    v = np.asarray(scores.get(b, {}).get(metric, []), float)
                    v = v[np.isfinite(v)]
                    if v.size:
                        color, style = BASELINE_STYLE.get(b, _OTHER_STYLE)
                        ax.axvline(float(np.median(v)), color=color, linestyle=style, linewidth=0.9)
                bounded = metric in METRICS
                if bounded:
                    ax.set_xlim(-0.03, 1.03)
                    ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
                else:
                    ax.locator_params(axis="x", nbins=3)
                ax.set_ylim(-0.6, len(ranked) - 0.4)
                ax.grid(axis="y", visible=False)
                if c == 0:
                    ax.set_yticks(y, [_label(e, 24) for e in ranked], fontsize=6.5)
                else:
                    ax.set_yticks(y, [])
                    ax.tick_params(axis="y", length=0)
                arrow = f" {_info(metric).direction}"
                ax.set_title(_label(metric, 26) + arrow, fontsize=7.5)
        handles = [Line2D([], [], color=BASELINE_STYLE.get(b, _OTHER_STYLE)[0], linewidth=0.9,
                          linestyle=BASELINE_STYLE.get(b, _OTHER_STYLE)[1], label=f"{b} (median)") for b in bases]
        if handles:
            fig.legend(handles=handles, loc="lower center", ncols=len(handles), bbox_to_anchor=(0.5, 0.0),
                       fontsize=7)

    return _render(draw, salt)


# --------------------------------------------------------------------------------------------
# the view
# --------------------------------------------------------------------------------------------


def _split(method: str) -> tuple[str, str | None]:
    model, _, explainer = method.partition("/")
    return model, (explainer or None)


def _orders(records, examples: dict, scores: dict, models_art: dict) -> tuple[list[str], list[str], list[str]]:
    """(models, explainers with the baselines last, baselines present)."""
    models: dict[str, None] = {}
    found: dict[str, None] = {}
    for method in records["method"].astype(str):
        model, explainer = _split(method)
        models.setdefault(model, None)
        if explainer is not None:
            found.setdefault(explainer, None)
    for source in (models_art, examples, scores):
        for model, items in source.items():
            models.setdefault(model, None)
            for _, value in items:
                for key in ("maps", "scores"):
                    if isinstance(value.get(key), Mapping):
                        for e in value[key]:
                            found.setdefault(str(e), None)
    listed = [str(b) for _, items in scores.items() for _, v in items for b in (v.get("baselines") or [])]
    base_names = list(dict.fromkeys([*BASELINES, *listed]))
    bases = [b for b in base_names if b in found]
    return list(models), [e for e in found if e not in base_names] + bases, bases


def _metrics(records, scores: dict) -> list[str]:
    present: dict[str, None] = {}
    for items in scores.values():
        for _, v in items:
            for m in v.get("metrics") or []:
                present.setdefault(str(m), None)
            for per in (v.get("scores") or {}).values():
                for m in per:
                    present.setdefault(str(m), None)
    expl = records[records["method"].astype(str).str.contains("/", regex=False)]
    for m in expl["metric"].astype(str):
        if not m.startswith("p_holm["):
            present.setdefault(m, None)
    return [m for m in METRICS if m in present] + [m for m in present if m not in METRICS]


def _pooled_scores(items: list) -> dict[str, dict[str, np.ndarray]]:
    """explainer -> metric -> per-sample values, concatenated over seeds."""
    out: dict[str, dict[str, list]] = {}
    for _, v in items:
        for e, per in (v.get("scores") or {}).items():
            for m, vals in per.items():
                out.setdefault(str(e), {}).setdefault(str(m), []).append(np.asarray(vals, float).ravel())
    return {e: {m: np.concatenate(v) for m, v in per.items()} for e, per in out.items()}


def _alpha(scores: dict) -> float:
    for items in scores.values():
        for _, v in items:
            a = v.get("alpha")
            if isinstance(a, (int, float)) and 0 < a < 1:
                return float(a)
    return ALPHA


def _accuracy(records, model: str, model_items: list) -> dict[str, str]:
    """Test accuracy of a model: mean over seeds of the record and its CI, counts from the artifact."""
    rec = records[(records["method"].astype(str) == model) & (records["metric"] == "test_accuracy")]
    value = low = high = np.nan
    if len(rec):
        value, low, high = (float(rec[c].mean()) for c in ("value", "ci_low", "ci_high"))
    elif model_items:
        value = float(np.mean([float(v.get("test_accuracy", np.nan)) for _, v in model_items]))
    parts = []
    if model_items:
        n_correct = sum(int(v.get("n_correct", 0)) for _, v in model_items)
        n_test = sum(int(v.get("n_test", 0)) for _, v in model_items)
        n_eval = sum(int(v.get("n_evaluated", 0)) for _, v in model_items)
        if n_test:
            parts.append(f"{n_correct}/{n_test} test samples correct")
        if n_eval:
            parts.append(f"{n_eval} samples evaluated")
    seeds = rec["seed"].nunique() if len(rec) else len(model_items)
    if seeds:
        parts.append(f"{seeds} seed{'' if seeds == 1 else 's'}")
    ci = f"[{fmt(low)}, {fmt(high)}]" if np.isfinite(low) and np.isfinite(high) else ""
    return {"value": fmt(value), "ci": ci, "detail": " · ".join(parts)}


def _p_values(records) -> dict[tuple[str, str, str], list[tuple[Any, float]]]:
    """(method, metric, baseline) -> [(seed, Holm-adjusted p), ...], seeds ascending."""
    sub = records[records["metric"].astype(str).str.startswith("p_holm[")].sort_values("seed", kind="stable")
    out: dict[tuple[str, str, str], list] = {}
    for method, metric, seed, p in zip(sub["method"].astype(str), sub["metric"].astype(str), sub["seed"], sub["value"]):
        m = _P_HOLM.match(metric)
        if m:
            out.setdefault((method, m["metric"], m["baseline"]), []).append((seed, float(p)))
    return out


def _fails(pvalues: dict, method: str, metric: str, bases: list[str], alpha: float) -> list[dict[str, str]]:
    """The baselines that ``method`` is not shown to beat on ``metric``: p_holm >= alpha (or missing)
    in at least one seed. The title gives each seed's p-value."""
    out = []
    for b in (b for b in TEST_BASELINES if b in bases):
        items = pvalues.get((method, metric, b))
        if not items:
            continue
        p = np.array([v for _, v in items], float)
        failed = ~(p < alpha)  # NaN: not shown better either
        if not failed.any():
            continue
        per_seed = ", ".join(f"seed {s}: {fmt(v)}" for s, v in items)
        share = "" if failed.all() else f" {int(failed.sum())}/{len(p)}"
        out.append({"baseline": b, "short": b[:1].upper(), "share": share,
                    "title": f"not shown better than {b} on {metric}: Holm-adjusted p ≥ α = {alpha:g} "
                             f"(one-sided paired Wilcoxon signed-rank test; {per_seed})"})
    return out


def _table(records, models: list[str], explainers: list[str], bases: list[str], metrics: list[str],
           models_art: dict, alpha: float) -> dict[str, Any]:
    """Rows per model: its accuracy, then each explainer's mean [CI] per metric with fail marks."""
    expl = records[records["method"].astype(str).str.contains("/", regex=False)]
    agg = expl[expl["metric"].isin(metrics)].groupby(["method", "metric"], sort=False)[
        ["value", "ci_low", "ci_high"]].mean()
    values = {k: (row.value, row.ci_low, row.ci_high) for k, row in zip(agg.index, agg.itertuples())}
    pvalues = _p_values(expl)
    groups = []
    for model in models:
        present = [e for e in explainers if any((f"{model}/{e}", m) in values for m in metrics)]
        if not present:
            continue
        cells: dict[tuple[str, str], dict] = {}
        for metric in metrics:
            info = _info(metric)
            vals = [values.get((f"{model}/{e}", metric), (np.nan,) * 3) for e in present]
            best = info.best([v[0] if e not in bases else np.nan for e, v in zip(present, vals)])
            for e, v, b in zip(present, vals, best):
                method = f"{model}/{e}"
                ci = f"[{fmt(v[1])}, {fmt(v[2])}]" if np.isfinite(v[1]) and np.isfinite(v[2]) else ""
                cells[e, metric] = {
                    "key": metric, "value": fmt(v[0]), "ci": ci, "best": bool(b),
                    "missing": not np.isfinite(v[0]),
                    "fails": [] if e in bases else _fails(pvalues, method, metric, bases, alpha)}
        groups.append({
            "model": model, "accuracy": _accuracy(records, model, models_art.get(model, [])),
            "rows": [{"label": f"{model}/{e}", "explainer": e, "is_baseline": e in bases,
                      "cells": [cells[e, m] for m in metrics]} for e in present],
        })
    columns = [{"name": m, "direction": _info(m).direction, "title": _info(m).description} for m in metrics]
    return {"columns": columns, "groups": groups}


def _svg_width_px(svg: str) -> float:
    m = re.search(r'width="([\d.]+)pt"', svg[:400])
    return float(m[1]) * 4 / 3 if m else 1e9


def _span(svg: str) -> int:
    """Grid columns (of the page's 6, about 185 px each) a figure needs at its natural size."""
    cols = math.ceil(_svg_width_px(svg) / 185)
    return next((w for w in (2, 3, 4) if cols <= w), 6)


def attribution_view(records, artifacts, salt: str) -> dict[str, Any] | None:
    """The attribution section of one task, or None when the task has no attribution artifacts.

    Parameters
    ----------
    records, artifacts : the task's rows of the store frames (``trustbench.report.html`` formats).
    salt : a page-unique id for the task; figure ``svg.hashsalt`` values derive from it.

    Returns
    -------
    A dict with ``figures`` (``title``, ``width``, ``svg`` as Markup, ``caption``), ``table``
    (``columns`` and ``groups`` of rows per model, cells with ``fails`` marks), ``alpha`` and
    ``baselines`` (the tested ones present); None when no ``attribution_examples``,
    ``attribution_scores`` or ``attribution_model`` artifact exists.
    """
    from markupsafe import Markup

    if not isinstance(salt, str):
        raise TypeError(f"salt must be a str; got {type(salt).__name__}.")
    examples = _artifact(artifacts, "attribution_examples")
    scores = _artifact(artifacts, "attribution_scores")
    models_art = _artifact(artifacts, "attribution_model")
    if not (examples or scores or models_art):
        return None
    models, explainers, bases = _orders(records, examples, scores, models_art)
    metrics = _metrics(records, scores)
    alpha = _alpha(scores)
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    table = _table(records, models, explainers, bases, metrics, models_art, alpha)
    accuracy = {g["model"]: g["accuracy"] for g in table["groups"]}
    figures = []

    shown = [(m, examples[m][0]) for m in models if m in examples]  # first seed of each model
    image = [(m, s, v) for m, (s, v) in shown if len(v.get("shape") or []) == 2]
    tabular = [(m, s, v) for m, (s, v) in shown if len(v.get("shape") or []) == 1]
    if image:
        columns, big = [], False
        for m, _, v in image:
            h, w = (int(x) for x in v["shape"])
            big |= max(h, w) > DISPLAY_MAX
            for k, x in enumerate(v.get("inputs") or []):
                columns.append({
                    "group": m, "title": f"class {v['labels'][k]}" if v.get("labels") else f"example {k + 1}",
                    "input": np.asarray(x, float).reshape(h, w),
                    "mask": np.asarray(v["masks"][k], bool).reshape(h, w) if v.get("masks") else None,
                    "suppressor": np.asarray(v["suppressors"][k], bool).reshape(h, w) if v.get("suppressors") else None,
                    "maps": {e: np.asarray(a[k], float) for e, a in (v.get("maps") or {}).items() if k < len(a)},
                })
        rows = [e for e in explainers if any(e in c["maps"] for c in columns)]
        svg = examples_figure(columns, rows, bases, f"{salt}-attr-maps")
        seeds = sorted({str(s) for _, s, _ in image})
        figures.append({
            "title": "Example attributions", "width": _span(svg), "svg": Markup(svg),
            "caption": "First row: the input (grey scale) with the ground-truth mask outlined in blue and, where "
                       "the task has them, the suppressor features dashed in green. Other rows: |attribution| of "
                       "each explainer divided by its own maximum (white 0, dark red the largest), same outlines; "
                       "baselines last. " + ("Maps larger than 32 × 32 pixels are shown block-averaged to at most "
                       "32 × 32 (outlines at full resolution). " if big else "")
                       + f"Seed {', '.join(seeds)}."})
    if tabular:
        panels, names = [], None
        for m, _, v in tabular:
            names = names or v.get("feature_names")
            for k, x in enumerate(v.get("inputs") or []):
                label = f"class {v['labels'][k]}" if v.get("labels") else f"example {k + 1}"
                panels.append({
                    "title": f"{m} · {label}", "input": np.asarray(x, float).ravel(),
                    "mask": np.asarray(v["masks"][k], bool).ravel() if v.get("masks") else None,
                    "suppressor": np.asarray(v["suppressors"][k], bool).ravel() if v.get("suppressors") else None,
                    "maps": {e: np.asarray(a[k], float).ravel()
                             for e, a in (v.get("maps") or {}).items() if k < len(a)},
                })
        d = {len(p["input"]) for p in panels}
        if len(d) == 1:
            rows = [e for e in explainers if any(e in p["maps"] for p in panels)]
            svg = tabular_figure(panels, rows, bases, names if names and len(names) == d.pop() else None,
                                 f"{salt}-attr-tab")
            figures.append({
                "title": "Example attributions", "width": _span(svg), "svg": Markup(svg),
                "caption": "Per model and example: |attribution| of each explainer divided by the row's maximum "
                           "(white 0, dark red the largest), baselines last; ground-truth features outlined in blue "
                           "(▼), suppressors dashed green (◆). Column labels give the input's feature values. "
                           f"Seed {', '.join(sorted({str(s) for _, s, _ in tabular}))}."})
    pooled = [(m, _pooled_scores(scores[m])) for m in models if m in scores]
    if pooled and metrics:
        rows = [e for e in explainers if any(e in s for _, s in pooled)]
        used = [m for m in metrics if any(m in per for _, s in pooled for per in s.values())]
        panels = []
        for m, s in pooled:
            acc = accuracy.get(m)
            title = m + (f"  (test accuracy {acc['value']})" if acc and acc["value"] != "–" else "")
            panels.append({"label": m, "color": colors[m], "title": title, "scores": s})
        svg = scores_figure(panels, used, rows, bases, f"{salt}-attr-scores")
        figures.append({
            "title": "Metric distributions over samples", "width": _span(svg), "svg": Markup(svg),
            "caption": "Per-sample metric values of each explainer (pooled over seeds): box = quartiles, "
                       "line = median, whiskers = 5th–95th percentile, no outlier points. Vertical lines: the "
                       "baselines' medians on the same samples. ↑ higher is better, ↓ lower is better."})
    return {"figures": figures, "table": table, "alpha": f"{alpha:g}",
            "baselines": [b for b in TEST_BASELINES if b in bases]}
