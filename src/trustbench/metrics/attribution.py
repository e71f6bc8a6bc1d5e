"""Attribution metrics: an explanation (attribution map) against a ground-truth mask of important features.

Conventions
-----------
``attribution`` is a batch ``(n, *shape)`` of maps (``shape = (d,)`` for tabular data, ``(h, w)`` for
images) or one map; ``mask`` is boolean (or 0/1) with the same shape, or with the shape of one sample
(then it applies to every sample). Attributions are compared by their absolute value ``|attribution|``
(a negative attribution is still an attribution), except where a function says otherwise.

Which axes form one sample is decided by ``sample_ndim`` (the number of trailing axes of one
sample). By default it is inferred: a mask with fewer axes than ``attribution`` gives the sample
shape; otherwise a 1-D ``attribution`` is one sample and the first axis of anything larger is the
batch axis, so **a single (h, w) image must be passed as (1, h, w) or with** ``sample_ndim=2``
(:func:`emd_score` defaults to ``sample_ndim=2``). A batch returns an ``(n,)`` array, a single
sample a float.

Every sample's mask must hold at least one True (the error names the sample index).

References
----------
Clark B, Wilming R, Haufe S (2024). XAI-TRIS: non-linear image benchmarks to quantify false
positive post-hoc attribution of feature importance. Mach. Learn. 113, 6871-6910 (the EMD score;
precision of the top-k attributed features).
Arras L, Osman A, Samek W (2022). CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
neural network explanations. Inf. Fusion 81, 14-40 (relevance mass accuracy).
Wilming R, Budding C, Müller KR, Haufe S (2022). Scrutinizing XAI using linear ground-truth data
with suppressor variables. Mach. Learn. 111, 1903-1923 (suppressor variables).
Rubner Y, Tomasi C, Guibas LJ (2000). The earth mover's distance as a metric for image retrieval.
Int. J. Comput. Vis. 40, 99-121.
Peyré G, Cuturi M (2019). Computational Optimal Transport. Found. Trends Mach. Learn. 11(5-6),
section 6.1 (for a metric ground cost, W1(a, b) depends on a - b only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_choice, short_repr

__all__ = [
    "precision_at_k",
    "emd_score",
    "grid_emd",
    "attribution_auroc",
    "attribution_ap",
    "relevance_mass_accuracy",
    "suppressor_share",
]

_NUM_ITER_MAX = 100_000_000


# ----------------------------------------------------------------------------- input handling


def _prepare(
    attribution: Any,
    mask: Any,
    sample_ndim: int | None,
    *,
    mask_name: str = "mask",
    need_false: bool = False,
) -> tuple[np.ndarray, np.ndarray, bool, tuple[int, ...]]:
    """Validate and flatten: returns (A (n, p) float, M (n, p) bool, single, sample_shape)."""
    attr = check_array(attribution, "attribution")
    if attr.ndim == 0:
        raise ValueError(f"attribution must have at least one axis; got a scalar {short_repr(attribution)}.")
    if isinstance(mask, (str, bytes)) or mask is None:
        raise TypeError(f"{mask_name} must be a boolean array; got {short_repr(mask)}.")
    m = np.asarray(mask)
    if m.dtype != bool:
        if not (np.issubdtype(m.dtype, np.number) and np.isin(m, (0, 1)).all()):
            raise ValueError(
                f"{mask_name} must be boolean (or hold only 0 and 1); got {short_repr(mask)} "
                f"of dtype {m.dtype}."
            )
        m = m.astype(bool)
    if sample_ndim is None:
        if 0 < m.ndim < attr.ndim:
            sample_ndim = m.ndim
        else:
            sample_ndim = 1 if attr.ndim == 1 else attr.ndim - 1
    if isinstance(sample_ndim, bool) or not isinstance(sample_ndim, (int, np.integer)):
        raise TypeError(f"sample_ndim must be an int or None; got {short_repr(sample_ndim)}.")
    if not 1 <= sample_ndim <= attr.ndim or attr.ndim - sample_ndim > 1:
        raise ValueError(
            f"sample_ndim must be attribution.ndim ({attr.ndim}) or attribution.ndim - 1; "
            f"got {sample_ndim}."
        )
    single = attr.ndim == sample_ndim
    shape = attr.shape[attr.ndim - sample_ndim :]
    if m.shape not in (attr.shape, shape):
        raise ValueError(
            f"{mask_name} must have the shape of attribution {attr.shape} or of one sample {shape}; "
            f"got {m.shape}."
        )
    a2 = attr.reshape(1 if single else attr.shape[0], -1)
    if m.shape == attr.shape:
        m2 = m.reshape(a2.shape)
    else:  # one mask for every sample
        m2 = np.broadcast_to(m.reshape(1, -1), a2.shape)
    if a2.shape[1] == 0:
        raise ValueError(f"attribution must have at least one feature per sample; got shape {attr.shape}.")
    counts = m2.sum(axis=1)
    if (counts == 0).any():
        i = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"{mask_name} must hold at least one True per sample; sample {i} has none.")
    if need_false and (counts == a2.shape[1]).any():
        i = int(np.flatnonzero(counts == a2.shape[1])[0])
        raise ValueError(
            f"{mask_name} must hold at least one False per sample for this metric; sample {i} is all True."
        )
    return a2, m2, single, tuple(shape)


def _out(values: np.ndarray, single: bool) -> np.ndarray | float:
    return float(values[0]) if single else values


# ----------------------------------------------------------------------------- ranking metrics


def precision_at_k(attribution: Any, mask: Any, *, sample_ndim: int | None = None) -> np.ndarray | float:
    """Fraction of the k most attributed features that lie in the mask, k = number of mask features.

    Features are ranked by ``|attribution|``. Ties at the k-th value are resolved by their
    expectation over all orders of the tied features: if r of the e features tied at the threshold
    are needed, they contribute ``r * (tied features in the mask) / e``. The value thus does not
    depend on the order of the features. Equals 1 when the k largest values are exactly the mask.
    (Clark et al. 2024, XAI-TRIS, "precision".)
    """
    a, m, single, _ = _prepare(attribution, mask, sample_ndim)
    s = np.abs(a)
    k = m.sum(axis=1)
    thr = np.take_along_axis(-np.sort(-s, axis=1), (k - 1)[:, None], axis=1)  # k-th largest
    above = s > thr
    tied = s == thr
    r = k - above.sum(axis=1)
    hits = (above & m).sum(axis=1) + r * (tied & m).sum(axis=1) / tied.sum(axis=1)
    return _out(hits / k, single)


def attribution_auroc(attribution: Any, mask: Any, *, sample_ndim: int | None = None) -> np.ndarray | float:
    """Per-sample area under the ROC curve of ``|attribution|`` as a score for mask membership.

    Mann-Whitney form with ties counted ½ (midranks); equals ``sklearn.metrics.roc_auc_score(mask,
    |attribution|)``. Each mask needs at least one True and one False.
    """
    a, m, single, _ = _prepare(attribution, mask, sample_ndim, need_false=True)
    s = np.abs(a)
    ordered = np.sort(s, axis=1)
    # midrank of each mask feature: (#smaller + #smaller-or-equal + 1) / 2, by binary search in the
    # sorted row (a full rankdata of every feature costs ~10x more on 64 x 64 maps)
    rank_sum = np.array([
        (np.searchsorted(row, v, "left") + np.searchsorted(row, v, "right") + 1).sum() / 2
        for row, v in zip(ordered, (si[mi] for si, mi in zip(s, m)))
    ], dtype=float)
    pos = m.sum(axis=1)
    neg = m.shape[1] - pos
    auc = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
    return _out(auc, single)


def attribution_ap(attribution: Any, mask: Any, *, sample_ndim: int | None = None) -> np.ndarray | float:
    """Per-sample average precision of ``|attribution|`` for mask membership.

    AP = Σ_t (R_t − R_{t−1}) P_t over the distinct score values t (descending), tied features
    entering together; equals ``sklearn.metrics.average_precision_score(mask, |attribution|)``.
    """
    a, m, single, _ = _prepare(attribution, mask, sample_ndim)
    s = np.abs(a)
    order = np.argsort(-s, axis=1, kind="stable")
    s = np.take_along_axis(s, order, axis=1)
    y = np.take_along_axis(m, order, axis=1)
    p = s.shape[1]
    tp = np.cumsum(y, axis=1)
    end = np.ones_like(y)
    end[:, :-1] = s[:, :-1] != s[:, 1:]  # last index of each group of tied scores
    pos = np.arange(p)
    # index of the end of each position's tie group: a reverse running minimum over end positions
    last = np.minimum.accumulate(np.where(end, pos, p)[:, ::-1], axis=1)[:, ::-1]
    prec_at_end = np.take_along_axis(tp, last, axis=1) / (last + 1)
    ap = (y * prec_at_end).sum(axis=1) / y.sum(axis=1)
    return _out(ap, single)


# ----------------------------------------------------------------------------- mass metrics


def _mass_share(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    total = a.sum(axis=1)
    inside = (a * m).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)


def relevance_mass_accuracy(
    attribution: Any, mask: Any, *, sign: str = "abs", sample_ndim: int | None = None
) -> np.ndarray | float:
    """Share of the attribution mass that falls inside the mask (Arras et al. 2022, CLEVR-XAI).

    ``sign="abs"`` (default) uses ``|attribution|``, like every metric here, so a method that marks
    the mask with negative values is not scored as wrong. ``sign="positive"`` keeps only positive
    attribution (negative values set to 0), the paper's definition (and what Quantus's
    ``RelevanceMassAccuracy`` docstring states; its code sums the attribution as given, signed unless
    ``abs=True``, after dividing by the maximum). A sample with zero mass gives NaN.
    """
    check_choice(sign, "sign", ("abs", "positive"))
    a, m, single, _ = _prepare(attribution, mask, sample_ndim)
    a = np.abs(a) if sign == "abs" else np.maximum(a, 0.0)
    return _out(_mass_share(a, m), single)


def suppressor_share(
    attribution: Any, suppressor: Any, *, sample_ndim: int | None = None
) -> np.ndarray | float:
    """Share of ``|attribution|`` on suppressor features (Wilming et al. 2022): lower is better.

    A suppressor is a feature with no statistical association to the target that a model still uses
    (to cancel noise); attribution on it is a false positive. ``suppressor`` marks them (at least one
    per sample). A sample with zero attribution gives NaN.
    """
    a, m, single, _ = _prepare(attribution, suppressor, sample_ndim, mask_name="suppressor")
    return _out(_mass_share(np.abs(a), m), single)


# ----------------------------------------------------------------------------- earth mover's distance


def _transport_pot(ps: np.ndarray, pk: np.ndarray, cost: np.ndarray) -> float:
    from trustbench.metrics.distances import import_pot

    ot = import_pot()  # lazy: its import is slow

    cost_value, log = ot.emd2(ps, pk, cost, numItermax=_NUM_ITER_MAX, log=True, center_dual=False)
    if log.get("warning") is not None:
        raise RuntimeError(f"POT network simplex did not reach optimality: {log['warning']}")
    return float(cost_value)


def _transport_highs(ps: np.ndarray, pk: np.ndarray, cost: np.ndarray) -> float:
    import scipy.sparse as sp
    from scipy.optimize import linprog

    ns, nk = cost.shape
    e = np.arange(ns * nk)
    rows = sp.csr_matrix((np.ones(ns * nk), (e // nk, e)), shape=(ns, ns * nk))
    cols = sp.csr_matrix((np.ones(ns * nk), (e % nk, e)), shape=(nk, ns * nk))
    # the last demand constraint is implied by the others (equal total mass); dropping it keeps the
    # problem feasible whatever the rounding of the two sums
    a_eq = sp.vstack([rows, cols[:-1]]).tocsc()
    res = linprog(cost.ravel(), A_eq=a_eq, b_eq=np.r_[ps, pk[:-1]], bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on the transport problem: {res.message}")
    return float(res.fun)


# Multiscale column generation with a duality certificate (solver="multiscale"). Rows are the larger
# side of the cancelled problem (the dense attribution side), columns the smaller one (the
# uncovered part of the mask, a few hundred pixels at most in XAI-TRIS).
_MS_MIN_ROWS = 512  # below this many rows (and for small problems) one dense POT solve is faster
_MS_LEVELS = (4, 2)  # block sides of the coarse levels, coarsest first, then the grid itself
_MS_TOPK = 4  # arcs per row added from the reduced costs of the previous level's duals
_MS_GAP_TOL = 1e-10  # duality gap (unit mass, grid units) accepted as optimal
_MS_MAX_ROUNDS = 40  # pricing rounds per level before the dense fallback


def _sparse_simplex(ps: np.ndarray, pk: np.ndarray, cost: np.ndarray, arcs: np.ndarray, init: tuple | None):
    """POT's network simplex on the arcs ``arcs`` (bool, rows × cols) only; warm-started if it can be.

    Returns (rows, cols, flows, u, v). Raises RuntimeError if the restricted problem is not solved
    to optimality (it is always feasible here: ``arcs`` holds the support of a feasible plan).
    """
    r, c = np.nonzero(arcs)
    # POT's low-level entry (POT >= 0.9.6) takes warm-start potentials; ot.emd does not pass them on
    from ot.lp.emd_wrap import check_result, emd_c_sparse

    extra = () if init is None else (np.ascontiguousarray(init[0]), np.ascontiguousarray(init[1]))
    fr, fc, flow, _, u, v, code = emd_c_sparse(
        ps, pk, r.astype(np.uint64), c.astype(np.uint64), np.ascontiguousarray(cost[r, c]), _NUM_ITER_MAX, *extra
    )
    message = check_result(code)
    if message is not None:
        raise RuntimeError(f"POT network simplex did not reach optimality: {message}")
    return fr.astype(np.intp), fc.astype(np.intp), flow, u, v


def _add_best(arcs: np.ndarray, reduced: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Add to ``arcs`` the k arcs of smallest reduced cost of each row; returns the row minima.

    ``reduced`` holds the reduced costs of the rows ``rows`` of ``arcs`` (default: all rows). k
    row-wise ``argmin`` sweeps (each found arc is then masked with inf, so ``reduced`` is
    overwritten): for k of a few, measured about twice as fast as ``argpartition``.
    """
    sub = np.arange(reduced.shape[0])
    rows = sub if rows is None else rows
    j = reduced.argmin(axis=1)
    f = reduced[sub, j]
    for step in range(min(k, reduced.shape[1])):
        arcs[rows, j] = True
        if step + 1 < k:
            reduced[sub, j] = np.inf
            j = reduced.argmin(axis=1)
    return f


def _certified_colgen(ps, pk, cost, arcs, init):
    """Exact transport cost by column generation, certified by LP duality on the full problem.

    Solves the problem restricted to ``arcs``; then, with the column potentials v of that solve, the
    c-transform ``f_i = min_j (C_ij - v_j)`` makes (f, v) feasible for the dual of the *full* problem,
    so ``D = Σ ps f + Σ pk v <= OPT <= P`` (P: cost of the restricted optimum, a feasible plan). When
    ``P - D <= _MS_GAP_TOL`` the plan is optimal to that tolerance (Peyré & Cuturi 2019, section 3.3);
    otherwise the rows whose restricted potential exceeds the c-transform (violated dual constraints)
    get their best arcs and the restricted problem is solved again. Returns (P, v, plan arcs) or None
    when it did not certify within ``_MS_MAX_ROUNDS`` rounds.
    """
    reduced = np.empty_like(cost)  # reused: a fresh 8 MB array each round costs its page faults
    for _ in range(_MS_MAX_ROUNDS):
        r, c, flow, u, v = _sparse_simplex(ps, pk, cost, arcs, init)
        primal = float(flow @ cost[r, c])
        np.subtract(cost, v, out=reduced)
        f = reduced.min(axis=1)
        dual = float(ps @ f + pk @ v)
        if primal - dual <= _MS_GAP_TOL:
            plan = np.zeros(cost.shape, bool)
            plan[r, c] = True
            return primal, v, plan
        bad = np.flatnonzero(f < u - 1e-13)
        if len(bad) == 0:  # gap from rounding alone: price every row
            bad = np.arange(len(ps))
        _add_best(arcs, reduced[bad], _MS_TOPK, bad)
        init = (f, v)
    return None


def _pool_rows(yx: np.ndarray, ps: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the rows in side × side blocks of the grid: (row → block, block mass, block centroid)."""
    key = (yx[:, 0] // side) * (int(yx[:, 1].max()) // side + 1) + yx[:, 1] // side
    _, inv = np.unique(key.astype(np.int64), return_inverse=True)
    mass = np.bincount(inv, ps)
    centre = np.stack([np.bincount(inv, ps * yx[:, 0]), np.bincount(inv, ps * yx[:, 1])], axis=1) / mass[:, None]
    return inv, mass, centre


def _centre_cost(centre: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """Euclidean distances between the points ``centre`` (m, 2) and ``yx`` (n, 2), in place."""
    dy = np.subtract.outer(centre[:, 0], yx[:, 0])
    dx = np.subtract.outer(centre[:, 1], yx[:, 1])
    dy *= dy
    dx *= dx
    dy += dx
    return np.sqrt(dy, out=dy)


def _transport_multiscale(ps: np.ndarray, pk: np.ndarray, yx_s: np.ndarray, yx_k: np.ndarray,
                          cost: np.ndarray) -> float:
    """Exact transport cost, rows ``ps`` at ``yx_s`` (the larger side) to columns ``pk`` at ``yx_k``.

    Coarse-to-fine: the rows are pooled in 4 × 4 and 2 × 2 blocks (mass at the block centroid,
    Euclidean cost to the exact columns); the coarsest problem is solved densely, each finer one by
    :func:`_certified_colgen` on the arcs of the coarser plan (expanded to the member rows: a
    feasible plan, so every restricted problem is feasible) plus each row's best arcs under the
    coarser column potentials, warm-started from them. Only the last level needs its certificate
    for exactness; it is on the full (rows × columns) cost. Falls back to one dense POT solve if a
    level does not certify.
    """
    pk = pk * (ps.sum() / pk.sum())
    prev_inv = plan = v = None
    for side in _MS_LEVELS + (1,):
        if side == 1:
            inv, mass, level_cost = np.arange(len(ps)), ps, cost
        else:
            inv, mass, centre = _pool_rows(yx_s, ps, side)
            level_cost = _centre_cost(centre, yx_k)
        if plan is None:  # coarsest level: dense
            from trustbench.metrics.distances import import_pot

            ot = import_pot()

            flows, log = ot.emd(mass, pk, level_cost, numItermax=_NUM_ITER_MAX, log=True, check_marginals=False)
            if log.get("warning") is not None:
                break
            v, plan = np.asarray(log["v"]), flows > 0
        else:
            up = np.empty(len(mass), np.intp)
            up[inv] = prev_inv  # block of this level -> block of the coarser level
            arcs = plan[up]
            f = _add_best(arcs, level_cost - v, _MS_TOPK)
            try:
                res = _certified_colgen(mass, pk, level_cost, arcs, (f, v))
            except RuntimeError:
                res = None
            if res is None:
                break
            value, v, plan = res
            if side == 1:
                return value
        prev_inv = inv
    return _transport_pot(ps, pk, cost)


def _grid_cost(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Euclidean distances between the flat grid cells ``rows`` and ``cols``, from a table of sqrt."""
    h, w = shape
    table = np.sqrt(np.add.outer(np.arange(h) ** 2, np.arange(w) ** 2).astype(float))
    # int32 and in place: half the memory traffic of the int64 temporaries (measured 2x faster)
    ry, rx = np.divmod(rows.astype(np.int32), w)
    cy, cx = np.divmod(cols.astype(np.int32), w)
    idx = np.abs(ry[:, None] - cy[None, :])
    idx *= w
    idx += np.abs(rx[:, None] - cx[None, :])
    return table.ravel()[idx]


def _w1_grid(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...], solver: str) -> float:
    """Exact W1 between two histograms of equal mass on a grid, Euclidean cost between cell centres."""
    d = a - b
    if len(shape) == 1:  # on a line W1 is the L1 distance between the CDFs
        return float(np.abs(np.cumsum(d)[:-1]).sum())
    # mass both histograms hold at a cell stays there: for a metric cost W1(a, b) = W1((a-b)+, (b-a)+)
    src = np.flatnonzero(d > 0)
    snk = np.flatnonzero(d < 0)
    if len(src) == 0 or len(snk) == 0:
        return 0.0
    ps, pk = d[src], -d[snk]
    mass = 0.5 * (ps.sum() + pk.sum())
    ps, pk = ps / ps.sum(), pk / pk.sum()
    if len(src) > len(snk):  # the smaller side as rows (measured slightly faster for POT)
        src, snk, ps, pk = snk, src, pk, ps
    yx_s = np.stack(np.unravel_index(src, shape), axis=1).astype(float)
    yx_k = np.stack(np.unravel_index(snk, shape), axis=1).astype(float)
    if solver == "multiscale" and len(snk) >= _MS_MIN_ROWS:  # the larger side as rows, here
        return mass * _transport_multiscale(pk, ps, yx_k, yx_s, _grid_cost(snk, src, shape))
    cost = np.sqrt(((yx_s[:, None, :] - yx_k[None, :, :]) ** 2).sum(axis=2))
    transport = _transport_highs if solver == "highs" else _transport_pot
    return mass * transport(ps, pk, cost)


def _emd_one(a: np.ndarray, m: np.ndarray, shape: tuple[int, ...], solver: str) -> float:
    total = a.sum()
    return np.nan if total == 0 else _w1_grid(a / total, m / m.sum(), shape, solver)


def grid_emd(
    attribution: Any,
    mask: Any,
    *,
    sample_ndim: int = 2,
    solver: str = "auto",
    n_jobs: int = 1,
) -> np.ndarray | float:
    """Exact earth mover's distance between normalised ``|attribution|`` and the uniform mask.

    Both are made probability vectors on the pixel grid (``|attribution| / Σ|attribution|`` and
    ``mask / Σ mask``); the ground cost is the Euclidean distance between pixel centres (grid
    units). Zero attribution gives NaN. See :func:`emd_score` for the method and the options.
    """
    check_choice(solver, "solver", ("auto", "multiscale", "pot", "highs"))
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an int >= 1; got {short_repr(n_jobs)}.")
    if sample_ndim not in (1, 2):
        raise ValueError(
            f"sample_ndim must be 2 (an image grid) or 1 (a 1-D grid) for the EMD; got {sample_ndim!r}."
        )
    a, m, single, shape = _prepare(attribution, mask, sample_ndim)
    if solver == "auto":
        solver = "multiscale"
    a = np.abs(a)
    m = m.astype(float)
    def one(i: int) -> float:
        return _emd_one(a[i], m[i], shape, solver)

    if n_jobs == 1 or len(a) < 2:
        values = np.array([one(i) for i in range(len(a))])
    else:
        from concurrent.futures import ThreadPoolExecutor

        # threads, not processes: POT's network simplex and NumPy's large array operations release
        # the GIL (measured 1.9x on 2 cores) and there is no process start-up; one sample per task
        # balances samples of very different cost
        with ThreadPoolExecutor(max_workers=min(n_jobs, len(a))) as pool:
            values = np.array(list(pool.map(one, range(len(a)))))
    return _out(values, single)


def emd_score(
    attribution: Any,
    mask: Any,
    *,
    sample_ndim: int = 2,
    solver: str = "auto",
    n_jobs: int = 1,
) -> np.ndarray | float:
    """EMD score of XAI-TRIS (Clark et al. 2024): ``1 - EMD / D``, in [0, 1], higher is better.

    EMD is the exact earth mover's distance (:func:`grid_emd`) between the normalised
    ``|attribution|`` and the normalised mask (uniform on the mask pixels) on the ``(h, w)`` pixel
    grid with Euclidean cost between pixel centres, and ``D = sqrt((h-1)² + (w-1)²)`` is the largest
    such distance, so the score is 1 for ``|attribution| ∝ mask`` and 0 when all mass sits at one
    corner and the mask at the opposite one. (Parts of the XAI-TRIS code divide by ``sqrt(2 n)``
    instead; D is the paper's normalisation.) ``sample_ndim=1`` treats each sample as a 1-D grid
    (tabular features in a row, D = d - 1), where W1 has a closed form. A 1 × 1 grid scores 1.
    A sample with zero attribution gives NaN (there is no distribution to move).

    Method: for a metric cost, mass both distributions hold at the same pixel does not move, so
    ``W1(a, b) = W1((a-b)+, (b-a)+)`` (exact); the remaining transport problem between the two
    disjoint supports is solved exactly. ``solver="multiscale"`` (what ``"auto"`` uses; POT is a
    dependency): the larger side is pooled in 4 × 4 and 2 × 2 blocks, each
    level is solved by POT's network simplex on a sparse arc set (the coarser plan plus each row's
    best arcs under the coarser dual potentials), and on the pixel grid the result is certified
    optimal by LP duality on the full cost (c-transform of the column potentials, duality gap
    <= 1e-10 in grid units, else the violated arcs are priced in and the sparse problem solved
    again; Peyré & Cuturi 2019, section 3.3); small problems use one dense solve. ``"pot"``: one
    dense POT network simplex solve of the cancelled problem. ``"highs"``: HiGHS
    through ``scipy.optimize.linprog`` (exact too, but far slower on 64 × 64 grids).
    ``n_jobs > 1`` spreads the samples over that many threads.
    """
    emd = grid_emd(attribution, mask, sample_ndim=sample_ndim, solver=solver, n_jobs=n_jobs)
    a = np.asarray(attribution)
    shape = a.shape[a.ndim - sample_ndim :]
    diameter = math.sqrt(sum((s - 1) ** 2 for s in shape))
    if diameter == 0:
        score = np.where(np.isnan(emd), np.nan, 1.0)
    else:
        score = np.clip(1.0 - np.asarray(emd) / diameter, 0.0, 1.0)
    return float(score) if np.ndim(score) == 0 else score
