"""The haemodynamics benchmark: do posterior estimators recover cardiac and arterial parameters with
calibrated uncertainty from pressure and PPG waveforms — under noise, model error and
non-identifiability — and how do they compare on sbibm's reference problems?"""

from __future__ import annotations

from trustbench.protocols.posterior import METRICS_META
from trustbench.types import Benchmark

__all__ = ["BENCHMARK", "ESTIMATORS"]

ESTIMATORS = ("npe", "cinn", "mdn", "ensemble", "abc", "sbi_npe")


def _hemo(**params) -> dict:
    return {"name": "hemodynamics/inversion", "params": params}


def _methods(num_simulations: int, flow: str | None = None, members: int | None = None, **train) -> list[dict]:
    """Every estimator with the same simulation budget (and training settings for the trained ones;
    ``flow`` for the two flow NPEs, ``members`` for the ensemble)."""
    out = []
    for name in ESTIMATORS:
        params = {"num_simulations": num_simulations}
        if name != "abc":
            params.update(train)
        if flow and name in ("npe", "sbi_npe"):
            params["flow"] = flow
        if members and name == "ensemble":
            params["members"] = members
        if name == "abc":
            params["quantile"] = 0.05 if num_simulations < 5000 else 0.01
        out.append({"name": name, "params": params})
    return out


_QUICK_TASK = {"n_observations": 2, "n_reference": 500, "n_calibration": 100}
_FULL_NOISE = (0.01, 0.03, 0.1)
_SBIBM_TASKS = [{"name": f"sbibm/{name}"} for name in ("two_moons", "gaussian_linear", "gaussian_mixture", "slcp")]

BENCHMARK = Benchmark(
    name="hemodynamics",
    question=(
        "Do posterior estimators (normalizing flows, invertible networks, mixture density networks, deep "
        "ensembles, ABC, the sbi package) recover cardiac and arterial parameters with calibrated "
        "uncertainty from pressure and PPG waveforms, under measurement noise, model error and "
        "non-identifiability?"
    ),
    protocol="posterior",
    description=(
        "Simulators: a cardiac inflow model driving 3- and 4-element Windkessels and a branched "
        "transmission-line model of the aorta and the arm (pressure at the aortic root and the radial artery, "
        "a PPG-like volume signal); 7 parameters (elastic and muscular PWV and diameters, heart rate, stroke "
        "volume, peripheral resistance). Tasks at several noise levels, trained on one simulator and tested on "
        "another (model error), and with uncalibrated pressure (gain × stroke volume is not identifiable: a ridge "
        "posterior); sbibm's two moons, Gaussian linear, Gaussian mixture and SLCP for comparison with the sbibm "
        "paper. Reference posteriors from the exact likelihood. Metrics: C2ST and MMD against the reference, "
        "SBC, coverage, TARP, NLL, RMSE, contraction. See src/trustbench/domains/hemodynamics/README.md."
    ),
    metrics=METRICS_META,
    presets={
        "quick": {
            "tasks": [
                {"name": "sbibm/two_moons", "params": {"n_observations": 2, "n_reference": 500}},
                _hemo(simulator="windkessel3", noise=0.02, **_QUICK_TASK),
                _hemo(simulator="windkessel3", test_simulator="wave", noise=0.02, **_QUICK_TASK),
                _hemo(simulator="windkessel3", uncalibrated=True, parameters=["hr", "sv", "r_periph"], noise=0.02,
                      **_QUICK_TASK),
            ],
            "methods": _methods(1000, flow="maf", members=3, max_epochs=30, learning_rate=2e-3, patience=5),
            "seeds": [0],
            "n_boot": 200,
        },
        "full": {
            "tasks": [
                *_SBIBM_TASKS,
                *[_hemo(simulator=sim, noise=noise, n_observations=10) for sim in ("windkessel3", "wave")
                  for noise in _FULL_NOISE],
                *[_hemo(simulator=sim, test_simulator=other, noise=noise, n_observations=10)
                  for sim, other in (("windkessel3", "wave"), ("wave", "windkessel3")) for noise in _FULL_NOISE],
                *[_hemo(simulator="wave", uncalibrated=True, parameters=["hr", "sv", "r_periph"], noise=noise,
                        n_observations=10) for noise in _FULL_NOISE],
            ],
            "methods": _methods(10_000),
            "seeds": [0, 1, 2],
            "n_boot": 1000,
        },
        # the sbibm-comparable table (Lueckmann et al. 2021): their four tasks, 10 observations, 10k simulations
        "sbibm": {"tasks": _SBIBM_TASKS, "methods": _methods(10_000), "seeds": [0], "n_boot": 1000},
    },
)
