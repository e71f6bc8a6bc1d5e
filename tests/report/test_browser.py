"""The written report in a real browser: headless Debian Chromium driven by playwright.

Skipped when chromium (``apt-get install chromium``) or playwright is missing; playwright's own
browser download is never used. Set TRUSTBENCH_REPORT_SCREENSHOT=path to keep the screenshot.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.report.synthetic import METRIC_SPECS, make_frames
from trustbench.report import build_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    frames = make_frames({"regression": ["regression/sine", "regression/gap"]},
                         methods=("reference", "gp", "mc_dropout", HOSTILE, "nuts"), seeds=(0, 1),
                         perturbations={"gaussian_noise": [0.1, 0.3], "outliers": [0.1, 0.3]},
                         failures=[("regression", "regression/gap", "gp", 1, "RuntimeError: <b>diverged</b>")])
    html = build_report(*frames, {"regression": {"question": "Which predictive is closest to the reference?"}},
                        metrics_meta=METRIC_SPECS)
    path = tmp_path_factory.mktemp("results") / "report" / "index.html"
    path.parent.mkdir()
    path.write_text(html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium); browser test skipped.")
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, path: Path, width: int, javascript: bool = True):
    """Open the report; return the page and what it tried: requests, console errors, dialogs."""
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    seen = {"requests": [], "errors": [], "dialogs": []}
    url = path.as_uri()

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            seen["requests"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type in ("error", "warning") and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(url, wait_until="load")
    return page, seen


def test_report_opens_offline_without_errors(browser, report, tmp_path):
    page, seen = open_page(browser, report, 1400)
    assert seen["requests"] == [], "the page must not load anything: every resource is inline"
    assert seen["errors"] == [] and seen["dialogs"] == []
    assert page.title() == "trustbench report"
    folded = page.locator("details > summary")
    for i in range(folded.count()):  # unfold everything: folded figures and failed cells
        folded.nth(i).click()
    figures = page.locator("figure svg")
    n = figures.count()
    assert n == 2 + 2 * 5 == len(re.findall(r"<figure", report.read_text()))
    for i in range(n):
        svg = figures.nth(i)
        svg.scroll_into_view_if_needed()
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box["width"] > 250 and box["height"] > 100, box
    # the hostile method name is shown as text, not run
    assert page.get_by_text(HOSTILE).first.is_visible()
    assert page.locator("script").count() == 0
    # every contents link leads to an element of the page
    targets = page.eval_on_selector_all("nav a", "as => as.map(a => a.getAttribute('href').slice(1))")
    assert targets and all(page.evaluate("id => !!document.getElementById(id)", t) for t in targets)
    # failed cells, unfolded, show their (escaped) error
    assert page.locator("details.fail pre").first.is_visible()
    assert "<b>diverged</b>" in page.locator("details.fail pre").first.inner_text()
    shot = Path(os.environ.get("TRUSTBENCH_REPORT_SCREENSHOT") or tmp_path / "report.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000  # a real page, not a blank one
    page.context.close()


@pytest.mark.parametrize("width", [420, 1000])
def test_report_is_responsive_and_needs_no_javascript(browser, report, width):
    page, seen = open_page(browser, report, width, javascript=False)
    assert seen["requests"] == [] and seen["errors"] == []
    figures = page.locator("figure svg")
    assert figures.count() == 12
    last = figures.nth(figures.count() - 1)
    last.scroll_into_view_if_needed()
    assert last.is_visible() and last.bounding_box()["width"] > 250
    assert page.locator("figure").last.bounding_box()["width"] <= width
    # wide tables and figures scroll inside their own box: the page itself never scrolls sideways
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"the page scrolls sideways at {width}px ({page_width}px wide)"
    page.context.close()
