"""Distances against scipy and closed forms."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats
from scipy.special import ndtri

from trustbench.metrics.distances import gaussian_kl, wasserstein_1d, wasserstein_quantiles
from trustbench.metrics.predictive import LEVELS


@pytest.mark.parametrize(("na", "nb"), [(1, 1), (5, 17), (100, 40)])
def test_wasserstein_1d_matches_scipy(na, nb):
    rng = np.random.default_rng(na + nb)
    a, b = rng.normal(size=na), rng.standard_t(3, size=nb) + 0.5
    assert wasserstein_1d(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12, abs=1e-15)


def test_wasserstein_quantiles_gaussian_closed_forms():
    rng = np.random.default_rng(0)
    n = 50
    m1, m2 = rng.normal(size=n), rng.normal(size=n)
    s1, s2 = rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n)
    z = ndtri(LEVELS)[None, :]
    # equal stds: the quantile functions are parallel, W1 = |Δmean| exactly
    same = wasserstein_quantiles.pointwise(m1[:, None] + s1[:, None] * z, m2[:, None] + s1[:, None] * z)
    assert_allclose(same, np.abs(m1 - m2), rtol=1e-12)
    # general: W1 = E|Δm + Δs Z| = Δm(2Φ(Δm/|Δs|) - 1) + 2|Δs|φ(Δm/|Δs|); the midpoint rule on 200 levels
    dm, ds = m1 - m2, np.abs(s1 - s2)
    exact = dm * (2 * stats.norm.cdf(dm / ds) - 1) + 2 * ds * stats.norm.pdf(dm / ds)
    ours = wasserstein_quantiles.pointwise(m1[:, None] + s1[:, None] * z, m2[:, None] + s2[:, None] * z)
    assert_allclose(ours, exact, rtol=2e-3, atol=1e-3)


def test_wasserstein_quantiles_sorts_rows():
    qa = np.array([[0.0, 1.0, 2.0]])
    assert wasserstein_quantiles(qa[:, ::-1], qa) == 0.0


def test_gaussian_kl_matches_quadrature():
    mp, sp, mq, sq = 0.3, 0.8, -0.5, 1.7
    p, q = stats.norm(mp, sp), stats.norm(mq, sq)
    numeric, _ = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -15, 15)
    assert gaussian_kl([mp], [sp], [mq], [sq]) == pytest.approx(numeric, rel=1e-8)
    assert gaussian_kl([mp, 1.0], [sp, 2.0], [mp, 1.0], [sp, 2.0]) == 0.0
