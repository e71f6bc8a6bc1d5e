"""The ICU protocol end to end: a small suite through the real runner into SQLite, its records, the
quality cards built from them (JSON, report section, CLI) and the report in a real browser."""

from __future__ import annotations

import json
import numpy as np
import pytest
from typer.testing import CliRunner

from trustbench.cli import app
from trustbench.domains.icu import protocol as P
from trustbench.domains.icu.benchmark import BENCHMARK
from trustbench.domains.icu.evaluation import BINARY, METRICS_META, TRUE_RISK, score_rows
from trustbench.report.cards import HEADLINE, TRIPOD_AI, build_cards
from trustbench.runner.api import run_suite
from trustbench.runner.store import Store

SYN = {"name": "icu/synthetic", "params": {"endpoint": "mortality", "n_stays": 300}}
SUITE = {
    "name": "icu-test", "seeds": [0], "n_boot": 40,
    "benchmarks": [{
        "name": "icu",
        "tasks": [SYN, {"name": "icu/synthetic", "params": {"endpoint": "mortality", "n_stays": 300, "test_site": "B"}},
                  {"name": "icu/synthetic", "params": {"endpoint": "effect", "n_stays": 300}},
                  {"name": "icu/yaib", "params": {"cohort": "kidney_function", "source": "eicu_demo"}}],
        "methods": ["logreg", {"name": "recalibrated", "params": {"base": "logreg", "how": "platt"}}, "t_learner"],
        "perturbations": [{"name": "icu_noise", "severities": [0.5]}, {"name": "icu_downsample", "severities": [4]}],
    }],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("icu")
    summary = run_suite(SUITE, out=out, progress=False)
    return out, summary, Store(out / "trustbench.sqlite")


def test_grid_gives_each_method_only_the_tasks_it_supports(run):
    _, summary, store = run
    assert summary.n_failed == 0, summary.failures
    cells = store.cells()
    pairs = set(zip(cells.task, cells.method))
    assert pairs == {
        ("icu/synthetic/mortality/A", "logreg"), ("icu/synthetic/mortality/A→B", "logreg"),
        ("icu/kidney_function/eicu_demo", "logreg"), ("icu/synthetic/effect/A", "t_learner"),
        *((t, "recalibrated(base='logreg', how='platt')") for t in ("icu/synthetic/mortality/A", "icu/synthetic/mortality/A→B")),
    }  # recalibration only on binary tasks, effect learners only on effect tasks


def test_records_hold_every_metric_with_a_ci_clean_and_perturbed(run):
    records = run[2].records()
    r = records[(records.task == "icu/synthetic/mortality/A") & (records.method == "logreg")]
    clean = r[r.perturbation == "none"]
    names = set(clean.metric)
    assert {d.name for d in BINARY + TRUE_RISK} <= names  # true risk: the synthetic truth is known
    assert {"auroc[sex=Female]", "auroc[sex=Male]", "auroc_gap[sex]", "eq_odds_diff[age_band]",
            "mondrian_coverage[sex=Male]"} <= names
    plain = clean[~clean.metric.str.contains(r"\[")]
    assert (plain.ci_low <= plain.value + 1e-12).all() and (plain.value <= plain.ci_high + 1e-12).all()
    assert set(zip(r.perturbation, r.severity)) == {("none", 0.0), ("icu_noise", 0.5), ("icu_downsample", 4.0)}
    assert set(r[r.perturbation == "icu_noise"].metric) == {d.name for d in BINARY + TRUE_RISK}
    cov = plain.set_index("metric").loc["conformal_coverage", "value"]
    assert 0.8 <= cov <= 1.0  # 90 % split-conformal sets on exchangeable held-out stays
    effect = records[records.task == "icu/synthetic/effect/A"]
    assert set(effect.metric) == {"pehe", "ate_error"}
    regression = records[(records.task == "icu/kidney_function/eicu_demo") & (records.perturbation == "none")]
    assert {"mae", "rmse", "nll", "coverage_90", "conformal_coverage", "mae[sex=Female]"} <= set(regression.metric)


def test_every_record_metric_is_described():
    for name in [d.name for d in BINARY + TRUE_RISK] + ["auroc_gap", "eq_odds_diff", "mondrian_coverage"]:
        assert set(METRICS_META[name]) == {"higher_is_better", "ideal", "description"}
    assert BENCHMARK.metrics is METRICS_META


def test_score_rows_fast_paths_equal_the_per_replicate_loop():
    """The vectorised bootstrap forms (weighted, pointwise) give the same CIs as calling each metric
    on the concatenated rows of every replicate."""
    from trustbench.metrics.classification import cluster_bootstrap_ci

    rng = np.random.default_rng(3)
    stays = np.repeat(np.arange(80), 3)
    p = rng.uniform(0.02, 0.9, len(stays))
    arrays = {"y": (rng.uniform(size=len(stays)) < p).astype(float), "p": p, "p_true": p}
    rows = score_rows(BINARY[:9] + TRUE_RISK, {**arrays}, stays, n_boot=60, seed=5)
    for d, row in zip(BINARY[:9] + TRUE_RISK, rows):
        fn = d.bound()
        slow = cluster_bootstrap_ci(lambda *a, fn=fn: fn(*a), *(arrays[k] for k in d.args), clusters=stays,
                                    n_boot=60, seed=5)
        assert (row["value"], row["ci_low"], row["ci_high"]) == pytest.approx((slow.estimate, slow.low, slow.high),
                                                                              abs=1e-9), d.name


def test_cards_join_artifacts_and_records(run):
    store = run[2]
    cards = build_cards(store.records(), store.artifacts())
    keys = {(c["task"], c["method"]) for c in cards}
    assert ("icu/synthetic/mortality/A", "logreg") in keys
    assert not any("→" in t for t, _ in keys)  # transfer tasks appear inside the card of their source task
    card = next(c for c in cards if c["task"] == "icu/synthetic/mortality/A" and c["method"] == "logreg")
    assert [r["metric"] for r in card["discrimination"]] == ["auroc", "auprc", "brier"]
    assert {r["metric"] for r in card["calibration"]["metrics"]} == set(HEADLINE["binary"]) - {"auroc", "auprc", "brier", "net_benefit"}
    curve = card["calibration"]["curve"]
    assert len(curve["prob_pred"]) == len(curve["prob_true"]) and sum(curve["count"]) == card["data"]["test"]["rows"]
    assert "true_risk_curve" in card["calibration"] and card["decision"]["curve"]["thresholds"][0] == 0.02
    assert [t["task"] for t in card["transfer"]][:1] == ["icu/synthetic/mortality/A→B"]
    assert {r["perturbation"] for r in card["robustness"]} == {"none", "icu_noise", "icu_downsample"}
    assert set(card["tripod_ai"]) == set(TRIPOD_AI)
    for section in ("data", "intended_use", "model", "discrimination", "calibration", "subgroups", "robustness",
                    "uncertainty", "transfer"):
        assert card[section], section


def test_report_and_cli_export_the_cards(run):
    out = run[0]
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "Quality cards" in html and html.count('<details class="card"') == 4
    assert "TRIPOD+AI 12e" in html
    exported = json.loads((out / "report" / "cards.json").read_text())["cards"]
    result = CliRunner().invoke(app, ["cards", "--db", str(out / "trustbench.sqlite"), "--out", str(out / "c.json")])
    assert result.exit_code == 0, result.output
    cli = json.loads((out / "c.json").read_text())["cards"]
    assert len(cli) == len(exported) == 4 and {c["benchmark"] for c in cli} == {"icu"}
    assert "NaN" not in (out / "c.json").read_text()  # strict JSON: NaN became null


def test_cli_cards_without_cards_is_a_clear_error(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.sqlite").close()
    result = CliRunner().invoke(app, ["cards", "--db", str(tmp_path / "empty.sqlite")])
    assert result.exit_code == 2 and "no quality cards" in result.output


def test_evaluate_any_yaib_folder_from_the_cli(tmp_path):
    """`trustbench evaluate --task icu/yaib --param path=DIR --method NAME` on a cohort folder of one's own."""
    import shutil

    from trustbench.domains.icu.yaib import demo_path

    folder = tmp_path / "my_cohort"
    shutil.copytree(demo_path("mortality24", "eicu_demo"), folder)
    result = CliRunner().invoke(app, ["evaluate", "--task", "icu/yaib", "--param", f"path={folder}",
                                      "--method", "logreg", "--n-boot", "20", "--db", str(tmp_path / "e.sqlite")])
    assert result.exit_code == 0, result.output
    assert "auroc[sex=Female]" in result.output  # subgroup names survive the table (no markup eaten)
    records = Store(tmp_path / "e.sqlite").records()
    assert set(records.task) == {f"icu/{tmp_path.name}/my_cohort"}
    (folder / "sta.parquet").unlink()
    bad = CliRunner().invoke(app, ["evaluate", "--task", "icu/yaib", "--param", f"path={folder}", "--method", "logreg"])
    assert bad.exit_code == 2 and "sta.parquet: missing" in bad.output and "Traceback" not in bad.output


def test_predictions_of_the_wrong_shape_are_a_clear_error():
    class Bad:
        def predict(self, cohort):
            return np.full(3, 0.5)

    split = P.make_task(_spec(SYN)).make(0)
    with pytest.raises(ValueError, match=r"returned 3 probabilities .* expected \d+ finite values"):
        P.predict_arrays(Bad(), split.test, "binary")


def _spec(d):
    from trustbench.protocols.predictive import as_spec

    return as_spec(d)


@pytest.mark.browser
def test_cards_render_in_a_browser(run):
    from tests.report.test_browser import ARGS, CHROMIUM

    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed; browser test skipped.")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((run[0] / "report" / "index.html").as_uri())
        cards = page.locator("details.card")
        assert cards.count() == 4 and cards.first.get_attribute("open") is not None
        card = page.locator("details.card", has_text="logreg on icu/synthetic/mortality/A")
        if card.get_attribute("open") is None:
            card.locator("summary").click()
        assert card.get_attribute("open") is not None and card.locator("h5").count() >= 8
        assert card.locator("svg").count() == 2  # calibration/decision/selective curves; robustness curves
        box = card.locator("table.card-metrics").first.bounding_box()
        assert box and box["height"] > 100 and box["width"] > 300
        assert "Quality cards" in page.locator("#icu-cards h3, [id$='-cards'] h3").first.inner_text()
        assert not errors
        browser.close()
