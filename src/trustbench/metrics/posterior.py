"""Metrics for posterior estimators: pure functions over sample arrays.

Conventions
-----------
``theta`` holds true parameters ``(n, d)``; ``samples`` holds posterior draws, one row of draws per
observation, ``(n, L, d)`` (``L`` draws each). For one parameter ``theta`` may be ``(n,)`` with
``samples`` ``(n, L)``. The summaries of one observation take ``(L, d)`` draws (or a batch
``(m, L, d)``).

Metrics and their papers
------------------------
- :func:`c2st` — classifier two-sample test accuracy, sbibm's definition (Lopez-Paz & Oquab 2017;
  Lueckmann et al. 2021, sbibm/metrics/c2st.py). 0.5: indistinguishable, 1: separable.
- :func:`mmd` — unbiased squared maximum mean discrepancy with a Gaussian kernel (Gretton et al.
  2012, eq. 3; median heuristic for the bandwidth, their section 8).
- :func:`sbc_ranks`, :func:`sbc_ks_pvalue`, :func:`sbc_ecdf_band`, :func:`sbc_ecdf_outside` —
  simulation-based calibration (Talts et al. 2018) and its simultaneous ECDF band (Säilynoja,
  Bürkner & Vehtari 2022, section 2.2, simulation method).
- :func:`expected_coverage`, :func:`coverage_area` — coverage of central marginal credible
  intervals; :func:`hpd_coverage` — coverage of highest-posterior-density regions (the "expected
  coverage" of sbi / BayesFlow; Hermans et al. 2022).
- :func:`tarp_coverage`, :func:`tarp_atc` — tests of accuracy with random points (Lemos et al.
  2023), same numbers as ``sbi.diagnostics.tarp``.
- :func:`posterior_contraction`, :func:`posterior_zscore` (Schad, Betancourt & Vasishth 2021),
  :func:`posterior_rmse`, :func:`mode_coverage`, :func:`posterior_nll`.
- :func:`gum_summary` — estimate, standard uncertainty and the probabilistically symmetric and
  shortest coverage intervals from draws (JCGM 101:2008, GUM Supplement 1, §7.7).

References
----------
Lopez-Paz D, Oquab M (2017). Revisiting classifier two-sample tests. ICLR.
Lueckmann JM, Boelts J, Greenberg D, Gonçalves P, Macke J (2021). Benchmarking simulation-based
inference. AISTATS, PMLR 130:343-351.
Gretton A, Borgwardt KM, Rasch MJ, Schölkopf B, Smola A (2012). A kernel two-sample test. JMLR 13,
723-773.
Talts S, Betancourt M, Simpson D, Vehtari A, Gelman A (2018). Validating Bayesian inference
algorithms with simulation-based calibration. arXiv:1804.06788.
Säilynoja T, Bürkner PC, Vehtari A (2022). Graphical test for discrete uniformity and its
applications in goodness-of-fit evaluation and multiple sample comparison. Stat. Comput. 32, 32.
Hermans J, Delaunoy A, Rozet F, Wehenkel A, Begy V, Louppe G (2022). A trust crisis in
simulation-based inference? Your posterior approximations can be unfaithful. TMLR.
Lemos P, Coogan A, Hezaveh Y, Perreault-Levasseur L (2023). Sampling-based accuracy testing of
posterior estimators for general inference. ICML, PMLR 202:19256-19273.
Schad DJ, Betancourt M, Vasishth S (2021). Toward a principled Bayesian workflow in cognitive
science. Psychol. Methods 26(1), 103-126.
JCGM 101:2008. Evaluation of measurement data — Supplement 1 to the GUM — Propagation of
distributions using a Monte Carlo method, §7.7.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import (
    check_array,
    check_choice,
    check_int,
    check_level,
    check_levels,
    check_positive,
    short_repr,
)

__all__ = [
    "c2st",
    "mmd",
    "sbc_ranks",
    "sbc_ks_pvalue",
    "sbc_ecdf_band",
    "sbc_ecdf_outside",
    "expected_coverage",
    "coverage_area",
    "hpd_coverage",
    "tarp_coverage",
    "tarp_atc",
    "posterior_contraction",
    "posterior_zscore",
    "posterior_rmse",
    "mode_coverage",
    "posterior_nll",
    "GumSummary",
    "gum_summary",
    "DEFAULT_LEVELS",
]

logger = logging.getLogger("trustbench")

#: nominal levels of :func:`expected_coverage`: 0.05, 0.10, ..., 0.95
DEFAULT_LEVELS = np.round(np.arange(1, 20) * 0.05, 10)


# ----------------------------------------------------------------------------- input handling


def _theta_samples(theta: Any, samples: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate true parameters and draws: returns theta (n, d) and samples (n, L, d)."""
    t = check_array(theta, "theta", ndim=(1, 2))
    s = check_array(samples, "samples", ndim=(2, 3))
    if t.ndim == 1:
        if s.ndim != 2:
            raise ValueError(
                f"samples must be (n, L) for a 1-D theta of shape {t.shape}; got shape {s.shape}."
            )
        t, s = t[:, None], s[:, :, None]
    elif s.ndim != 3:
        raise ValueError(f"samples must be (n, L, d) for theta of shape {t.shape}; got shape {s.shape}.")
    if s.shape[0] != t.shape[0] or s.shape[2] != t.shape[1]:
        raise ValueError(
            f"samples must have shape (n, L, d) = ({t.shape[0]}, L, {t.shape[1]}) to match theta "
            f"{t.shape}; got {s.shape}."
        )
    return t, s


def _draws(samples: Any, name: str = "samples", min_draws: int = 2) -> tuple[np.ndarray, bool]:
    """Draws of one observation (L, d) or a batch (m, L, d): returns (m, L, d) and ``single``."""
    s = check_array(samples, name, ndim=(2, 3))
    single = s.ndim == 2
    s = s[None] if single else s
    if s.shape[1] < min_draws:
        raise ValueError(f"{name} must hold at least {min_draws} draws (axis -2); got shape {s.shape}.")
    return s, single


def _draws_theta(samples: Any, theta: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    s, single = _draws(samples)
    t = check_array(theta, "theta", ndim=(1, 2))
    want = (s.shape[2],) if single else (s.shape[0], s.shape[2])
    if t.shape != want:
        raise ValueError(f"theta must have shape {want} to match samples {s.shape[-3 + single:]}; got {t.shape}.")
    return s, t.reshape(s.shape[0], s.shape[2]), single


def _levels(levels: Any) -> np.ndarray:
    return DEFAULT_LEVELS.copy() if levels is None else check_levels(levels, "levels")


# ----------------------------------------------------------------------------- C2ST


def c2st(
    samples_p: Any,
    samples_q: Any,
    seed: int = 0,
    *,
    n_folds: int = 5,
    z_score: bool = True,
    classifier: str = "mlp",
    max_epochs: int = 500,
    batch_size: int = 1024,
    learning_rate: float = 2e-3,
    n_threads: int | None = 1,
) -> float:
    """Classifier two-sample test accuracy (sbibm's C2ST; Lueckmann et al. 2021).

    Both sets are z-scored with the mean and standard deviation (ddof=1, as ``torch.std``) of the
    **first** set (the reference), labelled p=0 and q=1; an MLP with two hidden layers of
    ``10 * d`` ReLU units is trained with Adam; the result is the mean over ``n_folds`` shuffled
    KFold splits (``random_state=seed``) of the held-out accuracy. 0.5 means indistinguishable,
    1.0 separable.

    Parameters
    ----------
    samples_p, samples_q : array (n_p, d), (n_q, d)
        Reference samples and samples under test (1-D arrays are one parameter).
    seed : int
        Seed of the folds and of the classifier.
    n_folds : int
        Number of cross-validation folds (>= 2).
    z_score : bool
        Standardize with the reference's mean and standard deviation.
    classifier : {"mlp", "sklearn"}
        ``"sklearn"``: exactly sbibm's recipe, ``MLPClassifier(activation="relu",
        hidden_layer_sizes=(10d, 10d), max_iter=10000, solver="adam", random_state=seed)`` scored
        by ``cross_val_score`` (slow for 10k samples). ``"mlp"`` (default): the same architecture,
        initialisation (Glorot uniform), loss (cross-entropy + sklearn's L2 penalty 1e-4) and
        optimiser (Adam) in torch, all folds trained at once as a batch of networks, with larger
        minibatches (1024, learning rate 2e-3 instead of sklearn's 200 and 1e-3) and early
        stopping on a 10 % validation share of each training fold (patience 10 epochs, tolerance
        1e-4, best weights kept).
    max_epochs, batch_size : int
        Epoch limit and minibatch size of ``"mlp"``.
    learning_rate : float
        Adam step size of ``"mlp"``.
    n_threads : int or None
        Torch intra-op threads while ``"mlp"`` trains (restored afterwards); 1 (default) is the
        fastest for these small networks, and robust on a shared machine. None: leave torch's
        setting.

    Returns
    -------
    float
        Mean cross-validated accuracy.
    """
    p = check_array(samples_p, "samples_p", ndim=(1, 2))
    q = check_array(samples_q, "samples_q", ndim=(1, 2))
    p = p[:, None] if p.ndim == 1 else p
    q = q[:, None] if q.ndim == 1 else q
    if p.shape[1] != q.shape[1]:
        raise ValueError(
            f"samples_p and samples_q must have the same number of columns; got {p.shape} and {q.shape}."
        )
    seed = check_int(seed, "seed", minimum=0)
    n_folds = check_int(n_folds, "n_folds", minimum=2)
    check_choice(classifier, "classifier", ("mlp", "sklearn"))
    max_epochs = check_int(max_epochs, "max_epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = float(check_positive(learning_rate, "learning_rate"))
    if n_threads is not None:
        n_threads = check_int(n_threads, "n_threads", minimum=1)
    if min(len(p), len(q)) < n_folds:
        raise ValueError(
            f"samples_p and samples_q need at least n_folds={n_folds} rows each; got {len(p)} and {len(q)}."
        )
    if z_score:
        mean, std = p.mean(axis=0), p.std(axis=0, ddof=1)
        if (std == 0).any():
            raise ValueError(
                f"samples_p has a constant column {int(np.flatnonzero(std == 0)[0])}; cannot z-score "
                "(pass z_score=False)."
            )
        p, q = (p - mean) / std, (q - mean) / std

    from sklearn.model_selection import KFold

    data = np.concatenate([p, q])
    target = np.concatenate([np.zeros(len(p)), np.ones(len(q))])
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    hidden = 10 * data.shape[1]
    if classifier == "sklearn":
        from sklearn.model_selection import cross_val_score
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(
            activation="relu",
            hidden_layer_sizes=(hidden, hidden),
            max_iter=10000,
            solver="adam",
            random_state=seed,
        )
        scores = cross_val_score(clf, data, target, cv=folds, scoring="accuracy")
        return float(np.mean(scores))
    splits = list(folds.split(data))
    import torch

    before = torch.get_num_threads()
    try:
        if n_threads is not None:
            torch.set_num_threads(n_threads)
        acc = _c2st_torch(data, target, splits, hidden, seed, max_epochs, batch_size, lr=learning_rate)
    finally:
        if n_threads is not None:
            torch.set_num_threads(before)
    return float(np.mean(acc))


def _c2st_torch(
    data: np.ndarray,
    target: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    hidden: int,
    seed: int,
    max_epochs: int,
    batch_size: int,
    *,
    lr: float = 1e-3,
    l2: float = 1e-4,
    val_fraction: float = 0.1,
    tol: float = 1e-4,
    patience: int = 10,
) -> np.ndarray:
    """Train one MLP per fold, all folds as one batched network; return the test accuracies."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    n_f, dim = len(splits), data.shape[1]
    x_all = torch.as_tensor(data, dtype=torch.float32)
    y_all = torch.as_tensor(target, dtype=torch.float32)

    # each training fold -> fit part + validation part (stratification is not needed at 50/50)
    fit_idx, val_idx = [], []
    for f, (train, _) in enumerate(splits):
        perm = torch.as_tensor(train)[torch.randperm(len(train), generator=gen)]
        n_val = max(1, int(round(val_fraction * len(train))))
        val_idx.append(perm[:n_val])
        fit_idx.append(perm[n_val:])
    n_fit = max(len(i) for i in fit_idx)
    n_val = min(len(i) for i in val_idx)
    val_idx = torch.stack([v[:n_val] for v in val_idx])  # (F, n_val): drop at most one row
    x_val, y_val = x_all[val_idx], y_all[val_idx]

    def glorot(fan_in: int, fan_out: int, shape: tuple[int, ...]) -> torch.Tensor:
        bound = math.sqrt(6.0 / (fan_in + fan_out))  # sklearn's init for ReLU layers
        return ((torch.rand(shape, generator=gen) * 2 - 1) * bound).requires_grad_()

    sizes = [dim, hidden, hidden, 1]
    weights = [glorot(a, b, (n_f, a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [glorot(a, b, (n_f, 1, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    params = weights + biases
    # sklearn's penalty 0.5 * l2 * |W|² / batch on the weights only == Adam's weight decay l2 / batch
    opt = torch.optim.Adam(
        [{"params": weights, "weight_decay": l2 / batch_size}, {"params": biases, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=True,
    )

    def forward(x: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor]) -> torch.Tensor:
        h = torch.relu(torch.baddbmm(bs[0], x, ws[0]))
        h = torch.relu(torch.baddbmm(bs[1], h, ws[1]))
        return torch.baddbmm(bs[2], h, ws[2])[..., 0]

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    best_loss = torch.full((n_f,), float("inf"))
    best = [p.detach().clone() for p in params]
    stall = torch.zeros(n_f, dtype=torch.long)
    active = torch.ones(n_f, dtype=torch.bool)
    for _epoch in range(max_epochs):
        # one epoch: a permutation of each fold's fit set (shorter folds padded by a random repeat)
        order = torch.stack(
            [
                fi[torch.cat([torch.randperm(len(fi), generator=gen),
                              torch.randint(len(fi), (n_fit - len(fi),), generator=gen)])]
                for fi in fit_idx
            ]
        )
        x_ep, y_ep = x_all[order], y_all[order]  # (F, n_fit, D): batches are views
        for start in range(0, n_fit, batch_size):
            xb, yb = x_ep[:, start : start + batch_size], y_ep[:, start : start + batch_size]
            # mean over each fold's batch, summed over folds: the folds' gradients stay separate
            loss = bce(forward(xb, weights, biases), yb, reduction="sum") / xb.shape[1]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            vloss = bce(forward(x_val, weights, biases), y_val, reduction="none").mean(dim=1)
            improved = vloss < best_loss - tol
            for k, p in enumerate(params):
                best[k][improved] = p.detach()[improved]
            best_loss = torch.where(improved, vloss, torch.minimum(best_loss, vloss))
            stall = torch.where(improved, torch.zeros_like(stall), stall + 1)
            active &= stall < patience
        if not active.any():
            break
    logger.debug("c2st mlp: %d epochs, validation losses %s", _epoch + 1, best_loss.tolist())
    acc = np.empty(n_f)
    with torch.no_grad():
        ws, bs = best[: len(weights)], best[len(weights) :]
        for f, (_, test) in enumerate(splits):
            x = x_all[torch.as_tensor(test)][None]
            logit = forward(x, [w[f : f + 1] for w in ws], [b[f : f + 1] for b in bs])[0]
            acc[f] = float(((logit > 0).float() == y_all[torch.as_tensor(test)]).float().mean())
    return acc


# ----------------------------------------------------------------------------- MMD


def mmd(
    samples_p: Any,
    samples_q: Any,
    *,
    bandwidth: float | None = None,
    chunk_size: int = 1024,
    seed: int = 0,
    max_median_points: int = 2000,
) -> float:
    """Unbiased squared MMD with a Gaussian kernel (Gretton et al. 2012, eq. 3).

    ``k(x, y) = exp(-|x - y|² / (2 h²))``;
    ``MMD²_u = mean_{i≠j} k(p_i, p_j) + mean_{i≠j} k(q_i, q_j) - 2 mean_{i,j} k(p_i, q_j)``
    (can be slightly negative when the distributions agree).

    Parameters
    ----------
    samples_p, samples_q : array (n_p, d), (n_q, d)
        The two samples (1-D arrays are one dimension); each needs at least 2 rows.
    bandwidth : float, optional
        Kernel bandwidth ``h``. None: the median heuristic, ``h`` = median Euclidean distance
        between distinct pairs of the **pooled** sample (p and q together; Gretton et al. 2012,
        section 8), on a seeded random subset of at most ``max_median_points`` pooled points.
    chunk_size : int
        Rows per block of the kernel matrices (memory ~ ``chunk_size * max(n_p, n_q) * 8`` bytes).
    seed : int
        Seed of the subset for the median heuristic (used only when the pooled sample is larger).
    """
    p = check_array(samples_p, "samples_p", ndim=(1, 2), min_size=2)
    q = check_array(samples_q, "samples_q", ndim=(1, 2), min_size=2)
    p = p[:, None] if p.ndim == 1 else p
    q = q[:, None] if q.ndim == 1 else q
    if p.shape[1] != q.shape[1]:
        raise ValueError(
            f"samples_p and samples_q must have the same number of columns; got {p.shape} and {q.shape}."
        )
    if len(p) < 2 or len(q) < 2:
        raise ValueError(f"samples_p and samples_q need at least 2 rows each; got {len(p)} and {len(q)}.")
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    max_median_points = check_int(max_median_points, "max_median_points", minimum=2)
    if bandwidth is None:
        h = _median_distance(np.concatenate([p, q]), max_median_points, check_int(seed, "seed", minimum=0))
        if h == 0:
            raise ValueError("the median pairwise distance is 0 (too many identical rows); pass bandwidth.")
    else:
        h = float(check_positive(bandwidth, "bandwidth"))
    gamma = 1.0 / (2.0 * h * h)
    m, n = len(p), len(q)
    kpp = (_kernel_sum(p, p, gamma, chunk_size) - m) / (m * (m - 1))
    kqq = (_kernel_sum(q, q, gamma, chunk_size) - n) / (n * (n - 1))
    kpq = _kernel_sum(p, q, gamma, chunk_size) / (m * n)
    return float(kpp + kqq - 2.0 * kpq)


def _median_distance(x: np.ndarray, max_points: int, seed: int) -> float:
    from scipy.spatial.distance import pdist

    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    return float(np.median(pdist(x)))


def _kernel_sum(a: np.ndarray, b: np.ndarray, gamma: float, chunk: int) -> float:
    """Sum of exp(-gamma |a_i - b_j|²) over all pairs (i == j included when a is b), by blocks.

    When ``a is b`` only the blocks on and above the diagonal are computed (symmetry).
    """
    sym = a is b
    bb = np.einsum("ij,ij->i", b, b)
    total = 0.0
    for start in range(0, len(a), chunk):
        ac = a[start : start + chunk]
        cols = slice(start, None) if sym else slice(None)
        d2 = np.einsum("ij,ij->i", ac, ac)[:, None] + bb[None, cols] - 2.0 * (ac @ b[cols].T)
        np.maximum(d2, 0.0, out=d2)
        d2 *= -gamma
        k = np.exp(d2, out=d2)
        if sym:  # diagonal block once, the part right of it twice
            total += float(k[:, : len(ac)].sum()) + 2.0 * float(k[:, len(ac) :].sum())
        else:
            total += float(k.sum())
    return total


# ----------------------------------------------------------------------------- SBC


def sbc_ranks(theta: Any, samples: Any) -> np.ndarray:
    """SBC rank statistics (Talts et al. 2018): the number of draws below the true value.

    Parameters
    ----------
    theta : array (n, d) or (n,)
        True parameters, one row per simulation.
    samples : array (n, L, d) or (n, L)
        ``L`` posterior draws for each simulation.

    Returns
    -------
    array (n, d) of int
        ``#{l : samples[i, l, j] < theta[i, j]}``, in ``0..L``; uniform on ``0..L`` for an exact
        posterior (ties between draws and θ have probability 0 for continuous draws).
    """
    t, s = _theta_samples(theta, samples)
    return (s < t[:, None, :]).sum(axis=1).astype(np.int64)


def _ranks(ranks: Any, n_draws: Any) -> tuple[np.ndarray, int]:
    n_draws = check_int(n_draws, "n_draws", minimum=1)
    r = check_array(ranks, "ranks", ndim=(1, 2))
    r = r[:, None] if r.ndim == 1 else r
    if (r != np.round(r)).any() or (r < 0).any() or (r > n_draws).any():
        bad = np.argwhere((r != np.round(r)) | (r < 0) | (r > n_draws))[0]
        raise ValueError(
            f"ranks must be integers in 0..n_draws={n_draws}; got {r[tuple(bad)]!r} "
            f"at index {tuple(int(i) for i in bad)}."
        )
    return r.astype(np.int64), n_draws


def sbc_ks_pvalue(ranks: Any, n_draws: int, *, method: str = "ks", seed: int = 0, n_bins: int | None = None) -> np.ndarray:
    """p-values of a test that the SBC ranks of each parameter are uniform on ``0..n_draws``.

    Parameters
    ----------
    ranks : int array (n, d) or (n,)
        Output of :func:`sbc_ranks`.
    n_draws : int
        ``L``, the number of posterior draws per simulation.
    method : {"ks", "chi2"}
        ``"ks"`` (default): randomized PIT, ``u = (r + V) / (L + 1)`` with ``V ~ U(0, 1)`` (seeded),
        which is exactly U(0, 1) when ``r`` is discrete uniform, then the one-sample
        Kolmogorov-Smirnov test (``scipy.stats.kstest``): exact size, the jitter adds a little
        randomness. ``"chi2"``: Pearson's chi-square test on ``n_bins`` groups of consecutive ranks
        (default ``min(L + 1, max(2, n // 5))``, merged so each group holds at least ~5 expected
        counts; expected counts follow the exact number of rank values in each group).
    seed : int
        Seed of the jitter (``"ks"``).

    Returns
    -------
    array (d,)
    """
    from scipy import stats

    r, L = _ranks(ranks, n_draws)
    check_choice(method, "method", ("ks", "chi2"))
    n = r.shape[0]
    if method == "ks":
        rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
        u = (r + rng.random(r.shape)) / (L + 1)
        return np.array([stats.kstest(u[:, j], "uniform").pvalue for j in range(r.shape[1])])
    k = min(L + 1, max(2, n // 5)) if n_bins is None else check_int(n_bins, "n_bins", minimum=2)
    k = min(k, L + 1)
    edges = np.floor(np.linspace(0, L + 1, k + 1)).astype(np.int64)  # group g: ranks edges[g]..edges[g+1]-1
    group = np.searchsorted(edges, r, side="right") - 1
    observed = np.stack([np.bincount(group[:, j], minlength=k) for j in range(r.shape[1])], axis=1)
    expected = n * np.diff(edges) / (L + 1)
    return stats.chisquare(observed, expected[:, None], axis=0).pvalue


def _ecdf_gamma_table(n: int, z: np.ndarray) -> np.ndarray:
    """G[i, k] = 2 min(P(X <= k), P(X >= k)), X ~ Binom(n, z_i): the two-sided tail of count k."""
    from scipy import stats

    k = np.arange(n + 1)[None, :]
    zz = z[:, None]
    return 2.0 * np.minimum(stats.binom.cdf(k, n, zz), stats.binom.sf(k - 1, n, zz))


@functools.lru_cache(maxsize=32)
def _band_counts(n: int, L: int, alpha: float, n_sim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band as counts (cached: a pure function of its arguments; arrays read-only)."""
    z = np.arange(1, L + 1) / (L + 1)  # P(R <= r) for r = 0..L-1 (r = L gives 1 always)
    table = _ecdf_gamma_table(n, z)
    rng = np.random.default_rng(seed)
    rows = np.arange(L)[None, :]
    gammas = np.empty(n_sim)
    step = max(1, 2_000_000 // max(n, L + 1))
    for start in range(0, n_sim, step):
        m = min(step, n_sim - start)
        counts = rng.multinomial(n, np.full(L + 1, 1.0 / (L + 1)), size=m)  # uniform ranks
        cum = np.cumsum(counts[:, :L], axis=1)  # n * ECDF at z
        gammas[start : start + m] = table[rows, cum].min(axis=1)
    gammas.sort()
    gamma = gammas[int(math.floor(alpha * n_sim))]  # <= alpha * n_sim simulated ECDFs fall below
    inside = table >= gamma
    lower = inside.argmax(axis=1)
    upper = n - inside[:, ::-1].argmax(axis=1)
    for a in (z, lower, upper):
        a.flags.writeable = False
    return z, lower, upper


def sbc_ecdf_band(
    n: int, n_draws: int, alpha: float = 0.05, *, n_sim: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simultaneous 1 - alpha confidence band for the ECDF of ``n`` uniform ranks on ``0..n_draws``.

    Säilynoja et al. (2022), section 2.2: pointwise two-sided binomial intervals at an adjusted
    level ``gamma``, chosen by simulation so that ``1 - alpha`` of ``n_sim`` ECDFs of uniform ranks
    (seeded) stay inside at every point. The band is exact for discrete ranks: at
    ``z_r = (r + 1) / (L + 1)``, ``n * ECDF(z_r) ~ Binom(n, z_r)`` for a calibrated posterior.

    Returns
    -------
    z : array (L,)
        Evaluation points ``(r + 1) / (L + 1)`` for ranks ``r = 0..L-1`` (the ECDF of rank ``r``).
    lower, upper : array (L,)
        Band limits on the ECDF scale (counts / n); an ECDF is inside when
        ``lower <= ECDF(z) <= upper`` at every point.
    """
    n = check_int(n, "n", minimum=1)
    n_draws = check_int(n_draws, "n_draws", minimum=1)
    alpha = check_level(alpha, "alpha")
    n_sim = check_int(n_sim, "n_sim", minimum=10)
    seed = check_int(seed, "seed", minimum=0)
    z, lo, hi = _band_counts(n, n_draws, alpha, n_sim, seed)
    return z.copy(), lo / n, hi / n


def sbc_ecdf_outside(
    ranks: Any, n_draws: int, alpha: float = 0.05, *, n_sim: int = 5000, seed: int = 0
) -> np.ndarray:
    """Whether the rank ECDF of each parameter leaves the simultaneous band of :func:`sbc_ecdf_band`.

    Returns
    -------
    array (d,) of bool
        True: uniformity rejected at level ``alpha`` for that parameter (Säilynoja et al. 2022).
    """
    r, L = _ranks(ranks, n_draws)
    alpha = check_level(alpha, "alpha")
    n_sim = check_int(n_sim, "n_sim", minimum=10)
    seed = check_int(seed, "seed", minimum=0)
    n = r.shape[0]
    _, lo, hi = _band_counts(n, L, alpha, n_sim, seed)
    counts = np.stack([np.bincount(r[:, j], minlength=L + 1) for j in range(r.shape[1])], axis=1)
    cum = np.cumsum(counts[:L], axis=0)  # (L, d)
    return ((cum < lo[:, None]) | (cum > hi[:, None])).any(axis=0)


# ----------------------------------------------------------------------------- coverage


def expected_coverage(theta: Any, samples: Any, levels: Any = None) -> np.ndarray:
    """Empirical coverage of central marginal credible intervals.

    The interval at level ``a`` is ``[Q((1 - a) / 2), Q((1 + a) / 2)]`` of each parameter's draws
    (``numpy.quantile``, linear interpolation); the result is the fraction of simulations whose true
    value lies inside (bounds included).

    Parameters
    ----------
    theta : array (n, d) or (n,)
    samples : array (n, L, d) or (n, L)
    levels : array (k,), optional
        Nominal levels in (0, 1); default 0.05, 0.10, ..., 0.95.

    Returns
    -------
    array (k, d)
    """
    t, s = _theta_samples(theta, samples)
    lv = _levels(levels)
    qs = np.quantile(s, np.concatenate([(1 - lv) / 2, (1 + lv) / 2]), axis=1)  # (2k, n, d)
    lo, hi = qs[: len(lv)], qs[len(lv) :]
    return ((lo <= t[None]) & (t[None] <= hi)).mean(axis=1)


def coverage_area(
    theta: Any, samples: Any, levels: Any = None, *, signed: bool = False, per_dimension: bool = False
) -> float | np.ndarray:
    """Mean deviation of the coverage curve from the diagonal.

    ``mean_levels |C(a) - a|`` with ``C`` from :func:`expected_coverage`, averaged over parameters.
    On the default equally spaced grid this is a Riemann estimate of the area between the curve and
    the diagonal divided by the width of the level range (0.9): 0 for a calibrated posterior, at
    most 1. ``signed=True`` returns ``mean(C(a) - a)`` instead: < 0 overconfident (intervals too
    narrow), > 0 underconfident. ``per_dimension=True`` returns one value per parameter ``(d,)``.
    """
    cov = expected_coverage(theta, samples, levels)
    lv = _levels(levels)[:, None]
    dev = cov - lv if signed else np.abs(cov - lv)
    per = dev.mean(axis=0)
    return per if per_dimension else float(per.mean())


def hpd_coverage(log_prob_true: Any, log_prob_samples: Any, levels: Any = None) -> np.ndarray:
    """Coverage of highest-posterior-density regions (expected coverage of sbi / BayesFlow).

    The true θ lies inside the level-``a`` HPD region of the estimator when its log density exceeds
    the ``1 - a`` quantile (``numpy.quantile``, linear) of the log densities of the estimator's own
    draws (Hermans et al. 2022). Needs only the estimator's density at θ and at its draws, so it
    covers the joint region in any dimension.

    Parameters
    ----------
    log_prob_true : array (n,)
        ``log q(θ_i | x_i)`` at the true parameters.
    log_prob_samples : array (n, L)
        ``log q(θ_il | x_i)`` at ``L`` draws ``θ_il ~ q(· | x_i)``.
    levels : array (k,), optional
        Default 0.05, ..., 0.95.

    Returns
    -------
    array (k,)
        Fraction of simulations covered at each level (= level for a calibrated estimator).
    """
    lpt = check_array(log_prob_true, "log_prob_true", ndim=1)
    lps = check_array(log_prob_samples, "log_prob_samples", ndim=2)
    if lps.shape[0] != lpt.shape[0]:
        raise ValueError(
            f"log_prob_samples must have shape (n, L) with n={lpt.shape[0]} (log_prob_true); got {lps.shape}."
        )
    lv = _levels(levels)
    thresh = np.quantile(lps, 1 - lv, axis=1)  # (k, n)
    return (lpt[None, :] > thresh).mean(axis=1)


# ----------------------------------------------------------------------------- TARP


def tarp_coverage(
    samples: Any,
    theta: Any,
    *,
    references: Any = None,
    seed: int = 0,
    norm: bool = True,
    num_bins: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected coverage probability of TARP (Lemos et al. 2023, algorithm 2), as ``sbi``'s ``_run_tarp``.

    For each simulation, ``f_i`` = fraction of draws closer (Euclidean) to a random reference point
    than the true θ is; the ECP curve is the ECDF of ``f`` on a grid of ``num_bins + 1`` points
    spanning ``[min f, max f]`` (the histogram edges of the reference implementations).

    Parameters
    ----------
    samples : array (n, L, d) or (n, L)
        Posterior draws per simulation (note: sbi's order is (L, n, d)).
    theta : array (n, d) or (n,)
        True parameters.
    references : array (n, d), optional
        One reference point per simulation; default: uniform on the bounding box of ``theta``
        (sbi's ``get_tarp_references``), drawn with ``seed``.
    norm : bool
        Rescale θ, draws and references by the range of ``theta`` (``(x - min) / (max - min + 1e-10)``;
        sbi's ``z_score_theta``).
    num_bins : int, optional
        Default ``max(1, n // 10)`` (sbi's default).

    Returns
    -------
    alpha : array (num_bins + 1,)
        Credibility levels (the histogram edges).
    ecp : array (num_bins + 1,)
        Expected coverage probability at ``alpha``; ≈ alpha for a calibrated posterior.
    """
    t, s = _theta_samples(theta, samples)
    n, L, d = s.shape
    seed = check_int(seed, "seed", minimum=0)
    num_bins = max(1, n // 10) if num_bins is None else check_int(num_bins, "num_bins", minimum=1)
    if references is None:
        lo0, hi0 = t.min(axis=0), t.max(axis=0)
        ref = lo0 + (hi0 - lo0) * np.random.default_rng(seed).random((n, d))
    else:
        ref = check_array(references, "references", ndim=(1, 2))
        ref = ref[:, None] if ref.ndim == 1 else ref
        if ref.shape != t.shape:
            raise ValueError(f"references must have the shape of theta {t.shape}; got {ref.shape}.")
    if norm:
        lo, hi = t.min(axis=0), t.max(axis=0)
        scale = hi - lo + 1e-10
        s, t, ref = (s - lo) / scale, (t - lo) / scale, (ref - lo) / scale
    sample_d = np.sqrt(((s - ref[:, None, :]) ** 2).sum(axis=-1))  # (n, L)
    theta_d = np.sqrt(((t - ref) ** 2).sum(axis=-1))  # (n,)
    f = (sample_d < theta_d[:, None]).sum(axis=1) / L
    fmin, fmax = float(f.min()), float(f.max())
    if fmin == fmax:  # numpy / torch histogram convention for a constant input
        fmin, fmax = fmin - 0.5, fmax + 0.5
    alpha = np.linspace(fmin, fmax, num_bins + 1)
    counts, _ = np.histogram(f, bins=alpha)
    ecp = np.concatenate([[0.0], np.cumsum(counts) / n])
    return alpha, ecp


def tarp_atc(samples: Any, theta: Any, **kwargs: Any) -> float:
    """Area to curve of TARP, as sbi's ``check_tarp``: ``sum_{i >= K/2} (ecp_i - alpha_i) * Δalpha``.

    Over the upper half of the grid of :func:`tarp_coverage` (indices ``len(alpha) // 2`` on), with
    ``Δalpha`` its spacing. ≈ 0 calibrated, > 0 overdispersed (too wide), < 0 underdispersed (too
    narrow; a bias can also move it, Lemos et al. 2023 fig. 2). Keyword arguments go to
    :func:`tarp_coverage`.
    """
    alpha, ecp = tarp_coverage(samples, theta, **kwargs)
    mid = len(alpha) // 2
    return float(((ecp[mid:] - alpha[mid:]) * (alpha[1] - alpha[0])).sum())


# ----------------------------------------------------------------------------- summaries


def posterior_contraction(samples: Any, prior_var: Any) -> np.ndarray:
    """Posterior contraction ``1 - var_post / var_prior`` per parameter (Schad et al. 2021).

    ``samples`` (L, d) for one observation -> (d,); a batch (m, L, d) -> (m, d). ``var_post`` is the
    sample variance (ddof=1) of the draws; ``prior_var`` is a scalar or (d,), > 0.
    """
    s, single = _draws(samples)
    pv = check_positive(prior_var, "prior_var")
    if pv.ndim > 1 or (pv.ndim == 1 and pv.shape[0] not in (1, s.shape[2])):
        raise ValueError(f"prior_var must be a scalar or have shape ({s.shape[2]},); got {pv.shape}.")
    out = 1.0 - s.var(axis=1, ddof=1) / pv
    return out[0] if single else out


def posterior_zscore(samples: Any, theta: Any) -> np.ndarray:
    """Posterior z-score ``|mean - θ| / sd`` per parameter (Schad et al. 2021; sd with ddof=1).

    ``samples`` (L, d) with ``theta`` (d,) -> (d,); (m, L, d) with (m, d) -> (m, d).
    """
    s, t, single = _draws_theta(samples, theta)
    sd = s.std(axis=1, ddof=1)
    if (sd == 0).any():
        raise ValueError("samples has a parameter with zero spread; the z-score is undefined.")
    out = np.abs(s.mean(axis=1) - t) / sd
    return out[0] if single else out


def posterior_rmse(samples: Any, theta: Any, *, per_dimension: bool = False) -> float | np.ndarray:
    """Root mean squared error of the posterior mean ``mean_l samples`` against ``θ``.

    Overall (default): ``sqrt(mean over observations and parameters of (mean - θ)²)``, a float.
    ``per_dimension=True``: ``sqrt(mean over observations of (mean - θ)²)`` per parameter, (d,).
    ``samples`` (L, d) with ``theta`` (d,) (one observation) or (m, L, d) with (m, d).
    """
    s, t, _ = _draws_theta(samples, theta)
    sq = (s.mean(axis=1) - t) ** 2
    return np.sqrt(sq.mean(axis=0)) if per_dimension else float(np.sqrt(sq.mean()))


def mode_coverage(samples: Any, modes: Any, *, radius: float | None = None, min_mass: float = 0.05) -> float | np.ndarray:
    """Fraction of the known modes that the draws find.

    Each draw is assigned to its nearest mode (Euclidean), and only if it lies within ``radius`` of
    it (None: no limit); a mode is covered when it holds at least ``min_mass`` of the draws.

    Parameters
    ----------
    samples : array (L, d) or (m, L, d)
    modes : array (k, d)
    radius : float, optional
    min_mass : float in (0, 1)

    Returns
    -------
    float, or array (m,) for a batch
    """
    s, single = _draws(samples, min_draws=1)
    mo = check_array(modes, "modes", ndim=2)
    if mo.shape[1] != s.shape[2]:
        raise ValueError(f"modes must have shape (k, {s.shape[2]}) to match samples; got {mo.shape}.")
    min_mass = check_level(min_mass, "min_mass")
    d2 = ((s[:, :, None, :] - mo[None, None]) ** 2).sum(axis=-1)  # (m, L, k)
    nearest = d2.argmin(axis=-1)
    ok = np.ones(nearest.shape, dtype=bool)
    if radius is not None:
        r = float(check_positive(radius, "radius"))
        ok = np.take_along_axis(d2, nearest[..., None], axis=-1)[..., 0] <= r * r
    k = mo.shape[0]
    mass = (((nearest[..., None] == np.arange(k)) & ok[..., None]).sum(axis=1)) / s.shape[1]  # (m, k)
    out = (mass >= min_mass).mean(axis=1)
    return float(out[0]) if single else out


def posterior_nll(log_prob_true: Any) -> float:
    """Mean negative log posterior density at the true parameters, ``-mean log q(θ_i | x_i)``."""
    lp = check_array(log_prob_true, "log_prob_true", ndim=(0, 1), finite=False)
    if np.isnan(lp).any() or (lp == np.inf).any():
        raise ValueError(f"log_prob_true must not hold NaN or +inf; got {short_repr(log_prob_true)}.")
    return float(-np.mean(lp))


@dataclass(frozen=True)
class GumSummary:
    """Per-parameter summary of draws (JCGM 101:2008 §7.7): arrays of length ``d``."""

    names: tuple[str, ...]
    level: float
    estimate: np.ndarray
    u: np.ndarray
    symmetric: np.ndarray  # (d, 2): probabilistically symmetric coverage interval
    shortest: np.ndarray  # (d, 2): shortest coverage interval

    def rows(self) -> list[dict[str, float | str]]:
        """One dict per parameter (for a table)."""
        return [
            {
                "name": nm,
                "level": self.level,
                "estimate": float(self.estimate[j]),
                "u": float(self.u[j]),
                "symmetric_low": float(self.symmetric[j, 0]),
                "symmetric_high": float(self.symmetric[j, 1]),
                "shortest_low": float(self.shortest[j, 0]),
                "shortest_high": float(self.shortest[j, 1]),
            }
            for j, nm in enumerate(self.names)
        ]


def gum_summary(samples: Any, level: float = 0.95, names: Any = None) -> GumSummary:
    """Estimate, standard uncertainty and coverage intervals of each parameter (GUM-S1 §7.7).

    With ``M`` sorted draws ``y_(1) <= ... <= y_(M)`` (1-based) and ``q = pM`` if that is an
    integer, else ``int(pM + 1/2)``: the probabilistically symmetric interval (§7.7.1) is
    ``[y_(r), y_(r+q)]`` with ``r = (M - q) / 2`` if an integer, else ``int((M - q)/2 + 1/2)``
    (r >= 1); the shortest interval (§7.7.2) is ``[y_(r*), y_(r*+q)]`` with ``r*`` minimising
    ``y_(r+q) - y_(r)`` over ``r = 1..M-q``. Estimate = mean, ``u`` = standard deviation (ddof=1;
    §7.6).

    Parameters
    ----------
    samples : array (M, d) or (M,)
    level : float in (0, 1)
        Coverage probability ``p``.
    names : sequence of str, optional
        Parameter names (default "theta_0", ...).
    """
    s = check_array(samples, "samples", ndim=(1, 2))
    s = s[:, None] if s.ndim == 1 else s
    p = check_level(level, "level")
    m, d = s.shape
    if names is None:
        names = tuple(f"theta_{j}" for j in range(d))
    else:
        if isinstance(names, str):
            raise TypeError(f"names must be a sequence of {d} strings; got {names!r}.")
        names = tuple(str(x) for x in names)
        if len(names) != d:
            raise ValueError(f"names must hold {d} names (one per parameter); got {len(names)}.")
    pm = p * m
    q = int(round(pm)) if abs(pm - round(pm)) < 1e-9 else int(pm + 0.5)
    if q < 1 or q >= m:
        raise ValueError(f"samples must hold enough draws for level={p}: need 1 <= p*M < M; got M={m}.")
    half = (m - q) / 2
    r = int(half) if half == int(half) else int(half + 0.5)
    r = max(r, 1)
    y = np.sort(s, axis=0)
    sym = np.stack([y[r - 1], y[r - 1 + q]], axis=1)
    widths = y[q:] - y[: m - q]  # r = 1..M-q (0-based start 0..M-q-1)
    rs = widths.argmin(axis=0)
    cols = np.arange(d)
    short = np.stack([y[rs, cols], y[rs + q, cols]], axis=1)
    return GumSummary(
        names=names,
        level=p,
        estimate=s.mean(axis=0),
        u=s.std(axis=0, ddof=1) if m > 1 else np.zeros(d),
        symmetric=sym,
        shortest=short,
    )
