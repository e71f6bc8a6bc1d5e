"""ICU tasks: real YAIB-format cohorts (the shipped MIMIC-III / eICU demos or a user's folder) and the
synthetic ICU with a known data-generating process, within one site or across sites (transfer).

A task's ``make(seed)`` returns a :class:`CohortSplit`: training, calibration (for recalibration
and conformal prediction) and test cohorts with disjoint stays. A transfer task trains and calibrates
on one site and tests on every stay of the other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from trustbench.domains.icu.cohort import Cohort, CohortSplit, split_stays
from trustbench.validation import check_choice, check_int

__all__ = ["YaibTask", "SyntheticTask", "align_variables"]


def _check_fraction(value, name: str) -> float:
    value = float(value)
    if not 0.0 < value < 0.9:
        raise ValueError(f"{name} must lie in (0, 0.9); got {value!r}.")
    return value


def align_variables(train: Cohort, test: Cohort) -> tuple[Cohort, Cohort]:
    """Both cohorts restricted to the dynamic variables they share (in the training order).

    Two hospitals rarely chart the same concepts (the MIMIC-III demo never records CRP); a model
    trained at one site can only read the variables both sites know.
    """
    shared = [v for v in train.variables if v in set(test.variables)]
    keep = ["stay_id", "time", *shared]
    return train.with_dyn(train.dyn[keep]), test.with_dyn(test.dyn[keep])


def _split(source: Cohort, target: Cohort | None, test_size: float, cal_size: float, seed: int) -> CohortSplit:
    if target is None:
        train, cal, test = split_stays(source, [1.0 - test_size - cal_size, cal_size], seed)
    else:
        train, cal = split_stays(source, [1.0 - cal_size], seed)
        train, test = align_variables(train, target)
        cal = cal.with_dyn(cal.dyn[list(train.dyn.columns)])
    if train.kind == "binary":
        for part, cohort in (("training", train), ("calibration", cal)):
            if np.unique(cohort.y).size < 2:
                raise ValueError(f"the {part} split of {source.name!r} (seed {seed}) has a single label class "
                                 f"({cohort.y[0]:g}); use a larger cohort or a smaller test_size/cal_size.")
    return CohortSplit(train=train, cal=cal, test=test)


@dataclass(frozen=True)
class YaibTask:
    """A YAIB-format cohort: a shipped demo (``cohort`` × ``source``) or the user's folder (``path``).

    Parameters
    ----------
    cohort : demo task, one of mortality24, aki, kidney_function, los.
    source : demo source used for training, ``mimic_demo`` or ``eicu_demo``.
    path : a YAIB cohort folder of your own (overrides ``cohort``/``source``).
    test_source, test_path : a second site to test on (transfer); None tests on held-out stays.
    test_size, cal_size : fractions of the training site's stays held out for testing and calibration.
    extra_variables : dynamic variables accepted besides ricu's concepts.
    """

    cohort: str = "mortality24"
    source: str = "mimic_demo"
    path: str | None = None
    test_source: str | None = None
    test_path: str | None = None
    test_size: float = 0.3
    cal_size: float = 0.15
    extra_variables: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from trustbench.domains.icu.yaib import DEMO_SOURCES, DEMO_TASKS, cohort_folder

        if self.path is None:
            check_choice(self.cohort, "cohort", DEMO_TASKS)
            check_choice(self.source, "source", DEMO_SOURCES)
        else:
            cohort_folder(self.path)
        if self.test_path is not None:
            cohort_folder(self.test_path)
        elif self.test_source is not None:
            check_choice(self.test_source, "test_source", DEMO_SOURCES)
        _check_fraction(self.test_size, "test_size")
        _check_fraction(self.cal_size, "cal_size")
        if self.test_size + self.cal_size >= 0.9:
            raise ValueError(f"test_size + cal_size must be < 0.9; got {self.test_size} + {self.cal_size}.")

    name = "icu/yaib"

    @property
    def label(self) -> str:
        """Display name: ``icu/mortality24/eicu_demo`` or ``icu/mortality24/mimic_demo→eicu_demo``."""
        src = self.source if self.path is None else _short(self.path)
        head = f"icu/{self.cohort}/{src}" if self.path is None else f"icu/{src}"
        tgt = self.test_source or (_short(self.test_path) if self.test_path else None)
        return f"{head}→{tgt}" if tgt else head

    @property
    def transfer(self) -> bool:
        return self.test_source is not None or self.test_path is not None

    @property
    def kind(self) -> str:
        """``binary`` or ``regression``, from the labels of the training cohort's ``outc.parquet``."""
        import pandas as pd

        from trustbench.domains.icu.cohort import label_kind
        from trustbench.domains.icu.yaib import demo_path

        folder = Path(self.path if self.path is not None else demo_path(self.cohort, self.source))
        try:
            return label_kind(pd.read_parquet(folder / "outc.parquet", columns=["label"])["label"].to_numpy())
        except (OSError, KeyError, ValueError, TypeError):  # unreadable: load() raises the full, clear error
            return self.load("source").kind

    def load(self, which: str = "source") -> Cohort:
        from trustbench.domains.icu.yaib import demo_path, load_yaib

        if which == "source":
            folder = self.path if self.path is not None else demo_path(self.cohort, self.source)
        else:
            folder = self.test_path if self.test_path is not None else demo_path(self.cohort, self.test_source)
        return load_yaib(folder, extra_variables=self.extra_variables, drop_empty=True)

    def make(self, seed: int) -> CohortSplit:
        seed = check_int(seed, "seed", minimum=0)
        source = self.load("source")
        target = self.load("target") if self.transfer else None
        if target is not None and (target.kind, target.hourly) != (source.kind, source.hourly):
            raise ValueError(f"test cohort {target.name!r} is a {target.kind} task "
                             f"{'per hour' if target.hourly else 'per stay'}; the training cohort "
                             f"{source.name!r} is {source.kind} {'per hour' if source.hourly else 'per stay'}.")
        return _split(source, target, self.test_size, self.cal_size, seed)


def _site(value, name: str):
    """A :class:`Site` from a name in ``SITES`` or a mapping of its fields."""
    from trustbench.domains.icu.synthetic import SITES, Site

    if isinstance(value, Site):
        return value
    if isinstance(value, dict):
        try:
            return Site(**value)
        except TypeError as err:
            raise TypeError(f"{name}: {err}; the fields of a Site are name, case_mix, offsets, units, sampling, "
                            "missingness, missing_rate, prevalence, age_mean.") from None
    check_choice(value, name, SITES)
    return SITES[value]


def _short(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


@dataclass(frozen=True)
class SyntheticTask:
    """The synthetic ICU (``synthetic.simulate_icu``): every stay's true outcome probability is known.

    Parameters
    ----------
    endpoint : mortality, aki, delirium, kidney_function or effect (treatment effect, ITE known).
    n_stays : stays per site.
    hours : hours simulated per stay (>= 48).
    site : the training site: a name in ``synthetic.SITES`` (``A``, ``B``, ``C``) or a mapping of
        :class:`~trustbench.domains.icu.synthetic.Site` fields for a site of one's own, e.g.
        ``{"name": "D", "case_mix": 1.0, "units": {"temp": "F"}, "missingness": "mnar"}``.
    test_site : another site (the same forms) to test on: a transfer task.
    """

    endpoint: str = "mortality"
    n_stays: int = 2000
    hours: int = 48
    site: str | dict = "A"
    test_site: str | dict | None = None
    test_size: float = 0.3
    cal_size: float = 0.15

    def __post_init__(self) -> None:
        from trustbench.domains.icu.synthetic import ENDPOINTS

        check_choice(self.endpoint, "endpoint", ENDPOINTS)
        check_int(self.n_stays, "n_stays", minimum=100)
        check_int(self.hours, "hours", minimum=48)
        sites = [_site(self.site, "site")]
        if self.test_site is not None:
            sites.append(_site(self.test_site, "test_site"))
            if sites[0].name == sites[1].name:
                raise ValueError(f"test_site must differ from site; both are named {sites[0].name!r}.")
        _check_fraction(self.test_size, "test_size")
        _check_fraction(self.cal_size, "cal_size")

    name = "icu/synthetic"

    @property
    def sites(self) -> tuple:
        """The :class:`Site` objects: training site first, then the test site of a transfer task."""
        given = (self.site,) if self.test_site is None else (self.site, self.test_site)
        return tuple(_site(s, name) for s, name in zip(given, ("site", "test_site")))

    @property
    def label(self) -> str:
        names = [s.name for s in self.sites]
        head = f"icu/synthetic/{self.endpoint}/{names[0]}"
        return f"{head}→{names[1]}" if self.transfer else head

    @property
    def transfer(self) -> bool:
        return self.test_site is not None

    @property
    def kind(self) -> str:
        """``effect`` (the treatment effect is scored), ``regression`` (kidney function) or ``binary``."""
        return {"effect": "effect", "kidney_function": "regression"}.get(self.endpoint, "binary")

    def make(self, seed: int) -> CohortSplit:
        from trustbench.domains.icu.synthetic import simulate_icu

        seed = check_int(seed, "seed", minimum=0)
        sites = self.sites
        sim = simulate_icu(self.n_stays, hours=self.hours, sites=sites, seed=seed)
        source = sim.cohort(self.endpoint, site=sites[0].name)
        target = sim.cohort(self.endpoint, site=sites[1].name) if self.transfer else None
        split = _split(source, target, self.test_size, self.cal_size, seed)
        return replace(split, test=replace(split.test, name=self.label))
