"""Scoring predictive objects: CRPS per kind, quadrature vs closed forms, Summary, specs and score()."""

import io
import json

import numpy as np
import properscoring as ps
import pytest
import scoringrules as sr
from numpy.testing import assert_allclose
from scipy import integrate, stats

from trustbench.metrics import predictive as P
from trustbench.metrics.distances import gaussian_kl
from trustbench.metrics.scores import crps_gaussian, crps_mixture, crps_student_t
from trustbench.registry import METRICS
from trustbench.types import Gaussian, Mixture, Quantiles, Samples, StudentT


@pytest.fixture
def rows():
    rng = np.random.default_rng(11)
    n = 40
    mu = rng.normal(size=n)
    sd = rng.uniform(0.5, 1.5, n)
    return mu + sd * rng.normal(size=n), mu, sd, rng


# ---------------------------------------------------------------- CRPS of each kind


def test_crps_dispatch_matches_peers(rows):
    y, mu, sd, rng = rows
    assert_allclose(P.crps(Gaussian(mu, sd), y), sr.crps_normal(y, mu, sd), rtol=1e-10)
    assert_allclose(P.crps(StudentT(mu, sd, 4.0), y), sr.crps_t(y, 4.0, mu, sd), rtol=1e-9)
    loc = mu[:, None] + rng.normal(size=(len(y), 3))
    scale = rng.uniform(0.3, 1, (len(y), 3))
    equal = np.full((len(y), 3), 1 / 3)
    assert_allclose(P.crps(Mixture(loc, scale), y), sr.crps_mixnorm(y, loc, scale, equal), rtol=1e-9)
    draws = mu[:, None] + sd[:, None] * rng.normal(size=(len(y), 30))
    assert_allclose(P.crps(Samples(draws), y), ps.crps_ensemble(y, draws), rtol=1e-10)
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    q = mu[:, None] + sd[:, None] * stats.norm.ppf(levels)[None, :]
    assert_allclose(P.crps(Quantiles(levels, q), y), sr.crps_quantile(y, q, levels), rtol=1e-12)


@pytest.mark.parametrize("df", [1.5, 3.0, 30.0])
def test_quadrature_matches_closed_forms(rows, df):
    y, mu, sd, rng = rows
    assert_allclose(P.crps_quadrature(Gaussian(mu, sd), y), crps_gaussian.pointwise(y, mu, sd), rtol=1e-7)
    assert_allclose(P.crps_quadrature(StudentT(mu, sd, df), y), crps_student_t.pointwise(y, mu, sd, df), rtol=1e-6)
    loc = mu[:, None] + 4 * rng.normal(size=(len(y), 3))  # well separated components
    scale = rng.uniform(0.2, 1, (len(y), 3))
    assert_allclose(P.crps_quadrature(Mixture(loc, scale), y), crps_mixture.pointwise(y, loc, scale), rtol=1e-4)


def test_large_gaussian_mixture_uses_quadrature_and_agrees_with_closed_form(rows):
    y, mu, _, rng = rows
    k = P.MAX_CLOSED_FORM_COMPONENTS + 1
    loc = mu[:, None] + 0.5 * rng.normal(size=(len(y), k))
    scale = rng.uniform(0.2, 1, (len(y), k))
    assert_allclose(P.crps(Mixture(loc, scale), y), crps_mixture.pointwise(y, loc, scale), rtol=1e-4)


def test_student_t_mixture_reduces_to_student_t(rows):
    y, mu, sd, _ = rows
    twin = Mixture(np.stack([mu, mu], 1), np.stack([sd, sd], 1), df=3.0)
    assert_allclose(P.crps(twin, y), crps_student_t.pointwise(y, mu, sd, 3.0), rtol=1e-6)


def test_heavy_student_t_below_df_one_by_adaptive_quadrature():
    y, df = np.array([-3.0, 0.2, 8.0]), 0.8
    pred = StudentT(np.zeros(3), np.ones(3), df)
    t = stats.t(df)
    want = [
        integrate.quad(lambda z: t.cdf(z) ** 2, -np.inf, v, limit=500)[0]
        + integrate.quad(lambda z: t.sf(z) ** 2, v, np.inf, limit=500)[0]
        for v in y
    ]
    assert_allclose(P.crps(pred, y), want, rtol=1e-6)


def test_infinite_crps_raises_and_spec_skips(rows):
    y, mu, sd, _ = rows
    pred = StudentT(mu, sd, 0.4)
    with pytest.raises(ValueError, match="df"):
        P.crps(pred, y)
    assert P.CRPS.compute(P.EvalContext(y, pred)) is None


def test_crps_rejects_non_predictive():
    with pytest.raises(TypeError, match="pred"):
        P.crps(np.zeros(3), np.zeros(3))


# ---------------------------------------------------------------- Summary


def test_summary_round_trips_through_npz_and_json(rows):
    y, mu, sd, _ = rows
    s = P.Summary.of(StudentT(mu, sd, 2.0))  # infinite std is allowed
    assert len(s) == len(y) and s.q.shape == (len(y), 200) and np.isinf(s.std).all()
    buf = io.BytesIO()
    np.savez(buf, **s.to_arrays())
    buf.seek(0)
    back = P.Summary.from_arrays(dict(np.load(buf)))
    assert_allclose(back.q, s.q)
    text = json.dumps({k: v.tolist() for k, v in s.to_arrays().items()})
    assert_allclose(P.Summary.from_arrays(json.loads(text)).q, s.q)
    with pytest.raises(ValueError, match="q"):
        P.Summary(mu, sd, s.q[:, :10])
    with pytest.raises(ValueError, match="missing"):
        P.Summary.from_arrays({"mean": mu})


# ---------------------------------------------------------------- context, specs and score


def test_context_caches_derived_quantities(rows):
    y, mu, sd, _ = rows
    pred = Gaussian(mu, sd)
    ctx = P.EvalContext(y, pred)
    assert_allclose(ctx.pit, stats.norm.cdf(y, mu, sd))
    lo, hi = ctx.interval
    assert_allclose(hi - lo, 2 * stats.norm.ppf(0.95) * sd)
    assert ctx.q is ctx.q and ctx.q.shape == (len(y), 200)


def test_entry_points_resolve_to_specs_of_the_same_name():
    names = METRICS.names()
    assert {s.name for s in P.SPECS} <= set(names)
    for spec in P.SPECS:
        assert METRICS.load(spec.name) is spec


def test_score_values_and_applicability(rows):
    y, mu, sd, _ = rows
    truth = Gaussian(mu, np.full_like(sd, 1.0))
    pred = Gaussian(mu + 0.2, sd)
    ref = P.Summary.of(Gaussian(mu, 1.1 * sd))
    ctx = P.EvalContext(y, pred, truth=truth, reference=ref)
    records = {r["metric"]: r for r in P.score(ctx, P.SPECS, n_boot=200, seed=0)}
    assert set(records) == {s.name for s in P.SPECS}
    assert records["crps"]["value"] == pytest.approx(crps_gaussian(y, mu + 0.2, sd))
    assert records["truth_kl"]["value"] == pytest.approx(gaussian_kl(mu, np.ones_like(sd), mu + 0.2, sd))
    assert records["reference_w1"]["value"] > 0
    for r in records.values():
        assert r["n"] == len(y) and r["ci_low"] <= r["ci_high"]
    # the same names through the registry give the same records
    assert P.score(ctx, ["rmse", "crps"], n_boot=200, seed=0) == [records["rmse"], records["crps"]]
    # no density -> no NLL; no truth / reference -> none of their metrics
    bare = P.score(P.EvalContext(y, Samples(mu[:, None] + sd[:, None] * np.ones((1, 5)) * [-1, -.5, 0, .5, 1])),
                   P.SPECS, n_boot=50, seed=0)
    got = {r["metric"] for r in bare}
    assert "nll" not in got and not got & {"truth_w1", "truth_kl", "reference_w1", "reference_kl"}
    assert "crps" in got


def test_truth_metrics_vanish_when_pred_is_truth(rows):
    y, mu, sd, _ = rows
    pred = Gaussian(mu, sd)
    ctx = P.EvalContext(y, pred, truth=pred)
    records = {r["metric"]: r["value"] for r in P.score(ctx, [P.TRUTH_W1, P.TRUTH_KL], n_boot=10, seed=0)}
    assert records == {"truth_w1": 0.0, "truth_kl": 0.0}


def test_moment_metrics_skip_infinite_variance(rows):
    y, mu, sd, _ = rows
    ctx = P.EvalContext(y, StudentT(mu, sd, 1.5))  # finite mean, infinite variance
    assert P.RMSE.compute(ctx) is not None
    assert P.SHARPNESS.compute(ctx) is None and P.GUM_COVERAGE.compute(ctx) is None


def test_calibrated_gaussian_covers_about_ninety_percent():
    rng = np.random.default_rng(0)
    n = 2000
    mu = rng.normal(size=n)
    y = mu + rng.normal(size=n)
    ctx = P.EvalContext(y, Gaussian(mu, np.ones(n)))
    out = {r["metric"]: r for r in P.score(ctx, [P.COVERAGE_90, P.GUM_COVERAGE], n_boot=300, seed=1)}
    for name, ideal in (("coverage_90", 0.9), ("gum_coverage", P.GUM_COVERAGE.ideal)):
        assert abs(out[name]["value"] - ideal) < 0.03
    assert P.COVERAGE_90.ideal == 0.9 and P.GUM_COVERAGE.higher_is_better is None
