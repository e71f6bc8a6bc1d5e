"""Perturbations of tabular inputs. Severities are in units of the training data's spread or
are fractions of entries; each function is pure and seeded through ``rng``."""

from __future__ import annotations

import numpy as np

from trustbench.perturb.base import perturbation

__all__ = ["gaussian_noise", "covariate_shift", "missing_mcar", "outliers"]


def _center_scale(train_X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = np.nanmean(train_X, axis=0)
    scale = np.nanstd(train_X, axis=0)
    return center, np.where(scale > 0, scale, 1.0)


@perturbation(severities=(0.1, 0.25, 0.5), bounds=(0.0, 10.0))
def gaussian_noise(X, severity, rng, *, train_X):
    """Additive Gaussian measurement noise on every input, std = severity × the feature's training std.

    The targets are unchanged: the patient is the same, only the measurement of the inputs is worse.
    """
    _, scale = _center_scale(train_X)
    return X + severity * scale * rng.standard_normal(X.shape)


@perturbation(severities=(0.5, 1.0, 2.0), bounds=(0.0, 10.0), shift=True)
def covariate_shift(X, severity, rng, *, train_X):
    """Move every input away from the training centre by severity × the feature's training std.

    A *shift*: the population itself moves (towards and past the edge of the training data), so
    targets and ground truth are re-simulated at the new inputs; skipped on tasks without a simulator.
    """
    center, scale = _center_scale(train_X)
    direction = np.sign(X - center)
    direction[direction == 0] = 1.0
    return X + severity * scale * direction


@perturbation(severities=(0.1, 0.3, 0.5), bounds=(0.0, 1.0))
def missing_mcar(X, severity, rng, *, train_X):
    """Missing completely at random: a fraction ``severity`` of entries is lost and mean-imputed.

    Imputation uses the training means (the method sees a complete matrix, as in most pipelines).
    """
    center, _ = _center_scale(train_X)
    lost = rng.uniform(size=X.shape) < severity
    return np.where(lost, center[None, :], X)


@perturbation(severities=(0.05, 0.1, 0.2), bounds=(0.0, 1.0))
def outliers(X, severity, rng, *, train_X):
    """Gross input errors: a fraction ``severity`` of rows gets one feature off by ±5 training stds."""
    _, scale = _center_scale(train_X)
    n, d = X.shape
    rows = np.flatnonzero(rng.uniform(size=n) < severity)
    cols = rng.integers(0, d, size=len(rows))
    signs = rng.choice([-1.0, 1.0], size=len(rows))
    out = X.copy()
    out[rows, cols] += signs * 5.0 * scale[cols]
    return out
