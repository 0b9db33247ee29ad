"""Forecaster: recursive and direct forecasts, multivariate series, exogenous inputs."""

import pickle

import numpy as np
import pytest
from apps_backends import FASTEST, HOST_BACKENDS

from numrnn.forecasting import Forecaster


def sine(n, period=16.0, start=0):
    return np.sin(2 * np.pi * np.arange(start, start + n) / period)


def small(**params):
    settings = {"window": 16, "hidden_size": 12, "epochs": 15, "batch_size": 16,
                "backend": FASTEST, "seed": 0}
    return Forecaster(**{**settings, **params})


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("strategy", ["recursive", "direct"])
def test_sine_forecast(backend, strategy):
    model = small(strategy=strategy, horizon=6, backend=backend).fit(sine(240))
    forecast = model.predict(6)
    assert forecast.shape == (6,)
    assert np.max(np.abs(forecast - sine(6, start=240))) < 0.25


def test_multivariate_and_history():
    t = np.arange(300)
    y = np.stack([np.sin(t / 4), np.cos(t / 4)], axis=1)
    model = small().fit(y[:250])
    assert model.predict(3).shape == (3, 2)
    # Continue another history than the training series: the 40 steps up to step 100.
    forecast = model.predict(2, y=y[60:100])
    np.testing.assert_allclose(forecast, y[100:102], atol=0.3)


def test_exogenous_input_is_used():
    # y is the exogenous input of the same step, unpredictable from y's own past.
    rng = np.random.default_rng(0)
    exog = rng.standard_normal(300)
    y = 2.0 * exog
    with_exog = small(window=4, epochs=20).fit(y[:250], exog=exog[:250])
    forecast = with_exog.predict(5, exog=exog[:255])
    without = small(window=4, epochs=20).fit(y[:250]).predict(5)
    error_with = np.abs(forecast - y[250:255]).mean()
    assert error_with < 0.5 * np.abs(without - y[250:255]).mean()
    assert error_with < 0.5


def test_same_seed_same_forecast():
    a = small(epochs=3).fit(sine(100)).predict(4)
    b = small(epochs=3).fit(sine(100)).predict(4)
    c = small(epochs=3, seed=1).fit(sine(100)).predict(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_parameters_protocol():
    model = Forecaster(window=5, strategy="direct")
    assert model.get_params()["window"] == 5
    assert model.set_params(horizon=3).horizon == 3
    sklearn_base = pytest.importorskip("sklearn.base")
    assert sklearn_base.clone(model).get_params() == model.get_params()


@pytest.mark.parametrize("fit, error, match", [
    (lambda: small().fit(sine(17)), ValueError, "y must have at least"),
    (lambda: small().fit(np.ones((10, 2, 2))), ValueError, "y"),
    (lambda: small().fit(np.array(["a"] * 40)), TypeError, "y"),
    (lambda: small().fit(np.r_[sine(40), np.nan]), ValueError, "NaN"),
    (lambda: small(strategy="ahead").fit(sine(40)), ValueError, "strategy"),
    (lambda: small(window=0).fit(sine(40)), ValueError, "window"),
    (lambda: small(strategy="direct", horizon=1.5).fit(sine(40)), TypeError, "horizon"),
    (lambda: small().fit(sine(40), exog=np.ones(39)), ValueError, "exog"),
])
def test_bad_fit_input(fit, error, match):
    with pytest.raises(error, match=match):
        fit()


def test_bad_predict_input():
    with pytest.raises((ValueError, AttributeError), match="not fitted") as caught:
        Forecaster().predict(1)
    assert type(caught.value).__name__ == "NotFittedError"
    direct = small(strategy="direct", horizon=2, epochs=1).fit(sine(60))
    with pytest.raises(ValueError, match="steps"):
        direct.predict(3)
    with pytest.raises(ValueError, match="window"):
        direct.predict(1, y=sine(5))
    with pytest.raises(ValueError, match="exog"):
        direct.predict(1, exog=np.ones(61))
    with_exog = small(epochs=1).fit(sine(60), exog=np.ones(60))
    with pytest.raises(ValueError, match="exog"):
        with_exog.predict(2)
    with pytest.raises(ValueError, match="exog"):
        with_exog.predict(2, exog=np.ones(61))
    with pytest.raises(TypeError, match="steps"):
        with_exog.predict("2", exog=np.ones(62))


def test_pickle_round_trip():
    model = small(epochs=2).fit(sine(60), exog=np.arange(60.0))
    copy = pickle.loads(pickle.dumps(model))
    exog = np.arange(63.0)
    np.testing.assert_array_equal(copy.predict(3, exog=exog), model.predict(3, exog=exog))


def test_recursive_forecasts_horizon_steps_by_default_and_horizon_is_checked():
    """The recursive model learns one step; predict() still forecasts ``horizon`` steps, the
    same as predict(steps=horizon). A horizon that is not an integer >= 1 is refused."""
    y = np.sin(np.arange(60) / 3.0)
    model = Forecaster(window=5, horizon=3, hidden_size=3, epochs=2, seed=0).fit(y)
    assert model.horizon_ == 3
    np.testing.assert_array_equal(model.predict(), model.predict(steps=3))
    assert model.predict().shape == (3,)
    for bad, error in ((0, ValueError), (-5, ValueError), ("abc", TypeError), (2.0, TypeError)):
        with pytest.raises(error, match="horizon must be"):
            Forecaster(window=5, horizon=bad, hidden_size=3, epochs=1).fit(y)
