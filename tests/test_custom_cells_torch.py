"""A user-defined cell (JANET) against an independent PyTorch autograd implementation.

JANET (van der Westhuizen & Lasenby, "The unreasonable effectiveness of the forget gate",
2018): h_t = σ(a_f) h_{t-1} + (1 - σ(a_f - β)) tanh(a_g), β = 1, gate order f, g.  The
PyTorch side runs each sequence by itself over its valid part (reversed for the reverse
direction), stacks layers and directions by hand, and differentiates with autograd in
float64: nothing of numrnn's maths, loops or tape is shared.
"""

import numpy as np
import pytest
from parity import import_torch
from test_extended_cells import recording

pytest.importorskip("sympy")
torch = import_torch()

import numrnn  # noqa: E402
from numrnn.cells import define_cell  # noqa: E402

BETA = 1.0
JANET = {"gates": ("f", "g"),
         "equations": {"h": f"sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - {BETA})) * tanh(a_g)"}}


@pytest.fixture(scope="module")
def janet():
    return define_cell("janet", **JANET)


def torch_janet(params, x, h0, lengths, num_layers, directions, masks=None):
    """Outputs (T, B, D*H) and final states (L*D, B, H) of a JANET stack, with autograd.

    ``masks``: per layer-direction, the regularisers' masks (recurrent dropout's on the
    W_hh product's input, zoneout's on the state) or None.
    """
    T, B, _ = x.shape
    layer_input = x
    finals = []
    for k in range(num_layers):
        outputs = []
        for d in range(directions):
            suffix = f"_l{k}" + ("_reverse" if d else "")
            w_ih, w_hh = params["weight_ih" + suffix], params["weight_hh" + suffix]
            b_ih = params.get("bias_ih" + suffix, 0)
            b_hh = params.get("bias_hh" + suffix, 0)
            H = w_hh.shape[1]
            idx = k * directions + d
            rec, zone, _ = (None if m is None else torch.tensor(m)
                            for m in (masks[idx] if masks else (None,) * 3))
            columns = []
            for b in range(B):
                n = int(lengths[b])
                h = h0[idx, b]
                steps = range(n - 1, -1, -1) if d else range(n)
                out = [None] * T
                for t in steps:
                    h_in = h if rec is None else rec[b] * h
                    a = layer_input[t, b] @ w_ih.T + b_ih + h_in @ w_hh.T + b_hh
                    a_f, a_g = a[:H], a[H:]
                    new = torch.sigmoid(a_f) * h + (1 - torch.sigmoid(a_f - BETA)) * torch.tanh(a_g)
                    h = new if zone is None else zone[t, b] * h + (1 - zone[t, b]) * new
                    out[t] = h
                zero = torch.zeros(H, dtype=x.dtype)
                columns.append(torch.stack([o if o is not None else zero for o in out]))
                finals.append(h)
            outputs.append(torch.stack(columns, dim=1))
        layer_input = torch.cat(outputs, dim=-1)
    h_n = torch.stack(finals).reshape(num_layers, directions, B, -1).reshape(
        num_layers * directions, B, -1)
    return layer_input, h_n


def relative_error(got, want):
    return np.abs(got - want).max() / max(np.abs(want).max(), 1e-300)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_janet_matches_pytorch_autograd(janet, num_layers, bidirectional, with_lengths, bias,
                                        backend):
    rng = np.random.default_rng()
    T, B, I, H = 5, 3, 2, 3
    D = 2 if bidirectional else 1
    layer = numrnn.Recurrent(janet, I, H, num_layers, bidirectional=bidirectional, bias=bias,
                             dtype=np.float64, backend=backend, seed=int(rng.integers(2**31)))
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((num_layers * D, B, H))
    lengths = np.array([T, 1, 4]) if with_lengths else np.full(B, T)
    grad_out = rng.standard_normal((T, B, D * H))
    grad_hn = rng.standard_normal((num_layers * D, B, H))

    out, h_n = layer(x, h0, lengths=lengths if with_lengths else None)
    grad_x, grad_h0 = layer.backward(grad_out, grad_hn)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    out_t, h_n_t = torch_janet(params, xt, h0t, lengths, num_layers, D)
    loss = (out_t * torch.tensor(grad_out)).sum() + (h_n_t * torch.tensor(grad_hn)).sum()
    loss.backward()

    checks = {"output": (out, out_t), "h_n": (h_n, h_n_t), "grad_x": (grad_x, xt.grad),
              "grad_hx": (grad_h0, h0t.grad)}
    checks.update({k: (layer.grads[k], p.grad) for k, p in params.items()})
    assert set(layer.grads) == set(params)
    for name, (got, want) in checks.items():
        assert relative_error(got, want.detach().numpy()) <= 1e-9, name


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_janet_with_recurrent_dropout_and_zoneout_matches_pytorch(janet, backend, training):
    """The regularisers act on a defined cell as on a built-in one (masks recorded, replayed)."""
    rng = np.random.default_rng()
    T, B, I, H, L = 4, 3, 2, 3, 2
    layer = numrnn.Recurrent(janet, I, H, L, bidirectional=True, dtype=np.float64,
                             backend=backend, seed=5, recurrent_dropout=0.4, zoneout=0.3)
    layer.train(training)
    drawn = recording(layer)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((2 * L, B, H))
    lengths = np.array([T, 1, 3])
    grad_out, grad_hn = rng.standard_normal((T, B, 2 * H)), rng.standard_normal((2 * L, B, H))
    out, h_n = layer(x, h0, lengths=lengths)
    grad_x, grad_h0 = layer.backward(grad_out, grad_hn)
    if not training:  # evaluation: zoneout's expectation, no recurrent dropout
        assert all(m.recurrent is None and np.all(m.zone_h == 0.3) for m in drawn)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    xt, h0t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    out_t, h_n_t = torch_janet(params, xt, h0t, lengths, L, 2, masks=drawn)
    ((out_t * torch.tensor(grad_out)).sum() + (h_n_t * torch.tensor(grad_hn)).sum()).backward()
    checks = {"output": (out, out_t), "h_n": (h_n, h_n_t), "grad_x": (grad_x, xt.grad),
              "grad_hx": (grad_h0, h0t.grad)}
    checks.update({k: (layer.grads[k], p.grad) for k, p in params.items()})
    for name, (got, want) in checks.items():
        assert relative_error(got, want.detach().numpy()) <= 1e-9, name
