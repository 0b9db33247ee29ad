"""The extended cells (DESIGN.md "Extended cells") through ``numrnn.Recurrent``.

Every cell is checked against an independent PyTorch autograd implementation of its
equations, written here one sequence and one time step at a time (float64, relative error
<= 1e-9): outputs, final states, grad_x, grad_hx and every parameter gradient, for 1 and 2
layers, uni- and bidirectional, with and without lengths, with and without biases, on the
``"numpy"`` and ``"cpu"`` backends (tests/cuda/test_cuda_extended_cells.py runs a subset on
the CUDA simulator).  Finite differences check the gradients once more, and the rest of the
layer contract (streaming, state_dict, pickling, configuration) is exercised per cell.
"""

import pickle

import numpy as np
import pytest
from parity import import_torch

import numrnn

torch = import_torch()

CELLS = ("lstm_peephole", "lstm_cifg", "ligru", "indrnn")
BACKENDS = ("numpy", "cpu")
TWO_STATES = {"lstm_peephole", "lstm_cifg", "lstm"}


@pytest.fixture
def rng():
    """Fresh random inputs every run; the seed is printed on failure."""
    seed = np.random.SeedSequence().entropy % 2**32
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# The independent implementation: the equations of DESIGN.md, one step of one sequence.
# ---------------------------------------------------------------------------


def torch_step(name, p, x, h, c, h_in):
    """(h', c') of cell ``name`` for one input vector; ``p`` the layer-direction's tensors;
    ``h_in`` is what the recurrent product reads (h, or h under recurrent dropout)."""
    recurrent = p["weight_hh"] * h_in if name == "indrnn" else p["weight_hh"] @ h_in
    a = p["weight_ih"] @ x + p["bias_ih"] + recurrent + p["bias_hh"]
    if name == "lstm_peephole":
        a_i, a_f, a_g, a_o = a.chunk(4)
        p_i, p_f, p_o = p["weight_ch"].chunk(3)
        i = torch.sigmoid(a_i + p_i * c)
        f = torch.sigmoid(a_f + p_f * c)
        c = f * c + i * torch.tanh(a_g)
        return torch.sigmoid(a_o + p_o * c) * torch.tanh(c), c
    if name == "lstm_cifg":
        a_f, a_g, a_o = a.chunk(3)
        f = torch.sigmoid(a_f)
        c = f * c + (1 - f) * torch.tanh(a_g)
        return torch.sigmoid(a_o) * torch.tanh(c), c
    if name == "ligru":
        a_z, a_n = a.chunk(2)
        z = torch.sigmoid(a_z)
        return z * h + (1 - z) * torch.relu(a_n), c
    assert name == "indrnn"
    return torch.relu(a), c


def torch_layer(name, params, x, h0, c0, lengths, num_layers, directions, masks=None):
    """output (T, B, D*H), h_n, c_n: the stack run sequence by sequence, step by step.

    ``masks``: per layer-direction, the regularisers (``numrnn.backends.Masks``) or None.
    """
    T, B, _ = x.shape
    layer_input = x
    h_n, c_n = [], []
    for k in range(num_layers):
        outputs = []
        for d in range(directions):
            idx = k * directions + d
            suffix = f"_l{k}" + ("_reverse" if d else "")
            p = {role: params[role + suffix] for role in
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ch")
                 if role + suffix in params}  # fmt: skip
            H = h0.shape[2]
            zeros = torch.zeros(p["weight_ih"].shape[0], dtype=x.dtype)
            p.setdefault("bias_ih", zeros)
            p.setdefault("bias_hh", zeros)
            columns, finals_h, finals_c = [], [], []
            rec, zone_h, zone_c = (torch.tensor(m) if m is not None else None
                                   for m in (masks[idx] if masks else (None,) * 3))  # fmt: skip
            for b in range(B):
                length = int(lengths[b])
                h, c = h0[idx, b], c0[idx, b]
                steps = {}
                for t in reversed(range(length)) if d else range(length):
                    h_new, c_new = torch_step(name, p, layer_input[t, b], h, c,
                                              h if rec is None else rec[b] * h)  # fmt: skip
                    if zone_h is not None:  # zoneout: z previous + (1 - z) new
                        h_new = zone_h[t, b] * h + (1 - zone_h[t, b]) * h_new
                        if name in TWO_STATES:
                            c_new = zone_c[t, b] * c + (1 - zone_c[t, b]) * c_new
                    h, c = h_new, c_new
                    steps[t] = h
                columns.append(torch.stack([steps.get(t, torch.zeros(H, dtype=x.dtype))
                                            for t in range(T)]))  # fmt: skip
                finals_h.append(h)
                finals_c.append(c)
            outputs.append(torch.stack(columns, dim=1))
            h_n.append(torch.stack(finals_h))
            c_n.append(torch.stack(finals_c))
        layer_input = torch.cat(outputs, dim=2)
    return layer_input, torch.stack(h_n), torch.stack(c_n)


def torch_results(layer, x, h0, c0, lengths, g_out, g_h, g_c, masks=None):
    """What numrnn's forward and backward return, from torch's autograd."""
    name = layer.cell
    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    T, B = x.shape[:2]
    lengths = np.full(B, T) if lengths is None else lengths
    output, h_n, c_n = torch_layer(name, params, xt, h0t, c0t, lengths, layer.num_layers,
                                   2 if layer.bidirectional else 1, masks)  # fmt: skip
    loss = (output * torch.tensor(g_out)).sum() + (h_n * torch.tensor(g_h)).sum()
    if name in TWO_STATES:
        loss = loss + (c_n * torch.tensor(g_c)).sum()
    loss.backward()
    results = {"output": output, "h_n": h_n, "grad_x": xt.grad, "grad_h0": h0t.grad}
    if name in TWO_STATES:
        results.update(c_n=c_n, grad_c0=c0t.grad)
    results.update({f"grad_{k}": p.grad for k, p in params.items()})
    return {k: v.detach().numpy() for k, v in results.items()}


def numrnn_results(layer, x, h0, c0, lengths, g_out, g_h, g_c):
    two = layer.cell in TWO_STATES
    output, state = layer(x, (h0, c0) if two else h0, lengths)
    grad_x, grad_state = layer.backward(g_out, (g_h, g_c) if two else g_h)
    results = {"output": output, "grad_x": grad_x}
    if two:
        results.update(h_n=state[0], c_n=state[1], grad_h0=grad_state[0], grad_c0=grad_state[1])
    else:
        results.update(h_n=state, grad_h0=grad_state)
    results.update({f"grad_{k}": g for k, g in layer.grads.items()})
    return results


def problem(rng, layer, T, B, with_lengths):
    n, H = layer.num_layers * (2 if layer.bidirectional else 1), layer.hidden_size
    D = 2 if layer.bidirectional else 1
    lengths = None
    if with_lengths:
        lengths = rng.integers(1, T + 1, B)
        lengths[rng.integers(B)] = T
    return (rng.standard_normal((T, B, layer.input_size)), rng.standard_normal((n, B, H)),
            rng.standard_normal((n, B, H)), lengths, rng.standard_normal((T, B, D * H)),
            rng.standard_normal((n, B, H)), rng.standard_normal((n, B, H)))  # fmt: skip


def assert_same(actual, expected, rtol):
    assert actual.keys() == expected.keys()
    for name, want in expected.items():
        got = actual[name]
        assert got.shape == want.shape, name
        scale = max(np.abs(want).max(), 1e-300)
        assert np.abs(got - want).max() <= rtol * scale, (name, np.abs(got - want).max() / scale)


def perturbed_params(layer, rng):
    """Random parameters of a larger spread than the default initialisation (the gates
    then saturate in places), loaded into ``layer``."""
    layer.load_state_dict({k: rng.uniform(-0.8, 0.8, v.shape)
                           for k, v in layer.state_dict().items()})  # fmt: skip


# ---------------------------------------------------------------------------
# Against PyTorch autograd
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch_autograd(rng, cell, num_layers, bidirectional, with_lengths, bias):
    layers = [numrnn.Recurrent(cell, 2, 3, num_layers, bias=bias, bidirectional=bidirectional,
                               dtype=np.float64, backend=backend) for backend in BACKENDS]
    perturbed_params(layers[0], rng)
    data = problem(rng, layers[0], 4, 3, with_lengths)
    expected = torch_results(layers[0], *data)
    for layer in layers:
        layer.load_state_dict(layers[0].state_dict())
        assert_same(numrnn_results(layer, *data), expected, 1e-9)


@pytest.mark.parametrize("cell", CELLS)
def test_smallest_shapes_match_torch_autograd(rng, cell):
    for backend in BACKENDS:  # T = B = H = 1, and a single input feature
        layer = numrnn.Recurrent(cell, 1, 1, dtype=np.float64, backend=backend)
        data = problem(rng, layer, 1, 1, False)
        assert_same(numrnn_results(layer, *data), torch_results(layer, *data), 1e-9)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_matches_float64(rng, cell):
    layer64 = numrnn.Recurrent(cell, 2, 5, 2, bidirectional=True, dtype=np.float64,
                               backend="numpy", seed=0)
    data = problem(rng, layer64, 6, 3, True)
    expected = numrnn_results(layer64, *data)
    layer32 = numrnn.Recurrent(cell, 2, 5, 2, bidirectional=True, backend="cpu", seed=0)
    layer32.load_state_dict(layer64.state_dict())
    assert_same(numrnn_results(layer32, *data), expected, 1e-5)


# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


def check_finite_differences(loss, analytic, x, h0, c0, params, eps=1e-6):
    """Central differences of ``loss()`` in every entry of x, h0, c0 and the parameters (changed
    in place and restored) against the gradients in ``analytic``."""
    arrays = {"grad_x": x, "grad_h0": h0, **({} if c0 is None else {"grad_c0": c0}),
              **{f"grad_{k}": v for k, v in params.items()}}  # fmt: skip
    for name, a in arrays.items():
        numeric = np.zeros(a.shape)
        for i in np.ndindex(a.shape):
            keep = a[i]
            a[i] = keep + eps
            up = loss()
            a[i] = keep - eps
            numeric[i] = (up - loss()) / (2 * eps)
            a[i] = keep
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences(rng, cell):
    layer = numrnn.Recurrent(cell, 2, 2, bidirectional=True, dtype=np.float64, backend="cpu")
    perturbed_params(layer, rng)
    x, h0, c0, lengths, g_out, g_h, g_c = problem(rng, layer, 3, 2, True)
    two = cell in TWO_STATES
    analytic = numrnn_results(layer, x, h0, c0, lengths, g_out, g_h, g_c)
    params = layer.parameters()

    def loss():
        with numrnn.no_grad():
            output, state = layer(x, (h0, c0) if two else h0, lengths)
        h_n, c_n = state if two else (state, 0)
        return (output * g_out).sum() + (h_n * g_h).sum() + (c_n * g_c).sum()

    check_finite_differences(loss, analytic, x, h0, c0 if two else None, params)


# ---------------------------------------------------------------------------
# Recurrent dropout and zoneout
# ---------------------------------------------------------------------------


def recording(layer):
    """Make ``layer`` record the masks it draws (per layer-direction, in order) in a list."""
    drawn = []
    make = layer._regularisers

    def regularisers():
        maker = make()
        if maker is None:
            return None

        def masks(T, B):
            drawn.append(maker(T, B))
            return drawn[-1]

        return masks

    layer._regularisers = regularisers
    return drawn


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_regularisers_match_torch_autograd(rng, cell, training):
    layers = [numrnn.Recurrent(cell, 2, 3, 2, bidirectional=True, dtype=np.float64,
                               backend=backend, seed=5, recurrent_dropout=0.4, zoneout=0.3)
              for backend in BACKENDS]  # fmt: skip
    perturbed_params(layers[0], rng)
    data = problem(rng, layers[0], 4, 3, True)
    results, drawn = [], []
    for layer in layers:
        layer.load_state_dict(layers[0].state_dict())
        layer.train(training)
        drawn.append(recording(layer))
        results.append(numrnn_results(layer, *data))
    if training:  # seeded: both backends drew the same masks, zeros and ones among them
        for a, b in zip(*drawn, strict=True):
            for m, n in zip(a, b, strict=True):
                np.testing.assert_array_equal(m, n)
        assert {0.0, 1.0} <= set(np.unique(drawn[0][0].zone_h))
        assert drawn[0][0].recurrent.min() == 0 and drawn[0][0].recurrent.max() == 1 / 0.6
    else:  # evaluation: no recurrent dropout; zoneout's expectation p h_{t-1} + (1 - p) h
        assert all(m.recurrent is None and np.all(m.zone_h == 0.3) for m in drawn[0])
    expected = torch_results(layers[0], *data, masks=drawn[0])
    for result in results:
        assert_same(result, expected, 1e-9)


@pytest.mark.parametrize("cell", ["lstm_peephole", "lstm_cifg", "ligru", "indrnn", "gru", "lstm"])
def test_regularised_gradients_match_finite_differences(rng, cell):
    layer = numrnn.Recurrent(cell, 2, 2, bidirectional=True, dtype=np.float64, backend="cpu",
                             recurrent_dropout=0.3, zoneout=0.3)
    perturbed_params(layer, rng)
    x, h0, c0, lengths, g_out, g_h, g_c = problem(rng, layer, 3, 2, True)
    two = cell in TWO_STATES
    drawn = recording(layer)
    analytic = numrnn_results(layer, x, h0, c0, lengths, g_out, g_h, g_c)

    def loss():
        replay = iter(drawn)  # the masks of the analytic gradient, again
        layer._regularisers = lambda: lambda T, B: next(replay)
        with numrnn.no_grad():
            output, state = layer(x, (h0, c0) if two else h0, lengths)
        h_n, c_n = state if two else (state, 0)
        return (output * g_out).sum() + (h_n * g_h).sum() + (c_n * g_c).sum()

    check_finite_differences(loss, analytic, x, h0, c0 if two else None, layer.parameters())


def test_regularisers_are_seeded_and_act_in_training_only(rng):
    x = rng.standard_normal((6, 3, 2))
    make = [numrnn.Recurrent("ligru", 2, 4, seed=7, recurrent_dropout=0.5, zoneout=0.5)
            for _ in range(3)]  # fmt: skip
    first, again = make[0](x)[0], make[1](x)[0]
    np.testing.assert_array_equal(first, again)  # the same seed, the same masks
    assert not np.array_equal(make[0](x)[0], first)  # every call draws new ones
    plain = numrnn.Recurrent("ligru", 2, 4, seed=7)
    plain.load_state_dict(make[2].state_dict())
    make[2].eval()
    make[2].zoneout = 0.0
    np.testing.assert_array_equal(make[2](x)[0], plain(x)[0])  # evaluation: no dropout


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_peephole", "indrnn"])
def test_regularisers_on_the_packed_split_path_equal_the_reference(rng, cell):
    # A batch large enough for the CPU backend to split it over two threads, each running
    # the packed per-step product (20 rows per thread; IndRNN's diagonal W_hh has none, and
    # its gradient sums over the masked states in one pass), with lengths in both
    # directions.
    layers = [numrnn.Recurrent(cell, 5, 64, bidirectional=True, dtype=np.float64,
                               backend=backend, seed=3, recurrent_dropout=0.3, zoneout=0.2)
              for backend in BACKENDS]  # fmt: skip
    perturbed_params(layers[0], rng)
    layers[1].load_state_dict(layers[0].state_dict())
    data = problem(rng, layers[0], 26, 40, True)
    drawn = [recording(layer) for layer in layers]
    want, got = (numrnn_results(layer, *data) for layer in layers)
    for a, b in zip(*drawn, strict=True):  # the same seed drew the same masks
        for m, n in zip(a, b, strict=True):
            np.testing.assert_array_equal(m, n)
    assert_same(got, want, 1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.75, 1.0])
def test_masks_keep_each_entry_with_probability_p(p, dtype):
    from numrnn.backends.cpu._random import bernoulli

    shape = (101, 3, 331)  # an odd size: the last entry takes a hash of its own
    mask = bernoulli(np.random.default_rng(), p, shape, np.dtype(dtype), 2.5)
    assert mask.shape == shape and mask.dtype == dtype
    kept = mask == 2.5
    assert np.all(kept | (mask == 0))  # every entry written: 0 or the value
    n = mask.size
    assert abs(kept.mean() - p) <= 5 * np.sqrt(p * (1 - p) / n)
    # The two entries of one hash (its high and low bits) are independent draws.
    pairs = kept.reshape(-1)[:-1].reshape(-1, 2)
    both = np.mean(pairs[:, 0] & pairs[:, 1])
    assert abs(both - p * p) <= 5 * np.sqrt(p * p * (1 - p * p) / len(pairs))
    # Reproducible from the generator's state; the next draw is another mask.
    rng, again = np.random.default_rng(11), np.random.default_rng(11)
    first = bernoulli(rng, p, shape, np.dtype(dtype))
    np.testing.assert_array_equal(first, bernoulli(again, p, shape, np.dtype(dtype)))
    if 0 < p < 1:
        assert not np.array_equal(first, bernoulli(rng, p, shape, np.dtype(dtype)))


def test_bad_regulariser_probabilities_are_refused():
    with pytest.raises(ValueError, match=r"zoneout must be a finite number in \[0, 1\), got 1.0"):
        numrnn.Recurrent("gru", 2, 3, zoneout=1.0)
    with pytest.raises(TypeError, match="recurrent_dropout must be a real number, got str"):
        numrnn.Recurrent("gru", 2, 3, recurrent_dropout="0.1")


# ---------------------------------------------------------------------------
# The rest of the layer contract
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("regularisers", [{}, {"zoneout": 0.4, "recurrent_dropout": 0.2}])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_step_streams_the_sequence(rng, cell, backend, regularisers):
    # In evaluation mode zoneout applies its expectation, in step too (no fast path then).
    layer = numrnn.Recurrent(cell, 3, 4, 2, dtype=np.float64, backend=backend, seed=0,
                             **regularisers).eval()
    x = rng.standard_normal((5, 2, 3))
    output, state = layer(x)
    h = None
    for t in range(5):
        out_t, h = layer.step(x[t], h)
        np.testing.assert_allclose(out_t, output[t], rtol=1e-12, atol=1e-14)
    for got, want in zip(h if cell in TWO_STATES else (h,),
                         state if cell in TWO_STATES else (state,), strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    out_0, _ = layer.step(x[0, 1])  # unbatched
    np.testing.assert_allclose(out_0, output[0, 1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_pickling_and_config(rng, cell):
    layer = numrnn.Recurrent(cell, 3, 4, 2, bidirectional=True, batch_first=True, seed=0)
    x = rng.standard_normal((2, 5, 3))
    output, _ = layer(x, lengths=[5, 3])
    copy = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(copy(x, lengths=[5, 3])[0], output)
    rebuilt = numrnn.Recurrent(**layer.get_config())
    assert rebuilt.cell == cell
    rebuilt.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(rebuilt(x, lengths=[5, 3])[0], output)
    assert list(layer.state_dict()) == list(rebuilt.state_dict())
    assert repr(layer).startswith(f"Recurrent({cell!r}, 3, 4, num_layers=2")
    unbatched, _ = layer(x[1])
    np.testing.assert_allclose(unbatched, layer(x[1:])[0][0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell", ["lstm_cifg", "indrnn"])
def test_regularised_layer_after_pickling_and_in_place_updates(rng, cell):
    """A pickled copy draws the same masks as the original (the generator's state travels);
    both see in-place parameter changes and load_state_dict, in training and evaluation."""
    layer = numrnn.Recurrent(cell, 3, 5, bidirectional=True, dtype=np.float64, backend="cpu",
                             seed=4, recurrent_dropout=0.3, zoneout=0.2)
    x, lengths = rng.standard_normal((6, 4, 3)), np.array([6, 2, 5, 1])
    layer(x, lengths=lengths)  # the copy is made mid-way through the mask stream
    copy = pickle.loads(pickle.dumps(layer))
    for name, p in layer.parameters().items():  # in place, through the held dicts
        delta = rng.uniform(-0.1, 0.1, p.shape)
        p += delta
        copy.parameters()[name][...] += delta
    np.testing.assert_array_equal(copy(x, lengths=lengths)[0], layer(x, lengths=lengths)[0])
    state = {k: rng.uniform(-0.5, 0.5, v.shape) for k, v in layer.state_dict().items()}
    reference = numrnn.Recurrent(cell, 3, 5, bidirectional=True, dtype=np.float64,
                                 backend="numpy", zoneout=0.2).eval()
    for model in (layer, copy, reference):
        model.load_state_dict(state)
    for training in (True, False):
        layer.train(training)
        copy.train(training)
        out, _ = layer(x, lengths=lengths)
        np.testing.assert_array_equal(copy(x, lengths=lengths)[0], out)
    # Evaluation: zoneout's expectation, equal to the reference backend's.
    np.testing.assert_allclose(reference(x, lengths=lengths)[0], out, rtol=1e-12, atol=1e-14)


def test_parameter_names_and_shapes():
    shapes = {name: p.shape for name, p in
              numrnn.Recurrent("lstm_peephole", 3, 4, 2, bidirectional=True).state_dict().items()}
    assert list(shapes)[:6] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_ch_l0", "weight_ih_l0_reverse"]  # fmt: skip
    assert shapes["weight_ch_l1_reverse"] == (12,)
    assert shapes["weight_ih_l1"] == (16, 8)
    indrnn = numrnn.Recurrent("indrnn", 3, 4, bias=False).state_dict()
    assert {k: v.shape for k, v in indrnn.items()} == {"weight_ih_l0": (4, 3),
                                                        "weight_hh_l0": (4,)}
    assert numrnn.Recurrent("lstm_cifg", 3, 4).state_dict()["weight_hh_l0"].shape == (12, 4)
    assert numrnn.Recurrent("ligru", 3, 4).state_dict()["weight_ih_l0"].shape == (8, 3)


def test_builtin_cells_by_name_match_their_layers(rng):
    x = rng.standard_normal((4, 2, 3))
    for name, layer in (("gru", numrnn.GRU(3, 5, seed=0)), ("lstm", numrnn.LSTM(3, 5, seed=0)),
                        ("rnn_relu", numrnn.RNN(3, 5, nonlinearity="relu", seed=0))):
        generic = numrnn.Recurrent(name, 3, 5, seed=0)
        assert list(generic.state_dict()) == list(layer.state_dict())
        generic.load_state_dict(layer.state_dict())
        np.testing.assert_array_equal(generic(x)[0], layer(x)[0])


def test_bad_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of .*'ligru'.*got 'peephole'"):
        numrnn.Recurrent("peephole", 3, 4)
    with pytest.raises(TypeError, match="cell must be a cell name or a Cell, got int"):
        numrnn.Recurrent(3, 3, 4)
