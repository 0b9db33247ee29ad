"""``step`` never goes stale: it computes with the current parameters, whatever happened.

Each test streams a layer on the ``"cpu"`` backend (whose fast path is a compiled stepper)
and compares every output with the NumPy reference layer run on the same parameters
(the general path), for every registered cell.
"""

import pickle

import numpy as np
import pytest

import numrnn

CELLS = {
    "lstm": (numrnn.LSTM, {}),
    "lstm_proj": (numrnn.LSTM, {"proj_size": 2}),
    "gru": (numrnn.GRU, {}),
    "rnn_tanh": (numrnn.RNN, {}),
    "rnn_relu": (numrnn.RNN, {"nonlinearity": "relu"}),
}
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}


def make(cell, dtype, seed, num_layers=2):
    cls, kwargs = CELLS[cell]
    layer = cls(3, 5, num_layers=num_layers, dtype=dtype, backend="cpu", seed=seed, **kwargs)
    return layer


def reference_of(layer):
    cls = type(layer)
    kwargs = {"proj_size": layer.proj_size} if layer.proj_size else {}
    if isinstance(layer, numrnn.RNN) and cls is numrnn.RNN:
        kwargs["nonlinearity"] = layer.nonlinearity
    ref = cls(layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
              dtype=np.float64, backend="numpy", **kwargs)
    ref.load_state_dict(layer.state_dict())
    return ref


def reference_step(layer, x_t, h):
    """One step of the general path (the NumPy reference) on the layer's current parameters."""
    as64 = (lambda s: tuple(np.float64(a) for a in s)) if isinstance(h, tuple) else np.float64
    return reference_of(layer).step(np.float64(x_t), None if h is None else as64(h))


def assert_state_close(got, want, dtype):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **TOL[dtype])


def stream(layer, xs, h=None, check=True):
    """Step through xs, checking every step against the reference; return the last state."""
    for x_t in xs:
        want_out, want_h = reference_step(layer, x_t, h)
        out, h = layer.step(x_t, h)
        if check:
            np.testing.assert_allclose(out, want_out, **TOL[layer.dtype.type])
            assert_state_close(h, want_h, layer.dtype.type)
    return h


@pytest.fixture(params=list(CELLS))
def cell(request):
    return request.param


@pytest.fixture(params=[np.float32, np.float64])
def dtype(request):
    return request.param


def inputs(rng, steps, dtype, batch=2):
    return rng.standard_normal((steps, batch, 3)).astype(dtype)


def test_pickled_layer_keeps_streaming(rng, cell, dtype):
    layer = make(cell, dtype, seed=1)
    xs = inputs(rng, 5, dtype)
    h = stream(layer, xs[:2])
    restored = pickle.loads(pickle.dumps(layer))
    out, h_restored = restored.step(xs[2], h)
    assert out is not None
    want_out, _ = reference_step(layer, xs[2], h)
    np.testing.assert_allclose(out, want_out, **TOL[dtype])
    stream(restored, xs[3:], h_restored)  # and its fast path afterwards


def test_in_place_parameter_changes_count_at_the_next_step(rng, cell, dtype):
    layer = make(cell, dtype, seed=2)
    params = layer.parameters()  # held by the caller, as an optimizer holds it
    xs = inputs(rng, 6, dtype)
    h = stream(layer, xs[:2])
    for t in range(2, 6):
        for p in params.values():
            p *= dtype(1.0) + dtype(0.1) * rng.standard_normal(p.shape).astype(dtype)
        h = stream(layer, xs[t : t + 1], h)


def test_load_state_dict_between_steps(rng, cell, dtype):
    layer, other = make(cell, dtype, seed=3), make(cell, dtype, seed=4)
    held = layer.parameters()
    xs = inputs(rng, 4, dtype)
    h = stream(layer, xs[:2])
    layer.load_state_dict(other.state_dict())
    for name, p in held.items():  # copied in place: what the caller held stays live
        np.testing.assert_array_equal(p, other.state_dict()[name])
    stream(layer, xs[2:], h)


def test_train_and_eval_switches_between_steps(rng, cell, dtype):
    layer = make(cell, dtype, seed=5)
    xs = inputs(rng, 6, dtype)
    h = stream(layer, xs[:2])
    layer.eval()
    h = stream(layer, xs[2:4], h)
    layer.train()
    stream(layer, xs[4:], h)


def test_unbatched_and_float64_samples_for_a_float32_layer(rng, cell):
    layer = make(cell, np.float32, seed=6)
    xs = rng.standard_normal((4, 3))  # float64, unbatched: how scientific data arrives
    h = None
    for x_t in xs:
        want_out, want_h = reference_step(layer, x_t, h)
        out, h = layer.step(x_t, h)
        assert out.dtype == np.float32 and out.shape == (layer.proj_size or 5,)
        np.testing.assert_allclose(out, want_out, **TOL[np.float32])
        assert_state_close(h, want_h, np.float32)
    np.testing.assert_array_equal(xs, np.asarray(xs))  # the caller's array is untouched


def test_stepping_equals_the_sequence_forward(rng, cell, dtype):
    """The stack core run over T steps equals stepping the cell T times."""
    layer = make(cell, dtype, seed=7)
    xs = inputs(rng, 5, dtype, batch=3)
    layer.eval()
    out_seq, h_seq = layer(xs)
    h = None
    for t in range(5):
        out, h = layer.step(xs[t], h)
        np.testing.assert_allclose(out, out_seq[t], **TOL[dtype])
    assert_state_close(h, h_seq, dtype)


def test_stepping_equals_the_sequence_forward_with_lengths(rng, cell, dtype):
    """With lengths, each sequence's outputs and final state are those of its own steps."""
    layer = make(cell, dtype, seed=8)
    xs = inputs(rng, 5, dtype, batch=3)
    lengths = np.array([5, 2, 4])
    out_seq, h_seq = layer(xs, lengths=lengths)
    for b, n in enumerate(lengths):
        h = None
        for t in range(n):
            out, h = layer.step(xs[t, b], h)
            np.testing.assert_allclose(out, out_seq[t, b], **TOL[dtype])
        np.testing.assert_array_equal(out_seq[n:, b], 0)
        want = tuple(s[:, b] for s in h_seq) if isinstance(h_seq, tuple) else h_seq[:, b]
        assert_state_close(h, want, dtype)


# -- Sequential.stream: its one-step fast path equals the general path ---------------------

def stream_model(cell, dtype, activation, last_step, seed):
    from numrnn.heads import Dense
    from numrnn.model import Dropout, Sequential

    cls, kwargs = CELLS[cell]
    first = cls(3, 5, num_layers=2, dropout=0.3, batch_first=True, dtype=dtype,
                backend="cpu", seed=seed, **kwargs)
    width = first.proj_size or 5
    loss = {"identity": "mse", "softmax": "cross_entropy", "sigmoid": "bce_with_logits"}
    return Sequential([first, Dropout(0.5, seed=seed),
                       numrnn.GRU(width, 4, dtype=dtype, backend="cpu", seed=seed + 1),
                       Dense(4, 3, activation=activation, last_step=last_step, dtype=dtype,
                             seed=seed + 2)], loss=loss[activation])


def general_stream(model, x):
    """The general path of stream: lengths given (all ones) take it every time."""
    return model.stream(x, lengths=np.ones(x.shape[0], dtype=int))


@pytest.mark.parametrize("activation", ["identity", "softmax", "sigmoid"])
@pytest.mark.parametrize("last_step", [False, True])
def test_sequential_stream_fast_path_equals_the_general_path(rng, cell, dtype, activation,
                                                             last_step):
    import copy

    model = stream_model(cell, dtype, activation, last_step, seed=11)
    twin = copy.deepcopy(model)
    xs = rng.standard_normal((8, 2, 1, 3))
    for t, x in enumerate(xs):
        if t == 3:  # parameters changed in place, through the dicts the caller holds
            for m in (model, twin):
                for p in m.parameters().values():
                    p *= dtype(0.9)
        if t == 4:  # training mode: the recurrent layers' dropout is active, stream ignores it
            model.train()
            twin.train()
        if t == 5:
            model.eval()
            twin.eval()
        if t == 6:  # a pickled model goes on streaming where it was
            model = pickle.loads(pickle.dumps(model))
        if t == 7:
            state = stream_model(cell, dtype, activation, last_step, seed=12).state_dict()
            model.load_state_dict(state)
            twin.load_state_dict(state)
        got = model.stream(x.astype(dtype) if t % 2 else x)  # float64 samples too
        want = general_stream(twin, x)
        assert got.shape == want.shape == ((2, 3) if last_step else (2, 1, 3))
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"step {t}")
    assert model._stream_step is not None  # the fast path was taken


def test_sequential_stream_fast_path_leaves_the_input_alone(rng):
    model = stream_model("lstm", np.float32, "softmax", False, seed=3)
    x = rng.standard_normal((2, 1, 3))
    kept = x.copy()
    for _ in range(3):
        model.stream(x)
    np.testing.assert_array_equal(x, kept)
    model.reset_stream()
    assert model._stream_step is None
