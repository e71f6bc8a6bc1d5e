"""MEDS export/import of YAIB cohorts: exact round trips on the real demo cohorts, schema conformance
against the ``meds`` package's pyarrow schemas, the event mapping on a hand example, and clear errors."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import meds
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trustbench.domains.icu.cohort import Cohort
from trustbench.domains.icu.meds import (
    F64_COLUMN,
    MedsTables,
    cohort_to_meds,
    meds_to_cohort,
    read_meds,
    write_meds,
)

_HERE = Path(__file__).resolve()
_CANDIDATES = [
    _HERE.parents[3] / "src" / "trustbench" / "domains" / "icu" / "data" / "yaib-demo",
    _HERE.parents[4] / "shared" / "data" / "yaib-demo",
]
DATA = next((p for p in _CANDIDATES if (p / "los" / "eicu_demo" / "dyn.parquet").is_file()), None)
needs_data = pytest.mark.skipif(DATA is None, reason="YAIB demo cohorts not found")
ANCHOR = pd.Timestamp("2000-01-01")


def _raw(task: str, source: str) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(DATA / task / source / f"{t}.parquet") for t in ("dyn", "sta", "outc")}


def _to_memory(df: pd.DataFrame) -> pd.DataFrame:
    """The in-memory convention: stay_id int64, time float hours."""
    df = df.copy()
    df["stay_id"] = df["stay_id"].astype(np.int64)
    if "time" in df.columns:
        df["time"] = (df["time"] / pd.Timedelta(hours=1)).astype(np.float64)
    return df


def _demo(task: str, source: str) -> tuple[Cohort, dict[str, pd.DataFrame]]:
    raw = _raw(task, source)
    cohort = Cohort(*(_to_memory(raw[t]) for t in ("dyn", "sta", "outc")), name=f"{task}/{source}", site=source)
    return cohort, raw


def _assert_same(a: Cohort, b: Cohort) -> None:
    for t in ("dyn", "sta", "outc"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t), check_exact=True, obj=t)


def _check_conformance(root: Path, raw: dict[str, pd.DataFrame] | None = None) -> None:
    """Every written file follows the meds schemas and the MEDS ordering rules."""
    shards = sorted((root / "data").rglob("*.parquet"))
    assert shards
    seen: set[int] = set()
    all_codes = set()
    for f in shards:
        table = pq.read_table(f)
        meds.DataSchema.validate(table)  # raises if not conformant
        for name, typ in (("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
                          ("numeric_value", pa.float32())):
            assert table.schema.field(name).type == typ
        df = table.to_pandas(coerce_temporal_nanoseconds=False)
        sid = df["subject_id"].to_numpy()
        # a subject lives in one shard, contiguously, sorted by time with static (null time) first
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        assert len(starts) == len(np.unique(sid))
        assert not (set(sid.tolist()) & seen)
        seen |= set(sid.tolist())
        key = df["time"].astype("int64").where(df["time"].notna(), np.iinfo(np.int64).min).to_numpy()
        same = sid[1:] == sid[:-1]
        assert (key[1:][same] >= key[:-1][same]).all()
        all_codes |= set(df["code"].unique())
    for f in (root / "labels").glob("*.parquet"):
        meds.LabelSchema.validate(pq.read_table(f))
    codes = pq.read_table(root / meds.code_metadata_filepath)
    meds.CodeMetadataSchema.validate(codes)
    assert all_codes <= set(codes.column("code").to_pylist())
    meta = json.loads((root / meds.dataset_metadata_filepath).read_text())
    meds.DatasetMetadataSchema.validate(meta)
    if (root / meds.subject_splits_filepath).is_file():
        meds.SubjectSplitSchema.validate(pq.read_table(root / meds.subject_splits_filepath))


# ---------------------------------------------------------------------------------------------
# real demo cohorts


@needs_data
@pytest.mark.parametrize(
    "task, source",
    [("mortality24", "mimic_demo"), ("aki", "mimic_demo"), ("kidney_function", "mimic_demo"), ("los", "mimic_demo"),
     ("mortality24", "eicu_demo")],
)
def test_demo_round_trip_is_exact(tmp_path, task, source):
    cohort, raw = _demo(task, source)
    root = write_meds(cohort, tmp_path / "meds")
    _check_conformance(root)
    back = read_meds(root)
    _assert_same(back, cohort)
    assert (back.name, back.site) == (cohort.name, cohort.site)

    # independent check of the melted events against the raw parquet files
    data = pq.read_table(next((root / "data").rglob("*.parquet"))).to_pandas(coerce_temporal_nanoseconds=False)
    variables = [c for c in raw["dyn"].columns if c not in ("stay_id", "time")]
    n_values = int(raw["dyn"][variables].notna().to_numpy().sum())
    assert data["code"].str.startswith("DYN//").sum() == n_values
    assert (data["code"] == "ICU//HOUR").sum() == len(raw["dyn"])
    assert (data["code"] == "STATIC//age").sum() == raw["sta"]["age"].notna().sum()
    assert (data["code"] == "SEX//Male").sum() == (raw["sta"]["sex"] == "Male").sum()
    labels = pq.read_table(next((root / "labels").glob("*.parquet"))).to_pandas(coerce_temporal_nanoseconds=False)
    if "time" in raw["outc"].columns:  # hourly: prediction_time = anchor + time
        expected = ANCHOR + raw["outc"]["time"]
    else:  # once per stay: anchor + last dyn hour + 1 h
        last = raw["dyn"].groupby("stay_id")["time"].max()
        expected = ANCHOR + last.reindex(raw["outc"]["stay_id"]).to_numpy() + pd.Timedelta(hours=1)
    np.testing.assert_array_equal(labels["prediction_time"].to_numpy("datetime64[us]"),
                                  pd.Series(expected).to_numpy("datetime64[us]"))
    y = raw["outc"]["label"].to_numpy()
    if y.dtype == bool or set(np.unique(y)) <= {0, 1}:
        np.testing.assert_array_equal(labels["boolean_value"].to_numpy(), y.astype(bool))
    else:
        np.testing.assert_array_equal(labels["float_value"].to_numpy(), y.astype(np.float32))


@needs_data
def test_largest_demo_round_trips(tmp_path):
    cohort, _ = _demo("los", "eicu_demo")
    assert len(cohort.dyn) > 100_000
    start = time.perf_counter()
    back = read_meds(write_meds(cohort, tmp_path / "meds"))
    elapsed = time.perf_counter() - start
    _assert_same(back, cohort)
    print(f"los/eicu_demo MEDS round trip ({len(cohort.dyn)} rows): {elapsed:.2f} s")


@needs_data
def test_float32_fallback_without_trustbench_metadata(tmp_path):
    """A reader without trustbench's files sees the standard float32 values, still row-for-row."""
    cohort, raw = _demo("kidney_function", "mimic_demo")
    root = write_meds(cohort, tmp_path / "meds")
    assert (root / "metadata" / "trustbench" / "labels.parquet").is_file()  # 2.35 is not a float32
    import shutil

    shutil.rmtree(root / "metadata" / "trustbench")
    data = pq.read_table(root / "data" / "0.parquet").drop_columns([F64_COLUMN])
    pq.write_table(data, root / "data" / "0.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = read_meds(root)
    dyn = cohort.dyn
    assert len(back.dyn) == len(dyn)  # all-NaN hours kept by ICU//HOUR
    np.testing.assert_array_equal(back.dyn["time"], dyn["time"])  # first event of each stay is hour 0
    variables = cohort.variables
    assert list(back.dyn.columns) == ["stay_id", "time"] + variables  # order from codes.parquet
    np.testing.assert_array_equal(back.dyn[variables].to_numpy(),
                                  dyn[variables].to_numpy().astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(back.outc["label"], cohort.outc["label"].to_numpy().astype(np.float32))


@needs_data
def test_splits_write_one_shard_per_split(tmp_path):
    cohort, _ = _demo("mortality24", "mimic_demo")
    stays = cohort.stays
    split = {int(s): ("train" if i % 3 else "held_out") for i, s in enumerate(stays)}
    root = write_meds(cohort, tmp_path / "meds", split=split)
    assert sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*.parquet")) == [
        "data/held_out/0.parquet", "data/train/0.parquet"]
    _check_conformance(root)
    splits = pd.read_parquet(root / meds.subject_splits_filepath)
    assert dict(zip(splits["subject_id"], splits["split"])) == split
    held = pd.read_parquet(root / "data" / "held_out" / "0.parquet")
    assert set(held["subject_id"]) == {s for s, v in split.items() if v == "held_out"}
    _assert_same(read_meds(root), cohort)

    root2 = write_meds(cohort, tmp_path / "meds2", split="train")
    assert [p.relative_to(root2).as_posix() for p in (root2 / "data").rglob("*.parquet")] == ["data/train/0.parquet"]
    _assert_same(read_meds(root2), cohort)


# ---------------------------------------------------------------------------------------------
# hand example


def _hand(hourly: bool = True) -> Cohort:
    dyn = pd.DataFrame({"stay_id": np.array([7, 7, 9], np.int64), "time": [0.0, 1.0, 0.5],
                        "hr": [80.0, np.nan, 61.25], "sbp": [np.nan, np.nan, 0.1]})
    sta = pd.DataFrame({"stay_id": np.array([7, 9], np.int64), "age": [65.5, np.nan], "sex": ["Female", None],
                        "site": ["A", "B"], "treatment": [1.0, 0.0]})
    if hourly:
        outc = pd.DataFrame({"stay_id": np.array([7, 7, 9], np.int64), "time": [0.0, 1.0, 0.5], "label": [0.0, 1.0, 0.0]})
    else:
        outc = pd.DataFrame({"stay_id": np.array([7, 9], np.int64), "label": [3.5, 0.2]})
    truth = pd.DataFrame({"p_true": np.linspace(0.1, 0.3, len(outc))})
    return Cohort(dyn=dyn, sta=sta, outc=outc, name="hand", site="A", truth=truth)


def test_event_mapping_by_hand():
    tables = cohort_to_meds(_hand(), anchor="2020-05-01 12:00")
    data = tables.data
    t0 = pd.Timestamp("2020-05-01 12:00")
    hr7 = data[(data["subject_id"] == 7) & (data["code"] == "DYN//hr")]
    assert len(hr7) == 1  # one value -> one event; the NaN at hour 1 gives none
    assert hr7["time"].iloc[0] == t0 and hr7["numeric_value"].iloc[0] == np.float32(80.0)
    sbp9 = data[(data["subject_id"] == 9) & (data["code"] == "DYN//sbp")]
    assert sbp9["time"].iloc[0] == t0 + pd.Timedelta(minutes=30)
    assert sbp9["numeric_value"].iloc[0] == np.float32(0.1) and sbp9[F64_COLUMN].iloc[0] == 0.1
    grid = data[data["code"] == "ICU//HOUR"]
    assert list(zip(grid["subject_id"], grid["time"])) == [
        (7, t0), (7, t0 + pd.Timedelta(hours=1)), (9, t0 + pd.Timedelta(minutes=30))]
    assert grid["numeric_value"].isna().all()
    static7 = data[(data["subject_id"] == 7) & data["time"].isna()]
    assert dict(zip(static7["code"], static7["numeric_value"].fillna(-1))) == {
        "STATIC//age": np.float32(65.5), "SEX//Female": -1, "SITE//A": -1, "STATIC//treatment": 1.0}
    static9 = set(data.loc[(data["subject_id"] == 9) & data["time"].isna(), "code"])
    assert static9 == {"SITE//B", "STATIC//treatment"}  # no age, no sex: missing -> no event
    assert len(data) == 3 + 3 + 4 + 2  # values + grid rows + statics
    # static events first within a subject, then by time
    assert data["time"].iloc[:4].isna().all() and data["subject_id"].iloc[:7].eq(7).all()
    assert list(tables.labels.columns) == ["subject_id", "prediction_time", "boolean_value"]
    assert list(tables.labels["prediction_time"]) == [t0, t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(minutes=30)]
    assert list(tables.labels["boolean_value"]) == [False, True, False]
    back = meds_to_cohort(tables)
    _assert_same(back, _hand())
    pd.testing.assert_frame_equal(back.truth, _hand().truth)


def test_once_per_stay_regression_round_trip(tmp_path):
    cohort = _hand(hourly=False)
    tables = cohort_to_meds(cohort)
    # prediction time = anchor + last dyn hour + 1 h
    assert list(tables.labels["prediction_time"]) == [ANCHOR + pd.Timedelta(hours=2), ANCHOR + pd.Timedelta(hours=1.5)]
    assert tables.labels["float_value"].dtype == np.float32
    back = read_meds(write_meds(cohort, tmp_path / "m", task="stay_label"), labels="stay_label")
    _assert_same(back, cohort)
    pd.testing.assert_frame_equal(back.truth, cohort.truth)
    assert back.outc["label"].tolist() == [3.5, 0.2]  # exact, not float32


def test_fractional_hours_round_trip_and_rounding_warns():
    cohort = _hand()
    _assert_same(meds_to_cohort(cohort_to_meds(cohort)), cohort)
    third = cohort.with_dyn(cohort.dyn.assign(time=[0.0, 1.0 / 7.0, 0.5]))
    with pytest.warns(UserWarning, match="rounded"):
        cohort_to_meds(third)


def test_foreign_meds_without_trustbench_metadata(tmp_path):
    """A MEDS dataset written by another tool: hour 0 = first event, unknown codes ignored."""
    root = tmp_path / "foreign"
    (root / "data").mkdir(parents=True)
    (root / "labels").mkdir()
    t = pd.Timestamp("2130-02-03 04:00")
    data = pa.table({
        "subject_id": pa.array([1, 1, 1, 1, 1, 2, 2], pa.int64()),
        "time": pa.array([None, None, t, t, t + pd.Timedelta(hours=2), t, t], pa.timestamp("us")),
        "code": ["STATIC//age", "SEX//Male", "MEDS_ADMISSION", "DYN//hr", "DYN//hr", "ICU//HOUR", "DYN//temp"],
        "numeric_value": pa.array([70, None, None, 90, 95, None, 37.5], pa.float32()),
    })
    pq.write_table(data, root / "data" / "0.parquet")
    labels = pa.table({"subject_id": pa.array([1, 2], pa.int64()),
                       "prediction_time": pa.array([t + pd.Timedelta(hours=3), t], pa.timestamp("us")),
                       "boolean_value": [True, False]})
    pq.write_table(labels, root / "labels" / "death.parquet")
    with pytest.warns(UserWarning, match="MEDS_ADMISSION"):
        cohort = read_meds(root)
    expected_dyn = pd.DataFrame({"stay_id": np.array([1, 1, 2], np.int64), "time": [0.0, 2.0, 0.0],
                                 "hr": [90.0, 95.0, np.nan], "temp": [np.nan, np.nan, 37.5]})
    pd.testing.assert_frame_equal(cohort.dyn, expected_dyn)
    assert cohort.sta["age"].tolist()[0] == 70.0 and np.isnan(cohort.sta["age"].tolist()[1])
    assert cohort.sta["sex"].tolist()[0] == "Male" and pd.isna(cohort.sta["sex"].tolist()[1])
    assert not cohort.hourly and cohort.outc["label"].tolist() == [True, False]


# ---------------------------------------------------------------------------------------------
# errors


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_meds(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="data"):
        read_meds(tmp_path / "empty")
    root = write_meds(_hand(), tmp_path / "m", task="mort")
    with pytest.raises(FileNotFoundError, match=r"labels[/\\]other\.parquet"):
        read_meds(root, labels="other")
    (root / "labels" / "mort.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="no label files"):
        read_meds(root)


def test_data_file_without_subject_id_names_file_and_column(tmp_path):
    root = write_meds(_hand(), tmp_path / "m")
    shard = root / "data" / "0.parquet"
    pq.write_table(pq.read_table(shard).rename_columns(["patient", "time", "code", "numeric_value", F64_COLUMN]), shard)
    with pytest.raises(ValueError, match=r"0\.parquet.*'subject_id'"):
        read_meds(root)


def test_bad_arguments(tmp_path):
    cohort = _hand()
    with pytest.raises(TypeError, match="Cohort"):
        cohort_to_meds(cohort.dyn)
    with pytest.raises(ValueError, match="anchor"):
        cohort_to_meds(cohort, anchor="not a date")
    with pytest.raises(ValueError, match="missing value"):
        cohort_to_meds(Cohort(cohort.dyn, cohort.sta, cohort.outc.assign(label=[0.0, np.nan, 1.0])))
    with pytest.raises(ValueError, match="clash"):
        cohort_to_meds(Cohort(cohort.dyn, cohort.sta.assign(dyn="x"), cohort.outc))
    write_meds(cohort, tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_meds(cohort, tmp_path / "m")
    write_meds(cohort, tmp_path / "m", overwrite=True)
    with pytest.raises(ValueError, match="split"):
        write_meds(cohort, tmp_path / "s", split={7: "train"})  # stay 9 has no split
    with pytest.raises(ValueError, match="task"):
        write_meds(cohort, tmp_path / "t", task="a/b")


def test_duplicate_events_rejected():
    tables = cohort_to_meds(_hand())
    dup = pd.concat([tables.data, tables.data[tables.data["code"] == "DYN//hr"].iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate"):
        meds_to_cohort(MedsTables(data=dup, labels=tables.labels, codes=tables.codes, layout=tables.layout))
