"""The results database (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

Tables (see ``docs/architecture.md``): ``runs``, ``cells``, ``records`` (unique per cell, method,
perturbation, severity and metric: one cell may report several methods, e.g. a model and each of
its explainers), ``artifacts`` (JSON per cell and name) and ``payloads``. A payload (what a
cell hands to the cells that depend on it) is stored as a pickle (protocol 5): read only databases
you trust, as with any pickle. JSON values are stored with NaN and ±inf replaced by null.

Every cell is written in one transaction keyed by its cell key: an interrupted run leaves whole
cells or nothing. A cell stored as ``ok`` is never written again; an ``error`` cell is replaced
when it is run again.
"""

from __future__ import annotations

import functools
import math
import pickle
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trustbench.runner.cells import RECORD_KEYS, Cell, CellResult

__all__ = ["Store", "DEFAULT_URL", "store_url"]

DEFAULT_URL = "sqlite:///results/trustbench.sqlite"
_CAST = {"severity": float, "seed": int, "value": float, "ci_low": float, "ci_high": float, "n": int}

_meta = sa.MetaData()
_runs = sa.Table(
    "runs", _meta,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("suite", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.String, nullable=False),
    sa.Column("config", sa.JSON),
)
_cells = sa.Table(
    "cells", _meta,
    sa.Column("cell_key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("suite", sa.String, nullable=False),
    sa.Column("benchmark", sa.String, nullable=False),
    sa.Column("task", sa.String, nullable=False),
    sa.Column("method", sa.String, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("seconds", sa.Float),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("config", sa.JSON),
)
_records = sa.Table(
    "records", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("cell_key", sa.String(64), nullable=False, index=True),
    sa.Column("suite", sa.String, nullable=False),
    sa.Column("benchmark", sa.String, nullable=False),
    sa.Column("task", sa.String, nullable=False),
    sa.Column("method", sa.String, nullable=False),
    sa.Column("perturbation", sa.String, nullable=False),
    sa.Column("severity", sa.Float, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("metric", sa.String, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("ci_low", sa.Float),
    sa.Column("ci_high", sa.Float),
    sa.Column("n", sa.Integer),
    sa.Column("seconds", sa.Float),
    sa.Column("version", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("cell_key", "method", "perturbation", "severity", "metric", name="uq_record"),
)
_artifacts = sa.Table(
    "artifacts", _meta,
    sa.Column("cell_key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.JSON),
)
_payloads = sa.Table(
    "payloads", _meta,
    sa.Column("cell_key", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
_PER_CELL = (_records, _artifacts, _payloads, _cells)


def store_url(db: str | Path | None = None, out: str | Path | None = None) -> str:
    """The database URL: ``db`` as given (a plain path means a SQLite file), else
    ``OUT/trustbench.sqlite`` (``out`` defaults to ``results``)."""
    if db is None:
        return f"sqlite:///{Path(out or 'results') / 'trustbench.sqlite'}"
    db = str(db)
    return db if "://" in db else f"sqlite:///{db}"


def _jsonable(obj: Any) -> Any:
    """Plain JSON: numpy scalars and arrays to Python, NaN and ±inf to None."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's protocol keys as plain Python values (numpy scalars are not every driver's friends)."""
    return {k: None if record[k] is None else _CAST.get(k, str)(record[k]) for k in RECORD_KEYS}


def _now() -> datetime:
    return datetime.now(timezone.utc)


_RECORD_UNIQUE = ["cell_key", "method", "perturbation", "severity", "metric"]


def _upgrade_records(engine: sa.Engine) -> None:
    """Older databases made records unique per (cell_key, perturbation, severity, metric), one method
    per cell; widen the constraint to include ``method`` (several per cell), keeping every row."""
    constraints = sa.inspect(engine).get_unique_constraints("records")
    if any(c["column_names"] == _RECORD_UNIQUE for c in constraints) or not constraints:
        return
    columns = ", ".join(c.name for c in _records.columns)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":  # SQLite cannot alter a constraint: rebuild the table
            conn.exec_driver_sql("ALTER TABLE records RENAME TO records_before_upgrade")
            for index in sa.inspect(conn).get_indexes("records_before_upgrade"):
                conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index["name"]}"')
            _records.create(conn)
            conn.exec_driver_sql(f"INSERT INTO records ({columns}) SELECT {columns} FROM records_before_upgrade")
            conn.exec_driver_sql("DROP TABLE records_before_upgrade")
        else:
            for c in constraints:
                conn.exec_driver_sql(f'ALTER TABLE records DROP CONSTRAINT "{c["name"]}"')
            conn.exec_driver_sql(f"ALTER TABLE records ADD CONSTRAINT uq_record UNIQUE ({', '.join(_RECORD_UNIQUE)})")


def _create_tables(engine: sa.Engine, attempts: int = 5) -> None:
    """Create the tables that are missing (and widen an old records constraint). Two processes
    opening a new database at once (a run and a report, two workers' drivers) can both see a table
    missing; the loser's CREATE fails, and a second look finds the table there."""
    for attempt in range(attempts):
        try:
            _meta.create_all(engine)
            _upgrade_records(engine)
            return
        except sa.exc.DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


class Store:
    """The results database at ``url`` (``sqlite:///path``, ``postgresql+psycopg://...``, a plain
    SQLite file path, or ``sqlite://`` for an in-memory database). Tables are created on first use.

    Parameters
    ----------
    url : database URL; None means ``sqlite:///results/trustbench.sqlite``.
    """

    def __init__(self, url: str | Path | None = None) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @functools.cached_property
    def engine(self) -> sa.Engine:
        url = sa.make_url(store_url(self.url))
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:"):
                kwargs = {"poolclass": sa.StaticPool, "connect_args": {"check_same_thread": False}}
            else:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                kwargs = {"connect_args": {"timeout": 60}}
        engine = sa.create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        _create_tables(engine)
        return engine

    # ---------------------------------------------------------------------------- writing

    def start_run(self, run_id: str, suite: str, config: Mapping[str, Any]) -> None:
        """Register a run (its suite configuration is kept as JSON)."""
        from trustbench import __version__

        with self.engine.begin() as conn:
            conn.execute(sa.insert(_runs), {"run_id": run_id, "suite": suite, "created_at": _now(),
                                            "version": __version__, "config": _jsonable(config)})

    def write(self, cell: Cell, result: CellResult, run_id: str) -> bool:
        """Store one cell (status, records, artifacts, payload) in one transaction.

        Returns False, writing nothing, when the cell is already stored as ``ok``; an ``error``
        cell is replaced.
        """
        from trustbench import __version__

        key, now = cell.key, _now()
        common = {"run_id": run_id, "cell_key": key, "suite": cell.suite}
        try:
            with self.engine.begin() as conn:
                status = conn.execute(sa.select(_cells.c.status).where(_cells.c.cell_key == key)).scalar()
                if status == "ok":
                    return False
                for table in _PER_CELL:
                    conn.execute(sa.delete(table).where(table.c.cell_key == key))
                conn.execute(sa.insert(_cells), {
                    **common, "benchmark": cell.benchmark, "task": cell.task_name, "method": cell.method.label(),
                    "seed": int(cell.seed), "status": "ok" if result.ok else "error", "error": result.error,
                    "seconds": float(result.seconds), "created_at": now, "config": _jsonable(cell.config())})
                if not result.ok:
                    return True
                if result.records:
                    conn.execute(sa.insert(_records), [
                        {**common, **_row(r), "seconds": float(result.seconds),
                         "version": __version__, "created_at": now} for r in result.records])
                if result.artifacts:
                    conn.execute(sa.insert(_artifacts), [
                        {"cell_key": key, "name": name, "value": _jsonable(value)}
                        for name, value in result.artifacts.items()])
                if result.payload is not None:
                    conn.execute(sa.insert(_payloads), {"cell_key": key, "data": pickle.dumps(result.payload, 5)})
        except sa.exc.IntegrityError:  # another driver stored this cell at the same moment
            return False
        return True

    # ---------------------------------------------------------------------------- reading

    def status(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """cell key -> ``"ok"`` or ``"error"`` for stored cells (all, or those among ``keys``)."""
        query = sa.select(_cells.c.cell_key, _cells.c.status)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        wanted = None if keys is None else set(keys)
        return {k: s for k, s in rows if wanted is None or k in wanted}

    def payload(self, key: str) -> Any:
        """The payload of an ``ok`` cell (None if it has none); KeyError if the cell is not stored as ok."""
        with self.engine.connect() as conn:
            status = conn.execute(sa.select(_cells.c.status).where(_cells.c.cell_key == key)).scalar()
            if status != "ok":
                raise KeyError(f"cell {key} is not stored as ok (status: {status}).")
            data = conn.execute(sa.select(_payloads.c.data).where(_payloads.c.cell_key == key)).scalar()
        return None if data is None else pickle.loads(data)

    def _frame(self, query: sa.Select):
        import pandas as pd

        with self.engine.connect() as conn:
            df = pd.read_sql(query, conn)
        if "created_at" in df:
            df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
        return df

    def records(self, suite: str | None = None, cell_keys: Iterable[str] | None = None):
        """Result rows as a pandas DataFrame (optionally of one suite, or of some cells), in write order."""
        query = sa.select(*[c for c in _records.c if c.name != "id"]).order_by(_records.c.id)
        if suite is not None:
            query = query.where(_records.c.suite == suite)
        if cell_keys is not None:
            query = query.where(_records.c.cell_key.in_(list(cell_keys)))
        df = self._frame(query)
        floats = ["severity", "value", "ci_low", "ci_high", "seconds"]
        df[floats] = df[floats].astype(float)  # SQLite stores NaN as NULL
        return df

    def cells(self):
        """One row per stored cell: key, run, benchmark, task, method, seed, status, error, seconds, config."""
        return self._frame(sa.select(_cells).order_by(_cells.c.created_at, _cells.c.cell_key))

    def runs(self):
        """One row per run: id, suite, time, version and the suite configuration."""
        return self._frame(sa.select(_runs).order_by(_runs.c.created_at))

    def artifacts(self, names: Iterable[str] | None = None):
        """Report artifacts: DataFrame[cell_key, benchmark, task, method, seed, name, value (dict)]."""
        query = (sa.select(_artifacts.c.cell_key, _cells.c.benchmark, _cells.c.task, _cells.c.method,
                           _cells.c.seed, _artifacts.c.name, _artifacts.c.value)
                 .join(_cells, _cells.c.cell_key == _artifacts.c.cell_key)
                 .order_by(_artifacts.c.cell_key, _artifacts.c.name))
        if names is not None:
            query = query.where(_artifacts.c.name.in_(list(names)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        import pandas as pd

        columns = ["cell_key", "benchmark", "task", "method", "seed", "name", "value"]
        return pd.DataFrame([dict(r) for r in rows], columns=columns)

    def export(self, path: str | Path, format: str = "csv") -> Path:
        """Write every record to ``path`` as CSV or Parquet; returns the path."""
        from trustbench.validation import check_choice

        check_choice(format, "format", ("csv", "parquet"))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        df = self.records()
        if format == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        return path


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
