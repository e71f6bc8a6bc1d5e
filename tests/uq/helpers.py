"""Data and cheap base methods for the UQ tests (importable as ``tests.uq.helpers`` by the registry)."""

import numpy as np

from trustbench.types import Gaussian


def sine(x):
    return np.sin(np.asarray(x)[:, 0])


def noise_sd(x):
    """Heteroscedastic noise: 0.05 at x = -3 rising linearly to 0.35 at x = 3."""
    return 0.05 + 0.05 * (np.asarray(x)[:, 0] + 3.0)


def hetero_sine(n=200, seed=0):
    """x ~ U(-3, 3), y = sin(x) + noise_sd(x)·ε."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    return X, sine(X) + noise_sd(X) * rng.standard_normal(n)


def gap_data(n=100, seed=0):
    """Two clusters x ∈ [-3, -1.5] ∪ [1.5, 3], y = sin(2x) + 0.1ε: a gap in the middle, nothing beyond ±3."""
    rng = np.random.default_rng(seed)
    X = np.r_[rng.uniform(-3, -1.5, (n // 2, 1)), rng.uniform(1.5, 3, (n - n // 2, 1))]
    return X, np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(n)


class LeastSquares:
    """Linear least squares with the residual std: a cheap base for the conformal tests."""

    def fit(self, X, y, *, seed=0):
        A = np.c_[X, np.ones(len(X))]
        self.coef_, *_ = np.linalg.lstsq(A, y, rcond=None)
        self.std_ = float(np.std(y - A @ self.coef_))
        return self

    def predict(self, X):
        return Gaussian(np.c_[X, np.ones(len(X))] @ self.coef_, np.full(len(X), self.std_))
