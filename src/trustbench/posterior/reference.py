"""Reference posteriors: an affine-invariant ensemble MCMC sampler, its convergence diagnostics, and
exact rejection sampling.

Reference posterior samples are the ground truth of a posterior task (sbibm's practice: Lueckmann et
al. 2021). Where the posterior can be sampled exactly (a closed form, or rejection with a known
bound: :func:`rejection_sample`) that is done; otherwise :func:`reference_posterior` runs
:func:`ensemble_mcmc` on the exact (tractable) likelihood and records how well it converged.

Chains are laid out as emcee's ``get_chain()``: ``(n_steps, n_chains, d)`` (each walker of the
ensemble is one chain). :func:`split_rhat` and :func:`ess` take that layout.

References
----------
Goodman J, Weare J (2010). Ensemble samplers with affine invariance. Commun. Appl. Math. Comput.
Sci. 5(1), 65-80 (the stretch move, eq. 7-10).
Foreman-Mackey D, Hogg DW, Lang D, Goodman J (2013). emcee: the MCMC hammer. PASP 125, 306-312
(the parallel two-halves update, algorithm 3).
Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner PC (2021). Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC. Bayesian Anal. 16(2), 667-718
(rank-normalized split-R̂, eq. 14 and folded R̂; bulk ESS, section 3.2).
Geyer CJ (1992). Practical Markov chain Monte Carlo. Stat. Sci. 7(4), 473-483 (initial monotone
sequence estimator of the autocorrelation time).
Lueckmann JM, Boelts J, Greenberg D, Gonçalves P, Macke J (2021). Benchmarking simulation-based
inference. AISTATS, PMLR 130, 343-351.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustbench.validation import check_array, check_int, check_positive, short_repr

__all__ = [
    "MCMCResult",
    "ensemble_mcmc",
    "split_rhat",
    "ess",
    "rank_normalize",
    "reference_posterior",
    "rejection_sample",
    "importance_posterior",
]

logger = logging.getLogger("trustbench")


# ----------------------------------------------------------------------------- ensemble MCMC


@dataclass(frozen=True, eq=False)
class MCMCResult:
    """What :func:`ensemble_mcmc` returns.

    Attributes
    ----------
    chains : ndarray, shape (n_kept, n_walkers, d)
        Kept states after burn-in and thinning (emcee's ``get_chain()`` layout).
    log_prob : ndarray, shape (n_kept, n_walkers)
        Log density of each kept state.
    acceptance : ndarray, shape (n_walkers,)
        Fraction of accepted proposals per walker over all iterations (burn-in included).
    n_evals : int
        Number of log-density evaluations (rows passed to ``log_prob``).
    """

    chains: np.ndarray
    log_prob: np.ndarray
    acceptance: np.ndarray
    n_evals: int

    @property
    def samples(self) -> np.ndarray:
        """All kept states as ``(n_kept * n_walkers, d)``."""
        return self.chains.reshape(-1, self.chains.shape[-1])

    def rhat(self) -> np.ndarray:
        """Rank-normalized split-R̂ per parameter (:func:`split_rhat`)."""
        return split_rhat(self.chains)

    def ess(self) -> np.ndarray:
        """Bulk effective sample size per parameter (:func:`ess`)."""
        return ess(self.chains)


def _call_log_prob(log_prob: Callable, theta: np.ndarray) -> np.ndarray:
    out = np.asarray(log_prob(theta), dtype=np.float64).reshape(-1)
    if out.shape != (len(theta),):
        raise ValueError(
            f"log_prob must map ({len(theta)}, d) parameters to ({len(theta)},) log densities; "
            f"got shape {np.shape(out)}."
        )
    return np.where(np.isnan(out) | (out == np.inf), -np.inf, out)  # NaN / +inf: reject


def ensemble_mcmc(
    log_prob: Callable[[np.ndarray], np.ndarray],
    init: Any,
    n_steps: int,
    rng: np.random.Generator,
    *,
    thin: int = 1,
    burn: int = 0,
    a: float = 2.0,
) -> MCMCResult:
    """Affine-invariant ensemble sampler with the stretch move (Goodman & Weare 2010).

    The walkers are updated in two halves, each half against the other (emcee's parallel form,
    Foreman-Mackey et al. 2013), so ``log_prob`` is called on ``(k, d)`` batches. A walker ``x_j``
    moves to ``y = x_c + z (x_j - x_c)`` with ``x_c`` a random walker of the other half and
    ``z ~ g(z) ∝ 1/√z`` on ``[1/a, a]``; it is accepted with probability
    ``min(1, z^(d-1) p(y) / p(x_j))``.

    Parameters
    ----------
    log_prob : callable
        ``(k, d) -> (k,)`` unnormalized log density, ``-inf`` outside the support (NaN counts as
        ``-inf``).
    init : array_like, shape (n_walkers, d)
        Starting walkers, all with finite log density; ``n_walkers >= max(4, 2 d)``.
    n_steps : int
        Iterations after burn-in; ``n_steps // thin`` states per walker are kept.
    rng : numpy.random.Generator
    thin : int
        Keep every ``thin``-th state.
    burn : int
        Iterations run and discarded first.
    a : float
        Stretch scale (> 1; 2 is the usual choice).

    Returns
    -------
    MCMCResult
    """
    walkers = check_array(init, "init", ndim=2)
    n_walkers, d = walkers.shape
    if n_walkers < max(4, 2 * d):
        raise ValueError(f"init must hold at least max(4, 2 d) = {max(4, 2 * d)} walkers for d = {d}; got {n_walkers}.")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    thin = check_int(thin, "thin", minimum=1)
    burn = check_int(burn, "burn", minimum=0)
    if not (isinstance(a, (int, float)) and a > 1):
        raise ValueError(f"a must be a number > 1; got {short_repr(a)}.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {short_repr(rng)}.")
    if n_steps // thin < 1:
        raise ValueError(f"n_steps must be >= thin so that a state is kept; got n_steps={n_steps}, thin={thin}.")

    walkers = walkers.copy()
    lp = _call_log_prob(log_prob, walkers)
    if not np.isfinite(lp).all():
        bad = int(np.flatnonzero(~np.isfinite(lp))[0])
        raise ValueError(
            f"init must have a finite log density for every walker; walker {bad} ({walkers[bad]}) has {lp[bad]}."
        )
    n_evals = n_walkers
    halves = (np.arange(0, n_walkers // 2), np.arange(n_walkers // 2, n_walkers))
    n_kept = n_steps // thin
    chains = np.empty((n_kept, n_walkers, d))
    lps = np.empty((n_kept, n_walkers))
    accepted = np.zeros(n_walkers)
    total = burn + n_steps
    for step in range(total):
        for k in (0, 1):
            moving, other = halves[k], halves[1 - k]
            m = len(moving)
            z = ((a - 1.0) * rng.random(m) + 1.0) ** 2 / a  # inverse CDF of g(z) ∝ 1/√z on [1/a, a]
            partners = walkers[other[rng.integers(len(other), size=m)]]
            proposal = partners + z[:, None] * (walkers[moving] - partners)
            lp_new = _call_log_prob(log_prob, proposal)
            n_evals += m
            log_ratio = (d - 1) * np.log(z) + lp_new - lp[moving]
            accept = np.log(rng.random(m)) < log_ratio
            idx = moving[accept]
            walkers[idx] = proposal[accept]
            lp[idx] = lp_new[accept]
            accepted[idx] += 1
        kept = step - burn
        if kept >= 0 and (kept + 1) % thin == 0 and kept // thin < n_kept:
            chains[kept // thin] = walkers
            lps[kept // thin] = lp
    return MCMCResult(chains=chains, log_prob=lps, acceptance=accepted / total, n_evals=int(n_evals))


# ----------------------------------------------------------------------------- diagnostics


def _chains(chains: Any, name: str = "chains") -> np.ndarray:
    """(n_steps, n_chains[, d]) -> (n_chains, n_steps, d) float64 (numpyro's layout)."""
    arr = check_array(chains, name, ndim=(2, 3))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[0] < 4 or arr.shape[1] < 1:
        raise ValueError(f"{name} must hold at least 4 steps of at least 1 chain as (n_steps, n_chains[, d]); got {arr.shape}.")
    return np.swapaxes(arr, 0, 1)


def _split(x: np.ndarray) -> np.ndarray:
    """(C, N, d) -> (2C, N//2, d): first and last halves of each chain (the middle draw of an odd N is dropped)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


def rank_normalize(x: np.ndarray) -> np.ndarray:
    """Rank-normalize draws jointly over chains and steps, separately per parameter.

    ``z = Φ⁻¹((r - 3/8) / (S + 1/4))`` with ``r`` the average rank among all ``S`` draws (Vehtari et
    al. 2021, eq. 14). ``x`` has shape ``(C, N, d)`` (chains first).
    """
    from scipy.special import ndtri
    from scipy.stats import rankdata

    c, n, d = x.shape
    flat = x.reshape(c * n, d)
    ranks = rankdata(flat, axis=0, method="average")
    return ndtri((ranks - 0.375) / (c * n + 0.25)).reshape(c, n, d)


def _variance_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Within-chain variance W and the pooled estimate var⁺ = (N-1)/N W + B/N (Gelman et al. BDA3 §11.4)."""
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean(axis=0)
    var_plus = w * (n - 1) / n
    if x.shape[0] > 1:
        var_plus = var_plus + x.mean(axis=1).var(axis=0, ddof=1)
    else:
        w = var_plus
    return w, var_plus


def _rhat(x: np.ndarray) -> np.ndarray:
    w, var_plus = _variance_stats(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(var_plus / w)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Biased autocovariance along axis 1 of (C, N, d) by FFT (zero-padded to avoid wrap-around)."""
    n = x.shape[1]
    m = 2 * int(2 ** math.ceil(math.log2(n)))
    centred = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=1)
    return np.fft.irfft(f * np.conjugate(f), n=m, axis=1)[:, :n] / n


def _ess(x: np.ndarray) -> np.ndarray:
    """Multi-chain ESS of (C, N, d) with Geyer's initial monotone sequence (Stan reference manual)."""
    c, n, _ = x.shape
    if n < 2:
        raise ValueError(f"chains must hold at least 2 steps per (split) chain; got {n}.")
    gamma = _autocovariance(x).mean(axis=0)  # (N, d)
    w, var_plus = _variance_stats(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (w - gamma) / var_plus
    rho[0] = 1.0
    pairs = rho[:-1:2] + rho[1::2]  # Geyer's Γ_k = ρ_{2k} + ρ_{2k+1}
    pairs = np.concatenate([pairs[:1], np.minimum.accumulate(np.clip(pairs[1:], 0.0, None), axis=0)], axis=0)
    tau = -1.0 + 2.0 * pairs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c * n / tau


def split_rhat(chains: Any, *, rank: bool = True) -> np.ndarray:
    """Split-R̂ per parameter of chains laid out ``(n_steps, n_chains[, d])``.

    With ``rank=True`` (default) the rank-normalized split-R̂ of Vehtari et al. (2021): the larger
    of R̂ on rank-normalized split chains (bulk) and on rank-normalized folded draws
    ``|x - median(x)|`` (tails). With ``rank=False`` the classic split-R̂ on the raw draws
    (Gelman et al. BDA3 §11.4; equals ``numpyro.diagnostics.split_gelman_rubin``). Values above
    1.01 signal non-convergence. Returns ``(d,)`` (a float for 2-D input).
    """
    x = _chains(chains)
    squeeze = np.ndim(chains) == 2
    xs = _split(x)
    if rank:
        bulk = _rhat(rank_normalize(xs))
        folded = np.abs(xs - np.median(xs.reshape(-1, xs.shape[-1]), axis=0))
        out = np.maximum(bulk, _rhat(rank_normalize(folded)))
    else:
        out = _rhat(xs)
    return float(out[0]) if squeeze else out


def ess(chains: Any, *, rank: bool = True) -> np.ndarray:
    """Effective sample size per parameter of chains laid out ``(n_steps, n_chains[, d])``.

    With ``rank=True`` (default) the bulk ESS of Vehtari et al. (2021): the multi-chain ESS (Geyer's
    initial monotone sequence over the averaged autocorrelation) of rank-normalized split chains.
    With ``rank=False`` the multi-chain ESS of the raw, unsplit chains (equals
    ``numpyro.diagnostics.effective_sample_size``). Returns ``(d,)`` (a float for 2-D input).
    """
    x = _chains(chains)
    squeeze = np.ndim(chains) == 2
    out = _ess(rank_normalize(_split(x))) if rank else _ess(x)
    return float(out[0]) if squeeze else out


# ----------------------------------------------------------------------------- reference posterior


def reference_posterior(
    log_likelihood: Callable[[np.ndarray], np.ndarray],
    prior: Any,
    n_samples: int,
    rng: np.random.Generator,
    *,
    init: Any = None,
    n_walkers: int | None = None,
    n_steps: int | None = None,
    burn: int = 1000,
    thin: int = 10,
    n_init: int = 10_000,
    max_rhat: float = 1.01,
    min_ess: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Reference posterior samples by ensemble MCMC on an exact likelihood.

    The target is ``prior.log_prob(θ) + log_likelihood(θ)`` (the likelihood is evaluated only where
    the prior is positive). Walkers start at the ``n_walkers`` prior draws (out of ``n_init``) with
    the highest posterior density, or at ``init``; :func:`ensemble_mcmc` runs ``burn`` discarded
    iterations (in two halves: after the first, walkers stranded far below the ensemble's median
    density are moved onto good ones), then keeps every ``thin``-th state; ``n_samples`` of the kept states are returned
    (a random subset when more were kept).

    Parameters
    ----------
    log_likelihood : callable
        ``(k, d) -> (k,)`` log likelihood of one fixed observation.
    prior : trustbench prior
        ``.dim``, ``.sample(n, rng)``, ``.log_prob(θ)`` (see :mod:`trustbench.posterior.priors`).
    n_samples : int
    rng : numpy.random.Generator
    init : array_like (n_walkers, d), optional
    n_walkers : int, optional
        Default ``max(64, 4 d)`` (even).
    n_steps : int, optional
        Kept-phase iterations; default ``thin * ceil(n_samples / n_walkers)``.
    burn, thin, n_init : int
    max_rhat : float
        A warning is raised (and recorded) when the largest rank-normalized split-R̂ exceeds it.
    min_ess : float, optional
        Same for the smallest bulk ESS; default ``n_samples / 10``.

    Returns
    -------
    samples : ndarray (n_samples, d)
    diagnostics : dict
        ``method``, ``rhat_max``, ``ess_min``, ``acceptance``, ``n_likelihood_evals``, ``n_walkers``,
        ``n_steps``, ``burn``, ``thin``, ``n_pruned`` (walkers moved after the first half of burn-in),
        ``warnings`` (a list of messages).
    """
    if not callable(log_likelihood):
        raise TypeError(f"log_likelihood must be callable (θ (k, d) -> (k,)); got {short_repr(log_likelihood)}.")
    if not all(hasattr(prior, a) for a in ("dim", "sample", "log_prob")):
        raise TypeError(f"prior must have .dim, .sample and .log_prob (a trustbench prior); got {short_repr(prior)}.")
    d = int(prior.dim)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {short_repr(rng)}.")
    burn = check_int(burn, "burn", minimum=0)
    thin = check_int(thin, "thin", minimum=1)
    n_init = check_int(n_init, "n_init", minimum=1)
    if init is not None:
        init = check_array(init, "init", ndim=2)
        if init.shape[1] != d:
            raise ValueError(f"init must have shape (n_walkers, {d}) for this prior; got {init.shape}.")
        n_walkers = len(init) if n_walkers is None else n_walkers
        if len(init) != n_walkers:
            raise ValueError(f"init must hold n_walkers = {n_walkers} rows; got {len(init)}.")
    n_walkers = max(64, 4 * d + (4 * d) % 2) if n_walkers is None else check_int(n_walkers, "n_walkers", minimum=max(4, 2 * d))
    if init is None and n_init < n_walkers:
        raise ValueError(f"n_init must be >= n_walkers = {n_walkers}; got {n_init}.")
    n_steps = thin * math.ceil(n_samples / n_walkers) if n_steps is None else check_int(n_steps, "n_steps", minimum=thin)
    if (n_steps // thin) * n_walkers < n_samples:
        raise ValueError(
            f"n_steps // thin * n_walkers = {(n_steps // thin) * n_walkers} kept states cannot give n_samples = {n_samples}; "
            f"raise n_steps (got {n_steps}) or n_walkers (got {n_walkers})."
        )
    min_ess = n_samples / 10 if min_ess is None else float(check_positive(min_ess, "min_ess"))
    n_lik = 0

    def log_post(theta: np.ndarray) -> np.ndarray:
        nonlocal n_lik
        out = np.asarray(prior.log_prob(theta), dtype=np.float64).copy()
        inside = np.isfinite(out)
        if inside.any():
            ll = np.asarray(log_likelihood(theta[inside]), dtype=np.float64).reshape(-1)
            if ll.shape != (int(inside.sum()),):
                raise ValueError(
                    f"log_likelihood must map (k, {d}) parameters to (k,) values; got shape {ll.shape} for k = {int(inside.sum())}."
                )
            n_lik += int(inside.sum())
            out[inside] += ll
        return out

    if init is None:
        draws = prior.sample(n_init, rng)
        lp = np.nan_to_num(log_post(draws), nan=-np.inf, posinf=-np.inf, neginf=-np.inf)
        if np.isfinite(lp).sum() < n_walkers:
            raise ValueError(
                f"only {int(np.isfinite(lp).sum())} of n_init = {n_init} prior draws have a finite posterior density; "
                f"need n_walkers = {n_walkers}: raise n_init or pass init."
            )
        init = draws[np.argsort(-lp, kind="stable")[:n_walkers]]
    n_pruned, burn_first = 0, 0
    if burn >= 2:  # burn in two halves; between them, move stranded walkers onto good ones
        first = ensemble_mcmc(log_post, init, burn // 2, rng)
        init, n_pruned = _prune(first.chains[-1], first.log_prob[-1], d, rng)
        burn_first = burn // 2
        burn -= burn_first
    result = ensemble_mcmc(log_post, init, n_steps, rng, thin=thin, burn=burn)
    flat = result.samples
    keep = rng.choice(len(flat), size=n_samples, replace=False) if len(flat) > n_samples else np.arange(len(flat))
    rhat = result.rhat()
    ess_ = result.ess()
    diagnostics: dict[str, Any] = {
        "method": "ensemble_mcmc",
        "rhat_max": float(np.nanmax(rhat)),
        "ess_min": float(np.nanmin(ess_)),
        "acceptance": float(result.acceptance.mean()),
        "n_likelihood_evals": int(n_lik),
        "n_walkers": int(n_walkers),
        "n_steps": int(n_steps),
        "burn": int(burn + burn_first),
        "thin": int(thin),
        "n_pruned": int(n_pruned),
        "warnings": [],
    }
    if not diagnostics["rhat_max"] <= max_rhat:
        diagnostics["warnings"].append(f"R-hat {diagnostics['rhat_max']:.4f} > {max_rhat}: chains may not have converged")
    if not diagnostics["ess_min"] >= min_ess:
        diagnostics["warnings"].append(f"bulk ESS {diagnostics['ess_min']:.0f} < {min_ess:.0f}: samples are strongly autocorrelated")
    for message in diagnostics["warnings"]:
        logger.warning("reference_posterior: %s", message)
        warnings.warn(f"reference_posterior: {message} (raise burn, n_steps or thin).", RuntimeWarning, stacklevel=2)
    return flat[keep], diagnostics


def _prune(walkers: np.ndarray, lp: np.ndarray, d: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Move walkers whose log density lies further below the ensemble median than a posterior draw
    plausibly can (more than χ²_d(0.999) / 2 below, the Gaussian-posterior range) onto random walkers
    above the median, with a small jitter (0.1 % of the ensemble spread): a burn-in heuristic for
    stranded walkers (Foreman-Mackey et al. 2013, section 5)."""
    from scipy.stats import chi2

    med = np.median(lp)
    bad = np.flatnonzero(lp < med - 0.5 * chi2.ppf(0.999, d))
    good = np.flatnonzero(lp >= med)
    if len(bad) == 0 or len(good) == 0:
        return walkers, 0
    out = walkers.copy()
    spread = walkers.std(axis=0)
    out[bad] = walkers[rng.choice(good, size=len(bad))] + 1e-3 * spread * rng.standard_normal((len(bad), d))
    return out, int(len(bad))


# ----------------------------------------------------------------------------- rejection sampling


def rejection_sample(
    log_target: Callable[[np.ndarray], np.ndarray],
    proposal_sample: Callable[[int, np.random.Generator], np.ndarray],
    proposal_log_prob: Callable[[np.ndarray], np.ndarray],
    log_bound: float,
    n_samples: int,
    rng: np.random.Generator,
    *,
    max_draws: int = 100_000_000,
    batch_size: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Exact rejection sampling (von Neumann 1951), vectorized in batches.

    A proposal draw ``θ ~ q`` is accepted with probability ``exp(log p̃(θ) - log q(θ) - log M)``,
    where ``p̃`` is the (unnormalized) target and ``M ≥ sup p̃ / q`` is the bound. The accepted draws
    are exact samples from ``p̃`` normalized; the acceptance rate estimates ``Z / M``.

    Parameters
    ----------
    log_target : callable
        ``(k, d) -> (k,)``, ``-inf`` outside the support.
    proposal_sample : callable
        ``(k, rng) -> (k, d)``.
    proposal_log_prob : callable
        ``(k, d) -> (k,)``.
    log_bound : float
        ``log M``. A draw with ``log p̃ - log q > log M`` means the bound is wrong: a RuntimeWarning
        is raised and the count recorded (``bound_violations``).
    n_samples : int
    rng : numpy.random.Generator
    max_draws : int
        Give up (RuntimeError) after this many proposal draws.
    batch_size : int, optional
        Proposal draws per batch; default adapts to the running acceptance rate.

    Returns
    -------
    samples : ndarray (n_samples, d)
    diagnostics : dict
        ``method``, ``acceptance``, ``n_proposals``, ``bound_violations``.
    """
    for name, fn in (("log_target", log_target), ("proposal_sample", proposal_sample), ("proposal_log_prob", proposal_log_prob)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable; got {short_repr(fn)}.")
    log_bound = float(check_array(log_bound, "log_bound", ndim=0))
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    max_draws = check_int(max_draws, "max_draws", minimum=1)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {short_repr(rng)}.")
    accepted: list[np.ndarray] = []
    n_acc = n_prop = violations = 0
    while n_acc < n_samples:
        if n_prop >= max_draws:
            raise RuntimeError(
                f"rejection_sample accepted {n_acc} of {n_prop} proposals, fewer than n_samples = {n_samples} "
                f"within max_draws = {max_draws}: use a tighter proposal or raise max_draws."
            )
        rate = (n_acc + 1) / (n_prop + 1)
        want = batch_size or int(min(max(1.2 * (n_samples - n_acc) / rate, 1000), 1_000_000))
        want = min(want, max_draws - n_prop)
        theta = np.asarray(proposal_sample(want, rng), dtype=np.float64)
        if theta.ndim == 1:
            theta = theta[:, None]
        log_w = np.asarray(log_target(theta), dtype=np.float64) - np.asarray(proposal_log_prob(theta), dtype=np.float64) - log_bound
        log_w = np.where(np.isnan(log_w), -np.inf, log_w)
        bad = int((log_w > 1e-9).sum())
        violations += bad
        keep = np.log(rng.random(want)) < log_w
        accepted.append(theta[keep])
        n_acc += int(keep.sum())
        n_prop += want
    if violations:
        message = f"{violations} of {n_prop} proposals exceeded the bound exp(log_bound): the samples are not exact"
        logger.warning("rejection_sample: %s", message)
        warnings.warn(f"rejection_sample: {message}.", RuntimeWarning, stacklevel=2)
    samples = np.concatenate(accepted, axis=0)[:n_samples]
    return samples, {"method": "rejection", "acceptance": n_acc / n_prop, "n_proposals": int(n_prop), "bound_violations": int(violations)}


# ----------------------------------------------------------------------------- importance sampling


def _t_draws(mean: np.ndarray, cov: np.ndarray, df: float, n: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of a multivariate t and their log densities."""
    from scipy.special import gammaln

    d = len(mean)
    chol = np.linalg.cholesky(cov)
    draws = mean + (rng.standard_normal((n, d)) * np.sqrt(df / rng.chisquare(df, size=n))[:, None]) @ chol.T
    white = np.linalg.solve(chol, (draws - mean).T).T
    log_q = (gammaln((df + d) / 2) - gammaln(df / 2) - 0.5 * d * np.log(df * np.pi) - np.log(np.diag(chol)).sum()
             - 0.5 * (df + d) * np.log1p((white**2).sum(axis=1) / df))
    return draws, log_q


def importance_posterior(
    log_target: Callable[[np.ndarray], np.ndarray],
    mean: Any,
    cov: Any,
    n_samples: int,
    rng: np.random.Generator,
    *,
    df: float = 5.0,
    oversample: int = 20,
    adapt: int = 2,
    min_ess: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Posterior samples by adaptive importance sampling with multivariate-t proposals, then resampling.

    Starts from the proposal t_df(mean, cov) (e.g. a Laplace approximation); ``adapt`` times, the
    proposal is moved to the weighted mean and covariance of its own weighted draws (population Monte
    Carlo, Cappé et al. 2004). The last proposal's ``oversample · n_samples`` draws are weighted by
    ``exp(log_target - log q)`` and ``n_samples`` of them are drawn with probability proportional to
    the weights (sampling importance resampling; Rubin 1988; Owen 2013, ch. 9). Consistent for any
    target whose support the proposal covers (the t tails). The diagnostic is Kish's effective sample
    size of the final weights, ``ess_min`` (a warning below ``min_ess``, default ``n_samples``).
    """
    from scipy.special import logsumexp

    n_samples = check_int(n_samples, "n_samples", minimum=1)
    oversample = check_int(oversample, "oversample", minimum=1)
    adapt = check_int(adapt, "adapt", minimum=0)
    mean = check_array(mean, "mean", ndim=1)
    cov = check_array(cov, "cov", ndim=2)
    d = len(mean)
    if cov.shape != (d, d):
        raise ValueError(f"cov must be ({d}, {d}) for a mean of length {d}; got {cov.shape}.")
    if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError(f"cov must be symmetric positive definite; got eigenvalues {np.linalg.eigvalsh((cov + cov.T) / 2)}.")
    df = float(check_positive(df, "df"))
    n = n_samples * oversample
    n_evals = 0
    for step in range(adapt + 1):
        draws, log_q = _t_draws(mean, cov, df, n, rng)
        log_w = np.nan_to_num(np.asarray(log_target(draws), dtype=float), nan=-np.inf, neginf=-np.inf) - log_q
        n_evals += n
        if not np.isfinite(log_w).any():
            raise ValueError("importance_posterior: no proposal draw has a finite target density; check mean and cov.")
        w = np.exp(log_w - logsumexp(log_w))
        if step < adapt:  # moment-matched next proposal; a ridge keeps a little extra width
            mean = w @ draws
            centred = draws - mean
            cov = 1.2**2 * (centred * w[:, None]).T @ centred + 1e-12 * np.eye(d)
    ess_value = float(1.0 / (w**2).sum())
    idx = rng.choice(n, size=n_samples, replace=True, p=w)
    min_ess = n_samples if min_ess is None else float(min_ess)
    messages = [] if ess_value >= min_ess else [f"importance ESS {ess_value:.0f} < {min_ess:.0f}: the proposal fits the posterior poorly"]
    for message in messages:
        logger.warning("importance_posterior: %s", message)
        warnings.warn(f"importance_posterior: {message}.", RuntimeWarning, stacklevel=2)
    diagnostics = {"method": "adaptive importance sampling (t proposals)", "ess_min": ess_value, "n_proposals": n,
                   "n_distinct": int(len(np.unique(idx))), "n_likelihood_evals": n_evals, "warnings": messages}
    return draws[idx], diagnostics
