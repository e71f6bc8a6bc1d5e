"""EEG with ground-truth sources, in the spirit of Haufe & Ewald (2019).

One sample is ``(m, T)`` average-referenced sensor data ``Y = L x + n_bio + n_sensor``:

- **signal**: ``n_active`` dipoles or extended patches (all sources within ``extent`` mm of a seed,
  Gaussian fall-off with σ = extent/2, the seed's orientation), each driven by a time course from a
  bivariate-or-larger **MVAR** model with known directed coupling: every source is an AR(2)
  oscillator at ``peak_freq`` (pole radius ``pole``), and source ``j`` drives source ``j + 1`` with
  ``coupling`` at a lag of ``lag`` samples (a chain, so the model is stable whenever each oscillator is);
- **biological noise**: ``n_background`` non-interacting sources at random positions and
  orientations with independent pink (1/f^``beta``) time courses;
- **sensor noise**: white, ``sensor_noise`` of the noise's band-limited Frobenius norm (the rest is
  biological).

SNR is the ratio of Frobenius norms of signal and noise after band-pass filtering to ``band``
(Haufe & Ewald 2019, eq. 5), in dB of amplitude: 20·log10(‖S‖/‖N‖). The noise is normalised to an
RMS of 1 µV per sample and the signal (sources included) is scaled to reach the SNR exactly, so the
noise process is stationary across samples and its covariance can be estimated from a baseline.

References
----------
Haufe S, Ewald A (2019). A simulation framework for benchmarking EEG-based brain connectivity
estimation methodologies. Brain Topography 32, 625-642.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.validation import check_int, check_positive

__all__ = ["SourceSimulation", "simulate", "simulate_noise", "pink_noise", "mvar_chain", "band_limited", "NOISE_RMS"]

NOISE_RMS = 1e-6
"""RMS of the noise per channel and time point, volts."""


def pink_noise(shape: tuple[int, ...], beta: Any, rng: np.random.Generator) -> np.ndarray:
    """Independent 1/f^beta noise along the last axis (spectral shaping of white noise; the DC bin
    is removed), standardised to unit variance per series. ``beta`` is a number or one exponent per
    series (broadcast against ``shape[:-1]``)."""
    t = shape[-1]
    spec = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    f = np.fft.rfftfreq(t)
    f[0] = np.inf  # removes the DC term
    x = np.fft.irfft(spec * f ** (-np.asarray(beta, dtype=float)[..., None] / 2.0), n=t, axis=-1)
    return x / x.std(axis=-1, keepdims=True)


def band_limited(x: np.ndarray, sfreq: float, band: tuple[float, float]) -> np.ndarray:
    """``x`` band-passed along its last axis by zeroing FFT bins outside ``band`` (zero phase)."""
    t = x.shape[-1]
    f = np.fft.rfftfreq(t, d=1.0 / sfreq)
    keep = (f >= band[0]) & (f <= band[1])
    return np.fft.irfft(np.fft.rfft(x, axis=-1) * keep, n=t, axis=-1)


def mvar_chain(n_batch: int, n_active: int, n_times: int, *, sfreq: float, peak_freq: float, pole: float,
               coupling: float, lag: int, rng: np.random.Generator, burn_in: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Time courses ``(B, k, T)`` of a chain of AR(2) oscillators, source j driving j + 1.

    Returns the time courses (divided by the stationary std of an undriven oscillator, so the first
    source has unit variance and driven ones more) and the true directed coupling matrix ``(k, k)``
    (entry ``[i, j]`` is the weight of ``x_j(t - lag)`` in ``x_i(t)``)."""
    a1, a2 = 2.0 * pole * np.cos(2.0 * np.pi * peak_freq / sfreq), -pole**2
    total = n_times + burn_in
    e = rng.standard_normal((total, n_batch, n_active))
    x = np.zeros((total, n_batch, n_active))
    c = np.zeros((n_active, n_active))
    c[np.arange(1, n_active), np.arange(n_active - 1)] = coupling
    for t in range(2, total):
        drive = x[t - lag] @ c.T if t >= lag else 0.0
        x[t] = a1 * x[t - 1] + a2 * x[t - 2] + drive + e[t]
    # one common scale (the stationary std of an undriven oscillator) keeps the coupling weights exact
    std = np.sqrt((1.0 - a2) / ((1.0 + a2) * ((1.0 - a2) ** 2 - a1**2)))
    return np.moveaxis(x[burn_in:], 0, -1) / std, c


@dataclass(frozen=True, eq=False)
class SourceSimulation:
    """Simulated samples and their ground truth.

    ``eeg`` (B, m, T) average-referenced data in volts. The true sources are stored sparsely:
    ``seeds`` (B, k) source indices, ``orientations`` (B, k, 3) unit vectors, ``time_courses``
    (B, k, T) in A·m and ``profiles`` (B, k, n) spatial weights (1 at the seed; a dipole has a single
    non-zero). :meth:`moments` makes the dense (B, n, n_orient, T) moments on demand. ``coupling`` is
    the MVAR's true directed coupling; ``noise`` the (B, m, T) noise part of ``eeg``.
    """

    eeg: np.ndarray
    noise: np.ndarray
    seeds: np.ndarray
    orientations: np.ndarray
    time_courses: np.ndarray
    profiles: np.ndarray
    coupling: np.ndarray
    n_orient: int
    sfreq: float
    snr_db: float
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.eeg)

    def moments(self, idx: Any = slice(None)) -> np.ndarray:
        """Dense true moments (b, n, n_orient, T) of samples ``idx``; with n_orient = 1 the signed
        amplitude along the fixed orientation."""
        p, o, tc = self.profiles[idx], self.orientations[idx], self.time_courses[idx]
        if self.n_orient == 1:
            return np.einsum("bkn,bkt->bnt", p, tc)[:, :, None, :]
        return np.einsum("bkn,bko,bkt->bnot", p, o, tc)

    def amplitude(self) -> np.ndarray:
        """The true source map (B, n): RMS over time of the moment's norm at each source."""
        return np.concatenate([source_map(self.moments(slice(i, i + 256))) for i in range(0, len(self), 256)])

    def active(self) -> np.ndarray:
        """(B, n) mask of the truly active sources (non-zero profile)."""
        return (self.profiles != 0).any(axis=1)


def source_map(moments: np.ndarray) -> np.ndarray:
    """RMS over time of the moment norm: (..., n, n_orient, T) -> (..., n)."""
    return np.sqrt((moments**2).sum(axis=-2).mean(axis=-1))


def _patch_profiles(positions: np.ndarray, seeds: np.ndarray, extent: float) -> np.ndarray:
    """(B, k, n) Gaussian patch weights (σ = extent/2, cut at ``extent``), 1 at the seed."""
    d = np.linalg.norm(positions[seeds][..., None, :] - positions, axis=-1)  # (B, k, n)
    if extent <= 0:
        return (d == 0).astype(float)
    sigma = extent / 2.0
    return np.where(d <= extent, np.exp(-0.5 * (d / sigma) ** 2), 0.0)


def _random_orientations(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((*shape, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _project(gain: np.ndarray, n_orient: int, weights: np.ndarray, orientations: np.ndarray,
             time_courses: np.ndarray) -> np.ndarray:
    """Sensor data (B, m, T) of sources given as profiles (B, k, n), orientations (B, k, 3) and time
    courses (B, k, T)."""
    b, k, n = weights.shape
    w = weights[..., None] * orientations[:, :, None, :n_orient]  # (B, k, n, o)
    topo = w.reshape(b, k, n * n_orient) @ gain.T  # (B, k, m)
    return np.matmul(topo.transpose(0, 2, 1), time_courses)


def _check_config(n_samples, n_active, n_times, sfreq, band, extent, n_background, sensor_noise, beta):
    check_int(n_samples, "n_samples", minimum=1)
    check_int(n_active, "n_active", minimum=1)
    check_int(n_times, "n_times", minimum=8)
    check_int(n_background, "n_background", minimum=0)
    check_positive(sfreq, "sfreq")
    check_positive(extent, "extent", strict=False)
    check_positive(beta, "beta", strict=False)
    if not 0.0 <= float(sensor_noise) <= 1.0:
        raise ValueError(f"sensor_noise must lie in [0, 1] (the share of the noise that is white sensor noise); got {sensor_noise}.")
    lo, hi = (float(b) for b in band)
    if not 0.0 <= lo < hi <= sfreq / 2:
        raise ValueError(f"band must be (low, high) with 0 <= low < high <= sfreq/2 = {sfreq / 2}; got {band}.")
    if n_background == 0 and sensor_noise == 0:
        raise ValueError("there is no noise (n_background = 0 and sensor_noise = 0); SNR is undefined.")


def simulate_noise(head, n_samples: int, n_times: int, rng: np.random.Generator, *, sfreq: float = 100.0,
                   band: tuple[float, float] = (8.0, 13.0), n_background: int = 100, beta: float = 1.0,
                   sensor_noise: float = 0.1) -> np.ndarray:
    """(B, m, T) noise: pink background sources plus white sensor noise, each normalised by its
    band-limited Frobenius norm and mixed by ``sensor_noise``, then scaled to RMS :data:`NOISE_RMS`."""
    _check_config(n_samples, 1, n_times, sfreq, band, 0.0, n_background, sensor_noise, beta)
    m = head.n_channels
    noise = np.zeros((n_samples, m, n_times))
    if n_background:
        idx = rng.integers(0, head.n_sources, size=(n_samples, n_background))
        orient = _random_orientations((n_samples, n_background), rng)
        g = head.gain.T.reshape(head.n_sources, head.n_orient, m)
        bio = np.empty((n_samples, m, n_times))
        for i in range(0, n_samples, 256):  # chunks keep the gathered gain (b, k, o, m) small
            b = slice(i, i + 256)
            topo = np.matmul(orient[b, :, None, :head.n_orient], g[idx[b]])[:, :, 0]  # (b, k, m)
            bio[b] = np.matmul(topo.transpose(0, 2, 1), pink_noise((len(idx[b]), n_background, n_times), beta, rng))
        noise += (1.0 - sensor_noise) * bio / _fro(band_limited(bio, sfreq, band))
    if sensor_noise:
        white = rng.standard_normal((n_samples, m, n_times))
        white -= white.mean(axis=1, keepdims=True)  # average reference
        noise += sensor_noise * white / _fro(band_limited(white, sfreq, band))
    return noise * NOISE_RMS / np.sqrt((noise**2).mean(axis=(1, 2), keepdims=True))


def _fro(x: np.ndarray) -> np.ndarray:
    return np.sqrt((x**2).sum(axis=(-2, -1), keepdims=True))


def simulate(head, n_samples: int, rng: np.random.Generator, *, n_active: int = 2, extent: float = 0.0,
             snr_db: float = 0.0, n_times: int = 50, sfreq: float = 100.0, band: tuple[float, float] = (8.0, 13.0),
             peak_freq: float = 10.0, pole: float = 0.9, coupling: float = 0.5, lag: int = 2,
             n_background: int = 100, beta: float = 1.0, sensor_noise: float = 0.1,
             min_distance: float = 0.03) -> SourceSimulation:
    """Simulate ``n_samples`` samples on ``head`` (a :class:`~.forward.HeadModel`); see the module
    docstring. ``extent`` and ``min_distance`` (between the seeds of one sample) are in metres."""
    _check_config(n_samples, n_active, n_times, sfreq, band, extent, n_background, sensor_noise, beta)
    if n_active > head.n_sources:
        raise ValueError(f"n_active must be at most the number of sources ({head.n_sources}); got {n_active}.")
    seeds = _draw_seeds(head.positions, n_samples, n_active, float(min_distance), rng)
    orient = _random_orientations((n_samples, n_active), rng)
    profiles = _patch_profiles(head.positions, seeds, float(extent))
    tc, c = mvar_chain(n_samples, n_active, n_times, sfreq=sfreq, peak_freq=peak_freq, pole=pole,
                       coupling=coupling, lag=lag, rng=rng)
    noise = simulate_noise(head, n_samples, n_times, rng, sfreq=sfreq, band=band, n_background=n_background,
                           beta=beta, sensor_noise=sensor_noise)
    signal = _project(head.gain, head.n_orient, profiles, orient, tc)
    scale = 10.0 ** (snr_db / 20.0) * _fro(band_limited(noise, sfreq, band)) / _fro(band_limited(signal, sfreq, band))
    tc = tc * scale  # the sources carry the scale: eeg = gain @ moments + noise exactly
    return SourceSimulation(
        eeg=signal * scale + noise, noise=noise, seeds=seeds, orientations=orient, time_courses=tc,
        profiles=profiles, coupling=c, n_orient=head.n_orient, sfreq=float(sfreq), snr_db=float(snr_db),
        meta={"band": tuple(float(b) for b in band), "extent": float(extent), "n_background": int(n_background),
              "beta": float(beta), "sensor_noise": float(sensor_noise), "peak_freq": float(peak_freq), "lag": int(lag)})


def _draw_seeds(positions: np.ndarray, n_samples: int, k: int, min_distance: float,
                rng: np.random.Generator) -> np.ndarray:
    """(B, k) distinct source indices, pairwise at least ``min_distance`` apart (rejection per slot)."""
    n = len(positions)
    seeds = np.empty((n_samples, k), dtype=np.intp)
    seeds[:, 0] = rng.integers(0, n, n_samples)
    for j in range(1, k):
        todo = np.arange(n_samples)
        for _ in range(100):
            cand = rng.integers(0, n, len(todo))
            d = np.linalg.norm(positions[cand][:, None] - positions[seeds[todo, :j]], axis=-1).min(axis=1)
            ok = d >= max(min_distance, 1e-12)
            seeds[todo[ok], j] = cand[ok]
            todo = todo[~ok]
            if not len(todo):
                break
        else:
            raise ValueError(f"could not place {k} sources at least min_distance = {min_distance} m apart; "
                             f"lower min_distance or n_active.")
    return seeds
