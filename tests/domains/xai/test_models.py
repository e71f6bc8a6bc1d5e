"""Classifiers of the xai benchmark: the logistic model against scikit-learn fitted to tight
tolerance, determinism of the torch networks, that they learn XAI-TRIS LIN, and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from trustbench.domains.xai.data import xai_tris
from trustbench.domains.xai.models import CNN, Logistic, MLPClassifier
from trustbench.domains.xai.tasks import Clinical, Suppressor2D, Tris


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _noisy_linear(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d) + 0.3
    s = X @ np.linspace(-1.0, 1.0, d) + 0.4
    y = (rng.random(n) < 1 / (1 + np.exp(-s))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def tris():
    train = xai_tris(800, scenario="lin", size=8, seed=1)
    test = xai_tris(400, scenario="lin", size=8, seed=2)
    return train, test


# ------------------------------------------------------------------------------ logistic
@pytest.mark.parametrize("C", [0.05, 1.0, 10.0])
def test_logistic_predict_proba_equals_sklearn(C):
    X, y = _noisy_linear(seed=int(C * 100))
    model = Logistic(C=C).fit(X, y)
    # same solver settings: the two-logit torch module reproduces scikit-learn's probabilities
    same = LogisticRegression(C=C, tol=1e-6, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), same.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(model.predict(X), same.predict(X))
    # against the converged optimum (tol 1e-12): tol=1e-6 stops L-BFGS ~5e-6 short in probability
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X), atol=5e-5)
    np.testing.assert_allclose(model.coef_, ref.coef_[0], rtol=1e-3, atol=1e-4)


def test_logistic_on_images_and_two_logit_form():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3, 4))
    y = (X[:, 0, 0] - X[:, 2, 3] + 0.5 * rng.standard_normal(300) > 0).astype(int)
    model = Logistic().fit(X, y)
    assert model.coef_.shape == (3, 4)
    ref = LogisticRegression(tol=1e-6, max_iter=5000).fit(X.reshape(300, -1), y)
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X.reshape(300, -1)), atol=1e-6)
    z = model.logits(X)
    s = X.reshape(300, -1) @ ref.coef_[0] + ref.intercept_[0]
    np.testing.assert_allclose(z[:, 0], -s / 2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(z[:, 1], s / 2, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        model.predict_proba(X.reshape(300, 4, 3))


# ------------------------------------------------------------------------------ torch networks
def _small_mlp(**kw):
    return MLPClassifier(hidden=[16], epochs=kw.pop("epochs", 5), batch_size=64, **kw)


def _small_cnn(**kw):
    return CNN(channels=[4, 8], dense=16, epochs=kw.pop("epochs", 5), batch_size=64, **kw)


@pytest.mark.parametrize("make", [_small_mlp, _small_cnn], ids=["mlp", "cnn"])
def test_networks_deterministic_for_a_seed(make, tris):
    train, test = tris
    X, y = train.X[:300], train.y[:300]
    a = make().fit(X, y, seed=4).logits(test.X)
    torch.manual_seed(999)  # global state must not matter
    np.random.seed(999)
    b = make().fit(X, y, seed=4).logits(test.X)
    c = make().fit(X, y, seed=5).logits(test.X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (len(test.X), 2)


@pytest.mark.parametrize("make", [lambda: _small_mlp(epochs=25, lr=3e-3), lambda: _small_cnn(epochs=25, lr=3e-3)],
                         ids=["mlp", "cnn"])
def test_networks_learn_tris_lin(make, tris):
    train, test = tris
    model = make().fit(train.X, train.y, seed=0)
    acc = float(np.mean(model.predict(test.X) == test.y))
    assert acc > 0.75, acc
    p = model.predict_proba(test.X)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(model.predict(test.X), p.argmax(1))
    # early stopping keeps the best validation epoch
    assert 1 <= len(model.history_) <= 25
    assert model.val_loss_ == pytest.approx(min(model.history_))


def test_early_stopping_stops_after_patience():
    X, y = _noisy_linear(200, 3, seed=5)
    model = MLPClassifier(hidden=[8], epochs=200, patience=2, lr=0.05).fit(X, y)
    h = model.history_
    assert len(h) < 200
    best = int(np.argmin(h))
    assert len(h) == best + 3  # two epochs without improvement, then stop


def test_cnn_supports_images_only():
    assert CNN().supports(Tris(size=8))
    assert not CNN().supports(Clinical())
    assert not CNN().supports(Suppressor2D())
    X, y = _noisy_linear(60, 4)
    with pytest.raises(ValueError, match="image"):
        _small_cnn().fit(X, y)


def test_mlp_module_layout():
    X, y = _noisy_linear(100, 6)
    net = MLPClassifier(hidden=[7, 5], epochs=1).fit(X, y).module_
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lins] == [(6, 7), (7, 5), (5, 2)]
    assert isinstance(net, torch.nn.Sequential) and not net.training


# ------------------------------------------------------------------------------ bad input
X_OK, Y_OK = _noisy_linear(60, 4)
IMG = np.random.default_rng(0).standard_normal((40, 8, 8))
Y_IMG = np.arange(40) % 2


@pytest.mark.parametrize("model, X, y, exc, word", [
    (MLPClassifier(epochs=0), X_OK, Y_OK, ValueError, "epochs"),
    (MLPClassifier(epochs=2.5), X_OK, Y_OK, TypeError, "epochs"),
    (MLPClassifier(hidden=[]), X_OK, Y_OK, ValueError, "hidden"),
    (MLPClassifier(hidden=[4, 0]), X_OK, Y_OK, ValueError, r"hidden\[1\]"),
    (MLPClassifier(lr=0), X_OK, Y_OK, ValueError, "lr"),
    (MLPClassifier(weight_decay=-1e-3), X_OK, Y_OK, ValueError, "weight_decay"),
    (MLPClassifier(val_fraction=1.0), X_OK, Y_OK, ValueError, "val_fraction"),
    (MLPClassifier(patience=0), X_OK, Y_OK, ValueError, "patience"),
    (MLPClassifier(batch_size=0), X_OK, Y_OK, ValueError, "batch_size"),
    (CNN(channels=[4, 4, 4, 4]), IMG, Y_IMG, ValueError, "channels"),
    (CNN(channels=[]), IMG, Y_IMG, ValueError, "channels"),
    (CNN(dense=0), IMG, Y_IMG, ValueError, "dense"),
    (Logistic(C=0), X_OK, Y_OK, ValueError, "C"),
    (Logistic(C="1"), X_OK, Y_OK, ValueError, "C"),
    (MLPClassifier(), X_OK, np.zeros(60, dtype=int), ValueError, "y"),
    (Logistic(), X_OK, np.ones(60, dtype=int), ValueError, "y"),
    (MLPClassifier(), X_OK, np.where(Y_OK == 1, 2, 0), ValueError, "y"),
    (MLPClassifier(), X_OK, Y_OK[:-1], ValueError, "X"),
    (MLPClassifier(), np.where(np.eye(60, 4) == 1, np.nan, X_OK), Y_OK, ValueError, "X"),
    (Logistic(), np.where(np.eye(60, 4) == 1, np.inf, X_OK), Y_OK, ValueError, "X"),
    (CNN(), np.where(np.arange(64).reshape(8, 8) == 5, np.nan, IMG), Y_IMG, ValueError, "X"),
])
def test_bad_parameters_and_data_raise_naming_them(model, X, y, exc, word):
    with pytest.raises(exc, match=word):
        model.fit(X, y)
    assert not hasattr(model, "module_")  # raised before any work
