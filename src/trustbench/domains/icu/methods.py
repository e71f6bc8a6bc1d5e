"""ICU methods beyond the base models: recalibrated models and treatment-effect meta-learners.

Every ICU method takes a :class:`~trustbench.domains.icu.cohort.Cohort`: ``fit(cohort, seed)`` and
``predict(cohort)`` with one value per ``outc`` row (see ``models.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.validation import check_choice, check_int

__all__ = ["Recalibrated", "SLearner", "TLearner", "DRLearner"]


def _base_model(name: str, params: dict[str, Any]):
    from trustbench.domains.icu.models import MODELS

    check_choice(name, "base", MODELS)
    return MODELS[name](**params)


@dataclass
class Recalibrated:
    """A base model recalibrated on held-out training stays: temperature scaling (Guo et al. 2017),
    Platt scaling (Platt 1999) or isotonic regression (Zadrozny & Elkan 2002).

    The base model is fitted on ``1 - holdout`` of the training stays, the recalibrator on its
    predictions for the rest; the test stays are never seen.
    """

    base: str = "lightgbm"
    how: str = "isotonic"
    holdout: float = 0.25
    base_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice(self.how, "how", ("temperature", "platt", "isotonic"))
        _base_model(self.base, dict(self.base_params))
        if not 0.05 <= float(self.holdout) <= 0.5:
            raise ValueError(f"holdout must lie in [0.05, 0.5]; got {self.holdout!r}.")

    def supports(self, task) -> bool:
        return task.kind == "binary"

    def fit(self, cohort, seed: int = 0) -> "Recalibrated":
        from trustbench.domains.icu.cohort import split_stays
        from trustbench.uq.classification import recalibrator

        if cohort.kind != "binary":
            raise ValueError(f"Recalibrated needs a binary task; {cohort.name!r} is a {cohort.kind} task.")
        fit_part, hold = split_stays(cohort, [1.0 - float(self.holdout)], seed + 7919)
        self.model_ = _base_model(self.base, dict(self.base_params)).fit(fit_part, seed=seed)
        self.calibrator_ = recalibrator(self.how).fit(self.model_.predict(hold), hold.y)
        return self

    def predict(self, cohort) -> np.ndarray:
        return np.clip(self.calibrator_.transform(self.model_.predict(cohort)), 0.0, 1.0)


@dataclass
class _EffectLearner:
    """A meta-learner over the tabular features of the ICU preprocessing; ``predict`` returns the ITE."""

    base: str = "lightgbm"
    seed_offset: int = 0

    _cls = ""

    def supports(self, task) -> bool:
        return task.kind == "effect"

    def _treatment(self, cohort) -> np.ndarray:
        if "treatment" not in cohort.sta.columns:
            raise ValueError(f"cohort {cohort.name!r} has no 'treatment' column in sta; an effect learner needs one.")
        sta = cohort.sta.set_index("stay_id")
        return sta["treatment"].to_numpy(dtype=float)[sta.index.get_indexer(cohort.row_stays)]

    def fit(self, cohort, seed: int = 0):
        from trustbench.domains.icu.features import Preprocessor
        from trustbench.uq import effects

        check_int(seed, "seed", minimum=0)
        self.features_ = Preprocessor().fit(cohort)
        X = self._design(cohort)
        self.learner_ = getattr(effects, self._cls)(base=self.base).fit(X, self._treatment(cohort), cohort.y,
                                                                          seed=seed + self.seed_offset)
        return self

    def _design(self, cohort) -> np.ndarray:
        X = self.features_.tabular(cohort)
        keep = [i for i, n in enumerate(self.features_.feature_names_) if "treatment" not in n]
        return X[:, keep]

    def predict(self, cohort) -> np.ndarray:
        return self.learner_.predict_ite(self._design(cohort))


@dataclass
class SLearner(_EffectLearner):
    """One outcome model with the treatment as a feature (Künzel et al. 2019)."""

    _cls = "SLearner"


@dataclass
class TLearner(_EffectLearner):
    """One outcome model per arm (Künzel et al. 2019)."""

    _cls = "TLearner"


@dataclass
class DRLearner(_EffectLearner):
    """Doubly robust pseudo-outcome regression with cross-fitting (Kennedy 2023)."""

    _cls = "DRLearner"
