"""Regression tasks: determinism, registry names, correctness of the ground truth, checks of the configuration."""

import numpy as np
import pytest
from scipy import stats

from trustbench.domains.regression import tasks
from trustbench.registry import TASKS

SIMULATED = [tasks.Polynomial, tasks.HeteroSine, tasks.Gap, tasks.HeavyTail, tasks.ExpDecay, tasks.ErrorsInVariables]
ALL = [*SIMULATED, tasks.Diabetes]


@pytest.mark.parametrize("cls", ALL)
def test_registered_under_its_name(cls):
    assert TASKS.load(cls.name) is cls


@pytest.mark.parametrize("cls", ALL)
def test_deterministic_for_a_seed_and_different_across_seeds(cls):
    task = cls(n_train=20, n_test=30)
    a, b, c = task.make(0), task.make(0), task.make(1)
    for part in ("train", "test"):
        pa, pb, pc = getattr(a, part), getattr(b, part), getattr(c, part)
        assert np.array_equal(pa.X, pb.X) and np.array_equal(pa.y, pb.y)
        assert not np.array_equal(pa.y, pc.y)
        if pa.truth is not None:
            assert np.array_equal(pa.truth.mean(), pb.truth.mean())
    assert (len(a.train), len(a.test)) == (20, 30)


@pytest.mark.parametrize("cls", SIMULATED)
def test_truth_is_the_distribution_of_simulate(cls):
    """At fixed inputs, 4000 simulated targets are a sample of truth(x): their PIT is uniform (KS test)."""
    task = cls()
    rng = np.random.default_rng(123)
    for x in np.linspace(*task.plot_grid()[[0, -1], 0], 4):
        X = np.full((4000, 1), x)
        pit = task.truth(X).cdf(task.simulate(X, rng))
        assert stats.kstest(pit, "uniform").pvalue > 1e-3, x


@pytest.mark.parametrize("cls", SIMULATED)
def test_split_targets_follow_the_truth(cls):
    """The targets of make() (for EIV generated through the latent inputs) have uniform PIT under Data.truth."""
    data = cls(n_train=2, n_test=3000).make(5).test
    assert stats.kstest(data.truth.cdf(data.y), "uniform").pvalue > 1e-3


def test_eiv_truth_matches_brute_force_monte_carlo():
    """Gauss-Hermite mixture vs 400 000 draws of the latent true input: density and CDF agree."""
    task = tasks.ErrorsInVariables()
    rng = np.random.default_rng(0)
    for x in (-2.0, 0.3, 1.8):
        m, v = task.latent_posterior([x])
        zeta = m[0] + np.sqrt(v) * rng.standard_normal(400_000)
        f = np.polynomial.polynomial.polyval(zeta, task.coef)
        ys = np.quantile(f, [0.05, 0.3, 0.5, 0.7, 0.95])
        truth = task.truth(np.full((len(ys), 1), x))
        mc_pdf = stats.norm.pdf(ys[:, None], f[None, :], task.noise).mean(axis=1)
        mc_cdf = stats.norm.cdf(ys[:, None], f[None, :], task.noise).mean(axis=1)
        np.testing.assert_allclose(np.exp(truth.logpdf(ys)), mc_pdf, rtol=0.02)
        np.testing.assert_allclose(truth.cdf(ys), mc_cdf, atol=3e-3)
    # the errors in the inputs make p(y | x) wider than the output noise alone
    assert task.truth([[1.5]]).std()[0] > 1.5 * task.noise


def test_test_inputs_extend_beyond_training_range():
    for cls in (tasks.Polynomial, tasks.HeteroSine, tasks.Gap, tasks.HeavyTail, tasks.ExpDecay):
        data = cls(n_train=50, n_test=300).make(0)
        assert data.test.X.max() > data.train.X.max() + 0.1, cls.name
        grid = cls().plot_grid()
        assert grid.shape == (101, 1) and grid[0, 0] <= data.test.X.min() and grid[-1, 0] >= data.test.X.max()


def test_gap_has_no_training_inputs_in_the_gap_but_test_inputs_there():
    data = tasks.Gap(n_train=100, n_test=300).make(0)
    assert not np.any(np.abs(data.train.X) < 0.5)
    assert np.sum(np.abs(data.test.X) < 0.5) > 30


def test_exp_decay_physical_model_is_the_truth():
    task = tasks.ExpDecay()
    X = task.plot_grid()
    model = task.physical_model
    assert model.param_names == ("amplitude", "tau", "offset") and model.units[1] == "s"
    np.testing.assert_allclose(model.f(X, task.theta), task.truth(X).mean())
    assert tasks.ExpDecay(offset=None).physical_model.n_params == 2
    # negative times are not measured: the test range only extends to later times
    assert task.make(0).test.X.min() >= 0


def test_heavy_tail_truth_is_student_t():
    truth = tasks.HeavyTail(df=2.5).truth([[0.0], [0.5]])
    np.testing.assert_allclose(truth.df, 2.5)
    np.testing.assert_allclose(truth.mean(), [1.0, 2.0])


def test_hetero_sine_noise_grows_away_from_zero():
    task = tasks.HeteroSine()
    sd = task.truth([[0.0], [1.0]]).std()
    np.testing.assert_allclose(sd, [0.1, 0.1 * np.e])


def test_diabetes_is_real_data_without_truth():
    task = tasks.Diabetes(n_train=300, n_test=142)
    data = task.make(0)
    assert data.train.X.shape == (300, 10) and data.test.truth is None and not hasattr(task, "simulate")
    assert set(np.unique(data.train.groups)) == {1, 2}
    assert not set(data.train.meta["patients"]) & set(data.test.meta["patients"])
    np.testing.assert_allclose(data.train.X.mean(axis=0), 0.0, atol=1e-12)
    assert task.plot_grid() is None


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: tasks.Polynomial(n_train=1), "n_train must be >= 2"),
        (lambda: tasks.Polynomial(noise=-0.1), "noise must be > 0"),
        (lambda: tasks.Polynomial(coef=(1.0,)), "coef must hold at least 2"),
        (lambda: tasks.HeteroSine(frequency=0), "frequency must be > 0"),
        (lambda: tasks.Gap(clusters=((0, 1), (0.5, 2))), "clusters must be two ordered"),
        (lambda: tasks.HeavyTail(df=0), "df must be > 0"),
        (lambda: tasks.ExpDecay(tau=-1.0), "tau must be > 0"),
        (lambda: tasks.ErrorsInVariables(x_noise=0.0), "x_noise must be > 0"),
        (lambda: tasks.Diabetes(n_train=400, n_test=100), "n_train \\+ n_test must be <= 442"),
        (lambda: tasks.Polynomial(extrapolation=-1), "extrapolation must be >= 0"),
    ],
)
def test_bad_configuration_raises_before_work(make, match):
    task = make()
    for call in (task.validate, lambda: task.make(0), task.reference):
        with pytest.raises(ValueError, match=match):
            call()


def test_bad_reference_params_and_seed():
    with pytest.raises(TypeError, match="reference_params must be a mapping"):
        tasks.Gap(reference_params=[1]).validate()
    with pytest.raises(ValueError, match="seed must be >= 0"):
        tasks.Polynomial().make(-1)
    with pytest.raises(ValueError, match="exactly one column"):
        tasks.Polynomial().truth(np.zeros((3, 2)))


def test_references_are_configured_from_the_task():
    from trustbench.domains.regression.reference import NUTS, BayesLinear

    assert isinstance(tasks.Polynomial().reference(), BayesLinear)
    assert tasks.Polynomial(coef=(1, 2, 3)).reference().degree == 2
    ref = tasks.HeavyTail(df=4.0, reference_params={"num_samples": 50}).reference()
    assert isinstance(ref, NUTS) and (ref.model, ref.df, ref.degree, ref.num_samples) == ("student_t", 4.0, 1, 50)
    assert tasks.ErrorsInVariables(x_noise=0.3).reference().x_noise == 0.3
    assert tasks.ExpDecay(offset=None).reference().offset is False
    assert (tasks.Gap().reference().model, tasks.Gap().reference().prior_scale) == ("bnn", 2.0)
