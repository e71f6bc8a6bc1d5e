"""Predictive kinds against scipy.stats and closed forms; Data/Dataset validation."""

import numpy as np
import pytest
from scipy import stats

from trustbench.types import Data, Dataset, Gaussian, Mixture, Quantiles, Samples, StudentT

LEVELS = np.array([0.01, 0.1, 0.5, 0.9, 0.99])
rng = np.random.default_rng(0)
Y = rng.normal(size=6)
LOC = rng.normal(size=6)
SCALE = rng.uniform(0.5, 2.0, size=6)


def test_gaussian_matches_scipy():
    g = Gaussian(LOC, SCALE)
    np.testing.assert_allclose(g.cdf(Y), stats.norm.cdf(Y, LOC, SCALE), rtol=1e-12)
    np.testing.assert_allclose(g.logpdf(Y), stats.norm.logpdf(Y, LOC, SCALE), rtol=1e-12)
    np.testing.assert_allclose(g.quantile(LEVELS), stats.norm.ppf(LEVELS[None], LOC[:, None], SCALE[:, None]))
    lo, hi = g.interval(0.9)
    np.testing.assert_allclose(hi - lo, 2 * 1.6448536269514722 * SCALE, rtol=1e-12)


def test_student_t_matches_scipy():
    t = StudentT(LOC, SCALE, df=3.5)
    np.testing.assert_allclose(t.cdf(Y), stats.t.cdf(Y, 3.5, LOC, SCALE), rtol=1e-10)
    np.testing.assert_allclose(t.logpdf(Y), stats.t.logpdf(Y, 3.5, LOC, SCALE), rtol=1e-10)
    np.testing.assert_allclose(t.quantile(LEVELS), stats.t.ppf(LEVELS[None], 3.5, LOC[:, None], SCALE[:, None]))
    np.testing.assert_allclose(t.var(), stats.t.var(3.5, LOC, SCALE))


@pytest.mark.parametrize("df", [None, 4.0])
def test_mixture_quantile_inverts_cdf_and_moments(df):
    loc = rng.normal(size=(4, 7)) * 3
    scale = rng.uniform(0.2, 1.5, size=(4, 7))
    w = rng.dirichlet(np.ones(7), size=4)
    m = Mixture(loc, scale, weights=w, df=df)
    q = m.quantile(LEVELS)
    for j, p in enumerate(LEVELS):
        np.testing.assert_allclose(m.cdf(q[:, j]), p, atol=1e-10)
    comp = stats.norm if df is None else stats.t(df)
    for i in range(4):
        dens = lambda z: sum(w[i, k] * comp.pdf((z - loc[i, k]) / scale[i, k]) / scale[i, k] for k in range(7))
        z = np.linspace(-60, 60, 400001)
        mean = np.trapezoid(z * dens(z), z)
        np.testing.assert_allclose(m.mean()[i], mean, atol=1e-6 if df is None else 1e-4)
        np.testing.assert_allclose(np.exp(m.logpdf(np.full(4, 0.3)))[i], dens(0.3), rtol=1e-10)
    if df is None:
        draws = m.sample(200000, np.random.default_rng(1))
        np.testing.assert_allclose(draws.var(axis=1), m.var(), rtol=0.02)


def test_single_component_mixture_is_gaussian():
    m = Mixture(LOC[:, None], SCALE[:, None])
    g = Gaussian(LOC, SCALE)
    np.testing.assert_allclose(m.quantile(LEVELS), g.quantile(LEVELS), atol=1e-9)
    np.testing.assert_allclose(m.logpdf(Y), g.logpdf(Y), rtol=1e-12)
    np.testing.assert_allclose(m.std(), g.std())


def test_quantiles_roundtrip_and_moments():
    lv = (np.arange(200) + 0.5) / 200
    q = Quantiles(lv, stats.norm.ppf(lv)[None, :] * SCALE[:, None] + LOC[:, None])
    np.testing.assert_allclose(q.cdf(q.values[:, 50]), lv[50], atol=1e-12)
    np.testing.assert_allclose(q.quantile(lv[[10, 100]]), q.values[:, [10, 100]])
    np.testing.assert_allclose(q.mean(), LOC, atol=1e-9)
    np.testing.assert_allclose(q.std(), SCALE, rtol=0.02)
    assert not q.has_density
    with pytest.raises(NotImplementedError):
        q.logpdf(Y)


def test_quantiles_are_rearranged_and_tails_continue():
    q = Quantiles([0.1, 0.5, 0.9], [[2.0, 1.0, 3.0]])
    np.testing.assert_array_equal(q.values, [[1.0, 2.0, 3.0]])
    assert q.cdf([0.0])[0] == pytest.approx(0.0)
    assert q.cdf([0.9])[0] == pytest.approx(0.1 - 0.1 * 0.4)
    assert q.quantile([0.05])[0, 0] == pytest.approx(1.0 - 0.05 / 0.4)


def test_samples_match_numpy():
    vals = rng.normal(size=(6, 500))
    s = Samples(vals)
    np.testing.assert_allclose(s.quantile(LEVELS), np.quantile(vals, LEVELS, axis=1).T)
    np.testing.assert_allclose(s.cdf(Y), (vals <= Y[:, None]).mean(axis=1))
    np.testing.assert_allclose(s.std(), vals.std(axis=1, ddof=1))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Gaussian([0.0, 1.0], [1.0, -1.0]), "std must be > 0"),
        (lambda: Gaussian([0.0, np.nan], [1.0, 1.0]), "mean must be finite"),
        (lambda: StudentT([0.0], [1.0], df=0.0), "df must be > 0"),
        (lambda: Mixture(np.zeros((2, 3)), np.ones((2, 3)), weights=np.ones(2)), "weights must have shape"),
        (lambda: Quantiles([0.5, 0.1], [[0.0, 1.0]]), "levels must be at least two increasing"),
        (lambda: Quantiles([0.1, 1.0], [[0.0, 1.0]]), "levels must lie strictly between 0 and 1"),
        (lambda: Samples(np.zeros((3, 1))), "at least 2 samples"),
        (lambda: Gaussian([0.0], [1.0]).interval(1.5), "level must lie strictly between 0 and 1"),
        (lambda: Gaussian([0.0], [1.0]).cdf([0.0, 1.0]), "one value per prediction row"),
    ],
)
def test_bad_predictions_raise_naming_the_parameter(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_data_and_dataset_validation():
    with pytest.raises(ValueError, match="same length"):
        Data(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="y must be finite"):
        Data(np.zeros((2, 1)), np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match="truth must have one row per input"):
        Data(np.zeros((3, 1)), np.zeros(3), truth=Gaussian([0.0], [1.0]))
    ok = Data(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="test split is empty"):
        Dataset(ok, Data(np.zeros((0, 1)), np.zeros(0)))
    with pytest.raises(ValueError, match="same number of features"):
        Dataset(ok, Data(np.zeros((3, 2)), np.zeros(3)))
    assert Data(np.arange(3.0)).X.shape == (3, 1)
    assert np.isnan(Data(np.array([[np.nan]])).X[0, 0])
