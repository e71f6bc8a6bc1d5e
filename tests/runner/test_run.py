"""Running suites: determinism, workers, failures, dependencies, resuming after a kill, Dask."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.runner.conftest import HERE, suite
from trustbench.runner.api import run_suite
from trustbench.runner.store import Store

VOLATILE = ["run_id", "seconds", "created_at"]
ROOT = Path(__file__).resolve().parents[2]


def stable(df):
    """Records without timings and ids, in a canonical order."""
    keys = ["cell_key", "perturbation", "severity", "metric"]
    return df.drop(columns=VOLATILE).sort_values(keys).reset_index(drop=True)


def test_runs_are_deterministic_and_resumable(fake, tmp_path):
    s = suite(seeds=[0, 1], methods=[f"{HERE}:Mean", {"name": f"{HERE}:LeastSquares", "params": {"jitter": 0.3}}])
    a = run_suite(s, db=tmp_path / "a.sqlite", progress=False)
    run_suite(s, db=tmp_path / "b.sqlite", progress=False)
    assert (a.n_cells, a.n_skipped, a.n_failed) == (6, 0, 0)
    ra, rb = Store(tmp_path / "a.sqlite").records(), Store(tmp_path / "b.sqlite").records()
    assert len(ra) == 6 * 2 * 3 - 2 * 2  # 6 cells × 2 sets × 3 metrics, no reference_w1 for the reference
    pd.testing.assert_frame_equal(stable(ra), stable(rb))
    assert set(ra.run_id) == {a.run_id} != set(rb.run_id)
    # seeds matter (the jittered least squares differs between seeds)
    ls = ra[(ra.method == f"{HERE}:LeastSquares(jitter=0.3)") & (ra.metric == "rmse")]
    assert ls.groupby("seed").value.first().nunique() == 2
    again = run_suite(s, db=tmp_path / "a.sqlite", progress=False)
    assert (again.n_skipped, again.n_run) == (6, 0)
    assert len(Store(tmp_path / "a.sqlite").records()) == len(ra)


def test_two_workers_give_the_same_records(fake, tmp_path):
    s = suite(seeds=[0, 1, 2])
    run_suite(s, db=tmp_path / "one.sqlite", progress=False)
    two = run_suite(s, db=tmp_path / "two.sqlite", workers=2, progress=False)
    assert two.n_failed == 0 and two.n_run == 9
    pd.testing.assert_frame_equal(stable(Store(tmp_path / "one.sqlite").records()),
                                  stable(Store(tmp_path / "two.sqlite").records()))


def test_failing_cells_are_recorded_and_retried(fake, tmp_path):
    flag = tmp_path / "flag"
    flag.touch()
    methods = [f"{HERE}:Mean", f"{HERE}:Broken", {"name": f"{HERE}:Flaky", "params": {"flag": str(flag)}}]
    s = suite(methods=methods)
    db = tmp_path / "f.sqlite"
    first = run_suite(s, db=db, progress=False)
    assert (first.n_cells, first.n_failed) == (4, 2)
    assert any("this method always fails" in f for f in first.failures)
    cells = Store(db).cells().set_index("method")
    assert cells.loc[f"{HERE}:Broken", "status"] == "error"
    assert "Traceback" in cells.loc[f"{HERE}:Broken", "error"] and "RuntimeError" in cells.loc[f"{HERE}:Broken", "error"]
    assert (cells.loc[["reference", f"{HERE}:Mean"], "status"] == "ok").all()
    assert set(Store(db).records().method) == {"reference", f"{HERE}:Mean"}
    flag.unlink()  # now Flaky succeeds: it is retried and replaces its error; Broken fails again
    second = run_suite(s, db=db, progress=False)
    assert (second.n_skipped, second.n_run, second.n_failed) == (2, 2, 1)
    cells = Store(db).cells().set_index("method")
    assert cells.loc[f"{HERE}:Flaky(flag={str(flag)!r})", "status"] == "ok"
    assert pd.isna(cells.loc[f"{HERE}:Flaky(flag={str(flag)!r})", "error"])


def test_a_dead_worker_fails_its_cells_not_the_run(fake, tmp_path):
    db = tmp_path / "dead.sqlite"
    summary = run_suite(suite(methods=[f"{HERE}:Dies", f"{HERE}:Mean"]), db=db, workers=2, progress=False)
    cells = Store(db).cells().set_index("method")
    assert len(cells) == summary.n_cells == 3 and cells.loc[f"{HERE}:Dies", "status"] == "error"
    assert summary.n_failed == (cells.status == "error").sum() >= 1
    again = run_suite(suite(methods=[f"{HERE}:Mean"]), db=db, progress=False)  # what the broken pool lost runs now
    assert again.n_failed == 0 and set(Store(db).status(again.cell_keys).values()) == {"ok"}


def test_dependents_of_a_failed_cell_fail_without_running(fake, tmp_path):
    s = suite(tasks=[{"name": f"{HERE}:Line", "params": {"slope": "steep"}}])
    summary = run_suite(s, db=tmp_path / "d.sqlite", progress=False)
    assert summary.n_failed == 3
    errors = Store(tmp_path / "d.sqlite").cells().set_index("method").error
    assert errors["reference"].startswith("Traceback") and "multiply" in errors["reference"]
    assert errors[f"{HERE}:Mean"].startswith("dependency ") and "failed" in errors[f"{HERE}:Mean"]


def test_dependency_payloads_come_from_the_store(fake, tmp_path):
    db = tmp_path / "p.sqlite"
    run_suite(suite(methods=[f"{HERE}:Mean"]), db=db, progress=False)
    more = run_suite(suite(), db=db, progress=False)  # the reference cell is stored: its payload is read back
    assert (more.n_skipped, more.n_run, more.n_failed) == (2, 1, 0)
    run_suite(suite(), db=tmp_path / "fresh.sqlite", progress=False)
    pd.testing.assert_frame_equal(stable(Store(db).records()), stable(Store(tmp_path / "fresh.sqlite").records()))


def test_benchmark_filter_and_progress_bar_without_a_tty(fake, tmp_path, capsys):
    s = suite()
    s["benchmarks"].append({**s["benchmarks"][0], "name": "other"})
    with pytest.raises(ValueError, match="unknown benchmark 'other'"):
        run_suite(s, db=tmp_path / "x.sqlite", progress=False)
    summary = run_suite(s, db=tmp_path / "x.sqlite", benchmarks="fake", progress=True)
    assert summary.n_cells == 3
    assert "3/3" in capsys.readouterr().err


def test_run_into_postgresql(fake, postgres_url):
    first = run_suite(suite(seeds=[0, 1]), db=postgres_url, workers=2, progress=False)
    again = run_suite(suite(seeds=[0, 1]), db=postgres_url, progress=False)
    assert (first.n_run, first.n_failed, again.n_skipped) == (6, 0, 6)
    assert len(Store(postgres_url).records()) == 6 * 2 * 3 - 2 * 2


def test_killed_run_resumes_without_duplicates(tmp_path):
    """SIGKILL a run after some cells are stored; the next run completes it, every row exactly once."""
    methods = [{"name": f"{HERE}:Sleepy", "params": {"seconds": 0.15}}, f"{HERE}:Mean"]
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite(seeds=list(range(8)), methods=methods)))
    db = tmp_path / "kill.sqlite"
    script = ("from tests.runner import fake_protocol as fp; fp.register(); "
              "from trustbench.runner.api import run_suite; "
              f"run_suite({str(path)!r}, db={str(db)!r}, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and Store(db).status() and len(Store(db).status()) >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    stored = Store(db).status()
    assert 4 <= len(stored) < 24
    from tests.runner import fake_protocol

    fake_protocol.register()
    try:
        summary = run_suite(path, db=db, progress=False)
    finally:
        from trustbench.registry import BENCHMARKS

        BENCHMARKS.unregister("fake")
    assert summary.n_cells == 24 and summary.n_skipped == len(stored) and summary.n_failed == 0
    df = Store(db).records()
    assert not df.duplicated(["cell_key", "perturbation", "severity", "metric"]).any()
    assert len(df) == 24 * 2 * 2 + 16 * 2  # rmse, mae on 2 sets for every cell, reference_w1 for the 16 method cells
    assert set(Store(db).status().values()) == {"ok"} and len(Store(db).status()) == 24


def _children(pid):
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_terminated_run_takes_its_workers_with_it(tmp_path):
    """SIGTERM (a scheduler's kill) ends `trustbench run` without cleanup; its workers must not compute on."""
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite(seeds=[0, 1], methods=[{"name": f"{HERE}:Sleepy", "params": {"seconds": 60}}])))
    script = ("from tests.runner import fake_protocol as fp; fp.register(); "
              "from trustbench.runner.api import run_suite; "
              f"run_suite({str(path)!r}, db={str(tmp_path / 'term.sqlite')!r}, workers=2, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [c for c in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
            time.sleep(0.1)
        assert len(workers) == 2, "the workers did not start"
        time.sleep(2)  # the workers are inside a cell now
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(map(_alive, workers)):
            time.sleep(0.1)
        assert not any(map(_alive, workers))
    finally:
        for pid in [proc.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.wait()


def test_dask_local_cluster_gives_the_same_records(fake, tmp_path):
    pytest.importorskip("distributed")
    s = suite(seeds=[0, 1])
    run_suite(s, db=tmp_path / "local.sqlite", progress=False)
    summary = run_suite(s, db=tmp_path / "dask.sqlite", scheduler="local", workers=2, progress=False)
    assert summary.n_failed == 0, summary.failures
    pd.testing.assert_frame_equal(stable(Store(tmp_path / "local.sqlite").records()),
                                  stable(Store(tmp_path / "dask.sqlite").records()))


def test_bad_runner_arguments_fail_before_work(fake, tmp_path):
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_suite(suite(), db=tmp_path / "w.sqlite", workers=0)
    with pytest.raises(TypeError, match="scheduler must be"):
        run_suite(suite(), db=tmp_path / "w.sqlite", scheduler=8786)
    assert not (tmp_path / "w.sqlite").exists()
