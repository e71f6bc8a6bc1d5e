"""The one preprocessing pipeline of the ICU benchmark: a ``Preprocessor`` fitted on a training cohort.

Following YAIB (van de Water et al., ICLR 2024) and the usual clinical-time-series recipe
(Harutyunyan et al. 2019, *Sci. Data* 6:96; Che et al. 2018, *Sci. Rep.* 8:6085):

1. forward fill of each dynamic variable **within a stay** (never across stays);
2. missingness indicators ``m = 1`` where the raw value was missing;
3. normalisation ``z = (x - mean_train) / std_train`` with the mean and standard deviation of the
   **observed training values** (a constant variable gets std 1);
4. remaining NaN (before the first observation of a stay) -> 0, the training mean.

Static features: every numeric column of ``sta`` but ``stay_id``/``site``/``treatment`` (``age``,
``height``, ``weight``, ...) normalised likewise with NaN -> 0 plus a ``<name>_missing`` indicator,
and ``sex`` as ``sex_male`` (1 = ``"Male"``, 0 = ``"Female"``) with ``sex_missing``.

Two views of a cohort, one row / one read-out position per row of ``outc``:

- :meth:`Preprocessor.tabular` - summary features at each prediction point, over the stay's history
  up to and including the prediction hour (expanding window) for hourly tasks, over the whole stay
  for once-per-stay tasks: last (forward-filled) value, mean, min and max of the observed values,
  fraction of hours missing and hours since the last observation; then the static features;
- :meth:`Preprocessor.sequences` - the hourly grid of forward-filled normalised values, missingness
  indicators and the static features repeated at each hour, padded to a common length, with the
  (stay, hour) position at which a causal sequence model's output is read for each ``outc`` row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustbench.domains.icu.cohort import KEYS, Cohort
from trustbench.validation import check_choice

__all__ = ["Preprocessor", "SUMMARIES"]

SUMMARIES = ("last", "mean", "min", "max", "frac_missing", "hours_since")
_NOT_STATIC = ("stay_id", "site", "treatment", "sex")
_MALE = ("male", "m")
_FEMALE = ("female", "f")


def _check_cohort(cohort, name: str = "cohort") -> Cohort:
    for table in ("dyn", "sta", "outc"):
        if not hasattr(cohort, table):
            raise TypeError(f"{name} must be a trustbench Cohort (with dyn, sta, outc); got {type(cohort).__name__}.")
    missing = [c for c in KEYS if c not in cohort.dyn.columns]
    if missing:
        raise ValueError(f"{name}.dyn lacks the key column(s) {missing} (cohort {cohort.name!r}).")
    for table in ("sta", "outc"):
        if "stay_id" not in getattr(cohort, table).columns:
            raise ValueError(f"{name}.{table} lacks the 'stay_id' column (cohort {cohort.name!r}).")
    if "label" not in cohort.outc.columns:
        raise ValueError(f"{name}.outc lacks the 'label' column (cohort {cohort.name!r}).")
    if len(cohort.sta) == 0 or len(cohort.outc) == 0:
        raise ValueError(f"{name} is empty (cohort {cohort.name!r}); it needs at least one stay and one outc row.")
    return cohort


def _sex_code(values, cohort_name: str) -> np.ndarray:
    """``sex`` -> 1.0 (male), 0.0 (female), NaN (missing)."""
    import pandas as pd

    s = pd.Series(values)
    if s.dtype.kind in "biuf":
        x = s.to_numpy(dtype=float)
        bad = ~np.isnan(x) & ~np.isin(x, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"sta.sex must be 'Male'/'Female' or 0/1; got {x[bad][0]!r} (cohort {cohort_name!r}).")
        return x
    low = s.astype("string").str.strip().str.lower()
    out = np.full(len(s), np.nan)
    out[low.isin(_MALE).fillna(False).to_numpy(dtype=bool)] = 1.0
    out[low.isin(_FEMALE).fillna(False).to_numpy(dtype=bool)] = 0.0
    bad = low.notna().to_numpy(dtype=bool) & np.isnan(out)
    if bad.any():
        raise ValueError(
            f"sta.sex must be 'Male'/'Female' or 0/1; got {s[bad].iloc[0]!r} (cohort {cohort_name!r})."
        )
    return out


@dataclass
class Preprocessor:
    """Forward fill, missingness indicators, training-set normalisation, zero fill.

    Parameters
    ----------
    all_missing : ``"raise"`` (default) raises a ValueError when a dynamic variable or numeric
        static column is missing in every training row; ``"drop"`` drops it (and ignores it in
        the cohorts transformed later).

    Attributes
    ----------
    variables_ : the dynamic variables used, in order.
    dropped_ : the all-missing variables dropped (``all_missing="drop"``).
    mean_, std_ : (n_variables,) training mean and std (ddof=0) of the observed values.
    static_ : the numeric static columns used; ``static_mean_``, ``static_std_`` their statistics.
    sex_ : whether ``sta`` has a ``sex`` column.
    feature_names_ : names of the columns of :meth:`tabular`.
    sequence_names_ : names of the last axis of :meth:`sequences`.
    """

    all_missing: str = "raise"

    # ------------------------------------------------------------------ fit
    def fit(self, cohort: Cohort) -> Preprocessor:
        """Learn the variables and the normalisation statistics from a training cohort."""
        check_choice(self.all_missing, "all_missing", ("raise", "drop"))
        cohort = _check_cohort(cohort)
        variables = list(cohort.variables)
        if not variables:
            raise ValueError(f"cohort {cohort.name!r} has no dynamic variables (dyn holds only {list(KEYS)}).")
        values = cohort.dyn[variables].to_numpy(dtype=float)
        observed = ~np.isnan(values)
        empty = [v for v, ok in zip(variables, observed.any(axis=0)) if not ok]
        static = [
            c for c in cohort.sta.columns
            if c not in _NOT_STATIC and cohort.sta[c].dtype.kind in "biuf"
        ]
        svalues = cohort.sta[static].to_numpy(dtype=float)
        sempty = [c for c, ok in zip(static, (~np.isnan(svalues)).any(axis=0)) if not ok]
        if (empty or sempty) and self.all_missing == "raise":
            raise ValueError(
                f"all-missing variable(s) {empty + sempty} in the training cohort {cohort.name!r}: "
                "no observed value to normalise with. Drop them, or pass all_missing='drop'."
            )
        self.dropped_ = empty + sempty
        if self.dropped_:
            import logging

            logging.getLogger("trustbench").warning(
                "training cohort %r: dropping variable(s) %s, never observed in its stays.", cohort.name, self.dropped_)
        keep = [i for i, v in enumerate(variables) if v not in empty]
        self.variables_ = [variables[i] for i in keep]
        if not self.variables_:
            raise ValueError(f"every dynamic variable is all-missing in the training cohort {cohort.name!r}.")
        self.mean_, self.std_ = self._stats(values[:, keep])
        skeep = [i for i, c in enumerate(static) if c not in sempty]
        self.static_ = [static[i] for i in skeep]
        self.static_mean_, self.static_std_ = self._stats(svalues[:, skeep])
        self.sex_ = "sex" in cohort.sta.columns
        if self.sex_:
            _sex_code(cohort.sta["sex"], cohort.name)
        self.static_names_ = [n for c in self.static_ for n in (c, f"{c}_missing")]
        if self.sex_:
            self.static_names_ += ["sex_male", "sex_missing"]
        self.feature_names_ = [f"{v}_{s}" for s in SUMMARIES for v in self.variables_] + self.static_names_
        self.sequence_names_ = (
            list(self.variables_) + [f"{v}_missing" for v in self.variables_] + self.static_names_
        )
        return self

    @staticmethod
    def _stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if values.shape[1] == 0:
            return np.zeros(0), np.ones(0)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(values, axis=0) if values.shape[0] else np.zeros(values.shape[1])
            std = np.nanstd(values, axis=0) if values.shape[0] else np.ones(values.shape[1])
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return mean, std

    # ------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "variables_"):
            raise RuntimeError("this Preprocessor is not fitted yet; call fit(train_cohort) first.")

    def _dyn(self, cohort: Cohort):
        """Check the variables and return dyn sorted by (stay_id, time) with the training variables."""
        self._check_fitted()
        cohort = _check_cohort(cohort)
        have = list(cohort.variables)
        lacking = [v for v in self.variables_ if v not in have]
        if lacking:
            raise ValueError(
                f"cohort {cohort.name!r} lacks the training variable(s) {lacking}; "
                "a fitted preprocessor needs every variable it was trained on."
            )
        unknown = [v for v in have if v not in self.variables_ and v not in self.dropped_]
        if unknown:
            raise ValueError(
                f"cohort {cohort.name!r} has unknown variable(s) {unknown} not seen in training."
            )
        lacking = [c for c in self.static_ + (["sex"] if self.sex_ else []) if c not in cohort.sta.columns]
        if lacking:
            raise ValueError(f"cohort {cohort.name!r} lacks the training static column(s) {lacking} in sta.")
        dyn = cohort.dyn[[*KEYS, *self.variables_]]
        dyn = dyn.sort_values(list(KEYS), kind="stable").reset_index(drop=True)
        times = dyn["time"].to_numpy(dtype=float)
        if np.isnan(times).any():
            raise ValueError(f"dyn.time has NaN values (cohort {cohort.name!r}).")
        return dyn

    def _static(self, cohort: Cohort, stay_ids: np.ndarray) -> np.ndarray:
        """(len(stay_ids), n_static) normalised static features with indicators."""
        import pandas as pd

        sta = cohort.sta.drop_duplicates("stay_id").set_index("stay_id")
        absent = ~pd.Index(stay_ids).isin(sta.index)
        if absent.any():
            raise ValueError(
                f"stay(s) {list(np.asarray(stay_ids)[absent][:5])} of cohort {cohort.name!r} are not in sta."
            )
        sta = sta.loc[stay_ids]
        cols = []
        if self.static_:
            raw = sta[self.static_].to_numpy(dtype=float)
            miss = np.isnan(raw)
            z = np.where(miss, 0.0, (raw - self.static_mean_) / self.static_std_)
            cols.append(np.stack([z, miss.astype(float)], axis=2).reshape(len(sta), -1))
        if self.sex_:
            sex = _sex_code(sta["sex"].to_numpy(), cohort.name)
            miss = np.isnan(sex)
            cols.append(np.column_stack([np.where(miss, 0.0, sex), miss.astype(float)]))
        return np.hstack(cols) if cols else np.zeros((len(sta), 0))

    @staticmethod
    def _codes(cohort: Cohort, dyn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stay order (sta order), and the stay index of each dyn row and of each outc row."""
        stays = cohort.sta["stay_id"].drop_duplicates().to_numpy()
        order = np.argsort(stays, kind="stable")
        sorted_ids = stays[order]

        def code(ids: np.ndarray, table: str) -> np.ndarray:
            pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
            bad = sorted_ids[pos] != ids if len(ids) else np.zeros(0, bool)
            if bad.any():
                raise ValueError(
                    f"{table} has stay(s) {list(np.unique(ids[bad])[:5])} that are not in sta "
                    f"(cohort {cohort.name!r})."
                )
            return order[pos]

        return stays, code(dyn["stay_id"].to_numpy(), "dyn"), code(cohort.outc["stay_id"].to_numpy(), "outc")

    def _prediction_times(self, cohort: Cohort, dyn, dyn_code, out_code, n_stays) -> np.ndarray:
        """Hour of each outc row's prediction: its ``time`` (hourly) or the stay's last dyn hour."""
        if cohort.hourly:
            t = cohort.outc["time"].to_numpy(dtype=float)
            if np.isnan(t).any():
                raise ValueError(f"outc.time has NaN values (cohort {cohort.name!r}).")
            return t
        last = np.zeros(n_stays)
        if len(dyn):
            np.maximum.at(last, dyn_code, dyn["time"].to_numpy(dtype=float))
        return last[out_code]

    # ------------------------------------------------------------ tabular
    def tabular(self, cohort: Cohort) -> np.ndarray:
        """Summary features at each prediction point: (n_outc_rows, len(feature_names_)).

        Per variable, over the dyn rows of the stay with ``time <= t`` (``t`` = the row's ``time``
        for hourly tasks, the stay's last hour otherwise): ``last`` forward-filled normalised value,
        ``mean``/``min``/``max`` of the observed normalised values, ``frac_missing`` (fraction of
        those rows where the variable is missing) and ``hours_since`` the last observation
        (``t + 1`` - as if observed one hour before admission - when never observed). Never
        observed -> 0 for last/mean/min/max (the training mean). Then the static features.
        Computed with grouped cumulative sums/maxima (no loop over rows).
        """
        import pandas as pd

        dyn = self._dyn(cohort)
        stays, dyn_code, out_code = self._codes(cohort, dyn)
        t_pred = self._prediction_times(cohort, dyn, dyn_code, out_code, len(stays))
        n_out, V = len(cohort.outc), len(self.variables_)
        times = dyn["time"].to_numpy(dtype=float)

        z = (dyn[self.variables_].to_numpy(dtype=float) - self.mean_) / self.std_
        obs = ~np.isnan(z)
        group = pd.Series(dyn_code)
        frame = lambda a: pd.DataFrame(a)  # noqa: E731
        last = frame(z).groupby(group).ffill().to_numpy()
        n_obs = frame(obs.astype(float)).groupby(group).cumsum().to_numpy()
        total = frame(np.where(obs, z, 0.0)).groupby(group).cumsum().to_numpy()
        n_rows = group.groupby(group).cumcount().to_numpy() + 1.0
        cmax = frame(np.where(obs, z, -np.inf)).groupby(group).cummax().to_numpy()
        cmin = frame(np.where(obs, z, np.inf)).groupby(group).cummin().to_numpy()
        t_obs = frame(np.where(obs, times[:, None], np.nan)).groupby(group).ffill().to_numpy()

        # the last dyn row of the same stay with time <= t_pred, for every outc row
        if len(dyn):
            tmin = min(times.min(), t_pred.min())
            span = max(times.max(), t_pred.max()) - tmin + 2.0
            dyn_key = dyn_code * span + (times - tmin)
            out_key = out_code * span + (t_pred - tmin)
            order = np.lexsort((times, dyn_code))  # dyn is sorted by stay_id, time; codes follow sta order
            pos = np.searchsorted(dyn_key[order], out_key, side="right") - 1
            valid = pos >= 0
            pos = np.where(valid, order[np.maximum(pos, 0)], 0)
            valid &= dyn_code[pos] == out_code
        else:
            pos = np.zeros(n_out, dtype=int)
            valid = np.zeros(n_out, dtype=bool)

        def take(a: np.ndarray, fill: float) -> np.ndarray:
            out = a[pos] if len(a) else np.full((n_out, V), fill)
            out = np.where(valid[:, None], out, fill)
            return out

        cnt = take(n_obs, 0.0)
        seen = cnt > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(seen, take(total, 0.0) / cnt, 0.0)
        rows = np.where(valid, n_rows[pos] if len(dyn) else 0.0, 0.0)[:, None]
        frac_missing = np.where(rows > 0, 1.0 - cnt / np.maximum(rows, 1.0), 1.0)
        last_t = take(t_obs, np.nan)
        hours_since = np.where(np.isnan(last_t), t_pred[:, None] + 1.0, t_pred[:, None] - last_t)
        feats = [
            np.nan_to_num(take(last, 0.0), nan=0.0),
            mean,
            np.where(seen, take(cmin, 0.0), 0.0),
            np.where(seen, take(cmax, 0.0), 0.0),
            frac_missing,
            hours_since,
        ]
        static = self._static(cohort, stays)[out_code]
        return np.hstack([*feats, static]).astype(np.float64)

    # ---------------------------------------------------------- sequences
    def sequences(self, cohort: Cohort) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hourly grid per stay for sequence models.

        Returns
        -------
        X : float32 (n_stays, T, F), F = len(sequence_names_): forward-filled normalised values
            (0 before the first observation), missingness indicators (1 where the raw value was
            missing, also for hours without a dyn row) and the static features repeated at each
            hour; zero padding after each stay's length. Stays in the order of ``sta``.
        lengths : int64 (n_stays,), the number of hours 0..L-1 of each stay: up to its last dyn
            hour, or its last prediction hour if later (hourly tasks).
        row_index : int64 (n_outc_rows, 2), the (stay index, hour index) at which a causal model's
            output is read for each ``outc`` row: its hour (hourly tasks) or the stay's last hour.

        Hour ``h`` of the grid is ``time == h`` (hours since admission); times must be whole
        non-negative hours, one dyn row per stay-hour.
        """
        dyn = self._dyn(cohort)
        stays, dyn_code, out_code = self._codes(cohort, dyn)
        n = len(stays)
        t_pred = self._prediction_times(cohort, dyn, dyn_code, out_code, n)
        for what, t in (("dyn.time", dyn["time"].to_numpy(dtype=float)), ("outc.time", t_pred)):
            if len(t) and ((t < 0).any() or (np.abs(t - np.round(t)) > 1e-6).any()):
                raise ValueError(
                    f"{what} must be whole hours >= 0 for sequences() (cohort {cohort.name!r}); "
                    f"got e.g. {t[(t < 0) | (np.abs(t - np.round(t)) > 1e-6)][0]!r}."
                )
        hour = np.round(dyn["time"].to_numpy(dtype=float)).astype(np.int64)
        hour_pred = np.round(t_pred).astype(np.int64)
        lengths = np.ones(n, dtype=np.int64)
        np.maximum.at(lengths, dyn_code, hour + 1)
        np.maximum.at(lengths, out_code, hour_pred + 1)
        if len(dyn) and (np.bincount(dyn_code * (lengths.max()) + hour) > 1).any():
            raise ValueError(f"dyn has several rows for one stay-hour (cohort {cohort.name!r}).")
        T, V = int(lengths.max()), len(self.variables_)
        grid = np.full((n, T, V), np.nan, dtype=np.float32)
        grid[dyn_code, hour] = ((dyn[self.variables_].to_numpy(dtype=float) - self.mean_) / self.std_).astype(
            np.float32
        )
        miss = np.isnan(grid)
        # forward fill along time within each stay (index of the last observed hour so far)
        idx = np.where(miss, 0, np.arange(T)[None, :, None])
        np.maximum.accumulate(idx, axis=1, out=idx)
        filled = np.take_along_axis(grid, idx, axis=1)
        np.nan_to_num(filled, copy=False, nan=0.0)
        static = self._static(cohort, stays).astype(np.float32)
        X = np.concatenate(
            [filled, miss.astype(np.float32), np.broadcast_to(static[:, None, :], (n, T, static.shape[1]))],
            axis=2,
        )
        X[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
        row_index = np.column_stack([out_code, hour_pred]).astype(np.int64)
        return X, lengths, row_index
