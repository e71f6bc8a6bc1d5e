"""Tasks of the ``eeg`` benchmark.

- ``eeg/sources``: source imaging. ``make(seed)`` builds the head model, estimates the noise
  covariance from ``n_baseline`` noise-only segments (as from a pre-stimulus baseline), and draws a
  calibration and a test set of simulated samples with their true sources; it also hands solvers
  that learn from simulations the task's own simulator.
- ``eeg/ica``: ICA stability. ``make(seed)`` draws one recording of mixed sources
  (:func:`.ica.simulate_ica`) with its true mixing; ``mixing="eeg"`` takes the mixing columns from
  the head model's lead field (random dipoles, random orientations), ``"random"`` a Gaussian matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustbench.validation import check_choice, check_int, check_positive

__all__ = ["SourceTask", "IcaTask", "SourceSplit"]


@dataclass(frozen=True, eq=False)
class SourceSplit:
    head: Any
    noise_cov: np.ndarray
    calibration: Any
    test: Any
    simulate: Any
    """``simulate(n, rng) -> SourceSimulation`` with the task's settings (for solvers trained on simulations)."""


def _head(montage: str, spacing: float, forward: str | None):
    from trustbench.domains.eeg import forward as F

    return F.head_from_forward(forward) if forward else F.sphere_head(montage, float(spacing))


@dataclass
class SourceTask:
    """Simulated EEG with ground-truth sources (Haufe & Ewald 2019 style; :func:`.simulate.simulate`).

    ``forward`` is the path of the user's own ``-fwd.fif`` (else the offline sphere model with
    ``montage`` and a ``spacing`` mm grid). ``extent`` is the patch radius in mm (0: dipoles)."""

    montage: str = "biosemi64"
    spacing: float = 15.0
    forward: str | None = None
    n_active: int = 2
    extent: float = 0.0
    snr_db: float = 0.0
    n_times: int = 50
    n_background: int = 100
    beta: float = 1.0
    sensor_noise: float = 0.1
    n_baseline: int = 100
    n_calibration: int = 20
    n_test: int = 20
    name: str = field(default="eeg/sources", init=False)
    kind: str = field(default="sources", init=False)

    def __post_init__(self) -> None:
        from pathlib import Path

        if self.forward is None:
            from trustbench.domains.eeg.forward import check_sphere_settings

            check_sphere_settings(self.montage, self.spacing)
        elif not Path(self.forward).is_file():
            raise ValueError(f"forward must be the path of an MNE forward solution (-fwd.fif); {self.forward!r} "
                             "is not a file.")
        check_int(self.n_active, "n_active", minimum=1)
        check_positive(self.extent, "extent", strict=False)
        check_int(self.n_times, "n_times", minimum=8)
        check_int(self.n_baseline, "n_baseline", minimum=2)
        check_int(self.n_calibration, "n_calibration", minimum=2)
        check_int(self.n_test, "n_test", minimum=2)
        if not isinstance(self.snr_db, (int, float)) or isinstance(self.snr_db, bool):
            raise TypeError(f"snr_db must be a number (dB); got {self.snr_db!r}.")

    @property
    def label(self) -> str:
        what = "dipole" if self.extent == 0 else f"patch{self.extent:g}mm"
        return f"eeg/sources/{self.n_active}x{what}/snr{self.snr_db:g}dB"

    def _settings(self) -> dict:
        return {"n_active": int(self.n_active), "extent": float(self.extent) / 1000.0, "snr_db": float(self.snr_db),
                "n_times": int(self.n_times), "n_background": int(self.n_background), "beta": float(self.beta),
                "sensor_noise": float(self.sensor_noise)}

    def make(self, seed: int) -> SourceSplit:
        from trustbench.domains.eeg.simulate import simulate, simulate_noise

        head = _head(self.montage, self.spacing, self.forward)
        settings = self._settings()

        def draw(n: int, rng: np.random.Generator):
            return simulate(head, int(n), rng, **settings)

        base, cal, test = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3))
        noise = simulate_noise(head, int(self.n_baseline), int(self.n_times), base,
                               **{k: settings[k] for k in ("n_background", "beta", "sensor_noise")})
        cov = np.einsum("bmt,bnt->mn", noise, noise) / (noise.shape[0] * noise.shape[2])
        return SourceSplit(head=head, noise_cov=cov, calibration=draw(self.n_calibration, cal),
                           test=draw(self.n_test, test), simulate=draw)


@dataclass
class IcaTask:
    """One simulated recording for the ICA stability tool (:func:`.ica.simulate_ica`)."""

    scenario: str = "nongaussian"
    n_sources: int = 6
    n_sensors: int = 6
    n_samples: int = 5000
    n_gaussian: int = 2
    snr: float | None = None
    beta: float = 1.0
    mixing: str = "eeg"
    montage: str = "biosemi64"
    name: str = field(default="eeg/ica", init=False)
    kind: str = field(default="ica", init=False)

    def __post_init__(self) -> None:
        from trustbench.domains.eeg.ica import SCENARIOS

        check_choice(self.scenario, "scenario", SCENARIOS)
        check_choice(self.mixing, "mixing", ("eeg", "random"))
        check_int(self.n_sources, "n_sources", minimum=2)
        check_int(self.n_sensors, "n_sensors", minimum=2)
        check_int(self.n_samples, "n_samples", minimum=10)

    @property
    def label(self) -> str:
        snr = "" if self.snr is None else f"/snr{self.snr:g}"
        extra = f"{self.n_gaussian}gauss/" if self.scenario == "gaussian" else ""
        return f"eeg/ica/{self.scenario}/{extra}{self.n_sources}src{self.n_sensors}ch/{self.n_samples}{snr}"

    def make(self, seed: int):
        from trustbench.domains.eeg.ica import simulate_ica

        rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(1)[0])
        mixing = None
        if self.mixing == "eeg":
            mixing = _eeg_mixing(self.montage, int(self.n_sensors), int(self.n_sources), rng)
        return simulate_ica(self.scenario, n_sources=int(self.n_sources), n_sensors=int(self.n_sensors),
                            n_samples=int(self.n_samples), snr=self.snr, beta=self.beta, n_gaussian=int(self.n_gaussian),
                            mixing=mixing, seed=int(rng.integers(2**31)))


def _eeg_mixing(montage: str, n_sensors: int, n_sources: int, rng: np.random.Generator) -> np.ndarray:
    """Topographies of random dipoles (random orientation) on ``n_sensors`` channels spread over the
    montage (evenly spaced), each scaled to unit norm."""
    from trustbench.domains.eeg.forward import sphere_head

    head = sphere_head(montage, 20.0)
    if n_sensors > head.n_channels:
        raise ValueError(f"n_sensors must be at most the montage's {head.n_channels} channels; got {n_sensors}.")
    chans = np.linspace(0, head.n_channels - 1, n_sensors).round().astype(int)
    idx = rng.choice(head.n_sources, n_sources, replace=False)
    orient = rng.standard_normal((n_sources, 3))
    g = head.gain.reshape(head.n_channels, head.n_sources, 3)[np.ix_(chans, idx)]  # (s, k, 3)
    a = np.einsum("skc,kc->sk", g, orient)
    return a / np.linalg.norm(a, axis=0)
