"""The layer contract of DESIGN.md, on every host backend.

Parity with ``torch.nn`` (where installed), finite-difference gradients in
float64, streaming ``step`` against whole-sequence forward, and the
float32 path against the float64 reference.
"""

import itertools
import sys
import threading

import numpy as np
import pytest
from parity import import_torch

import numrnn

# (class, extra constructor arguments): every cell type.
CELLS = {
    "rnn_tanh": (numrnn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (numrnn.RNN, {"nonlinearity": "relu"}),
    "lstm": (numrnn.LSTM, {}),
    "lstm_proj": (numrnn.LSTM, {"proj_size": 2}),
    "gru": (numrnn.GRU, {}),
}


def make_layer(cell, I, H, num_layers=1, backend="numpy", dtype=np.float64, **kwargs):
    cls, extra = CELLS[cell]
    return cls(I, H, num_layers, **extra, **kwargs, backend=backend, dtype=dtype,
               seed=int(np.random.SeedSequence().entropy % 2**32))


def is_lstm(layer):
    return isinstance(layer, numrnn.LSTM)


def random_state(layer, rng, B, batched=True):
    """A random initial state with the layer's structure."""
    n = layer.num_layers * (2 if layer.bidirectional else 1)
    lead = (n, B) if batched else (n,)
    h = rng.standard_normal((*lead, layer.proj_size or layer.hidden_size))
    return (h, rng.standard_normal((*lead, layer.hidden_size))) if is_lstm(layer) else h


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def assert_rel(a, b, tol, what=""):
    assert np.shape(a) == np.shape(b), f"{what}: shape {np.shape(a)} != {np.shape(b)}"
    err = rel_err(a, b)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:.1g}"


def weighted_sum(out, state, grad_out, grad_state):
    """The scalar whose gradient backward() computes."""
    total = np.sum(out * grad_out)
    for s, g in zip(as_tuple(state), as_tuple(grad_state), strict=True):
        total += np.sum(s * g)
    return total


# ---------------------------------------------------------------------------
# PyTorch parity
# ---------------------------------------------------------------------------


def torch_run(layer, x, hx, lengths, grad_out, grad_hn):
    """Forward and backward of the equivalent torch.nn module in float64."""
    torch = import_torch()
    cls = {numrnn.RNN: torch.nn.RNN, numrnn.LSTM: torch.nn.LSTM, numrnn.GRU: torch.nn.GRU}
    kwargs = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
                  bidirectional=layer.bidirectional)
    if is_lstm(layer):
        kwargs["proj_size"] = layer.proj_size
    if type(layer) is numrnn.RNN:
        kwargs["nonlinearity"] = layer.nonlinearity
    module = cls[type(layer)](layer.input_size, layer.hidden_size, **kwargs).double()
    module.load_state_dict({k: torch.tensor(v, dtype=torch.float64)
                            for k, v in layer.state_dict().items()})
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    hts = [torch.tensor(h, dtype=torch.float64, requires_grad=True) for h in as_tuple(hx)]
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=layer.batch_first, enforce_sorted=False)
    out, hn = module(inp, tuple(hts) if is_lstm(layer) else hts[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=layer.batch_first, total_length=x.shape[1 if layer.batch_first else 0])
    loss = (out * torch.tensor(grad_out)).sum()
    for s, g in zip(as_tuple(hn), as_tuple(grad_hn), strict=True):
        loss = loss + (s * torch.tensor(g)).sum()
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    hn = tuple(s.detach().numpy() for s in as_tuple(hn))
    return (out.detach().numpy(), hn, xt.grad.numpy(), tuple(h.grad.numpy() for h in hts), grads)


def check_against_torch(layer, x, hx, lengths, rng, tol=1e-9):
    out, hn = layer(x, hx, lengths)
    grad_out = rng.standard_normal(out.shape)
    grad_hn = tuple(rng.standard_normal(s.shape) for s in as_tuple(hn))
    grad_hn = grad_hn if is_lstm(layer) else grad_hn[0]
    grad_x, grad_hx = layer.backward(grad_out, grad_hn)
    t_out, t_hn, t_gx, t_ghx, t_grads = torch_run(
        layer, x, hx if hx is not None else tuple(np.zeros_like(s) for s in as_tuple(hn)),
        lengths, grad_out, grad_hn)
    assert_rel(out, t_out, tol, "output")
    for a, b in zip(as_tuple(hn), t_hn, strict=True):
        assert_rel(a, b, tol, "final state")
    assert_rel(grad_x, t_gx, tol, "grad_x")
    for a, b in zip(as_tuple(grad_hx), t_ghx, strict=True):
        assert_rel(a, b, tol, "grad_hx")
    assert list(layer.grads) == list(t_grads)
    for name, g in t_grads.items():
        assert_rel(layer.grads[name], g, tol, name)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("variable_length", [False, True])
def test_torch_parity(backend, rng, cell, num_layers, bidirectional, variable_length):
    T, B, I, H = 5, 3, 4, 3
    layer = make_layer(cell, I, H, num_layers, backend, bidirectional=bidirectional)
    x = rng.standard_normal((T, B, I))
    lengths = rng.permutation([T, 1, rng.integers(2, T)]) if variable_length else None
    hx = random_state(layer, rng, B)
    check_against_torch(layer, x, hx, lengths, rng)


@pytest.mark.parametrize("cell", list(CELLS))
def test_torch_parity_batch_first_no_bias_lengths(backend, rng, cell):
    T, B, I, H = 4, 3, 2, 5
    layer = make_layer(cell, I, H, 2, backend, batch_first=True, bias=False, bidirectional=True)
    x = rng.standard_normal((B, T, I))
    check_against_torch(layer, x, None, rng.permutation([4, 2, 3]), rng)


@pytest.mark.parametrize("cell", list(CELLS))
def test_torch_parity_unbatched(backend, rng, cell):
    layer = make_layer(cell, 3, 4, 2, backend, bidirectional=True)
    check_against_torch(layer, rng.standard_normal((6, 3)), random_state(layer, rng, 0, False),
                        None, rng)


# ---------------------------------------------------------------------------
# Finite differences (float64)
# ---------------------------------------------------------------------------


def numeric_directional(f, theta, direction, eps=1e-6):
    return (f(theta + eps * direction) - f(theta - eps * direction)) / (2 * eps)


@pytest.mark.parametrize(
    "cell,num_layers,bidirectional,variable_length",
    list(itertools.product(CELLS, [1, 2], [False, True], [False, True])),
)
def test_gradients_finite_differences(backend, rng, cell, num_layers, bidirectional,
                                      variable_length):
    T, B, I, H = 4, 3, 2, 3
    layer = make_layer(cell, I, H, num_layers, backend, bidirectional=bidirectional)
    x = rng.standard_normal((T, B, I))
    hx = random_state(layer, rng, B)
    lengths = rng.permutation([T, 1, 3]) if variable_length else None
    out, hn = layer(x, hx, lengths)
    grad_out = rng.standard_normal(out.shape)
    grad_hn = tuple(rng.standard_normal(s.shape) for s in as_tuple(hn))
    grad_hn = grad_hn if is_lstm(layer) else grad_hn[0]
    grad_x, grad_hx = layer.backward(grad_out, grad_hn)
    grads = layer.grads

    def loss(x=x, hx=hx):
        with numrnn.no_grad():
            return weighted_sum(*layer(x, hx, lengths), grad_out, grad_hn)

    for analytic, point, f in [
        (grad_x, x, lambda v: loss(x=v)),
        *[(g, h, (lambda v, i=i: loss(hx=_replace(hx, i, v))))
          for i, (g, h) in enumerate(zip(as_tuple(grad_hx), as_tuple(hx), strict=True))],
    ]:
        for _ in range(2):
            d = rng.standard_normal(point.shape)
            assert np.isclose(np.sum(analytic * d), numeric_directional(f, point, d),
                              rtol=1e-6, atol=1e-8)
    params = layer.state_dict()
    for name, value in params.items():
        def f(v, name=name):
            layer.load_state_dict({**params, name: v})
            return loss()
        d = rng.standard_normal(value.shape)
        assert np.isclose(np.sum(grads[name] * d), numeric_directional(f, value, d),
                          rtol=1e-6, atol=1e-8), name


def _replace(state, i, value):
    if not isinstance(state, tuple):
        return value
    return tuple(value if j == i else s for j, s in enumerate(state))


def test_gradients_with_dropout(backend, rng):
    layer = make_layer("gru", 2, 3, 3, backend, dropout=0.4)
    x = rng.standard_normal((4, 2, 2))
    seed = int(rng.integers(2**31))

    def run(x):
        layer._dropout_rng = np.random.default_rng(seed)
        return layer(x)

    out, hn = run(x)
    grad_out = rng.standard_normal(out.shape)
    grad_x, _ = layer.backward(grad_out)
    d = rng.standard_normal(x.shape)
    numeric = numeric_directional(lambda v: np.sum(run(v)[0] * grad_out), x, d)
    assert np.isclose(np.sum(grad_x * d), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", ["lstm_proj", "gru", "rnn_relu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_backward_without_input_gradient(backend, rng, cell, batch_first):
    """input_grad=False returns None for grad_x and everything else unchanged: the state
    gradients and every parameter gradient, with lengths, 2 bidirectional layers."""
    T, B, I, H = 5, 3, 4, 3
    layer = make_layer(cell, I, H, 2, backend, bidirectional=True, batch_first=batch_first)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    lengths = np.array([5, 2, 4])
    out, hn = layer(x, lengths=lengths)
    grad_out = rng.standard_normal(out.shape)
    grad_hn = tuple(rng.standard_normal(h.shape) for h in hn) if isinstance(hn, tuple) \
        else rng.standard_normal(hn.shape)
    grad_x, grad_hx = layer.backward(grad_out, grad_hn)
    full = dict(layer.grads)
    assert grad_x.shape == x.shape
    layer.grads = None
    layer(x, lengths=lengths)
    skipped, grad_hx2 = layer.backward(grad_out, grad_hn, input_grad=False)
    assert skipped is None
    for a, b in zip(grad_hx if isinstance(grad_hx, tuple) else (grad_hx,),
                    grad_hx2 if isinstance(grad_hx2, tuple) else (grad_hx2,), strict=True):
        np.testing.assert_array_equal(a, b)
    assert layer.grads.keys() == full.keys()
    for name, value in full.items():
        np.testing.assert_array_equal(layer.grads[name], value, err_msg=name)


# ---------------------------------------------------------------------------
# float32, step, dropout, modes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_matches_float64_reference(backend, rng, cell):
    T, B, I, H = 7, 4, 5, 6
    single = make_layer(cell, I, H, 2, backend, dtype=np.float32, bidirectional=True)
    double = make_layer(cell, I, H, 2, "numpy", dtype=np.float64, bidirectional=True)
    double.load_state_dict(single.state_dict())
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = rng.permutation([7, 3, 1, 5])
    out32, hn32 = single(x, None, lengths)
    out64, hn64 = double(x, None, lengths)
    assert out32.dtype == np.float32
    assert_rel(out32, out64, 1e-5, "output")
    for a, b in zip(as_tuple(hn32), as_tuple(hn64), strict=True):
        assert a.dtype == np.float32
        assert_rel(a, b, 1e-5, "final state")
    grad_out = rng.standard_normal(out32.shape)
    gx32, _ = single.backward(grad_out.astype(np.float32))
    gx64, _ = double.backward(grad_out)
    assert gx32.dtype == np.float32
    assert_rel(gx32, gx64, 1e-5, "grad_x")
    for name in double.grads:
        assert single.grads[name].dtype == np.float32
        assert_rel(single.grads[name], double.grads[name], 1e-5, name)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batched", [True, False])
def test_step_equals_forward(backend, rng, cell, batched):
    T, B, I, H = 6, 2, 3, 4
    layer = make_layer(cell, I, H, 2, backend)
    x = rng.standard_normal((T, B, I) if batched else (T, I))
    hx = random_state(layer, rng, B, batched)
    out, hn = layer(x, hx)
    state = hx
    for t in range(T):
        out_t, state = layer.step(x[t], state)
        np.testing.assert_allclose(out_t, out[t], rtol=1e-12, atol=1e-14)
    for a, b in zip(as_tuple(state), as_tuple(hn), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", list(CELLS))
def test_step_results_kept_by_the_caller_stay_intact(backend, rng, cell):
    """Whatever the caller still holds (arrays, views of them, states) is never written again."""
    T = 9
    layer = make_layer(cell, 3, 4, 2, backend)
    xs = rng.standard_normal((T, 2, 3))
    want, _ = layer(xs)
    kept, state = [], None
    for t in range(T):
        out_t, state = layer.step(xs[t], state)
        if t % 3 == 0:
            kept.append((t, out_t))
        elif t % 3 == 1:
            kept.append((t, out_t[1:]))  # only a view survives
        else:
            kept.append((t, as_tuple(state)[0][-1].copy()))  # a copy; the state is dropped
            kept.append((t, as_tuple(state)[0][-1]))
    for t, got in kept:
        np.testing.assert_allclose(got, want[t][-got.shape[0]:], rtol=1e-12, atol=1e-14)


def test_step_from_several_threads(backend, rng):
    """Threads stepping one layer, each with its own state, get each their own results."""
    T, n_threads = 1000, 3
    layer = make_layer("lstm", 3, 4, 1, backend)
    xs = rng.standard_normal((n_threads, T, 2, 3))
    want = [layer(x)[0] for x in xs]
    got = [[None] * T for _ in range(n_threads)]

    def run(k):
        state = None
        for t in range(T):
            got[k][t], state = layer.step(xs[k, t], state)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads every few steps, not every 5 ms
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for k in range(n_threads):
        np.testing.assert_allclose(np.stack(got[k]), want[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_and_backward_from_several_threads(rng, cell):
    """Threads running whole sequences at once, each its own layer, get what each gets alone:
    on shapes that split the batch between the backend's threads, run the per-step products
    on packed panels and the input projection by running sequences (lengths)."""
    T, B, I, H, n_threads = 40, 32, 32, 64, 3
    layers = [make_layer(cell, I, H, 1, "cpu") for _ in range(n_threads)]
    xs = rng.standard_normal((n_threads, T, B, I))
    grads = rng.standard_normal((n_threads, T, B, H))
    lengths = rng.integers(1, T + 1, (n_threads, B))

    def run(k):
        out, _ = layers[k](xs[k], lengths=lengths[k])
        return out, layers[k].backward(grads[k])[0]

    want = [run(k) for k in range(n_threads)]
    got = [[] for _ in range(n_threads)]

    def repeat(k):
        for _ in range(5):
            got[k].append(run(k))

    threads = [threading.Thread(target=repeat, args=(k,)) for k in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k in range(n_threads):
        assert len(got[k]) == 5
        for out, grad_x in got[k]:
            np.testing.assert_array_equal(out, want[k][0])
            np.testing.assert_array_equal(grad_x, want[k][1])


def test_step_never_keeps_a_stepper_of_old_parameters(rng):
    """Parameters changed while a step is being made (as by another thread) are not lost."""
    layer = make_layer("gru", 3, 4, 1, "cpu")
    x = rng.standard_normal((2, 3))
    layer.step(x)  # the stepper for x's shape is made
    steps = layer._streaming._stepper[1]
    step, start = steps[x.shape]
    new_params = make_layer("gru", 3, 4, 1, "cpu").state_dict()

    def start_then_change(x_t, state):
        result = start(x_t, state)
        layer.load_state_dict(new_params)  # between the step and making it the fast one
        return result

    steps[x.shape] = (step, start_then_change)
    _, state = layer.step(x)
    out, _ = layer.step(x, state)
    np.testing.assert_allclose(out, layer(x[None], state)[0][0], rtol=1e-12, atol=1e-14)


def test_step_records_no_tape_and_keeps_last(backend, rng):
    layer = make_layer("lstm", 2, 3, 1, backend)
    x = rng.standard_normal((3, 1, 2))
    out, _ = layer(x)
    layer.step(rng.standard_normal((1, 2)))
    grad_x, _ = layer.backward(np.ones_like(out))
    assert grad_x.shape == x.shape


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batched", [True, False])
def test_step_reads_fed_back_state_afresh(backend, rng, cell, batched):
    """A returned state passed back (the "cpu" fast path) is read again, never cached.

    Changed in place, copied, or with inputs of another dtype or layout (the
    validating path): each step equals a forward call from the same state,
    leaves the caller's arrays alone and returns new arrays.
    """
    T, B, I, H = 7, 2, 3, 4
    layer = make_layer(cell, I, H, 2, backend)
    xs = rng.standard_normal((T, B, I) if batched else (T, I))
    _, state = layer.step(xs[0])
    for t in range(1, T):
        x_t = xs[t].copy()
        if t == 2:
            for a in as_tuple(state):
                a *= -0.5
        elif t == 3:
            state = tuple(a.copy() for a in state) if is_lstm(layer) else state.copy()
        elif t == 4:
            x_t = x_t.astype(np.float32)
        elif t == 5:
            x_t = np.asfortranarray(np.stack([x_t, x_t], axis=-1))[..., 0]
        saved = [a.copy() for a in (x_t, *as_tuple(state))]
        want_out, want_state = layer(x_t[None], state)
        out_t, new_state = layer.step(x_t, state)
        np.testing.assert_allclose(out_t, want_out[0], rtol=1e-12, atol=1e-14)
        for a, b in zip(as_tuple(new_state), as_tuple(want_state), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        for a, b in zip((x_t, *as_tuple(state)), saved, strict=True):
            np.testing.assert_array_equal(a, b)
        for a in (out_t, *as_tuple(new_state)):
            assert not any(np.shares_memory(a, b) for b in as_tuple(state))
        state = new_state


def test_step_sees_parameter_updates(backend, rng):
    layer = make_layer("lstm", 3, 4, 1, backend)
    x = rng.standard_normal((2, 3))
    _, state = layer.step(x)
    _, state = layer.step(x, state)
    layer.parameters()["weight_hh_l0"] *= 2
    want, _ = layer(x[None], state)
    out, state = layer.step(x, state)
    np.testing.assert_allclose(out, want[0], rtol=1e-12, atol=1e-14)
    layer.load_state_dict(make_layer("lstm", 3, 4, 1, backend).state_dict())
    want, _ = layer(x[None], state)
    np.testing.assert_allclose(layer.step(x, state)[0], want[0], rtol=1e-12, atol=1e-14)


def test_step_follows_training_mode(backend, rng):
    """Dropout between layers applies to steps in training mode, also after fast steps."""
    layer = make_layer("gru", 3, 4, 2, backend, dropout=0.5).eval()
    x = rng.standard_normal((2, 3))
    _, state = layer.step(x)
    _, state = layer.step(x, state)  # the fed-back (fast) path is primed
    want, want_state = layer(x[None], state)
    layer.training = True
    out, _ = layer.step(x, state)
    assert not np.allclose(out, want[0])
    layer.eval()
    out, new_state = layer.step(x, state)
    np.testing.assert_allclose(out, want[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(new_state, want_state, rtol=1e-12, atol=1e-14)


def test_step_follows_dropout_changes(backend, rng):
    """Setting dropout after fast steps applies it (training mode) to the next step."""
    layer = make_layer("lstm", 3, 4, 2, backend).train()
    x = rng.standard_normal((2, 3))
    _, state = layer.step(x)
    _, state = layer.step(x, state)  # the fed-back (fast) path is primed
    layer.dropout = 0.5
    out, _ = layer.step(x, state)
    assert not np.allclose(out, layer.eval()(x[None], state)[0][0])
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5"):
        layer.dropout = 1.5
    with pytest.raises(TypeError, match="dropout must be a float"):
        layer.dropout = None
    assert layer.dropout == 0.5


def test_lengths_semantics(backend, rng):
    """Padding never leaks: outputs are zero there, and final states match the unpadded runs."""
    layer = make_layer("gru", 3, 4, 2, backend, bidirectional=True)
    lengths = np.array([2, 5, 3])
    x = rng.standard_normal((5, 3, 3))
    out, hn = layer(x, None, lengths)
    poisoned = x.copy()
    for b, L in enumerate(lengths):
        poisoned[L:, b] = np.nan
    grad_out = rng.standard_normal(out.shape)
    grad_x, grad_h = layer.backward(grad_out)
    grads = layer.grads
    out_p, hn_p = layer(poisoned, None, lengths)
    np.testing.assert_array_equal(out, out_p)
    np.testing.assert_array_equal(hn, hn_p)
    grad_x_p, grad_h_p = layer.backward(grad_out)
    np.testing.assert_array_equal(grad_x, grad_x_p)
    np.testing.assert_array_equal(grad_h, grad_h_p)
    for name, g in grads.items():
        np.testing.assert_array_equal(g, layer.grads[name], err_msg=name)
    for b, L in enumerate(lengths):
        assert np.all(out[L:, b] == 0)
        single, h_single = layer(x[:L, b])
        np.testing.assert_allclose(out[:L, b], single, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(hn[:, b], h_single, rtol=1e-12, atol=1e-14)


def test_dropout_seeded_and_eval(backend, rng):
    x = rng.standard_normal((4, 3, 2))
    a = numrnn.LSTM(2, 5, 3, dropout=0.5, backend=backend, seed=7)
    b = numrnn.LSTM(2, 5, 3, dropout=0.5, backend=backend, seed=7)
    out_a1, out_b1 = a(x)[0], b(x)[0]
    np.testing.assert_array_equal(out_a1, out_b1)
    assert not np.array_equal(a(x)[0], out_a1)  # fresh masks each call
    a.eval()
    np.testing.assert_array_equal(a(x)[0], a(x)[0])
    no_dropout = numrnn.LSTM(2, 5, 3, backend=backend, seed=7)
    np.testing.assert_array_equal(a(x)[0], no_dropout(x)[0])


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm"])
def test_long_sequence(backend, rng, cell):
    """200,000 steps: no recursion limit, no overflow, state stays bounded."""
    layer = make_layer(cell, 1, 2, 1, backend)
    x = rng.standard_normal((200_000, 1))
    out, hn = layer(x)
    grad_x, _ = layer.backward(np.ones_like(out))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad_x))
    assert np.abs(out).max() <= 1


# ---------------------------------------------------------------------------
# Conversion and the caller's arrays
# ---------------------------------------------------------------------------


def test_input_layouts_and_dtypes_give_same_result(backend, rng):
    layer = make_layer("lstm", 3, 4, 1, backend, dtype=np.float64)
    x = rng.standard_normal((5, 2, 3))
    expected, _ = layer(x)
    fortran = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=2)[:, :, ::2]
    assert not strided.flags.c_contiguous
    for variant in (fortran, strided, x.tolist()):
        out, _ = layer(variant)
        np.testing.assert_array_equal(out, expected)
    out, _ = layer(x.astype(np.float32))
    assert out.dtype == np.float64
    out, _ = layer(np.arange(30).reshape(5, 2, 3))
    assert out.dtype == np.float64


def test_caller_arrays_not_modified(backend, rng):
    layer = make_layer("lstm", 3, 4, 2, backend, bidirectional=True)
    x = rng.standard_normal((5, 2, 3))
    hx = random_state(layer, rng, 2)
    lengths = np.array([5, 2])
    sd = {k: v.copy() for k, v in layer.state_dict().items()}
    copies = [a.copy() for a in (x, *hx, lengths)]
    out, hn = layer(x, hx, lengths)
    grad_out = rng.standard_normal(out.shape)
    grad_hn = tuple(rng.standard_normal(s.shape) for s in hn)
    saved = [grad_out.copy(), *(g.copy() for g in grad_hn)]
    layer.backward(grad_out, grad_hn)
    for a, b in zip((x, *hx, lengths, grad_out, *grad_hn), copies + saved, strict=True):
        np.testing.assert_array_equal(a, b)
    layer.load_state_dict(sd)
    sd["weight_ih_l0"][:] = 0
    assert not np.all(layer.state_dict()["weight_ih_l0"] == 0)


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


def test_state_dict_names_shapes_and_init(backend):
    layer = numrnn.LSTM(3, 8, 2, bidirectional=True, proj_size=5, backend=backend, seed=1)
    sd = layer.state_dict()
    assert list(sd)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                            "weight_hr_l0"]
    assert sd["weight_ih_l1"].shape == (32, 10)
    assert sd["weight_hh_l1_reverse"].shape == (32, 5)
    assert sd["weight_hr_l1_reverse"].shape == (5, 8)
    bound = 1 / np.sqrt(8)
    assert all(np.abs(v).max() <= bound and v.dtype == np.float32 for v in sd.values())
    again = numrnn.LSTM(3, 8, 2, bidirectional=True, proj_size=5, backend=backend, seed=1)
    for k in sd:
        np.testing.assert_array_equal(sd[k], again.state_dict()[k])


def test_state_dict_matches_torch_names(backend):
    torch = import_torch()
    for ours, theirs in [
        (numrnn.GRU(3, 4, 2, bidirectional=True, backend=backend),
         torch.nn.GRU(3, 4, 2, bidirectional=True)),
        (numrnn.LSTM(3, 4, 2, proj_size=2, bias=False, backend=backend),
         torch.nn.LSTM(3, 4, 2, proj_size=2, bias=False)),
        (numrnn.RNN(3, 4, backend=backend), torch.nn.RNN(3, 4)),
    ]:
        t_sd = theirs.state_dict()
        assert list(ours.state_dict()) == list(t_sd)
        assert [v.shape for v in ours.state_dict().values()] == [tuple(v.shape)
                                                                 for v in t_sd.values()]
        ours.load_state_dict(t_sd)  # tensors accepted
        theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})


def test_load_state_dict_strict(backend):
    layer = numrnn.GRU(3, 4, backend=backend, seed=0)
    sd = layer.state_dict()
    before = layer.state_dict()
    with pytest.raises(KeyError, match="bias_hh_l0"):
        layer.load_state_dict({k: v for k, v in sd.items() if k != "bias_hh_l0"})
    with pytest.raises(KeyError, match="weight_hr_l0"):
        layer.load_state_dict({**sd, "weight_hr_l0": np.zeros((2, 4))})
    with pytest.raises(ValueError, match=r"state_dict\['weight_hh_l0'\] must have shape "
                                         r"\(12, 4\) for GRU, got \(12, 3\)"):
        layer.load_state_dict({**sd, "weight_hh_l0": np.zeros((12, 3)), "bias_ih_l0": 1 + sd[
            "bias_ih_l0"]})
    with pytest.raises(TypeError, match="weight_ih_l0"):
        layer.load_state_dict({**sd, "weight_ih_l0": np.full((12, 3), "a")})
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ---------------------------------------------------------------------------
# Bad input: clear errors naming the argument
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"input_size": 0}, ValueError, "input_size must be >= 1, got 0"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size must be an integer"),
        ({"hidden_size": True}, TypeError, "hidden_size must be an integer"),
        ({"num_layers": 0}, ValueError, "num_layers must be >= 1"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"dropout": -0.1}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"dropout": "0.1"}, TypeError, "dropout must be a float"),
        ({"dtype": np.int32}, ValueError, "dtype must be float32 or float64, got int32"),
        ({"backend": "tpu"}, ValueError, "backend must be one of"),
        ({"bidirectional": "yes"}, TypeError, "bidirectional must be a bool"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    args = {"input_size": 3, "hidden_size": 4, "backend": "numpy", **kwargs}
    with pytest.raises(exc, match=match):
        numrnn.GRU(args.pop("input_size"), args.pop("hidden_size"), **args)


def test_bad_cell_specific_arguments():
    with pytest.raises(ValueError, match=r"proj_size must be smaller than hidden_size \(4\)"):
        numrnn.LSTM(3, 4, proj_size=4, backend="numpy")
    with pytest.raises(ValueError, match="proj_size must be >= 0"):
        numrnn.LSTM(3, 4, proj_size=-1, backend="numpy")
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        numrnn.RNN(3, 4, nonlinearity="sigmoid", backend="numpy")
    with pytest.raises(TypeError):
        numrnn.GRU(3, 4, proj_size=2, backend="numpy")
    with pytest.warns(UserWarning, match="num_layers=1"):
        numrnn.GRU(3, 4, dropout=0.5, backend="numpy")


def test_bad_inputs(backend, rng):
    lstm = numrnn.LSTM(3, 4, 2, backend=backend)
    x = rng.standard_normal((5, 2, 3))
    h = np.zeros((2, 2, 4))
    cases = [
        ((np.zeros((5, 2, 4)),), ValueError, r"input_size=3 features.*\(5, 2, 4\)"),
        ((np.zeros((5, 2, 3, 1)),), ValueError, "x must be 3-D .* got 4-D"),
        ((np.zeros(3),), ValueError, "x must be 3-D .* got 1-D"),
        ((np.zeros((0, 2, 3)),), ValueError, "x must not be empty"),
        ((x.astype(complex),), TypeError, "x must hold real numbers, got dtype complex"),
        ((np.full((5, 2, 3), "a"),), TypeError, "x must hold real numbers"),
        ((np.empty((5, 2, 3), dtype=object),), TypeError, "real numbers, got dtype object"),
        ((x, h), TypeError, r"hx must be a tuple \(h_0, c_0\)"),
        ((x, (h,)), TypeError, r"hx must be a tuple \(h_0, c_0\)"),
        ((x, (h, np.zeros((2, 3, 4)))), ValueError, r"hx\[1\] \(c_0\) must have shape \(2, 2, 4\)"),
        ((x, (np.zeros((1, 2, 4)), h)), ValueError, r"hx\[0\] \(h_0\) must have shape"),
        ((x, None, [5, 2, 1]), ValueError, r"lengths must have shape \(2,\)"),
        ((x, None, [0, 2]), ValueError, r"lengths must lie in \[1, 5\].*\[0, 2\]"),
        ((x, None, [6, 2]), ValueError, r"lengths must lie in \[1, 5\]"),
        ((x, None, [2.0, 3.0]), TypeError, "lengths must hold integers, got dtype float64"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            lstm(*args)
    gru = numrnn.GRU(3, 4, backend=backend)
    with pytest.raises(TypeError, match="hx must be one array for GRU"):
        gru(x, (np.zeros((1, 2, 4)),))
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 2, 4\)"):
        gru(x, np.zeros((1, 3, 4)))


def test_bad_backward_and_step(backend, rng):
    lstm = numrnn.LSTM(3, 4, backend=backend)
    with pytest.raises(numrnn.NoTapeError, match="call the layer first"):
        lstm.backward(np.zeros((5, 2, 4)))
    assert issubclass(numrnn.NoTapeError, ValueError)
    x = rng.standard_normal((5, 2, 3))
    with numrnn.no_grad():
        lstm(x)
    with pytest.raises(numrnn.NoTapeError):
        lstm.backward(np.zeros((5, 2, 4)))
    lstm(x)
    with pytest.raises(ValueError, match=r"grad_output must have shape \(5, 2, 4\)"):
        lstm.backward(np.zeros((5, 2, 3)))
    with pytest.raises(TypeError, match=r"hx must be a tuple"):
        lstm.backward(np.zeros((5, 2, 4)), np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"hx\[1\] \(c_0\) must have shape \(1, 2, 4\)"):
        lstm.backward(np.zeros((5, 2, 4)), (np.zeros((1, 2, 4)), np.zeros((1, 2, 5))))
    bi = numrnn.GRU(3, 4, bidirectional=True, backend=backend)
    with pytest.raises(ValueError, match="bidirectional"):
        bi.step(x[0])
    with pytest.raises(ValueError, match=r"x_t must have input_size=3"):
        lstm.step(np.zeros((2, 5)))


def test_backend_auto_and_env(monkeypatch):
    monkeypatch.setenv("NUMRNN_BACKEND", "numpy")
    assert numrnn.GRU(2, 3).backend == "numpy"
    monkeypatch.setenv("NUMRNN_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="'nonsense'"):
        numrnn.GRU(2, 3)


def test_pickle_round_trip(backend, rng):
    import pickle

    layer = make_layer("lstm", 3, 4, 2, backend, dropout=0.3, bidirectional=True)
    x = rng.standard_normal((5, 2, 3))
    layer.eval()
    expected, _ = layer(x)
    clone = pickle.loads(pickle.dumps(layer))
    assert clone.backend == layer.backend and not clone.training
    np.testing.assert_array_equal(clone(x)[0], expected)
    with pytest.raises(numrnn.NoTapeError):
        pickle.loads(pickle.dumps(layer)).backward(np.ones_like(expected))
