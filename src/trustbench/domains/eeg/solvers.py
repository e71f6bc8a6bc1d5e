r"""Bayesian M/EEG inverse solvers with a posterior covariance, over plain numpy arrays.

Model
-----
Data ``Y`` (m sensors × T samples) are explained by sources ``X`` (N = n · n_orient rows) through
the gain (lead field) ``L`` (m × N), whose ``n_orient`` columns of source i are adjacent
(column ``n_orient * i + o``):

.. math::  Y = L X + E, \qquad E_{:,t} \sim N(0, C), \qquad X_{:,t} \sim N(0, \Gamma),

independently over the T columns, with ``Γ`` diagonal and one variance per *source* (shared by its
``n_orient`` components). Given Γ the posterior of every column is Gaussian with

.. math::  \bar X = \Gamma L^\top \Sigma_y^{-1} Y, \qquad
           \Sigma_x = \Gamma - \Gamma L^\top \Sigma_y^{-1} L \Gamma, \qquad
           \Sigma_y = C + L \Gamma L^\top,

and the marginal likelihood (evidence) of Y is that of ``N(0, Σ_y)`` per column. The two solvers
differ in how Γ is chosen: :func:`bayes_mn` scales a fixed shape (identity or depth weights) by one
scalar, :func:`champagne` learns one variance per source (sparse Bayesian learning).

Whitening and rank
------------------
Everything is computed in whitened units, which makes the code scale-free (volts and A·m or
microvolts and nA·m give the same answer in the same physical units). With the eigendecomposition
``C = U diag(s) Uᵀ`` (s descending), the whitener is ``W = diag(s_k^{-1/2}) U_kᵀ`` over the first
``r`` eigenvectors, ``L̃ = W L``, ``Ỹ = W Y``, and the noise becomes N(0, I_r). Directions of C's
null space are dropped: they carry no noise *and no information the model can use* — the
average-reference projector, for example, makes EEG noise covariance rank m − 1, and the data and
the (projected) gain have no component along the constant vector. The rank rule: ``rank=None``
keeps the eigenvalues ``s_k > 1e-10 · s_max`` (:data:`RANK_TOL`); an explicit ``rank=r`` keeps the
largest r (and refuses an r that reaches into the numerical null space). The objective functions
reported in ``Posterior.cost`` are in whitened units, i.e. they differ from the raw
``log|Σ_y| + tr(Σ_y⁻¹ S)`` by the constant ``log pdet(C)``.

References
----------
Wipf DP, Owen JP, Attias HT, Sekihara K, Nagarajan SS (2010). Robust Bayesian estimation of the
location, orientation, and time course of multiple correlated neural sources using MEG.
NeuroImage 49, 641-655 (Champagne).
Hashemi A, Cai C, Kutyniok G, Müller KR, Nagarajan SS, Haufe S (2021). Unification of sparse
Bayesian learning algorithms for electromagnetic brain imaging with the majorization minimization
framework. NeuroImage 239, 118309 (the convex-bounding MM update used here).
MacKay DJC (1992). Bayesian interpolation. Neural Computation 4, 415-447 (evidence maximisation).
Lin FH, Witzel T, Ahlfors SP, Stufflebeam SM, Belliveau JW, Hämäläinen MS (2006). Assessing and
improving the spatial accuracy in MEG source localization by depth-weighted minimum-norm
estimates. NeuroImage 31, 160-171 (depth weighting).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_int, short_repr

__all__ = ["Posterior", "bayes_mn", "champagne", "RANK_TOL"]

logger = logging.getLogger("trustbench")

#: Relative eigenvalue threshold of the noise covariance below which a direction is treated as
#: null (dropped by the whitener) when ``rank=None``.
RANK_TOL = 1e-10

_SYM_TOL = 1e-8  # relative asymmetry / negative-eigenvalue tolerance for C
_GRID_DECADES = 10.0  # bayes_mn evidence search: α·mean(λ) in 10**[-10, 10]
_GRID_POINTS = 161  # 8 points per decade
_GRAM_MAX_BYTES = 512 * 2**20  # champagne keeps per-source Gram blocks up to this size


@dataclass(frozen=True, eq=False)
class Posterior:
    """Gaussian posterior of the sources given the data (one shared covariance per sample).

    Shapes: N = n_sources · n_orient; a leading batch axis B appears in every array when ``Y``
    was batched (B, m, T).

    Attributes
    ----------
    mean : ndarray, (N, T) or (B, N, T)
        Posterior mean X̄ = Γ Lᵀ Σ_y⁻¹ Y, in the units of the sources (those of Y / those of L).
    std : ndarray, (N,) or (B, N)
        Posterior standard deviation sqrt(diag Σ_x); the same for every time sample.
    gamma : ndarray, (n_sources,) or (B, n_sources)
        Prior variance of each source (shared by its n_orient components), in squared source units.
    n_iter : int
        Iterations of the solver (champagne: γ updates; bayes_mn: evaluations of the evidence,
        0 when ``prior_var`` was given). For a batch, the largest over the samples.
    converged : bool
        Whether the solver met its stopping rule (for a batch, every sample did).
    cost : ndarray, (K,) or (B, K)
        Objective ``log|Σ̃_y| + tr(Σ̃_y⁻¹ S̃)`` (whitened; S̃ = ỸỸᵀ/T; −2/T × log evidence up to a
        constant) after each iteration, starting from the initial Γ (champagne: K = n_iter + 1;
        bayes_mn: K = 1, at the chosen prior variance). A batch is padded with NaN.
    """

    mean: np.ndarray
    std: np.ndarray
    gamma: np.ndarray
    n_iter: int
    converged: bool
    cost: np.ndarray
    # Σ_x = diag(_prior) − _factor diag(_weights) _factorᵀ  (kept for `covariance`)
    _prior: np.ndarray = field(default=None, repr=False)  # (N,) or (B, N)
    _factor: np.ndarray = field(default=None, repr=False)  # (N, r) or (B, N, r)
    _weights: np.ndarray = field(default=None, repr=False)  # (r,) or (B, r)

    def covariance(self, sample: int | None = None) -> np.ndarray:
        """Full posterior covariance Σ_x (N, N), or (B, N, N) for a batch with ``sample=None``.

        Memory grows as N²: meant for small problems (N = 1941 is 30 MB per sample).

        Parameters
        ----------
        sample : int, optional
            Index of one sample of a batched posterior.
        """
        prior, factor, weights = self._prior, self._factor, self._weights
        if prior is None:
            raise ValueError("this Posterior holds no covariance factors.")
        batched = prior.ndim == 2
        if sample is not None:
            if not batched:
                raise ValueError(f"sample must be None for an unbatched posterior; got {sample!r}.")
            b = check_int(sample, "sample")
            if not -len(prior) <= b < len(prior):
                raise ValueError(f"sample must lie in [-{len(prior)}, {len(prior)}); got {b}.")
            prior, weights = prior[b], weights[b]
            factor = factor[b] if factor.ndim == 3 else factor
            batched = False
        if not batched:
            return np.diag(prior) - (factor * weights) @ factor.T
        fac = factor if factor.ndim == 3 else np.broadcast_to(factor, (len(prior), *factor.shape))
        out = -np.einsum("bnk,bk,bjk->bnj", fac, weights, fac)
        idx = np.arange(prior.shape[1])
        out[:, idx, idx] += prior
        return out


# ----------------------------------------------------------------------------------------------
# validation and whitening
# ----------------------------------------------------------------------------------------------


def _check_inputs(
    L: Any, Y: Any, C: Any, n_orient: Any, rank: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int | None]:
    L = check_array(L, "L", ndim=2)
    Y = check_array(Y, "Y", ndim=(2, 3))
    C = check_array(C, "C", ndim=2)
    m, n_cols = L.shape
    if Y.shape[-2] != m:
        raise ValueError(
            f"Y must have {m} rows (sensors) like L {L.shape}, as (m, T) or (B, m, T); "
            f"got shape {Y.shape}."
        )
    if Y.shape[-1] < 1 or (Y.ndim == 3 and Y.shape[0] < 1):
        raise ValueError(f"Y must hold at least one sample; got shape {Y.shape}.")
    if C.shape != (m, m):
        raise ValueError(f"C must be ({m}, {m}) like the {m} sensors of L; got shape {C.shape}.")
    scale = float(np.abs(C).max())
    if scale == 0.0:
        raise ValueError(
            "C must be positive semidefinite with a positive eigenvalue; got all zeros."
        )
    asym = float(np.abs(C - C.T).max())
    if asym > _SYM_TOL * scale:
        raise ValueError(
            f"C must be symmetric; got max |C - C.T| = {asym:.3g} (max |C| = {scale:.3g}, "
            f"tolerance {_SYM_TOL:g} relative)."
        )
    if isinstance(n_orient, bool) or not isinstance(n_orient, (int, np.integer)):
        raise TypeError(
            f"n_orient must be a positive integer (1 or 3); got {short_repr(n_orient)}."
        )
    if n_orient < 1 or n_cols % n_orient:
        raise ValueError(
            f"n_orient must be a positive integer dividing the {n_cols} columns of L "
            f"(1 for fixed, 3 for free orientations); got {n_orient!r}."
        )
    if rank is not None:
        rank = check_int(rank, "rank", minimum=1)
        if rank > m:
            raise ValueError(f"rank must be None or an integer in [1, {m}]; got {rank}.")
    return L, Y, C, int(n_orient), rank


def _whitener(C: np.ndarray, rank: int | None) -> np.ndarray:
    """W (r, m) with W C Wᵀ = I_r on C's range; see the module docstring for the rank rule."""
    s, U = np.linalg.eigh((C + C.T) / 2.0)
    s, U = s[::-1], U[:, ::-1]
    if s[-1] < -_SYM_TOL * s[0]:
        raise ValueError(
            f"C must be positive semidefinite; got eigenvalue {s[-1]:.3g} (largest {s[0]:.3g})."
        )
    numerical = int(np.sum(s > RANK_TOL * s[0]))
    if rank is None:
        rank = numerical
    elif rank > numerical:
        raise ValueError(
            f"rank must not exceed the numerical rank {numerical} of C (eigenvalues > "
            f"{RANK_TOL:g} × largest); got {rank}."
        )
    return U[:, :rank].T / np.sqrt(s[:rank])[:, None]


def _source_norms(Lw: np.ndarray, n_orient: int) -> np.ndarray:
    """‖L̃_i‖²_F per source, (n,)."""
    return (Lw**2).sum(axis=0).reshape(-1, n_orient).sum(axis=1)


# ----------------------------------------------------------------------------------------------
# Bayesian minimum norm
# ----------------------------------------------------------------------------------------------


def bayes_mn(
    L: Any,
    Y: Any,
    C: Any,
    *,
    prior_var: float | None = None,
    n_orient: int = 3,
    depth: float | Any | None = None,
    rank: int | None = None,
) -> Posterior:
    r"""Bayesian minimum-norm estimate with its posterior covariance.

    Prior ``x ~ N(0, Γ)`` with ``Γ = prior_var · diag(w)`` (w = 1, or depth weights), noise
    ``N(0, C)``; the posterior of every time sample is Gaussian with mean Γ Lᵀ (L Γ Lᵀ + C)⁻¹ Y and
    covariance Σ = Γ − Γ Lᵀ (L Γ Lᵀ + C)⁻¹ L Γ (the same for every sample; the Tikhonov /
    minimum-norm solution read as a Gaussian conjugate posterior).

    Evidence maximisation (``prior_var=None``, MacKay 1992): with ``G = L̃ diag(w)^{1/2}`` and the
    eigendecomposition ``G Gᵀ = V diag(λ) Vᵀ`` (r × r), the whitened Σ̃_y = I + α G Gᵀ is diagonal
    in the basis V, so −2 log p(Y | α) = T Σ_k log(1 + αλ_k) + Σ_k p_k / (1 + αλ_k) + const with
    p_k = ‖(Vᵀ Ỹ)_k‖². It is minimised over log α on a grid (α·mean(λ) in 10^[−10, 10], 8 points
    per decade), then the root of its derivative in log α is found by Brent's method between the
    grid neighbours of the best point (bounded Brent minimisation if the slope does not change
    sign there) — O(r) per evaluation. Each sample of a batch gets its own α (each is its own
    data set); all samples share V, so the batch is vectorised. ``converged`` is False when the
    optimum lies on the end of the grid (e.g. pure noise drives α → 0).

    Parameters
    ----------
    L : array_like, (m, n_sources · n_orient)
        Gain; the ``n_orient`` components of source i are columns ``n_orient·i + o``.
    Y : array_like, (m, T) or (B, m, T)
        Data (a batch of B independent data sets).
    C : array_like, (m, m)
        Noise covariance, symmetric positive semidefinite; null directions are dropped (see
        ``rank``).
    prior_var : float > 0, optional
        Prior variance scale α of the sources (squared source units). None: maximise the evidence.
    n_orient : int
        Components per source (1 fixed, 3 free orientation).
    depth : float >= 0 or array_like (n_sources,), optional
        None: w = 1. A float p: depth weighting w_i ∝ (‖L̃_i‖²_F)^(−p) on the whitened gain (Lin et
        al. 2006; MNE's ``depth=0.8``), no limit applied. An array: positive per-source weights.
        Weights are scaled to mean 1, so α is the mean prior variance.
    rank : int, optional
        Rank of C kept by the whitener; None: eigenvalues above ``RANK_TOL`` × the largest.

    Returns
    -------
    Posterior
        ``gamma = α · w`` per source; ``cost`` the whitened objective at α.
    """
    L, Y, C, n_orient, rank = _check_inputs(L, Y, C, n_orient, rank)
    n = L.shape[1] // n_orient
    if prior_var is not None:
        if isinstance(prior_var, bool) or not isinstance(
            prior_var, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"prior_var must be None or a number > 0; got {short_repr(prior_var)}.")
        if not (math.isfinite(prior_var) and prior_var > 0):
            raise ValueError(f"prior_var must be None or a finite number > 0; got {prior_var!r}.")
    weights_given = None
    if depth is not None:
        if isinstance(depth, (int, float, np.integer, np.floating)) and not isinstance(depth, bool):
            if not (math.isfinite(depth) and depth >= 0):
                raise ValueError(
                    f"depth must be None, a finite exponent >= 0 or {n} weights; got {depth!r}."
                )
        else:
            weights_given = check_array(depth, "depth", ndim=1)
            if weights_given.shape != (n,) or (weights_given <= 0).any():
                raise ValueError(
                    f"depth weights must be {n} positive numbers (one per source); got "
                    f"{short_repr(weights_given)} with min {weights_given.min():.3g}."
                )

    batched = Y.ndim == 3
    Yb = Y if batched else Y[None]
    B, _, T = Yb.shape
    W = _whitener(C, rank)
    Lw = W @ L  # (r, N)
    Yw = np.einsum("rm,bmt->brt", W, Yb)
    norms = _source_norms(Lw, n_orient)
    if weights_given is not None:
        w = weights_given
    elif depth is not None and depth > 0:
        if (norms <= 0).any():
            raise ValueError(
                f"depth weighting needs a nonzero whitened gain for every source; source "
                f"{int(np.flatnonzero(norms <= 0)[0])} has none."
            )
        w = norms ** (-float(depth))
    else:
        w = np.ones(n)
    w = w / w.mean()
    wcol = np.repeat(w, n_orient)  # (N,)

    G = Lw * np.sqrt(wcol)  # (r, N)
    lam, V = np.linalg.eigh(G @ G.T)
    lam = np.clip(lam, 0.0, None)
    if lam.max() <= 0:
        raise ValueError(
            "L must have a nonzero component in the range of C; got a null whitened gain."
        )
    P = np.einsum("rk,brt->bkt", V, Yw)  # Vᵀ Ỹ
    p = (P**2).sum(axis=2)  # (B, r)

    def objective(log_alpha: np.ndarray, pk: np.ndarray, lk: np.ndarray) -> np.ndarray:
        """log|Σ̃_y| + tr(Σ̃_y⁻¹ S̃) at α = exp(log_alpha) (eigenvalues lk of G Gᵀ)."""
        a = np.exp(log_alpha)[..., None]
        return (T * np.log1p(a * lk).sum(-1) + (pk / (1.0 + a * lk)).sum(-1)) / T

    def slope(log_alpha: float, pk: np.ndarray, lk: np.ndarray) -> float:
        """d objective / d log α."""
        al = math.exp(log_alpha) * lk
        u = al / (1.0 + al)
        return float((u - (pk / T) * u / (1.0 + al)).sum())

    if prior_var is not None:
        alpha = np.full(B, float(prior_var))
        n_iter, converged = 0, True
    else:
        from scipy.optimize import brentq, minimize_scalar

        # search over t = log(α · mean λ), so that rescaled units give the same numbers
        scale = float(lam.mean())
        lam_c = lam / scale  # α λ = e^t λ_c
        grid = np.linspace(-_GRID_DECADES, _GRID_DECADES, _GRID_POINTS) * math.log(10.0)
        a = np.exp(grid)[:, None]
        logdet = np.log1p(a * lam_c).sum(axis=1)  # (G,)
        F = logdet[None, :] + (p @ (1.0 / (1.0 + a * lam_c)).T) / T  # (B, G)
        best = F.argmin(axis=1)
        alpha = np.empty(B)
        n_iter, converged = 0, True
        for b in range(B):
            j = int(best[b])
            if j in (0, len(grid) - 1):
                alpha[b] = math.exp(grid[j]) / scale
                converged = False
                logger.warning(
                    "bayes_mn: the evidence is largest at the end of the search range "
                    "(prior_var=%.3g) for sample %d; the data may hold no signal.",
                    alpha[b],
                    b,
                )
                n_iter = max(n_iter, len(grid))
                continue
            lo, hi = grid[j - 1], grid[j + 1]
            if slope(lo, p[b], lam_c) < 0.0 < slope(hi, p[b], lam_c):  # root of the slope
                t, info = brentq(slope, lo, hi, args=(p[b], lam_c), xtol=1e-14, full_output=True)
                ok, nfev = info.converged, info.function_calls
            else:  # flat or odd: minimise directly
                res = minimize_scalar(
                    lambda t, pk=p[b]: float(objective(np.asarray(t), pk, lam_c)),
                    bounds=(lo, hi),
                    method="bounded",
                    options={"xatol": 1e-10},
                )
                t, ok, nfev = res.x, res.success, res.nfev
            alpha[b] = math.exp(t) / scale
            converged &= bool(ok)
            n_iter = max(n_iter, len(grid) + int(nfev))
    cost = objective(np.log(alpha), p, lam)  # (B,)

    A = G.T @ V * np.sqrt(wcol)[:, None]  # (N, r) = diag(w)^{1/2} Gᵀ V = Γ/α Lᵀ V
    shrink = alpha[:, None] / (1.0 + alpha[:, None] * lam)  # (B, r)
    mean = np.einsum("nk,bkt->bnt", A, P * shrink[:, :, None])
    cw = alpha[:, None] * shrink  # α² / (1 + αλ)
    prior = alpha[:, None] * wcol
    var = prior - (cw @ (A**2).T)
    std = np.sqrt(np.clip(var, 0.0, None))
    gamma = alpha[:, None] * w
    if not batched:
        return Posterior(mean[0], std[0], gamma[0], n_iter, converged, cost, prior[0], A, cw[0])
    return Posterior(mean, std, gamma, n_iter, converged, cost[:, None], prior, A, cw)


# ----------------------------------------------------------------------------------------------
# Champagne
# ----------------------------------------------------------------------------------------------


def champagne(
    L: Any,
    Y: Any,
    C: Any,
    *,
    n_orient: int = 3,
    max_iter: int = 300,
    tol: float = 1e-6,
    gamma_init: Any = None,
    rank: int | None = None,
    prune: float = 1e-8,
) -> Posterior:
    r"""Champagne (sparse Bayesian learning) with per-source variances and its posterior.

    Type-II maximum likelihood of ``Γ = diag(γ_i I_{n_orient})`` (Wipf et al. 2010): minimise

    .. math::  \mathcal L(\gamma) = \log|\Sigma_y| + \operatorname{tr}(\Sigma_y^{-1} S), \qquad
               \Sigma_y = I + \tilde L \Gamma \tilde L^\top, \quad S = \tilde Y \tilde Y^\top / T

    (whitened), by the convex-bounding majorisation-minimisation update (Wipf et al. 2010;
    Hashemi et al. 2021, "Champagne with convex bounding"):

    .. math::  \bar x_i = \gamma_i \tilde L_i^\top \Sigma_y^{-1} \tilde Y, \qquad
               \gamma_i \leftarrow \sqrt{\frac{\lVert \bar x_i \rVert_F^2 / T}
                   {\operatorname{tr}(\tilde L_i^\top \Sigma_y^{-1} \tilde L_i)}}.

    Normalisation for ``n_orient`` = d: none is needed. log|Σ_y| is concave in γ, so it lies below
    its tangent Σ_i z_i γ_i + const with z_i = ∂/∂γ_i log|Σ_y| = tr(L̃_iᵀ Σ_y⁻¹ L̃_i) (a trace over
    the d columns of source i); the data term is tr(Σ_y⁻¹S) = min_X (‖Ỹ − L̃X‖²_F + Σ_i
    ‖X_i‖²_F/γ_i)/T, attained at X̄ (‖X_i‖²_F sums over the d rows and T samples). The surrogate
    separates into z_i γ_i + ‖x̄_i‖²_F/(T γ_i), minimised by the update above: both the numerator
    and the denominator sum over the d components, so d cancels. Its fixed points are the
    stationary points of 𝓛 (∂𝓛/∂γ_i = z_i − ‖x̄_i‖²_F/(T γ_i²)), and 𝓛 never increases
    (``cost`` records it). This is Wipf et al.'s update for an isotropic block Γ_i = γ_i I (trace
    of their matrix update). Dividing by d as well (as MNE 1.13's ``gamma_map`` does with
    ``xyz_same_gamma=True``: ``gammas_comb / group_size``) moves the fixed point off the stationary
    points of 𝓛 (for its MacKay update, to where ∂𝓛/∂γ_i = −2 z_i).

    Parameters
    ----------
    L, Y, C, n_orient, rank
        As in :func:`bayes_mn`.
    max_iter : int
        Largest number of γ updates.
    tol : float > 0
        Stop when the relative change Σ_i |Δγ_i| / Σ_i γ_i of an update falls below ``tol``.
    gamma_init : array_like (n_sources,) or (B, n_sources), optional
        Initial γ >= 0 (squared source units). None: the same γ for every source, chosen so that
        tr(L̃ Γ L̃ᵀ) = tr(S̃) (the whitened data power).
    prune : float >= 0
        A source whose γ decreased in the last update and whose whitened contribution
        γ_i ‖L̃_i‖²_F fell below ``prune`` (in units of the noise power of one whitened channel) is
        removed for the rest of the run: γ_i = 0, its posterior mean and std are 0 (its prior is a
        point mass at 0). Removing it changes 𝓛 by about −γ_i ∂𝓛/∂γ_i ≤ 0 (a decreasing γ has a
        positive gradient), and the multiplicative update never brings a zero γ back, so this only
        skips work on collapsing sources; ``prune=0`` keeps every source.

    Notes
    -----
    Cost per iteration: with the per-source Gram blocks K_i = L̃_i L̃_iᵀ (upper triangles,
    n × r(r+1)/2, kept when under 512 MB), Σ_y, z_i and ‖L̃_iᵀ Σ_y⁻¹ Ỹ‖²/T are three
    matrix-vector products with K (``tr(L̃_iᵀ A L̃_i) = ⟨K_i, A⟩``) plus O(r³) work, independent
    of T; otherwise triangular solves with the gain. BLAS runs on one thread inside this function
    (threadpoolctl): the matrices are small, and threaded OpenBLAS on a loaded machine was 10-50
    times slower here; parallelise over samples instead.

    Convergence is slow once the active set is found (the γ of inactive sources shrink by a
    factor close to 1 per update): on 647 sources × 3 orientations with 2 dipoles the relative γ
    change after 300 updates is typically 1e-4 to 1e-5, so ``converged`` is often False at the
    default ``tol``, although the cost and the largest γ have settled long before.

    Returns
    -------
    Posterior
        ``gamma`` the learned γ, ``mean`` = X̄ and ``std`` = sqrt(diag Σ_x) at the last γ, ``cost``
        the objective 𝓛 at the initial γ and after each update. A batch (B, m, T) is solved one
        sample at a time (each has its own Γ).
    """
    L, Y, C, n_orient, rank = _check_inputs(L, Y, C, n_orient, rank)
    n = L.shape[1] // n_orient
    max_iter = check_int(max_iter, "max_iter", minimum=0)
    for name, value, strict in (("tol", tol, True), ("prune", prune, False)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number; got {short_repr(value)}.")
        if not math.isfinite(value) or (value <= 0 if strict else value < 0):
            raise ValueError(
                f"{name} must be a finite number {'>' if strict else '>='} 0; got {value!r}."
            )
    batched = Y.ndim == 3
    Yb = Y if batched else Y[None]
    B = Yb.shape[0]
    g0 = None
    if gamma_init is not None:
        g0 = check_array(gamma_init, "gamma_init", ndim=(1, 2))
        allowed = [(n,)] + ([(B, n)] if batched else [])
        if g0.shape not in allowed:
            raise ValueError(
                f"gamma_init must have shape {' or '.join(map(str, allowed))}; got {g0.shape}."
            )
        if (g0 < 0).any() or (g0.reshape(-1, n).max(axis=1) <= 0).any():
            raise ValueError(
                f"gamma_init must be >= 0 with at least one positive entry per sample; got min "
                f"{g0.min():.3g}, max {g0.max():.3g}."
            )
        g0 = np.broadcast_to(g0, (B, n))

    W = _whitener(C, rank)
    Lw = W @ L
    norms = _source_norms(Lw, n_orient)
    r = Lw.shape[0]
    K = _gram_blocks(Lw, n_orient) if n * r * (r + 1) * 4 <= _GRAM_MAX_BYTES else None
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        results = [
            _champagne_one(
                Lw,
                K,
                W @ Yb[b],
                norms,
                n_orient,
                max_iter,
                tol,
                None if g0 is None else g0[b],
                prune,
            )
            for b in range(B)
        ]
    n_short = sum(not res.converged for res in results)
    if n_short:  # expected at the default tol (see Notes): info, not a warning
        logger.info(
            "champagne: %d of %d sample(s) not converged in %d iterations (tol=%g).",
            n_short,
            B,
            max_iter,
            tol,
        )
    if not batched:
        return results[0]
    longest = max(len(res.cost) for res in results)
    cost = np.full((B, longest), np.nan)
    for b, res in enumerate(results):
        cost[b, : len(res.cost)] = res.cost
    return Posterior(
        mean=np.stack([res.mean for res in results]),
        std=np.stack([res.std for res in results]),
        gamma=np.stack([res.gamma for res in results]),
        n_iter=max(res.n_iter for res in results),
        converged=all(res.converged for res in results),
        cost=cost,
        _prior=np.stack([res._prior for res in results]),
        _factor=np.stack([res._factor for res in results]),
        _weights=np.stack([res._weights for res in results]),
    )


def _gram_blocks(Lw: np.ndarray, d: int) -> np.ndarray:
    """Upper triangles of the per-source Gram blocks L̃_i L̃_iᵀ, (n, r(r+1)/2)."""
    r, N = Lw.shape
    n = N // d
    iu = np.triu_indices(r)
    flat = iu[0] * r + iu[1]
    Lb = np.ascontiguousarray(Lw.reshape(r, n, d).transpose(1, 0, 2))  # (n, r, d)
    K = np.empty((n, len(flat)))
    step = max(1, (1 << 18) // (r * r))  # chunks of (r, r) blocks of ~2 MB
    for start in range(0, n, step):
        chunk = Lb[start : start + step]
        blocks = np.matmul(chunk, chunk.transpose(0, 2, 1)).reshape(len(chunk), r * r)
        np.take(blocks, flat, axis=1, out=K[start : start + step])
    return K


def _champagne_one(
    Lw: np.ndarray,
    K: np.ndarray | None,
    Yw: np.ndarray,
    norms: np.ndarray,
    d: int,
    max_iter: int,
    tol: float,
    g0: np.ndarray | None,
    prune: float,
) -> Posterior:
    """One whitened data set (r, T): the MM iterations, then the posterior at the last γ.

    Each iteration needs, per source, z_i = tr(L̃_iᵀ Σ_y⁻¹ L̃_i) and ‖L̃_iᵀ Σ_y⁻¹ Ỹ‖²/T =
    tr(L̃_iᵀ Σ_y⁻¹ S Σ_y⁻¹ L̃_i). With the Gram blocks K_i = L̃_i L̃_iᵀ both are inner products
    ⟨K_i, ·⟩ with an (r, r) matrix, and Σ_y = I + Σ_i γ_i K_i: one (n, r²/2) matrix product per
    quantity instead of products with the (r, N) gain — at least d times fewer operations. Without K
    (too large) the same quantities come from triangular solves with the gain.
    """
    from scipy.linalg import cholesky, get_lapack_funcs, solve_triangular

    potrf, potri = get_lapack_funcs(("potrf", "potri"), dtype=np.float64)
    r, T = Yw.shape
    n = len(norms)
    eye = np.eye(r)
    iu = np.triu_indices(r)
    upper, lower, diag = iu[0] * r + iu[1], iu[1] * r + iu[0], np.arange(r) * (r + 1)
    offdiag = np.where(iu[0] == iu[1], 1.0, 2.0)  # ⟨A, B⟩ over the upper triangle
    S = Yw @ Yw.T / T
    if T > r:  # the data enter only through Ỹ Ỹᵀ: a square root (r, r) stands in for a long Ỹ
        e, Q = np.linalg.eigh(S * T)
        Yeff = Q * np.sqrt(np.clip(e, 0.0, None))
    else:
        Yeff = Yw

    def columns(act: np.ndarray) -> np.ndarray:
        return (act[:, None] * d + np.arange(d)).ravel()

    def step(
        act: np.ndarray, g: np.ndarray, Ka: np.ndarray | None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Objective, z_i and ‖x̄_i‖²/(γ_i² T) at Γ = diag(g) on the sources ``act``."""
        if Ka is not None:  # no large temporaries here: fresh pages are costly
            v = g @ Ka
            Sy = np.empty((r, r), order="F")
            Sy.T.flat[upper] = v  # fill both triangles (Sy.T is a C-ordered view)
            Sy.T.flat[lower] = v
            Sy.T.flat[diag] += 1.0
            U, info = potrf(Sy, lower=0, clean=0, overwrite_a=1)
            if info:
                raise np.linalg.LinAlgError(
                    f"champagne: Σ_y is not positive definite (potrf info={info})."
                )
            logdet = 2.0 * np.log(np.diagonal(U)).sum()
            Si, info = potri(U, lower=0, overwrite_c=1)  # LAPACK's upper triangle of Σ_y⁻¹ ...
            Si.T.flat[upper] = Si.T.flat[lower]  # ... is the lower one of the C-ordered view
            M2 = Si @ S @ Si
            cost = logdet + float((Si * S).sum())
            z = Ka @ (Si.T.flat[upper] * offdiag)
            num = Ka @ (M2.T.flat[upper] * offdiag)
            return cost, z, np.clip(num, 0.0, None)
        La = Lw[:, columns(act)]
        Sy = (La * np.repeat(g, d)) @ La.T + eye
        c = cholesky(Sy, lower=True, check_finite=False)
        Bm = solve_triangular(c, La, lower=True, check_finite=False)  # c⁻¹ L̃
        u = solve_triangular(c, Yeff, lower=True, check_finite=False)  # c⁻¹ Ỹ
        cost = 2.0 * np.log(np.diag(c)).sum() + float((u**2).sum()) / T
        z = (Bm**2).sum(axis=0).reshape(-1, d).sum(axis=1)
        num = ((Bm.T @ u) ** 2).sum(axis=1).reshape(-1, d).sum(axis=1) / T
        return cost, z, num

    if g0 is None:
        total = float(norms.sum())
        gamma = np.full(n, float(np.trace(S)) / total if total > 0 else 0.0)
    else:
        gamma = np.array(g0, dtype=float)
    gamma[norms <= 0] = 0.0  # a source the sensors cannot see has no evidence: γ = 0
    rows = np.flatnonzero(gamma > 0)  # the sources iterated on (a superset of the active ones)
    Ka = None if K is None else K[rows]

    costs: list[float] = []
    n_iter, converged = 0, False
    while n_iter < max_iter and rows.size:
        g = gamma[rows]
        cost, z, num = step(rows, g, Ka)
        costs.append(cost)
        g_new = g * np.sqrt(num / z)  # the convex-bounding MM update (0 stays 0)
        change = float(np.abs(g_new - g).sum() / g.sum())
        n_iter += 1
        g_new[(g_new * norms[rows] < prune) & (g_new < g)] = 0.0  # collapsing and negligible
        gamma[rows] = g_new
        alive = g_new > 0
        if Ka is None or alive.sum() < 0.75 * rows.size:  # shrink the working set
            rows = rows[alive]
            Ka = None if K is None else K[rows]
        if change < tol:
            converged = True
            break
    if not rows.size:
        converged = True
    active = rows[gamma[rows] > 0]

    N = n * d
    mean = np.zeros((N, T))
    std = np.zeros(N)
    factor = np.zeros((N, r))
    if active.size:
        cols = columns(active)
        gc = np.repeat(gamma[active], d)
        La = Lw[:, cols]
        c = cholesky((La * gc) @ La.T + eye, lower=True, check_finite=False)
        Bm = solve_triangular(c, La, lower=True, check_finite=False)
        u = solve_triangular(c, Yw, lower=True, check_finite=False)
        costs.append(2.0 * np.log(np.diag(c)).sum() + float((u**2).sum()) / T)
        mean[cols] = gc[:, None] * (Bm.T @ u)
        factor[cols] = (Bm * gc).T  # Γ L̃ᵀ c⁻ᵀ, so Σ_x = Γ − factor factorᵀ
        std[cols] = np.sqrt(np.clip(gc - gc**2 * (Bm**2).sum(axis=0), 0.0, None))
    else:
        costs.append(float(np.trace(S)))  # Σ_y = I
    return Posterior(
        mean,
        std,
        gamma,
        n_iter,
        converged,
        np.asarray(costs),
        np.repeat(gamma, d),
        factor,
        np.ones(r),
    )
