"""The synthetic ICU: contract of the cohorts, plausibility of the series, exactness of the truths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from trustbench.domains.icu import synthetic as syn
from trustbench.domains.icu.cohort import Cohort
from trustbench.domains.icu.synthetic import ENDPOINTS, SITES, Site, simulate_icu

# Concept names of ricu / YAIB (the columns of the YAIB demo cohorts' dyn tables).
RICU_NAMES = {
    "alb", "alp", "alt", "ast", "be", "bicar", "bili", "bili_dir", "bnd", "bun", "ca", "cai", "ck",
    "ckmb", "cl", "crea", "crp", "dbp", "fgn", "fio2", "glu", "hgb", "hr", "inr_pt", "k", "lact",
    "lymph", "map", "mch", "mchc", "mcv", "methb", "mg", "na", "neut", "o2sat", "pco2", "ph", "phos",
    "plt", "po2", "ptt", "resp", "sbp", "temp", "tnt", "urine", "wbc",
}  # fmt: skip
LABS = ["glu", "crea", "bun", "k", "na", "lact", "wbc", "hgb", "plt", "ph", "bicar"]


@pytest.fixture(scope="module")
def icu():
    """One large site-A simulation shared by the statistical tests."""
    return simulate_icu(12_000, hours=48, seed=11)


@pytest.fixture(scope="module")
def two_sites():
    return simulate_icu(3000, hours=48, sites=("A", "B"), seed=3)


def _z(observed: float, expected: float, var: float) -> float:
    return (observed - expected) / np.sqrt(var)


def _hosmer_lemeshow_p(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Chi-square test of binned label counts against KNOWN probabilities (df = bins)."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    obs = np.bincount(idx, y, bins)
    exp = np.bincount(idx, p, bins)
    var = np.bincount(idx, p * (1 - p), bins)
    return float(stats.chi2.sf(np.sum((obs - exp) ** 2 / var), bins))


# ---------------------------------------------------------------- contract


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_cohort_matches_the_contract(two_sites, endpoint):
    c = two_sites.cohort(endpoint, site="B")
    assert isinstance(c, Cohort) and c.name == f"synthetic/{endpoint}" and c.site == "B"
    assert list(c.dyn.columns[:2]) == ["stay_id", "time"] and c.dyn["stay_id"].dtype == np.int64
    assert c.dyn["time"].dtype == np.float64
    assert all(c.dyn[v].dtype == np.float64 for v in c.variables)
    assert list(c.sta.columns) == ["stay_id", "age", "sex", "height", "weight", "site", "treatment"]
    assert set(c.sta["sex"]) == {"Male", "Female"} and set(c.sta["site"]) == {"B"}
    assert len(c) == 3000 and c.sta["stay_id"].is_monotonic_increasing
    assert set(c.dyn["stay_id"]) == set(c.sta["stay_id"]) == set(c.outc["stay_id"])
    # sorted by (stay_id, time)
    assert (c.dyn[["stay_id", "time"]].diff().iloc[1:].pipe(lambda d: (d.stay_id > 0) | (d.time > 0))).all()
    assert len(c.truth) == len(c.outc)
    if endpoint == "aki":
        assert c.hourly and list(c.outc.columns) == ["stay_id", "time", "label"]
        assert c.outc["time"].dtype == np.float64 and c.dyn["time"].max() == 47.0
        order = c.outc[["stay_id", "time"]].to_numpy()
        assert (np.lexsort(order.T[::-1]) == np.arange(len(order))).all()
    else:
        assert not c.hourly and list(c.outc.columns) == ["stay_id", "label"]
        assert c.dyn["time"].max() == 23.0 and c.outc["stay_id"].is_unique
    expected_truth = {"kidney_function": ["mu_true"], "effect": ["p_true", "p0", "p1", "ite"]}
    assert list(c.truth.columns) == expected_truth.get(endpoint, ["p_true"])
    assert c.kind == ("regression" if endpoint == "kidney_function" else "binary")
    # subset keeps the truth aligned
    sub = c.subset(c.stays[:10])
    assert len(sub.truth) == len(sub.outc) and set(sub.outc["stay_id"]) <= set(c.stays[:10])


def test_pooled_cohort_and_unique_ids(two_sites):
    c = two_sites.cohort("mortality")
    assert c.site == "A+B" and len(c) == 6000 and c.sta["stay_id"].is_unique
    assert set(two_sites.cohort("aki", site="A").stays).isdisjoint(two_sites.cohort("aki", site="B").stays)


def test_variables_are_ricu_names_with_hourly_times(icu):
    c = icu.cohort("aki")
    assert len(c.variables) >= 15 and set(c.variables) <= RICU_NAMES
    assert len(c.variables) == 20
    assert np.array_equal(np.unique(c.dyn["time"]), np.arange(48.0))
    assert (c.dyn.groupby("stay_id").size() == 48).all()


# ---------------------------------------------------------------- plausibility


def test_physiological_ranges(icu):
    d = icu.dyn
    ranges = {"hr": (30, 200), "sbp": (60, 230), "dbp": (25, 140), "map": (35, 160), "resp": (5, 50),
              "o2sat": (70, 100), "temp": (34, 41), "fio2": (21, 100), "glu": (40, 600),
              "crea": (0.2, 12), "bun": (2, 150), "k": (2.5, 7), "na": (115, 165), "lact": (0.3, 20),
              "wbc": (0.5, 80), "hgb": (4, 18), "plt": (5, 1000), "ph": (6.8, 7.7), "bicar": (5, 45),
              "urine": (0, 2000)}  # fmt: skip
    for var, (lo, hi) in ranges.items():
        x = d[var].dropna().to_numpy()
        assert np.mean((x >= lo) & (x <= hi)) > 0.99, var
    # medians close to those of real ICU cohorts (MIMIC demo: hr 85, sbp 115, crea 1.1, lact 2.1)
    med = d.median()
    assert 75 < med["hr"] < 95 and 105 < med["sbp"] < 130 and 0.7 < med["crea"] < 1.6
    assert 1.2 < med["lact"] < 3 and 36.5 < med["temp"] < 37.3 and 136 < med["na"] < 143
    both = d[["sbp", "dbp", "map"]].dropna()
    err = both["map"] - (both["sbp"] + 2 * both["dbp"]) / 3
    assert np.quantile(np.abs(err), 0.99) < 5.0
    assert (both["dbp"] < both["sbp"]).all()


def test_correlations_have_physiological_signs(icu):
    r = icu.dyn.drop(columns=["stay_id", "time"]).corr()
    positive = [("hr", "lact"), ("hr", "resp"), ("crea", "bun"), ("wbc", "temp"), ("sbp", "map"),
                ("bicar", "ph"), ("k", "crea")]
    negative = [("hr", "sbp"), ("ph", "lact"), ("map", "lact"), ("o2sat", "fio2"), ("urine", "crea")]
    for a, b in positive:
        assert r.loc[a, b] > 0.1, (a, b)
    for a, b in negative:
        assert r.loc[a, b] < -0.1, (a, b)


def test_sicker_stays_are_measured_more_often(icu):
    severity = icu.latent["severity"][:, :48].mean(axis=1)
    counts = icu.dyn[LABS].notna().groupby(icu.dyn["stay_id"]).sum().sum(axis=1).to_numpy()
    rho = stats.spearmanr(severity, counts).statistic
    assert rho > 0.2
    q1, q3 = np.quantile(severity, [0.25, 0.75])
    assert counts[severity > q3].mean() > 1.3 * counts[severity < q1].mean()


# ---------------------------------------------------------------- known probabilities


@pytest.mark.parametrize("endpoint", ["mortality", "delirium", "effect"])
def test_stay_labels_follow_p_true(icu, endpoint):
    c = icu.cohort(endpoint)
    y, p = c.y, c.truth["p_true"].to_numpy()
    assert 0.03 < p.mean() < 0.5
    assert abs(_z(y.sum(), p.sum(), np.sum(p * (1 - p)))) < 4
    assert _hosmer_lemeshow_p(y, p) > 1e-3
    # p_true varies (a predictor has something to find) and is no constant
    assert p.std() > 0.05


def test_a_miscalibrated_probability_is_detected(icu):
    """The calibration test has power: the true p shrunk towards its mean fails it."""
    c = icu.cohort("mortality")
    p = c.truth["p_true"].to_numpy()
    shrunk = 0.5 * p + 0.5 * p.mean()
    assert _hosmer_lemeshow_p(c.y, shrunk) < 1e-3


def test_demographic_groups_change_the_risks(icu):
    c = icu.cohort("mortality")
    p, sta = c.truth["p_true"].to_numpy(), c.sta
    male = (sta["sex"] == "Male").to_numpy()
    old, young = (sta["age"] >= 75).to_numpy(), (sta["age"] < 45).to_numpy()
    assert p[male].mean() > p[~male].mean() + 0.01
    assert p[old].mean() > 1.5 * p[young].mean()
    d = icu.cohort("delirium").truth["p_true"].to_numpy()
    assert d[old].mean() > 1.5 * d[young].mean()


def test_aki_rows_labels_and_probabilities(icu):
    c = icu.cohort("aki")
    onset = icu.latent["aki_onset"]
    hazard = icu.latent["aki_hazard"]
    stay = c.outc["stay_id"].to_numpy() - 1
    t = c.outc["time"].to_numpy().astype(int)
    # one row per hour until the onset (rows from the onset on dropped)
    assert np.array_equal(np.bincount(stay, minlength=len(c)), np.minimum(onset, 48))
    label = (onset[stay] > t) & (onset[stay] <= t + 6)
    assert np.array_equal(c.y, label.astype(float))
    # p_true = 1 - prod_{s=t+1}^{t+6} P(no onset at s), from the hazards
    surv = np.ones(len(t))
    for k in range(1, 7):
        surv *= np.exp(-hazard[stay, t + k])
    assert np.allclose(c.truth["p_true"], 1 - surv, rtol=1e-10, atol=1e-14)
    # the labels follow p_true: on rows every 6 h the windows do not overlap, so label - p_true is a
    # martingale difference sequence with variance sum p (1 - p)
    keep = t % 6 == 0
    y, p = c.y[keep], c.truth["p_true"].to_numpy()[keep]
    assert abs(_z(y.sum(), p.sum(), np.sum(p * (1 - p)))) < 4
    assert _hosmer_lemeshow_p(y, p) > 1e-3
    assert 0.1 < (onset < 48).mean() < 0.45


def test_aki_onsets_are_kdigo_consistent():
    """Oliguria (< 0.5 mL/kg/h) exactly from the onset on; the creatinine criteria never fire."""
    icu = simulate_icu(1500, sites=(Site("full", missing_rate=0.0),), seed=5)
    c = icu.cohort("aki")
    weight = c.sta.set_index("stay_id")["weight"]
    d = c.dyn[["stay_id", "time", "urine", "crea"]].copy()
    d["rate"] = d["urine"] / d["stay_id"].map(weight)
    last_row = c.outc.groupby("stay_id")["time"].max()
    onset = (last_row + 1).where(last_row < 47, np.inf)  # onset hour from the labels alone
    d["after"] = d["time"] >= d["stay_id"].map(onset)
    rate = d.dropna(subset=["rate"])
    assert (rate.loc[rate["after"], "rate"] < 0.5).all() and (rate.loc[~rate["after"], "rate"] >= 0.5).all()
    assert rate["after"].sum() > 100
    # stays with an onset and >= 6 h of follow-up meet the KDIGO urine criterion (6 h < 0.5 mL/kg/h)
    followed = onset[onset <= 42].index
    oliguric_hours = rate[rate["after"]].groupby("stay_id").size()
    assert (oliguric_hours.reindex(followed, fill_value=0) >= 3).mean() > 0.95  # ~80 % of hours recorded
    crea = d.dropna(subset=["crea"]).groupby("stay_id")["crea"]
    assert (crea.max() - crea.min()).max() < 0.3
    assert (crea.max() / crea.min()).max() < 1.5
    # and the kidney latent drives the onset: stays with AKI have higher creatinine on admission
    first = crea.first()
    has = first.index.isin(onset[np.isfinite(onset)].index)
    assert first[has].median() > first[~has].median()


def test_kidney_function_mu_true_is_the_conditional_mean(icu):
    c = icu.cohort("kidney_function")
    y, mu = c.y, c.truth["mu_true"].to_numpy()
    assert np.array_equal(y, icu.latent["creatinine"][:, 48])
    resid = y - mu
    assert abs(resid.mean() / (resid.std() / np.sqrt(len(y)))) < 4
    # no bias in any decile of mu_true (the mean is conditional, not just marginal)
    bins = np.quantile(mu, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(bins, mu, side="right") - 1, 0, 9)
    for b in range(10):
        r = resid[idx == b]
        assert abs(r.mean() / (r.std() / np.sqrt(len(r)))) < 4, b
    # and mu_true is informative beyond the marginal mean
    assert np.mean(resid**2) < 0.2 * np.var(y)


def test_kidney_function_mu_true_against_monte_carlo_continuations():
    """Re-run the latent AR(1) from hour 23 many times; the mean creatinine at hour 48 is mu_true."""
    icu = simulate_icu(30, seed=2)
    lat, mu_true = icu.latent, icu.cohort("kidney_function").truth["mu_true"].to_numpy()
    rng = np.random.default_rng(0)
    for i in (0, 7, 19):
        mu = lat["mu"][i]
        dev = np.tile(np.array([lat[k][i, 23] for k in syn.LATENTS]) - mu, (200_000, 1))
        for _ in range(25):
            dev = dev @ syn._A.T + rng.standard_normal(dev.shape) * syn._SIGMA
        b = lat["crea_baseline"][i]
        w = min(0.2, np.arcsinh(0.145 / b))
        noise = np.clip(rng.normal(0, 0.125 * w, len(dev)), -0.25 * w, 0.25 * w)
        draws = b * np.exp(np.clip(0.15 * (mu[1] + dev[:, 1]), -0.75 * w, 0.75 * w) + noise)
        assert abs(draws.mean() - mu_true[i]) < 4 * draws.std() / np.sqrt(len(draws)), i


def test_closed_form_clipped_lognormal_mean_against_quadrature():
    m, s, lo, hi, a = np.array([0.3, -1.0]), np.array([0.7, 0.4]), np.array([-0.5, -0.8]), np.array([0.6, 2.0]), 0.8
    got = syn._expect_exp_clip(a, m, s, lo, hi)
    for k in range(2):
        ref = integrate.quad(lambda z: np.exp(a * np.clip(z, lo[k], hi[k])) * stats.norm.pdf(z, m[k], s[k]),
                             m[k] - 12 * s[k], m[k] + 12 * s[k], points=[lo[k], hi[k]], epsabs=1e-13)[0]
        assert np.isclose(got[k], ref, rtol=1e-8)


def test_forecast_matches_iterating_the_var():
    power, cov = syn._forecast(25)
    assert np.allclose(power, np.linalg.matrix_power(syn._A, 25))
    ref = sum(np.linalg.matrix_power(syn._A, j) @ np.diag(syn._SIGMA**2) @ np.linalg.matrix_power(syn._A, j).T
              for j in range(25))
    assert np.allclose(cov, ref)


def test_effect_is_confounded_and_ite_is_the_causal_effect(icu):
    c = icu.cohort("effect")
    y, tr = c.y, c.sta["treatment"].to_numpy()
    p0, p1, ite, p = (c.truth[k].to_numpy() for k in ("p0", "p1", "ite", "p_true"))
    assert np.allclose(ite, p1 - p0) and np.allclose(p, np.where(tr == 1, p1, p0))
    assert np.array_equal(c.outc["label"], icu.cohort("mortality").outc["label"])
    ate = ite.mean()
    assert ite.std() > 0.03 and ate < -0.02  # heterogeneous, beneficial on average
    # label rates under each arm match p1 and p0
    for arm, q in ((1, p1), (0, p0)):
        m = tr == arm
        assert abs(_z(y[m].sum(), q[m].sum(), np.sum(q[m] * (1 - q[m])))) < 4
    # the naive contrast is biased (sicker patients are treated), inverse probability weighting with
    # the true propensity recovers mean(ite)
    naive = y[tr == 1].mean() - y[tr == 0].mean()
    se_naive = np.sqrt(y[tr == 1].var() / (tr == 1).sum() + y[tr == 0].var() / (tr == 0).sum())
    assert naive - ate > 5 * se_naive
    e = icu.latent["propensity"]
    assert 0.05 < e.mean() < 0.6 and np.quantile(e, 0.01) > 0.01 and np.quantile(e, 0.99) < 0.99
    terms = tr * y / e - (1 - tr) * y / (1 - e)
    assert abs(terms.mean() - ate) < 4 * terms.std() / np.sqrt(len(y))


# ---------------------------------------------------------------- sites


def test_site_b_differs_as_configured(two_sites):
    a, b = two_sites.cohort("aki", site="A"), two_sites.cohort("aki", site="B")
    assert 97.5 < b.dyn["temp"].mean() < 99.5 and 36.4 < a.dyn["temp"].mean() < 37.4
    assert b.meta["units"]["B"]["temp"] == "F" and a.meta["units"]["A"]["temp"] == "C"
    lat_a, lat_b = (two_sites.latent["severity"][two_sites.sta["site"] == s].mean() for s in "AB")
    assert lat_b - lat_a == pytest.approx(SITES["B"].case_mix + 0.25 * 3 / 15, abs=0.1)
    # sbp offset of -6 mmHg on top of the sicker case mix (about -11 * 0.35)
    assert b.dyn["sbp"].mean() < a.dyn["sbp"].mean() - 6
    assert b.dyn["hr"].notna().mean() < a.dyn["hr"].notna().mean()  # missing_rate 0.4 vs 0.3
    assert two_sites.cohort("mortality", site="B").y.mean() > two_sites.cohort("mortality", site="A").y.mean()


def _paired(**kwargs):
    """Site A and a variant of it differing only in ``kwargs``, simulated from the same seed."""
    ref = simulate_icu(1500, sites=(Site("ref"),), seed=9)
    alt = simulate_icu(1500, sites=(Site("alt", **kwargs),), seed=9)
    return ref, alt


def test_sampling_multiplies_lab_intervals():
    ref, alt = _paired(sampling=2.0)
    # the first hour's labs are drawn regardless of sampling; afterwards rate ~ 1 / interval
    later = lambda icu: icu.dyn.loc[icu.dyn["time"] > 0, "crea"].notna().mean()  # noqa: E731
    assert later(alt) / later(ref) == pytest.approx(0.5, abs=0.07)
    assert np.array_equal(ref.sta["age"], alt.sta["age"])


@pytest.mark.parametrize("mechanism", ["mcar", "mar", "mnar"])
def test_missingness_mechanisms(mechanism):
    ref, alt = _paired(missingness=mechanism, missing_rate=0.0), _paired(missingness=mechanism, missing_rate=0.5)
    full, part = ref[1].dyn, alt[1].dyn
    frac = part["hr"].notna().sum() / full["hr"].notna().sum()
    assert frac == pytest.approx(0.5, abs=0.12)
    kept = part["hr"].notna()[full["hr"].notna()]
    hr = full.loc[full["hr"].notna(), "hr"]
    age = full["stay_id"].map(alt[1].sta.set_index("stay_id")["age"])[full["hr"].notna()]
    abnormal = np.abs(hr - hr.median()) > 1.5 * hr.std()
    gap_abnormal = kept[abnormal].mean() - kept[~abnormal].mean()
    gap_old = kept[age > 75].mean() - kept[age < 50].mean()
    if mechanism == "mcar":
        assert abs(gap_abnormal) < 0.03 and abs(gap_old) < 0.03
    elif mechanism == "mar":
        assert gap_old < -0.1 and abs(gap_abnormal) < 0.05
    else:
        assert gap_abnormal > 0.1


def test_units_offsets_and_prevalence():
    ref, alt = _paired(units={"crea": "umol/L", "glu": "mmol/L"}, offsets={"hr": 5.0}, prevalence=1.0)
    # same latent world, recorded differently
    assert np.allclose(alt.dyn["crea"], 88.42 * ref.dyn["crea"], equal_nan=True)
    assert np.allclose(alt.dyn["glu"], ref.dyn["glu"] / 18.016, equal_nan=True)
    assert np.allclose(alt.dyn["hr"], ref.dyn["hr"] + 5.0, equal_nan=True)
    kr, ka = ref.cohort("kidney_function"), alt.cohort("kidney_function")
    assert np.allclose(ka.y, 88.42 * kr.y) and np.allclose(ka.truth["mu_true"], 88.42 * kr.truth["mu_true"])
    pr, pa = ref.cohort("mortality").truth["p_true"], alt.cohort("mortality").truth["p_true"]
    logit = lambda q: np.log(q / (1 - q))  # noqa: E731
    assert np.allclose(logit(pa) - logit(pr), 1.0)


# ---------------------------------------------------------------- determinism and checks


def test_deterministic_for_a_seed():
    a, b = simulate_icu(200, sites=("A", "B"), seed=4), simulate_icu(200, sites=("A", "B"), seed=4)
    pd.testing.assert_frame_equal(a.dyn, b.dyn)
    pd.testing.assert_frame_equal(a.sta, b.sta)
    for ep in ENDPOINTS:
        pd.testing.assert_frame_equal(a.outcomes[ep], b.outcomes[ep])
    c = simulate_icu(200, sites=("A", "B"), seed=5)
    assert not a.dyn["hr"].equals(c.dyn["hr"])
    # site A does not depend on the sites after it
    alone = simulate_icu(200, sites=("A",), seed=4)
    pd.testing.assert_frame_equal(alone.dyn, a.dyn[a.dyn["stay_id"] <= 200].reset_index(drop=True))


def test_longer_and_minimal_series():
    icu = simulate_icu(50, hours=24, seed=1)
    assert icu.dyn["time"].max() == 23 and len(icu.cohort("kidney_function").outc) == 50
    icu = simulate_icu(50, hours=72, seed=1)
    assert icu.cohort("aki").dyn["time"].max() == 71 and icu.cohort("mortality").dyn["time"].max() == 23


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="n_stays"):
        simulate_icu(0)
    with pytest.raises(TypeError, match="n_stays"):
        simulate_icu(10.5)
    with pytest.raises(ValueError, match="hours"):
        simulate_icu(10, hours=12)
    with pytest.raises(ValueError, match=r"sites.*\['A', 'B', 'C'\]"):
        simulate_icu(10, sites=("A", "Z"))
    with pytest.raises(ValueError, match="distinct"):
        simulate_icu(10, sites=("A", "A"))
    icu = simulate_icu(10, sites=("A",))
    with pytest.raises(ValueError, match="endpoint.*mortality"):
        icu.cohort("death")
    with pytest.raises(ValueError, match="site.*'A'"):
        icu.cohort("aki", site="B")
    with pytest.raises(ValueError, match="missingness"):
        Site("x", missingness="random")
    with pytest.raises(ValueError, match="units"):
        Site("x", units={"temp": "K"})
    with pytest.raises(ValueError, match="offsets"):
        Site("x", offsets={"heart_rate": 1.0})
    with pytest.raises(ValueError, match="missing_rate"):
        Site("x", missing_rate=1.0)
    assert hash(SITES["B"]) == hash(Site(**{**SITES["B"].__dict__}))
