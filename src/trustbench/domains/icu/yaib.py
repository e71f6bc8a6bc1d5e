"""Read a YAIB-format cohort folder (``dyn.parquet``, ``sta.parquet``, ``outc.parquet``) into a :class:`Cohort`.

YAIB-cohorts (van de Water et al., "Yet Another ICU Benchmark", ICLR 2024) writes this format from
full MIMIC-III/IV, eICU, HiRID and AUMCdb through ricu's harmonised concepts, so a user with
credentialed access points trustbench at their own folder. Every check runs before any training and
names the file, the column and what was expected.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from trustbench.domains.icu.cohort import Cohort

__all__ = ["load_yaib", "cohort_folder", "CohortError", "VARIABLES", "DEMO_DIR", "DEMO_TASKS", "DEMO_SOURCES", "demo_path"]

DEMO_DIR = Path(__file__).parent / "data" / "yaib-demo"
DEMO_TASKS = ("mortality24", "aki", "kidney_function", "los")
DEMO_SOURCES = ("mimic_demo", "eicu_demo")

VARIABLES: dict[str, str] = {
    # ricu concept -> unit (the concepts YAIB's cohorts carry)
    "alb": "g/dL", "alp": "IU/L", "alt": "IU/L", "ast": "IU/L", "be": "mmol/L", "bicar": "mmol/L",
    "bili": "mg/dL", "bili_dir": "mg/dL", "bnd": "%", "bun": "mg/dL", "ca": "mg/dL", "cai": "mmol/L",
    "ck": "IU/L", "ckmb": "ng/mL", "cl": "mmol/L", "crea": "mg/dL", "crp": "mg/L", "dbp": "mmHg",
    "fgn": "mg/dL", "fio2": "%", "glu": "mg/dL", "hgb": "g/dL", "hr": "bpm", "inr_pt": "",
    "k": "mmol/L", "lact": "mmol/L", "lymph": "%", "map": "mmHg", "mch": "pg", "mchc": "%",
    "mcv": "fL", "methb": "%", "mg": "mg/dL", "na": "mmol/L", "neut": "%", "o2sat": "%",
    "pco2": "mmHg", "ph": "", "phos": "mg/dL", "plt": "1000/uL", "po2": "mmHg", "ptt": "s",
    "resp": "insp/min", "sbp": "mmHg", "temp": "C", "tnt": "ng/mL", "urine": "mL", "wbc": "1000/uL",
}


class CohortError(ValueError):
    """A cohort folder or frame that does not follow the YAIB format."""


def demo_path(task: str, source: str) -> Path:
    """The folder of a shipped demo cohort (MIMIC-III / eICU demo, ODbL; see data/NOTICE.md)."""
    from trustbench.validation import check_choice

    check_choice(task, "cohort", DEMO_TASKS)
    check_choice(source, "source", DEMO_SOURCES)
    return DEMO_DIR / task / source


def _read(folder: Path, table: str):
    import pandas as pd

    path = folder / f"{table}.parquet"
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds
        raise CohortError(f"{path}: not a readable parquet file ({err}).") from None


def _hours(frame, path: Path):
    """The ``time`` column as float hours (timedelta, or numbers already in hours)."""
    import pandas as pd

    time = frame["time"]
    if pd.api.types.is_timedelta64_dtype(time):
        return time.dt.total_seconds().to_numpy() / 3600.0
    if pd.api.types.is_numeric_dtype(time) and not pd.api.types.is_bool_dtype(time):
        return time.to_numpy(dtype=float)
    raise CohortError(f"{path}: column 'time' must be a timedelta or a number of hours; got dtype {time.dtype}.")


def _check_keys(frame, path: Path, keys: tuple[str, ...]) -> None:
    import pandas as pd

    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise CohortError(f"{path}: missing column(s) {missing}; found {list(frame.columns)[:12]}.")
    sid = frame["stay_id"]
    if not pd.api.types.is_integer_dtype(sid):
        raise CohortError(f"{path}: column 'stay_id' must hold integers; got dtype {sid.dtype}.")
    if frame.empty:
        raise CohortError(f"{path}: has no rows.")


def _check_times(frame, hours: np.ndarray, path: Path) -> None:
    if not np.isfinite(hours).all():
        raise CohortError(f"{path}: column 'time' has {int((~np.isfinite(hours)).sum())} missing value(s).")
    if (hours < 0).any():
        bad = frame.loc[hours < 0, "stay_id"].iloc[0]
        raise CohortError(f"{path}: column 'time' has {int((hours < 0).sum())} negative value(s) (first at stay_id {bad}); "
                          "times are hours since ICU admission, >= 0.")
    dup = frame.assign(time=hours).duplicated(["stay_id", "time"])
    if dup.any():
        row = frame[dup.to_numpy()].iloc[0]
        raise CohortError(f"{path}: {int(dup.sum())} duplicate (stay_id, time) row(s), first stay_id {row['stay_id']} "
                          f"at {row['time']}; expected one row per stay and hour.")


def check_cohort_frames(dyn, sta, outc, *, folder: Path | str = "<frames>", extra_variables=(),
                        drop_empty: bool = False) -> Cohort:
    """Validate YAIB frames and return a sorted :class:`Cohort` (time in float hours, stay_id int64).

    A variable missing in every row is an error, or with ``drop_empty=True`` is dropped with a
    warning (the MIMIC-III demo never measures CRP); dropped names go to ``cohort.meta["dropped"]``.
    """
    import pandas as pd

    folder = Path(folder)
    pdyn, psta, poutc = folder / "dyn.parquet", folder / "sta.parquet", folder / "outc.parquet"
    _check_keys(dyn, pdyn, ("stay_id", "time"))
    _check_keys(sta, psta, ("stay_id",))
    _check_keys(outc, poutc, ("stay_id", "label"))

    variables = [c for c in dyn.columns if c not in ("stay_id", "time")]
    if not variables:
        raise CohortError(f"{pdyn}: no variable columns besides stay_id and time.")
    known = set(VARIABLES) | set(extra_variables)
    unknown = [v for v in variables if v not in known]
    if unknown:
        raise CohortError(f"{pdyn}: unknown variable(s) {unknown}; known are ricu's concepts {sorted(VARIABLES)}. "
                          "Pass extra_variables=[...] (task parameter) to accept your own.")
    for v in variables:
        if not pd.api.types.is_numeric_dtype(dyn[v]) or pd.api.types.is_bool_dtype(dyn[v]):
            raise CohortError(f"{pdyn}: column {v!r} must be numeric; got dtype {dyn[v].dtype}.")
    empty = [v for v in variables if dyn[v].isna().all()]
    if empty and not drop_empty:
        raise CohortError(f"{pdyn}: variable(s) {empty} are missing in every row; drop them, or pass drop_empty=True.")
    if empty:
        logging.getLogger("trustbench").warning("%s: dropping variable(s) %s, missing in every row.", pdyn, empty)
        dyn = dyn.drop(columns=empty)
        variables = [v for v in variables if v not in empty]

    hours = _hours(dyn, pdyn)
    _check_times(dyn, hours, pdyn)
    dup = sta["stay_id"].duplicated()
    if dup.any():
        raise CohortError(f"{psta}: {int(dup.sum())} duplicate stay(s), first stay_id {sta.loc[dup, 'stay_id'].iloc[0]}; "
                          "expected one row per stay.")
    for col in ("age", "height", "weight"):
        if col in sta.columns and not pd.api.types.is_numeric_dtype(sta[col]):
            raise CohortError(f"{psta}: column {col!r} must be numeric; got dtype {sta[col].dtype}.")

    label = outc["label"]
    if not (pd.api.types.is_numeric_dtype(label) or pd.api.types.is_bool_dtype(label)):
        raise CohortError(f"{poutc}: column 'label' must be numeric or boolean; got dtype {label.dtype}.")
    if label.isna().any():
        raise CohortError(f"{poutc}: column 'label' has {int(label.isna().sum())} missing value(s).")
    outc = outc.copy()
    outc["label"] = label.astype(float)
    if "time" in outc.columns:
        ohours = _hours(outc, poutc)
        _check_times(outc, ohours, poutc)
        outc["time"] = ohours
    elif outc["stay_id"].duplicated().any():
        raise CohortError(f"{poutc}: duplicate stay_id without a 'time' column; a once-per-stay label needs one row per stay.")
    if outc["label"].nunique() < 2:
        raise CohortError(f"{poutc}: column 'label' has a single value ({outc['label'].iloc[0]:g}); "
                          "a label needs two classes (or several values for regression).")
    orphans = np.setdiff1d(outc["stay_id"].unique(), sta["stay_id"].to_numpy())
    if orphans.size:
        raise CohortError(f"{poutc}: {orphans.size} stay(s) have labels but no row in {psta.name} (first {orphans[0]}).")
    nodyn = np.setdiff1d(outc["stay_id"].unique(), dyn["stay_id"].unique())
    if nodyn.size:
        raise CohortError(f"{poutc}: {nodyn.size} stay(s) have labels but no rows in {pdyn.name} (first {nodyn[0]}).")

    dyn = dyn.assign(stay_id=dyn["stay_id"].astype("int64"), time=hours)
    dyn = dyn.astype({v: "float64" for v in variables})
    keep = np.unique(outc["stay_id"].to_numpy())
    sort = lambda df, keys: df[df["stay_id"].isin(keep)].sort_values(list(keys), kind="stable").reset_index(drop=True)  # noqa: E731
    outc = outc.assign(stay_id=outc["stay_id"].astype("int64"))
    sta = sta.assign(stay_id=sta["stay_id"].astype("int64"))
    okeys = ("stay_id", "time") if "time" in outc.columns else ("stay_id",)
    return Cohort(dyn=sort(dyn, ("stay_id", "time")), sta=sort(sta, ("stay_id",)), outc=sort(outc, okeys),
                  name=str(folder), site=folder.name, meta={"dropped": empty})


def cohort_folder(path) -> Path:
    """``path`` as a folder holding ``dyn.parquet``, ``sta.parquet`` and ``outc.parquet``, else
    FileNotFoundError naming what is missing."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"path {str(path)!r} is not a folder; expected a YAIB cohort folder with "
                                "dyn.parquet, sta.parquet and outc.parquet.")
    for table in ("dyn", "sta", "outc"):
        if not (folder / f"{table}.parquet").is_file():
            raise FileNotFoundError(f"{folder / table}.parquet: missing; a YAIB cohort folder holds dyn.parquet, "
                                    "sta.parquet and outc.parquet.")
    return folder


def load_yaib(path: str | Path, *, extra_variables: Any = (), drop_empty: bool = False) -> Cohort:
    """Load and validate a YAIB cohort folder.

    Parameters
    ----------
    path : folder with ``dyn.parquet``, ``sta.parquet`` and ``outc.parquet``.
    extra_variables : dynamic variable names accepted besides ricu's concepts (:data:`VARIABLES`).
    drop_empty : drop variables missing in every row (with a warning) instead of raising.

    Returns
    -------
    Cohort
        ``name`` = "<task>/<source>" from the folder names, ``site`` = the folder name.
        Stays without labels are dropped; the task kind (once per stay or hourly, binary or
        regression) follows from ``outc.parquet``.
    """
    folder = cohort_folder(path)
    dyn, sta, outc = (_read(folder, t) for t in ("dyn", "sta", "outc"))
    cohort = check_cohort_frames(dyn, sta, outc, folder=folder, extra_variables=extra_variables, drop_empty=drop_empty)
    from dataclasses import replace

    return replace(cohort, name=f"{folder.parent.name}/{folder.name}", site=folder.name)
