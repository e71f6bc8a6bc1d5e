"""The regression benchmark: how close do deep-learning uncertainty methods come to a Bayesian reference?"""

from __future__ import annotations

from trustbench.types import Benchmark

__all__ = ["BENCHMARK"]

_METHODS = ["deep_ensemble", "mc_dropout", "laplace", "bbb", "gp", "split_conformal", "cqr", "gum_lpu"]

_PERTURBATIONS = [
    {"name": "gaussian_noise", "severities": [0.1, 0.25, 0.5]},
    {"name": "covariate_shift", "severities": [0.5, 1.0, 2.0]},
    {"name": "missing_mcar", "severities": [0.1, 0.3, 0.5]},
    {"name": "outliers", "severities": [0.05, 0.1, 0.2]},
]

# quick: NUTS runs 200 + 200 iterations per chain (2 chains; R-hat stays below 1.05 on these tasks, see
# tests/domains/regression) and the Monte Carlo predictives keep 64 components: scoring a mixture costs
# time in proportion to its components (and up to 64 Gaussian components CRPS has a closed form).
# full: 1000 + 1000 iterations, 4 chains, 128 components (a 400-component reference took 7 s per
# evaluation set for its quantiles alone at n_test = 500, 13 sets per cell).
_QUICK_MCMC = {"num_warmup": 200, "num_samples": 200, "n_predictive": 64}
_FULL_MCMC = {"num_warmup": 1000, "num_samples": 1000, "num_chains": 4, "n_predictive": 128}

BENCHMARK = Benchmark(
    name="regression",
    question=(
        "How close do deep-learning uncertainty methods come to a reference Bayesian treatment "
        "(exact conjugate posterior or NUTS on the right model) and to the true predictive "
        "distribution, on low-dimensional regression problems where both can be computed?"
    ),
    protocol="predictive",
    description=(
        "Seven low-dimensional regression problems: a cubic polynomial, a heteroscedastic sine, the "
        "'in-between' gap problem, Student-t noise, an exponential-decay measurement model (with the "
        "GUM's LPU and Monte Carlo evaluations), errors-in-variables, and the real diabetes data. "
        "Every simulated task knows its true predictive distribution; every task has a reference "
        "Bayesian method. See src/trustbench/domains/regression/README.md."
    ),
    presets={
        "quick": {
            "tasks": [
                {"name": "regression/polynomial", "params": {"n_train": 80, "n_test": 100}},
                {"name": "regression/gap", "params": {"n_train": 80, "n_test": 100, "reference_params": _QUICK_MCMC}},
                {"name": "regression/exp_decay",
                 "params": {"n_train": 80, "n_test": 100, "reference_params": _QUICK_MCMC}},
                {"name": "regression/diabetes", "params": {"n_train": 200, "n_test": 100}},
            ],
            "methods": [*_METHODS, {"name": "gum_mc", "params": {"n_draws": 64}}],
            "perturbations": _PERTURBATIONS,
            "seeds": [0],
            "n_boot": 200,
        },
        "full": {
            "tasks": [
                {"name": "regression/polynomial", "params": {"n_train": 100, "n_test": 500}},
                {"name": "regression/hetero_sine",
                 "params": {"n_train": 200, "n_test": 500, "reference_params": _FULL_MCMC}},
                {"name": "regression/gap", "params": {"n_train": 100, "n_test": 500, "reference_params": _FULL_MCMC}},
                {"name": "regression/heavy_tail",
                 "params": {"n_train": 200, "n_test": 500, "reference_params": _FULL_MCMC}},
                {"name": "regression/exp_decay",
                 "params": {"n_train": 100, "n_test": 500, "reference_params": _FULL_MCMC}},
                {"name": "regression/errors_in_variables",
                 "params": {"n_train": 100, "n_test": 500, "reference_params": _FULL_MCMC}},
                {"name": "regression/diabetes", "params": {"n_train": 300, "n_test": 142}},
            ],
            "methods": [*_METHODS, {"name": "gum_mc", "params": {"n_draws": 128}}],
            "perturbations": _PERTURBATIONS,
            "seeds": [0, 1, 2],
            "n_boot": 1000,
        },
    },
)
