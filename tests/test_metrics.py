"""Metrics against scikit-learn and closed forms."""

import numpy as np
import pytest

from numrnn import metrics

RNG = np.random.default_rng(3)
Y_TRUE = RNG.integers(0, 4, size=60)
Y_PRED = np.where(RNG.random(60) < 0.6, Y_TRUE, RNG.integers(0, 5, size=60))
R_TRUE = RNG.normal(size=(40, 3))
R_PRED = R_TRUE + 0.5 * RNG.normal(size=(40, 3))


class TestAgainstSklearn:
    skm = pytest.importorskip("sklearn.metrics")

    def test_accuracy_and_confusion(self):
        assert metrics.accuracy(Y_TRUE, Y_PRED) == self.skm.accuracy_score(Y_TRUE, Y_PRED)
        np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, Y_PRED),
                                      self.skm.confusion_matrix(Y_TRUE, Y_PRED))

    @pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
    def test_precision_recall_f1(self, average):
        ours = metrics.precision_recall_f1(Y_TRUE, Y_PRED, average=average)
        theirs = self.skm.precision_recall_fscore_support(Y_TRUE, Y_PRED, average=average,
                                                          zero_division=0)[:3]
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        assert metrics.f1_score(Y_TRUE, Y_PRED, average) == pytest.approx(
            self.skm.f1_score(Y_TRUE, Y_PRED, average=average, zero_division=0))
        assert metrics.precision(Y_TRUE, Y_PRED, average) == pytest.approx(
            self.skm.precision_score(Y_TRUE, Y_PRED, average=average, zero_division=0))
        assert metrics.recall(Y_TRUE, Y_PRED, average) == pytest.approx(
            self.skm.recall_score(Y_TRUE, Y_PRED, average=average, zero_division=0))

    @pytest.mark.parametrize("columns", [slice(0, 1), slice(None)])
    def test_regression(self, columns):
        yt, yp = R_TRUE[:, columns].squeeze(), R_PRED[:, columns].squeeze()
        assert metrics.mean_squared_error(yt, yp) == pytest.approx(
            self.skm.mean_squared_error(yt, yp))
        assert metrics.mean_absolute_error(yt, yp) == pytest.approx(
            self.skm.mean_absolute_error(yt, yp))
        assert metrics.r2_score(yt, yp) == pytest.approx(self.skm.r2_score(yt, yp))

    def test_perplexity_matches_log_loss(self):
        proba = RNG.dirichlet(np.ones(4), size=60)
        log_loss = self.skm.log_loss(Y_TRUE, proba, labels=range(4))
        assert metrics.perplexity(Y_TRUE, proba) == pytest.approx(np.exp(log_loss))
        assert metrics.bits_per_character(Y_TRUE, proba) == pytest.approx(log_loss / np.log(2))


def test_r2_constant_target():
    assert metrics.r2_score([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert metrics.r2_score([1.0, 1.0], [1.0, 2.0]) == 0.0


def test_perplexity_of_uniform_is_classes_and_zero_probability_is_inf():
    assert metrics.perplexity([0, 3], np.full((2, 5), 0.2)) == pytest.approx(5.0)
    assert metrics.perplexity([0], np.array([[0.0, 1.0]])) == np.inf


def test_zero_division_gives_zero():
    p, r, f = metrics.precision_recall_f1([0, 0], [1, 1], average=None)
    np.testing.assert_array_equal(p, [0, 0])
    np.testing.assert_array_equal(f, [0, 0])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: metrics.accuracy([0, 1], [0]), ValueError,
         r"same shape, got \(2,\) and \(1,\)"),
        (lambda: metrics.accuracy([0.5], [0.5]), TypeError, "y_true must hold integer"),
        (lambda: metrics.accuracy([], []), ValueError, "y_true must not be empty"),
        (lambda: metrics.f1_score([0], [0], average="samples"), ValueError, "average must be"),
        (lambda: metrics.confusion_matrix([0, 3], [0, 1], num_classes=2), ValueError,
         "labels must be < num_classes=2, got 3"),
        (lambda: metrics.confusion_matrix([-1], [0]), ValueError, "labels must be >= 0"),
        (lambda: metrics.perplexity([0, 1], np.ones((3, 2))), ValueError, "proba must have"),
        (lambda: metrics.perplexity([0, 2], np.ones((2, 2))), ValueError,
         r"y_true must lie in \[0, 1\]"),
        (lambda: metrics.mean_squared_error(["a"], ["b"]), TypeError, "y_true must hold real"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
