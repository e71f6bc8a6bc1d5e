"""The ICU preprocessing pipeline against a slow per-stay pandas reference, causality, leakage, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.domains.icu._load import load, split
from trustbench.domains.icu.features import SUMMARIES, Preprocessor


@pytest.fixture(scope="module")
def aki():
    c = load("aki", "mimic_demo")
    c = c.with_dyn(c.dyn.drop(columns=["crp"]))  # crp is never measured in this demo cohort
    return c


@pytest.fixture(scope="module")
def mort():
    return load("mortality24", "mimic_demo")


def small(cohort, n=8, start=0):
    return cohort.subset(cohort.stays[start : start + n])


def reference_tabular(pre: Preprocessor, cohort) -> np.ndarray:
    """Slow per-row reference: loop over outc rows, look at the stay's dyn rows with time <= t."""
    rows = []
    sta = cohort.sta.set_index("stay_id")
    for _, r in cohort.outc.iterrows():
        d = cohort.dyn[cohort.dyn["stay_id"] == r["stay_id"]].sort_values("time")
        t = r["time"] if cohort.hourly else d["time"].max()
        h = d[d["time"] <= t]
        feats = {s: [] for s in SUMMARIES}
        for j, v in enumerate(pre.variables_):
            x = h[v]
            obs = x.dropna()
            z = (obs - pre.mean_[j]) / pre.std_[j]
            feats["last"].append(z.iloc[-1] if len(z) else 0.0)
            feats["mean"].append(z.mean() if len(z) else 0.0)
            feats["min"].append(z.min() if len(z) else 0.0)
            feats["max"].append(z.max() if len(z) else 0.0)
            feats["frac_missing"].append(x.isna().mean() if len(x) else 1.0)
            feats["hours_since"].append(t - h.loc[obs.index, "time"].max() if len(obs) else t + 1)
        s = sta.loc[r["stay_id"]]
        static = []
        for k, c in enumerate(pre.static_):
            miss = pd.isna(s[c])
            static += [0.0 if miss else (s[c] - pre.static_mean_[k]) / pre.static_std_[k], float(miss)]
        static += [float(s["sex"] == "Male"), float(pd.isna(s["sex"]))]
        rows.append([x for k in SUMMARIES for x in feats[k]] + static)
    return np.array(rows, dtype=float)


@pytest.mark.parametrize("which", ["aki", "mort"])
def test_tabular_equals_slow_reference(which, aki, mort):
    cohort = {"aki": aki, "mort": mort}[which]
    train, test = small(cohort, 20, 10), small(cohort, 6)
    pre = Preprocessor(all_missing="drop").fit(train)
    got = pre.tabular(test)
    assert got.shape == (len(test.outc), len(pre.feature_names_))
    np.testing.assert_allclose(got, reference_tabular(pre, test), rtol=1e-10, atol=1e-10)


def test_normalisation_uses_training_values_only(aki):
    train, test = small(aki, 20, 10), small(aki, 6)
    pre = Preprocessor(all_missing="drop").fit(train)
    raw = train.dyn[pre.variables_].to_numpy()
    np.testing.assert_allclose(pre.mean_, np.nanmean(raw, axis=0))
    np.testing.assert_allclose(pre.std_, np.where(np.nanstd(raw, axis=0) > 0, np.nanstd(raw, axis=0), 1.0))
    ages = train.sta["age"].to_numpy()
    assert pre.static_mean_[pre.static_.index("age")] == pytest.approx(np.nanmean(ages))
    before = pre.mean_.copy()
    X1 = pre.tabular(test)
    shifted = test.with_dyn(test.dyn.assign(hr=test.dyn["hr"] + 50.0))
    X2 = pre.tabular(shifted)
    np.testing.assert_array_equal(pre.mean_, before)  # transforming never refits
    j = pre.feature_names_.index("hr_last")
    seen = X1[:, pre.feature_names_.index("hr_frac_missing")] < 1
    np.testing.assert_allclose((X2 - X1)[seen, j], 50.0 / pre.std_[pre.variables_.index("hr")])
    other = Preprocessor(all_missing="drop").fit(test)
    assert other.mean_[other.variables_.index("hr")] != pre.mean_[pre.variables_.index("hr")]


def test_forward_fill_does_not_cross_stays(aki):
    c = small(aki, 3)
    first, second = c.stays[0], c.stays[1]
    dyn = c.dyn.copy()
    dyn.loc[dyn["stay_id"] == first, "hr"] = 200.0  # last value of stay 1 is observed
    dyn.loc[(dyn["stay_id"] == second) & (dyn["time"] <= 3), "hr"] = np.nan  # stay 2 starts unobserved
    c = c.with_dyn(dyn)
    pre = Preprocessor(all_missing="drop").fit(c)
    X = pre.tabular(c)
    rows = ((c.outc["stay_id"] == second) & (c.outc["time"] <= 3)).to_numpy()
    names = pre.feature_names_
    assert (X[rows, names.index("hr_last")] == 0.0).all()
    assert (X[rows, names.index("hr_frac_missing")] == 1.0).all()
    np.testing.assert_array_equal(X[rows, names.index("hr_hours_since")], c.outc["time"][rows] + 1)
    S, lengths, _ = pre.sequences(c)
    v = pre.sequence_names_.index("hr")
    m = pre.sequence_names_.index("hr_missing")
    assert (S[1, :4, v] == 0).all() and (S[1, :4, m] == 1).all()


def test_expanding_features_use_only_the_past(aki):
    c = small(aki, 4)
    pre = Preprocessor(all_missing="drop").fit(c)
    stay = c.stays[2]
    dyn = c.dyn.copy()
    t_star = 5.0
    future = (dyn["stay_id"] == stay) & (dyn["time"] == t_star + 3)
    dyn.loc[future, ["hr", "glu", "crea"]] = [999.0, 999.0, 999.0]
    dyn.loc[(dyn["stay_id"] == stay) & (dyn["time"] == t_star + 4), "sbp"] = np.nan
    c2 = c.with_dyn(dyn)
    X1, X2 = pre.tabular(c), pre.tabular(c2)
    past = ((c.outc["stay_id"] == stay) & (c.outc["time"] <= t_star + 2)).to_numpy()
    later = ((c.outc["stay_id"] == stay) & (c.outc["time"] >= t_star + 3)).to_numpy()
    np.testing.assert_array_equal(X1[past], X2[past])
    np.testing.assert_array_equal(X1[~(past | later)], X2[~(past | later)])  # other stays
    assert not np.allclose(X1[later], X2[later])
    S1, _, _ = pre.sequences(c)
    S2, _, _ = pre.sequences(c2)
    i = int(np.flatnonzero(c.stays == stay)[0])
    np.testing.assert_array_equal(S1[i, : int(t_star) + 3], S2[i, : int(t_star) + 3])
    assert not np.array_equal(S1[i], S2[i])


@pytest.mark.parametrize("which", ["aki", "mort"])
def test_sequences_agree_with_tabular_at_read_out(which, aki, mort):
    cohort = small({"aki": aki, "mort": mort}[which], 10)
    pre = Preprocessor(all_missing="drop").fit(cohort)
    S, lengths, rows = pre.sequences(cohort)
    X = pre.tabular(cohort)
    assert S.dtype == np.float32 and S.shape[:2] == (len(cohort), lengths.max())
    assert rows.shape == (len(cohort.outc), 2)
    at = S[rows[:, 0], rows[:, 1]]
    V = len(pre.variables_)
    np.testing.assert_allclose(at[:, :V], X[:, :V], rtol=1e-5, atol=1e-5)  # forward-filled last value
    np.testing.assert_allclose(at[:, 2 * V :], X[:, -len(pre.static_names_) :], rtol=1e-5, atol=1e-5)
    # the missingness indicator at the read-out hour is the raw missingness of that dyn row
    raw = cohort.dyn.set_index(["stay_id", "time"])[pre.variables_]
    t = cohort.outc["time"] if cohort.hourly else cohort.dyn.groupby("stay_id")["time"].max().loc[cohort.outc["stay_id"]]
    keys = list(zip(cohort.outc["stay_id"], np.asarray(t)))
    np.testing.assert_array_equal(at[:, V : 2 * V], raw.loc[keys].isna().to_numpy())
    if not cohort.hourly:
        np.testing.assert_array_equal(rows[:, 1], lengths[rows[:, 0]] - 1)
    pad = np.arange(S.shape[1])[None, :] >= lengths[:, None]
    assert (S[pad] == 0).all()


def test_validation_messages(aki):
    c = aki
    empty = c.with_dyn(c.dyn.assign(glu=np.nan))
    with pytest.raises(ValueError, match="all-missing.*glu"):
        Preprocessor().fit(empty)
    pre = Preprocessor(all_missing="drop").fit(empty)
    assert "glu" not in pre.variables_ and pre.dropped_ == ["glu"]
    assert pre.tabular(c).shape[1] == 6 * (len(c.variables) - 1) + len(pre.static_names_)
    pre = Preprocessor().fit(c)
    with pytest.raises(ValueError, match="lacks the training variable.*'hr'"):
        pre.tabular(c.with_dyn(c.dyn.drop(columns=["hr"])))
    with pytest.raises(ValueError, match="unknown variable.*'foo'"):
        pre.sequences(c.with_dyn(c.dyn.assign(foo=1.0)))
    with pytest.raises(ValueError, match="all_missing"):
        Preprocessor(all_missing="zero").fit(c)
    with pytest.raises(RuntimeError, match="not fitted"):
        Preprocessor().tabular(c)


def test_real_split_shapes_and_finite():
    c = load("mortality24", "eicu_demo")
    train, test = split(c)
    pre = Preprocessor(all_missing="drop").fit(train)
    X = pre.tabular(test)
    S, lengths, rows = pre.sequences(test)
    assert X.shape == (len(test), 6 * 48 + 8) and np.isfinite(X).all()
    assert S.shape == (len(test), 25, 2 * 48 + 8) and np.isfinite(S).all()
    assert (lengths == 25).all()
