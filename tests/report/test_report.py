"""The HTML report, built from synthetic store frames (tests/report/synthetic.py)."""

from __future__ import annotations

import re
import time
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from tests.report.pageparse import Page
from tests.report.synthetic import METRIC_SPECS, make_frames
from trustbench.registry import BENCHMARKS
from trustbench.report import build_report, write_report
from trustbench.report.html import KEY_METRICS, MetricInfo, fmt, metric_info
from trustbench.runner.api import run_suite
from trustbench.runner.store import Store
from trustbench.types import Benchmark

METHODS = ("reference", "gp", "mc_dropout", "mlp", "nuts")
TASKS = ["regression/sine", "regression/gap"]
QUESTION = "Which UQ method's predictive is closest to the Bayesian reference?"
META = {"regression": SimpleNamespace(question=QUESTION, description="Synthetic 1-D regression tasks.")}
TRACEBACK = "Traceback (most recent call last):\n  File \"cell.py\", line 3, in run\nRuntimeError: NaN loss at epoch 12"


@pytest.fixture(scope="module")
def frames():
    return make_frames({"regression": TASKS}, methods=METHODS, seeds=(0, 1),
                       failures=[("regression", "regression/gap", "mlp", 1, TRACEBACK)])


@pytest.fixture(scope="module")
def html(frames):
    return build_report(*frames, META, metrics_meta=METRIC_SPECS)


@pytest.fixture(scope="module")
def page(html):
    return Page(html)


def clean_means(records, task):
    rows = records[(records["task"] == task) & (records["perturbation"] == "none")]
    return rows.groupby(["method", "metric"])[["value", "ci_low", "ci_high"]].mean()


# ---------------------------------------------------------------------------------------------
# formatting and metric metadata
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x, text", [
    (0.123456, "0.123"), (12.345, "12.3"), (1.0, "1.00"), (0.9996, "1.00"), (-0.012345, "-0.0123"),
    (1234.5, "1230"), (0.000123456, "1.23e-04"), (2.5e7, "2.50e+07"), (0.0, "0"),
    (float("nan"), "–"), (None, "–"), ("abc", "–"), (float("inf"), "∞"),
])
def test_fmt_three_significant_digits(x, text):
    assert fmt(x) == text


def test_metric_info_direction_and_best():
    values = np.array([0.3, 0.1, np.nan, 0.1, 0.95])
    lower = MetricInfo("crps", higher_is_better=False)
    assert lower.direction == "↓" and lower.best(values).tolist() == [False, True, False, True, False]
    higher = MetricInfo("acc", higher_is_better=True)
    assert higher.direction == "↑" and higher.best(values).tolist() == [False, False, False, False, True]
    ideal = MetricInfo("coverage_90", ideal=0.9)
    assert ideal.direction == "ideal 0.9" and ideal.best(values).tolist() == [False] * 4 + [True]
    unknown = MetricInfo("mystery")
    assert unknown.direction == "" and not unknown.best(values).any()
    assert not lower.best([np.nan, np.nan]).any()


def test_metric_info_from_mapping_and_unknown_name():
    info = metric_info("coverage_90", METRIC_SPECS["coverage_90"])
    assert (info.higher_is_better, info.ideal) == (None, 0.9)
    assert info.description == "coverage of the 90% interval"
    assert metric_info("surely_not_a_registered_metric") == MetricInfo("surely_not_a_registered_metric")


# ---------------------------------------------------------------------------------------------
# content
# ---------------------------------------------------------------------------------------------


def test_sections_toc_and_anchors(page, html):
    assert "regression" in page.headings and escape(QUESTION) in html
    for task in TASKS:
        assert task in page.headings
    for heading in ("Reference gap", "Leaderboard (clean data)", "PIT histograms", "Coverage",
                    "Predictive bands", "crps vs severity", "coverage_90 vs severity", "GUM view",
                    "MCMC diagnostics", "Failed cells (1)"):
        assert heading in page.headings, heading
    anchors = [h[1:] for h in page.links if h.startswith("#")]
    assert len(anchors) == 1 + 1 + len(TASKS) + 1  # benchmark, gap, tasks, failed cells
    assert set(anchors) <= set(page.ids)
    assert len(page.ids) == len(set(page.ids)), "duplicate ids on the page"
    # 4 figures of the gap (2 metrics), per task: PIT, coverage, bands, 2 severity metrics
    assert page.figures == 2 + len(TASKS) * 5


def test_run_metadata(html, frames):
    cells = frames[1]
    for text in ("quick", "run-2024a", "0.1.0", "2024-05-01"):
        assert text in html
    assert f"<dt>cells ok</dt><dd>{(cells.status == 'ok').sum()}</dd>" in html
    assert "<dt>cells failed</dt><dd>1</dd>" in html
    assert f"<dt>total time</dt><dd>{fmt(cells.seconds.sum())} s</dd>" in html


def test_leaderboard_numbers_and_best(page, frames):
    records = frames[0]
    for task in TASKS:
        table = page.table(page.section_id(task), "Leaderboard")
        means = clean_means(records, task)
        methods = set(records.loc[records.task == task, "method"])
        assert set(table["rows"]) == methods
        for (method, metric), row in means.iterrows():
            if metric not in KEY_METRICS:  # in the folded table of the other metrics
                assert metric not in table["rows"][method]["cells"]
                continue
            text, cls = table["rows"][method]["cells"][metric]
            assert text.startswith(fmt(row.value)), (task, method, metric, text)
            assert text.endswith(f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}]")
        # best method under test, recomputed here: lowest crps, coverage closest to 0.9
        tested = means.drop(index="reference", level="method")
        best_crps = tested.xs("crps", level="metric")["value"].idxmin()
        best_cov = (tested.xs("coverage_90", level="metric")["value"] - 0.9).abs().idxmin()
        for metric, best in (("crps", best_crps), ("coverage_90", best_cov)):
            marked = [m for m, r in table["rows"].items() if "best" in r["cells"][metric][1]]
            assert marked == [best], (task, metric, marked)
            assert "★" in table["rows"][best]["cells"][metric][0]
        assert "ref" in table["rows"]["reference"]["cls"]
        assert not any("best" in c[1] for c in table["rows"]["reference"]["cells"].values())
        assert table["columns"][:4] == ["method", "crps↓", "nll↓", "rmse↓"]
        assert any(c.startswith("coverage_") and c.endswith("ideal 0.9") for c in table["columns"])


def test_rows_sorted_by_primary_metric_reference_first(page, frames):
    task = TASKS[0]
    table = page.table(page.section_id(task), "Leaderboard")
    crps = clean_means(frames[0], task).xs("crps", level="metric")["value"].drop("reference")
    assert list(table["rows"]) == ["reference", *crps.sort_values().index]


def test_reference_gap_table(page, frames):
    records = frames[0]
    bench = page.section_id("regression")
    table = page.table(bench, "reference_w1")
    gap = records[(records.metric == "reference_w1") & (records.perturbation == "none")]
    means = gap.groupby(["method", "task"])["value"].mean()
    assert "reference" not in table["rows"]
    for (method, task), value in means.drop(index="reference", level="method").items():
        assert table["rows"][method]["cells"][task][0].startswith(fmt(value))
    for task in TASKS:
        closest = means.drop(index="reference", level="method").xs(task, level="task").idxmin()
        assert "best" in table["rows"][closest]["cells"][task][1]


def test_gum_and_diagnostics_tables(page, frames):
    artifacts = frames[2]
    sec = page.section_id(TASKS[0])
    gum = next(t for t in page.tables if t["section"] == sec and t["cls"] == "gum")
    first = artifacts[(artifacts.task == TASKS[0]) & (artifacts.name == "gum") & (artifacts.method == "gp")
                      & (artifacts.seed == 0)].value.iloc[0]["rows"][0]
    assert f"x = {fmt(first['x'][0])}" in gum["columns"][2]
    diag = next(t for t in page.tables if t["section"] == sec and t["cls"] == "diagnostics")
    assert diag["columns"] == ["method", "seed", "rhat_max", "ess_bulk_min", "divergences"]


def test_gum_cell_content(html, frames):
    artifacts = frames[2]
    row = artifacts[(artifacts.task == TASKS[0]) & (artifacts.name == "gum") & (artifacts.method == "gp")
                    & (artifacts.seed == 0)].value.iloc[0]["rows"][2]
    assert f"{fmt(row['estimate'])} ± {fmt(row['U'])}" in html
    assert f"u {fmt(row['u'])} · [{fmt(row['low'])}, {fmt(row['high'])}]" in html


def test_diagnostics_flags(frames):
    records, cells, artifacts = frames
    artifacts = artifacts.copy()
    bad = (artifacts.name == "diagnostics") & (artifacts.seed == 1) & (artifacts.task == TASKS[0])
    artifacts.loc[bad, "value"] = [{"rhat_max": 1.034, "ess_bulk_min": 120.0, "divergences": 3.0}]
    html = build_report(records, cells, artifacts, META, metrics_meta=METRIC_SPECS)
    flagged = re.findall(r'<td class="flag"[^>]*>([^<]*)</td>', html)
    assert flagged == ["1.034 ⚠", "120 ⚠", "3.00 ⚠"]
    assert "1.002" in html  # the good chain shows R-hat to three decimals, unflagged


def test_failed_cells(html, page):
    assert '<details class="fail">' in html
    assert "RuntimeError: NaN loss at epoch 12</code>" in html  # headline: the traceback's last line
    assert "Traceback (most recent call last):" in html
    assert "cells failed" in html


def test_long_error_is_clipped(frames):
    records, cells, artifacts = frames
    cells = cells.copy()
    lines = [f"line {i}" for i in range(200)]
    cells.loc[cells.index[0], ["status", "error"]] = ["error", "\n".join(lines)]
    html = build_report(records, cells, artifacts, META, metrics_meta=METRIC_SPECS)
    assert "line 0" in html and "line 199" in html and "lines omitted" in html
    assert "line 100\n" not in html


# ---------------------------------------------------------------------------------------------
# robustness
# ---------------------------------------------------------------------------------------------


HOSTILE = "<script>alert(1)</script>"


def test_hostile_strings_are_escaped():
    failures = [("regression", '"><img src=x onerror=alert(2)>', HOSTILE, 0,
                 "ValueError: </pre></details><script>alert(3)</script>")]
    records, cells, artifacts = make_frames(
        {"regression": ['"><img src=x onerror=alert(2)>']}, methods=("reference", HOSTILE, "a$\\frac{b$"),
        seeds=(0,), failures=failures)
    meta = {"regression": {"question": "<b>bold?</b>", "description": "<iframe src=//x>"}}
    html = build_report(records, cells, artifacts, meta, metrics_meta=METRIC_SPECS)
    lowered = html.lower()
    for raw in ("<script", "<img", "<iframe", "<b>bold", "onerror=alert(2)>"):
        assert raw not in lowered, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # table cells, legend, failed cells
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "alert(3)" in html and "</pre></details><script>" not in html
    assert Counter(re.findall(r"<svg", html))["<svg"] >= 4  # figures drawn despite the names


def test_missing_artifacts_and_metric_metadata(frames):
    records, cells, artifacts = frames
    records = pd.concat([records, records[records.metric == "crps"].assign(metric="my_score")])
    html = build_report(records, cells, artifacts.iloc[0:0], None)
    page = Page(html)
    assert "PIT histograms" not in page.headings and "GUM view" not in page.headings
    assert "MCMC diagnostics" not in page.headings and "Predictive bands" not in page.headings
    assert "crps vs severity" in page.headings  # from records, not artifacts
    assert "Leaderboard (clean data)" in page.headings
    other = page.table(page.section_id(TASKS[0]), "Leaderboard")
    assert other["columns"]  # still a leaderboard, directions from the registry or none
    assert "my_score" in html  # an unknown metric is listed among the other metrics
    assert escape(QUESTION) not in html  # no benchmark metadata given


def test_undefined_metric_values_show_a_dash(frames):
    records, cells, artifacts = frames
    records = records.copy()
    undefined = (records.metric == "crps") & (records.method == "nuts")  # e.g. a method without a density
    records.loc[undefined, ["value", "ci_low", "ci_high"]] = np.nan
    page = Page(build_report(records, cells, artifacts, META, metrics_meta=METRIC_SPECS))
    table = page.table(page.section_id(TASKS[0]), "Leaderboard")
    assert table["rows"]["nuts"]["cells"]["crps"] == ("–", "na")
    assert sum("best" in r["cells"]["crps"][1] for r in table["rows"].values()) == 1
    assert list(table["rows"])[-1] == "nuts"  # unranked rows go last


def test_bands_without_reference_or_data(frames):
    records, cells, artifacts = frames
    keep = ~((artifacts.method == "reference") | (artifacts.name == "data"))
    html = build_report(records, cells, artifacts[keep], META, metrics_meta=METRIC_SPECS)
    assert "Predictive bands" in Page(html).headings


def test_empty_benchmark_and_empty_store(frames):
    records, cells, artifacts = frames
    extra = pd.DataFrame([{"cell_key": "k", "benchmark": "icu", "task": "icu/mortality", "method": "lgbm",
                           "seed": 0, "status": "error", "error": "ImportError: no module", "seconds": 0.1}])
    html = build_report(records, pd.concat([cells, extra]), artifacts, META, metrics_meta=METRIC_SPECS)
    page = Page(html)
    assert "icu" in page.headings and "No results recorded for this benchmark." in html
    assert "ImportError: no module" in html
    empty = build_report(records.iloc[0:0], cells.iloc[0:0], artifacts.iloc[0:0])
    assert "No results in this database yet." in empty and "<svg" not in empty


def test_bad_frames_are_rejected(frames):
    records, cells, artifacts = frames
    with pytest.raises(ValueError, match=r"records is missing column\(s\) \['ci_low'\]"):
        build_report(records.drop(columns="ci_low"), cells, artifacts)
    with pytest.raises(TypeError, match="cells must be a pandas DataFrame; got list"):
        build_report(records, [], artifacts)


def test_page_is_deterministic_self_contained_and_light(html, frames):
    assert build_report(*frames, META, metrics_meta=METRIC_SPECS) == html
    assert not re.search(r"<(script|link|img|iframe)\b", html, re.I)
    assert not re.search(r"(src|href)=\"(?!#)", html)  # every link is an in-page anchor
    urls = re.findall(r"url\(([^)]*)\)", html)  # clip paths of the SVGs, all inside the page
    assert urls and all(u.startswith("#") for u in urls)
    namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert set(re.findall(r"https?://[^\"' )]+", html)) <= namespaces
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert max(len(s) for s in svgs) < 150_000
    assert len(html) < 1_200_000


# ---------------------------------------------------------------------------------------------
# write_report: a real run of the predictive protocol, through the store, into the page
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def e2e_benchmark():
    fake = "tests.protocols.fake"
    preset = {"tasks": [{"name": f"{fake}:LinearTask", "params": {"n_train": 60, "n_test": 40}}],
              "methods": [f"{fake}:Overconfident", f"{fake}:Broken"],
              "perturbations": [{"name": "gaussian_noise", "severities": [0.3]}], "n_boot": 50}
    BENCHMARKS.register("report_e2e", Benchmark("report_e2e", "Is the line's predictive right?", "predictive",
                                                {"quick": preset}))
    yield
    BENCHMARKS.unregister("report_e2e")


def test_write_report_from_a_real_run(e2e_benchmark, tmp_path):
    summary = run_suite({"name": "e2e", "seeds": [0], "benchmarks": [{"name": "report_e2e", "preset": "quick"}]},
                        out=tmp_path, progress=False)
    assert (summary.n_cells, summary.n_failed) == (3, 1), summary
    path = write_report(None, tmp_path)  # the default database of the run, OUT/trustbench.sqlite
    assert path == tmp_path / "report" / "index.html"
    html = path.read_text(encoding="utf-8")
    page = Page(html)
    assert "Is the line&#39;s predictive right?" in html  # the benchmark's question, from the registry
    task = "tests.protocols.fake:LinearTask"
    board = page.table(page.section_id(task), "Leaderboard")
    assert set(board["rows"]) == {"reference", "tests.protocols.fake:Overconfident"}
    records = Store(tmp_path / "trustbench.sqlite").records()
    cov = records.query("method != 'reference' and perturbation == 'none' and metric == 'coverage_90'")
    assert board["rows"]["tests.protocols.fake:Overconfident"]["cells"]["coverage_90"][0].startswith(
        fmt(cov.value.item()))
    for heading in ("PIT histograms", "Coverage", "Predictive bands", "GUM view", "Failed cells (1)"):
        assert heading in page.headings
    assert "RuntimeError: this method always fails" in html
    assert write_report(tmp_path / "trustbench.sqlite", tmp_path / "again").read_text(encoding="utf-8") == html


@pytest.mark.slow
def test_quick_suite_sized_report_is_fast_and_light():
    """About the size of the quick suite: 4 tasks x 10 methods, 4 perturbations x 3 severities."""
    frames = make_frames({"regression": ["a", "b", "c", "d"]}, seeds=(0,), perturbations={
        p: [0.1, 0.3, 0.5] for p in ("gaussian_noise", "missing_mcar", "outliers", "covariate_shift")})
    assert len(frames[1]) == 40
    start = time.perf_counter()
    html = build_report(*frames, META, metrics_meta=METRIC_SPECS)
    seconds = time.perf_counter() - start
    print(f"report of 40 cells: {seconds:.2f} s, {len(html) / 1e6:.2f} MB")
    assert seconds < 30 and len(html) < 2_500_000
