"""Sequential model: gradients, training to a stated loss on every backend, determinism,
truncated BPTT, streaming, validation, early stopping and argument checks."""

import copy
import os

import numpy as np
import pytest
from gradcheck import numerical_gradient

import numrnn
from numrnn.heads import Dense
from numrnn.model import Dropout, Sequential
from numrnn.optim import SGD, Adam, StepLR


def available_backends():
    """Backends that load here; CUDA only on a real GPU (the simulator is far too slow)."""
    names = []
    for name in ("numpy", "cpu", "cuda"):
        if name == "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            continue
        try:
            numrnn.resolve_backend(name)
        except (ImportError, RuntimeError):
            continue
        names.append(name)
    return names


BACKENDS = available_backends()


def running_sign_task(n=64, steps=8, seed=0):
    """Per step: is the running sum of feature 0 positive? (needs memory of the past)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 2)).astype(np.float32)
    return X, (X[:, :, 0].cumsum(axis=1) > 0).astype(np.int64)


def sum_task(n=48, steps=8, seed=1):
    """Per sequence: half the sum of its valid inputs; variable lengths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, steps + 1, size=n)
    X = rng.normal(size=(n, steps, 1)).astype(np.float32)
    X[np.arange(steps)[None, :] >= lengths[:, None]] = np.nan  # padding must never be read
    y = np.array([X[i, :lengths[i], 0].sum() / 2 for i in range(n)])[:, None]
    return np.nan_to_num(X), y, lengths


def classifier(backend="numpy", lr=0.05, optimizer=None):
    return Sequential(
        [numrnn.GRU(2, 8, batch_first=True, backend=backend, seed=0),
         Dense(8, 2, activation="softmax", batch_first=True, seed=1)],
        loss="cross_entropy", optimizer=optimizer or Adam(lr=lr))


def regressor(backend="numpy", dtype=np.float32, dropout=0.1):
    return Sequential(
        [numrnn.LSTM(1, 6, backend=backend, dtype=dtype, seed=0), Dropout(dropout, seed=2),
         numrnn.RNN(6, 5, batch_first=True, backend=backend, dtype=dtype, seed=3),
         Dense(5, 1, last_step=True, dtype=dtype, seed=1)],
        loss="mse", optimizer=Adam(lr=0.03))


# -- the stated training result -------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_learns_running_sign_to_stated_loss(backend):
    """Stated result: GRU(2, 8) + softmax head, Adam(lr=0.05), 25 epochs of 4 batches, seed 0,
    reaches cross-entropy < 0.1 and training accuracy > 0.97 (numpy: 0.041, 0.99)."""
    X, y = running_sign_task()
    model = classifier(backend).fit(X, y, epochs=25, batch_size=16, seed=0, progress=False,
                                    metrics=["accuracy"])
    assert model.history_["loss"][-1] < 0.1
    assert model.history_["accuracy"][-1] > 0.97


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_regression_with_lengths_and_validation(backend):
    X, y, lengths = sum_task()
    model = regressor(backend).fit(X, y, lengths=lengths, epochs=30, batch_size=16, seed=0,
                                   validation_split=0.25, metrics=["r2"], progress=False)
    assert model.history_["loss"][-1] < 0.1 * model.history_["loss"][0]
    assert model.history_["val_r2"][-1] > 0.8


def test_same_seed_gives_identical_results():
    X, y = running_sign_task(n=32)
    runs = [classifier().fit(X, y, epochs=3, batch_size=8, seed=4, progress=False)
            for _ in range(2)]
    assert runs[0].history_ == runs[1].history_
    for key, value in runs[0].state_dict().items():
        np.testing.assert_array_equal(value, runs[1].state_dict()[key])
    other = classifier().fit(X, y, epochs=3, batch_size=8, seed=5, progress=False)
    assert other.history_["loss"] != runs[0].history_["loss"]


# -- gradients ------------------------------------------------------------------------------

@pytest.mark.parametrize("head_last_step", [False, True])
def test_model_gradient_matches_finite_differences(head_last_step):
    rng = np.random.default_rng(0)
    steps, batch = 4, 3
    lengths = np.array([4, 2, 3])
    layers = [numrnn.LSTM(2, 3, batch_first=True, backend="numpy", dtype=np.float64, seed=0),
              Dropout(0.0),
              numrnn.GRU(3, 3, backend="numpy", dtype=np.float64, seed=1),
              Dense(3, 4, activation="softmax", last_step=head_last_step, dtype=np.float64,
                    seed=2)]
    model = Sequential(layers, loss="cross_entropy")
    x = rng.normal(size=(steps, batch, 2))
    y = rng.integers(0, 4, size=(batch,) if head_last_step else (steps, batch))
    loss_lengths = None if head_last_step else lengths

    def objective(_):
        logits, _ = model._forward(x, lengths, [None, None])
        return model.loss(logits, y, loss_lengths)

    objective(None)
    model._backward(model.loss.backward())
    analytic = {k: v.copy() for k, v in model.grads().items()}
    for name, param in model.parameters().items():
        np.testing.assert_allclose(analytic[name], numerical_gradient(objective, param),
                                   rtol=1e-5, atol=1e-8, err_msg=name)


# -- truncated BPTT -------------------------------------------------------------------------

def test_tbptt_with_window_covering_sequence_equals_full_bptt():
    X, y = running_sign_task(n=16)
    full = classifier().fit(X, y, epochs=2, batch_size=8, seed=0, progress=False)
    windowed = classifier().fit(X, y, epochs=2, batch_size=8, seed=0, tbptt=8, progress=False)
    assert full.history_ == windowed.history_


def test_tbptt_carries_detached_state_between_windows():
    """Two windows of 3 and 2 steps, plain SGD: replay by hand with the layer API."""
    X, y = running_sign_task(n=4, steps=5)
    lengths = np.array([5, 2, 4, 3])
    model = classifier(optimizer=SGD(lr=0.5)).fit(
        X, y, lengths=lengths, epochs=1, batch_size=4, shuffle=False, tbptt=3, progress=False)

    reference = classifier(optimizer=SGD(lr=0.5))
    gru, head = reference.layers
    x_tm, y_tm = X.transpose(1, 0, 2), y.T
    state = np.zeros((1, 4, 8), dtype=np.float32)
    for start, rows in ((0, np.arange(4)), (3, np.array([0, 2]))):
        window_lengths = np.minimum(lengths[rows] - start, 3)
        out, h_n = gru(x_tm[start:start + 3, rows].transpose(1, 0, 2), hx=state[:, rows],
                       lengths=window_lengths)
        z = head(out, window_lengths)
        reference.loss(z.transpose(1, 0, 2), y_tm[start:start + 3, rows], window_lengths)
        grad_out = head.backward(reference.loss.backward().transpose(1, 0, 2))
        gru.backward(grad_out)  # the gradient into hx is dropped: the state is detached
        reference.optimizer.step(reference.parameters(), reference.grads())
        state[:, rows] = h_n
    for key, value in reference.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value, rtol=1e-6, atol=1e-7)


def test_tbptt_trains_on_long_sequences():
    """Windows of 6 steps over 24-step sequences: the carried state holds the running sum."""
    X, y = running_sign_task(n=32, steps=24)
    model = classifier(lr=0.01).fit(X, y, epochs=10, batch_size=16, seed=0, tbptt=6,
                                    metrics=["accuracy"], progress=False)
    assert model.history_["loss"][-1] < 0.4 * model.history_["loss"][0]
    assert model.history_["accuracy"][-1] > 0.85


# -- inference ------------------------------------------------------------------------------

def test_stream_in_chunks_equals_predict_on_whole_sequences():
    X, y = running_sign_task(n=5)
    model = classifier().fit(X, y, epochs=1, batch_size=8, seed=0, progress=False)
    whole = model.predict(X)
    model.reset_stream()
    parts = [model.stream(X[:, a:b]) for a, b in ((0, 3), (3, 4), (4, 8))]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="x must have batch size 5 like the stream's"):
        model.stream(X[:2, :1])
    model.reset_stream()
    assert model.stream(X[:2, :1]).shape == (2, 1, 2)


def test_predict_is_batch_size_independent_and_zero_at_padding():
    X, y, lengths = sum_task(n=10)
    model = Sequential([numrnn.GRU(1, 4, backend="numpy", seed=0),
                        Dense(4, 1, seed=1)], loss="mse")
    a = model.predict(X, lengths, batch_size=3)
    b = model.predict(X, lengths, batch_size=10)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # BLAS blocking differs by size
    assert np.all(a[np.arange(8)[None, :] >= lengths[:, None]] == 0)


# -- fit options ------------------------------------------------------------------------------

def test_early_stopping_restores_best_weights():
    X, y = running_sign_task(n=40)
    model = classifier(lr=0.5).fit(X, y, epochs=40, batch_size=8, seed=0, progress=False,
                                   validation_split=0.25, early_stopping=2)
    history = model.history_
    assert len(history["loss"]) < 40
    assert model.best_epoch_ == int(np.argmin(history["val_loss"]))
    assert len(history["loss"]) == model.best_epoch_ + 3


def test_validation_data_metrics_schedule_and_progress_bar(capsys):
    X, y = running_sign_task(n=24)
    model = classifier(lr=0.1)
    schedule = StepLR(model.optimizer, step_size=1, gamma=0.5)
    model.fit(X[:16], y[:16], validation_data=(X[16:], y[16:]), epochs=3, batch_size=8,
              seed=0, metrics=["accuracy", "f1_macro", "perplexity"], schedule=schedule,
              progress=True, clip_norm=1.0, clip_value=0.5)
    history = model.history_
    assert history["lr"] == [0.1, 0.05, 0.025]
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "val_f1_macro",
                "val_perplexity"):
        assert len(history[key]) == 3, key
    assert history["val_loss"][-1] == pytest.approx(model.evaluate(X[16:], y[16:])["loss"])
    assert "fit" in capsys.readouterr().err


def test_fit_leaves_model_in_eval_mode_and_predict_restores_mode():
    X, y, lengths = sum_task(n=8)
    model = regressor(dropout=0.5).fit(X, y, lengths=lengths, epochs=1, progress=False)
    assert not any(layer.training for layer in model.layers)
    model.train()
    first = model.predict(X, lengths)
    np.testing.assert_array_equal(first, model.predict(X, lengths))  # no dropout in predict
    assert all(layer.training for layer in model.layers)


def test_state_dict_roundtrip_and_strict_load():
    model, other = regressor(), regressor()
    other.layers[0].load_state_dict({k: v + 1 for k, v in other.layers[0].state_dict().items()})
    model.load_state_dict(other.state_dict())
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    before = copy.deepcopy(model.state_dict())
    broken = {**other.state_dict(), "3.bias": np.zeros(7)}
    with pytest.raises(ValueError, match=r"state_dict\['3.bias'\] must have shape \(1,\)"):
        model.load_state_dict(broken)
    for key, value in before.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)


# -- argument checks --------------------------------------------------------------------------

def gru(i=2, h=8):
    return numrnn.GRU(i, h, backend="numpy", seed=0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: Sequential([gru()]), ValueError, "layers must end with a Dense head"),
        (lambda: Sequential([gru(), Dense(7, 2)]), ValueError,
         r"layers\[1\] takes 7 input features but the layer before gives 8"),
        (lambda: Sequential([gru(), "relu", Dense(8, 2)]), TypeError,
         r"layers\[1\] must be an RNN, LSTM, GRU, Dropout or Dense, got str"),
        (lambda: Sequential([gru(), Dense(8, 2)], loss="cross_entropy"), ValueError,
         "loss CrossEntropyLoss pairs with a 'softmax' head, got activation='identity'"),
        (lambda: Sequential([gru(), Dense(8, 2)], loss="hinge"), ValueError,
         "loss must be one of"),
        (lambda: Sequential([gru(), Dense(8, 2)], optimizer=3), TypeError,
         "optimizer must be a name or a numrnn Optimizer, got int"),
        (lambda: classifier().fit(np.zeros((4, 3)), np.zeros((4, 3), int)), ValueError,
         "X must have 3 dimensions"),
        (lambda: classifier().fit(np.zeros((4, 3, 5)), np.zeros((4, 3), int)), ValueError,
         r"X must have shape \(N, T, 2\)"),
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4,), int)), ValueError,
         r"y must have shape \(4, 3\) \(class indices for a per-step head\)"),
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4, 3), int), epochs=0),
         ValueError, "epochs must be >= 1, got 0"),
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4, 3), int),
                                  metrics=["mse", "r3"]), ValueError, "metrics must be one of"),
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4, 3), int),
                                  lengths=[1, 2, 3, 4]), ValueError,
         r"lengths must lie in \[1, 3\]"),
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4, 3), int),
                                  validation_split=0.1), ValueError,
         "validation_split=0.1 leaves 0 of 4 samples"),
        (lambda: regressor().fit(np.zeros((4, 3, 1)), np.zeros((4, 1)), tbptt=2), ValueError,
         "tbptt needs a per-step head"),
        (lambda: regressor().fit(np.zeros((4, 3, 1)), np.zeros((4, 1)), metrics=["accuracy"]),
         ValueError, "metric 'accuracy' needs a softmax or sigmoid head"),
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4, 3), int),
                                  schedule=StepLR(SGD(), 1)), ValueError,
         "schedule must be a numrnn Schedule of this model's optimizer"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
