"""An ICU cohort in memory, in the YAIB format (van de Water et al., ICLR 2024).

Three tables keyed by ``stay_id``:

- ``dyn``: hourly dynamic variables, columns ``stay_id`` (int64), ``time`` (float hours since ICU
  admission, >= 0), then one float64 column per variable (NaN = not measured that hour);
- ``sta``: one row per stay, ``stay_id`` then static columns (``age`` in years, ``sex`` as
  ``"Male"``/``"Female"``, ``height`` cm, ``weight`` kg, and for synthetic cohorts ``site`` and
  ``treatment``);
- ``outc``: the labels, ``stay_id``, ``label`` (once per stay) or ``stay_id``, ``time``, ``label``
  (hourly, one prediction per stay-hour).

A synthetic cohort also carries ``truth``: a frame aligned row by row with ``outc`` holding the
known ``p_true`` (true outcome probability, binary tasks) or ``mu_true`` (true conditional mean,
regression) and, for the treatment task, ``p0``, ``p1`` and ``ite = p1 - p0`` (risk difference).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["Cohort", "CohortSplit", "split_stays", "subgroups", "KEYS", "STATIC_NUMERIC", "AGE_BANDS"]

KEYS = ("stay_id", "time")
STATIC_NUMERIC = ("age", "height", "weight")


def label_kind(y: np.ndarray) -> str:
    """``"binary"`` when the labels are 0/1 (or bool), else ``"regression"``."""
    if y.dtype == bool:
        return "binary"
    values = np.unique(y[~np.isnan(y.astype(float))])
    return "binary" if np.isin(values, (0, 1)).all() else "regression"


@dataclass(frozen=True)
class Cohort:
    """A YAIB-format cohort: ``dyn``, ``sta`` and ``outc`` pandas frames, plus optional ``truth``.

    Rows of ``outc`` are sorted by (``stay_id``, ``time``); ``dyn`` likewise; ``sta`` by
    ``stay_id``. Every method predicts one value per row of ``outc``.
    """

    dyn: Any
    sta: Any
    outc: Any
    name: str = ""
    site: str = ""
    truth: Any = None
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def variables(self) -> list[str]:
        """The dynamic variables (every ``dyn`` column but the keys)."""
        return [c for c in self.dyn.columns if c not in KEYS]

    @property
    def hourly(self) -> bool:
        """True when there is one label per stay-hour (``outc`` has a ``time`` column)."""
        return "time" in self.outc.columns

    @property
    def kind(self) -> str:
        """``"binary"`` when the labels are 0/1 (or bool), else ``"regression"``."""
        return label_kind(self.outc["label"].to_numpy())

    @property
    def stays(self) -> np.ndarray:
        return self.sta["stay_id"].to_numpy()

    @property
    def y(self) -> np.ndarray:
        """Labels as float64, one per ``outc`` row."""
        return self.outc["label"].to_numpy(dtype=float)

    @property
    def row_stays(self) -> np.ndarray:
        """The stay of each ``outc`` row (the cluster for bootstrap resampling)."""
        return self.outc["stay_id"].to_numpy()

    def __len__(self) -> int:
        return len(self.sta)

    def subset(self, stay_ids) -> "Cohort":
        """The cohort restricted to ``stay_ids`` (order of the original kept)."""
        keep = np.asarray(stay_ids)
        pick = lambda df: None if df is None else df[df["stay_id"].isin(keep)].reset_index(drop=True)  # noqa: E731
        truth = None
        if self.truth is not None:
            mask = self.outc["stay_id"].isin(keep).to_numpy()
            truth = self.truth[mask].reset_index(drop=True)
        return replace(self, dyn=pick(self.dyn), sta=pick(self.sta), outc=pick(self.outc), truth=truth)

    def with_dyn(self, dyn) -> "Cohort":
        """The same cohort with other dynamic data (a perturbation's output)."""
        return replace(self, dyn=dyn)


@dataclass(frozen=True)
class CohortSplit:
    """Training, calibration and test cohorts of one task and seed (disjoint stays; the test cohort
    may come from another site)."""

    train: Cohort
    cal: Cohort
    test: Cohort


def split_stays(cohort: Cohort, fractions, seed: int) -> list[Cohort]:
    """Split ``cohort`` by stay into parts of the given fractions (the last takes the rest),
    stratified by whether a stay has any positive label (binary) so rare outcomes reach every part."""
    rng = np.random.default_rng(seed)
    stays = np.unique(cohort.row_stays)
    if cohort.kind == "binary":
        pos = np.unique(cohort.row_stays[cohort.y > 0])
        strata = [np.setdiff1d(stays, pos), pos]
    else:
        strata = [stays]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for stratum in strata:
        stratum = rng.permutation(stratum)
        cuts = np.round(np.cumsum(fractions) * len(stratum)).astype(int)
        for i, chunk in enumerate(np.split(stratum, cuts)):
            parts[i].append(chunk)
    return [cohort.subset(np.concatenate(p)) for p in parts]


AGE_BANDS = (18.0, 45.0, 65.0, 80.0)


def subgroups(cohort: Cohort) -> dict[str, np.ndarray]:
    """Group labels per ``outc`` row: ``sex``, ``age_band`` (18-44, 45-64, 65-79, 80+) and, when the
    cohort pools several sites, ``site``. Missing values form their own group ``"unknown"``."""
    import pandas as pd

    sta = cohort.sta.set_index("stay_id")
    rows = pd.Index(sta.index).get_indexer(cohort.row_stays)
    out: dict[str, np.ndarray] = {}
    if "sex" in sta.columns:
        out["sex"] = sta["sex"].astype(object).where(sta["sex"].notna(), "unknown").astype(str).to_numpy()[rows]
    if "age" in sta.columns:
        age = sta["age"].to_numpy(dtype=float)
        edges = list(AGE_BANDS[1:])
        labels = np.array(["18-44", "45-64", "65-79", "80+"], dtype=object)
        band = labels[np.searchsorted(edges, np.nan_to_num(age, nan=0.0), side="right")]
        band[np.isnan(age)] = "unknown"
        out["age_band"] = band.astype(str)[rows]
    if "site" in sta.columns and sta["site"].nunique() > 1:
        out["site"] = sta["site"].astype(str).to_numpy()[rows]
    return out
