"""The estimators' input scaling, patching, stopping, schedule, warnings and target checks."""

import warnings

import numpy as np
import pytest
from apps_backends import FASTEST

from numrnn._compat import sklearn_class
from numrnn._seqnet import as_padded
from numrnn._seqprep import AUTO_PATCH_STEPS, choose_patch, fit_standardisation, fold
from numrnn.estimators import SequenceClassifier, SequenceRegressor
from numrnn.forecasting import Forecaster


def quick(cls=SequenceClassifier, **params):
    settings = {"hidden_size": 6, "epochs": 30, "n_iter_no_change": 5, "backend": FASTEST,
                "seed": 0}
    return cls(**{**settings, **params})


def shifted_task(n=48, steps=40, seed=0):
    """Two classes told apart by where a bump sits, on a large offset and scale."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(steps)
    centre = np.where(y == 1, steps * 0.7, steps * 0.3)
    X = 500 + 40 * np.exp(-((t[None] - centre[:, None]) / 3) ** 2)
    return X + rng.normal(0, 2, X.shape), y


# -- standardisation ------------------------------------------------------------------------

def test_standardisation_uses_the_valid_steps_only():
    rng = np.random.default_rng(0)
    seqs = [rng.normal(3, 2, (int(n), 2)) for n in rng.integers(1, 9, 30)]
    padded, lengths = as_padded(seqs)
    mean, scale = fit_standardisation(padded, lengths)
    every_step = np.concatenate(seqs)
    np.testing.assert_allclose(mean, every_step.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(scale, every_step.std(axis=0), rtol=1e-5)
    constant = np.full((4, 3, 1), 7.0)
    np.testing.assert_array_equal(fit_standardisation(constant, None)[1], [1.0])


def test_standardisation_is_fitted_inside_and_can_be_switched_off():
    X, y = shifted_task()
    clf = quick().fit(X, y)
    assert clf.input_mean_ == pytest.approx([X.mean()], rel=1e-5)
    assert clf.score(X, y) > 0.9
    raw = quick(standardize=False).fit(X, y)
    np.testing.assert_array_equal(raw.input_scale_, [1.0])
    assert raw.score(X, y) < clf.score(X, y)


def test_trailing_nan_steps_are_padding():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 5, 2))
    with_nan = X.copy()
    with_nan[0, 3:] = np.nan
    with_nan[4, 1:] = np.nan
    padded, lengths = as_padded(with_nan)
    np.testing.assert_array_equal(lengths, [3, 5, 5, 5, 1, 5])
    assert np.all(np.isfinite(padded)) and np.all(padded[0, 3:] == 0)
    ragged = [X[0, :3], X[1], X[2], X[3], X[4, :1], X[5]]
    clf = quick(epochs=3).fit(X, np.arange(6) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(clf.predict_proba(with_nan), clf.predict_proba(ragged))
    assert np.isnan(with_nan[0, 3:]).all()                    # the caller's array is intact
    for bad in (np.where(np.arange(5)[:, None] == 2, np.nan, X[0]),   # NaN inside
                np.full((5, 2), np.nan)):                             # nothing but NaN
        X_bad = X.copy()
        X_bad[0] = bad
        with pytest.raises(ValueError, match="NaN"):
            as_padded(X_bad)


# -- patching -------------------------------------------------------------------------------

def test_fold_puts_consecutive_steps_side_by_side():
    x = np.arange(2 * 7 * 2, dtype=float).reshape(2, 7, 2)
    folded, lengths = fold(x, np.array([7, 4]), 3)
    assert folded.shape == (2, 3, 6)
    np.testing.assert_array_equal(folded[0, 1], x[0, 3:6].ravel())
    np.testing.assert_array_equal(folded[0, 2], np.r_[x[0, 6], 0, 0, 0, 0])
    np.testing.assert_array_equal(lengths, [3, 2])
    assert fold(x, None, 1)[0] is x


def test_automatic_patch_length():
    assert choose_patch("auto", 2 * AUTO_PATCH_STEPS - 1) == 1
    assert choose_patch("auto", 150) == 150 // AUTO_PATCH_STEPS
    assert choose_patch(4, 150) == 4
    with pytest.raises(ValueError, match="patch"):
        choose_patch("big", 10)
    with pytest.raises(ValueError, match="patch"):
        choose_patch(0, 10)
    X, y = shifted_task(steps=100)
    clf = quick(hidden_size=16).fit(X, y)
    assert clf.patch_size_ == 6 and clf.model_.input_size == 6
    assert clf.score(X, y) > 0.9
    assert clf.predict(X[:, :57]).shape == (len(X),)        # other lengths still work


# -- stopping, schedule, warning ------------------------------------------------------------

def test_early_stopping_holds_out_a_stratified_split_and_restores_the_best():
    X, y = shifted_task(n=60)
    train, held = quick(early_stopping=True, validation_fraction=0.2)._validation_split(60, y)
    clf = quick(early_stopping=True, validation_fraction=0.2, epochs=60).fit(X, y)
    curve = clf.validation_loss_curve_
    assert len(curve) == clf.n_iter_ and curve[clf.best_epoch_] <= min(curve) + clf.tol
    x_held, lengths_held = clf._network_input(X[held])
    restored = clf.model_.evaluate(x_held, y[held], lengths_held)["loss"]
    assert restored == pytest.approx(curve[clf.best_epoch_], rel=1e-5)
    assert len(held) == 12 and np.intersect1d(train, held).size == 0
    assert abs(np.mean(y[held]) - np.mean(y)) < 0.1                   # stratified
    assert clf.predict(X).shape == (60,)
    assert quick().fit(X, y).validation_loss_curve_ is None        # "auto": small data, off


def test_stopping_on_the_training_loss_and_plateau_schedule():
    X, y = shifted_task()
    clf = quick(epochs=400, n_iter_no_change=8, tol=1e-2).fit(X, y)
    assert clf.n_iter_ < 400
    rates = clf.model_.history_["lr"]
    assert rates[0] == 0.01 and min(rates) < 0.01                  # halved on a plateau
    constant = quick(epochs=20, lr_schedule="constant").fit(X, y)
    assert set(constant.model_.history_["lr"]) == {0.01}


def test_convergence_warning_when_the_budget_runs_out():
    X, y = shifted_task()
    with pytest.warns(sklearn_class("ConvergenceWarning"), match="raise epochs"):
        quick(epochs=10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quick(epochs=400, n_iter_no_change=8, tol=1e-2).fit(X, y)


# -- targets --------------------------------------------------------------------------------

@pytest.mark.parametrize("y, match", [
    (np.linspace(0, 1, 48), "Unknown label type"),
    (np.r_[np.nan, np.zeros(23), np.ones(24)], "NaN"),
    (np.array([None] * 48), "Unknown label type"),
    (np.zeros(48), "2 classes"),
    (np.array([np.nan, "a"] * 24, dtype=object), "NaN"),
    (None, "requires y"),
])
def test_classifier_refuses_bad_targets_before_training(y, match, monkeypatch):
    X, _ = shifted_task()
    monkeypatch.setattr(SequenceClassifier, "_fit_network",
                        lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(ValueError, match=match):
        SequenceClassifier().fit(X, y)


def test_classifier_takes_integral_floats_and_column_labels():
    X, y = shifted_task()
    clf = quick(epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn_class("ConvergenceWarning"))
        assert list(clf.fit(X, y.astype(float)).classes_) == [0.0, 1.0]
        with pytest.warns(sklearn_class("DataConversionWarning")):
            clf.fit(X, y[:, None])


def test_regressor_and_forecaster_options():
    X, y = shifted_task()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn_class("ConvergenceWarning"))
        reg = quick(SequenceRegressor, readout="mean", epochs=5).fit(X, y.astype(float))
        assert reg.model_.head.readout == "mean" and reg.patch_size_ == 2     # 40 steps
        reg.fit(X, y.astype(object))                       # numbers in an object array
        forecaster = Forecaster(window=8, hidden_size=4, epochs=3, backend=FASTEST,
                                seed=0).fit(np.sin(np.arange(60) / 3))
    network = forecaster.regressor_
    assert network.readout == "last" and network.patch_size_ == 1 and not network.bidirectional
    with pytest.raises(ValueError, match="requires y"):
        SequenceRegressor().fit(X, None)


@pytest.mark.parametrize("make, error, match", [
    (lambda X, y: quick(readout="median").fit(X, y), ValueError, "readout"),
    (lambda X, y: quick(lr_schedule="cosine").fit(X, y), ValueError, "lr_schedule"),
    (lambda X, y: quick(early_stopping="yes").fit(X, y), ValueError, "early_stopping"),
    (lambda X, y: quick(early_stopping=True, validation_fraction=1.0).fit(X, y), ValueError,
     "validation_fraction"),
    (lambda X, y: quick(n_iter_no_change=0).fit(X, y), ValueError, "n_iter_no_change"),
    (lambda X, y: quick(tol=-1.0).fit(X, y), ValueError, "tol"),
    (lambda X, y: quick().fit(X.astype(complex), y), ValueError, "Complex"),
    (lambda X, y: quick().fit(X[:, :0], y), ValueError, r"0 feature\(s\)"),
    (lambda X, y: quick().fit(X[0], y), ValueError, "Reshape"),
])
def test_bad_options_are_named(make, error, match):
    X, y = shifted_task(n=8)
    with pytest.raises(error, match=match):
        make(X, y)
