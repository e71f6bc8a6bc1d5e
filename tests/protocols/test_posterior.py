"""The posterior protocol on a conjugate Gaussian task, with oracle estimators whose calibration is known."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from trustbench.posterior.base import Observation
from trustbench.posterior.priors import Normal
from trustbench.protocols import posterior as P
from trustbench.registry import METHODS, TASKS
from trustbench.runner.cells import Spec

SIGMA = 0.5  # x = theta + N(0, SIGMA^2 I); theta ~ N(0, I): posterior N(x / (1 + SIGMA^2), SIGMA^2 / (1 + SIGMA^2) I)
POST_VAR = SIGMA**2 / (1 + SIGMA**2)


@dataclass
class Conjugate:
    """A 2-D conjugate Gaussian task with exact reference posteriors."""

    nan_share: float = 0.0
    n_observations: int = 8
    n_reference: int = 500
    n_calibration: int = 300
    n_calibration_draws: int = 99
    max_invalid_share: float = 0.2
    name: str = "test/conjugate"
    parameter_names: tuple = ("a", "b")
    protocol: str = "posterior"
    prior: Normal = field(default_factory=lambda: Normal(np.zeros(2), np.eye(2)))

    def simulate(self, theta, rng):
        x = theta + SIGMA * rng.standard_normal(theta.shape)
        x[rng.random(len(x)) < self.nan_share] = np.nan
        return x

    def simulate_test(self, theta, rng):
        return theta + SIGMA * rng.standard_normal(theta.shape)

    def observations(self, seed):
        rng = np.random.default_rng(seed)
        theta = self.prior.sample(self.n_observations, rng)
        x = self.simulate_test(theta, rng)
        ref = posterior_draws(x, self.n_reference, rng, 1.0)
        return [Observation(x=x[i], theta=theta[i], reference=ref[i], meta={"method": "analytic"})
                for i in range(len(x))]


def posterior_draws(x, n, rng, scale):
    mean = x / (1 + SIGMA**2)
    return mean[:, None, :] + scale * np.sqrt(POST_VAR) * rng.standard_normal((len(x), n, x.shape[1]))


@dataclass
class Oracle:
    """Samples the exact posterior with its sd multiplied by ``scale`` (1: calibrated, < 1: over-confident)."""

    scale: float = 1.0
    num_simulations: int = 200

    def fit(self, theta, x, *, prior, seed=0):
        self.n_fit_ = len(theta)
        return self

    def sample(self, x, n_samples, rng):
        return posterior_draws(np.asarray(x), n_samples, rng, self.scale)

    def log_prob(self, theta, x):
        mean = np.asarray(x)[:, None, :] / (1 + SIGMA**2)
        var = POST_VAR * self.scale**2
        return (-0.5 * ((theta - mean) ** 2).sum(axis=2) / var - np.log(2 * np.pi * var))


@pytest.fixture(autouse=True)
def registered():
    TASKS.register("test/conjugate", Conjugate, overwrite=True)
    METHODS.register("oracle", Oracle, overwrite=True)
    yield
    TASKS.unregister("test/conjugate")
    METHODS.unregister("oracle")


def run(method: Spec, task: Spec = Spec("test/conjugate"), seed: int = 0):
    cells = P.grid("t", "b", {"tasks": [task], "methods": [method], "n_boot": 100}, [seed])
    ref_cell, cell = cells
    ref = P.run_cell(ref_cell)
    ref.check()
    result = P.run_cell(cell, {ref_cell.key: ref.payload})
    result.check()
    return ref, result, {r["metric"]: r for r in result.records}


def test_grid_makes_a_reference_cell_per_task_and_seed():
    cells = P.grid("t", "b", {"tasks": ["test/conjugate"], "methods": ["oracle", "abc"], "n_boot": 10}, [0, 1])
    refs = [c for c in cells if c.method.name == "reference"]
    assert len(refs) == 2 and len(cells) == 6
    for c in cells:
        if c.method.name != "reference":
            assert c.depends_on == tuple(r.key for r in refs if r.seed == c.seed)


def test_calibrated_oracle_scores_near_ideal():
    ref, result, rec = run(Spec("oracle"))
    assert 0.4 < rec["c2st"]["value"] < 0.62  # exact posterior vs exact reference: near chance
    assert rec["interval_coverage_error"]["value"] < 0.05
    assert abs(rec["interval_coverage_90"]["value"] - 0.9) < 0.05
    assert rec["hpd_coverage_error"]["value"] < 0.05
    assert rec["sbc_outside_band"]["value"] == 0.0
    assert abs(rec["tarp_atc"]["value"]) < 0.5 * 10  # ATC sums ~10 level differences of a few %
    # contraction of a conjugate Gaussian is exactly 1 - POST_VAR (prior var 1)
    assert abs(rec["posterior_contraction"]["value"] - (1 - POST_VAR)) < 0.05
    assert rec["invalid_simulations"]["value"] == 0
    assert rec["c2st"]["ci_low"] <= rec["c2st"]["value"] <= rec["c2st"]["ci_high"]
    assert {"posterior_pairs", "posterior_sbc", "posterior_coverage", "posterior_gum", "posterior_task"} <= set(result.artifacts)
    gum = result.artifacts["posterior_gum"]["rows"]
    assert [r["parameter"] for r in gum] == ["a", "b"]
    assert gum[0]["u"] == pytest.approx(np.sqrt(POST_VAR), rel=0.15)


def test_overconfident_oracle_is_caught():
    _, _, good = run(Spec("oracle"))
    _, _, bad = run(Spec("oracle", {"scale": 0.4}))
    assert bad["c2st"]["value"] > good["c2st"]["value"] + 0.1
    assert bad["interval_coverage_90"]["value"] < 0.6  # P(|z| < 1.645 * 0.4) = 0.49
    assert bad["interval_coverage_error"]["value"] > 0.15
    assert bad["sbc_outside_band"]["value"] == 1.0
    assert bad["posterior_zscore"]["value"] > 1.5 * good["posterior_zscore"]["value"]


def test_nan_simulations_are_dropped_counted_and_limited():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, result, rec = run(Spec("oracle"), Spec("test/conjugate", {"nan_share": 0.1}))
    n = rec["invalid_simulations"]["value"]
    assert 5 <= n <= 40  # ~20 of 200
    assert any("not finite" in note for note in result.artifacts["posterior_task"]["notes"])
    with pytest.raises(ValueError, match="max_invalid_share"):
        run(Spec("oracle"), Spec("test/conjugate", {"nan_share": 0.5}))


def test_same_simulations_for_every_estimator_with_the_same_budget():
    task = Conjugate()
    a = P.simulate_training(task, 50, P._rng(3, "training"))
    b = P.simulate_training(task, 50, P._rng(3, "training"))
    np.testing.assert_array_equal(a[1], b[1])


def test_task_without_posterior_parts_is_refused():
    class NotPosterior:
        name = "x"

    with pytest.raises(TypeError, match="not a posterior task"):
        P.check_task(NotPosterior())


def test_simulator_with_wrong_rows_is_a_clear_error():
    class Bad(Conjugate):
        def simulate(self, theta, rng):
            return theta[:-1]

    with pytest.raises(ValueError, match="one row per parameter vector"):
        P.simulate_training(Bad(), 10, np.random.default_rng(0))


def test_records_do_not_depend_on_the_run(tmp_path):
    _, r1, _ = run(Spec("oracle"))
    _, r2, _ = run(Spec("oracle"))
    assert [x["value"] for x in r1.records if x["metric"] != "training_seconds"] == \
           [x["value"] for x in r2.records if x["metric"] != "training_seconds"]


def test_evaluate_runs_a_from_simulator_task_under_the_posterior_protocol():
    """The user's path: an sbibm-shaped torch simulator and prior, fixed observations with analytic
    reference samples, one of our estimators, ``trustbench.evaluate``."""
    import torch

    import trustbench
    from trustbench.tasks import from_simulator

    def simulator(theta):  # sbibm style: torch in, torch out, torch's global RNG
        return theta + SIGMA * torch.randn_like(theta)

    prior = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    rng = np.random.default_rng(5)
    theta = rng.standard_normal((3, 2))
    x = theta + SIGMA * rng.standard_normal((3, 2))
    task = from_simulator(simulator, prior, name="user/conjugate", observations=x, true_parameters=theta,
                          reference_samples=posterior_draws(x, 400, rng, 1.0), n_calibration=60,
                          n_calibration_draws=40)
    df = trustbench.evaluate(task, "mdn", method_params={"num_simulations": 1500, "max_epochs": 60, "patience": 5,
                                                         "learning_rate": 2e-3},
                             n_boot=50)
    methods = set(df["method"])
    assert "reference" in methods and any(m.startswith("mdn") for m in methods)
    mine = df[df["method"].str.startswith("mdn")].set_index("metric")["value"]
    assert {"c2st", "mmd", "nrmse", "posterior_nll", "interval_coverage_error", "tarp_atc"} <= set(mine.index)
    assert mine["c2st"] < 0.7  # a 2-D Gaussian posterior is easy for an MDN with 1500 simulations
    assert df[df["metric"] == "c2st"]["n"].iloc[0] == 3


def test_report_shows_pairs_sbc_coverage_and_gum(tmp_path):
    """The posterior section of the report, from real cells of two estimators in one database."""
    import re

    import trustbench
    from trustbench.report import write_report

    class Published(Conjugate):
        published_c2st = {1_000: (0.7, 0.9), 10_000: (0.5, 0.6)}  # as sbibm's tasks carry theirs
        published_source = "a test table"

    db = tmp_path / "r.sqlite"
    task = Published(n_observations=3, n_reference=300, n_calibration=80, n_calibration_draws=39)
    for scale in (1.0, 0.4):
        trustbench.evaluate(task, Oracle(scale=scale), n_boot=20, db=db)
    html = write_report(db, tmp_path).read_text()
    section = html[html.index("Posteriors against the reference and the truth"):]
    assert section.count("Posterior of observation 1: ") == 2  # one pair plot per estimator
    assert "Simulation-based calibration" in section and "TARP" in section
    gum = section[section.index('<table class="gum">'):section.index("</table>", section.index('<table class="gum">'))]
    assert len(re.findall(r'data-method="[^"]*Oracle', gum)) == 2 and 'class="ref"' in gum
    assert "c2st" in html and "interval_coverage_error" in html
    assert "1,000 simulations: 0.800 (0.700–0.900) · 10,000 simulations: 0.550 (0.500–0.600)" in html
    assert "Source: a test table." in html
    # one reference cell: evaluating a second estimator reused the stored observations and reference
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from cells where method = 'reference'").fetchone()[0] == 1


def test_constant_features_and_flat_observations_are_reported():
    class Flat(Conjugate):
        def simulate(self, theta, rng):
            x = super().simulate(theta, rng)
            return np.concatenate([x, np.ones((len(x), 1))], axis=1)  # a dead channel

        simulate_test = simulate

    task = Flat()
    _, _, notes = P.simulate_training(task, 50, np.random.default_rng(0))
    assert any("1 of 3 data features are constant" in n for n in notes)
    flat = P._observation_notes([{"x": np.ones(5)}, {"x": np.arange(5.0)}])
    assert flat == ["observation 0 has zero variance (a flat signal): it carries no shape information."]


def test_full_and_quick_presets_resolve():
    from trustbench.runner.config import resolve_suite
    from trustbench.runner.grid import expand

    for preset, n_tasks in (("quick", 4), ("full", 19)):
        suite = resolve_suite({"name": preset, "preset": preset, "benchmarks": [{"name": "hemodynamics"}]}, preset)
        cells = expand(suite)
        refs = [c for c in cells if c.method.name == "reference"]
        assert len({c.task_name for c in refs}) == n_tasks
        assert len(cells) == len(refs) * 7  # the reference and six estimators per task and seed


def test_builtin_sbibm_suite_is_the_sbibm_table():
    """`trustbench run sbibm`: sbibm's four tasks at their 10 observations, every estimator at 10k simulations."""
    from trustbench.runner.config import load_suite

    (entry,) = load_suite("sbibm").entries
    assert entry.name == "hemodynamics" and entry.seeds == (0,)
    assert sorted(t.name for t in entry.tasks) == ["sbibm/gaussian_linear", "sbibm/gaussian_mixture", "sbibm/slcp",
                                                   "sbibm/two_moons"]
    assert all(P.make_task(t).n_observations == 10 for t in entry.tasks)
    assert [m.name for m in entry.methods] == ["npe", "cinn", "mdn", "ensemble", "abc", "sbi_npe"]
    assert {m.params["num_simulations"] for m in entry.methods} == {10_000}


def test_calibration_artifacts_equal_the_public_metrics():
    """The protocol keeps per-row memberships for its bootstrap; their means are the metric functions'."""
    from trustbench.metrics import posterior as M

    rng = np.random.default_rng(3)
    theta = rng.standard_normal((60, 2))
    draws = theta[:, None, :] + 1.3 * rng.standard_normal((60, 50, 2))
    lp_true, lp_draws = -0.5 * (1.3 * rng.standard_normal(60)) ** 2, -0.5 * rng.standard_normal((60, 50)) ** 2
    base = {"benchmark": "b", "task": "t", "method": "m", "perturbation": "none", "severity": 0.0, "seed": 0}
    _, art = P.calibration_records(base, theta, draws, np.ones(2), 20, 0, log_prob_true=lp_true, log_prob_draws=lp_draws)
    cov = art["posterior_coverage"]
    np.testing.assert_allclose(cov["observed"], M.expected_coverage(theta, draws, P.COVERAGE_LEVELS), atol=1e-4)
    np.testing.assert_allclose(cov["hpd"], M.hpd_coverage(lp_true, lp_draws, P.COVERAGE_LEVELS), atol=1e-4)


def test_sweep_figure_needs_two_noise_levels_of_a_family():
    import pandas as pd

    from trustbench.report.posterior import sweep_view

    def rows(noises, error=False):
        arts, recs = [], []
        for k, noise in enumerate(noises):
            task = f"fam{'→other' if error else ''}/noise={noise}"
            arts.append({"benchmark": "b", "task": task, "method": "npe", "seed": 0, "name": "posterior_task",
                         "value": {"sweep": {"family": "fam", "noise": noise, "model_error": error}, "notes": []}})
            recs.append({"task": task, "method": "npe", "perturbation": "none", "metric": "nrmse",
                         "value": 0.1 * (k + 1), "ci_low": 0.05, "ci_high": 0.3})
        return arts, recs

    colors = {"npe": "#1f77b4"}
    arts, recs = rows([0.01])
    arts2, recs2 = rows([0.01], error=True)
    one = sweep_view(pd.DataFrame(recs + recs2), pd.DataFrame(arts + arts2), ["npe"], colors, "s")
    assert one == []  # one noise level: no sweep to draw
    arts, recs = rows([0.01, 0.1])
    arts2, recs2 = rows([0.01, 0.1], error=True)
    two = sweep_view(pd.DataFrame(recs + recs2), pd.DataFrame(arts + arts2), ["npe"], colors, "s")
    assert [v["family"] for v in two] == ["fam"]
    svg = str(two[0]["svg"])
    assert svg.startswith("<svg") and "nrmse" in svg
