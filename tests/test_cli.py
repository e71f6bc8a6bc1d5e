"""The trustbench command, through typer's CliRunner (and a fresh interpreter for import costs)."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.runner import fake_protocol
from tests.runner.conftest import HERE, suite
from trustbench.cli import app
from trustbench.registry import BENCHMARKS
from trustbench.runner.store import Store

HEAVY = ("torch", "jax", "pandas", "sqlalchemy", "matplotlib", "scipy.stats")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake():
    fake_protocol.register()
    yield
    BENCHMARKS.unregister("fake")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write(tmp_path, **kw):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite(**kw)))
    return path


def test_help_reads_well():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("list", "run", "evaluate", "report", "export"):
        assert command in result.output
    for command in ("list", "run", "evaluate", "report", "export"):
        sub = invoke(command, "--help")
        assert sub.exit_code == 0 and "Usage" in sub.output, sub.output
    assert "--workers" in invoke("run", "--help").output
    assert invoke().exit_code in (0, 2)  # no command: the help


def test_list(fake):
    result = invoke("list", "methods")
    assert result.exit_code == 0 and "deep_ensemble" in result.output
    result = invoke("list", "benchmarks")
    assert "fake" in result.output and "Does the runner work?" in result.output
    result = invoke("list", "perturbations")
    assert "gaussian_noise" in result.output and "Additive Gaussian measurement noise" in result.output
    result = invoke("list", "method")
    assert result.exit_code == 2 and "method" in result.output


@pytest.fixture
def reports(monkeypatch):
    """Stand-in for the report writer (tested with the report): records its calls."""
    calls = []

    def fake_writer(db, out):
        calls.append((db, Path(out)))
        return Path(out) / "report" / "index.html"

    monkeypatch.setattr("trustbench.report.write_report", fake_writer)
    return calls


def test_run_report_and_export(fake, tmp_path, reports, monkeypatch):
    path, db, out = write(tmp_path, seeds=[0, 1]), tmp_path / "r.sqlite", tmp_path / "out"
    result = invoke("run", path, "--db", db, "--out", out, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "6 cell(s) run, 0 already stored, 0 failed" in result.output
    assert reports == [(f"sqlite:///{db}", out)] and f"report: {out / 'report' / 'index.html'}" in result.output
    again = invoke("run", path, "--db", db, "--out", out, "--no-progress")
    assert again.exit_code == 0 and "0 cell(s) run, 6 already stored" in again.output
    n = len(Store(db).records())
    for fmt in ("csv", "parquet"):
        target = tmp_path / f"x.{fmt}"
        result = invoke("export", "--format", fmt, "--db", db, "--out", target)
        assert result.exit_code == 0, result.output
        df = pd.read_csv(target) if fmt == "csv" else pd.read_parquet(target)
        assert len(df) == n and {"metric", "value", "ci_low", "ci_high"} <= set(df.columns)
    assert invoke("report", "--db", db, "--out", out).exit_code == 0
    assert reports[-1] == (f"sqlite:///{db}", out)


def test_default_database_lives_in_out(fake, tmp_path, reports):
    out = tmp_path / "res"
    assert invoke("run", write(tmp_path), "--out", out).exit_code == 0
    assert (out / "trustbench.sqlite").exists() and reports == [(f"sqlite:///{out / 'trustbench.sqlite'}", out)]
    assert invoke("report", "--out", out).exit_code == 0 and len(reports) == 2


def test_run_with_a_failing_cell_exits_1(fake, tmp_path, reports):
    path = write(tmp_path, methods=[f"{HERE}:Mean", f"{HERE}:Broken"])
    result = invoke("run", path, "--db", tmp_path / "f.sqlite", "--out", tmp_path)
    assert result.exit_code == 1
    assert "failed: fake /" in result.output and "this method always fails" in result.output


@pytest.mark.parametrize("args, message", [
    (["run", "SUITE", "--db", "DB"], "suite.yaml: benchmarks[0].methods[1]: unknown method 'deep_ensembel'. "
                                     "Did you mean 'deep_ensemble'?"),
    (["run", "quik"], "suite 'quik' not found"),
    (["run", "SUITE", "--db", "DB", "--benchmark", "fak"], "benchmark 'fak' is not in suite 's'. Did you mean 'fake'?"),
    (["evaluate", "--task", f"{HERE}:Line", "--method", "mean", "--db", "DB"], "unknown method 'mean'"),
    (["evaluate", "--task", f"{HERE}:Line", "--method", f"{HERE}:Mean", "--param", "n"],
     "--param must look like KEY=VALUE; got 'n'."),
    (["evaluate", "--task", f"{HERE}:Line", "--method", f"{HERE}:Mean", "--param", "n=2"],
     "benchmarks[0].tasks[0]: n must be >= 4; got 2."),
    (["export", "--db", "MISSING"], "no database at"),
    (["report", "--db", "MISSING"], "no database at"),
])
def test_bad_input_is_one_red_line_and_exit_2(fake, tmp_path, args, message):
    path = write(tmp_path, methods=[f"{HERE}:Mean", "deep_ensembel"])
    subs = {"SUITE": path, "DB": tmp_path / "bad.sqlite", "MISSING": tmp_path / "missing.sqlite"}
    result = invoke(*[subs.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "bad.sqlite").exists()


def test_evaluate_prints_a_table_and_stores(fake, tmp_path):
    db = tmp_path / "e.sqlite"
    result = invoke("evaluate", "--task", f"{HERE}:Line", "--param", "n=30", "--param", "slope=-1.5",
                    "--method", f"{HERE}:LeastSquares", "--method-param", "jitter=0.1", "--seed", 0, "--seed", 3,
                    "--metric", "rmse", "--metric", "mae", "--n-boot", 20, "--db", db)
    assert result.exit_code == 0, result.output
    assert "rmse" in result.output and "LeastSquares(jitter=0.1)" in result.output
    df = Store(db).records()
    assert set(df.seed) == {0, 3} and set(df.n) == {30} and set(df.metric) == {"rmse", "mae"}
    config = Store(db).cells().config.iloc[0]
    assert config["task"]["params"] == {"n": 30, "slope": -1.5}  # values read as YAML scalars


def _modules_after(code):
    script = code + f"\nimport sys\nprint('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("HEAVY=")][0].removeprefix("HEAVY=")


def test_import_and_listing_load_nothing_heavy():
    assert _modules_after("import trustbench") == ""
    listing = ("import sys\nsys.argv = ['trustbench', 'list', 'methods']\nfrom trustbench.cli import main\n"
               "try:\n    main()\nexcept SystemExit:\n    pass")
    assert _modules_after(listing) == ""
