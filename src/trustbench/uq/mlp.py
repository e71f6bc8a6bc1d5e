"""Point and quantile multilayer perceptrons: the plain-network baselines of the UQ benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.types import Gaussian, Quantiles
from trustbench.uq._common import (
    NetworkConfig,
    Scaler,
    begin_fit,
    check_level_grid,
    check_number,
    check_predict_X,
    split,
)

__all__ = ["MLP", "QuantileMLP"]


@dataclass(kw_only=True, eq=False)
class MLP(NetworkConfig):
    """A network trained on squared error, with one homoscedastic Gaussian noise level.

    The plain point predictor with the cheapest honest error bar: the network is trained on a
    random ``1 - holdout`` share of the training data and the predictive standard deviation is the
    root-mean-square residual on the held-out ``holdout`` share, so an over-fitted network does not
    report a too small noise level. ``holdout=0`` trains on everything and uses the (optimistic)
    training residuals. The predictive is Gaussian(f(x), σ) with the same σ everywhere: no
    epistemic part, no input dependence.

    Parameters
    ----------
    hidden : widths of the hidden layers.
    activation : "relu", "tanh" or "silu".
    steps : full-batch Adam steps (cosine-decayed learning rate).
    lr : initial Adam learning rate (inputs and targets are standardized).
    weight_decay : L2 penalty on the weights.
    holdout : share of the training rows held out to estimate σ, in [0, 1).
    """

    holdout: float = 0.2

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        super().validate()
        check_number(self.holdout, "holdout", 0.0, 1.0, closed="left")

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> MLP:
        X, y, seed = begin_fit(self, X, y, seed)
        from trustbench.uq import _torch

        train, held = split(len(y), self.holdout, seed, "holdout") if self.holdout > 0 else (np.arange(len(y)),) * 2
        self.scaler_ = Scaler.fit(X[train], y[train])
        self.params_ = _torch.fit_mlp(
            self, self.scaler_.x(X[train]), self.scaler_.y(y[train]), _torch.generator(seed), _torch.mse, out=1
        )
        rms = np.sqrt(np.mean((y[held] - self._mean(X[held])) ** 2))
        self.noise_std_ = float(max(rms, 1e-9 * self.scaler_.y_scale))
        return self

    def _mean(self, X: np.ndarray) -> np.ndarray:
        from trustbench.uq import _torch

        return self.scaler_.loc(_torch.predict(self.params_, self.scaler_.x(X), self.activation)[0, :, 0])

    def predict(self, X: Any) -> Gaussian:
        X = check_predict_X(self, X)
        return Gaussian(self._mean(X), np.full(len(X), self.noise_std_))


@dataclass(kw_only=True, eq=False)
class QuantileMLP(NetworkConfig):
    """One network with an output per quantile level, trained on the summed pinball loss.

    Quantile regression (Koenker & Bassett 1978) by a neural network with a multi-output head, as
    in the base model of conformalized quantile regression (Romano et al. 2019). The predicted
    quantiles are sorted (monotone rearrangement, Chernozhukov et al. 2010) by
    :class:`trustbench.types.Quantiles`.

    Parameters
    ----------
    hidden, activation, steps, lr, weight_decay : as in :class:`MLP`.
    levels : increasing quantile levels in (0, 1); None = :data:`trustbench.uq._common.LEVELS`
        (0.025, 0.05, 0.1, ..., 0.95, 0.975: the 95 % and 90 % central intervals and a PIT grid).
    """

    levels: Any = None

    def validate(self) -> None:
        """Raise ValueError/TypeError on a bad parameter, before any work."""
        super().validate()
        check_level_grid(self.levels)

    def fit(self, X: Any, y: Any, *, seed: int = 0) -> QuantileMLP:
        X, y, seed = begin_fit(self, X, y, seed)
        from trustbench.uq import _torch

        self.levels_ = check_level_grid(self.levels)
        self.scaler_ = Scaler.fit(X, y)
        self.params_ = _torch.fit_mlp(
            self, self.scaler_.x(X), self.scaler_.y(y), _torch.generator(seed),
            _torch.pinball(self.levels_), out=len(self.levels_),
        )
        return self

    def predict(self, X: Any) -> Quantiles:
        from trustbench.uq import _torch

        X = check_predict_X(self, X)
        out = _torch.predict(self.params_, self.scaler_.x(X), self.activation)[0]
        return Quantiles(self.levels_, self.scaler_.loc(out))
