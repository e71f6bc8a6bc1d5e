"""The report's attribution section (xai benchmark), built from synthetic store frames in the format of
``trustbench.protocols.attribution``: per (task, model, seed) the records ``<model>`` × test_accuracy,
``<model>/<explainer>`` × metric and × ``p_holm[<metric> vs <baseline>]``, and the artifacts
``attribution_examples``, ``attribution_scores`` and ``attribution_model``."""

from __future__ import annotations

import html as html_lib
import re

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from tests.report.pageparse import Page
from tests.report.synthetic import METRIC_SPECS, make_frames
from trustbench.report import build_report
from trustbench.report.attribution import _block_mean, _outline, attribution_view, examples_figure
from trustbench.report.html import fmt

MODELS = ("logreg", "mlp")
EXPLAINERS = ("saliency", "integrated_gradients", "gradient_shap", "<b>lime</b>")
BASELINES = ("random", "sobel", "laplace", "input")
METRICS = ("precision_at_k", "emd_score", "attribution_auroc", "attribution_ap", "relevance_mass_accuracy",
           "suppressor_share")
ALPHA = 0.05
N = 24  # evaluated samples per cell
# tasks: name -> (shape, seeds, feature names)
TASKS = {"xai/lin_8x8": ((8, 8), (0, 1), None),
         "xai/tabular": ((5,), (0,), ["age", "creatinine", "lab_qc", "lactate", "noise"])}
# hand-set p-values (others are drawn): exactly alpha fails, just below passes, NaN fails
FIXED_P = {("xai/lin_8x8", "logreg", "saliency", "precision_at_k", "sobel", 0): 0.05,
           ("xai/lin_8x8", "logreg", "saliency", "precision_at_k", "sobel", 1): 0.01,
           ("xai/lin_8x8", "logreg", "saliency", "precision_at_k", "random", 0): 0.0499,
           ("xai/lin_8x8", "logreg", "saliency", "precision_at_k", "random", 1): 0.0001,
           ("xai/lin_8x8", "mlp", "gradient_shap", "emd_score", "laplace", 0): float("nan"),
           ("xai/lin_8x8", "mlp", "gradient_shap", "emd_score", "laplace", 1): 0.2}


def _row(task, method, seed, metric, value, lo=np.nan, hi=np.nan):
    return {"benchmark": "xai", "task": task, "method": method, "perturbation": "none", "severity": 0.0,
            "seed": seed, "metric": metric, "value": float(value), "ci_low": float(lo), "ci_high": float(hi),
            "n": N, "suite": "quick", "run_id": "run-x", "version": "0.1.0",
            "created_at": pd.Timestamp("2024-05-01 12:00", tz="UTC")}


def xai_frames():
    """(records, cells, artifacts) of the xai benchmark in the protocol's format."""
    records, cells, artifacts = [], [], []
    for ti, (task, (shape, seeds, names)) in enumerate(TASKS.items()):
        d = int(np.prod(shape))
        suppressors = d > 5 or names is not None
        for mi, model in enumerate(MODELS):
            for seed in seeds:
                rng = np.random.default_rng([ti, mi, seed])
                cells.append({"benchmark": "xai", "task": task, "method": model, "seed": seed, "status": "ok",
                              "error": None, "seconds": 1.0})
                acc = 0.8 + 0.05 * mi + 0.01 * seed
                records.append(_row(task, model, seed, "test_accuracy", acc, acc - 0.03, acc + 0.03))
                scores = {}
                for e in EXPLAINERS + BASELINES:
                    per = {m: rng.uniform(0, 1, N) * (0.4 if e in BASELINES else 1.0) for m in METRICS}
                    scores[e] = {m: v.tolist() for m, v in per.items()}
                    for m, v in per.items():
                        boot = v[rng.integers(0, N, (100, N))].mean(axis=1)
                        records.append(_row(task, f"{model}/{e}", seed, m, v.mean(), *np.quantile(boot, [0.025, 0.975])))
                        for b in BASELINES[:3]:
                            p = np.nan if e == b else FIXED_P.get((task, model, e, m, b, seed), rng.choice([0.001, 0.2, 0.6]))
                            records.append(_row(task, f"{model}/{e}", seed, f"p_holm[{m} vs {b}]", p))
                masks = [rng.uniform(size=d) < 0.3 for _ in range(2)]
                examples = {
                    "shape": list(shape), "feature_names": names,
                    "inputs": [rng.normal(size=shape).tolist() for _ in range(2)],
                    "masks": [m.reshape(shape).tolist() for m in masks],
                    "suppressors": [(~m & (rng.uniform(size=d) < 0.2)).reshape(shape).tolist() for m in masks]
                    if suppressors else None,
                    "labels": [0, 1],
                    "maps": {e: [rng.normal(size=shape).tolist() for _ in range(2)] for e in EXPLAINERS + BASELINES},
                }
                value = {"attribution_examples": examples,
                         "attribution_scores": {"metrics": list(METRICS), "baselines": list(BASELINES),
                                                "alpha": ALPHA, "scores": scores},
                         "attribution_model": {"model": model, "test_accuracy": acc, "n_test": 100,
                                               "n_correct": round(100 * acc), "n_evaluated": N}}
                artifacts += [{"benchmark": "xai", "task": task, "method": model, "seed": seed, "name": k, "value": v}
                              for k, v in value.items()]
    return pd.DataFrame(records), pd.DataFrame(cells), pd.DataFrame(artifacts)


@pytest.fixture(scope="module")
def frames():
    reg = make_frames({"regression": ["regression/sine"]}, methods=("reference", "gp", "mlp"), seeds=(0,),
                      n_test=60, perturbations={})
    xai = xai_frames()
    both = tuple(pd.concat([a, b], ignore_index=True) for a, b in zip(reg, xai))
    return reg, xai, both


@pytest.fixture(scope="module")
def html(frames):
    return build_report(*frames[2], metrics_meta=METRIC_SPECS)


@pytest.fixture(scope="module")
def page(html):
    return Page(html)


def task_html(html: str, task_id: str) -> str:
    start = html.index(f'<section class="task" id="{task_id}">')
    return html[start:html.index("</section>", start)]


def test_section_exists_only_for_attribution_tasks(html, page):
    for task in TASKS:
        part = task_html(html, page.section_id(task))
        assert "<h4>Attributions against the ground truth</h4>" in part
        assert 'class="attribution"' in part
    assert "Attributions against the ground truth" not in task_html(html, page.section_id("regression/sine"))


def test_two_figures_per_task(html, page):
    for task in TASKS:
        part = task_html(html, page.section_id(task))
        figures = re.findall(r"<figure[^>]*><h5>([^<]*)</h5><svg", part)
        assert figures == ["Example attributions", "Metric distributions over samples"]


def test_table_means_and_accuracy(frames, page):
    records = frames[1][0]
    for task in TASKS:
        table = page.table(page.section_id(task), "Scores per explainer")
        sub = records[records["task"] == task]
        means = sub.groupby(["method", "metric"])["value"].mean()
        expected_rows = {f"{m}/{e}" for m in MODELS for e in EXPLAINERS + BASELINES} | set(MODELS)
        assert set(table["rows"]) == expected_rows
        for model in MODELS:
            acc = table["rows"][model]["cells"]["test_accuracy"][0]
            assert acc.startswith(f"test accuracy {fmt(means[model, 'test_accuracy'])}")
            assert f"{N * len(TASKS[task][1])} samples evaluated" in acc
            for e in EXPLAINERS + BASELINES:
                cells = table["rows"][f"{model}/{e}"]["cells"]
                for m in METRICS:
                    value, ci = cells[m][0].split("[")[:2]
                    assert value.rstrip("★") == fmt(means[f"{model}/{e}", m])
                    low, high = sub[sub["method"] == f"{model}/{e}"].groupby("metric")[["ci_low", "ci_high"]].mean().loc[m]
                    assert ci.startswith(f"{fmt(low)}, {fmt(high)}]")


def test_best_explainer_marked_per_model(frames, page):
    records = frames[1][0]
    for task in TASKS:
        table = page.table(page.section_id(task), "Scores per explainer")
        means = records[records["task"] == task].groupby(["method", "metric"])["value"].mean()
        for model in MODELS:
            for m in METRICS:
                vals = {e: means[f"{model}/{e}", m] for e in EXPLAINERS}  # baselines are not ranked
                best = (min if m == "suppressor_share" else max)(vals, key=vals.get)
                starred = [e for e in EXPLAINERS + BASELINES
                           if "best" in table["rows"][f"{model}/{e}"]["cells"][m][1]]
                assert starred == [best]


def marks(part: str) -> dict[tuple[str, str, str], str]:
    """(method, metric, baseline) -> share text ('' or ' k/n') of every not-beating mark in a section."""
    out = {}
    for method, row in re.findall(r'<tr[^>]*data-method="([^"]+)">(.*?)</tr>', part, re.S):
        for metric, cell in re.findall(r'<td data-col="([^"]+)"[^>]*>(.*?)</td>', row, re.S):
            for base, short, share in re.findall(r'data-baseline="(\w+)" title="[^"]*">(\w)( \d+/\d+)?</span>', cell):
                assert short == base[0].upper()
                out[html_lib.unescape(method), metric, base] = share
    return out


def test_not_beating_marks_match_p_values(frames, html, page):
    records = frames[1][0]
    ph = records[records["metric"].str.startswith("p_holm[")]
    for task in TASKS:
        expected = {}
        for (method, metric), g in ph[ph["task"] == task].groupby(["method", "metric"]):
            base = metric.split(" vs ")[1].rstrip("]")
            if method.split("/")[1] in BASELINES:
                continue  # baselines get no marks (against themselves p is NaN)
            fails = ~(g["value"].to_numpy() < ALPHA)
            if fails.any():
                share = "" if fails.all() else f" {fails.sum()}/{len(fails)}"
                expected[method, metric[len("p_holm["):].split(" vs ")[0], base] = share
        assert expected and len(expected) < len(ph[ph["task"] == task]) / len(TASKS[task][1])  # some pass, some fail
        found = marks(task_html(html, page.section_id(task)))
        assert found == expected
    # the hand-set cases
    found = marks(task_html(html, page.section_id("xai/lin_8x8")))
    assert found["logreg/saliency", "precision_at_k", "sobel"] == " 1/2"  # p = 0.05 in one seed fails
    assert ("logreg/saliency", "precision_at_k", "random") not in found  # 0.0499 and 0.0001 pass
    assert found["mlp/gradient_shap", "emd_score", "laplace"] == ""  # NaN and 0.2: both fail


def test_mark_title_gives_p_values(html):
    titles = re.findall(r'data-baseline="sobel" title="([^"]*)">S 1/2</span>', html)
    assert any("precision_at_k" in t and "seed 0: 0.0500" in t and "seed 1: 0.0100" in t for t in titles)


def test_names_escaped(html):
    assert "<b>lime</b>" not in html
    assert str(escape("<b>lime</b>")) in html


def test_deterministic(frames, html):
    assert build_report(*frames[2], metrics_meta=METRIC_SPECS) == html


def test_other_benchmarks_unchanged(frames, html, page):
    alone = build_report(*frames[0], metrics_meta=METRIC_SPECS)
    assert 'class="attribution"' not in alone and "Attributions against" not in alone
    sid = page.section_id("regression")
    start = f'<section class="bench" id="{sid}">'

    def bench(text):
        i = text.index(start)
        j = text.find('<section class="bench"', i + 1)
        return text[i:j if j > 0 else text.index("<footer>")]

    assert bench(html) == bench(alone)
    assert attribution_view(frames[0][0], frames[0][2], "x") is None


def test_view_rejects_bad_salt(frames):
    with pytest.raises(TypeError, match="salt"):
        attribution_view(frames[1][0], frames[1][2], 3)


def test_block_mean_against_loop():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(7, 10))
    got = _block_mean(img, 3)
    ref = np.array([[img[i:i + 3, j:j + 3].mean() for j in range(0, 10, 3)] for i in range(0, 7, 3)])
    np.testing.assert_allclose(got, ref)


def test_outline_length_is_the_mask_perimeter():
    rng = np.random.default_rng(1)
    mask = rng.uniform(size=(9, 11)) < 0.4
    v = _outline(mask).reshape(-1, 2, 2)
    length = np.abs(v[:, 1] - v[:, 0]).sum()
    p = np.pad(mask, 1)
    # unit edges between a mask pixel and a non-mask pixel (or the border), counted one by one
    edges = sum(p[i, j] != p[i + di, j + dj] for i in range(p.shape[0]) for j in range(p.shape[1])
                for di, dj in ((0, 1), (1, 0)) if i + di < p.shape[0] and j + dj < p.shape[1])
    assert length == pytest.approx(edges)
    assert _outline(np.zeros((3, 3), bool)) is None


def test_large_map_grid_stays_small():
    """20 explainers × 3 models × 2 examples at 64×64: shown at 32×32, the SVG well under 1.5 MB."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:64, :64]
    explainers = [f"explainer_{i}" for i in range(16)] + list(BASELINES)
    columns = []
    for m in ("logreg", "mlp", "cnn"):
        for k in range(2):
            blob = np.exp(-((yy - 20 - 20 * k) ** 2 + (xx - 30) ** 2) / 60)
            columns.append({"group": m, "title": f"class {k}", "input": blob + rng.normal(0, 0.5, (64, 64)),
                            "mask": blob > 0.5, "suppressor": (blob < 0.5) & (blob > 0.2),
                            "maps": {e: blob * rng.uniform(0.5, 2) + rng.normal(0, 0.2, (64, 64)) for e in explainers}})
    svg = examples_figure(columns, explainers, BASELINES, "t")
    assert len(svg.encode()) < 1_500_000
    sizes = re.findall(r'<image[^>]*?width="(\d+)" height="(\d+)"', svg)
    assert len(sizes) == 6 * (1 + len(explainers)) and set(sizes) == {("32", "32")}
