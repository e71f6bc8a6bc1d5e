"""Treatment-effect meta-learners for a binary outcome (Künzel et al. 2019; Kennedy 2023).

All estimate the individual treatment effect on the risk-difference scale,

    τ(x) = P(y = 1 | do(t = 1), x) − P(y = 1 | do(t = 0), x) = μ₁(x) − μ₀(x),

under the usual identifying assumptions (no unmeasured confounding given X, overlap 0 < e(x) < 1,
consistency), from rows (X, t, y) with a binary treatment t and a binary outcome y.

==============  ===========================================================================
class           estimator
==============  ===========================================================================
``SLearner``    one outcome model μ(x, t) on [X, t]; τ̂(x) = μ̂(x, 1) − μ̂(x, 0)
``TLearner``    one outcome model per arm; τ̂(x) = μ̂₁(x) − μ̂₀(x)
``DRLearner``   cross-fitted AIPW pseudo-outcomes regressed on X (Kennedy 2023)
==============  ===========================================================================

``base`` chooses the models: ``"logreg"`` (standardised inputs, scikit-learn
``LogisticRegression(max_iter=1000)`` for outcomes, ``Ridge`` for the DR final stage) or
``"lightgbm"`` (``LGBMClassifier`` / ``LGBMRegressor`` with 200 trees, learning rate 0.05,
15 leaves, one thread, seeded and deterministic). The DR propensity model is always the logistic
regression. All are deterministic for a ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.uq._common import check_number, check_seed
from trustbench.validation import check_array, check_choice, check_int, check_same_length

__all__ = ["BASES", "SLearner", "TLearner", "DRLearner", "check_treatment_data"]

BASES = ("logreg", "lightgbm")

_LGBM = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "verbose": -1, "n_jobs": 1}


# ---------------------------------------------------------------------------------------------
# inputs and base models
# ---------------------------------------------------------------------------------------------


def _binary(v: Any, name: str) -> np.ndarray:
    arr = check_array(v, name, ndim=1)
    bad = (arr != 0.0) & (arr != 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold binary values 0 or 1; got {arr[i]!r} at index {i}.")
    return arr.astype(np.int64)


def check_treatment_data(X: Any, t: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate (X, t, y): X 2-D finite, t in {0, 1} with both arms present, y in {0, 1}."""
    X = check_array(X, "X", ndim=2)
    t = _binary(t, "t")
    y = _binary(y, "y")
    check_same_length(X=X, t=t, y=y)
    n_treated = int(t.sum())
    if n_treated == 0 or n_treated == len(t):
        raise ValueError(
            f"t must contain both arms (0 = control, 1 = treated); got {n_treated} treated of {len(t)} rows."
        )
    return X, t, y


class _Constant:
    """Stand-in for a classifier fitted on a single outcome class: predicts that class's probability."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([np.full(len(X), 1.0 - self.value), np.full(len(X), self.value)])


def _classifier(base: str, seed: int) -> Any:
    if base == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(**_LGBM, random_state=seed, deterministic=True, force_row_wise=True)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _regressor(base: str, seed: int) -> Any:
    if base == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(**_LGBM, random_state=seed, deterministic=True, force_row_wise=True)
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


def _fit_classifier(X: np.ndarray, y: np.ndarray, base: str, seed: int) -> Any:
    """A fitted classifier of y on X; a constant one when y has a single class."""
    if y.min() == y.max():
        return _Constant(y[0])
    return _classifier(base, seed).fit(X, y)


def _proba(model: Any, X: np.ndarray) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


# ---------------------------------------------------------------------------------------------
# learners
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _MetaLearner:
    """Shared parameters, checks and the fit/predict skeleton; see the module docstring."""

    base: str = "logreg"

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        check_choice(self.base, "base", BASES)

    def fit(self, X: Any, t: Any, y: Any, seed: int = 0) -> _MetaLearner:
        """Fit on covariates ``X`` (n, d), treatment ``t`` (n,) and outcome ``y`` (n,), both binary."""
        self.validate()
        seed = check_seed(seed)
        X, t, y = check_treatment_data(X, t, y)
        self._fit(X, t, y, seed)
        self.n_features_in_ = X.shape[1]
        self.ate_ = self._ate(X)
        return self

    def _ate(self, X: np.ndarray) -> float:
        """Plug-in (g-formula) average effect over the training rows."""
        return float(np.mean(self._ite(X)))

    def predict_ite(self, X: Any) -> np.ndarray:
        """Estimated risk differences τ̂(x) = P̂(y = 1 | do(t = 1), x) − P̂(y = 1 | do(t = 0), x)."""
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(X, t, y) before predict_ite(X).")
        X = check_array(X, "X", ndim=2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} feature(s), as in fit; got shape {X.shape}.")
        return self._ite(X)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def _ite(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


@dataclass(eq=False)
class SLearner(_MetaLearner):
    """S-learner (Künzel et al. 2019): a single outcome model μ(x, t) fitted on [X, t].

    τ̂(x) = μ̂(x, 1) − μ̂(x, 0). With ``base="logreg"`` the model has no X·t interaction, so the
    effect is one constant log-odds ratio (the coefficient of t) and the risk difference varies
    only through the baseline risk; with ``"lightgbm"`` the trees may split on t or ignore it
    (regularisation pulls the effect towards 0, the S-learner's known bias).

    Parameters
    ----------
    base : {"logreg", "lightgbm"}
        Outcome model.

    Attributes
    ----------
    model_ : estimator
        The fitted outcome model on [X, t].
    ate_ : float
        Plug-in average effect, the mean of τ̂ over the training rows.
    """

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> None:
        self.model_ = _fit_classifier(np.column_stack([X, t]), y, self.base, seed)

    def _ite(self, X: np.ndarray) -> np.ndarray:
        ones, zeros = np.ones((len(X), 1)), np.zeros((len(X), 1))
        return _proba(self.model_, np.hstack([X, ones])) - _proba(self.model_, np.hstack([X, zeros]))


@dataclass(eq=False)
class TLearner(_MetaLearner):
    """T-learner (Künzel et al. 2019): μ̂₀ fitted on the control rows, μ̂₁ on the treated rows.

    τ̂(x) = μ̂₁(x) − μ̂₀(x). An arm whose outcomes are all one class gets a constant model.

    Parameters
    ----------
    base : {"logreg", "lightgbm"}
        Outcome models.

    Attributes
    ----------
    model0_, model1_ : estimator
        Outcome models of the control and treated arms.
    ate_ : float
        Plug-in average effect, the mean of τ̂ over the training rows.
    """

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> None:
        self.model0_ = _fit_classifier(X[t == 0], y[t == 0], self.base, seed)
        self.model1_ = _fit_classifier(X[t == 1], y[t == 1], self.base, seed)

    def _ite(self, X: np.ndarray) -> np.ndarray:
        return _proba(self.model1_, X) - _proba(self.model0_, X)


@dataclass(eq=False)
class DRLearner(_MetaLearner):
    """DR-learner (Kennedy 2023): regression of cross-fitted doubly robust pseudo-outcomes on X.

    The rows are split into ``n_folds`` folds (stratified by t, seeded). For each fold, the
    propensity e(x) = P(t = 1 | x) (logistic regression, clipped to [c, 1 − c] with
    c = ``propensity_clip``) and the arm outcome models μ₀, μ₁ (``base``) are fitted on the other
    folds and evaluated on this one, giving the AIPW pseudo-outcome

        φ = μ̂₁(x) − μ̂₀(x) + t (y − μ̂₁(x)) / ê(x) − (1 − t)(y − μ̂₀(x)) / (1 − ê(x)),

    whose conditional mean is τ(x) when either the propensity or the outcome models are right.
    The final model regresses φ on X (``Ridge`` for ``"logreg"``, ``LGBMRegressor`` for
    ``"lightgbm"``) on all rows, as in EconML's ``DRLearner``; τ̂ is clipped to [−1, 1].
    ``ate_`` is the AIPW (augmented inverse-propensity weighted) estimate, the mean of φ
    (Robins et al. 1994), with the standard error ``ate_se_`` = sd(φ)/√n.

    Parameters
    ----------
    base : {"logreg", "lightgbm"}
        Outcome and final-stage models.
    propensity_clip : float in (0, 0.5)
        Estimated propensities are clipped to [c, 1 − c], bounding the inverse weights by 1/c.
    n_folds : int ≥ 2
        Cross-fitting folds.

    Attributes
    ----------
    final_model_ : estimator
        Regression of the pseudo-outcomes on X.
    pseudo_outcomes_ : ndarray (n,)
        The cross-fitted φ of the training rows.
    propensity_ : ndarray (n,)
        The cross-fitted, clipped propensities of the training rows.
    ate_, ate_se_ : float
        AIPW average effect and its standard error.
    """

    propensity_clip: float = 0.01
    n_folds: int = 2

    def validate(self) -> None:
        super().validate()
        check_number(self.propensity_clip, "propensity_clip", 0.0, 0.5)
        check_int(self.n_folds, "n_folds", minimum=2)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> None:
        from sklearn.model_selection import StratifiedKFold

        smallest = int(min(t.sum(), len(t) - t.sum()))
        if smallest < self.n_folds:
            raise ValueError(
                f"n_folds={self.n_folds} needs at least that many rows in each arm; the smaller arm has {smallest}."
            )
        c = self.propensity_clip
        mu0, mu1, e = np.empty(len(y)), np.empty(len(y)), np.empty(len(y))
        folds = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=seed).split(X, t)
        for k, (train, test) in enumerate(folds):  # a loop over folds, not rows
            Xtr, ttr, ytr = X[train], t[train], y[train]
            fold_seed = seed + k
            e[test] = _proba(_fit_classifier(Xtr, ttr, "logreg", fold_seed), X[test])
            mu0[test] = _proba(_fit_classifier(Xtr[ttr == 0], ytr[ttr == 0], self.base, fold_seed), X[test])
            mu1[test] = _proba(_fit_classifier(Xtr[ttr == 1], ytr[ttr == 1], self.base, fold_seed), X[test])
        e = np.clip(e, c, 1.0 - c)
        phi = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1.0 - e)
        self.propensity_ = e
        self.pseudo_outcomes_ = phi
        self.final_model_ = _regressor(self.base, seed).fit(X, phi)
        self.ate_se_ = float(np.std(phi, ddof=1) / np.sqrt(len(phi)))

    def _ate(self, X: np.ndarray) -> float:
        return float(np.mean(self.pseudo_outcomes_))

    def _ite(self, X: np.ndarray) -> np.ndarray:
        return np.clip(self.final_model_.predict(X), -1.0, 1.0)
