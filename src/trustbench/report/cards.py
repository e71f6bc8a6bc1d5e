"""Quality cards: one model-card-like section per (task, method), each part mapped to TRIPOD+AI.

A protocol that wants cards stores, per cell, an artifact ``card`` with the measured parts (format:
docs/architecture.md: ``kind``, ``task``, ``data``, ``model``, ``curve``, ``true_risk_curve``,
``decision``, ``selective``, ``conformal``, ...). :func:`build_cards` joins them with the records — headline
metrics, subgroup metrics (``metric[group=value]``), metric vs perturbation severity, and the same
method's results on the transfer tasks of the same cohort (``<task>→<site>``) — into one JSON-able
card per model. The report renders them; ``trustbench cards`` writes them as JSON.

The card follows model cards (Mitchell et al. 2019); every section names the items of the TRIPOD+AI
checklist (Collins et al., BMJ 2024;385:e078378) it provides evidence for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TRIPOD_AI", "HEADLINE", "build_cards", "all_cards", "write_cards"]

TRIPOD_AI: dict[str, list[tuple[str, str]]] = {
    "data": [("5a", "sources of data"), ("6a", "setting and centres"), ("7", "data preparation"),
             ("11", "handling of missing data"), ("20b", "participant characteristics"),
             ("21", "participants and outcome events in each analysis")],
    "intended_use": [("3b", "target population, place in the care pathway, intended users"),
                     ("15", "model output and how it is meant to be used")],
    "model": [("12c", "type of model and model-building steps"), ("13", "handling of class imbalance")],
    "discrimination": [("12e", "performance measures"), ("23a", "performance estimates with confidence intervals")],
    "calibration": [("12e", "calibration measures and plot"), ("23a", "calibration with confidence intervals")],
    "decision": [("12e", "clinical utility: net benefit and decision curve")],
    "subgroups": [("14", "approaches to model fairness"), ("23a", "performance in key subgroups")],
    "robustness": [("26", "limitations: missing data, measurement error and their effect")],
    "uncertainty": [("12e", "uncertainty measures (conformal sets, selective prediction)"),
                    ("15", "model output: prediction sets and abstention")],
    "transfer": [("12d", "heterogeneity across clusters (hospitals)"), ("16", "differences between development and evaluation data"),
                 ("23b", "heterogeneity of performance across clusters")],
}
"""Card section -> TRIPOD+AI items (number, what it asks) the section evidences."""

DISCRIMINATION = {"binary": ["auroc", "auprc", "brier"], "regression": ["mae", "rmse", "nll"],
                  "effect": ["pehe", "ate_error"]}
CALIBRATION = {"binary": ["ece", "ece_mass", "cal_intercept", "cal_slope", "true_risk_mae", "true_risk_ece"],
               "regression": ["coverage_90", "truth_mae"], "effect": []}
DECISION = {"binary": ["net_benefit"], "regression": [], "effect": []}
HEADLINE = {k: DISCRIMINATION[k] + CALIBRATION[k] + DECISION[k] for k in DISCRIMINATION}
"""Metrics of a card's sections; the headline (all three) is also shown for the transfer tasks."""
ROBUSTNESS = {"binary": ["auroc", "ece"], "regression": ["mae", "coverage_90"], "effect": ["pehe"]}
UNCERTAINTY = {"binary": ["conformal_coverage", "conformal_set_size", "aurc"], "regression": ["conformal_coverage", "width_90"],
               "effect": []}


def _mean_rows(frame, by: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    agg = frame.groupby(by, sort=False)[["value", "ci_low", "ci_high"]].mean().reset_index()
    return [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
            for row in agg.to_dict("records")]


def _intended_use(task: str, kind: str, hourly: bool) -> str:
    when = "every hour of the stay" if hourly else "once per stay, after the observation window"
    what = {"binary": "the probability of the outcome", "regression": "the expected value with a predictive "
            "interval", "effect": "the individual treatment effect (risk difference)"}[kind]
    return (f"Research benchmark only (not for clinical use): adult ICU stays; the model outputs {what} "
            f"{when}, from routinely charted vitals and labs and static demographics ({task}).")


def build_cards(records, artifacts) -> list[dict[str, Any]]:
    """One card per (within-site task, method): metrics with CIs (mean over seeds), calibration, subgroup
    table, robustness curves, uncertainty and the same method's results on the transfer tasks of the
    same endpoint. ``records``/``artifacts`` are the store's frames for one benchmark."""
    cards = []
    arts = artifacts[artifacts["name"] == "card"]
    if arts.empty:
        return cards
    for (task, method), group in arts.groupby(["task", "method"], sort=False):
        parts = [v for v in group.sort_values("seed")["value"]]
        first = parts[0]
        if first.get("transfer"):
            continue
        kind = first["kind"]
        rec = records[(records["task"] == task) & (records["method"] == method)]
        clean = rec[rec["perturbation"] == "none"]
        plain = clean[~clean["metric"].str.contains(r"\[", regex=True)]
        sub = clean[clean["metric"].str.contains(r"\[", regex=True)]

        def rows(metrics: list[str], plain=plain) -> list[dict[str, Any]]:
            return _mean_rows(plain[plain["metric"].isin(metrics)], ["metric"])

        base = task.split("→")[0]
        transfer_rec = records[(records["method"] == method) & records["task"].str.startswith(base + "→")
                               & (records["perturbation"] == "none")]
        card = {
            "task": task, "method": method, "kind": kind, "seeds": [int(s) for s in sorted(group["seed"])],
            "intended_use": _intended_use(task, kind, first["hourly"]),
            "data": first["data"], "variables": first["variables"], "synthetic": first["synthetic"],
            "model": first["model"],
            "discrimination": rows(DISCRIMINATION[kind]),
            "calibration": {"metrics": rows(CALIBRATION[kind]),
                            **{k: first[k] for k in ("curve", "true_risk_curve") if k in first}},
            "decision": {"metrics": rows(DECISION[kind]), **({"curve": first["decision"]} if "decision" in first else {})},
            "subgroups": _mean_rows(sub, ["metric"]),
            "robustness": _mean_rows(rec[rec["metric"].isin(ROBUSTNESS[kind])], ["metric", "perturbation", "severity"]),
            "uncertainty": {"metrics": _mean_rows(plain[plain["metric"].isin(UNCERTAINTY[kind])], ["metric"]),
                            **{k: first[k] for k in ("selective", "conformal") if k in first}},
            "transfer": _mean_rows(transfer_rec[transfer_rec["metric"].isin(HEADLINE[kind])], ["task", "metric"]),
            "tripod_ai": {section: [{"item": i, "asks": a} for i, a in items] for section, items in TRIPOD_AI.items()},
        }
        cards.append(card)
    return cards


def all_cards(records, artifacts) -> list[dict[str, Any]]:
    """Every quality card in the store's ``records`` and ``artifacts`` frames, each with its ``benchmark``."""
    out = []
    for bench in dict.fromkeys(artifacts.loc[artifacts["name"] == "card", "benchmark"].astype(str)):
        out += [{"benchmark": bench, **card} for card in build_cards(records[records["benchmark"] == bench],
                                                                      artifacts[artifacts["benchmark"] == bench])]
    return out


def write_cards(cards: list[dict[str, Any]], path) -> Path:
    """Write cards as one JSON document (NaN becomes null); return the path."""
    import json
    import math

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            return clean(x.item())
        return x

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cards": clean(cards)}, indent=1, allow_nan=False), encoding="utf-8")
    return path
