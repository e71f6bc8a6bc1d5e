"""Read and write the Medical Event Data Standard (MEDS) so a YAIB cohort moves to and from the MEDS ecosystem.

MEDS (Arnrich et al., "Medical Event Data Standard (MEDS): Facilitating Machine Learning for
Health", ICLR 2024 TS4H workshop; https://github.com/Medical-Event-Data-Standard/meds, schemas of
the ``meds`` package 0.4) stores one row per measurement ("event"): ``subject_id`` (int64),
``time`` (timestamp[us], null for static facts), ``code`` (string) and ``numeric_value``
(float32), and labels as ``subject_id``, ``prediction_time`` and one of ``boolean_value`` /
``float_value``. A YAIB cohort (:class:`~trustbench.domains.icu.cohort.Cohort`) is a wide hourly
grid; this module melts it into events and pivots events back, so that
``read_meds(write_meds(cohort, path))`` reproduces ``dyn``, ``sta`` and ``outc`` exactly
(values, row order, column order and dtypes).

Code scheme (documented in ``metadata/codes.parquet``; every code has a description)
-------------------------------------------------------------------------------------
=========================  ============================  ==============================================
code                       time                          numeric_value
=========================  ============================  ==============================================
``ICU//HOUR``              anchor + hour of a dyn row    null. One per ``dyn`` row, so all-NaN rows
                                                         (hours with no measurement) survive.
``DYN//<var>``             anchor + hour                 the value (one event per non-NaN cell)
``STATIC//<col>``          null                          a numeric static column (``age``, ``height``,
                                                         ``weight``, ``treatment`` ...), NaN → no event
``<COL>//<value>``         null                          null; a text static column, e.g.
                                                         ``SEX//Male``, ``SITE//mimic``
=========================  ============================  ==============================================

Every stay shares one ``anchor`` (default 2000-01-01T00:00): hour ``h`` since ICU admission is the
timestamp ``anchor + h`` hours, rounded to the microsecond (exact for whole hours, halves,
quarters, ...; a warning is raised if rounding changes a time). Labels: an hourly task has
``prediction_time = anchor + time``; a once-per-stay task has ``prediction_time = anchor +
(last dyn hour of the stay + 1 h)``, the end of the observation window (``anchor`` for a stay
without dyn rows). Binary labels go to ``boolean_value``, others to ``float_value``.

Exactness beyond float32
------------------------
MEDS values are float32, cohort values float64. When a value does not survive float32, the data
files carry an extension column ``numeric_value_f64`` (float64; listed in ``dataset.json``'s
``other_extension_columns``, extra data columns are allowed by the standard; null where float32
is exact), and exact regression
labels are kept in ``metadata/trustbench/labels.parquet`` (the label schema forbids extra columns).
Column order, dtypes, the anchor, the task kind, ``name``/``site`` and ``truth`` (synthetic
cohorts) are stored under ``metadata/trustbench/``. Other MEDS tools ignore these files; without
them :func:`read_meds` still reads the code scheme above (float32 values, hour 0 = a subject's
first timed event, variables in ``codes.parquet`` order).

Layout written (MEDS README, "Organization on disk")::

    <root>/data/0.parquet                  (or data/<split>/0.parquet, one shard per split)
    <root>/metadata/dataset.json
    <root>/metadata/codes.parquet
    <root>/metadata/subject_splits.parquet (when ``split`` is given)
    <root>/labels/<task>.parquet
    <root>/metadata/trustbench/cohort.json, labels.parquet, truth.parquet   (trustbench extension)
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trustbench.domains.icu.cohort import KEYS, Cohort
from trustbench.validation import short_repr

__all__ = [
    "MedsTables",
    "cohort_to_meds",
    "meds_to_cohort",
    "write_meds",
    "read_meds",
    "GRID_CODE",
    "DYN_PREFIX",
    "STATIC_PREFIX",
    "F64_COLUMN",
]

GRID_CODE = "ICU//HOUR"
DYN_PREFIX = "DYN//"
STATIC_PREFIX = "STATIC//"
F64_COLUMN = "numeric_value_f64"
SEP = "//"
LAYOUT_FORMAT = "trustbench-meds/1"
_US_PER_HOUR = 3_600_000_000.0
_RESERVED = {"ICU", "DYN", "STATIC", "MEDS_BIRTH", "MEDS_DEATH"}


@dataclass
class MedsTables:
    """A MEDS dataset in memory (pandas frames that follow the ``meds`` pyarrow schemas).

    Parameters
    ----------
    data : events, ``subject_id`` int64, ``time`` datetime64[us] (NaT = static), ``code``
        (categorical or str), ``numeric_value`` float32 (NaN = null) and, when needed, the
        extension column ``numeric_value_f64`` (float64, the exact value).
    labels : ``subject_id``, ``prediction_time`` and ``boolean_value`` or ``float_value``.
    codes : ``code``, ``description``, ``parent_codes`` plus ``trustbench_role`` /
        ``trustbench_column`` / ``trustbench_value`` (what each code maps back to).
    subject_splits : ``subject_id``, ``split`` or None.
    dataset : the ``metadata/dataset.json`` content.
    layout : trustbench's ``cohort.json`` (anchor, column order and dtypes, hourly, task ...).
    label_values : exact float64 labels aligned with ``labels`` (``subject_id``,
        ``prediction_time``, ``label``) when float32 would round them, else None.
    truth : the cohort's ``truth`` frame (synthetic cohorts) or None.
    """

    data: Any
    labels: Any
    codes: Any
    subject_splits: Any = None
    dataset: dict = field(default_factory=dict)
    layout: dict = field(default_factory=dict)
    label_values: Any = None
    truth: Any = None


# ----------------------------------------------------------------------------------------------
# helpers


def _anchor_us(anchor: Any) -> int:
    import pandas as pd

    try:
        ts = pd.Timestamp(anchor)
    except (TypeError, ValueError) as err:
        raise ValueError(f"anchor must be a date/time such as '2000-01-01'; got {short_repr(anchor)} ({err}).") from None
    if ts is pd.NaT or ts.tzinfo is not None:
        raise ValueError(f"anchor must be a time-zone-naive date/time such as '2000-01-01'; got {short_repr(anchor)}.")
    return int(ts.to_datetime64().astype("datetime64[us]").astype(np.int64))


def _hours_to_us(hours: np.ndarray, what: str) -> np.ndarray:
    """Float hours -> int64 microseconds, rounded; warns when the rounding changes a time."""
    hours = np.asarray(hours, dtype=np.float64)
    if not np.isfinite(hours).all():
        raise ValueError(f"{what} has {int((~np.isfinite(hours)).sum())} missing or infinite time(s); times must be finite hours.")
    if hours.size and np.abs(hours).max() > 2.0e6:  # ~228 years: keeps int64 microseconds far from overflow
        raise ValueError(f"{what} has a time of {np.abs(hours).max():g} hours; times must be within ±2e6 hours.")
    us = np.rint(hours * _US_PER_HOUR).astype(np.int64)
    if not np.array_equal(us / _US_PER_HOUR, hours):
        bad = int((us / _US_PER_HOUR != hours).sum())
        warnings.warn(f"{what}: {bad} time(s) are not whole microseconds and were rounded; they will not "
                      "round-trip exactly.", stacklevel=3)
    return us


def _us_of(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Datetimes (pandas/numpy, any unit) -> (int64 microseconds, is-null mask)."""
    import pandas as pd

    arr = pd.to_datetime(pd.Series(values)).to_numpy()
    if arr.dtype.kind != "M":
        raise TypeError(f"expected datetimes; got dtype {arr.dtype}.")
    null = np.isnat(arr)
    us = arr.astype("datetime64[us]").view(np.int64).copy()
    us[null] = 0
    return us, null


def _us_to_datetime(us: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    out = np.asarray(us, dtype=np.int64).view("datetime64[us]").copy()
    if null is not None:
        out[null] = np.datetime64("NaT")
    return out


def _slug(text: str) -> str:
    parts = [p for p in re.split(r"[\\/]+", str(text)) if p][-2:]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts)).strip("._")


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _require(frame, columns, where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; found {list(frame.columns)[:12]}.")


def _restore(frame, columns: list[str] | None, dtypes: dict | None):
    """Reorder to ``columns`` (missing ones as NaN) and cast to the stored dtypes."""
    import pandas as pd

    if columns:
        for c in columns:
            if c not in frame.columns:
                frame[c] = np.nan
        frame = frame[list(columns)]
    for c, dt in (dtypes or {}).items():
        if c in frame.columns and str(frame[c].dtype) != dt:
            if dt == "bool" and frame[c].dtype == object:
                frame[c] = frame[c].map({"True": True, "False": False, True: True, False: False})
            try:
                frame[c] = frame[c].astype(dt)
            except (TypeError, ValueError) as err:
                warnings.warn(f"column {c!r}: could not restore dtype {dt} ({err}); kept {frame[c].dtype}.", stacklevel=3)
    return pd.DataFrame(frame).reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# cohort -> MEDS


def cohort_to_meds(cohort: Cohort, *, anchor: Any = "2000-01-01") -> MedsTables:
    """Melt a YAIB cohort into MEDS events and labels (see the module docstring for the code scheme).

    Parameters
    ----------
    cohort : the cohort (``dyn`` time in float hours, ``stay_id`` integers).
    anchor : the timestamp of hour 0 of every stay (time-zone naive).

    Returns
    -------
    MedsTables
        ``data`` sorted by subject, static events (null time) first, then by time; within an hour
        the ``ICU//HOUR`` event comes first, then the variables in ``dyn`` column order.
    """
    import pandas as pd

    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be a trustbench Cohort; got {type(cohort).__name__}.")
    origin = _anchor_us(anchor)
    dyn, sta, outc = cohort.dyn, cohort.sta, cohort.outc
    _require(dyn, KEYS, "cohort.dyn")
    _require(sta, ("stay_id",), "cohort.sta")
    _require(outc, ("stay_id", "label"), "cohort.outc")
    for where, df in (("cohort.dyn", dyn), ("cohort.sta", sta), ("cohort.outc", outc)):
        if not pd.api.types.is_integer_dtype(df["stay_id"]):
            raise TypeError(f"{where}: column 'stay_id' must hold integers; got dtype {df['stay_id'].dtype}.")
    variables = [c for c in dyn.columns if c not in KEYS]
    bad = [v for v in variables if not _is_numeric(dyn[v])]
    if bad:
        raise TypeError(f"cohort.dyn: variable column(s) {bad} must be numeric; got dtypes {[str(dyn[v].dtype) for v in bad]}.")
    static = [c for c in sta.columns if c != "stay_id"]
    numeric = [c for c in static if _is_numeric(sta[c])]
    text = [c for c in static if c not in numeric]
    prefixes = [c.upper() for c in text]
    clash = sorted({p for p in prefixes if p in _RESERVED or prefixes.count(p) > 1})
    if clash:
        raise ValueError(f"cohort.sta: text column(s) named {clash} (case-insensitively) clash with the code prefixes "
                         f"{sorted(_RESERVED)} or with each other; rename them.")
    label = outc["label"]
    if label.isna().any():
        raise ValueError(f"cohort.outc: column 'label' has {int(label.isna().sum())} missing value(s); MEDS labels cannot be null.")

    # dynamic events: one per non-NaN cell, plus one grid event per row
    sid = dyn["stay_id"].to_numpy(np.int64)
    t_us = origin + _hours_to_us(dyn["time"].to_numpy(np.float64), "cohort.dyn column 'time'")
    values = dyn[variables].to_numpy(np.float64) if variables else np.empty((len(dyn), 0))
    row, col = np.nonzero(~np.isnan(values))
    n_rows = len(dyn)

    # code list: grid, dyn variables, numeric statics, then text statics (one code per value seen)
    codes = [GRID_CODE] + [DYN_PREFIX + v for v in variables] + [STATIC_PREFIX + c for c in numeric]
    roles = ["grid"] + ["dynamic"] * len(variables) + ["static"] * len(numeric)
    columns: list[str | None] = [None] + variables + numeric
    cvalues: list[str | None] = [None] * len(codes)
    s_sid, s_code, s_val = [], [], []
    ssid = sta["stay_id"].to_numpy(np.int64)
    for j, c in enumerate(numeric):
        v = sta[c].to_numpy(np.float64)
        keep = ~np.isnan(v)
        s_sid.append(ssid[keep]); s_val.append(v[keep])
        s_code.append(np.full(int(keep.sum()), 1 + len(variables) + j, dtype=np.int64))
    for c in text:
        present = sta[c].notna().to_numpy()
        strings = sta[c][present].astype(str).to_numpy()
        uniq, inv = np.unique(strings, return_inverse=True)
        base = len(codes)
        codes += [f"{c.upper()}{SEP}{u}" for u in uniq]
        roles += ["static_text"] * len(uniq); columns += [c] * len(uniq); cvalues += list(uniq)
        s_sid.append(ssid[present]); s_val.append(np.full(present.sum(), np.nan))
        s_code.append(base + inv.astype(np.int64).ravel())
    if len(set(codes)) != len(codes):
        raise ValueError("cohort: two columns map to the same MEDS code; rename the static or dynamic columns.")

    n_static = sum(len(a) for a in s_sid)
    subject = np.concatenate([sid[row], sid] + s_sid).astype(np.int64)
    time = np.concatenate([t_us[row], t_us, np.zeros(n_static, np.int64)])
    timed = np.concatenate([np.ones(len(row) + n_rows, bool), np.zeros(n_static, bool)])
    code = np.concatenate([1 + col.astype(np.int64), np.zeros(n_rows, np.int64)] + s_code).astype(np.int64)
    value = np.concatenate([values[row, col], np.full(n_rows, np.nan)] + s_val)
    order = np.lexsort((code, time, timed, subject))
    subject, time, timed, code, value = subject[order], time[order], timed[order], code[order], value[order]

    data = pd.DataFrame({
        "subject_id": subject,
        "time": _us_to_datetime(time, ~timed),
        "code": pd.Categorical.from_codes(code, categories=codes),
        "numeric_value": value.astype(np.float32),
    })
    with np.errstate(over="ignore", invalid="ignore"):
        lossy = (value.astype(np.float32).astype(np.float64) != value) & ~np.isnan(value)
    if lossy.any():  # exact float64 only where float32 rounds (null elsewhere: compresses well)
        data[F64_COLUMN] = np.where(lossy, value, np.nan)

    # labels
    osid = outc["stay_id"].to_numpy(np.int64)
    if cohort.hourly:
        p_us = origin + _hours_to_us(outc["time"].to_numpy(np.float64), "cohort.outc column 'time'")
    else:
        last = pd.Series(dyn["time"].to_numpy(np.float64)).groupby(sid).max()
        hours = last.reindex(osid).to_numpy() + 1.0
        p_us = origin + _hours_to_us(np.nan_to_num(hours, nan=0.0), "prediction time")
    labels = pd.DataFrame({"subject_id": osid, "prediction_time": _us_to_datetime(p_us)})
    binary = cohort.kind == "binary"
    y = label.to_numpy()
    label_values = None
    if binary:
        labels["boolean_value"] = y.astype(float).astype(bool)
    else:
        y = y.astype(np.float64)
        labels["float_value"] = y.astype(np.float32)
        if not np.array_equal(y.astype(np.float32).astype(np.float64), y):
            label_values = labels[["subject_id", "prediction_time"]].assign(label=y)

    descriptions = {
        "grid": "One event per stay-hour of the YAIB hourly grid (no value); keeps hours without measurements.",
        "dynamic": "Hourly value of the YAIB/ricu dynamic variable {col!r} (one event per measured stay-hour).",
        "static": "Static (time-less) numeric attribute {col!r} of the ICU stay.",
        "static_text": "Static (time-less) attribute {col!r} of the ICU stay equal to {val!r}.",
    }
    codes_df = pd.DataFrame({
        "code": codes,
        "description": [descriptions[r].format(col=c, val=v) for r, c, v in zip(roles, columns, cvalues)],
        "parent_codes": [None] * len(codes),
        "trustbench_role": roles,
        "trustbench_column": columns,
        "trustbench_value": cvalues,
    })
    dtypes = lambda df: {c: str(df[c].dtype) for c in df.columns}  # noqa: E731
    layout = {
        "format": LAYOUT_FORMAT,
        "anchor": str(np.datetime64(origin, "us")),
        "hourly": bool(cohort.hourly),
        "binary": bool(binary),
        "name": cohort.name,
        "site": cohort.site,
        "dyn_columns": list(dyn.columns), "dyn_dtypes": dtypes(dyn),
        "sta_columns": list(sta.columns), "sta_dtypes": dtypes(sta),
        "outc_columns": list(outc.columns), "outc_dtypes": dtypes(outc),
    }
    truth = None
    if cohort.truth is not None:
        truth = pd.DataFrame(cohort.truth).reset_index(drop=True)
        layout["truth_dtypes"] = dtypes(truth)
    return MedsTables(data=data, labels=labels, codes=codes_df, layout=layout, label_values=label_values, truth=truth)


# ----------------------------------------------------------------------------------------------
# MEDS -> cohort


def _classify(code: str, timed: bool, text_columns: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(role, column, value) of a code under the scheme of the module docstring."""
    if code == GRID_CODE:
        return "grid", None, None
    if code.startswith(DYN_PREFIX):
        return "dynamic", code[len(DYN_PREFIX):], None
    if code.startswith(STATIC_PREFIX):
        return "static", code[len(STATIC_PREFIX):], None
    if not timed and SEP in code:
        prefix, value = code.split(SEP, 1)
        return "static_text", text_columns.get(prefix, prefix.lower()), value
    return "other", None, None


def meds_to_cohort(tables: MedsTables, *, name: str = "", site: str = "") -> Cohort:
    """Pivot MEDS events back to a YAIB cohort (the inverse of :func:`cohort_to_meds`).

    Parameters
    ----------
    tables : a :class:`MedsTables` (e.g. from :func:`cohort_to_meds` or read by :func:`read_meds`).
    name, site : the cohort's name and site; default the stored ones (``tables.layout``).

    Returns
    -------
    Cohort
        ``dyn`` has one row per distinct (subject, time) of ``ICU//HOUR`` and ``DYN//`` events,
        with hours ``(time - anchor) / 1 h`` (anchor from ``tables.layout``; without it, hour 0
        is each subject's first timed event). ``sta`` has one row per subject, sorted.
        Codes outside the scheme are ignored with a warning.
    """
    import pandas as pd

    if not isinstance(tables, MedsTables):
        raise TypeError(f"tables must be a MedsTables; got {type(tables).__name__}.")
    data, labels, layout = tables.data, tables.labels, dict(tables.layout or {})
    _require(data, ("subject_id", "time", "code"), "MEDS data")
    _require(labels, ("subject_id", "prediction_time"), "MEDS labels")
    if data["subject_id"].isna().any() or data["code"].isna().any():
        raise ValueError("MEDS data: columns 'subject_id' and 'code' must not be null.")

    subject = data["subject_id"].to_numpy(np.int64)
    t_us, t_null = _us_of(data["time"])
    code_idx, uniques = pd.factorize(data["code"], sort=False)
    uniques = [str(u) for u in uniques]
    timed_code = np.zeros(len(uniques), bool)
    np.logical_or.at(timed_code, code_idx, ~t_null)
    text_columns = {c.upper(): c for c in (layout.get("sta_columns") or [])}
    info = [_classify(u, bool(timed_code[k]), text_columns) for k, u in enumerate(uniques)]
    names = ["grid", "dynamic", "static", "static_text", "other"]
    role_of = np.array([names.index(r) for r, _, _ in info] + [4], np.int8)[code_idx]
    GRID, DYN, STATIC, TEXT = 0, 1, 2, 3
    other = sorted({uniques[k] for k, (r, _, _) in enumerate(info) if r == "other"})
    if other:
        warnings.warn(f"MEDS data: ignoring {len(other)} code(s) outside trustbench's scheme "
                      f"(DYN//, STATIC//, <COL>//<value>, {GRID_CODE}), e.g. {other[:3]}.", stacklevel=2)
    value = data["numeric_value"].to_numpy(np.float64, na_value=np.nan) if "numeric_value" in data.columns \
        else np.full(len(data), np.nan)
    if F64_COLUMN in data.columns:
        exact = data[F64_COLUMN].to_numpy(np.float64, na_value=np.nan)
        value = np.where(np.isnan(exact), value, exact)

    # dynamic grid: rows = distinct (subject, time) of grid and dynamic events
    is_dyn = role_of == DYN
    on_grid = is_dyn | (role_of == GRID)
    untimed = on_grid & t_null
    if untimed.any():
        k = int(np.flatnonzero(untimed)[0])
        raise ValueError(f"MEDS data: {int(untimed.sum())} event(s) with a {DYN_PREFIX}/{GRID_CODE} code have a null time "
                         f"(first: subject {subject[k]}, code {uniques[code_idx[k]]!r}).")
    g = np.flatnonzero(on_grid)
    order = g[np.lexsort((t_us[g], subject[g]))]
    gs, gt = subject[order], t_us[order]
    new = np.ones(len(order), bool)
    new[1:] = (gs[1:] != gs[:-1]) | (gt[1:] != gt[:-1])
    row_of = np.empty(len(data), np.int64)
    row_of[order] = np.cumsum(new) - 1
    row_sid, row_us = gs[new], gt[new]

    if layout.get("anchor"):
        origin = _anchor_us(layout["anchor"])
        origin_of = lambda s: np.full(len(s), origin, np.int64)  # noqa: E731
    else:  # foreign data: hour 0 = each subject's first timed event on the grid
        first = pd.Series(row_us).groupby(row_sid).min()
        origin_of = lambda s: first.reindex(s).fillna(0).to_numpy(np.int64)  # noqa: E731

    dyn_codes = [k for k, (r, _, _) in enumerate(info) if r == "dynamic"]
    stored = [c for c in (layout.get("dyn_columns") or []) if c not in KEYS]
    if not stored and tables.codes is not None and "code" in tables.codes.columns:
        stored = [str(c)[len(DYN_PREFIX):] for c in tables.codes["code"] if str(c).startswith(DYN_PREFIX)]
    variables = stored + [info[k][1] for k in dyn_codes if info[k][1] not in stored]
    var_pos = {v: j for j, v in enumerate(variables)}
    col_of_code = np.full(len(uniques) + 1, -1, np.int64)
    for k in dyn_codes:
        col_of_code[k] = var_pos[info[k][1]]
    d = np.flatnonzero(is_dyn)
    r, c = row_of[d], col_of_code[code_idx[d]]
    flat = r * max(len(variables), 1) + c
    counts = np.bincount(flat, minlength=1)
    if flat.size and counts.max() > 1:
        raise ValueError(f"MEDS data: {int((counts[counts > 1] - 1).sum())} duplicate event(s) for the same subject, time "
                         f"and {DYN_PREFIX} code; the hourly grid holds one value per variable and hour.")
    grid = np.full((len(row_sid), len(variables)), np.nan)
    grid[r, c] = value[d]
    hours = (row_us - origin_of(row_sid)) / _US_PER_HOUR
    dyn = pd.DataFrame(grid, columns=variables)
    dyn.insert(0, "time", hours)
    dyn.insert(0, "stay_id", row_sid)
    dyn = _restore(dyn, layout.get("dyn_columns"), layout.get("dyn_dtypes"))

    # static: one row per subject
    lsid = labels["subject_id"].to_numpy(np.int64)
    stays = np.sort(pd.unique(np.concatenate([subject, lsid])))
    sta = pd.DataFrame({"stay_id": stays})
    s = np.flatnonzero(((role_of == STATIC) | (role_of == TEXT)) & t_null)
    s_code = code_idx[s]
    s_pos = np.searchsorted(stays, subject[s])
    for k in np.unique(s_code):
        r_, column, cval = info[k]
        pick = s_code == k
        pos = s_pos[pick]
        if column not in sta.columns:
            sta[column] = np.nan if r_ == "static" else pd.Series([None] * len(stays), dtype=object)
        elif r_ == "static_text" and sta[column].dtype != object:
            sta[column] = sta[column].astype(object)
        target = sta[column].to_numpy(copy=True)
        if r_ == "static":
            target[pos] = value[s][pick]
        else:
            target[pos] = cval
        sta[column] = target
    dup = pd.DataFrame({"s": subject[s], "c": [info[k][1] for k in s_code]}).duplicated()
    if dup.any():
        j = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"MEDS data: subject {subject[s][j]} has several static events for column {info[s_code[j]][1]!r}.")
    sta = _restore(sta, layout.get("sta_columns"), layout.get("sta_dtypes"))

    # labels
    p_us, p_null = _us_of(labels["prediction_time"])
    if p_null.any():
        raise ValueError("MEDS labels: column 'prediction_time' has null value(s).")
    if "boolean_value" in labels.columns:
        y = labels["boolean_value"].to_numpy(bool)
    elif "float_value" in labels.columns:
        y = labels["float_value"].to_numpy(np.float64, na_value=np.nan)
        exact = tables.label_values
        if exact is not None:
            same = (len(exact) == len(labels)
                    and np.array_equal(exact["subject_id"].to_numpy(np.int64), lsid)
                    and np.array_equal(_us_of(exact["prediction_time"])[0], p_us))
            if same:
                y = exact["label"].to_numpy(np.float64)
            else:
                warnings.warn("metadata/trustbench/labels.parquet does not match the labels (rows differ); "
                              "using the float32 float_value.", stacklevel=2)
    elif "integer_value" in labels.columns:
        y = labels["integer_value"].to_numpy(np.int64)
    else:
        raise ValueError(f"MEDS labels: no boolean_value, float_value or integer_value column; found {list(labels.columns)}.")
    hourly = layout.get("hourly")
    if hourly is None:
        hourly = bool(pd.Series(lsid).duplicated().any())
    outc = pd.DataFrame({"stay_id": lsid})
    if hourly:
        outc["time"] = (p_us - origin_of(lsid)) / _US_PER_HOUR
    outc["label"] = y
    keys = ["stay_id", "time"] if hourly else ["stay_id"]
    if not layout:
        outc = outc.sort_values(keys, kind="stable")
    outc = _restore(outc, layout.get("outc_columns"), layout.get("outc_dtypes"))

    truth = None
    if tables.truth is not None:
        truth = _restore(pd.DataFrame(tables.truth).copy(), None, layout.get("truth_dtypes"))
    meta = {"meds": dict(tables.dataset or {})}
    if layout.get("task"):
        meta["task"] = layout["task"]
    return Cohort(dyn=dyn, sta=sta, outc=outc, name=name or layout.get("name", ""),
                  site=site or layout.get("site", ""), truth=truth, meta=meta)


# ----------------------------------------------------------------------------------------------
# arrow conversion and files


def _data_table(df):
    import meds
    import pyarrow as pa

    schema = meds.DataSchema.schema()
    code = df["code"]
    if hasattr(code, "cat"):
        code_arr = pa.DictionaryArray.from_arrays(
            pa.array(code.cat.codes.to_numpy(np.int32)), pa.array(list(code.cat.categories), pa.string())
        ).dictionary_decode()
    else:
        code_arr = pa.array(code.astype(str).to_numpy(object), pa.string())
    t_us, t_null = _us_of(df["time"])
    arrays = [
        pa.array(df["subject_id"].to_numpy(np.int64), pa.int64()),
        pa.array(t_us, pa.timestamp("us"), mask=t_null),
        code_arr,
        pa.array(df["numeric_value"].to_numpy(np.float32), pa.float32(), from_pandas=True),
    ]
    fields = [schema.field(n) for n in ("subject_id", "time", "code", "numeric_value")]
    if F64_COLUMN in df.columns:
        arrays.append(pa.array(df[F64_COLUMN].to_numpy(np.float64), pa.float64(), from_pandas=True))
        fields.append(pa.field(F64_COLUMN, pa.float64()))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    meds.DataSchema.validate(table)
    return table


def _label_table(df):
    import meds
    import pyarrow as pa

    schema = meds.LabelSchema.schema()
    p_us, _ = _us_of(df["prediction_time"])
    arrays = [pa.array(df["subject_id"].to_numpy(np.int64), pa.int64()), pa.array(p_us, pa.timestamp("us"))]
    names = ["subject_id", "prediction_time"]
    for n, dt in (("boolean_value", bool), ("integer_value", np.int64), ("float_value", np.float32)):
        if n in df.columns:
            arrays.append(pa.array(df[n].to_numpy(dt), schema.field(n).type)); names.append(n)
    table = pa.Table.from_arrays(arrays, schema=pa.schema([schema.field(n) for n in names]))
    meds.LabelSchema.validate(table)
    return table


def _codes_table(df):
    import meds
    import pyarrow as pa

    schema = meds.CodeMetadataSchema.schema()
    fields = [schema.field(n) for n in ("code", "description", "parent_codes")]
    fields += [pa.field(c, pa.string()) for c in df.columns if c.startswith("trustbench_")]
    clean = lambda v: None if v is None or (np.ndim(v) == 0 and v != v) else v  # noqa: E731  (NaN -> null)
    cols = {f.name: [clean(v) for v in df[f.name].tolist()] for f in fields}
    table = pa.table(cols, schema=pa.schema(fields))
    meds.CodeMetadataSchema.validate(table)
    return table


def _split_of(split: Any, stays: np.ndarray):
    """Per-stay split names (array aligned with ``stays``) from a str, a mapping or a Series."""
    import pandas as pd

    if isinstance(split, str):
        if not split or split != _slug(split):
            raise ValueError(f"split must be a plain name such as 'train', 'tuning' or 'held_out'; got {split!r}.")
        return np.full(len(stays), split, dtype=object)
    if isinstance(split, (Mapping, pd.Series)):
        s = pd.Series(split)
        names = s.reindex(stays)
        if names.isna().any():
            miss = stays[names.isna().to_numpy()]
            raise ValueError(f"split must name a split for every stay; {miss.size} stay(s) have none (first {miss[0]}).")
        for n in names.unique():
            _split_of(str(n), stays[:0])
        return names.astype(str).to_numpy(object)
    raise TypeError(f"split must be None, a split name (str) or a mapping stay_id -> split name; got {short_repr(split)}.")


def write_meds(cohort: Cohort, path: str | Path, *, dataset_name: str | None = None, split: Any = None,
               task: str | None = None, anchor: Any = "2000-01-01", overwrite: bool = False) -> Path:
    """Write a cohort as a MEDS dataset directory (layout in the module docstring).

    Parameters
    ----------
    cohort : the cohort.
    path : the dataset root; created. An existing non-empty folder needs ``overwrite=True``
        (which replaces its ``data/``, ``labels/`` and ``metadata/`` folders).
    dataset_name : ``dataset.json``'s ``dataset_name``; default the cohort's name.
    split : None (one shard ``data/0.parquet``), a split name for every stay (``"train"`` →
        ``data/train/0.parquet``) or a mapping ``stay_id -> split`` (one shard per split); a
        split also writes ``metadata/subject_splits.parquet``.
    task : the label file's name (``labels/<task>.parquet``); default from the cohort's name.
    anchor : the timestamp of hour 0 (:func:`cohort_to_meds`).
    overwrite : allow writing into a non-empty folder.

    Returns
    -------
    Path
        The dataset root.
    """
    import meds
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(path).expanduser()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"path {str(path)!r} is a file; write_meds needs a folder (created if missing).")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"path {str(path)!r} is a non-empty folder; pass overwrite=True to replace its MEDS files.")
    if task is not None and (not isinstance(task, str) or not task or _slug(task) != task):
        raise ValueError(f"task must be a plain file name (letters, digits, '_', '.', '-'); got {task!r}.")
    task = task or _slug(cohort.name) or "label"
    tables = cohort_to_meds(cohort, anchor=anchor)
    stays = np.unique(np.concatenate([tables.data["subject_id"].to_numpy(np.int64),
                                      tables.labels["subject_id"].to_numpy(np.int64)]))
    if split is not None:
        names = _split_of(split, stays)
        tables.subject_splits = pd.DataFrame({"subject_id": stays, "split": names})
    tables.layout["task"] = task
    ext = [F64_COLUMN] if F64_COLUMN in tables.data.columns else []
    tables.dataset = {
        "dataset_name": dataset_name or cohort.name or task,
        "etl_name": "trustbench.domains.icu.meds",
        "etl_version": _version(),
        "meds_version": meds.__version__,
        "created_at": pd.Timestamp.now().isoformat(),
        **({"other_extension_columns": ext} if ext else {}),
    }
    meds.DatasetMetadataSchema.validate(tables.dataset)

    if overwrite:
        for sub in ("data", "labels", "metadata"):
            if (root / sub).is_dir():
                shutil.rmtree(root / sub)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    (root / "metadata" / "trustbench").mkdir(parents=True, exist_ok=True)

    table = _data_table(tables.data)
    if tables.subject_splits is None:
        pq.write_table(table, root / "data" / "0.parquet")
    else:
        split_of = pd.Series(tables.subject_splits["split"].to_numpy(), index=stays)
        event_split = split_of.reindex(tables.data["subject_id"].to_numpy()).to_numpy(object)
        for name in pd.unique(tables.subject_splits["split"]):
            (root / "data" / name).mkdir(exist_ok=True)
            pq.write_table(table.filter(pa.array(event_split == name)), root / "data" / name / "0.parquet")
        st = pa.Table.from_pandas(tables.subject_splits, schema=meds.SubjectSplitSchema.schema(), preserve_index=False)
        meds.SubjectSplitSchema.validate(st)
        pq.write_table(st, root / meds.subject_splits_filepath)
    pq.write_table(_label_table(tables.labels), root / "labels" / f"{task}.parquet")
    pq.write_table(_codes_table(tables.codes), root / meds.code_metadata_filepath)
    (root / meds.dataset_metadata_filepath).write_text(json.dumps(tables.dataset, indent=2))
    (root / "metadata" / "trustbench" / "cohort.json").write_text(json.dumps(tables.layout, indent=2))
    if tables.label_values is not None:
        tables.label_values.to_parquet(root / "metadata" / "trustbench" / "labels.parquet", index=False)
    if tables.truth is not None:
        tables.truth.to_parquet(root / "metadata" / "trustbench" / "truth.parquet", index=False)
    return root


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("trustbench")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


def _read_table(path: Path, schema_cls, required: tuple[str, ...]):
    """Read a parquet file, check its required columns and conform it to a meds schema."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several kinds
        raise ValueError(f"{path}: not a readable parquet file ({err}).") from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} required by the MEDS {schema_cls.__name__}; "
                         f"found {table.column_names[:12]}.")
    try:
        schema_cls.validate(table)
    except Exception:
        try:
            table = schema_cls.align(table)
        except Exception as err:
            raise ValueError(f"{path}: does not follow the MEDS {schema_cls.__name__} ({err}).") from None
    return table


def _to_pandas(table):
    # keep timestamps in microseconds whatever the pandas version
    return table.to_pandas(coerce_temporal_nanoseconds=False)


def read_meds(path: str | Path, *, labels: str | None = None) -> Cohort:
    """Read a MEDS dataset directory into a cohort (the inverse of :func:`write_meds`).

    Parameters
    ----------
    path : the dataset root (``data/`` with parquet shards, ``labels/``, optional ``metadata/``).
    labels : the task, i.e. ``labels/<labels>.parquet`` (or a folder ``labels/<labels>/`` of
        shards); default the task written by :func:`write_meds`, else the only label file.

    Returns
    -------
    Cohort
        As :func:`meds_to_cohort`; ``cohort.meta`` holds ``dataset.json`` and the task name.
    """
    import meds
    import pandas as pd
    import pyarrow as pa

    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"path {str(path)!r} is not a folder; expected a MEDS dataset root with data/ and labels/.")
    data_dir = root / meds.data_subdirectory
    files = sorted(data_dir.rglob("*.parquet")) if data_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{data_dir}: no parquet shards; a MEDS dataset keeps its events in data/*.parquet.")
    shards = [_read_table(f, meds.DataSchema, ("subject_id", "time", "code")) for f in files]
    data = _to_pandas(pa.concat_tables(shards, promote_options="default"))

    meta_dir = root / "metadata"
    tb_dir = meta_dir / "trustbench"
    layout = json.loads((tb_dir / "cohort.json").read_text()) if (tb_dir / "cohort.json").is_file() else {}
    if layout and layout.get("format") != LAYOUT_FORMAT:
        warnings.warn(f"{tb_dir / 'cohort.json'}: unknown format {layout.get('format')!r}; ignored.", stacklevel=2)
        layout = {}
    dataset = json.loads((root / meds.dataset_metadata_filepath).read_text()) \
        if (root / meds.dataset_metadata_filepath).is_file() else {}

    label_dir = root / "labels"
    available = sorted({p.stem for p in label_dir.glob("*.parquet")} | {p.name for p in label_dir.iterdir() if p.is_dir()}) \
        if label_dir.is_dir() else []
    if labels is None:
        if layout.get("task") in available:
            labels = layout["task"]
        elif len(available) == 1:
            labels = available[0]
        elif not available:
            raise FileNotFoundError(f"{label_dir}: no label files; a cohort needs labels/<task>.parquet.")
        else:
            raise ValueError(f"{label_dir}: several tasks {available}; pass labels= one of them.")
    lfile, ldir = label_dir / f"{labels}.parquet", label_dir / str(labels)
    if lfile.is_file():
        lfiles = [lfile]
    elif ldir.is_dir() and sorted(ldir.rglob("*.parquet")):
        lfiles = sorted(ldir.rglob("*.parquet"))
    else:
        raise FileNotFoundError(f"{lfile}: missing; label files found: {available or 'none'}.")
    label_table = pa.concat_tables([_read_table(f, meds.LabelSchema, ("subject_id", "prediction_time")) for f in lfiles])
    if layout and labels != layout.get("task"):  # another task: its kind is not the stored one
        layout = {k: v for k, v in layout.items() if not (k.startswith("outc") or k in ("hourly", "binary", "task"))}

    codes = _to_pandas(_read_table(root / meds.code_metadata_filepath, meds.CodeMetadataSchema, ("code",))) \
        if (root / meds.code_metadata_filepath).is_file() else None
    splits = pd.read_parquet(root / meds.subject_splits_filepath) if (root / meds.subject_splits_filepath).is_file() else None
    exact = None
    if layout.get("task") == labels and (tb_dir / "labels.parquet").is_file():
        exact = pd.read_parquet(tb_dir / "labels.parquet")
    truth = pd.read_parquet(tb_dir / "truth.parquet") if layout and (tb_dir / "truth.parquet").is_file() else None
    layout.setdefault("task", str(labels))
    tables = MedsTables(data=data, labels=_to_pandas(label_table), codes=codes, subject_splits=splits,
                        dataset=dataset, layout=layout, label_values=exact, truth=truth)
    return meds_to_cohort(tables)
