"""Distances between distributions: a predictive against the true (or a reference) predictive.

References
----------
Peyré G, Cuturi M (2019). Computational Optimal Transport. Found. Trends Mach. Learn. 11(5-6),
section 2.6: in one dimension W1 is the L1 distance between the CDFs, equivalently between the
quantile functions.
Kullback S, Leibler RA (1951). On information and sufficiency. Ann. Math. Stat. 22(1), 79-86.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.metrics.bootstrap import mean_metric
from trustbench.metrics.scores import rows, rows_positive
from trustbench.validation import check_array

__all__ = ["wasserstein_1d", "wasserstein_quantiles", "gaussian_kl", "import_pot"]


def import_pot():
    """POT's ``ot`` module, imported without its JAX, TensorFlow and CuPy backends when it is not
    loaded yet: trustbench passes it numpy arrays only, and those backends' imports cost seconds
    (JAX alone ~5 s) in every worker process. A user who sets the variables keeps their choice."""
    import os
    import sys

    if "ot" not in sys.modules:
        for name in ("JAX", "TENSORFLOW", "CUPY"):
            os.environ.setdefault(f"POT_BACKEND_DISABLE_{name}", "1")
    import ot

    return ot


def wasserstein_1d(samples_a: Any, samples_b: Any) -> float:
    """Exact 1-Wasserstein distance between the empirical distributions of two 1-D sample sets.

    W1 = ∫ |F_a(z) - F_b(z)| dz, evaluated exactly between the pooled sorted values; the sets may
    have any sizes. Agrees with ``scipy.stats.wasserstein_distance``.
    """
    a = np.sort(rows("samples_a", samples_a))
    b = np.sort(rows("samples_b", samples_b))
    pooled = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(a, pooled[:-1], side="right") / len(a)
    fb = np.searchsorted(b, pooled[:-1], side="right") / len(b)
    return float(np.sum(np.abs(fa - fb) * np.diff(pooled)))


@mean_metric
def wasserstein_quantiles(q_a: Any, q_b: Any) -> np.ndarray:
    """Per-row W1 between two distributions given by their quantiles at the same midpoint levels.

    ``q_a``, ``q_b`` are (n, L), the quantiles at levels (i + ½)/L; W1 = ∫_0^1 |Q_a(u) - Q_b(u)| du
    is taken by the midpoint rule: the mean over levels of |q_a - q_b|. Rows are sorted first
    (monotone rearrangement), so slightly crossing quantiles are harmless.
    """
    qa = check_array(q_a, "q_a", ndim=2)
    qb = check_array(q_b, "q_b", ndim=2)
    if qa.shape != qb.shape:
        raise ValueError(f"q_a and q_b must have the same shape; got {qa.shape} and {qb.shape}.")
    return np.abs(np.sort(qa, axis=1) - np.sort(qb, axis=1)).mean(axis=1)


@mean_metric
def gaussian_kl(mean_p: Any, std_p: Any, mean_q: Any, std_q: Any) -> np.ndarray:
    """KL(N_p || N_q) = log(σ_q/σ_p) + (σ_p² + (μ_p - μ_q)²)/(2σ_q²) - ½, per row (nats)."""
    mean_p = rows("mean_p", mean_p)
    n = len(mean_p)
    std_p = rows_positive("std_p", std_p, n)
    mean_q = rows("mean_q", mean_q, n)
    std_q = rows_positive("std_q", std_q, n)
    ratio = (std_p / std_q) ** 2
    return 0.5 * (ratio + ((mean_p - mean_q) / std_q) ** 2 - 1 - np.log(ratio))
