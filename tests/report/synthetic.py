"""Synthetic store frames with realistic content, for the report tests (no store, no fitting).

Each task is a 1-D heteroscedastic regression with a known Gaussian truth N(f(x), s(x)^2). Each
method is a Gaussian predictive with its own bias and scale factor (the reference is almost the
truth), so its metrics, PIT histogram, coverage curve and bands are what a real run would give:
over-confident methods have U-shaped PITs and coverage below the diagonal, and so on. Metrics are
computed per test point in closed form and get percentile-bootstrap CIs, as the real protocol does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.9
Z90 = stats.norm.ppf(0.95)
COVERAGE_LEVELS = np.round(np.arange(0.05, 1.0, 0.05), 2)

# method -> (bias amplitude, scale factor); the reference is close to the truth
PROFILES = {
    "reference": (0.01, 1.0),
    "gp": (0.04, 1.05),
    "deep_ensemble": (0.06, 0.92),
    "mc_dropout": (0.10, 0.70),
    "laplace": (0.08, 1.25),
    "split_conformal": (0.07, 1.15),
    "cqr": (0.05, 1.05),
    "bbb": (0.12, 1.40),
    "mlp": (0.15, 0.55),
    "nuts": (0.02, 1.02),
}

METRIC_SPECS = {
    "crps": {"higher_is_better": False, "ideal": 0.0, "description": "continuous ranked probability score"},
    "nll": {"higher_is_better": False, "ideal": None, "description": "negative log predictive density"},
    "rmse": {"higher_is_better": False, "ideal": 0.0, "description": "root mean squared error of the mean"},
    "coverage_90": {"higher_is_better": None, "ideal": 0.9, "description": "coverage of the 90% interval"},
    "width_90": {"higher_is_better": False, "ideal": None, "description": "mean width of the 90% interval"},
    "pit_calibration_error": {"higher_is_better": False, "ideal": 0.0, "description": "PIT calibration error"},
    "truth_w1": {"higher_is_better": False, "ideal": 0.0, "description": "W1 distance to the truth"},
    "reference_w1": {"higher_is_better": False, "ideal": 0.0, "description": "W1 distance to the reference"},
    "reference_kl": {"higher_is_better": False, "ideal": 0.0, "description": "KL to the reference"},
    "sharpness": {"higher_is_better": False, "ideal": None, "description": "mean predictive std"},
}

_U = (np.arange(64) + 0.5) / 64  # quadrature in probability for W1 between Gaussians
_ZU = stats.norm.ppf(_U)


def truth(x):
    return np.sin(1.3 * x) + 0.3 * x, 0.15 + 0.12 * np.abs(x)


def predictive(method, x):
    bias, scale = PROFILES.get(method, (0.1, 1.0))
    mu, sd = truth(x)
    return mu + bias * np.cos(2.0 * x) + bias, scale * sd


def _w1(m1, s1, m2, s2):
    return np.abs((m1 - m2)[:, None] + (s1 - s2)[:, None] * _ZU[None, :]).mean(axis=1)


def _scores(y, mu, sd, tm, ts, rm, rs):
    """Per-point scores (rows) for the metrics that are means over points."""
    z = (y - mu) / sd
    crps = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    nll = 0.5 * z**2 + np.log(sd) + 0.5 * np.log(2 * np.pi)
    kl = np.log(rs / sd) + (sd**2 + (mu - rm) ** 2) / (2 * rs**2) - 0.5
    return {
        "crps": crps, "nll": nll, "rmse": (y - mu) ** 2, "coverage_90": (np.abs(z) <= Z90).astype(float),
        "width_90": 2 * Z90 * sd, "truth_w1": _w1(mu, sd, tm, ts), "reference_w1": _w1(mu, sd, rm, rs),
        "reference_kl": kl, "sharpness": sd,
    }


def _pit_error(pit):
    """Mean absolute gap between the PIT's empirical CDF and the uniform CDF (rows = resamples)."""
    grid = np.linspace(0, 1, 21)
    return np.abs((pit[..., None] <= grid).mean(axis=-2) - grid).mean(axis=-1)


def _metric_rows(y, mu, sd, tm, ts, rm, rs, rng, n_boot=200):
    scores = _scores(y, mu, sd, tm, ts, rm, rs)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    out = []
    for name, s in scores.items():
        value, boot = s.mean(), s[idx].mean(axis=1)
        if name == "rmse":
            value, boot = np.sqrt(value), np.sqrt(boot)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        out.append((name, value, lo, hi))
    pit = stats.norm.cdf((y - mu) / sd)
    lo, hi = np.quantile(_pit_error(pit[idx]), [0.025, 0.975])
    out.append(("pit_calibration_error", _pit_error(pit), lo, hi))
    return out


def make_frames(benchmarks=None, methods=tuple(PROFILES), seeds=(0, 1),
                perturbations=None, failures=(), n_test=150, n_train=120, suite="quick"):
    """(records, cells, artifacts) frames as ``Store.records() / .cells() / .artifacts()`` return them.

    ``benchmarks``: name -> list of task names. ``failures``: (benchmark, task, method, seed, error)
    tuples; those cells are stored as errors with no records and no artifacts.
    """
    benchmarks = benchmarks or {"regression": ["regression/sine", "regression/gap"]}
    perturbations = {"gaussian_noise": [0.1, 0.3, 0.5]} if perturbations is None else perturbations
    failed = {f[:4]: f[4] for f in failures}
    records, cells, artifacts = [], [], []
    grid = np.linspace(-3.5, 3.5, 120)
    for bench, tasks in benchmarks.items():
        for ti, task in enumerate(tasks):
            for seed in seeds:
                rng = np.random.default_rng([ti, seed])
                x_train = rng.uniform(-3, 3, n_train)
                y_train = rng.normal(*truth(x_train))
                x = np.sort(rng.uniform(-3, 3, n_test))
                y = rng.normal(*truth(x))
                sets = [("none", 0.0, x)] + [
                    (p, s, x + s * rng.standard_normal(n_test)) for p, sevs in perturbations.items() for s in sevs]
                for method in methods:
                    key = f"{bench}|{task}|{method}|{seed}"
                    cell = {"cell_key": key, "benchmark": bench, "task": task, "method": method, "seed": seed,
                            "status": "ok", "error": None, "seconds": 0.5 + 0.1 * len(method)}
                    if (bench, task, method, seed) in failed:
                        cells.append({**cell, "status": "error", "error": failed[bench, task, method, seed]})
                        continue
                    cells.append(cell)
                    mrng = np.random.default_rng([ti, seed, len(method)])
                    for pert, sev, xs in sets:
                        mu, sd = predictive(method, xs)
                        tm, ts = truth(x)
                        rm, rs = predictive("reference", xs)
                        for metric, value, lo, hi in _metric_rows(y, mu, sd, tm, ts, rm, rs, mrng):
                            records.append({
                                "benchmark": bench, "task": task, "method": method, "perturbation": pert,
                                "severity": sev, "seed": seed, "metric": metric, "value": float(value),
                                "ci_low": float(lo), "ci_high": float(hi), "n": n_test, "suite": suite,
                                "run_id": "run-2024a", "cell_key": key, "seconds": cell["seconds"],
                                "version": "0.1.0", "created_at": pd.Timestamp("2024-05-01 12:00", tz="UTC")
                                + pd.Timedelta(seconds=len(records))})
                    art = _artifacts(method, x, y, grid, x_train, y_train)
                    artifacts += [{"cell_key": key, "benchmark": bench, "task": task, "method": method,
                                   "seed": seed, "name": k, "value": v} for k, v in art.items()]
    return pd.DataFrame(records), pd.DataFrame(cells), pd.DataFrame(artifacts)


def _band(mu, sd):
    return {"mean": mu.tolist(), "lo": (mu - Z90 * sd).tolist(), "hi": (mu + Z90 * sd).tolist(), "level": LEVEL}


def _artifacts(method, x, y, grid, x_train, y_train):
    mu, sd = predictive(method, x)
    pit = stats.norm.cdf((y - mu) / sd)
    hist, edges = np.histogram(pit, bins=20, range=(0, 1))
    gm, gs = predictive(method, grid)
    rows = np.linspace(0, len(x) - 1, 5).round().astype(int)
    out = {
        "pit": {"hist": hist.tolist(), "edges": edges.tolist()},
        "coverage": {"levels": COVERAGE_LEVELS.tolist(),
                     "observed": [float((np.abs(pit - 0.5) <= lv / 2).mean()) for lv in COVERAGE_LEVELS]},
        "bands": {"x": grid.tolist(), **_band(gm, gs), "truth": _band(*truth(grid))},
        "gum": {"k": 2.0, "level": 0.95, "rows": [
            {"x": [float(x[i])], "estimate": float(mu[i]), "u": float(sd[i]), "U": float(2 * sd[i]),
             "low": float(mu[i] - 1.96 * sd[i]), "high": float(mu[i] + 1.96 * sd[i])} for i in rows]},
    }
    if method == "reference":
        out["data"] = {"x_train": x_train.tolist(), "y_train": y_train.tolist()}
    if method == "nuts":
        out["diagnostics"] = {"rhat_max": 1.002, "ess_bulk_min": 812.0, "divergences": 0.0}
    return out
