"""The YAIB loader: the shipped demo cohorts load, and every malformed folder fails with a clear error
naming the file and the column, before any training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustbench.domains.icu.yaib import DEMO_SOURCES, DEMO_TASKS, CohortError, demo_path, load_yaib


@pytest.mark.parametrize("task", DEMO_TASKS)
@pytest.mark.parametrize("source", DEMO_SOURCES)
def test_demo_cohorts_load_and_match_the_files(task, source):
    folder = demo_path(task, source)
    c = load_yaib(folder, drop_empty=True)
    raw = pd.read_parquet(folder / "outc.parquet")
    assert len(c.outc) == len(raw)
    assert c.hourly == ("time" in raw.columns)
    assert c.kind == ("binary" if task in ("mortality24", "aki") else "regression")
    np.testing.assert_allclose(np.sort(c.y), np.sort(raw["label"].to_numpy(float)))
    dyn = pd.read_parquet(folder / "dyn.parquet")
    hours = (dyn["time"] / pd.Timedelta(hours=1)).to_numpy()
    assert c.dyn["time"].max() == hours.max() and c.dyn["time"].min() >= 0
    assert c.dyn["stay_id"].dtype == np.int64
    assert (c.dyn.groupby("stay_id")["time"].diff().dropna() > 0).all()  # sorted within stays
    assert set(c.outc["stay_id"]) <= set(c.sta["stay_id"])


def test_mimic_demo_never_measures_crp_and_strict_loading_says_so():
    with pytest.raises(CohortError, match=r"dyn\.parquet: variable\(s\) \['crp'\] are missing in every row"):
        load_yaib(demo_path("mortality24", "mimic_demo"))
    assert load_yaib(demo_path("mortality24", "mimic_demo"), drop_empty=True).meta["dropped"] == ["crp"]


@pytest.fixture
def frames():
    dyn = pd.DataFrame({"stay_id": np.repeat([1, 2, 3, 4], 3).astype("int32"),
                        "time": pd.to_timedelta(np.tile([0, 1, 2], 4), unit="h"),
                        "hr": np.arange(12, dtype=float) + 60, "crea": [1.0, np.nan, 1.2] * 4})
    sta = pd.DataFrame({"stay_id": [1, 2, 3, 4], "age": [50.0, 60, 70, 80], "sex": ["Male", "Female"] * 2,
                        "height": 170.0, "weight": 70.0})
    outc = pd.DataFrame({"stay_id": [1, 2, 3, 4], "label": [0, 1, 0, 1]})
    return dyn, sta, outc


def _write(tmp_path, dyn, sta, outc):
    for name, df in (("dyn", dyn), ("sta", sta), ("outc", outc)):
        df.to_parquet(tmp_path / f"{name}.parquet")
    return tmp_path


def test_a_valid_folder_loads(tmp_path, frames):
    c = load_yaib(_write(tmp_path, *frames))
    assert c.variables == ["hr", "crea"] and len(c) == 4 and c.kind == "binary" and not c.hourly


@pytest.mark.parametrize("break_it, match", [
    (lambda d, s, o: (d.drop(columns="time"), s, o), r"dyn\.parquet: missing column\(s\) \['time'\]"),
    (lambda d, s, o: (d, s, o.drop(columns="label")), r"outc\.parquet: missing column\(s\) \['label'\]"),
    (lambda d, s, o: (d.assign(stay_id=d.stay_id.astype(str)), s, o), r"dyn\.parquet: column 'stay_id' must hold integers"),
    (lambda d, s, o: (d.assign(hr=d.hr.astype(str)), s, o), r"dyn\.parquet: column 'hr' must be numeric"),
    (lambda d, s, o: (d.assign(time=d.time - pd.Timedelta(hours=1)), s, o), r"dyn\.parquet: column 'time' has 4 negative"),
    (lambda d, s, o: (d.assign(time=pd.to_timedelta([0, 0, 1] * 4, unit="h")), s, o),
     r"dyn\.parquet: 4 duplicate \(stay_id, time\) row\(s\), first stay_id 1"),
    (lambda d, s, o: (d, pd.concat([s, s.iloc[:1]]), o), r"sta\.parquet: 1 duplicate stay\(s\), first stay_id 1"),
    (lambda d, s, o: (d.assign(lactate_x=1.0), s, o), r"dyn\.parquet: unknown variable\(s\) \['lactate_x'\]"),
    (lambda d, s, o: (d, s, o.assign(label=1)), r"outc\.parquet: column 'label' has a single value \(1\)"),
    (lambda d, s, o: (d.assign(crea=np.nan), s, o), r"dyn\.parquet: variable\(s\) \['crea'\] are missing in every row"),
    (lambda d, s, o: (d, s, o.assign(label=o.label.astype(str))), r"outc\.parquet: column 'label' must be numeric"),
    (lambda d, s, o: (d, s, pd.concat([o, o.iloc[:1]])), r"outc\.parquet: duplicate stay_id without a 'time' column"),
    (lambda d, s, o: (d, s.iloc[1:], o), r"outc\.parquet: 1 stay\(s\) have labels but no row in sta\.parquet \(first 1\)"),
    (lambda d, s, o: (d[d.stay_id != 4], s, o), r"outc\.parquet: 1 stay\(s\) have labels but no rows in dyn\.parquet \(first 4\)"),
    (lambda d, s, o: (d, s.assign(age="old"), o), r"sta\.parquet: column 'age' must be numeric"),
])
def test_bad_folders_fail_naming_file_and_column(tmp_path, frames, break_it, match):
    with pytest.raises(CohortError, match=match):
        load_yaib(_write(tmp_path, *break_it(*frames)))


def test_unknown_variables_can_be_accepted(tmp_path, frames):
    dyn, sta, outc = frames
    c = load_yaib(_write(tmp_path, dyn.assign(my_score=2.0), sta, outc), extra_variables=["my_score"])
    assert "my_score" in c.variables


def test_missing_files_and_folders(tmp_path, frames):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_yaib(tmp_path / "nope")
    _write(tmp_path, *frames)
    (tmp_path / "sta.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"sta\.parquet: missing"):
        load_yaib(tmp_path)
    (tmp_path / "sta.parquet").write_text("not parquet")
    with pytest.raises(CohortError, match="not a readable parquet file"):
        load_yaib(tmp_path)


def test_hourly_labels_keep_their_times(tmp_path, frames):
    dyn, sta, _ = frames
    outc = dyn[["stay_id", "time"]].assign(label=np.tile([0, 0, 1], 4).astype(bool))
    c = load_yaib(_write(tmp_path, dyn, sta, outc))
    assert c.hourly and c.kind == "binary" and c.outc["time"].tolist() == [0.0, 1.0, 2.0] * 4
