"""Sequential model: gradients, training to a stated loss on every backend, determinism,
truncated BPTT, streaming, validation, early stopping and argument checks."""

import copy
import pickle

import numpy as np
import pytest
from parity import import_torch
from train_helpers import BACKENDS, check_model_gradient, running_sign_task, sum_task

import numrnn
from numrnn.heads import Dense
from numrnn.model import Dropout, Sequential
from numrnn.optim import SGD, Adam, LinearWarmup, StepLR


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


def test_multilabel_sigmoid_head_per_step_with_lengths():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(24, 6, 3))
    y = (X[:, :, :2].cumsum(axis=1) > 0).astype(np.float64)
    lengths = rng.integers(1, 7, size=24)
    model = Sequential([numrnn.RNN(3, 8, backend="numpy", seed=0),
                        Dense(8, 2, activation="sigmoid", seed=1)],
                       loss="bce_with_logits", optimizer=Adam(lr=0.05))
    model.fit(X, y, lengths=lengths, epochs=15, batch_size=8, seed=0, progress=False,
              metrics=["accuracy", "f1_macro"])
    assert model.history_["loss"][-1] < 0.6 * model.history_["loss"][0]
    assert model.history_["accuracy"][-1] > 0.8
    proba = model.predict(X, lengths)
    assert proba.shape == (24, 6, 2) and np.all((proba >= 0) & (proba <= 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_gives_identical_results(backend):
    X, y = running_sign_task(n=32)
    runs = [classifier(backend).fit(X, y, epochs=3, batch_size=8, seed=4, progress=False)
            for _ in range(2)]
    assert runs[0].history_ == runs[1].history_
    for key, value in runs[0].state_dict().items():
        np.testing.assert_array_equal(value, runs[1].state_dict()[key])
    other = classifier(backend).fit(X, y, epochs=3, batch_size=8, seed=5, progress=False)
    assert other.history_["loss"] != runs[0].history_["loss"]


# -- gradients ------------------------------------------------------------------------------

@pytest.mark.parametrize("head_last_step", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_model_gradient_matches_finite_differences(head_last_step, bidirectional):
    rng = np.random.default_rng(0)
    steps, batch = 4, 3
    lengths = np.array([4, 2, 3])
    directions = 2 if bidirectional else 1
    layers = [numrnn.LSTM(2, 3, batch_first=True, backend="numpy", dtype=np.float64, seed=0),
              Dropout(0.0),
              numrnn.GRU(3, 3, bidirectional=bidirectional, backend="numpy", dtype=np.float64,
                         seed=1),
              Dense(3 * directions, 4, activation="softmax", last_step=head_last_step,
                    dtype=np.float64, seed=2)]
    model = Sequential(layers, loss="cross_entropy")
    x = rng.normal(size=(steps, batch, 2))
    y = rng.integers(0, 4, size=(batch,) if head_last_step else (steps, batch))
    check_model_gradient(model, x, y, lengths, None if head_last_step else lengths)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("last_step", [True, False])
def test_chain_equals_the_layers_public_calls(backend, last_step):
    """The model's chain runs its recurrent layers time-major on its own arrays (no
    batch_first transposes, no copies): the same logits, states and gradients as the layers'
    public calls, in either layout, and the caller's array unchanged; also in evaluation mode,
    after an in-place parameter update, after pickling and after load_state_dict."""
    rng = np.random.default_rng(5)
    steps, batch = 5, 3
    lengths = np.array([5, 2, 4])
    model = Sequential(
        [numrnn.LSTM(2, 4, batch_first=True, backend=backend, dtype=np.float64, seed=0),
         # (bidirectional under a per-step head: a last-step head would read a summary)
         numrnn.GRU(4, 3, bidirectional=not last_step, backend=backend, dtype=np.float64,
                    seed=1),
         Dense(3 if last_step else 6, 2, last_step=last_step, batch_first=True,
               dtype=np.float64, seed=2)],
        loss="mse")
    x = rng.normal(size=(steps, batch, 2))
    x[lengths[1]:, 1] = 0.0  # zero padding, as the chain's batches have

    def check(model, training):
        by_hand = copy.deepcopy(model)
        kept = x.copy()
        logits, finals = model._forward(x, lengths, [None, None])
        np.testing.assert_array_equal(x, kept)
        lstm, gru, head = by_hand.layers
        out1, f1 = lstm(x.swapaxes(0, 1), lengths=lengths)
        out2, f2 = gru(out1.swapaxes(0, 1), lengths=lengths)
        z = head(out2.swapaxes(0, 1), lengths)
        np.testing.assert_allclose(logits, z if last_step else z.swapaxes(0, 1), rtol=1e-12,
                                   atol=1e-14)
        for got, ref in zip(finals, (f1, f2), strict=True):
            for g, r in zip(got, ref, strict=True):
                np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)
        if not training:
            return
        grad_logits = rng.normal(size=logits.shape)
        model._backward(grad_logits)
        g_head = head.backward(grad_logits if last_step else grad_logits.swapaxes(0, 1))
        g2, _ = gru.backward(g_head.swapaxes(0, 1))
        lstm.backward(g2.swapaxes(0, 1), input_grad=False)
        for ours, theirs in zip(model.layers, by_hand.layers, strict=True):
            assert ours.grads.keys() == theirs.grads.keys()
            for name in ours.grads:
                np.testing.assert_allclose(ours.grads[name], theirs.grads[name], rtol=1e-12,
                                           atol=1e-14, err_msg=name)

    check(model, True)
    model.eval()
    check(model, False)
    model.train()
    model.layers[0].parameters()["weight_hh_l0"] *= 1.5  # in place
    check(model, True)
    check(pickle.loads(pickle.dumps(model)), True)
    state = {k: v * 0.9 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    check(model, True)


# -- truncated BPTT -------------------------------------------------------------------------

def test_tbptt_with_window_covering_sequence_equals_full_bptt():
    X, y = running_sign_task(n=16)
    full = classifier().fit(X, y, epochs=2, batch_size=8, seed=0, progress=False)
    windowed = classifier().fit(X, y, epochs=2, batch_size=8, seed=0, tbptt=8, progress=False)
    assert full.history_ == windowed.history_


@pytest.mark.parametrize("backend", BACKENDS)
def test_tbptt_carries_detached_state_between_windows(backend):
    """Two windows of 3 and 2 steps, plain SGD: replay by hand with the layer API."""
    X, y = running_sign_task(n=4, steps=5)
    lengths = np.array([5, 2, 4, 3])
    model = classifier(backend, optimizer=SGD(lr=0.5)).fit(
        X, y, lengths=lengths, epochs=1, batch_size=4, shuffle=False, tbptt=3, progress=False)

    reference = classifier(backend, optimizer=SGD(lr=0.5))
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
        reference.optimizer.step(reference.parameters(), reference.grads)
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

@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_in_chunks_equals_predict_on_whole_sequences(backend):
    X, y = running_sign_task(n=5)
    model = classifier(backend).fit(X, y, epochs=1, batch_size=8, seed=0, progress=False)
    whole = model.predict(X)
    model.reset_stream()
    parts = [model.stream(X[:, a:b]) for a, b in ((0, 3), (3, 4), (4, 8))]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-5, atol=1e-6)
    lengths = np.array([8, 3, 5, 4, 7])
    padded = np.where(np.arange(8)[None, :, None] < lengths[:, None, None], X, np.nan)
    whole = model.predict(padded, lengths)
    model.reset_stream()
    parts = [model.stream(padded[:, a:b], np.clip(lengths - a, 1, b - a))
             for a, b in ((0, 4), (4, 8))]
    second = np.arange(4)[None, :] < (lengths - 4)[:, None]  # steps that exist in chunk 2
    np.testing.assert_allclose(parts[0], whole[:, :4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parts[1][second], whole[:, 4:][second], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="x must have batch size 5 like the stream's"):
        model.stream(X[:2, :1])
    model.reset_stream()
    assert model.stream(X[:2, :1]).shape == (2, 1, 2)


def test_last_step_head_reads_each_direction_after_the_whole_sequence():
    X, y, lengths = sum_task(n=5)
    gru = numrnn.GRU(1, 3, bidirectional=True, backend="numpy", seed=0)
    model = Sequential([gru, Dense(6, 1, last_step=True, seed=1)])
    with numrnn.no_grad():
        _, h_n = gru(np.nan_to_num(X).transpose(1, 0, 2), lengths=lengths)
    expected = model.head(np.concatenate([h_n[0], h_n[1]], axis=1)[None])
    np.testing.assert_allclose(model.predict(X, lengths), expected, rtol=1e-5, atol=1e-6)


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


def test_schedule_stepped_per_update():
    X, y = running_sign_task(n=24)
    model = classifier(lr=0.1)
    schedule = LinearWarmup(model.optimizer, warmup_steps=4, start_factor=0.25)
    model.fit(X, y, epochs=2, batch_size=8, seed=0, schedule=schedule,
              schedule_interval="update", progress=False)
    assert schedule.last_step == 6
    assert model.history_["lr"] == pytest.approx([0.1 * (0.25 + 0.75 * 3 / 4), 0.1])
    with pytest.raises(ValueError, match="schedule_interval must be one of"):
        model.fit(X, y, schedule=schedule, schedule_interval="batch", progress=False)


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
        (lambda: classifier().fit(np.zeros((4, 3, 2)), np.zeros((4, 3), int),
                                  validation_data=(np.zeros((2, 3, 2)), np.zeros((2, 4), int))),
         ValueError, r"validation_data\[1\] must have shape \(2, 3\)"),
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


def test_fit_matches_the_same_training_in_torch():
    """Three full-batch AdamW steps of GRU + linear head with cross-entropy, float64."""
    torch = import_torch()
    X, y = running_sign_task(n=6, steps=5)
    X = X.astype(np.float64)
    torch.manual_seed(0)
    gru_t = torch.nn.GRU(2, 4, batch_first=True).double()
    head_t = torch.nn.Linear(4, 2).double()
    model = Sequential([numrnn.GRU(2, 4, batch_first=True, backend="numpy", dtype=np.float64),
                        Dense(4, 2, activation="softmax", batch_first=True, dtype=np.float64)],
                       loss=numrnn.losses.CrossEntropyLoss(label_smoothing=0.1),
                       optimizer=numrnn.optim.AdamW(lr=0.05, weight_decay=0.1))
    modules = torch.nn.ModuleList([gru_t, head_t])
    model.load_state_dict({k: v.detach().numpy() for k, v in modules.state_dict().items()})
    optimizer = torch.optim.AdamW(modules.parameters(), lr=0.05, weight_decay=0.1)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        out, _ = gru_t(torch.from_numpy(X))
        loss = loss_fn(head_t(out).reshape(-1, 2), torch.from_numpy(y).reshape(-1))
        loss.backward()
        optimizer.step()
    model.fit(X, y, epochs=3, batch_size=6, shuffle=False, progress=False)
    for key, value in modules.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=key)


def test_pickle_roundtrip_predicts_identically():
    X, y, lengths = sum_task(n=8)
    model = regressor().fit(X, y, lengths=lengths, epochs=1, progress=False)
    copy_ = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy_.predict(X, lengths), model.predict(X, lengths))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64])
def test_dropout_keeps_the_scaling_in_every_dtype(rng, dtype):
    """Kept entries are x / (1 - p), the rest 0, the mask fresh per call; float inputs keep
    their dtype, integer ones come out in float64 (not truncated back to integers)."""
    x = rng.integers(1, 5, (300, 7)).astype(dtype)
    drop = Dropout(0.2, seed=int(rng.integers(2**31)))
    y = drop(x)
    assert y.dtype == (dtype if np.dtype(dtype).kind == "f" else np.float64)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.8, rtol=1e-3 if dtype == np.float16 else 1e-6)
    assert abs(kept.mean() - 0.8) < 5 * np.sqrt(0.8 * 0.2 / x.size)
    np.testing.assert_array_equal(drop.backward(np.ones_like(y)) != 0, kept)
    assert not np.array_equal(drop(x) != 0, kept)
