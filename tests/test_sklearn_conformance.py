"""scikit-learn's common estimator checks, run on the sequence estimators.

Every check applies except those listed in :data:`NOT_APPLICABLE`, each with the reason.
"""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from numrnn.estimators import SequenceClassifier, SequenceRegressor  # noqa: E402

_COLUMNS_ARE_STEPS = ("a 2-D X is (n_samples, T), one channel over T steps: n_features_in_ "
                      "counts channels, and a different number of columns at predict is a "
                      "different sequence length, which is valid input")
_FLOAT32 = ("the network computes in float32: a sample's prediction changes in its last bits "
            "(measured 2.4e-7) with the number of samples predicted with it, as BLAS sums in "
            "another order for another number of rows; the check's tolerance is 1e-7")

NOT_APPLICABLE = {
    "check_n_features_in": _COLUMNS_ARE_STEPS,
    "check_n_features_in_after_fitting": _COLUMNS_ARE_STEPS,
    "check_estimators_partial_fit_n_features": _COLUMNS_ARE_STEPS,
    "check_classifiers_train": _COLUMNS_ARE_STEPS + " (the rest of this check passes: "
                               "test_classifier_train_part_of_the_check)",
    "check_methods_subset_invariance": _FLOAT32,
}

# Small networks and a short budget keep the ~50 checks fast; they still learn the checks'
# easy problems.
ESTIMATORS = [SequenceClassifier(hidden_size=16, epochs=40, seed=0),
              SequenceRegressor(hidden_size=16, epochs=40, seed=0)]


def expected_failures(estimator):
    return NOT_APPLICABLE


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_check(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_train_part_of_the_check(n_classes):
    """check_classifiers_train without its column-count assertions: the same blobs, the
    same accuracy bar, and predict, predict_proba and the classes agreeing."""
    import numpy as np
    from sklearn.datasets import make_blobs
    from sklearn.preprocessing import StandardScaler

    X, y = make_blobs(n_samples=300, random_state=0, centers=n_classes)
    X = StandardScaler().fit_transform(X)
    clf = ESTIMATORS[0].fit(X, y)
    predicted = clf.predict(X)
    assert predicted.shape == (300,) and np.mean(predicted == y) > 0.83
    proba = clf.predict_proba(X)
    assert proba.shape == (300, n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], predicted)
    with pytest.raises(ValueError):
        clf.fit(X, y[:-1])
