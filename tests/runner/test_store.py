"""The store, on SQLite always and on PostgreSQL when TRUSTBENCH_TEST_POSTGRES_URL is set."""

import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from trustbench.runner.cells import Cell, CellResult, Spec
from trustbench.runner.store import Store, store_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        return Store(tmp_path / "store.sqlite")
    return Store(request.getfixturevalue("postgres_url"))


def make_cell(method="m", seed=0, suite="s"):
    return Cell(suite, "b", "predictive", Spec("t"), Spec(method, {"w": 1}), seed=seed)


def make_result(cell, metrics=("rmse", "crps"), payload=None):
    records = [{"benchmark": "b", "task": "t", "method": cell.method.label(), "perturbation": p, "severity": sev,
                "seed": cell.seed, "metric": m, "value": np.float64(i + 0.5), "ci_low": 0.1, "ci_high": float("nan"),
                "n": np.int64(50)}
               for i, (p, sev, m) in enumerate((p, s, m) for p, s in (("none", 0.0), ("noise", 0.3)) for m in metrics)]
    return CellResult(cell.key, records=records, artifacts={"pit": {"hist": np.arange(3), "bad": np.nan}},
                      payload=payload, seconds=1.25)


def test_write_read_skip_and_replace(store):
    ok, bad = make_cell(seed=0), make_cell(seed=1)
    store.start_run("r1", "s", {"name": "s", "x": float("inf")})
    assert store.write(ok, make_result(ok, payload={"a": np.arange(4)}), "r1")
    assert store.write(bad, CellResult(bad.key, error="Traceback ...\nRuntimeError: boom", seconds=0.5), "r1")
    assert store.status() == {ok.key: "ok", bad.key: "error"}

    df = store.records()
    assert len(df) == 4 and set(df.cell_key) == {ok.key}
    assert {"run_id", "suite", "cell_key", "seconds", "version", "created_at"} <= set(df.columns)
    assert "id" not in df.columns
    row = df.iloc[0]
    assert row.run_id == "r1" and row.seconds == 1.25 and row.n == 50 and math.isnan(row.ci_high)
    assert str(df.created_at.dt.tz) == "UTC"

    # an ok cell is never written again; an error cell is replaced when it succeeds
    assert not store.write(ok, make_result(ok, metrics=("mae",)), "r2")
    assert store.write(bad, make_result(bad), "r2")
    cells = store.cells().set_index("cell_key")
    assert (cells.status == "ok").all() and cells.loc[bad.key, "run_id"] == "r2"
    assert cells.loc[bad.key, "error"] is None and cells.loc[ok.key, "config"]["method"] == {"name": "m", "params": {"w": 1}}
    df = store.records()
    assert len(df) == 8 and not df.duplicated(["cell_key", "perturbation", "severity", "metric"]).any()
    assert set(store.records(suite="s").cell_key) == {ok.key, bad.key} and store.records(suite="other").empty
    assert len(store.records(cell_keys=[bad.key])) == 4
    assert store.runs().run_id.tolist() == ["r1"] and store.runs().config[0]["x"] is None


def test_artifacts_and_payloads(store):
    a, b = make_cell("m1"), make_cell("m2")
    store.write(a, make_result(a, payload={"none/0": np.linspace(0, 1, 5)}), "r")
    store.write(b, make_result(b), "r")
    art = store.artifacts()
    assert list(art.columns) == ["cell_key", "benchmark", "task", "method", "seed", "name", "value"]
    assert len(art) == 2 and art.value[0] == {"hist": [0, 1, 2], "bad": None}  # JSON: NaN -> null
    assert set(art.method) == {"m1(w=1)", "m2(w=1)"}
    assert store.artifacts(names=["nope"]).empty
    np.testing.assert_array_equal(store.payload(a.key)["none/0"], np.linspace(0, 1, 5))
    assert store.payload(b.key) is None
    with pytest.raises(KeyError, match="not stored as ok"):
        store.payload("0" * 32)


def test_unique_record_constraint(store):
    cell = make_cell()
    store.write(cell, make_result(cell), "r")
    row = store.records().iloc[0].to_dict()
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO records (run_id, cell_key, suite, benchmark, task, method, perturbation, "
                                 "severity, seed, metric, version, created_at) VALUES (:run_id, :cell_key, :suite, "
                                 ":benchmark, :task, :method, :perturbation, :severity, :seed, :metric, :version, "
                                 ":created_at)"), {**row, "created_at": row["created_at"].to_pydatetime()})
    dup = make_result(cell)
    dup.records.append(dict(dup.records[0]))
    with pytest.raises(ValueError, match="two records"):
        dup.check()


def test_one_cell_may_report_several_methods(store):
    cell = make_cell()
    result = make_result(cell)
    result.records += [{**r, "method": "m/explainer"} for r in result.records]
    result.check()
    assert store.write(cell, result, "r")
    assert len(store.records()) == 8 and set(store.records().method) == {"m(w=1)", "m/explainer"}


def test_old_unique_constraint_is_widened_keeping_rows(store):
    """A database made when records were unique per (cell, perturbation, severity, metric) opens,
    keeps its rows, and then takes several methods per cell."""
    old = sa.MetaData()
    from trustbench.runner import store as store_module

    sa.Table("records", old, *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                      for c in store_module._records.columns],
             sa.UniqueConstraint("cell_key", "perturbation", "severity", "metric", name="uq_record"))
    engine = sa.create_engine(store_url(store.url))
    old.create_all(engine)
    cell = make_cell()
    with engine.begin() as conn:
        rows = [{**store_module._row(r), "run_id": "r0", "cell_key": cell.key, "suite": "s", "seconds": 1.0,
                 "version": "0", "created_at": store_module._now()} for r in make_result(cell).records]
        conn.execute(sa.insert(store_module._records), rows)
    engine.dispose()

    assert len(store.records()) == 4  # opening upgrades the table and keeps every row
    constraints = sa.inspect(store.engine).get_unique_constraints("records")
    assert [c["column_names"] for c in constraints] == [store_module._RECORD_UNIQUE]
    result = make_result(cell)
    result.records += [{**r, "method": "m/explainer"} for r in result.records]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(store_module._records), [
            {**store_module._row(r), "run_id": "r1", "cell_key": cell.key, "suite": "s", "seconds": 1.0,
             "version": "0", "created_at": store_module._now()} for r in result.records[4:]])
    assert len(store.records()) == 8
    assert len(Store(store.url).records()) == 8  # a second open changes nothing


def test_export_csv_and_parquet(store, tmp_path):
    cell = make_cell()
    store.write(cell, make_result(cell), "r")
    df = store.records()
    csv = pd.read_csv(store.export(tmp_path / "out" / "r.csv"))
    assert len(csv) == len(df) and csv.value.tolist() == df.value.tolist()
    pq = pd.read_parquet(store.export(tmp_path / "r.parquet", format="parquet"))
    pd.testing.assert_frame_equal(pq.drop(columns="created_at"), df.drop(columns="created_at"))
    with pytest.raises(ValueError, match="format must be one of"):
        store.export(tmp_path / "r.xlsx", format="xlsx")


def test_sqlite_defaults_wal_and_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store()
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 60000
    assert (tmp_path / "results" / "trustbench.sqlite").exists()
    assert store_url(None, "out") == "sqlite:///out/trustbench.sqlite"
    assert store_url("x/y.sqlite") == "sqlite:///x/y.sqlite"
    assert store_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    memory = Store("sqlite://")
    cell = make_cell()
    memory.write(cell, make_result(cell), "r")
    assert len(memory.records()) == 4


def _open_and_read(path):
    return len(Store(path).status())


def test_processes_opening_a_new_database_at_once(tmp_path):
    """Creating the tables races when several processes open a new file together; none may fail."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        for i in range(3):
            assert pool.map(_open_and_read, [str(tmp_path / f"race{i}.sqlite")] * 8) == [0] * 8
