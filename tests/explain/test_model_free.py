"""Model-free baselines and global explanations against scipy/numpy references and the analytic
suppressor problem (Haufe et al. 2014; Wilming et al. 2023): for the optimal linear model of
``x1 = z + d, x2 = d`` the weights (and saliency) give the suppressor x2 half the importance, the
activation pattern Cov(x) w gives it none."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import laplace, sobel
from torch import nn

from trustbench.domains.xai.data import linear_suppressor_2d
from trustbench.domains.xai.models import Logistic, MLPClassifier
from trustbench.explain.base import Context
from trustbench.explain.captum_methods import Saliency
from trustbench.explain.model_free import (HaufePattern, InputBaseline, LaplaceBaseline, PermutationImportance,
                                           RandomBaseline, SobelBaseline)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _ctx(X, seed=0):
    return Context(X_train=np.asarray(X, dtype=float), y_train=np.zeros(len(X), dtype=int), seed=seed)


def _images(n=4, size=7, seed=0):
    return np.random.default_rng(seed).standard_normal((n, size, size))


def _share(attr, j=1):
    """Share of feature j in the total absolute attribution (summed over samples)."""
    a = np.abs(attr).sum(axis=0)
    return float(a[j] / a.sum())


class ProbaOnly:
    def __init__(self, w, b=0.0):
        self.w, self.b = np.asarray(w, dtype=float), float(b)

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        p1 = 1.0 / (1.0 + np.exp(-(X.reshape(len(X), -1) @ self.w + self.b)))
        return np.column_stack([1.0 - p1, p1])


# ------------------------------------------------------------------------------ baselines
def test_random_baseline_reproducible_per_seed_and_uniform():
    X = np.zeros((50, 6, 6))
    t = np.zeros(50, dtype=int)
    a = RandomBaseline().explain(None, X, t, context=_ctx(X, seed=1))
    assert a.shape == X.shape
    assert np.all((a >= 0) & (a < 1))
    np.testing.assert_array_equal(a, RandomBaseline().explain(None, X, t, context=_ctx(X, seed=1)))
    assert not np.allclose(a, RandomBaseline().explain(None, X, t, context=_ctx(X, seed=2)))
    assert abs(a.mean() - 0.5) < 0.03 and abs(a.var() - 1 / 12) < 0.01  # uniform(0, 1) moments
    assert RandomBaseline.baseline and RandomBaseline().supports(None, (3,))


def test_input_baseline_is_the_input():
    X = _images()
    a = InputBaseline().explain(None, X, np.ones(len(X), dtype=int), context=_ctx(X))
    np.testing.assert_array_equal(a, X)
    assert a is not X
    v = np.random.default_rng(1).standard_normal((3, 5))
    np.testing.assert_array_equal(InputBaseline().explain(None, v, np.zeros(3, dtype=int), context=_ctx(v)), v)


def test_sobel_baseline_is_hypot_of_per_image_sobel():
    X = _images(5, 7)
    a = SobelBaseline().explain(None, X, np.zeros(5, dtype=int), context=_ctx(X))
    assert a.shape == X.shape
    for i in range(len(X)):
        ref = np.hypot(sobel(X[i], axis=1, mode="reflect"), sobel(X[i], axis=0, mode="reflect"))
        np.testing.assert_allclose(a[i], ref, rtol=1e-12, atol=1e-12)
    # an image's map does not depend on the other images of the batch
    np.testing.assert_allclose(SobelBaseline().explain(None, X[2:3], np.zeros(1, dtype=int), context=_ctx(X))[0],
                               a[2], rtol=1e-12)


def test_sobel_of_vertical_step_edge_is_on_the_edge():
    img = np.zeros((6, 6))
    img[:, 3:] = 1.0
    a = SobelBaseline().explain(None, img[None], np.zeros(1, dtype=int), context=_ctx(img[None]))[0]
    assert np.all(a[:, [2, 3]] > 0) and np.all(a[:, [0, 5]] == 0)


def test_laplace_baseline_is_abs_of_per_image_laplace():
    X = _images(5, 8, seed=2)
    a = LaplaceBaseline().explain(None, X, np.zeros(5, dtype=int), context=_ctx(X))
    for i in range(len(X)):
        np.testing.assert_allclose(a[i], np.abs(laplace(X[i], mode="reflect")), rtol=1e-12, atol=1e-12)
    assert np.all(a >= 0)


@pytest.mark.parametrize("cls", [SobelBaseline, LaplaceBaseline])
def test_edge_baselines_only_for_images(cls):
    assert cls().supports(None, (8, 8))
    assert not cls().supports(None, (9,))
    assert not cls().supports(None, (2, 3, 3))
    assert cls.baseline


@pytest.mark.parametrize("cls", [RandomBaseline, InputBaseline, SobelBaseline])
def test_baselines_check_target(cls):
    X = _images(3)
    with pytest.raises(ValueError, match="target"):
        cls().explain(None, X, np.zeros(4, dtype=int), context=_ctx(X))


# ------------------------------------------------------------------------------ Haufe pattern
@pytest.fixture(scope="module", params=[1.0, 100.0], ids=["C=1", "C=100"])
def suppressor_model(request):
    d = linear_suppressor_2d(20000, seed=0, correlation=1.0)
    return d, Logistic(C=request.param).fit(d.X, d.y)


def test_haufe_pattern_gives_suppressor_almost_no_importance_and_equals_cov_w(suppressor_model):
    d, model = suppressor_model
    X = d.X[:200]
    t = d.y[:200]
    pat = HaufePattern().explain(model, X, t, context=_ctx(d.X))
    ref = np.cov(d.X.T) @ model.coef_  # np.cov: ddof = 1, rows = variables
    np.testing.assert_allclose(pat, np.broadcast_to(ref, X.shape), rtol=1e-10)
    # The data are separable (x1 - x2 = z), so the L2 penalty keeps the fit short of the optimal
    # direction (1, -1): |w2| < |w1| and the pattern keeps Cov(x2, w·x) = w1 + w2 != 0. Measured on
    # this seed: share 0.059 at C = 1, 0.042 at C = 100 (0.039 at C = 1e4).
    assert _share(pat) < (0.05 if model.C >= 100 else 0.07)
    sal = Saliency().explain(model, X, t, context=_ctx(d.X))
    assert _share(pat) < 0.15 * _share(sal)
    assert HaufePattern().supports(model, (2,))


def test_saliency_gives_suppressor_half_on_the_same_model(suppressor_model):
    d, model = suppressor_model
    w = model.coef_ / np.abs(model.coef_[0])
    assert abs(w[1] + 1.0) < 0.1  # near the optimal direction (1, -1) (Wilming et al. 2023)
    X, t = d.X[:200], d.y[:200]
    sal = Saliency().explain(model, X, t, context=_ctx(d.X))
    assert abs(_share(sal) - 0.5) < 0.05


def test_haufe_pattern_of_plain_torch_linear_module_uses_logit_difference():
    torch.manual_seed(0)
    lin = nn.Linear(9, 2)

    class M:
        module_ = nn.Sequential(nn.Flatten(), lin)

    X_train = np.random.default_rng(3).standard_normal((40, 3, 3)) @ np.diag([1.0, 2.0, 0.5])
    w = (lin.weight[1] - lin.weight[0]).detach().double().numpy()
    X = X_train[:5]
    pat = HaufePattern().explain(M(), X, np.zeros(5, dtype=int), context=_ctx(X_train))
    ref = (np.cov(X_train.reshape(40, -1).T) @ w).reshape(3, 3)
    np.testing.assert_allclose(pat, np.broadcast_to(ref, X.shape), rtol=1e-6)


def test_haufe_pattern_needs_a_linear_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    mlp = MLPClassifier(hidden=[4], epochs=1).fit(X, y)
    assert not HaufePattern().supports(mlp, (4,))
    assert not HaufePattern().supports(ProbaOnly(np.ones(4)), (4,))
    with pytest.raises(ValueError, match="linear"):
        HaufePattern().explain(mlp, X[:3], y[:3], context=_ctx(X))


# ------------------------------------------------------------------------------ permutation importance
def test_permutation_importance_ignored_feature_gets_exactly_zero():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    model = ProbaOnly([1.5, 2.0, 0.0])  # ignores feature 2
    t = (rng.random(200) < model.predict_proba(X)[:, 1]).astype(int)
    imp = PermutationImportance(n_repeats=3).explain(model, X, t, context=_ctx(X))
    assert imp.shape == X.shape
    np.testing.assert_array_equal(imp, np.broadcast_to(imp[0], X.shape))  # one global map
    assert np.all(imp[:, 2] == 0.0)
    assert imp[0, 1] > 0 and imp[0, 0] > 0
    assert imp[0, 1] > imp[0, 0]  # larger weight, same feature scale
    np.testing.assert_array_equal(imp, PermutationImportance(n_repeats=3).explain(model, X, t, context=_ctx(X)))


def test_permutation_importance_matches_expected_log_loss_increase():
    """Permuting feature 0 of a one-feature logistic model across many samples: the increase of the
    log-loss approaches E[loss(w x', y)] - E[loss(w x, y)] with x' independent of y (numpy reference)."""
    rng = np.random.default_rng(1)
    n = 4000
    X = rng.standard_normal((n, 2))
    model = ProbaOnly([2.0, 0.0])
    p = model.predict_proba(X)
    t = (rng.random(n) < p[:, 1]).astype(int)
    imp = PermutationImportance(n_repeats=2).explain(model, X, t, context=_ctx(X))
    base = -np.log(p[np.arange(n), t]).mean()
    # independent x': the loss averaged over all (x', y) pairs, with a fresh draw of x'
    xp = rng.standard_normal(n)
    pp = 1.0 / (1.0 + np.exp(-2.0 * xp))
    perm_loss = -(t.mean() * np.log(pp).mean() + (1 - t.mean()) * np.log(1 - pp).mean())
    assert imp[0, 0] == pytest.approx(perm_loss - base, rel=0.1)
    assert imp[0, 1] == 0.0


def test_permutation_importance_blocks_on_images():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((120, 8, 8))
    w = np.zeros((8, 8))
    w[0, 0] = 3.0  # only the top-left block matters
    model = ProbaOnly(w.reshape(-1))
    t = (model.predict_proba(X)[:, 1] > 0.5).astype(int)
    imp = PermutationImportance(n_repeats=2, block=4).explain(model, X, t, context=_ctx(X))[0]
    assert np.all(imp[:4, :4] == imp[0, 0]) and imp[0, 0] > 0
    imp2 = imp.copy()
    imp2[:4, :4] = 0
    assert np.all(imp2 == 0)


def test_permutation_importance_bad_n_repeats():
    X = np.zeros((5, 2))
    for bad, exc in [(0, ValueError), (1.5, TypeError)]:
        with pytest.raises(exc, match="n_repeats"):
            PermutationImportance(n_repeats=bad).explain(ProbaOnly([1.0, 1.0]), X, np.zeros(5, dtype=int),
                                                         context=_ctx(X))
