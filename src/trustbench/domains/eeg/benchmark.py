"""The M/EEG benchmark: which inverse solvers localise simulated brain sources, which of them report
calibrated uncertainty, and when are ICA decompositions stable?"""

from __future__ import annotations

from trustbench.domains.eeg.protocol import METRICS_META
from trustbench.types import Benchmark

__all__ = ["BENCHMARK"]

_LINEAR = ("mne", "dspm", "sloreta", "eloreta")
_ICA = ("fastica", "picard", "infomax")


def _sources(**params) -> dict:
    return {"name": "eeg/sources", "params": params}


def _ica(**params) -> dict:
    return {"name": "eeg/ica", "params": params}


def _methods(*, n_train: int, members: int, n_runs: int, max_epochs: int = 100, gamma_tol: float = 1e-5) -> list[dict]:
    return [*(_LINEAR), {"name": "lcmv"}, {"name": "gamma_map", "params": {"tol": gamma_tol}}, {"name": "mxne"},
            {"name": "bayes_mn"},
            {"name": "champagne"},
            {"name": "nn_ensemble", "params": {"n_train": n_train, "members": members, "max_epochs": max_epochs}},
            *({"name": a, "params": {"n_runs": n_runs}} for a in _ICA)]


_QUICK_HEAD = {"montage": "biosemi64", "spacing": 20.0, "n_test": 8, "n_calibration": 8, "n_baseline": 50}
_FULL_SNR = (-5.0, 0.0, 5.0, 10.0)

BENCHMARK = Benchmark(
    name="eeg",
    question=(
        "Which EEG inverse solvers localise simulated brain sources (dipoles, extended patches; MVAR-coupled "
        "time courses in pink background activity), which report calibrated uncertainty, and when are ICA "
        "decompositions stable?"
    ),
    protocol="trustbench.domains.eeg.protocol",
    description=(
        "Head model: a three-shell sphere with a standard montage shipped with MNE and a volume source grid "
        "(offline), or the user's own MNE forward model. Simulation after Haufe & Ewald (2019): sources with "
        "AR(2) oscillators coupled in a chain, pink noise from 100 background sources, white sensor noise, SNR "
        "from band-limited Frobenius norms. Solvers: MNE, dSPM, sLORETA, eLORETA, LCMV, gamma-MAP, MxNE (MNE); "
        "Bayesian minimum norm and Champagne with posterior std (ours); an MLP deep ensemble trained on "
        "simulations. Metrics: peak-localisation and centre-of-gravity errors, spatial dispersion, EMD, detection "
        "AUC, active-set F1/Jaccard, map NMSE; credible-interval coverage before and after isotonic "
        "recalibration. ICA: FastICA, Picard and extended Infomax, ICASSO stability (Iq) and Amari distance to "
        "the true mixing. See src/trustbench/domains/eeg/README.md."
    ),
    metrics=METRICS_META,
    presets={
        "quick": {
            "tasks": [
                _sources(n_active=1, snr_db=6.0, **_QUICK_HEAD),
                _sources(n_active=2, extent=15.0, snr_db=0.0, **_QUICK_HEAD),
                _ica(scenario="nongaussian", n_sources=5, n_sensors=5, n_samples=3000),
                _ica(scenario="gaussian", n_gaussian=3, n_sources=5, n_sensors=5, n_samples=3000),
            ],
            "methods": _methods(n_train=2000, members=3, n_runs=5, max_epochs=40, gamma_tol=1e-4),
            "seeds": [0],
            "n_boot": 200,
        },
        "full": {
            "tasks": [
                *[_sources(n_active=k, extent=extent, snr_db=snr, n_test=100, n_calibration=100)
                  for k in (1, 2, 3) for extent in (0.0, 20.0) for snr in _FULL_SNR],
                _sources(montage="colin27_1020", n_active=2, snr_db=0.0, n_test=100, n_calibration=100),
                _sources(montage="biosemi32", n_active=2, snr_db=0.0, n_test=100, n_calibration=100),
                *[_ica(scenario=s, n_sources=8, n_sensors=8, n_samples=n)
                  for s in ("nongaussian", "pink", "nonstationary") for n in (500, 2000, 10_000)],
                *[_ica(scenario="gaussian", n_gaussian=g, n_sources=8, n_sensors=8, n_samples=10_000) for g in (1, 2, 4)],
                *[_ica(scenario="nongaussian", n_sources=8, n_sensors=8, n_samples=5000, snr=snr) for snr in (1.0, 3.0, 10.0)],
                *[_ica(scenario="pink", n_sources=8, n_sensors=8, n_samples=5000, beta=b) for b in (0.5, 1.0, 2.0)],
                *[_ica(scenario="overcomplete", n_sources=k, n_sensors=8, n_samples=5000) for k in (10, 16)],
            ],
            "methods": _methods(n_train=20_000, members=5, n_runs=20),
            "seeds": [0, 1, 2],
            "n_boot": 1000,
        },
    },
)
