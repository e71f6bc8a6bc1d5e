"""Conformal calibration, subgroup records and the measured parts of the ICU quality card.

A cell stores its card's measured parts as the artifact ``card`` (format: docs/architecture.md);
:func:`trustbench.report.cards.build_cards` joins them with the records into one card per model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.domains.icu import evaluation as E

__all__ = ["Conformal", "fit_conformal", "metric_defs", "subgroup_rows", "card_artifact"]

MIN_GROUP = 20
"""Smallest subgroup (rows) reported; smaller ones are pooled out of the table."""


# --------------------------------------------------------------------------------------------
# conformal
# --------------------------------------------------------------------------------------------


@dataclass
class Conformal:
    """Split-conformal sets (binary: LAC score) or intervals (regression: |y - mean| / std), fitted on
    the calibration stays, plus group-conditional (Mondrian) sets per grouping."""

    kind: str
    split: Any = None
    q: float = float("nan")
    mondrian: dict[str, Any] = field(default_factory=dict)

    def apply(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.kind == "binary":
            return {"sets": self.split.predict_sets(arrays["p"])}
        return {"clo": arrays["mean"] - self.q * arrays["std"], "chi": arrays["mean"] + self.q * arrays["std"]}

    def mondrian_sets(self, name: str, p: np.ndarray, groups: np.ndarray) -> np.ndarray | None:
        model = self.mondrian.get(name)
        return None if model is None else model.predict_sets(p, groups)


def fit_conformal(method, cal, kind: str) -> Conformal:
    """Fit conformal predictors on the calibration cohort's predictions (Vovk et al. 2005)."""
    from trustbench.domains.icu.cohort import subgroups
    from trustbench.domains.icu.protocol import predict_arrays
    from trustbench.uq.classification import MondrianConformalClassifier, SplitConformalClassifier
    from trustbench.uq.conformal import conformal_quantile

    arrays = predict_arrays(method, cal, kind)
    y = cal.y
    if kind == "binary":
        out = Conformal(kind, split=SplitConformalClassifier(alpha=E.ALPHA).fit(arrays["p"], y))
        for name, groups in subgroups(cal).items():
            out.mondrian[name] = MondrianConformalClassifier(alpha=E.ALPHA).fit(arrays["p"], y, groups)
        return out
    scores = np.abs(y - arrays["mean"]) / arrays["std"]  # normalised residuals (Lei et al. 2018)
    return Conformal(kind, q=conformal_quantile(scores, 1 - E.ALPHA))


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


def metric_defs(kind: str, arrays: dict[str, np.ndarray]):
    """The metric definitions that apply to ``kind`` and the arrays present (truth only on synthetic data)."""
    if kind == "effect":
        return E.EFFECT
    if kind == "binary":
        return E.BINARY + (E.TRUE_RISK if "p_true" in arrays else ())
    return E.REGRESSION + (E.TRUE_MEAN if "mu_true" in arrays else ())


def _take(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in arrays.items()}


def subgroup_rows(defs, arrays, cohort, groups: dict[str, np.ndarray], conformal: Conformal | None, *,
                  n_boot: int, seed: int) -> list[dict[str, Any]]:
    """Per-subgroup records ``metric[group=value]`` plus ``auroc_gap[group]``, ``eq_odds_diff[group]`` and
    ``mondrian_coverage[group=value]`` (binary) on the clean test cohort."""
    from trustbench.metrics import classification as C

    clusters = cohort.row_stays
    sub_defs = [d for d in defs if d.name in E.SUBGROUP]
    rows: list[dict[str, Any]] = []
    for name, g in groups.items():
        values = [v for v in np.unique(g) if (g == v).sum() >= MIN_GROUP and v != "unknown"]
        if len(values) < 2:
            continue
        codes = np.searchsorted(np.array(values), g)
        known = np.isin(g, values)
        for v in values:
            m = g == v
            usable = [d for d in sub_defs if not (d.name == "auroc" and np.unique(arrays["y"][m]).size < 2)]
            rows += E.score_rows(usable, _take(arrays, m), clusters[m], n_boot=n_boot, seed=seed, suffix=f"[{name}={v}]")
        if "p" not in arrays:
            continue
        y, p, c = arrays["y"][known], arrays["p"][known], codes[known]
        treat = (p >= E.DECISION_THRESHOLD).astype(float)
        for metric, fn, args in (("auroc_gap", C.group_gap(C.auroc), (y, p, c)),
                                 ("eq_odds_diff", C.equalized_odds_difference, (y, treat, c))):
            ci = C.cluster_bootstrap_ci(fn, *args, clusters=clusters[known], n_boot=n_boot, seed=seed)
            rows.append({"metric": f"{metric}[{name}]", "value": float(ci.estimate), "ci_low": float(ci.low),
                         "ci_high": float(ci.high), "n": int(known.sum())})
        sets = conformal.mondrian_sets(name, arrays["p"], g) if conformal is not None else None
        if sets is not None:
            for v in values:
                m = g == v
                ci = C.cluster_bootstrap_ci(C.set_coverage, arrays["y"][m], sets[m], clusters=clusters[m],
                                            n_boot=n_boot, seed=seed)
                rows.append({"metric": f"mondrian_coverage[{name}={v}]", "value": float(ci.estimate),
                             "ci_low": float(ci.low), "ci_high": float(ci.high), "n": int(m.sum())})
    return rows


# --------------------------------------------------------------------------------------------
# the card artifact of one cell
# --------------------------------------------------------------------------------------------


def _describe(cohort) -> dict[str, Any]:
    y = cohort.y
    out = {"stays": int(len(np.unique(cohort.row_stays))), "rows": int(len(y)), "site": cohort.site}
    if cohort.kind == "binary":
        out["positives"] = int(y.sum())
        out["prevalence"] = float(y.mean())
    else:
        out["mean"] = float(y.mean())
        out["sd"] = float(y.std())
    values = cohort.dyn[cohort.variables].to_numpy()
    out["missing"] = float(np.isnan(values).mean()) if values.size else float("nan")
    if "age" in cohort.sta:
        out["age_median"] = float(np.nanmedian(cohort.sta["age"].to_numpy(dtype=float)))
    if "sex" in cohort.sta:
        out["female"] = float((cohort.sta["sex"].astype(str) == "Female").mean())
    return out


def _thin(x: np.ndarray, k: int = 60) -> list[float]:
    x = np.asarray(x, dtype=float)
    idx = np.unique(np.linspace(0, len(x) - 1, min(k, len(x))).round().astype(int)) if len(x) else np.array([], int)
    return [float(v) for v in x[idx]]


def card_artifact(task, split, kind: str, arrays: dict[str, np.ndarray], groups, conformal, method) -> dict[str, Any]:
    """The measured parts of a model's card for one (task, seed): data, calibration and decision
    curves, selective prediction, conformal settings and the model's configuration."""
    from trustbench.metrics import classification as C

    test = split.test
    card: dict[str, Any] = {
        "task": getattr(task, "label", task.name), "kind": kind, "hourly": bool(test.hourly),
        "transfer": bool(getattr(task, "transfer", False)), "synthetic": test.truth is not None,
        "variables": len(split.train.variables),
        "data": {"train": _describe(split.train), "calibration": _describe(split.cal), "test": _describe(test)},
        "model": {"class": type(method).__name__, "config": {k: repr(v) for k, v in vars(method).items()
                                                              if not k.endswith("_") and not k.startswith("_")}},
        "groups": sorted(groups),
    }
    if kind == "binary":
        y, p = arrays["y"], arrays["p"]
        curve = C.calibration_curve(y, p, n_bins=10, strategy="quantile")
        card["curve"] = {k: [float(v) for v in np.asarray(curve[k])] for k in ("prob_pred", "prob_true", "count")}
        if "p_true" in arrays:
            order = np.argsort(p, kind="stable")
            bins = np.array_split(order, 10)
            card["true_risk_curve"] = {"prob_pred": [float(p[b].mean()) for b in bins if len(b)],
                                        "true_risk": [float(arrays["p_true"][b].mean()) for b in bins if len(b)]}
        thresholds = np.round(np.arange(0.02, 0.51, 0.02), 2)
        dc = C.decision_curve(y, p, thresholds)
        card["decision"] = {"thresholds": thresholds.tolist(),
                            **{k: [float(v) for v in np.asarray(dc[k])] for k in ("model", "treat_all", "treat_none")}}
        rc = C.risk_coverage_curve(y, p)
        card["selective"] = {"coverage": _thin(rc["coverage"]), "risk": _thin(rc["risk"])}
        card["conformal"] = {"alpha": E.ALPHA, "score": "LAC (1 - p of the true class)",
                             "mondrian_groups": sorted(conformal.mondrian) if conformal else []}
    elif kind == "regression":
        card["conformal"] = {"alpha": E.ALPHA, "q": conformal.q if conformal else None,
                             "score": "|y - mean| / std"}
    return card
