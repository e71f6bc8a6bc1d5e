"""Bad input raises ValueError/TypeError whose message names the parameter, before any work."""

import numpy as np
import pytest

from trustbench.metrics import (
    EvalContext,
    Summary,
    bootstrap_ci,
    coverage_curve,
    crps_gaussian,
    crps_mixture,
    crps_samples,
    crps_student_t,
    ence,
    gaussian_kl,
    interval_score,
    interval_width,
    paired_bootstrap_ci,
    pinball_loss,
    pit_calibration_error,
    pit_histogram,
    rmse,
    score,
    wasserstein_1d,
    wasserstein_quantiles,
)
from trustbench.types import ClassProbs, Gaussian

Y = np.array([0.1, 0.5, -0.3, 1.2])
M = np.array([0.0, 0.4, -0.1, 1.0])
S = np.ones(4)

CASES = [
    # (label, call, error type, words the message must contain)
    ("nan", lambda: rmse([0.1, np.nan, 0.2, 0.3], M), ValueError, ["y", "finite"]),
    ("inf", lambda: crps_gaussian(Y, [0.0, np.inf, 0.0, 0.0], S), ValueError, ["mean", "finite"]),
    ("length", lambda: rmse(Y, M[:3]), ValueError, ["mean", "4", "3"]),
    ("empty", lambda: rmse([], []), ValueError, ["y", "at least 1"]),
    ("2-D y", lambda: rmse(Y[:, None], M), ValueError, ["y", "1-D"]),
    ("negative std", lambda: crps_gaussian(Y, M, [1.0, -1.0, 1.0, 1.0]), ValueError, ["std", "> 0"]),
    ("zero std_q", lambda: gaussian_kl(Y, S, M, [1.0, 0.0, 1.0, 1.0]), ValueError, ["std_q", "> 0"]),
    ("string", lambda: rmse("abcd", M), TypeError, ["y", "array of numbers"]),
    ("object", lambda: rmse(Y, [object()] * 4), TypeError, ["mean"]),
    ("level 0", lambda: pinball_loss(Y, M, 0.0), ValueError, ["level", "between 0 and 1"]),
    ("level 1.5", lambda: pinball_loss(Y, M, 1.5), ValueError, ["level", "1.5"]),
    ("level str", lambda: pinball_loss(Y, M, "0.5"), TypeError, ["level"]),
    ("levels shape", lambda: pinball_loss(Y, np.zeros((4, 3)), [0.2, 0.5]), ValueError, ["level", "column"]),
    ("alpha", lambda: interval_score(Y, M - 1, M + 1, 1.0), ValueError, ["alpha"]),
    ("crossed", lambda: interval_width(M + 1, M - 1), ValueError, ["lower", "upper"]),
    ("df <= 1", lambda: crps_student_t(Y, M, S, 1.0), ValueError, ["df", "> 1"]),
    ("df length", lambda: crps_student_t(Y, M, S, [3.0, 3.0]), ValueError, ["df"]),
    ("samples 1-D", lambda: crps_samples(Y, M), ValueError, ["samples", "2-D"]),
    ("samples rows", lambda: crps_samples(Y, np.zeros((3, 5))), ValueError, ["samples", "row"]),
    ("fair m=1", lambda: crps_samples(Y, np.zeros((4, 1)), fair=True), ValueError, ["samples", "fair"]),
    ("weights", lambda: crps_mixture(Y, np.zeros((4, 2)), np.ones((4, 2)), [1.0, -1.0]), ValueError, ["weights"]),
    ("weights shape", lambda: crps_mixture(Y, np.zeros((4, 2)), np.ones((4, 2)), [1.0, 1.0, 1.0]), ValueError,
     ["weights", "shape"]),
    ("scale shape", lambda: crps_mixture(Y, np.zeros((4, 2)), np.ones((4, 3))), ValueError, ["scale", "shape"]),
    ("pit > 1", lambda: pit_calibration_error([0.2, 1.2]), ValueError, ["pit", "[0, 1]"]),
    ("pit nan", lambda: coverage_curve([0.2, np.nan]), ValueError, ["pit", "finite"]),
    ("coverage levels", lambda: coverage_curve([0.2, 0.4], [0.0, 0.5]), ValueError, ["levels", "between 0 and 1"]),
    ("bins", lambda: pit_histogram([0.2, 0.4], bins=0), ValueError, ["bins", ">= 1"]),
    ("bins type", lambda: pit_histogram([0.2, 0.4], bins=2.5), TypeError, ["bins", "integer"]),
    ("n_bins", lambda: ence(Y, M, S, n_bins=5), ValueError, ["n_bins", "4"]),
    ("w1 empty", lambda: wasserstein_1d([], [1.0]), ValueError, ["samples_a"]),
    ("w1 2-D", lambda: wasserstein_1d([1.0], [[1.0]]), ValueError, ["samples_b", "1-D"]),
    ("quantile shapes", lambda: wasserstein_quantiles(np.zeros((4, 3)), np.zeros((4, 2))), ValueError, ["q_a", "q_b"]),
    ("n_boot < 0", lambda: bootstrap_ci(rmse, Y, M, n_boot=-1), ValueError, ["n_boot", ">= 0"]),
    ("n_boot float", lambda: bootstrap_ci(rmse, Y, M, n_boot=10.0), TypeError, ["n_boot", "integer"]),
    ("ci level", lambda: bootstrap_ci(rmse, Y, M, level=95), ValueError, ["level"]),
    ("seed", lambda: bootstrap_ci(rmse, Y, M, seed="0"), TypeError, ["seed"]),
    ("metric", lambda: bootstrap_ci("rmse", Y, M), TypeError, ["metric", "callable"]),
    ("no arrays", lambda: bootstrap_ci(rmse), TypeError, ["arrays"]),
    ("array lengths", lambda: bootstrap_ci(rmse, Y, M[:2]), ValueError, ["arrays", "same length"]),
    ("empty arrays", lambda: bootstrap_ci(rmse, [], []), ValueError, ["arrays", "at least one row"]),
    ("paired rows", lambda: paired_bootstrap_ci(rmse, (Y, M), (Y[:2], M[:2])), ValueError, ["arrays_a", "arrays_b"]),
    ("paired type", lambda: paired_bootstrap_ci(rmse, Y, (Y, M)), TypeError, ["arrays_a"]),
    ("ctx y", lambda: EvalContext(Y[:3], Gaussian(M, S)), ValueError, ["y", "4"]),
    ("ctx pred", lambda: EvalContext(Y, ClassProbs(np.full((4, 2), 0.5))), TypeError, ["pred", "ClassProbs"]),
    ("ctx truth", lambda: EvalContext(Y, Gaussian(M, S), truth=Gaussian(M[:2], S[:2])), ValueError, ["truth"]),
    ("ctx reference", lambda: EvalContext(Y, Gaussian(M, S), reference=M), TypeError, ["reference", "Summary"]),
    ("summary std", lambda: Summary(M, -S, np.zeros((4, 200))), ValueError, ["std"]),
    ("score ctx", lambda: score(Y, [], n_boot=10, seed=0), TypeError, ["ctx", "EvalContext"]),
    ("score spec", lambda: score(EvalContext(Y, Gaussian(M, S)), [rmse], n_boot=10, seed=0), TypeError, ["specs"]),
    ("score name", lambda: score(EvalContext(Y, Gaussian(M, S)), ["rmsee"], n_boot=10, seed=0), ValueError, ["rmse"]),
    ("score n_boot", lambda: score(EvalContext(Y, Gaussian(M, S)), [], n_boot=-2, seed=0), ValueError, ["n_boot"]),
]


@pytest.mark.parametrize(("label", "call", "error", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_parameter(label, call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{label}: {word!r} not in {str(info.value)!r}"
