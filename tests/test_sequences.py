"""Training data as users hold it: Sequential refuses NaN and infinity (except in padding) and
takes lists of sequences of different lengths, as the estimators do; a layer given such a list
says what to do instead."""

import re

import numpy as np
import pytest

import numrnn
from numrnn.heads import Dense
from numrnn.model import Sequential

LENGTHS = np.array([3, 5, 1, 4])


def model(per_step):
    """GRU(2, 4) and a dense head, per step (3 classes) or on the last step (one value)."""
    if per_step:
        head, loss = Dense(4, 3, activation="softmax", batch_first=True, seed=1), "cross_entropy"
    else:
        head, loss = Dense(4, 1, last_step=True, batch_first=True, seed=1), "mse"
    return Sequential([numrnn.GRU(2, 4, batch_first=True, backend="numpy", seed=0), head],
                      loss=loss, optimizer="adam")


def ragged_data(rng, per_step):
    """Sequences of LENGTHS (a list), and targets: a list per step, else an array (N, 1)."""
    X = [rng.normal(size=(n, 2)) for n in LENGTHS]
    if per_step:
        return X, [rng.integers(0, 3, size=n) for n in LENGTHS]
    return X, rng.normal(size=(len(LENGTHS), 1))


def padded(sequences, fill):
    """The sequences as one (N, T_max, ...) array, ``fill`` after each end."""
    out = np.full((len(sequences), LENGTHS.max()) + sequences[0].shape[1:], fill)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out


def fit(m, X, y, **kwargs):
    return m.fit(X, y, epochs=2, batch_size=2, seed=0, progress=False, **kwargs)


def assert_same_weights(a, b):
    """``a`` and ``b``: models, or a model and a state dict."""
    b = b if isinstance(b, dict) else b.state_dict()
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b[key], err_msg=key)


# -- NaN and infinity ----------------------------------------------------------------------

@pytest.mark.parametrize("per_step", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "y", "validation_data[0]", "validation_data[1]"])
def test_fit_refuses_nan_and_inf_and_leaves_the_model_alone(rng, per_step, bad, where):
    X, y = ragged_data(rng, per_step)
    X, y = padded(X, 0.0), padded(y, 0).astype(np.float64) if per_step else y
    data = {"X": X, "y": y, "validation_data[0]": X.copy(), "validation_data[1]": y.copy()}
    sample = int(rng.integers(len(LENGTHS)))
    step = int(rng.integers(LENGTHS[sample]))  # a valid step
    data[where][(sample, step) if where.endswith(("X", "[0]")) or per_step else (sample, 0)] = bad
    m = model(per_step)
    before = {key: value.copy() for key, value in m.state_dict().items()}
    name = re.escape(where)
    with pytest.raises(ValueError, match=f"{name} must not contain NaN or infinity, found at "
                                         rf"{name}\[{sample}"):
        fit(m, data["X"], data["y"], lengths=LENGTHS,
            validation_data=(data["validation_data[0]"], data["validation_data[1]"], LENGTHS))
    assert_same_weights(m, before)


@pytest.mark.parametrize("per_step", [True, False])
def test_nan_in_padding_trains_like_zeros(rng, per_step):
    """Padding after each sequence's length may hold anything, as documented."""
    X, y = ragged_data(rng, per_step)
    y_nan = padded(y, -7) if per_step else y  # class indices: out of range in the padding
    X_nan = padded(X, np.nan)
    X_copy, y_copy = X_nan.copy(), np.copy(y_nan)
    with_nan = fit(model(per_step), X_nan, y_nan, lengths=LENGTHS)
    with_zeros = fit(model(per_step), padded(X, 0.0), padded(y, 0) if per_step else y,
                     lengths=LENGTHS)
    assert_same_weights(with_nan, with_zeros)
    assert all(np.isfinite(v).all() for v in with_nan.state_dict().values())
    np.testing.assert_array_equal(X_nan, X_copy)  # the caller's arrays are not modified
    np.testing.assert_array_equal(y_nan, y_copy)


# -- sequences of different lengths --------------------------------------------------------

@pytest.mark.parametrize("per_step", [True, False])
def test_ragged_lists_train_and_predict_like_padding_with_lengths(rng, per_step):
    X, y = ragged_data(rng, per_step)
    from_lists = fit(model(per_step), X, y)
    from_padding = fit(model(per_step), padded(X, 0.0), padded(y, 0) if per_step else y,
                       lengths=LENGTHS)
    assert_same_weights(from_lists, from_padding)
    np.testing.assert_array_equal(from_lists.predict(X),
                                  from_padding.predict(padded(X, 0.0), LENGTHS))
    assert from_lists.evaluate(X, y) == from_padding.evaluate(padded(X, 0.0), padded(
        y, 0) if per_step else y, LENGTHS)
    validated = fit(model(per_step), X, y, validation_data=(X, y))
    assert validated.history_["val_loss"][-1] == from_lists.evaluate(X, y)["loss"]


def test_ragged_list_of_one_step_sequences_and_of_lists(rng):
    """T=1 sequences, and nested Python lists instead of arrays."""
    X = [[[0.5, -1.0]], [[1.0, 2.0], [0.0, 1.0]]]
    y = [[2], [0, 1]]
    m = fit(model(True), X, y)
    out = m.predict(X)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 1], 0)  # zeros after the end, as for lengths=


@pytest.mark.parametrize("call, match", [
    (lambda m, X, y: fit(m, X, y, lengths=LENGTHS),
     "lengths must be None when X is a list of sequences of different lengths"),
    (lambda m, X, y: fit(m, [X[0], X[1][:, :1]], y[:2]), r"X\[1\] has shape \(5, 1\), "
                                                         r"X\[0\] has \(3, 2\)"),
    (lambda m, X, y: fit(m, X, [y[0]] + y[:3]), r"y\[1\] has 3 steps, but sequence 1 of the "
                                                "input has 5"),
    (lambda m, X, y: fit(m, X, y, validation_data=(X, y[:3] + [y[0]])),
     r"validation_data\[1\]\[3\] has 3 steps, but sequence 3 of the input has 4"),
    (lambda m, X, y: m.predict(X[:2] + [np.zeros((0, 2))]),
     r"X\[2\] must be a non-empty sequence"),
    (lambda m, X, y: m.predict([X[0], ["a", "b"]]), r"X\[1\] must hold real numbers"),
])
def test_ragged_list_mistakes_are_named(rng, call, match):
    X, y = ragged_data(rng, per_step=True)
    with pytest.raises((ValueError, TypeError), match=match):
        call(model(True), X, y)


@pytest.mark.parametrize("layer", [numrnn.RNN, numrnn.LSTM, numrnn.GRU])
def test_a_layer_given_a_ragged_list_says_to_pad_and_pass_lengths(rng, layer):
    sequences = [rng.normal(size=(n, 2)) for n in LENGTHS]
    with pytest.raises(ValueError, match=r"x must be one array, got a list .* pad them with "
                                         r"zeros into one array and pass each one's length "
                                         r"as lengths="):
        layer(2, 3, backend="numpy")(sequences)
