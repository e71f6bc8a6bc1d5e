"""Haemodynamic inversion tasks: cardiac and arterial parameters from pressure and PPG waveforms.

One task class, :class:`Inversion` (registry name ``hemodynamics/inversion``), covers the grid of
the benchmark: the simulator that makes the training data (``simulator``), the one that makes the
observations and calibration data (``test_simulator``: another one is **model error**), the
measurement-noise level, the observed channels, which parameters are inferred (the others are fixed
at the centre of their range) and whether the pressure waveforms are **uncalibrated** (an unknown
gain, as in applanation tonometry: the pressure is linear in the stroke volume, so only gain × SV is
identified — a non-identifiable pair with a ridge posterior).

Measurement model: x = gain · simulate(θ) + ε with independent Gaussian ε of standard deviation
``noise · scale`` per channel (scale 50 mmHg for pressures, 0.5 for the unit-free PPG: ``noise`` is
a fraction of a typical pulse amplitude). The likelihood is therefore tractable, and reference
posteriors come from it by importance sampling around a Laplace fit in log θ
(:meth:`Inversion.reference_posterior`), with the importance-sampling ESS recorded per observation.
Under model error the reference is the posterior under the simulator that made the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from trustbench.validation import check_choice, check_int, check_positive, short_repr

__all__ = ["Inversion", "CHANNEL_SCALE", "GAIN_RANGE"]

CHANNEL_SCALE = {"central": 50.0, "radial": 50.0, "ppg": 0.5}
"""Typical pulse amplitude of each channel; the noise sd is ``noise`` times it."""
GAIN_RANGE = (0.7, 1.3)
"""Prior range of the unknown calibration gain of uncalibrated pressure waveforms."""


@dataclass(frozen=True, eq=False)
class Inversion:
    """Infer haemodynamic parameters with their uncertainty from simulated waveforms.

    Parameters
    ----------
    simulator : "windkessel3", "windkessel4" or "wave" — makes the training simulations.
    test_simulator : the same choices or None (= ``simulator``) — makes observations and calibration data.
    noise : measurement noise as a fraction of a typical pulse amplitude (> 0).
    channels : observed channels, a subset of ("central", "radial", "ppg").
    parameters : the inferred parameters (names of :data:`~.simulators.PARAMETERS`); the others are
        fixed at the centre of their prior range.
    uncalibrated : the pressure channels carry an unknown gain (an extra parameter ``gain``).
    fs, duration : sampling rate (Hz) and window length (s) of the waveforms.
    n_observations, n_reference : fixed observations per seed and reference draws per observation.
    reference : make reference posteriors (:meth:`reference_posterior`); False leaves c2st/mmd out
        (truth-based metrics stay).
    n_calibration, n_calibration_draws : calibration simulations and posterior draws per simulation.
    reference_options : options of the reference sampler (:func:`~trustbench.posterior.reference.importance_posterior`:
        ``df``, ``oversample``, ``adapt``).
    """

    simulator: str = "windkessel3"
    test_simulator: str | None = None
    noise: float = 0.02
    channels: tuple[str, ...] = ("central", "radial", "ppg")
    parameters: tuple[str, ...] | None = None
    uncalibrated: bool = False
    fs: float = 50.0
    duration: float = 1.0
    n_observations: int = 5
    n_reference: int = 1000
    reference: bool = True
    n_calibration: int = 200
    n_calibration_draws: int = 100
    reference_options: dict[str, Any] = field(default_factory=dict)

    name = "hemodynamics/inversion"
    protocol = "posterior"

    def __post_init__(self) -> None:
        from trustbench.domains.hemodynamics.simulators import CHANNELS, MODELS, PARAMETER_NAMES

        check_choice(self.simulator, "simulator", MODELS)
        if self.test_simulator is not None:
            check_choice(self.test_simulator, "test_simulator", MODELS)
        check_positive(self.noise, "noise")
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        if not channels or len(set(channels)) != len(channels):
            raise ValueError(f"channels must be distinct names from {list(CHANNELS)}; got {short_repr(self.channels)}.")
        for c in channels:
            check_choice(c, "channels", CHANNELS)
        object.__setattr__(self, "channels", channels)
        params = (PARAMETER_NAMES if self.parameters is None
                  else (self.parameters,) if isinstance(self.parameters, str) else tuple(self.parameters))
        for p in params:
            check_choice(p, "parameters", PARAMETER_NAMES)
        if not params or len(set(params)) != len(params):
            raise ValueError(f"parameters must be distinct names from {list(PARAMETER_NAMES)}; got {short_repr(self.parameters)}.")
        object.__setattr__(self, "parameters", tuple(p for p in PARAMETER_NAMES if p in params))
        if self.uncalibrated and not set(channels) & {"central", "radial"}:
            raise ValueError("uncalibrated=True needs a pressure channel ('central' or 'radial') among channels.")
        check_positive(self.fs, "fs")
        check_positive(self.duration, "duration")
        for name in ("n_observations", "n_reference", "n_calibration", "n_calibration_draws"):
            check_int(getattr(self, name), name, minimum=2)
        unknown = set(self.reference_options) - {"df", "oversample", "adapt"}
        if unknown:
            raise ValueError(f"reference_options takes df, oversample and adapt; got {sorted(unknown)}.")
        if "df" in self.reference_options:
            check_positive(self.reference_options["df"], "reference_options['df']")
        if "oversample" in self.reference_options:
            check_int(self.reference_options["oversample"], "reference_options['oversample']", minimum=1)
        if "adapt" in self.reference_options:
            check_int(self.reference_options["adapt"], "reference_options['adapt']", minimum=0)

    # ------------------------------------------------------------------ description
    @property
    def label(self) -> str:
        """How records name this task: simulator(s), channels, parameters and noise."""
        sim = self.simulator if self.test_simulator in (None, self.simulator) else f"{self.simulator}→{self.test_simulator}"
        parts = [f"hemodynamics/{sim}"]
        if self.uncalibrated:
            parts.append("uncalibrated")
        if self.channels != ("central", "radial", "ppg"):
            parts.append("+".join(self.channels))
        if self.parameters != self._all_names:
            parts.append(",".join(self.parameters))
        return "/".join(parts) + f"/noise={self.noise:g}"

    @property
    def sweep(self) -> dict[str, Any]:
        """Where the task lies in the benchmark's noise × model-error sweep (for the report)."""
        family = self.label.rsplit("/noise=", 1)[0].replace(f"→{self.test_simulator}", "")
        return {"family": family, "noise": float(self.noise),
                "model_error": self.test_simulator not in (None, self.simulator)}

    @property
    def _all_names(self) -> tuple[str, ...]:
        from trustbench.domains.hemodynamics.simulators import PARAMETER_NAMES

        return PARAMETER_NAMES

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.parameters + (("gain",) if self.uncalibrated else ())

    @cached_property
    def prior(self):
        from trustbench.domains.hemodynamics.simulators import PARAMETERS
        from trustbench.posterior.priors import BoxUniform

        rows = [(p.low, p.high) for p in PARAMETERS if p.name in self.parameters]
        if self.uncalibrated:
            rows.append(GAIN_RANGE)
        low, high = np.array(rows).T
        return BoxUniform(low, high)

    @cached_property
    def _sd(self) -> np.ndarray:
        return self.noise * np.array([CHANNEL_SCALE[c] for c in self.channels])

    # ------------------------------------------------------------------ simulation
    def _full(self, theta: np.ndarray) -> np.ndarray:
        """Every simulator parameter: the inferred ones from θ, the others at their range's centre."""
        from trustbench.domains.hemodynamics.simulators import PARAMETERS

        out = np.tile([(p.low + p.high) / 2 for p in PARAMETERS], (len(theta), 1))
        idx = [i for i, p in enumerate(PARAMETERS) if p.name in self.parameters]
        out[:, idx] = theta[:, : len(idx)]
        return out

    def clean(self, theta: np.ndarray, model: str) -> np.ndarray:
        """Noise-free waveforms (n, channels, samples), gain applied to the pressure channels."""
        from trustbench.domains.hemodynamics.simulators import simulate

        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        x = simulate(self._full(theta), model=model, fs=self.fs, duration=self.duration, channels=self.channels)
        if self.uncalibrated:
            pressure = np.array([c != "ppg" for c in self.channels])
            x[:, pressure] *= theta[:, -1][:, None, None]
        return x

    def _noisy(self, theta: np.ndarray, rng: np.random.Generator, model: str) -> np.ndarray:
        x = self.clean(theta, model)
        return x + self._sd[None, :, None] * rng.standard_normal(x.shape)

    def simulate(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._noisy(theta, rng, self.simulator)

    def simulate_test(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._noisy(theta, rng, self.test_simulator or self.simulator)

    def log_likelihood(self, theta: np.ndarray, x: np.ndarray, model: str | None = None) -> np.ndarray:
        """Gaussian log likelihood of one observation ``x`` at parameters ``theta`` (k, d)."""
        mu = self.clean(theta, model or self.test_simulator or self.simulator)
        z = (np.asarray(x)[None] - mu) / self._sd[None, :, None]
        return -0.5 * (z**2).sum(axis=(1, 2)) - mu[0].shape[1] * np.log(np.sqrt(2 * np.pi) * self._sd).sum()

    # ------------------------------------------------------------------ observations
    def observations(self, seed: int) -> list:
        """``n_observations`` draws from the prior, their data from ``test_simulator`` and, when
        ``reference``, posterior samples by ensemble MCMC on the exact likelihood."""
        import time

        from trustbench.posterior.base import Observation

        seed = check_int(seed, "seed", minimum=0)
        data_ss, *ref_ss = np.random.SeedSequence([seed, 0x4E4D0]).spawn(1 + self.n_observations)
        rng = np.random.default_rng(data_ss)
        theta = self.prior.sample(self.n_observations, rng)
        x = self.simulate_test(theta, rng)
        out = []
        for i in range(self.n_observations):
            ref, meta = None, {}
            if self.reference:
                start = time.perf_counter()
                ref, meta = self.reference_posterior(x[i], theta[i], np.random.default_rng(ref_ss[i]))
                meta = {**meta, "seconds": time.perf_counter() - start}
            out.append(Observation(x=x[i], theta=theta[i], reference=ref, meta=meta))
        return out

    def reference_posterior(self, x: np.ndarray, start: np.ndarray, rng: np.random.Generator
                            ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reference draws for one observation: a Laplace fit in u = log θ, then importance sampling.

        The power laws of haemodynamics (pulse pressure ~ SV / compliance, gain × SV) are straight
        ridges in log θ, where a Gaussian approximation fits. The maximum a posteriori is found by
        bounded least squares (scipy, trust-region reflective) from ``start`` (the true parameters:
        the likelihood is unimodal around them); the proposal is a t₅ with the Gauss–Newton
        covariance (JᵀJ)⁻¹ inflated by 1.5² and a weak box-width term that bounds non-identified
        directions; the weights correct it exactly (:func:`~trustbench.posterior.reference.importance_posterior`,
        whose Kish ESS is recorded).
        """
        from scipy.optimize import least_squares

        from trustbench.posterior.reference import importance_posterior

        box = self.prior
        lo, hi = np.log(box.low), np.log(box.high)

        def residuals(u: np.ndarray) -> np.ndarray:
            mu = self.clean(np.exp(u)[None], self.test_simulator or self.simulator)[0]
            return ((np.asarray(x) - mu) / self._sd[:, None]).ravel()

        u0 = np.clip(np.log(start), lo + 1e-9, hi - 1e-9)
        fit = least_squares(residuals, u0, bounds=(lo, hi), x_scale=hi - lo, method="trf")
        jac = fit.jac
        precision = jac.T @ jac + np.diag(1.0 / ((hi - lo) / 2) ** 2)
        cov = 1.5**2 * np.linalg.inv(precision)
        log_box = _LogBox(box)

        def log_target(u: np.ndarray) -> np.ndarray:
            out = log_box.log_prob(u)
            inside = np.isfinite(out)
            if inside.any():
                out[inside] += self.log_likelihood(np.exp(u[inside]), x)
            return out

        draws, meta = importance_posterior(log_target, fit.x, cov, self.n_reference, rng, **self.reference_options)
        return np.exp(draws), {**meta, "map": np.exp(fit.x).tolist()}


@dataclass(frozen=True, eq=False)
class _LogBox:
    """A positive box-uniform prior seen in u = log θ (density p(e^u)·Π e^u)."""

    box: Any

    @property
    def dim(self) -> int:
        return self.box.dim

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.log(self.box.sample(n, rng))

    def log_prob(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        return self.box.log_prob(np.exp(u)) + u.sum(axis=1)
