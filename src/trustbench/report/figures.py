"""Figures of the report, drawn with matplotlib and rendered to small inline SVG strings.

No pyplot and no backend switch: each figure is a bare ``matplotlib.figure.Figure`` (no global
state), drawn inside an ``rc_context`` and saved as SVG with text kept as text (``svg.fonttype
= none``: small, selectable, rendered by the browser's sans-serif font). ``svg.hashsalt`` is set
per figure, so the ids inside one SVG never collide with another's on the same page and the output
is deterministic. Matplotlib escapes text in SVG; labels are additionally protected from mathtext.

Every function takes plain lists/arrays (the page builder shapes the data) and returns the
``<svg>...</svg>`` markup.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "pit_figure",
    "coverage_figure",
    "bands_figure",
    "severity_figure",
    "gap_figure",
    "MAX_POINTS",
    "MAX_SCATTER",
]

MAX_POINTS = 100
"""At most this many points per line (evenly thinned): keeps the SVGs small."""
MAX_SCATTER = 80
"""At most this many training points per band panel."""

_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial"],
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.titlepad": 4,
    "axes.labelsize": 8,
    "axes.edgecolor": "#8a96a3",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dde3ea",
    "grid.linewidth": 0.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "legend.fontsize": 7,
    "legend.frameon": False,
    "lines.linewidth": 1.2,
    "path.simplify": True,
    "figure.facecolor": "white",
}
_STRIP = re.compile(
    r"<metadata>.*?</metadata>|<!--.*?-->|<style[^>]*>.*?</style>|<defs>\s*</defs>"
    r'|(?<=<g) id="[^"]*"|\stransform="rotate\(-?0 [^)]*\)"', re.S)
_BETWEEN_TAGS = re.compile(r">\s+<")
_GEOMETRY = re.compile(r'(\s(?:d|x|y|x1|x2|y1|y2|width|height|points)=")([^"]*)"')
_DECIMALS = re.compile(r"(\d+\.\d)\d+")
_REPEATED_L = re.compile(r"(?<=[\d.])\s+L\s+")


def _label(text: str, limit: int = 32) -> str:
    """A user string safe for matplotlib: no mathtext, not hidden from legends, not too long."""
    text = str(text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _thin(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` evenly spaced items out of ``n`` (all of them when fewer)."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int)) if n else np.arange(0)


def _render(draw: Callable[[Any], None], salt: str) -> str:
    """Draw on a fresh Figure and return its SVG markup, made fit to sit inline in an HTML page.

    The XML prolog, metadata, comments, matplotlib's global ``<style>``, the ids of groups (they
    would repeat from one figure to the next on the page) and the indentation are removed, and the
    geometry is rounded to 0.1 pt (text content is left as it is): about half the size.
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        fig = Figure()
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _STRIP.sub("", buf.getvalue().split("<svg", 1)[1])
    return "<svg" + _BETWEEN_TAGS.sub("><", _GEOMETRY.sub(_compact, text)).rstrip()


def _compact(match: re.Match) -> str:
    """One geometry attribute with numbers rounded to 0.1 and, in a path of straight segments only,
    the repeated ``L`` commands dropped (SVG repeats the last M/L command implicitly)."""
    name, value = match[1], " ".join(_DECIMALS.sub(r"\1", match[2]).split())
    if name.endswith('d="') and not re.search(r"[CcQqSsTtAaHhVv]", value):
        value = _REPEATED_L.sub(" ", value)
    return f'{name}{value}"'


def _panels(fig, n: int, max_cols: int, *, panel: tuple[float, float] = (2.3, 1.6), left: float = 0.5,
            right: float = 0.12, top: float = 0.28, bottom: float = 0.45, wgap: float = 0.3,
            hgap: float = 0.45, **kw: Any) -> list:
    """``n`` axes in a grid of at most ``max_cols`` columns, with fixed margins in inches.

    The figure is sized to fit; a fixed layout is several times faster than a layout engine, which
    measures every text twice.
    """
    ncols = max(1, min(n, max_cols))
    nrows = -(-n // ncols)
    pw, ph = panel
    width = left + right + ncols * pw + (ncols - 1) * wgap
    height = top + bottom + nrows * ph + (nrows - 1) * hgap
    fig.set_size_inches(width, height)
    grid = {"left": left / width, "right": 1 - right / width, "bottom": bottom / height,
            "top": 1 - top / height, "wspace": wgap / pw, "hspace": hgap / ph}
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=grid, **kw).ravel()
    for ax in axes[n:]:
        ax.remove()
    for ax in axes[:n]:
        ax.locator_params(nbins=4)
    return list(axes[:n])


def _yerr(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Non-negative (2, n) error-bar lengths from a CI; a missing bound draws no bar."""
    below = np.nan_to_num(value - low, nan=0.0)
    above = np.nan_to_num(high - value, nan=0.0)
    return np.clip(np.vstack([below, above]), 0.0, None)


def pit_figure(panels: Sequence[dict[str, Any]], salt: str, max_cols: int = 4) -> str:
    """PIT histograms, one panel per method, as densities (uniform = 1, the dashed line).

    ``panels``: dicts with ``label``, ``color``, ``hist`` (counts) and ``edges``. A calibrated
    predictive gives a flat histogram (Dawid 1984; Gneiting, Balabdaoui & Raftery 2007); a U shape
    means too narrow, a hump too wide, a slope a bias.
    """

    def draw(fig):
        from matplotlib.ticker import MaxNLocator

        axes = _panels(fig, len(panels), max_cols, panel=(1.45, 0.95), left=0.42, bottom=0.42, wgap=0.28,
                       hgap=0.42, sharex=True)
        for ax, p in zip(axes, panels):
            hist = np.asarray(p["hist"], float)
            edges = np.asarray(p["edges"], float)
            total = hist.sum() * np.diff(edges)
            dens = np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)
            ax.stairs(dens, edges, fill=True, color=p["color"], alpha=0.75, linewidth=0)
            ax.axhline(1.0, color="#374151", linestyle="--", linewidth=0.8)
            ax.set_xlim(edges[0], edges[-1])
            ax.set_ylim(0, max(2.0, 1.08 * dens.max(initial=0.0)))  # flat stays flat-looking
            ax.yaxis.set_major_locator(MaxNLocator(3, integer=True))
            ax.set_xticks([edges[0], (edges[0] + edges[-1]) / 2, edges[-1]])
            ax.set_title(_label(p["label"], 26), color=p["color"])
            ax.grid(axis="x", visible=False)
        fig.supxlabel("PIT value", fontsize=7.5, y=0.01)
        fig.supylabel("density", fontsize=7.5, x=0.005)

    return _render(draw, salt)


def coverage_figure(lines: Sequence[dict[str, Any]], salt: str) -> str:
    """Observed coverage of central intervals against their nominal level; the diagonal is ideal.

    ``lines``: dicts with ``label``, ``color``, ``levels`` and ``observed``.
    """

    def draw(fig):
        (ax,) = _panels(fig, 1, 1, panel=(2.5, 2.5), top=0.1, right=0.15)
        ax.plot([0, 1], [0, 1], color="#9ca3af", linestyle="--", linewidth=0.9)
        for line in lines:
            ax.plot(line["levels"], line["observed"], color=line["color"], marker="o", markersize=2,
                    linewidth=1.0)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal level", ylabel="observed coverage")

    return _render(draw, salt)


def bands_figure(panels: Sequence[dict[str, Any]], reference: dict[str, Any] | None,
                 truth: dict[str, Any] | None, data: dict[str, Any] | None, salt: str,
                 max_cols: int = 5) -> str:
    """Predictive bands of each method on a 1-D task, against the truth and the reference method.

    ``panels``: dicts with ``label``, ``color`` and ``band`` (``x``, ``mean``, ``lo``, ``hi``);
    ``reference`` is a band on its own grid ``x`` and ``truth`` one on the first panel's grid (or
    None); ``data`` holds ``x_train`` and ``y_train``. Lines keep at most MAX_POINTS points, the
    training data at most MAX_SCATTER.
    """

    def band(ax, x, b, color, *, fill, label, style="-"):
        i = _thin(len(x))
        x, mean, lo, hi = (np.asarray(v, float)[i] for v in (x, b["mean"], b["lo"], b["hi"]))
        if fill:
            ax.fill_between(x, lo, hi, color=color, alpha=0.22, linewidth=0)
        else:  # both bounds in one line, broken by a NaN
            ax.plot(np.r_[x, np.nan, x], np.r_[lo, np.nan, hi], color=color, linewidth=0.7,
                    linestyle=style if style != "-" else ":")
        ax.plot(x, mean, color=color, linestyle=style, linewidth=1.0, label=label)

    n_entries = 1 + sum(v is not None for v in (data, truth, reference))
    legend_cols = min(n_entries, 2 * min(len(panels), max_cols))  # the legend fits under the panels
    legend_rows = -(-n_entries // legend_cols)

    def draw(fig):
        axes = _panels(fig, len(panels), max_cols, panel=(1.9, 1.45), bottom=0.45 + 0.17 * legend_rows,
                       hgap=0.4, sharex=True, sharey=True)
        if data is not None:
            xs, ys = np.asarray(data["x_train"], float), np.asarray(data["y_train"], float)
            xs, ys = xs[_thin(len(xs), MAX_SCATTER)], ys[_thin(len(ys), MAX_SCATTER)]
        for ax, p in zip(axes, panels):
            if data is not None:
                ax.plot(xs, ys, linestyle="none", marker="o", markersize=1.6, markeredgewidth=0,
                        color="#9ca3af", label="training data")
            if truth is not None:
                band(ax, panels[0]["band"]["x"], truth, "#6b7280", fill=False, label="truth", style="--")
            if reference is not None:
                band(ax, reference["x"], reference, "#111827", fill=False, label="reference")
            band(ax, p["band"]["x"], p["band"], p["color"], fill=True, label="method (band)")
            ax.set_title(_label(p["label"], 26), color=p["color"])
            ax.label_outer(remove_inner_ticks=True)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncols=legend_cols, bbox_to_anchor=(0.5, 0.0))

    return _render(draw, salt)


def severity_figure(panels: Sequence[dict[str, Any]], metric: str, salt: str, max_cols: int = 4) -> str:
    """A metric against perturbation severity, one panel per perturbation, with CI error bars.

    ``panels``: dicts with ``title`` and ``series`` (dicts with ``label``, ``color``, ``severity``,
    ``value``, ``low``, ``high``); severity 0 is the clean test set. Series are dodged sideways a
    little so that their error bars do not hide each other.
    """

    def draw(fig):
        from matplotlib.collections import LineCollection

        for ax, p in zip(_panels(fig, len(panels), max_cols, panel=(2.2, 1.55), left=0.55), panels):
            sev = np.unique(np.concatenate([np.asarray(s["severity"], float) for s in p["series"]]))
            step = np.min(np.diff(sev)) if len(sev) > 1 else 1.0
            n = len(p["series"])
            bars, colors = [], []
            for j, s in enumerate(p["series"]):
                x = np.asarray(s["severity"], float) + (j - (n - 1) / 2) * 0.6 * step / n
                v = np.asarray(s["value"], float)
                below, above = _yerr(v, np.asarray(s["low"], float), np.asarray(s["high"], float))
                bars += [((xi, vi - b), (xi, vi + a)) for xi, vi, b, a in zip(x, v, below, above)]
                colors += [s["color"]] * len(x)
                ax.plot(x, v, color=s["color"], marker="o", markersize=2.2, linewidth=0.9)
            # all CI bars of the panel in one collection: one artist instead of one per series
            ax.add_collection(LineCollection(bars, colors=colors, linewidths=0.6, alpha=0.7))
            ax.set_title(_label(p["title"]))
            ax.set_xlabel("severity", labelpad=1)
        fig.supylabel(_label(metric), fontsize=7.5, x=0.005)

    return _render(draw, salt)


def gap_figure(panels: Sequence[dict[str, Any]], metric: str, salt: str, max_cols: int = 4) -> str:
    """The reference gap: one panel per task, one row per method, the metric with its CI.

    ``panels``: dicts with ``title`` and ``rows`` (dicts with ``label``, ``color``, ``value``,
    ``low``, ``high``), drawn top to bottom, the same rows in every panel.
    """
    labels = [_label(r["label"], 20) for r in panels[0]["rows"]] if panels else []

    def draw(fig):
        height = 0.17 * len(labels) + 0.3
        axes = _panels(fig, len(panels), max_cols, panel=(2.0, height), left=1.4, hgap=0.55, sharey=True)
        y = np.arange(len(labels))[::-1]
        for ax, p in zip(axes, panels):
            for yi, r in zip(y, p["rows"]):
                v = np.array([r["value"]], float)
                ax.errorbar(v, [yi], xerr=_yerr(v, np.array([r["low"]], float), np.array([r["high"]], float)),
                            color=r["color"], marker="o", markersize=3, elinewidth=1.0)
            ax.set_yticks(y, labels)
            ax.set_ylim(-0.7, len(labels) - 0.3)
            ax.set_xlim(left=0)
            ax.set_title(_label(p["title"]))
            ax.grid(axis="y", visible=False)
            if not ax.get_subplotspec().is_first_col():  # rows are shared; each panel keeps its own x scale
                ax.tick_params(labelleft=False, left=False)
        fig.supxlabel(_label(metric) + " (smaller = closer to the reference)", fontsize=7.5, y=0.01)

    return _render(draw, salt)


def card_figure(card: dict[str, Any], color: str, salt: str) -> str | None:
    """The curves of one quality card, a panel each when present: the calibration curve (observed
    rate, and the true risk on synthetic data, against the predicted probability), the decision curve
    (net benefit of the model, of treating all and of treating none; Vickers & Elkin 2006) and the
    risk-coverage curve of selective prediction (Geifman & El-Yaniv 2017)."""
    calibration = card.get("calibration") or {}
    cal, true = calibration.get("curve"), calibration.get("true_risk_curve")
    dec, sel = (card.get("decision") or {}).get("curve"), (card.get("uncertainty") or {}).get("selective")
    n = sum(x is not None for x in (cal, dec, sel))
    if not n:
        return None

    def draw(fig):
        axes = iter(_panels(fig, n, 3, panel=(2.2, 2.0), left=0.55, top=0.3, wgap=0.7))
        if cal is not None:
            ax = next(axes)
            top = max(1e-3, max(cal["prob_pred"] + cal["prob_true"] + (true["true_risk"] if true else [])))
            ax.plot([0, top], [0, top], color="#9ca3af", linestyle="--", linewidth=0.9)
            ax.plot(cal["prob_pred"], cal["prob_true"], color=color, marker="o", markersize=2.5, linewidth=1.0,
                    label="observed rate")
            if true:
                ax.plot(true["prob_pred"], true["true_risk"], color="#111827", marker="s", markersize=2.2,
                        linewidth=0.9, linestyle=":", label="true risk")
                ax.legend(loc="upper left", fontsize=6.5, frameon=False)
            ax.set(xlim=(0, top * 1.05), ylim=(0, top * 1.05), xlabel="predicted probability", ylabel="observed")
            ax.set_title("calibration (equal-mass bins)")
        if dec is not None:
            ax = next(axes)
            t = np.asarray(dec["thresholds"], float)
            model = np.asarray(dec["model"], float)
            ax.plot(t, model, color=color, linewidth=1.1, label="model")
            ax.plot(t, dec["treat_all"], color="#6b7280", linewidth=0.9, linestyle="--", label="treat all")
            ax.axhline(0.0, color="#111827", linewidth=0.8, label="treat none")
            ax.set_ylim(min(-0.02, float(np.nanmin(model)) - 0.01), max(0.02, float(np.nanmax(model)) * 1.15 + 0.005))
            ax.set(xlabel="risk threshold", ylabel="net benefit")
            ax.legend(loc="upper right", fontsize=6.5, frameon=False)
            ax.set_title("decision curve")
        if sel is not None:
            ax = next(axes)
            ax.plot(sel["coverage"], sel["risk"], color=color, linewidth=1.1)
            ax.set(xlim=(0, 1), xlabel="coverage (fraction not abstained)", ylabel="error rate")
            ax.set_title("selective prediction")

    return _render(draw, salt)
