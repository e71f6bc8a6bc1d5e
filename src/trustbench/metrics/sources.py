"""Source-imaging and ICA metrics: estimated source maps against the true sources, unmixing matrices
against the true mixing.

A source map is a vector of amplitudes over ``n`` source positions ``(n, 3)``; amplitudes enter by
their magnitude (a map of dipole moments ``(n, 3)`` is reduced to its norms by the caller). Maps may
carry leading batch axes ``(..., n)``; the metrics then return one value per map.

References
----------
Amari S, Cichocki A, Yang HH (1996). A new learning algorithm for blind signal separation. NIPS 8
(the performance index; normalised to [0, 1] here).
Molins A, Stufflebeam SM, Brown EN, Hämäläinen MS (2008). Quantification of the benefit from
integrating MEG and EEG data in minimum l2-norm estimation. NeuroImage 42, 1069-1077 (spatial
dispersion).
Hauk O, Stenroos M, Treder M (2019). Towards an objective evaluation of EEG/MEG source estimation
methods - the linear approach. NeuroImage 183 (peak localisation error, spatial deviation).
Haufe S, Ewald A (2019). A simulation framework for benchmarking EEG-based brain connectivity
estimation methodologies. Brain Topography 32, 625-642 (EMD between source distributions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustbench.validation import check_array

__all__ = [
    "amari_distance",
    "peak_localization_error",
    "centre_of_gravity_error",
    "spatial_dispersion",
    "source_emd",
    "detection_auc",
    "active_set_f1",
    "active_set_jaccard",
    "map_nmse",
    "HALF_MAX",
]

HALF_MAX = 0.5
"""Default rule for an estimate's active set: sources at or above half its peak magnitude."""


def amari_distance(unmixing: Any, mixing: Any) -> float:
    r"""Amari performance index of an unmixing matrix ``W`` against the true mixing ``A``, in [0, 1].

    With :math:`P = W A` (:math:`n \times n`),

    .. math:: d = \frac{1}{2n(n-1)} \Big[\sum_i \Big(\frac{\sum_j |p_{ij}|}{\max_j |p_{ij}|} - 1\Big)
              + \sum_j \Big(\frac{\sum_i |p_{ij}|}{\max_i |p_{ij}|} - 1\Big)\Big]

    0 exactly when ``P`` is a scaled permutation (perfect separation up to ICA's ambiguities), 1
    when every entry of ``P`` has the same magnitude. ``W`` is ``(n, m)`` and ``A`` is ``(m, n)``.
    """
    w = check_array(unmixing, "unmixing", ndim=2)
    a = check_array(mixing, "mixing", ndim=2)
    if w.shape[1] != a.shape[0] or w.shape[0] != a.shape[1]:
        raise ValueError(f"unmixing (n, m) and mixing (m, n) must chain to a square matrix; got {w.shape} and {a.shape}.")
    p = np.abs(w @ a)
    n = p.shape[0]
    if n < 2:
        raise ValueError(f"amari_distance needs at least 2 sources; got {n}.")
    if (p.max(axis=1) == 0).any() or (p.max(axis=0) == 0).any():
        raise ValueError("unmixing @ mixing has an all-zero row or column: a source is lost entirely.")
    rows = (p.sum(axis=1) / p.max(axis=1) - 1.0).sum()
    cols = (p.sum(axis=0) / p.max(axis=0) - 1.0).sum()
    return float((rows + cols) / (2.0 * n * (n - 1)))


def _maps(positions: Any, true: Any, estimate: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = check_array(positions, "positions", ndim=2)
    t = np.abs(check_array(true, "true"))
    e = np.abs(check_array(estimate, "estimate"))
    if t.shape[-1] != len(pos) or e.shape[-1] != len(pos):
        raise ValueError(f"true and estimate must have one amplitude per source position ({len(pos)}) on their last "
                         f"axis; got {t.shape} and {e.shape}.")
    t, e = np.broadcast_arrays(t, e)
    if (t.sum(axis=-1) == 0).any():
        raise ValueError("true has a map without any active source (all amplitudes are 0).")
    return pos, t, e


def _out(values: np.ndarray) -> np.ndarray | float:
    return float(values) if np.ndim(values) == 0 else values


def _centre(pos: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=-1, keepdims=True)
    return (w @ pos) / np.where(total > 0, total, np.nan)


def peak_localization_error(positions: Any, true: Any, estimate: Any) -> np.ndarray | float:
    """Distance from the estimate's peak (largest magnitude) to the nearest truly active source
    (Hauk et al. 2019); for a single true source, the distance between the two peaks. NaN for an
    all-zero estimate (it has no peak)."""
    pos, t, e = _maps(positions, true, estimate)
    peak = pos[np.argmax(e, axis=-1)]  # (..., 3)
    dist = np.where(t > 0, np.linalg.norm(peak[..., None, :] - pos, axis=-1), np.inf).min(axis=-1)
    return _out(np.where(e.max(axis=-1) > 0, dist, np.nan))


def centre_of_gravity_error(positions: Any, true: Any, estimate: Any) -> np.ndarray | float:
    """Distance between the magnitude-weighted centres of gravity of the estimate and the truth
    (NaN for an all-zero estimate)."""
    pos, t, e = _maps(positions, true, estimate)
    return _out(np.linalg.norm(_centre(pos, e) - _centre(pos, t), axis=-1))


def spatial_dispersion(positions: Any, true: Any, estimate: Any) -> np.ndarray | float:
    r"""Spread of the estimate around the true source, :math:`\sqrt{\sum_i d_i^2 e_i^2 / \sum_i e_i^2}`
    with :math:`d_i` the distance of position i to the true peak (Molins et al. 2008; MNE's
    ``resolution_metrics(metric="sd_ext")`` for point spreads). 0 when all the estimate sits on
    the true source."""
    pos, t, e = _maps(positions, true, estimate)
    peak = pos[np.argmax(t, axis=-1)]
    d2 = ((peak[..., None, :] - pos) ** 2).sum(axis=-1)
    e2 = e**2
    total = e2.sum(axis=-1)
    return _out(np.sqrt((d2 * e2).sum(axis=-1) / np.where(total > 0, total, np.nan)))


def source_emd(positions: Any, true: Any, estimate: Any) -> np.ndarray | float:
    """Earth mover's distance between the normalised magnitude distributions of the truth and the
    estimate over the source positions, with Euclidean ground cost (Haufe & Ewald 2019), exact (POT's
    network simplex). NaN for an all-zero estimate."""
    from trustbench.metrics.distances import import_pot

    ot = import_pot()  # lazy: its import is slow

    pos, t, e = _maps(positions, true, estimate)
    cost = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    flat_t, flat_e = t.reshape(-1, len(pos)), e.reshape(-1, len(pos))
    out = np.full(len(flat_t), np.nan)
    for k, (a, b) in enumerate(zip(flat_t, flat_e, strict=True)):
        if b.sum() > 0:
            ia, ib = np.flatnonzero(a), np.flatnonzero(b)  # only the support enters the transport problem
            out[k] = ot.emd2(a[ia] / a.sum(), b[ib] / b.sum(), np.ascontiguousarray(cost[np.ix_(ia, ib)]))
    return _out(out.reshape(t.shape[:-1]))


def _sets(true: np.ndarray, estimate: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1] (a share of the estimate's peak); got {threshold}.")
    peak = estimate.max(axis=-1, keepdims=True)
    return true > 0, (estimate >= threshold * peak) & (peak > 0)


def detection_auc(true: Any, estimate: Any) -> np.ndarray | float:
    """AUROC of the estimate's magnitude for telling truly active sources (non-zero ``true``) from
    the rest, per map (the Mann-Whitney statistic with mid-ranks for ties). NaN where every source
    is active."""
    from scipy.stats import rankdata

    t = np.abs(check_array(true, "true"))
    e = np.abs(check_array(estimate, "estimate"))
    t, e = np.broadcast_arrays(t, e)
    pos = t > 0
    n_pos, n_neg = pos.sum(axis=-1), (~pos).sum(axis=-1)
    if (n_pos == 0).any():
        raise ValueError("true has a map without any active source (all amplitudes are 0).")
    ranks = rankdata(e, axis=-1)
    u = np.where(pos, ranks, 0.0).sum(axis=-1) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(n_neg > 0, u / (n_pos * n_neg), np.nan))


def active_set_f1(true: Any, estimate: Any, threshold: float = HALF_MAX) -> np.ndarray | float:
    """F1 score of the estimated active set (magnitude ≥ ``threshold`` × the estimate's peak)
    against the truly active sources, per map; 0 for an all-zero estimate."""
    t, e = _sets(np.abs(check_array(true, "true")), np.abs(check_array(estimate, "estimate")), threshold)
    tp = (t & e).sum(axis=-1)
    return _out(2.0 * tp / (t.sum(axis=-1) + e.sum(axis=-1)))


def active_set_jaccard(true: Any, estimate: Any, threshold: float = HALF_MAX) -> np.ndarray | float:
    """Jaccard index |A ∩ Â| / |A ∪ Â| of the estimated and the true active sets, per map."""
    t, e = _sets(np.abs(check_array(true, "true")), np.abs(check_array(estimate, "estimate")), threshold)
    return _out((t & e).sum(axis=-1) / (t | e).sum(axis=-1))


def map_nmse(true: Any, estimate: Any) -> np.ndarray | float:
    """Normalised MSE ‖â − a‖² / ‖a‖² between source maps each scaled to peak 1 (so a solver is
    judged on the shape of its map, not on the amplitude shrinkage of its regulariser). An all-zero
    estimate scores 1."""
    t = np.abs(check_array(true, "true"))
    e = np.abs(check_array(estimate, "estimate"))
    t, e = np.broadcast_arrays(t, e)
    t = t / t.max(axis=-1, keepdims=True)
    peak = e.max(axis=-1, keepdims=True)
    e = np.divide(e, peak, out=np.zeros_like(e), where=peak > 0)
    return _out(((e - t) ** 2).sum(axis=-1) / (t**2).sum(axis=-1))
