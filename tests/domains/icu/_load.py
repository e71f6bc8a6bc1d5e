"""Test helper: read a YAIB demo cohort from parquet into a ``Cohort`` (no dependency on ``yaib.py``).

Converts ``stay_id`` to int64, ``time`` (timedelta) to float hours and boolean/int labels to float.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trustbench.domains.icu.cohort import Cohort

__all__ = ["DATA", "load", "split"]

_HERE = Path(__file__).resolve()
_CANDIDATES = [
    _HERE.parents[3] / "src" / "trustbench" / "domains" / "icu" / "data" / "yaib-demo",
    _HERE.parents[4] / "shared" / "data" / "yaib-demo",
]
DATA = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])


def _convert(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["stay_id"] = df["stay_id"].astype(np.int64)
    if "time" in df.columns:
        t = df["time"]
        df["time"] = (t / pd.Timedelta(hours=1)).astype(float) if t.dtype.kind == "m" else t.astype(float)
    return df


def load(task: str, source: str) -> Cohort:
    """The demo cohort ``task``/``source`` (e.g. ``"mortality24"``, ``"eicu_demo"``)."""
    folder = DATA / task / source
    dyn = _convert(pd.read_parquet(folder / "dyn.parquet"))
    sta = _convert(pd.read_parquet(folder / "sta.parquet"))
    outc = _convert(pd.read_parquet(folder / "outc.parquet"))
    outc["label"] = outc["label"].astype(float)
    value_cols = [c for c in dyn.columns if c not in ("stay_id", "time")]
    dyn[value_cols] = dyn[value_cols].astype(float)
    keys = ["stay_id", "time"]
    dyn = dyn.sort_values(keys).reset_index(drop=True)
    outc = outc.sort_values([k for k in keys if k in outc.columns]).reset_index(drop=True)
    sta = sta.sort_values("stay_id").reset_index(drop=True)
    return Cohort(dyn=dyn, sta=sta, outc=outc, name=f"{task}/{source}", site=source)


def split(cohort: Cohort, frac_test: float = 0.3, seed: int = 0) -> tuple[Cohort, Cohort]:
    """Stay-level random split: (train, test)."""
    rng = np.random.default_rng(seed)
    stays = cohort.stays
    test = rng.choice(stays, size=int(round(frac_test * len(stays))), replace=False)
    return cohort.subset(np.setdiff1d(stays, test)), cohort.subset(test)
