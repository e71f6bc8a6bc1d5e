"""The posterior protocol: simulation-based inference judged against reference posteriors and truth.

Cells per (task, seed): one **reference** cell (the task's fixed observations with their true
parameters and reference posterior samples, made once; they travel to the other cells as its
payload) and one cell per estimator. An estimator cell

1. simulates ``num_simulations`` training pairs (θ ~ prior, x = task.simulate(θ)) from a stream
   that depends only on (task, seed), so every estimator with the same budget sees the very same
   simulations; non-finite simulations are dropped and counted (a warning; an error above
   ``max_invalid_share``);
2. fits the estimator and draws posterior samples for every fixed observation: C2ST and MMD against
   the reference samples (sbibm, Lueckmann et al. 2021), normalised RMSE of the posterior mean,
   posterior z-score and contraction (Schad et al. 2021), NLL of the true parameters (density
   estimators), and the share of known modes that carry mass (multimodal tasks);
3. checks calibration on ``n_calibration`` fresh simulations from ``task.simulate_test`` (the same
   simulator, or another one when the task studies model error): SBC ranks with the simultaneous
   ECDF band (Talts et al. 2018; Säilynoja et al. 2022), expected coverage of central credible
   intervals and of HPD regions, and TARP (Lemos et al. 2023).

Every record is a mean with a percentile-bootstrap CI over observations or calibration simulations.
Artifacts feed the report: pair plots against the reference and truth, SBC ECDFs, coverage and
TARP curves, and a GUM-style summary per parameter (JCGM 101:2008).
"""

from __future__ import annotations

import inspect
import time
import warnings
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from trustbench.protocols.predictive import _entry_field, as_spec, make_task
from trustbench.runner.cells import Cell, CellResult, Spec

__all__ = ["grid", "run_cell", "simulate_training", "check_task", "METRICS_META", "REFERENCE", "COVERAGE_LEVELS"]

PROTOCOL = "posterior"
REFERENCE = "reference"
COVERAGE_LEVELS = np.round(np.arange(0.05, 1.0, 0.05), 2)
N_PAIR_DRAWS = 400
"""Draws per method kept for the report's pair plots."""
DEFAULTS = {"n_calibration": 200, "n_calibration_draws": 100, "n_posterior_draws": 1000, "max_invalid_share": 0.2}
"""Task attributes the protocol reads, with their defaults when a task does not set them."""

METRICS_META = {
    "c2st": {"higher_is_better": False, "ideal": 0.5,
             "description": "classifier two-sample test accuracy against the reference posterior samples (0.5: indistinguishable; sbibm)"},
    "mmd": {"higher_is_better": False, "ideal": 0.0,
            "description": "squared maximum mean discrepancy to the reference posterior samples (Gaussian kernel, median bandwidth)"},
    "nrmse": {"higher_is_better": False, "ideal": 0.0,
              "description": "RMSE of the posterior mean to the true parameters, in prior standard deviations, averaged over parameters"},
    "posterior_zscore": {"higher_is_better": False, "ideal": 0.0,
                         "description": "|posterior mean - truth| / posterior sd, averaged over parameters"},
    "posterior_contraction": {"higher_is_better": True, "ideal": 1.0,
                              "description": "1 - posterior variance / prior variance, averaged over parameters"},
    "posterior_nll": {"higher_is_better": False,
            "description": "-log q(true parameters | x) of the estimator's density"},
    "mode_coverage": {"higher_is_better": True, "ideal": 1.0,
                      "description": "share of the posterior's known modes that carry at least 5 % of the draws"},
    "sbc_outside_band": {"higher_is_better": False, "ideal": 0.0,
                         "description": "share of parameters whose SBC rank ECDF leaves the simultaneous 95 % band (Säilynoja et al. 2022)"},
    "interval_coverage_error": {"higher_is_better": False, "ideal": 0.0,
                       "description": "mean |empirical - nominal| coverage of central credible intervals over levels 0.05..0.95 and parameters"},
    "interval_coverage_90": {"higher_is_better": None, "ideal": 0.9,
                    "description": "empirical coverage of the central 90 % credible intervals, averaged over parameters"},
    "hpd_coverage_error": {"higher_is_better": False, "ideal": 0.0,
                           "description": "mean |empirical - nominal| coverage of the joint highest-density regions (density estimators)"},
    "tarp_atc": {"higher_is_better": None, "ideal": 0.0,
                 "description": "TARP area-to-curve statistic (Lemos et al. 2023): > 0 underconfident, < 0 overconfident"},
    "calibration_nrmse": {"higher_is_better": False, "ideal": 0.0,
                          "description": "RMSE of the posterior mean over the calibration simulations, in prior sds, averaged over parameters"},
    "reference_rhat": {"higher_is_better": False, "ideal": 1.0,
                       "description": "largest split R-hat of the reference MCMC (only where the reference comes from MCMC)"},
    "reference_ess": {"higher_is_better": True,
                      "description": "smallest effective sample size of the reference MCMC"},
    "training_seconds": {"higher_is_better": False, "ideal": 0.0,
                         "description": "wall time of fitting the estimator"},
    "invalid_simulations": {"higher_is_better": False, "ideal": 0.0,
                            "description": "training simulations dropped because they were not finite"},
}


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------


def check_task(task: Any) -> Any:
    """Raise TypeError unless ``task`` has what the posterior protocol needs; returns it."""
    missing = [a for a in ("name", "prior", "parameter_names", "simulate", "observations") if not hasattr(task, a)]
    if missing:
        raise TypeError(
            f"task {getattr(task, 'name', task)!r} is not a posterior task: it lacks {', '.join(missing)} "
            f"(see trustbench.posterior.base.PosteriorTask, or build one with trustbench.tasks.from_simulator)."
        )
    if task.prior.dim != len(task.parameter_names):
        raise ValueError(f"task {task.name!r}: the prior has {task.prior.dim} dimensions but parameter_names has "
                         f"{len(task.parameter_names)} names.")
    return task


def grid(suite: str, benchmark: str, entry: Any, seeds: Iterable[int]) -> list[Cell]:
    """A reference cell per (task, seed) and a cell per (task, estimator, seed) depending on it."""
    n_boot = int(_entry_field(entry, "n_boot", 1000))
    methods = [as_spec(m) for m in _entry_field(entry, "methods", ())]
    cells: list[Cell] = []
    for task_spec in (as_spec(t) for t in _entry_field(entry, "tasks", ())):
        task = check_task(make_task(task_spec))
        common = dict(suite=suite, benchmark=benchmark, protocol=PROTOCOL, task=task_spec, n_boot=n_boot,
                      task_label=getattr(task, "label", task.name))
        for seed in seeds:
            ref = Cell(method=Spec(REFERENCE), seed=int(seed), **common)
            cells.append(ref)
            cells += [Cell(method=m, seed=int(seed), depends_on=(ref.key,), **common)
                      for m in methods if m.name != REFERENCE]
    return cells


def _rng(seed: int, stream: str) -> np.random.Generator:
    """A generator that depends only on (seed, stream): the same simulations in every cell of a task."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _setting(task: Any, name: str) -> Any:
    return getattr(task, name, DEFAULTS[name])


# --------------------------------------------------------------------------------------------
# simulation with bad-output handling
# --------------------------------------------------------------------------------------------


def simulate_training(task: Any, n: int, rng: np.random.Generator, *, test: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` prior draws and their simulations, non-finite simulations dropped.

    Returns (theta, x, warnings). Raises ValueError when the simulator returns the wrong number of
    rows, or when more than ``task.max_invalid_share`` of the simulations are not finite.
    """
    theta = np.asarray(task.prior.sample(n, rng), dtype=float)
    simulate = task.simulate_test if test and hasattr(task, "simulate_test") else task.simulate
    x = np.asarray(simulate(theta, rng), dtype=float)
    if x.ndim < 2 or len(x) != len(theta):
        raise ValueError(f"task {task.name!r}: the simulator must return one row per parameter vector; "
                         f"got x of shape {x.shape} for theta of shape {theta.shape}.")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    notes = []
    if bad.any():
        share, limit = bad.mean(), float(_setting(task, "max_invalid_share"))
        if share > limit:
            raise ValueError(f"task {task.name!r}: {int(bad.sum())} of {n} simulations ({share:.0%}) are not finite, "
                             f"more than max_invalid_share={limit:g}; check the simulator and the prior's range.")
        notes.append(f"{int(bad.sum())} of {n} {'calibration' if test else 'training'} simulations were not finite "
                     f"and were dropped ({share:.1%}).")
        warnings.warn(notes[-1], RuntimeWarning, stacklevel=2)
        theta, x = theta[~bad], x[~bad]
    flat = x.reshape(len(x), -1)
    constant = int((flat.std(axis=0) == 0).sum()) if len(flat) > 1 else 0
    if constant and not test:
        notes.append(f"{constant} of {flat.shape[1]} data features are constant across the training simulations "
                     f"(no information; estimators must not divide by their zero spread).")
    return theta, x, notes


def _observation_notes(observations: list[dict[str, Any]]) -> list[str]:
    flat = [np.asarray(o["x"], dtype=float).ravel() for o in observations]
    notes = [f"observation {i} has non-finite values." for i, f in enumerate(flat) if not np.isfinite(f).all()]
    notes += [f"observation {i} has zero variance (a flat signal): it carries no shape information."
              for i, f in enumerate(flat) if f.size > 1 and np.isfinite(f).all() and f.std() == 0]
    return notes


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------


def _mean_record(base: dict, metric: str, values: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    from trustbench.metrics.bootstrap import bootstrap_ci, mean_metric

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {**base, "metric": metric, "value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}
    ci = bootstrap_ci(mean_metric(lambda a: a), v, n_boot=n_boot, seed=seed)
    return {**base, "metric": metric, "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "n": ci.n}


def _stat_record(base: dict, metric: str, fn, rows: int, n_boot: int, seed: int) -> dict[str, Any]:
    """A statistic of the whole calibration set, ``fn(index array)``, with a bootstrap CI over its rows."""
    from trustbench.metrics.bootstrap import bootstrap_ci

    ci = bootstrap_ci(fn, np.arange(rows), n_boot=n_boot, seed=seed)
    return {**base, "metric": metric, "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "n": ci.n}


def _plain_record(base: dict, metric: str, value: float, n: int) -> dict[str, Any]:
    return {**base, "metric": metric, "value": float(value), "ci_low": np.nan, "ci_high": np.nan, "n": int(n)}


def observation_scores(draws: np.ndarray, observations: list[dict[str, Any]], prior_sd: np.ndarray,
                       *, log_prob_true: np.ndarray | None = None, modes: list | None = None,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Per-observation scores of posterior draws ``(m, L, d)``: one value per observation and metric."""
    from trustbench.metrics import posterior as P

    m = len(observations)
    out: dict[str, np.ndarray] = {}
    refs = [o.get("reference") for o in observations]
    if all(r is not None for r in refs):
        out["c2st"] = np.array([P.c2st(np.asarray(r, dtype=float), draws[i], seed=seed) for i, r in enumerate(refs)])
        out["mmd"] = np.array([P.mmd(np.asarray(r, dtype=float), draws[i]) for i, r in enumerate(refs)])
    truths = [o.get("theta") for o in observations]
    if all(t is not None for t in truths):
        theta = np.asarray(truths, dtype=float)
        mean, sd = draws.mean(axis=1), draws.std(axis=1, ddof=1)
        out["nrmse"] = np.sqrt((((mean - theta) / prior_sd) ** 2).mean(axis=1))  # RMS over parameters
        out["posterior_zscore"] = (np.abs(mean - theta) / sd).mean(axis=1)
    out["posterior_contraction"] = (1 - draws.var(axis=1, ddof=1) / prior_sd**2).mean(axis=1)
    if log_prob_true is not None:
        out["posterior_nll"] = -np.asarray(log_prob_true, dtype=float)
    if modes is not None and all(k is not None for k in modes):
        out["mode_coverage"] = np.array([P.mode_coverage(draws[i], np.asarray(modes[i], dtype=float)) for i in range(m)])
    return out


def calibration_records(base: dict, theta: np.ndarray, draws: np.ndarray, prior_sd: np.ndarray, n_boot: int, seed: int,
                        *, log_prob_true: np.ndarray | None = None, log_prob_draws: np.ndarray | None = None
                        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Calibration records and artifacts from calibration parameters ``(n, d)`` and draws ``(n, L, d)``."""
    from trustbench.metrics import posterior as P

    n, n_draws = draws.shape[:2]
    ranks = P.sbc_ranks(theta, draws)
    outside = np.asarray(P.sbc_ecdf_outside(ranks, n_draws), dtype=bool)
    z, lower, upper = P.sbc_ecdf_band(n, n_draws)
    levels = COVERAGE_LEVELS
    # per-row membership in the central intervals of P.expected_coverage (its mean over rows), so that
    # the coverage statistics bootstrap over rows without recomputing quantiles
    lo = np.quantile(draws, (1 - levels) / 2, axis=1)  # (levels, n, d)
    hi = np.quantile(draws, (1 + levels) / 2, axis=1)
    inside = ((theta >= lo) & (theta <= hi)).transpose(1, 0, 2)  # (n, levels, d)
    coverage = inside.mean(axis=0)
    i90 = int(np.argmin(np.abs(levels - 0.9)))
    err = (draws.mean(axis=1) - theta) / prior_sd
    records = [
        _plain_record(base, "sbc_outside_band", outside.mean(), n),
        _stat_record(base, "interval_coverage_error", lambda idx: float(np.abs(inside[idx].mean(axis=0) - levels[:, None]).mean()),
                     n, n_boot, seed),
        _stat_record(base, "interval_coverage_90", lambda idx: float(inside[idx, i90].mean()), n, n_boot, seed),
        _stat_record(base, "tarp_atc", lambda idx: float(P.tarp_atc(draws[idx], theta[idx], seed=seed)), n,
                     min(n_boot, 200), seed),
        _stat_record(base, "calibration_nrmse", lambda idx: float(np.sqrt((err[idx] ** 2).mean(axis=0)).mean()),
                     n, n_boot, seed),
    ]
    alpha, ecp = P.tarp_coverage(draws, theta, seed=seed)
    artifacts = {
        "posterior_sbc": {"n_draws": int(n_draws), "ranks": ranks.astype(int).tolist(),
                          "band": {"z": np.asarray(z).tolist(), "lower": np.asarray(lower).tolist(),
                                   "upper": np.asarray(upper).tolist()},
                          "outside": outside.tolist()},
        "posterior_coverage": {"levels": levels.tolist(), "observed": np.round(coverage, 4).tolist(),
                               "tarp": {"alpha": np.round(alpha, 4).tolist(), "ecp": np.round(ecp, 4).tolist()}},
    }
    if log_prob_true is not None and log_prob_draws is not None:
        # a draw or truth of zero density (float rounding at the support's edge) is less dense than any other
        floor = lambda a: np.nan_to_num(np.asarray(a, dtype=float), nan=-1e300, neginf=-1e300)  # noqa: E731
        log_prob_true, log_prob_draws = floor(log_prob_true), floor(log_prob_draws)
        # per-row membership in the HPD regions of P.hpd_coverage (its mean over rows): θ is inside the
        # α-region when its density exceeds the (1 - α) quantile of the draws' densities
        inside_hpd = (log_prob_true[None, :] > np.quantile(log_prob_draws, 1 - levels, axis=1)).T  # (n, levels)
        records.append(_stat_record(base, "hpd_coverage_error",
                                    lambda idx: float(np.abs(inside_hpd[idx].mean(axis=0) - levels).mean()), n, n_boot, seed))
        artifacts["posterior_coverage"]["hpd"] = np.round(inside_hpd.mean(axis=0), 4).tolist()
    return records, artifacts


def gum_rows(draws: np.ndarray, names: tuple[str, ...], theta: np.ndarray | None,
             reference: np.ndarray | None) -> list[dict[str, Any]]:
    """GUM-style summary per parameter of one observation's draws (JCGM 101:2008, 7.7)."""
    from trustbench.metrics.posterior import gum_summary

    mine = gum_summary(draws, level=0.95, names=list(names)).rows()
    ref = gum_summary(reference, level=0.95, names=list(names)).rows() if reference is not None else None
    rows = []
    for j, row in enumerate(mine):
        row = {"parameter": row.pop("name"), **row, "truth": None if theta is None else float(theta[j])}
        if ref is not None:
            row["reference"] = {k: v for k, v in ref[j].items() if k != "name"}
        rows.append(row)
    return rows


def _num(v: Any) -> Any:
    if isinstance(v, (tuple, list, np.ndarray)):
        return [float(t) for t in np.ravel(v)]
    return float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v


# --------------------------------------------------------------------------------------------
# running a cell
# --------------------------------------------------------------------------------------------


def _prior_sd(task: Any, seed: int) -> np.ndarray:
    return np.asarray(task.prior.sample(20_000, _rng(seed, "prior-moments")), dtype=float).std(axis=0, ddof=1)


def _thin(a: np.ndarray | None, k: int, seed: int) -> list | None:
    if a is None:
        return None
    a = np.asarray(a, dtype=float)
    idx = np.random.default_rng(seed).choice(len(a), size=min(k, len(a)), replace=False)
    return np.round(a[np.sort(idx)], 5).tolist()


def _reference_cell(cell: Cell, task: Any, base: dict[str, Any]) -> CellResult:
    start = time.perf_counter()
    observations = []
    for o in task.observations(cell.seed):
        ref = None if o.reference is None else np.asarray(o.reference, dtype=float)
        if ref is not None and (ref.ndim != 2 or ref.shape[1] != task.prior.dim):
            raise ValueError(f"task {task.name!r}: reference samples must be (n, {task.prior.dim}); got {ref.shape}.")
        observations.append({"x": np.asarray(o.x, dtype=float),
                             "theta": None if o.theta is None else np.asarray(o.theta, dtype=float),
                             "reference": ref, "meta": dict(o.meta or {})})
    if not observations:
        raise ValueError(f"task {task.name!r} gave no observations.")
    shapes = {o["x"].shape for o in observations}
    if len(shapes) != 1:
        raise ValueError(f"task {task.name!r}: observations have different shapes {sorted(shapes)}.")
    records: list[dict[str, Any]] = []
    prior_sd = _prior_sd(task, cell.seed)
    refs = [o["reference"] for o in observations]
    if all(r is not None for r in refs):
        k = min(len(r) for r in refs)
        draws = np.stack([r[:k] for r in refs])
        scores = observation_scores(draws, [{**o, "reference": None} for o in observations], prior_sd, seed=cell.seed)
        records += [_mean_record(base, m, v, cell.n_boot, cell.seed) for m, v in scores.items()]
    for key, metric in (("rhat_max", "reference_rhat"), ("ess_min", "reference_ess")):
        vals = [o["meta"].get(key) for o in observations]
        if all(v is not None for v in vals):
            records.append(_mean_record(base, metric, np.asarray(vals, dtype=float), cell.n_boot, cell.seed))
    artifacts = {"posterior_reference": {
        "parameter_names": list(task.parameter_names),
        "observations": [{k: _num(v) for k, v in o["meta"].items()} for o in observations],
        "notes": _observation_notes(observations)}}
    published = getattr(task, "published_c2st", None)
    if published:  # published C2ST for the same task (sbibm's), to compare levels in the report
        artifacts["posterior_reference"]["published_c2st"] = {
            "source": str(getattr(task, "published_source", "")),
            "by_simulations": {str(n): list(v) for n, v in sorted(published.items())}}
    return CellResult(key=cell.key, records=records, artifacts=artifacts, payload={"observations": observations},
                      seconds=time.perf_counter() - start)


def run_cell(cell: Cell, inputs: dict[str, Any] | None = None) -> CellResult:
    from trustbench.registry import METHODS

    start = time.perf_counter()
    task = check_task(make_task(cell.task))
    label = REFERENCE if cell.method.name == REFERENCE else cell.method.label()
    base = {"benchmark": cell.benchmark, "task": cell.task_name, "method": label, "perturbation": "none",
            "severity": 0.0, "seed": cell.seed}
    if cell.method.name == REFERENCE:
        return _reference_cell(cell, task, base)
    observations: list[dict[str, Any]] = []
    for key in cell.depends_on:
        observations += ((inputs or {}).get(key) or {}).get("observations", [])
    if not observations:
        raise ValueError(f"cell {cell.key}: the reference cell's observations are missing.")
    estimator = METHODS.create(cell.method.name, **cell.method.params)
    n_sim = getattr(estimator, "num_simulations", None)
    if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim < 2:
        raise ValueError(f"method {label!r}: num_simulations must be an int >= 2; got {n_sim!r}.")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theta, x, notes = simulate_training(task, int(n_sim), _rng(cell.seed, "training"))
        t0 = time.perf_counter()
        estimator.fit(theta, x, prior=task.prior, seed=cell.seed)
        training_seconds = time.perf_counter() - t0
        prior_sd = _prior_sd(task, cell.seed)
        records, draws = _observation_records(cell, task, estimator, observations, prior_sd, base)
        cal_records, artifacts, cal_notes = _calibration_part(cell, task, estimator, prior_sd, base)
    records += cal_records
    notes += cal_notes
    notes += [str(w.message) for w in caught if str(w.message) not in notes]
    records.append(_plain_record(base, "training_seconds", training_seconds, len(theta)))
    records.append(_plain_record(base, "invalid_simulations", int(n_sim) - len(theta), int(n_sim)))
    first = observations[0]
    artifacts["posterior_pairs"] = {
        "parameter_names": list(task.parameter_names),
        "truth": None if first.get("theta") is None else np.asarray(first["theta"]).tolist(),
        "draws": _thin(draws[0], N_PAIR_DRAWS, cell.seed),
        "reference": _thin(first.get("reference"), N_PAIR_DRAWS, cell.seed),
    }
    artifacts["posterior_gum"] = {"level": 0.95, "rows": gum_rows(draws[0], tuple(task.parameter_names),
                                                                    first.get("theta"), first.get("reference"))}
    artifacts["posterior_task"] = {"sweep": dict(getattr(task, "sweep", {}) or {}), "notes": notes,
                                   "num_simulations": int(n_sim), "n_used": len(theta)}
    return CellResult(key=cell.key, records=records, artifacts=artifacts, seconds=time.perf_counter() - start)


def _observation_records(cell: Cell, task: Any, estimator: Any, observations: list[dict[str, Any]],
                         prior_sd: np.ndarray, base: dict[str, Any]) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Records of the fixed observations (against their references and true parameters) and the draws."""
    x_obs = np.stack([o["x"] for o in observations])
    n_draws = max([len(o["reference"]) for o in observations if o.get("reference") is not None],
                  default=int(_setting(task, "n_posterior_draws")))
    draws = np.asarray(estimator.sample(x_obs, n_draws, _rng(cell.seed, "posterior-draws")), dtype=float)
    truths = [o.get("theta") for o in observations]
    lp_true = None
    if callable(getattr(estimator, "log_prob", None)) and all(t is not None for t in truths):
        lp_true = np.asarray(estimator.log_prob(np.asarray(truths, dtype=float)[:, None, :], x_obs))[:, 0]
    modes = [task.modes(o["x"]) for o in observations] if hasattr(task, "modes") else None
    scores = observation_scores(draws, observations, prior_sd, log_prob_true=lp_true, modes=modes, seed=cell.seed)
    return [_mean_record(base, m, v, cell.n_boot, cell.seed) for m, v in scores.items()], draws


def _calibration_part(cell: Cell, task: Any, estimator: Any, prior_sd: np.ndarray, base: dict[str, Any]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Calibration records and artifacts on fresh simulations from the task's test simulator."""
    theta, x, notes = simulate_training(task, int(_setting(task, "n_calibration")), _rng(cell.seed, "calibration"),
                                        test=True)
    draws = np.asarray(estimator.sample(x, int(_setting(task, "n_calibration_draws")),
                                        _rng(cell.seed, "calibration-draws")), dtype=float)
    lp_true = lp_draws = None
    if callable(getattr(estimator, "log_prob", None)):  # HPD membership compares densities at one x:
        kw = {"normalize": False} if "normalize" in inspect.signature(estimator.log_prob).parameters else {}
        lp_true = np.asarray(estimator.log_prob(theta[:, None, :], x, **kw))[:, 0]  # normalising cancels
        lp_draws = np.asarray(estimator.log_prob(draws, x, **kw))
    records, artifacts = calibration_records(base, theta, draws, prior_sd, cell.n_boot, cell.seed,
                                             log_prob_true=lp_true, log_prob_draws=lp_draws)
    return records, artifacts, notes
