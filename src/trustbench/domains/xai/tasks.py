"""Tasks of the ``xai`` benchmark: training and test data with ground-truth importance masks.

A task is configuration (sample sizes, scenario parameters); ``make(seed)`` draws an independent
training and test set (:class:`~trustbench.domains.xai.data.XaiData` each, with ``mask`` and
``suppressor``). Models are fitted on ``train``; explanations are evaluated on the correctly
classified ``test`` samples (as in XAI-TRIS, Clark et al. 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.domains.xai import data as D
from trustbench.validation import check_int

__all__ = ["XaiSplit", "Suppressor2D", "Linear8x8", "Tris", "Clinical"]


@dataclass(frozen=True, eq=False)
class XaiSplit:
    train: D.XaiData
    test: D.XaiData


class _Task:
    name = "xai"
    n_train: int
    n_test: int

    def _check_sizes(self) -> None:
        check_int(self.n_train, "n_train", minimum=20)
        check_int(self.n_test, "n_test", minimum=4)

    def validate(self) -> None:
        self._check_sizes()
        self._draw(4, 0)  # the generator validates its own parameters

    @property
    def label(self) -> str:
        return self.name

    def make(self, seed: int) -> XaiSplit:
        self.validate()
        train_seed, test_seed = np.random.SeedSequence(int(seed)).generate_state(2)  # independent streams
        return XaiSplit(train=self._draw(int(self.n_train), int(train_seed)), test=self._draw(int(self.n_test), int(test_seed)))

    def _draw(self, n: int, seed: Any) -> D.XaiData:
        raise NotImplementedError


class Suppressor2D(_Task):
    """The analytic two-feature suppressor problem (Haufe et al. 2014): ``x1 = z + d``, ``x2 = d``."""

    name = "xai/suppressor_2d"
    sample_shape = (2,)

    def __init__(self, *, n_train: int = 1000, n_test: int = 500, distractor_std: float = 1.0,
                 correlation: float = 0.9) -> None:
        self.n_train = n_train
        self.n_test = n_test
        self.distractor_std = distractor_std
        self.correlation = correlation

    def _draw(self, n: int, seed: Any) -> D.XaiData:
        return D.linear_suppressor_2d(n, seed=seed, distractor_std=self.distractor_std, correlation=self.correlation)


class Linear8x8(_Task):
    """Linear 8x8 images with a suppressor (Wilming et al. 2022)."""

    name = "xai/linear_8x8"
    sample_shape = (8, 8)

    def __init__(self, *, n_train: int = 2000, n_test: int = 300, weights: tuple[float, ...] | list[float] = (0.15, 0.425, 0.425),
                 noise_sigma: float = 1.0) -> None:
        self.n_train = n_train
        self.n_test = n_test
        self.weights = weights
        self.noise_sigma = noise_sigma

    def _draw(self, n: int, seed: Any) -> D.XaiData:
        return D.linear_image_8x8(n, seed=seed, weights=tuple(self.weights), noise_sigma=self.noise_sigma)


class Tris(_Task):
    """An XAI-TRIS scenario (Clark et al. 2024): ``scenario`` lin/mult/rigid/xor, ``background``
    white/corr, ``size`` 8 or 64, signal strength ``alpha`` (None: the scenario's default)."""

    name = "xai/tris"

    def __init__(self, *, scenario: str = "lin", background: str = "white", size: int = 8,
                 alpha: float | None = None, n_train: int = 2000, n_test: int = 300) -> None:
        self.scenario = scenario
        self.background = background
        self.size = size
        self.alpha = alpha
        self.n_train = n_train
        self.n_test = n_test

    @property
    def sample_shape(self) -> tuple[int, int]:
        return (int(self.size), int(self.size))

    @property
    def label(self) -> str:
        alpha = "" if self.alpha is None else f"/alpha={self.alpha:g}"
        return f"xai/tris/{self.scenario}/{self.background}/{self.size}{alpha}"

    def _draw(self, n: int, seed: Any) -> D.XaiData:
        return D.xai_tris(n, scenario=self.scenario, background=self.background, size=self.size,
                          alpha=self.alpha, seed=seed)


class Clinical(_Task):
    """Clinical-style table with causal, confounded and suppressor features
    (:func:`~trustbench.domains.xai.data.tabular_clinical`); inputs are z-scored with the training
    means and standard deviations (the masks do not change)."""

    name = "xai/clinical"
    sample_shape = (len(D.CLINICAL_FEATURES),)

    def __init__(self, *, n_train: int = 4000, n_test: int = 500, prevalence: float = 0.3) -> None:
        self.n_train = n_train
        self.n_test = n_test
        self.prevalence = prevalence

    @property
    def feature_names(self) -> list[str]:
        return list(D.CLINICAL_FEATURES)

    def _draw(self, n: int, seed: Any) -> D.XaiData:
        return D.tabular_clinical(n, seed=seed, prevalence=self.prevalence)

    def make(self, seed: int) -> XaiSplit:
        split = super().make(seed)
        mean, std = split.train.X.mean(axis=0), split.train.X.std(axis=0)

        def z(d: D.XaiData) -> D.XaiData:
            return D.XaiData((d.X - mean) / std, d.y, d.mask, d.suppressor, {**d.meta, "feature_mean": mean,
                                                                              "feature_std": std})

        return XaiSplit(train=z(split.train), test=z(split.test))
