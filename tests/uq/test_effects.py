"""Treatment-effect meta-learners on a simulated confounded problem with a known effect.

Data: X ~ N(0, I₄); treatment t ~ Bernoulli(σ(x₀ − 0.5 x₁)); outcome logits
logit μ₀(x) = −0.5 + x₀ + 0.5 x₂ and logit μ₁(x) = logit μ₀(x) + 0.8 + 0.8 x₁ (heterogeneous), so the
true effect is τ(x) = σ(logit μ₁) − σ(logit μ₀). x₀ raises both the chance of treatment and the
baseline risk: the naive difference of arm means is biased upwards (by about +0.12).
"""

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from trustbench.uq.effects import DRLearner, SLearner, TLearner


def simulate(n, seed, interaction=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = rng.binomial(1, expit(X[:, 0] - 0.5 * X[:, 1]))
    l0 = -0.5 + X[:, 0] + 0.5 * X[:, 2]
    l1 = l0 + 0.8 + (0.8 * X[:, 1] if interaction else 0.0)
    y = rng.binomial(1, np.where(t == 1, expit(l1), expit(l0)))
    return X, t, y, expit(l1) - expit(l0)


def pehe(est, truth):
    return float(np.sqrt(np.mean((est - truth) ** 2)))


def linear_projection_rmse(X, ite):
    """RMSE of the best linear (OLS) fit of the true effect on X: the floor for a linear final stage."""
    A = np.column_stack([np.ones(len(X)), X])
    return pehe(A @ np.linalg.lstsq(A, ite, rcond=None)[0], ite)


@pytest.fixture(scope="module")
def data():
    return simulate(3000, seed=0)


def test_t_learner_logreg_pehe_is_small(data):
    """Each arm is a correctly specified logistic model, so the only error is estimation error:
    with ~1500 rows and 5 coefficients per arm the logit error is ~0.13, i.e. ~0.04 in risk
    difference. The tolerance 0.08 is twice that, and well under half of sd(τ) ≈ 0.155, the PEHE
    of the best constant (the ATE)."""
    X, t, y, ite = data
    m = TLearner(base="logreg").fit(X, t, y, seed=0)
    assert pehe(m.predict_ite(X), ite) < 0.08
    assert pehe(m.predict_ite(X), ite) < 0.5 * ite.std()
    X2, _, _, ite2 = simulate(2000, seed=99)  # out of sample
    assert pehe(m.predict_ite(X2), ite2) < 0.08


def test_dr_learner_logreg_pehe_is_near_the_linear_floor(data):
    """The Ridge final stage can at best reach the linear projection of τ (RMSE ≈ 0.055 here, τ is
    non-linear in X on the risk scale); allow 0.04 on top of that floor for the noise of the
    pseudo-outcomes, and require clearly better than the best constant (sd(τ))."""
    X, t, y, ite = data
    m = DRLearner(base="logreg").fit(X, t, y, seed=0)
    floor = linear_projection_rmse(X, ite)
    err = pehe(m.predict_ite(X), ite)
    assert floor - 1e-3 <= err < floor + 0.04
    assert err < 0.6 * ite.std()
    assert np.all(np.abs(m.predict_ite(X)) <= 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dr_ate_beats_the_confounded_naive_difference(seed):
    X, t, y, ite = simulate(3000, seed)
    truth = ite.mean()
    naive = y[t == 1].mean() - y[t == 0].mean()
    m = DRLearner(base="logreg").fit(X, t, y, seed=seed)
    assert naive - truth > 0.08  # the confounding is real
    assert abs(m.ate_ - truth) < abs(naive - truth)
    assert abs(m.ate_ - truth) < 3.5 * m.ate_se_
    # AIPW by hand from the stored cross-fitted pieces equals ate_
    assert m.ate_ == pytest.approx(m.pseudo_outcomes_.mean())
    assert m.propensity_.min() >= 0.01 and m.propensity_.max() <= 0.99


def test_s_learner_logreg_recovers_a_constant_log_odds_effect():
    """Without an X·t interaction the true effect is one log-odds ratio, 0.8. The S-learner's implied
    log-odds ratio is constant over rows and within 3 standard errors of 0.8, the standard error
    taken from the Fisher information of an unpenalised logistic fit computed here."""
    X, t, y, ite = simulate(3000, seed=0, interaction=False)
    m = SLearner(base="logreg").fit(X, t, y, seed=0)
    Z0, Z1 = np.column_stack([X, np.zeros(len(X))]), np.column_stack([X, np.ones(len(X))])
    lor = logit(m.model_.predict_proba(Z1)[:, 1]) - logit(m.model_.predict_proba(Z0)[:, 1])
    assert lor.std() < 1e-8
    mle = LogisticRegression(C=np.inf, max_iter=10_000).fit(np.column_stack([X, t]), y)
    A = np.column_stack([np.ones(len(X)), X, t])
    mu = mle.predict_proba(A[:, 1:])[:, 1]
    se = np.sqrt(np.linalg.inv((A * (mu * (1 - mu))[:, None]).T @ A)[-1, -1])
    assert abs(lor[0] - mle.coef_[0, -1]) < 0.02  # the mild L2 penalty barely shrinks it
    assert abs(lor[0] - 0.8) < 3 * se
    np.testing.assert_allclose(
        m.predict_ite(X), m.model_.predict_proba(Z1)[:, 1] - m.model_.predict_proba(Z0)[:, 1]
    )
    assert m.ate_ == pytest.approx(ite.mean(), abs=0.03)


@pytest.mark.parametrize("cls", [SLearner, TLearner, DRLearner])
def test_lightgbm_learners_are_deterministic_for_a_seed(cls):
    X, t, y, ite = simulate(2000, seed=3)
    a = cls(base="lightgbm").fit(X, t, y, seed=5)
    b = cls(base="lightgbm").fit(X, t, y, seed=5)
    np.testing.assert_array_equal(a.predict_ite(X), b.predict_ite(X))
    assert a.ate_ == b.ate_
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert abs(a.ate_ - ite.mean()) < abs(naive - ite.mean())
    if cls is DRLearner:  # a different seed changes the folds
        c = cls(base="lightgbm").fit(X, t, y, seed=6)
        assert not np.array_equal(a.predict_ite(X), c.predict_ite(X))


def test_an_arm_with_a_single_outcome_class_gets_a_constant_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    t = np.r_[np.zeros(100), np.ones(100)].astype(int)
    y = np.where(t == 1, 1, rng.binomial(1, 0.3, 200))
    ite = TLearner().fit(X, t, y).predict_ite(X)
    assert np.all(ite > 0) and np.all(ite <= 1)


@pytest.mark.parametrize("cls", [SLearner, TLearner, DRLearner])
def test_inputs_are_validated(cls):
    X, t, y, _ = simulate(50, seed=0)
    with pytest.raises(ValueError, match=r"^X must be 2-D"):
        cls().fit(X[:, 0], t, y)
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"^X must be finite"):
        cls().fit(bad, t, y)
    with pytest.raises(ValueError, match=r"^t must hold binary values"):
        cls().fit(X, t * 2, y)
    with pytest.raises(ValueError, match=r"^t must contain both arms"):
        cls().fit(X, np.ones_like(t), y)
    with pytest.raises(ValueError, match=r"^y must hold binary values"):
        cls().fit(X, t, y + 0.5)
    with pytest.raises(ValueError, match="same length"):
        cls().fit(X, t[:-1], y)
    with pytest.raises(ValueError, match="base must be one of"):
        cls(base="xgboost").fit(X, t, y)
    with pytest.raises(TypeError, match="seed must be an integer"):
        cls().fit(X, t, y, seed=1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().predict_ite(X)
    with pytest.raises(ValueError, match="4 feature"):
        cls().fit(X, t, y).predict_ite(X[:, :3])


def test_dr_parameters_are_validated():
    X, t, y, _ = simulate(50, seed=0)
    with pytest.raises(ValueError, match=r"^propensity_clip must lie in"):
        DRLearner(propensity_clip=0.5).fit(X, t, y)
    with pytest.raises(ValueError, match=r"^n_folds must be >= 2"):
        DRLearner(n_folds=1).fit(X, t, y)
    t_few = np.zeros(50, dtype=int)
    t_few[:2] = 1
    with pytest.raises(ValueError, match="n_folds=3 needs at least"):
        DRLearner(n_folds=3).fit(X, t_few, y)
