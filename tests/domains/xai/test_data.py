"""XAI data generators: shapes, determinism, ground-truth masks, association with the target, suppressors."""

import numpy as np
import pytest

from trustbench.domains.xai import data as D

N_SE = 4.5  # two-sided bound in standard errors for quantities that are 0 in the population


def _all_generators():
    yield "2d", lambda n, seed: D.linear_suppressor_2d(n, seed=seed)
    yield "8x8", lambda n, seed: D.linear_image_8x8(n, seed=seed)
    yield "clinical", lambda n, seed: D.tabular_clinical(n, seed=seed)
    for sc in D.SCENARIOS:
        for bg in D.BACKGROUNDS:
            for size in D.SIZES:
                yield f"tris-{sc}-{bg}-{size}", (
                    lambda n, seed, sc=sc, bg=bg, size=size: D.xai_tris(
                        n, scenario=sc, background=bg, size=size, seed=seed
                    )
                )


GENERATORS = dict(_all_generators())


def _corr_with_y(X, y):
    """Pearson correlation of every column of X (n, ...) with y, and its standard error 1/sqrt(n)."""
    Xf = X.reshape(len(X), -1)
    Xc = Xf - Xf.mean(0)
    yc = y - y.mean()
    r = Xc.T @ yc / np.sqrt((Xc**2).sum(0) * (yc**2).sum())
    return r.reshape(X.shape[1:]), 1.0 / np.sqrt(len(y))


def _ols(X, y):
    """OLS of y on [1, X]: coefficients (without intercept) and their standard errors."""
    A = np.column_stack([np.ones(len(X)), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    s2 = resid @ resid / (len(y) - A.shape[1])
    cov = s2 * np.linalg.inv(A.T @ A)
    return coef[1:], np.sqrt(np.diag(cov))[1:], cov[1:, 1:]


# ------------------------------------------------------------------------------------ common


@pytest.mark.parametrize("name", list(GENERATORS))
def test_shapes_dtypes_determinism_and_balance(name):
    gen = GENERATORS[name]
    a, b, c = gen(51, 0), gen(51, 0), gen(51, 1)
    assert a.X.dtype == np.float64 and a.X.shape[0] == 51 and a.X.ndim in (2, 3)
    assert np.isfinite(a.X).all()
    assert a.y.dtype == np.int64 and a.y.shape == (51,) and set(np.unique(a.y)) <= {0, 1}
    for arr in (a.mask, a.suppressor):
        assert arr.dtype == bool and arr.shape == a.X.shape
    assert not (a.mask & a.suppressor).any()
    assert a.mask.reshape(51, -1).any(axis=1).all()  # every sample has something important
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.X, c.X)
    assert isinstance(a.meta, dict) and a.meta["n"] == 51
    if name != "clinical":  # exactly balanced classes
        assert abs(int(a.y.sum()) - 51 / 2) <= 0.5


def test_generator_accepted_as_seed():
    a = D.xai_tris(20, scenario="lin", seed=np.random.default_rng(3))
    b = D.xai_tris(20, scenario="lin", seed=np.random.default_rng(3))
    assert np.array_equal(a.X, b.X)


BAD = [
    (D.linear_suppressor_2d, {"n": 1}, "n"),
    (D.linear_suppressor_2d, {"n": 10, "seed": -1}, "seed"),
    (D.linear_suppressor_2d, {"n": 10, "signal_std": 0.0}, "signal_std"),
    (D.linear_suppressor_2d, {"n": 10, "distractor_std": -1.0}, "distractor_std"),
    (D.linear_suppressor_2d, {"n": 10, "correlation": 1.5}, "correlation"),
    (D.linear_suppressor_2d, {"n": 10, "correlation": float("nan")}, "correlation"),
    (D.linear_image_8x8, {"n": 10, "weights": (1.0, 2.0)}, "weights"),
    (D.linear_image_8x8, {"n": 10, "weights": (0.0, 0.0, 0.0)}, "weights"),
    (D.linear_image_8x8, {"n": 10, "weights": (0.5, -0.1, 0.5)}, r"weights\[1\]"),
    (D.linear_image_8x8, {"n": 10, "noise_sigma": -1.0}, "noise_sigma"),
    (D.xai_tris, {"n": 10, "scenario": "linear"}, "scenario"),
    (D.xai_tris, {"n": 10, "scenario": "lin", "background": "pink"}, "background"),
    (D.xai_tris, {"n": 10, "scenario": "lin", "size": 32}, "size"),
    (D.xai_tris, {"n": 10, "scenario": "lin", "alpha": 1.5}, "alpha"),
    (D.xai_tris, {"n": 10, "scenario": "lin", "alpha": -0.1}, "alpha"),
    (D.xai_tris, {"n": 10, "scenario": "lin", "smoothing_sigma": -2.0}, "smoothing_sigma"),
    (D.tabular_clinical, {"n": 10, "prevalence": 0.0}, "prevalence"),
    (D.tabular_clinical, {"n": 10, "prevalence": 1.0}, "prevalence"),
]


@pytest.mark.parametrize(("fn", "kwargs", "param"), BAD)
def test_bad_parameters_raise_naming_the_parameter(fn, kwargs, param):
    with pytest.raises(ValueError, match=param):
        fn(**kwargs)


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="n must be an integer"):
        D.xai_tris(10.5, scenario="lin")
    with pytest.raises(TypeError, match="alpha"):
        D.xai_tris(10, scenario="lin", alpha="high")
    with pytest.raises(ValueError, match="Did you mean 'rigid'"):
        D.xai_tris(10, scenario="rigd")


# ---------------------------------------------------------------------- 2-D analytic suppressor


def test_haufe_pattern_is_covariance_times_weights():
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(50, 3)), rng.normal(size=(3, 2))
    assert np.allclose(D.haufe_pattern(X, w), np.cov(X, rowvar=False) @ w)
    with pytest.raises(ValueError, match="w must have 3 rows"):
        D.haufe_pattern(X, np.ones(4))


def test_2d_masks_and_marginal_association():
    d = D.linear_suppressor_2d(20000, seed=1)
    assert (d.mask == [True, False]).all() and (d.suppressor == [False, True]).all()
    r, se = _corr_with_y(d.X, d.y)
    assert abs(r[1]) < N_SE * se  # the suppressor is independent of y
    assert r[0] > 0.5  # corr(z + d, y) = 1/sqrt(2) in the population
    assert abs(r[0] - 1 / np.sqrt(2)) < 0.02
    assert not D.linear_suppressor_2d(10, seed=0, correlation=0.0).suppressor.any()


def test_2d_exact_case_weights_give_suppressor_half_and_pattern_none():
    """x1 = z + d, x2 = d: least squares recovers w ~ (1, -1) exactly (no residual)."""
    d = D.linear_suppressor_2d(20000, seed=2)
    w, _, _ = _ols(d.X, d.y.astype(float))
    assert np.allclose(w / w[0], D.optimal_linear_weights_2d(), atol=1e-9)
    saliency = np.abs(w)
    assert saliency[1] / saliency.sum() == pytest.approx(0.5, abs=1e-9)
    A = D.haufe_pattern(d.X, w)
    se2 = d.X[:, 1].std() * d.y.std() / np.sqrt(len(d.y))  # SE of a sample covariance at zero covariance
    assert abs(A[1]) < N_SE * se2
    assert A[0] > 50 * se2


@pytest.mark.parametrize("c", [0.8, 0.5])
def test_2d_fitted_model_matches_closed_form_and_pattern_ignores_suppressor(c):
    """Saliency |w| gives the suppressor c / (1 + c) (one half at c = 1); the Haufe pattern gives it 0.

    Tolerances are standard errors from the OLS covariance (delta method) and, for the pattern,
    sd(x2) sd(y) / sqrt(n), the SE of a sample covariance of independent variables.
    """
    n = 20000
    d = D.linear_suppressor_2d(n, seed=3, correlation=c, signal_std=1.0, distractor_std=1.5)
    w, _, cov = _ols(d.X, d.y.astype(float))
    # direction w2 / w1 against the closed form -c
    g = np.array([-w[1] / w[0] ** 2, 1 / w[0]])
    assert abs(w[1] / w[0] - D.optimal_linear_weights_2d(correlation=c)[1]) < N_SE * np.sqrt(g @ cov @ g)
    # saliency share of the suppressor r = -w2 / (w1 - w2)
    share = abs(w[1]) / np.abs(w).sum()
    g = np.array([w[1], -w[0]]) / (w[0] - w[1]) ** 2
    se_share = np.sqrt(g @ cov @ g)
    assert abs(share - c / (1 + c)) < N_SE * se_share
    assert share > 20 * se_share  # clearly not zero: the model uses the suppressor
    # Haufe pattern of the least-squares model equals Cov(x, y): zero on the suppressor
    A = D.haufe_pattern(d.X, w)
    assert np.allclose(A, np.cov(d.X.T, d.y)[:2, 2], rtol=1e-8)
    assert abs(A[1]) < N_SE * d.X[:, 1].std() * d.y.std() / np.sqrt(n)
    # Cov(x1, y) = a1 Cov(z, y) = 2 a1 Var(y) = 0.5 in the population
    se1 = np.std((d.X[:, 0] - d.X[:, 0].mean()) * (d.y - d.y.mean())) / np.sqrt(n)
    assert abs(A[0] - 0.5) < N_SE * se1


# ----------------------------------------------------------------------------- linear 8x8


def test_8x8_masks_follow_the_patterns():
    d = D.linear_image_8x8(5, seed=0)
    a, dist = D.SIGNAL_PATTERN_8X8 != 0, D.DISTRACTOR_PATTERN_8X8 != 0
    assert (d.mask == a).all() and (d.suppressor == (dist & ~a)).all()
    assert a.sum() == 9 and d.suppressor[0].sum() == 9


def test_8x8_association_and_suppressor_use():
    n = 6000
    d = D.linear_image_8x8(n, seed=4)
    r, se = _corr_with_y(d.X, d.y)
    assert (np.abs(r[~d.mask[0]]) < N_SE * se).all()  # suppressor and background: no association
    assert (r[d.mask[0]] > 10 * se).all()
    # a least-squares model subtracts the suppressor block to cancel eta ...
    X = d.X.reshape(n, -1)
    w, _, cov = _ols(X, d.y.astype(float))
    sup = d.suppressor[0].ravel()
    assert w[sup].sum() < -N_SE * np.sqrt(cov[np.ix_(sup, sup)].sum())
    # ... while its Haufe pattern (= Cov(x, y)) is ~0 there
    A = D.haufe_pattern(X, w)
    se_cov = X.std(0) * d.y.std() / np.sqrt(n)
    assert (np.abs(A[sup]) < N_SE * se_cov[sup]).all()


def test_8x8_noise_has_unit_variance_and_chosen_smoothness():
    d = D.linear_image_8x8(8000, seed=5, weights=(0.0, 0.0, 1.0), noise_sigma=1.0)
    v = d.X.var(axis=0)
    assert np.abs(v - 1).max() < 5 * np.sqrt(2 / 8000)  # exact per-pixel normalisation, borders too
    r = np.corrcoef(d.X[:, 3, 3], d.X[:, 3, 4])[0, 1]
    assert r == pytest.approx(np.exp(-1 / 4), abs=0.03)  # Gaussian kernel: exp(-1 / (4 sigma^2))


# ----------------------------------------------------------------------------------- XAI-TRIS


@pytest.mark.parametrize("scenario", ["lin", "mult", "xor"])
def test_tris_64_mask_is_upscaled_8x8_mask(scenario):
    small = D.xai_tris(40, scenario=scenario, size=8, seed=6)
    big = D.xai_tris(40, scenario=scenario, size=64, seed=6)
    assert np.array_equal(small.y, big.y)
    assert np.array_equal(big.mask, D.upscale_mask(small.mask, 8))
    assert not big.suppressor.any()


def test_tris_fixed_masks_are_the_class_tetromino():
    d = D.xai_tris(30, scenario="lin", size=8, seed=7)
    t = np.zeros((8, 8), bool)
    t[1:4, 1:3] = D.TETROMINOES["T"]
    l_ = np.zeros((8, 8), bool)
    l_[4:7, 5:7] = D.TETROMINOES["L"]
    for m, y in zip(d.mask, d.y):
        assert np.array_equal(m, l_ if y else t)
    x = D.xai_tris(30, scenario="xor", size=8, seed=7)
    assert (x.mask == (t | l_)).all()


@pytest.mark.parametrize("size", [8, 64])
def test_tris_rigid_masks_vary_lie_inside_and_are_rotated_class_tetrominoes(size):
    d = D.xai_tris(200, scenario="rigid", size=size, seed=8)
    scale = 1 if size == 8 else 4
    assert (d.mask.sum(axis=(1, 2)) == 4 * scale**2).all()  # never clipped at the border
    assert len({m.tobytes() for m in d.mask}) > 50
    for m, y, off in zip(d.mask, d.y, d.meta["offset"]):
        rows, cols = np.nonzero(m)
        assert (rows.min(), cols.min()) == tuple(off)
        crop = m[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        shapes = [np.rot90(D.upscale_mask(D.TETROMINOES["TL"[y]], scale), k) for k in range(4)]
        assert any(s.shape == crop.shape and np.array_equal(s, crop) for s in shapes)
    # at alpha = 1 the image is the (unsmoothed at 8x8) pattern itself
    if size == 8:
        e = D.xai_tris(50, scenario="rigid", size=8, alpha=1.0, seed=9)
        assert np.array_equal(e.X != 0, e.mask)


@pytest.mark.parametrize("size", [8, 64])
def test_tris_xor_label_rule(size):
    d = D.xai_tris(400, scenario="xor", size=size, alpha=1.0, seed=10)
    fixed = D._fixed_images(size)
    s_t = np.sign(d.X[:, fixed[0]].mean(1))
    s_l = np.sign(d.X[:, fixed[1]].mean(1))
    assert np.array_equal(d.y, (s_t * s_l < 0).astype(int))
    assert set(map(tuple, np.column_stack([s_t, s_l]).astype(int))) == {(1, 1), (-1, -1), (1, -1), (-1, 1)}


@pytest.mark.parametrize("size", [8, 64])
def test_tris_backgrounds_unit_variance_and_neighbour_correlation(size):
    n = 3000 if size == 8 else 600
    white = D.xai_tris(n, scenario="lin", background="white", size=size, alpha=0.0, seed=11).X
    corr = D.xai_tris(n, scenario="lin", background="corr", size=size, alpha=0.0, seed=11).X
    for X in (white, corr):
        assert abs(X.var(axis=0).mean() - 1) < 0.05
    rw = np.corrcoef(white[:, :, :-1].ravel(), white[:, :, 1:].ravel())[0, 1]
    rc = np.corrcoef(corr[:, :, :-1].ravel(), corr[:, :, 1:].ravel())[0, 1]
    assert abs(rw) < N_SE / np.sqrt(white[:, :, :-1].size)
    assert rc > 0.9  # sigma = 3 (8x8) or 10 (64x64) pixels
    # every pixel of a CORR background has unit variance (exact normalisation, border included)
    if size == 8:
        assert np.abs(corr.var(axis=0) - 1).max() < 5 * np.sqrt(2 / n)


def _class_statistic(d):
    """A scalar per image that carries the scenario's class information."""
    X, size, sc = d.X, d.meta["size"], d.meta["scenario"]
    fixed = D._fixed_images(size)
    mean_t, mean_l = X[:, fixed[0]].mean(1), X[:, fixed[1]].mean(1)
    if sc == "lin":
        return mean_t - mean_l
    if sc == "mult":  # the pattern dims the background: variance, not mean
        return (X[:, fixed[0]] ** 2).mean(1) - (X[:, fixed[1]] ** 2).mean(1)
    if sc == "xor":
        return mean_t * mean_l
    best = []  # rigid: best match of any placement of T minus that of L
    for name in "TL":
        m = np.full(len(X), -np.inf)
        for k in range(4):
            rr, cc = np.nonzero(np.rot90(D.TETROMINOES[name], k))
            for i in range(size - rr.max()):
                for j in range(size - cc.max()):
                    m = np.maximum(m, X[:, rr + i, cc + j].mean(1))
        best.append(m)
    return best[0] - best[1]


def _t_between_classes(f, y):
    a, b = f[y == 1], f[y == 0]
    return (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


CASES = [(sc, 8) for sc in D.SCENARIOS] + [("lin", 64), ("mult", 64), ("xor", 64)]


@pytest.mark.parametrize(("scenario", "size"), CASES)
def test_tris_alpha_zero_has_no_class_information_default_alpha_has(scenario, size):
    n = 1000
    for bg in D.BACKGROUNDS:
        null = D.xai_tris(n, scenario=scenario, background=bg, size=size, alpha=0.0, seed=12)
        assert abs(_t_between_classes(_class_statistic(null), null.y)) < N_SE
    d = D.xai_tris(n, scenario=scenario, background="white", size=size, seed=12)
    assert abs(_t_between_classes(_class_statistic(d), d.y)) > 15


@pytest.mark.parametrize("background", D.BACKGROUNDS)
def test_tris_lin_default_alpha_is_learnable_by_a_linear_model(background):
    """Held-out accuracy of least squares on 8x8 LIN: ~0.5 at alpha = 0, ~Bayes at the default alpha.

    WHITE: the classes are N(+-alpha s/2, (1 - alpha)^2 I) around their midpoint, so the Bayes
    accuracy is Phi(d' / 2) with d' = alpha ||s_T - s_L|| / (1 - alpha), s the patterns scaled to
    ||s|| = 8 (unit energy per pixel): d' = 0.18 * 8 sqrt(2) / 0.82. CORR: the smooth background is
    nearly singular, so a linear model cancels it almost perfectly.
    """
    from scipy.stats import norm

    n = 3000
    for alpha in (0.0, None):
        d = D.xai_tris(n, scenario="lin", background=background, size=8, alpha=alpha, seed=13)
        X = np.column_stack([np.ones(n), d.X.reshape(n, -1)])
        w, *_ = np.linalg.lstsq(X[: n // 2], d.y[: n // 2].astype(float), rcond=None)
        score = X[n // 2 :] @ w
        acc = ((score > np.median(score)).astype(int) == d.y[n // 2 :]).mean()
        if alpha == 0.0:
            assert abs(acc - 0.5) < N_SE * 0.5 / np.sqrt(n // 2)
        elif background == "white":
            a = d.meta["alpha"]
            bayes = norm.cdf(a * 8 * np.sqrt(2) / (1 - a) / 2)
            assert bayes == pytest.approx(0.894, abs=0.002)
            assert bayes - 0.04 < acc < bayes + N_SE * np.sqrt(bayes * (1 - bayes) / (n // 2))
        else:
            assert acc > 0.95


def test_tris_lin_association_outside_patterns_is_zero():
    n = 4000
    d = D.xai_tris(n, scenario="lin", size=8, seed=14)
    union = d.mask.any(axis=0)
    r, se = _corr_with_y(d.X, d.y)
    assert (np.abs(r[~union]) < N_SE * se).all()
    assert (np.abs(r[union]) > 10 * se).all()


# ----------------------------------------------------------------------------- clinical


def test_clinical_roles_masks_and_association():
    n = 20000
    d = D.tabular_clinical(n, seed=15)
    names, roles = d.meta["feature_names"], d.meta["roles"]
    assert d.X.shape == (n, len(names)) and set(roles) == set(names)
    important = np.array([roles[k] in ("causal", "confounded") for k in names])
    assert (d.mask == important).all()
    assert (d.suppressor == np.array([roles[k] == "suppressor" for k in names])).all()
    assert {k for k in names if roles[k] == "confounded"} == {"grip_strength", "bun"}
    # prevalence as asked, within sampling error
    assert abs(d.y.mean() - 0.3) < N_SE * np.sqrt(0.3 * 0.7 / n)
    r, se = _corr_with_y(d.X, d.y)
    for j, k in enumerate(names):
        if important[j]:
            assert abs(r[j]) > 10 * se, k
        else:
            assert abs(r[j]) < N_SE * se, k
    # the suppressors are used by a linear model, the irrelevant feature is not
    w, se_w, _ = _ols(d.X, d.y.astype(float))
    t = dict(zip(names, w / se_w))
    assert abs(t["lab_qc_deviation"]) > 8 and abs(t["arm_circumference"]) > 8
    assert abs(t["height"]) < N_SE
    # sign: subtract the assay offset (creatinine up -> risk up, qc offset up -> risk down)
    assert t["creatinine"] > 0 > t["lab_qc_deviation"]
    assert t["sbp"] < 0 and t["arm_circumference"] > 0


def test_clinical_prevalence_parameter():
    d = D.tabular_clinical(20000, seed=16, prevalence=0.1)
    assert abs(d.y.mean() - 0.1) < N_SE * np.sqrt(0.1 * 0.9 / 20000)
