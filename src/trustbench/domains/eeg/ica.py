"""ICA stability: simulated mixtures with known sources, repeated ICA runs, ICASSO clustering.

An ICA decomposition of M/EEG data is only worth interpreting if it is *reliable*: the same
components come back when the algorithm restarts from another initial point or sees a bootstrap
resample of the data (Himberg et al. 2004; Artoni et al. 2014). This module measures that, and
measures *accuracy* too where the truth is known:

* :func:`simulate_ica` makes a linear mixture ``X = A S (+ noise)`` whose sources ``S`` and mixing
  ``A`` are known, in scenarios that ICA can and cannot solve (Gaussian sources are identifiable
  only up to a rotation: Comon 1994).
* :func:`ica_runs` runs FastICA (Hyvärinen 1999, scikit-learn), Picard (Ablin et al. 2018,
  python-picard) or extended Infomax (Lee et al. 1999, MNE-Python) ``n_runs`` times with random
  initial points and, optionally, bootstrap resamples of the time points.
* :func:`icasso` clusters the estimated components of all runs by their absolute correlation and
  scores each cluster by its quality index ``Iq`` (Himberg, Hyvärinen & Esposito 2004).
* :func:`ica_stability` (arrays) and :func:`ica_stability_raw` (an MNE ``Raw``) combine the three
  into an :class:`IcaStability` record: ``Iq`` per component, the Amari index of every run against
  the true mixing, and how well each true source is matched by a cluster centrotype.

Conventions
-----------
Data are ``(n_sensors, n_samples)``. An unmixing matrix ``W`` is ``(n_components, n_sensors)`` in
*sensor space*: the component time courses are ``W @ (X - X.mean(axis=1, keepdims=True))``. Source
time courses of the simulations have zero mean and unit variance, so the columns of the mixing
matrix carry the sources' power at the sensors.

Amari index when the problem is not square: with ``k`` estimated components and ``n`` true sources
(``n_components < n_sources``, or an overcomplete mixture with more sources than sensors, or more
components than sources), :math:`P = W A` is ``k × n``. The estimated components and the true
sources are then paired one-to-one by the Hungarian algorithm on the row-normalised
:math:`|P_{ij}| / \\lVert P_{i\\cdot} \\rVert` (the share of component ``i``'s amplitude that comes
from source ``j``, exact for uncorrelated unit-variance sources), and the index is computed on the
``min(k, n)`` square sub-problem of the paired rows and columns. This is *optimistic*: the sources
left out may leak into the components without penalty. The ``match`` score (the best absolute
correlation of every true source with a centrotype) covers all sources and should be read beside it.

References
----------
Himberg J, Hyvärinen A, Esposito F (2004). Validating the independent components of neuroimaging
time series via clustering and visualization. NeuroImage 22, 1214-1222 (ICASSO, the quality index).
Amari S, Cichocki A, Yang HH (1996). A new learning algorithm for blind signal separation. NIPS 8.
Comon P (1994). Independent component analysis, a new concept? Signal Processing 36, 287-314.
Hyvärinen A (1999). Fast and robust fixed-point algorithms for independent component analysis.
IEEE Trans. Neural Netw. 10, 626-634.
Lee TW, Girolami M, Sejnowski TJ (1999). Independent component analysis using an extended infomax
algorithm for mixed subgaussian and supergaussian sources. Neural Comput. 11, 417-441.
Ablin P, Cardoso JF, Gramfort A (2018). Faster independent component analysis by preconditioning
with Hessian approximations. IEEE Trans. Signal Process. 66, 4040-4049 (Picard).
Artoni F, Menicucci D, Delorme A, Makeig S, Micera S (2014). RELICA: a method for estimating the
reliability of independent components. NeuroImage 103, 391-400.
Matsuoka K, Ohya M, Kawamoto M (1995). A neural net for blind separation of nonstationary signals.
Neural Networks 8, 411-419 (separation by non-stationarity).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.metrics.sources import amari_distance
from trustbench.validation import check_array, check_choice, check_int, short_repr

__all__ = [
    "ALGORITHMS",
    "SCENARIOS",
    "IcaData",
    "IcaStability",
    "IcassoResult",
    "amari_per_run",
    "ica_runs",
    "ica_stability",
    "ica_stability_raw",
    "icasso",
    "plot_stability",
    "simulate_ica",
    "source_match",
]

logger = logging.getLogger("trustbench")

SCENARIOS = ("nongaussian", "gaussian", "pink", "nonstationary", "overcomplete")
ALGORITHMS = ("fastica", "picard", "infomax")
RESAMPLING = ("bootstrap", "restart")

# relative eigenvalue below which a principal direction of the data counts as absent (rank check)
_RANK_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class IcaData:
    """A simulated mixture with its ground truth.

    Attributes
    ----------
    X : ndarray, shape (n_sensors, n_samples)
        The observed data, ``mixing @ sources`` plus sensor noise if ``snr`` was given.
    mixing : ndarray, shape (n_sensors, n_sources)
        The true mixing matrix ``A``.
    sources : ndarray, shape (n_sources, n_samples)
        The true source time courses, each with zero mean and unit variance.
    kinds : tuple of str
        The kind of each source: ``"laplace"`` (super-Gaussian), ``"uniform"`` (sub-Gaussian),
        ``"gaussian"``, ``"pink"`` or ``"nonstationary"``.
    """

    X: np.ndarray
    mixing: np.ndarray
    sources: np.ndarray
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class IcassoResult:
    """ICASSO clusters of the components of several ICA runs (Himberg et al. 2004).

    Clusters are numbered by decreasing quality index: cluster 0 is the most stable.

    Attributes
    ----------
    iq : ndarray, shape (n_clusters,)
        Quality index per cluster, ``intra - extra``, sorted in decreasing order.
    intra, extra : ndarray, shape (n_clusters,)
        Mean similarity within the cluster (all ordered pairs of members, self-pairs included, as
        in the paper), and mean similarity between its members and all other estimates.
    labels : ndarray of int, shape (n_runs * n_components,)
        Cluster of every estimate, estimates ordered run by run (estimate ``r * k + i`` is row ``i``
        of run ``r``).
    centrotypes : ndarray, shape (n_clusters, n_sensors)
        Per cluster, the unmixing row of its centrotype: the member with the largest summed
        similarity to the other members.
    centrotype_index : ndarray of int, shape (n_clusters,)
        Index of every centrotype among the estimates.
    similarity : ndarray, shape (n_runs * n_components, n_runs * n_components) or None
        The absolute correlations between all estimates (``None`` if not kept).
    """

    iq: np.ndarray
    intra: np.ndarray
    extra: np.ndarray
    labels: np.ndarray
    centrotypes: np.ndarray
    centrotype_index: np.ndarray
    similarity: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class IcaStability:
    """Stability (and, where the truth is known, accuracy) of an ICA algorithm on one data set.

    Attributes
    ----------
    algorithm : str
        ``"fastica"``, ``"picard"`` or ``"infomax"``.
    n_runs : int
        Number of ICA runs.
    n_components : int
        Number of components per run.
    resample : str
        ``"bootstrap"`` or ``"restart"``.
    iq : ndarray, shape (n_components,)
        ICASSO quality index per cluster, sorted in decreasing order.
    mean_iq : float
        Mean of ``iq``.
    amari : ndarray, shape (n_runs,)
        Amari index of every run against the true mixing (all NaN if the mixing is unknown; see the
        module docstring for non-square problems).
    amari_mean : float
        Mean of ``amari`` (NaN if unknown).
    match : ndarray, shape (n_sources,)
        Per true source, the largest absolute correlation of its time course with a centrotype's
        time course; NaN per source if the sources are unknown but the mixing is (its columns give
        their number), empty if neither is known.
    match_mean : float
        Mean of ``match`` (NaN if unknown).
    icasso : IcassoResult
        The clustering behind ``iq`` (for :func:`plot_stability`); not part of :meth:`to_dict`.
    """

    algorithm: str
    n_runs: int
    n_components: int
    resample: str
    iq: np.ndarray
    mean_iq: float
    amari: np.ndarray
    amari_mean: float
    match: np.ndarray
    match_mean: float
    icasso: IcassoResult = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: arrays become lists of floats, NaN becomes ``None`` (JSON has no NaN)."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {
            "algorithm": self.algorithm,
            "n_runs": int(self.n_runs),
            "n_components": int(self.n_components),
            "resample": self.resample,
            "iq": [num(v) for v in self.iq],
            "mean_iq": num(self.mean_iq),
            "amari": [num(v) for v in self.amari],
            "amari_mean": num(self.amari_mean),
            "match": [num(v) for v in self.match],
            "match_mean": num(self.match_mean),
        }


# --------------------------------------------------------------------------------------------
# helpers


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int(seed, "seed", minimum=0))


def _check_real(value: Any, name: str, *, low: float, high: float = math.inf, low_open: bool = True,
                high_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {short_repr(value)}.")
    v = float(value)
    lo_ok = v > low if low_open else v >= low
    hi_ok = v < high if high_open else v <= high
    if not (math.isfinite(v) and lo_ok and hi_ok):
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {lo}{low:g}, {high:g}{hi}; got {value!r}.")
    return v


def _standardise(s: np.ndarray) -> np.ndarray:
    s = s - s.mean(axis=-1, keepdims=True)
    return s / s.std(axis=-1, keepdims=True)


def _nongaussian(rng: np.random.Generator, n: int, n_samples: int) -> tuple[np.ndarray, list[str]]:
    """Alternating Laplace (super-Gaussian) and uniform (sub-Gaussian) sources."""
    rows, kinds = [], []
    for i in range(n):
        if i % 2 == 0:
            rows.append(rng.laplace(size=n_samples))
            kinds.append("laplace")
        else:
            rows.append(rng.uniform(-1.0, 1.0, size=n_samples))
            kinds.append("uniform")
    return np.array(rows).reshape(n, n_samples), kinds


def _pink(rng: np.random.Generator, beta: np.ndarray, n_samples: int) -> np.ndarray:
    """1/f^beta noise, one exponent per source (:func:`.simulate.pink_noise`)."""
    from trustbench.domains.eeg.simulate import pink_noise

    return pink_noise((len(beta), n_samples), beta, rng)


def _nonstationary(rng: np.random.Generator, n: int, n_samples: int, depth: float) -> np.ndarray:
    """Gaussian noise times a slow, source-specific standard-deviation envelope.

    The variance of source i is ``1 + depth * sin(2π c_i t / T + φ_i)`` with ``c_i = i + 1`` cycles
    over the record (distinct per source) and a random phase.
    """
    t = np.arange(n_samples) / n_samples
    cycles = np.arange(1, n + 1)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    variance = 1.0 + depth * np.sin(2 * np.pi * cycles * t[None, :] + phase)
    return np.sqrt(variance) * rng.standard_normal((n, n_samples))


# --------------------------------------------------------------------------------------------
# simulation


def simulate_ica(
    scenario: str,
    *,
    n_sources: int,
    n_sensors: int,
    n_samples: int,
    snr: float | None = None,
    beta: float | Any = 1.0,
    n_gaussian: int = 2,
    depth: float = 0.5,
    mixing: Any = None,
    seed: int | np.random.Generator,
) -> IcaData:
    r"""Simulate a linear mixture ``X = A S + N`` with known sources and mixing.

    Parameters
    ----------
    scenario : {"nongaussian", "gaussian", "pink", "nonstationary", "overcomplete"}
        ``"nongaussian"``: alternating super-Gaussian (Laplace) and sub-Gaussian (uniform) sources:
        the textbook case ICA solves. ``"gaussian"``: as ``"nongaussian"`` but the last
        ``n_gaussian`` sources are white Gaussian noise; with two or more of them ICA cannot
        identify the rotation within their subspace (Comon 1994), so those components are neither
        accurate nor stable. ``"pink"``: independent Gaussian 1/f^beta noises made by spectral
        shaping of white noise; with a common ``beta`` their spectra are identical as well, so the
        mixture is not identifiable by non-Gaussianity *nor* by second-order statistics (a negative
        control like EEG background activity); distinct ``beta`` per source make it identifiable by
        second-order (spectral) methods. ``"nonstationary"``: Gaussian sources whose variance follows
        a slow, source-specific sinusoidal envelope (:math:`1 + \text{depth}\,\sin(2\pi c_i t/T +
        \varphi_i)`, ``c_i = i + 1`` cycles), separable by non-stationarity (Matsuoka et al. 1995).
        Note that pooled over time such a source is a Gaussian scale mixture with excess kurtosis
        :math:`3\,\mathrm{Var}(\sigma^2)/\mathrm{E}[\sigma^2]^2 = 1.5\,\text{depth}^2` (0.375 at the
        default), so i.i.d. ICA is not blind to it: it is *weakly* non-Gaussian, increasingly so with
        ``depth``. ``"overcomplete"``: non-Gaussian sources as in ``"nongaussian"``, and
        ``n_sources > n_sensors`` is allowed (no linear unmixing recovers all sources; see the module
        docstring for the Amari index then).
    n_sources, n_sensors, n_samples : int
        Sizes. ``n_sources <= n_sensors`` except for ``"overcomplete"``; ``n_samples > n_sensors``.
    snr : float, optional
        If given, white Gaussian sensor noise ``N`` is added with
        ``||A S||_F / ||N||_F = snr``.
    beta : float or array of shape (n_sources,)
        Spectral exponent(s) of ``"pink"`` sources (power ∝ f^-beta), in [0, 4].
    n_gaussian : int
        Number of Gaussian sources of ``"gaussian"`` (the last ones), 0 to ``n_sources``.
    depth : float
        Modulation depth of the variance envelope of ``"nonstationary"``, in [0, 1).
    mixing : array of shape (n_sensors, n_sources), optional
        The mixing matrix, e.g. columns of an EEG lead field. Default: standard normal entries
        drawn from ``seed``. It must have full column rank unless the scenario is overcomplete.
    seed : int or numpy.random.Generator
        All randomness comes from it.

    Returns
    -------
    IcaData
        Data, mixing, sources (zero mean, unit variance each) and the kind of every source.
    """
    check_choice(scenario, "scenario", SCENARIOS)
    n_sources = check_int(n_sources, "n_sources", minimum=2)
    n_sensors = check_int(n_sensors, "n_sensors", minimum=2)
    n_samples = check_int(n_samples, "n_samples", minimum=n_sensors + 1)
    if scenario != "overcomplete" and n_sources > n_sensors:
        raise ValueError(f"n_sources must be <= n_sensors ({n_sensors}) for scenario={scenario!r}; got "
                         f"{n_sources}. Use scenario='overcomplete' for more sources than sensors.")
    if snr is not None:
        snr = _check_real(snr, "snr", low=0.0)
    betas = check_array(beta, "beta", ndim=(0, 1))
    betas = np.broadcast_to(betas, (n_sources,)).copy() if betas.ndim == 0 else betas
    if betas.shape != (n_sources,):
        raise ValueError(f"beta must be a number or have one value per source ({n_sources}); got shape "
                         f"{betas.shape}.")
    if ((betas < 0) | (betas > 4)).any():
        raise ValueError(f"beta must lie in [0, 4]; got {betas[(betas < 0) | (betas > 4)][0]!r}.")
    n_gaussian = check_int(n_gaussian, "n_gaussian", minimum=0)
    if n_gaussian > n_sources:
        raise ValueError(f"n_gaussian must be <= n_sources ({n_sources}); got {n_gaussian}.")
    depth = _check_real(depth, "depth", low=0.0, high=1.0, low_open=False)
    if mixing is not None:
        a = check_array(mixing, "mixing", ndim=2)
        if a.shape != (n_sensors, n_sources):
            raise ValueError(f"mixing must have shape (n_sensors, n_sources) = {(n_sensors, n_sources)}; got "
                             f"{a.shape}.")
        if scenario != "overcomplete" and np.linalg.matrix_rank(a) < n_sources:
            raise ValueError(f"mixing must have full column rank ({n_sources}) for scenario={scenario!r}; got "
                             f"rank {np.linalg.matrix_rank(a)}.")
    rng = _rng(seed)

    if mixing is None:
        a = rng.standard_normal((n_sensors, n_sources))
    if scenario in ("nongaussian", "overcomplete"):
        s, kinds = _nongaussian(rng, n_sources, n_samples)
    elif scenario == "gaussian":
        n_ng = n_sources - n_gaussian
        s_ng, kinds = _nongaussian(rng, n_ng, n_samples)
        s = np.vstack([s_ng, rng.standard_normal((n_gaussian, n_samples))])
        kinds = kinds + ["gaussian"] * n_gaussian
    elif scenario == "pink":
        s, kinds = _pink(rng, betas, n_samples), ["pink"] * n_sources
    else:  # nonstationary
        s, kinds = _nonstationary(rng, n_sources, n_samples, depth), ["nonstationary"] * n_sources
    s = _standardise(s)
    x = a @ s
    if snr is not None:
        noise = rng.standard_normal(x.shape)
        x = x + noise * (np.linalg.norm(x) / (snr * np.linalg.norm(noise)))
    return IcaData(X=x, mixing=a, sources=s, kinds=tuple(kinds))


# --------------------------------------------------------------------------------------------
# repeated ICA


def _check_data(X: Any, name: str = "X") -> np.ndarray:
    x = check_array(X, name, ndim=2)
    if x.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 sensors (rows); got shape {x.shape}.")
    if x.shape[1] <= x.shape[0]:
        raise ValueError(f"{name} must have more samples (columns) than sensors (rows); got shape {x.shape}. "
                         "Data are (n_sensors, n_samples).")
    return x


def _check_components(n_components: Any, n_sensors: int) -> int:
    if n_components is None:
        return n_sensors
    k = check_int(n_components, "n_components", minimum=2)
    if k > n_sensors:
        raise ValueError(f"n_components must be <= n_sensors ({n_sensors}); got {k}.")
    return k


def _whitener(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA whitening to ``k`` components: ``z = K (x - mean)`` has identity covariance."""
    mean = x.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(np.cov(x))
    order = np.argsort(evals)[::-1][:k]
    evals, evecs = evals[order], evecs[:, order]
    if evals[-1] <= _RANK_TOL * evals[0]:
        rank = int((evals > _RANK_TOL * evals[0]).sum())
        raise ValueError(f"n_components must not exceed the rank of X; got {k} components but X has rank "
                         f"{rank} (e.g. fewer noise-free sources than sensors). Pass n_components <= {rank}.")
    k_mat = (evecs / np.sqrt(evals)).T
    return k_mat, mean


def _random_rotation(rng: np.random.Generator, k: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return q * np.sign(np.diag(r))[None, :]  # Haar-distributed


def _fit_one(algorithm: str, z: np.ndarray, w_init: np.ndarray, seed: int, max_iter: int | None,
             params: Mapping[str, Any]) -> tuple[np.ndarray, int, int]:
    """One ICA fit on whitened data ``z`` (k, T); returns (unmixing of z (k, k), n_iter, max_iter)."""
    if algorithm == "fastica":
        from sklearn.decomposition import FastICA
        from sklearn.exceptions import ConvergenceWarning

        mi = 200 if max_iter is None else max_iter
        kwargs = {"whiten": "unit-variance", "w_init": w_init, "max_iter": mi, "random_state": seed,
                  **params}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = FastICA(**kwargs).fit(z.T)
        return est.components_, int(est.n_iter_), mi
    if algorithm == "picard":
        from picard import picard

        mi = 500 if max_iter is None else max_iter
        kwargs = {"ortho": False, "extended": True, "whiten": False, "w_init": w_init, "max_iter": mi,
                  "random_state": seed, **params}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Picard did not converge")
            _, w, _, n_iter = picard(z, return_n_iter=True, **kwargs)
        return w, int(n_iter), mi
    from mne.preprocessing import infomax

    mi = 200 if max_iter is None else max_iter
    kwargs = {"weights": w_init.copy(), "extended": True, "max_iter": mi, "rng": seed, "verbose": False,
              **params}
    w, n_iter = infomax(z.T - z.mean(axis=1), return_n_iter=True, **kwargs)
    return w, int(n_iter), mi


def ica_runs(
    X: Any,
    algorithm: str,
    *,
    n_components: int | None = None,
    n_runs: int = 10,
    resample: str = "bootstrap",
    seed: int | np.random.Generator,
    max_iter: int | None = None,
    algorithm_params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Run an ICA algorithm ``n_runs`` times with random initial points (and bootstrap resamples).

    The data are centred and PCA-whitened once, on all samples, to ``n_components`` dimensions
    (so every run works in the same subspace, as in ICASSO). Each run then draws a Haar-random
    initial unmixing (``resample="restart"``) and, for ``resample="bootstrap"``, also a bootstrap
    resample of the time points (with replacement; Himberg et al. 2004), and fits:

    * ``"fastica"``: :class:`sklearn.decomposition.FastICA` (``whiten="unit-variance"``, logcosh;
      Hyvärinen 1999), default ``max_iter`` 200;
    * ``"picard"``: :func:`picard.picard` with ``ortho=False, extended=True`` (Ablin et al. 2018),
      default ``max_iter`` 500;
    * ``"infomax"``: :func:`mne.preprocessing.infomax` with ``extended=True`` (Lee et al. 1999),
      default ``max_iter`` 200.

    Runs that stop at ``max_iter`` are reported on the ``"trustbench"`` logger (FastICA, Picard).

    Parameters
    ----------
    X : array, shape (n_sensors, n_samples)
        The data.
    algorithm : {"fastica", "picard", "infomax"}
    n_components : int, optional
        Number of components (PCA dimension); default ``n_sensors``. It must not exceed the rank of
        ``X``.
    n_runs : int
        Number of runs, at least 2.
    resample : {"bootstrap", "restart"}
    seed : int or numpy.random.Generator
        All randomness (initial points, bootstrap indices, the algorithms' own seeds) comes from it.
    max_iter : int, optional
        Iteration limit of the algorithm (default: see above).
    algorithm_params : mapping, optional
        Further keyword arguments for the algorithm call, overriding the defaults above (e.g.
        ``{"block": 200}`` for Infomax, ``{"fun": "exp"}`` for FastICA).

    Returns
    -------
    ndarray, shape (n_runs, n_components, n_sensors)
        Unmixing matrices in sensor space: ``unmixing[r] @ (X - X.mean(axis=1, keepdims=True))``
        are the component time courses of run ``r``.
    """
    x = _check_data(X)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    k = _check_components(n_components, x.shape[0])
    n_runs = check_int(n_runs, "n_runs", minimum=2)
    check_choice(resample, "resample", RESAMPLING)
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", minimum=1)
    if algorithm_params is None:
        algorithm_params = {}
    elif not isinstance(algorithm_params, Mapping):
        raise TypeError(f"algorithm_params must be a mapping of keyword arguments; got "
                        f"{short_repr(algorithm_params)}.")
    rng = _rng(seed)
    k_mat, mean = _whitener(x, k)
    z = k_mat @ (x - mean)
    n_samples = z.shape[1]

    out = np.empty((n_runs, k, x.shape[0]))
    capped = 0
    for r in range(n_runs):
        run_seed = int(rng.integers(2**31 - 1))
        run_rng = np.random.default_rng(run_seed)
        w_init = _random_rotation(run_rng, k)
        zr = z[:, run_rng.integers(0, n_samples, size=n_samples)] if resample == "bootstrap" else z
        w, n_iter, mi = _fit_one(algorithm, zr, w_init, run_seed, max_iter, algorithm_params)
        capped += algorithm != "infomax" and n_iter >= mi
        out[r] = w @ k_mat
    if capped:
        logger.warning("%s: %d of %d runs stopped at max_iter without converging.", algorithm, capped, n_runs)
    return out


# --------------------------------------------------------------------------------------------
# ICASSO


def _similarity(unmixing: np.ndarray, cov: np.ndarray) -> np.ndarray:
    g = unmixing @ cov @ unmixing.T
    scale = np.sqrt(np.diag(g))
    if (scale <= 0).any():
        raise ValueError("unmixings contains a row whose component has zero variance on X.")
    sim = np.abs(g / np.outer(scale, scale))
    np.clip(sim, 0.0, 1.0, out=sim)
    np.fill_diagonal(sim, 1.0)
    return sim


def icasso(X: Any, unmixings: Any, *, n_clusters: int | None = None, keep_similarity: bool = True) -> IcassoResult:
    r"""Cluster the components of several ICA runs and score each cluster (ICASSO).

    Following Himberg, Hyvärinen & Esposito (2004): the similarity of two estimated components is
    the absolute correlation of their time courses, :math:`\sigma_{ij} = |w_i C w_j^\top| /
    \sqrt{(w_i C w_i^\top)(w_j C w_j^\top)}` with ``C`` the covariance of ``X``; the estimates are
    clustered by agglomerative clustering with average linkage on the dissimilarity
    :math:`1 - \sigma` (:func:`scipy.cluster.hierarchy.linkage`) into ``n_clusters`` clusters; the
    quality index of cluster :math:`C_m` is

    .. math:: I_q(C_m) = \frac{1}{|C_m|^2} \sum_{i, j \in C_m} \sigma_{ij}
              - \frac{1}{|C_m| |C_{-m}|} \sum_{i \in C_m} \sum_{j \in C_{-m}} \sigma_{ij}

    (the first sum includes :math:`i = j`, as in the paper, so a singleton cluster has intra
    similarity 1), and its centrotype is the member with the largest summed similarity to the
    members of its cluster. ``Iq`` is near 1 for a compact, isolated cluster (a component every run
    finds) and near 0 for estimates that wander from run to run.

    Parameters
    ----------
    X : array, shape (n_sensors, n_samples)
        The data the unmixings were estimated on (only its covariance is used).
    unmixings : array, shape (n_runs, n_components, n_sensors)
        Sensor-space unmixing matrices, as returned by :func:`ica_runs`.
    n_clusters : int, optional
        Number of clusters, 2 to ``n_runs * n_components``; default ``n_components``.
    keep_similarity : bool
        Keep the similarity matrix in the result (memory grows as ``(n_runs * n_components)^2``).

    Returns
    -------
    IcassoResult
        Clusters sorted by decreasing ``Iq``.
    """
    from scipy.cluster.hierarchy import cut_tree, linkage
    from scipy.spatial.distance import squareform

    x = _check_data(X)
    w = check_array(unmixings, "unmixings", ndim=3)
    n_runs, k, n_sensors = w.shape
    if n_sensors != x.shape[0]:
        raise ValueError(f"unmixings must have one column per sensor of X ({x.shape[0]}) on its last axis; got "
                         f"shape {w.shape}.")
    n_est = n_runs * k
    n_clusters = k if n_clusters is None else check_int(n_clusters, "n_clusters", minimum=2)
    if not 2 <= n_clusters <= n_est:
        raise ValueError(f"n_clusters must lie in [2, n_runs * n_components = {n_est}]; got {n_clusters}.")
    if not isinstance(keep_similarity, bool):
        raise TypeError(f"keep_similarity must be a bool; got {short_repr(keep_similarity)}.")

    flat = w.reshape(n_est, n_sensors)
    sim = _similarity(flat, np.cov(x))
    dist = squareform(1.0 - sim, checks=False)
    tree = linkage(dist, method="average")
    raw = cut_tree(tree, n_clusters=n_clusters).ravel()

    intra = np.empty(n_clusters)
    extra = np.empty(n_clusters)
    centre = np.empty(n_clusters, dtype=int)
    for c in range(n_clusters):
        inside = raw == c
        block = sim[np.ix_(inside, inside)]
        intra[c] = block.mean()
        extra[c] = sim[np.ix_(inside, ~inside)].mean()
        centre[c] = np.flatnonzero(inside)[np.argmax(block.sum(axis=1))]
    iq = intra - extra
    order = np.argsort(-iq, kind="stable")
    relabel = np.empty(n_clusters, dtype=int)
    relabel[order] = np.arange(n_clusters)
    return IcassoResult(
        iq=iq[order],
        intra=intra[order],
        extra=extra[order],
        labels=relabel[raw],
        centrotypes=flat[centre[order]],
        centrotype_index=centre[order],
        similarity=sim if keep_similarity else None,
    )


# --------------------------------------------------------------------------------------------
# accuracy against the truth


def amari_per_run(unmixings: Any, mixing: Any) -> np.ndarray:
    """Amari index of every run's unmixing against the true mixing, in [0, 1] (0 = perfect).

    Square problems use :func:`trustbench.metrics.sources.amari_distance` directly; non-square ones
    (``n_components != n_sources``) use the best-matching square sub-problem described in the
    module docstring. NaN where fewer than 2 components can be paired.

    Parameters
    ----------
    unmixings : array, shape (n_runs, n_components, n_sensors)
    mixing : array, shape (n_sensors, n_sources)
    """
    from scipy.optimize import linear_sum_assignment

    w = check_array(unmixings, "unmixings", ndim=3)
    a = check_array(mixing, "mixing", ndim=2)
    if a.shape[0] != w.shape[2]:
        raise ValueError(f"mixing must have one row per sensor ({w.shape[2]}, the last axis of unmixings); got "
                         f"shape {a.shape}.")
    out = np.full(len(w), np.nan)
    for r, wr in enumerate(w):
        if wr.shape[0] == a.shape[1]:
            out[r] = amari_distance(wr, a)
            continue
        if min(wr.shape[0], a.shape[1]) < 2:
            continue
        p = np.abs(wr @ a)
        share = p / np.linalg.norm(p, axis=1, keepdims=True)
        rows, cols = linear_sum_assignment(-share)
        out[r] = amari_distance(wr[rows], a[:, cols])
    return out


def source_match(X: Any, unmixing: Any, sources: Any) -> np.ndarray:
    """Per true source, the largest absolute correlation of its time course with a component's.

    Parameters
    ----------
    X : array, shape (n_sensors, n_samples)
    unmixing : array, shape (n_components, n_sensors)
        E.g. the ICASSO centrotypes; components are ``unmixing @ (X - mean)``.
    sources : array, shape (n_sources, n_samples)
        The true source time courses.

    Returns
    -------
    ndarray, shape (n_sources,)
        Values in [0, 1]; 1 when a component reproduces the source up to scale and sign.
    """
    x = _check_data(X)
    w = check_array(unmixing, "unmixing", ndim=2)
    s = check_array(sources, "sources", ndim=2)
    if w.shape[1] != x.shape[0]:
        raise ValueError(f"unmixing must have one column per sensor ({x.shape[0]}); got shape {w.shape}.")
    if s.shape[1] != x.shape[1]:
        raise ValueError(f"sources must have one column per sample of X ({x.shape[1]}); got shape {s.shape}.")
    y = _standardise(w @ (x - x.mean(axis=1, keepdims=True)))
    st = _standardise(s)
    corr = np.abs(st @ y.T) / x.shape[1]
    return np.clip(corr.max(axis=1), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# the stability tool


def ica_stability(
    X: Any,
    algorithm: str,
    *,
    mixing: Any = None,
    sources: Any = None,
    n_components: int | None = None,
    n_runs: int = 10,
    resample: str = "bootstrap",
    seed: int | np.random.Generator,
    max_iter: int | None = None,
    algorithm_params: Mapping[str, Any] | None = None,
) -> IcaStability:
    """Stability of ``algorithm`` on ``X`` by ICASSO, and its accuracy where the truth is known.

    Runs :func:`ica_runs`, clusters the ``n_runs * n_components`` estimates into ``n_components``
    clusters with :func:`icasso`, and compares with the truth: the Amari index of every run against
    ``mixing`` (:func:`amari_per_run`) and, per true source, the best absolute correlation with a
    cluster centrotype (:func:`source_match`).

    Parameters
    ----------
    X : array, shape (n_sensors, n_samples)
    algorithm : {"fastica", "picard", "infomax"}
    mixing : array, shape (n_sensors, n_sources), optional
        The true mixing; without it ``amari`` is NaN.
    sources : array, shape (n_sources, n_samples), optional
        The true source time courses; without them ``match`` is NaN.
    n_components, n_runs, resample, seed, max_iter, algorithm_params
        As in :func:`ica_runs`.

    Returns
    -------
    IcaStability
    """
    x = _check_data(X)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    k = _check_components(n_components, x.shape[0])
    n_runs = check_int(n_runs, "n_runs", minimum=2)
    check_choice(resample, "resample", RESAMPLING)
    a = s = None
    if mixing is not None:
        a = check_array(mixing, "mixing", ndim=2)
        if a.shape[0] != x.shape[0]:
            raise ValueError(f"mixing must be (n_sensors, n_sources) with n_sensors = {x.shape[0]}; got shape "
                             f"{a.shape}.")
    if sources is not None:
        s = check_array(sources, "sources", ndim=2)
        if s.shape[1] != x.shape[1]:
            raise ValueError(f"sources must be (n_sources, n_samples) with n_samples = {x.shape[1]}; got shape "
                             f"{s.shape}.")
        if a is not None and s.shape[0] != a.shape[1]:
            raise ValueError(f"sources must have one row per column of mixing ({a.shape[1]}); got shape {s.shape}.")

    w = ica_runs(x, algorithm, n_components=k, n_runs=n_runs, resample=resample, seed=seed,
                 max_iter=max_iter, algorithm_params=algorithm_params)
    clusters = icasso(x, w)
    amari = amari_per_run(w, a) if a is not None else np.full(n_runs, np.nan)
    if s is not None:
        match = source_match(x, clusters.centrotypes, s)
    else:
        match = np.full(a.shape[1] if a is not None else 0, np.nan)
    return IcaStability(
        algorithm=algorithm,
        n_runs=n_runs,
        n_components=k,
        resample=resample,
        iq=clusters.iq,
        mean_iq=float(clusters.iq.mean()),
        amari=amari,
        amari_mean=float(np.mean(amari)) if not np.isnan(amari).all() else math.nan,
        match=match,
        match_mean=float(np.mean(match)) if match.size and not np.isnan(match).all() else math.nan,
        icasso=clusters,
    )


def ica_stability_raw(
    raw: Any,
    algorithm: str,
    *,
    picks: Any = "eeg",
    n_components: int | None = None,
    n_runs: int = 10,
    resample: str = "bootstrap",
    seed: int | np.random.Generator,
    max_iter: int | None = None,
    algorithm_params: Mapping[str, Any] | None = None,
) -> IcaStability:
    """:func:`ica_stability` on the channels ``picks`` of an MNE ``Raw`` (no ground truth: Amari
    and match are NaN).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording; its data are read with ``raw.get_data(picks=picks)`` (preload not required).
        Filter it first (e.g. 1 Hz high-pass) as usual before ICA.
    picks : str, list or slice
        Channels, as MNE understands ``picks`` (default ``"eeg"``).
    algorithm, n_components, n_runs, resample, seed, max_iter, algorithm_params
        As in :func:`ica_runs`.
    """
    import mne

    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(f"raw must be an mne.io.BaseRaw (e.g. mne.io.RawArray or a file read with "
                        f"mne.io.read_raw_*); got {type(raw).__name__}: {short_repr(raw)}.")
    check_choice(algorithm, "algorithm", ALGORITHMS)
    x = raw.get_data(picks=picks)
    return ica_stability(x, algorithm, n_components=n_components, n_runs=n_runs, resample=resample, seed=seed,
                         max_iter=max_iter, algorithm_params=algorithm_params)


# --------------------------------------------------------------------------------------------
# figure


def plot_stability(result: IcaStability | IcassoResult, ax: Any = None, *, similarity: bool | None = None) -> Any:
    """ICASSO figure: the quality index per cluster (sorted), and the similarity matrix with the
    estimates ordered by cluster (Himberg et al. 2004, Fig. 2).

    Parameters
    ----------
    result : IcaStability or IcassoResult
    ax : matplotlib Axes, optional
        Draw the ``Iq`` bars there (no similarity panel). Default: a new Figure (no pyplot, so it is
        safe with the Agg backend and in worker processes).
    similarity : bool, optional
        Add the similarity panel; default: when ``ax`` is None and the similarity matrix was kept.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if isinstance(result, IcaStability):
        res, title = result.icasso, f"{result.algorithm}, {result.n_runs} runs ({result.resample})"
    elif isinstance(result, IcassoResult):
        res, title = result, "ICASSO"
    else:
        raise TypeError(f"result must be an IcaStability or IcassoResult; got {type(result).__name__}.")
    if similarity is None:
        similarity = ax is None and res.similarity is not None
    if similarity and ax is not None:
        raise ValueError("similarity=True needs a figure of its own: pass ax=None.")
    if similarity and res.similarity is None:
        raise ValueError("similarity=True but the IcassoResult kept no similarity matrix (keep_similarity=False).")

    if ax is None:
        fig = Figure(figsize=(9.0 if similarity else 4.5, 3.6), layout="constrained")
        axes = fig.subplots(1, 2 if similarity else 1, squeeze=False)[0]
        ax = axes[0]
    else:
        fig, axes = ax.figure, [ax]
    k = len(res.iq)
    ax.bar(np.arange(1, k + 1), res.iq, color="0.35")
    ax.set_ylim(min(0.0, float(res.iq.min())), 1.0)
    ax.set_xlabel("cluster (sorted by Iq)")
    ax.set_ylabel("quality index Iq")
    ax.set_title(title)
    if similarity:
        order = np.argsort(res.labels, kind="stable")
        image = axes[1].imshow(res.similarity[np.ix_(order, order)], vmin=0, vmax=1, cmap="viridis",
                               interpolation="nearest")
        edges = np.cumsum(np.bincount(res.labels, minlength=k))[:-1] - 0.5
        for e in edges:
            axes[1].axhline(e, color="w", lw=0.5)
            axes[1].axvline(e, color="w", lw=0.5)
        axes[1].set_title("|correlation|, estimates by cluster")
        fig.colorbar(image, ax=axes[1], shrink=0.8)
    return fig
