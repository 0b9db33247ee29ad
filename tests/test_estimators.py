"""SequenceClassifier and SequenceRegressor: learning, variable lengths, scikit-learn protocol."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from apps_backends import FASTEST, HOST_BACKENDS

from numrnn.estimators import SequenceClassifier, SequenceRegressor


def sign_task(n=80, steps=6, seed=0):
    """Label: whether the first feature's sum over the sequence is positive."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, steps, 2))
    return X, np.where(X[:, :, 0].sum(axis=1) > 0, "pos", "neg")


def small(cls, backend=FASTEST, **params):
    settings = {"hidden_size": 8, "epochs": 25, "batch_size": 16, "learning_rate": 0.02,
                "backend": backend, "seed": 0}
    return cls(**{**settings, **params})


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_classifier_learns(backend, cell):
    X, y = sign_task()
    clf = small(SequenceClassifier, backend, cell=cell).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert list(clf.classes_) == ["neg", "pos"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_regressor_learns_multi_output(backend):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (96, 5, 1))
    y = np.stack([X.sum(axis=(1, 2)), 100 + 50 * X[:, -1, 0]], axis=1)  # scales differ
    reg = small(SequenceRegressor, backend, epochs=40).fit(X, y)
    assert reg.predict(X).shape == (96, 2)
    assert reg.score(X, y) > 0.8


def test_two_dimensional_input_is_one_feature():
    X, _ = sign_task()
    y = X[:, :, 0].sum(axis=1)
    a = small(SequenceRegressor, epochs=3).fit(X[:, :, 0], y)
    b = small(SequenceRegressor, epochs=3).fit(X[:, :, :1], y)
    assert a.n_features_in_ == 1
    np.testing.assert_array_equal(a.predict(X[:, :, 0]), b.predict(X[:, :, :1]))


def test_variable_length_lists():
    rng = np.random.default_rng(2)
    X = [rng.standard_normal((int(n), 2)) for n in rng.integers(2, 9, 60)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    clf = small(SequenceClassifier).fit(X, y)
    assert clf.score(X, y) > 0.8
    # Padding never changes a sequence's prediction: alone or in a padded batch, the same.
    together = clf.predict_proba(X[:5])
    alone = np.concatenate([clf.predict_proba([x]) for x in X[:5]])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    # One-feature sequences may come as 1-D arrays.
    reg = small(SequenceRegressor, epochs=2).fit([x[:, 0] for x in X], y.astype(float))
    assert reg.predict([X[0][:, 0]]).shape == (1,)


def test_same_seed_same_model():
    X, y = sign_task()
    a = small(SequenceClassifier, epochs=4).fit(X, y)
    b = small(SequenceClassifier, epochs=4).fit(X, y)
    c = small(SequenceClassifier, epochs=4, seed=1).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_parameters_protocol():
    clf = SequenceClassifier(hidden_size=5, cell="gru")
    params = clf.get_params()
    assert params["hidden_size"] == 5 and params["cell"] == "gru"
    assert set(params) >= {"cell", "hidden_size", "num_layers", "bidirectional", "dropout",
                           "optimizer", "learning_rate", "epochs", "batch_size", "backend",
                           "seed"}
    assert clf.set_params(hidden_size=7) is clf and clf.hidden_size == 7
    with pytest.raises(ValueError, match="hidden"):
        clf.set_params(hiden_size=3)
    assert repr(clf) == "SequenceClassifier(hidden_size=7)"


def test_stacked_bidirectional_with_dropout():
    X, y = sign_task()
    clf = small(SequenceClassifier, num_layers=2, bidirectional=True, dropout=0.1,
                optimizer="rmsprop", learning_rate=0.01).fit(X, y)
    assert clf.score(X, y) > 0.8


@pytest.mark.parametrize("make, error, match", [
    (lambda X, y: SequenceClassifier().fit(X[0, :, 0], y), ValueError, "X"),
    (lambda X, y: SequenceClassifier().fit(X.astype(str), y), TypeError, "X"),
    (lambda X, y: SequenceClassifier().fit([X[0], X[1][:, :1]], y[:2]), ValueError, r"X\[1\]"),
    (lambda X, y: SequenceClassifier().fit(np.full_like(X, np.nan), y), ValueError, "NaN"),
    (lambda X, y: SequenceClassifier().fit(X[:, :0], y), ValueError, r"X has 0 steps \(shape"),
    (lambda X, y: SequenceClassifier().fit(X[:, :, :0], y), ValueError, "X has 0 feature"),
    (lambda X, y: SequenceClassifier().fit(X, y[:-1]), ValueError, "y"),
    (lambda X, y: SequenceClassifier().fit(X, np.zeros(len(X))), ValueError, "classes"),
    (lambda X, y: SequenceRegressor().fit(X, y), ValueError, "y"),
    (lambda X, y: SequenceClassifier(cell="tcn").fit(X, y), ValueError, "cell"),
    (lambda X, y: SequenceClassifier(hidden_size="8").fit(X, y), TypeError, "hidden_size"),
    (lambda X, y: SequenceClassifier(epochs=0).fit(X, y), ValueError, "epochs"),
    (lambda X, y: SequenceClassifier(batch_size=1.5).fit(X, y), TypeError, "batch_size"),
    (lambda X, y: SequenceClassifier(optimizer="lbfgs").fit(X, y), ValueError, "optimizer"),
    (lambda X, y: SequenceClassifier(learning_rate=-1).fit(X, y), ValueError,
     "learning_rate"),
    (lambda X, y: SequenceClassifier(backend="tpu").fit(X, y), ValueError, "backend"),
])
def test_bad_input_names_the_argument(make, error, match, monkeypatch):
    monkeypatch.setenv("NUMRNN_BACKEND", FASTEST)  # what "auto" picks, so no GPU is probed
    X, y = sign_task(n=8)
    with pytest.raises(error, match=match):
        make(X, y)


def test_predict_checks():
    X, y = sign_task(n=16)
    with pytest.raises((ValueError, AttributeError), match="not fitted") as caught:
        SequenceClassifier().predict(X)
    assert type(caught.value).__name__ == "NotFittedError"
    clf = small(SequenceClassifier, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :, :1])


def test_sklearn_not_imported_by_numrnn():
    code = ("import sys, numrnn, numrnn.estimators, numrnn.forecasting, numrnn.text, "
            "numrnn.diagnostics; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_clone_pipeline_grid_search_cross_val():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    assert sklearn.__version__
    X, y = sign_task(n=60)
    clf = small(SequenceClassifier, epochs=10)
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == clf.get_params()
    assert is_classifier(clf) and is_regressor(SequenceRegressor())

    pipe = make_pipeline(FunctionTransformer(lambda a: a / 2.0), clf).fit(X, y)
    assert pipe.score(X, y) > 0.8
    assert not hasattr(clf, "model_") or pipe[-1] is clf

    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6

    search = GridSearchCV(clf, {"hidden_size": [2, 8], "cell": ["gru"]}, cv=2).fit(X, y)
    assert search.best_params_["cell"] == "gru"
    assert search.best_estimator_.predict(X).shape == (60,)

    ragged = [x[: 3 + i % 4] for i, x in enumerate(X)]
    assert cross_val_score(clone(clf), ragged, y, cv=2).shape == (2,)
    reg_scores = cross_val_score(small(SequenceRegressor, epochs=5), X, X[:, :, 0].sum(1),
                                 cv=2)
    assert reg_scores.shape == (2,)


def test_pickle_round_trip():
    X, y = sign_task(n=20)
    for estimator, target in ((SequenceClassifier, y), (SequenceRegressor, X[:, 0, 0])):
        fitted = small(estimator, epochs=2).fit(X, target)
        copy = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(copy.predict(X), fitted.predict(X))
        assert copy.get_params() == fitted.get_params()
        assert "model_" not in pickle.loads(pickle.dumps(small(estimator))).__dict__
