"""The extended cells on the CUDA backend against the NumPy reference (a small subset).

The full grid (layers, directions, lengths, bias) runs on the ``"numpy"`` and ``"cpu"``
backends in tests/test_extended_cells.py, and tests/test_backend_conformance.py runs every
cell's persistent kernels in float64, with and without the regularisers, on the simulator
too.  Here: each cell's per-step kernels in float32, a stacked bidirectional layer of the
cells with extra parameters, and the regularisers in the per-step kernels and with a
projection.
"""

import numpy as np
import pytest
from cuda_problems import EXTENDED_CELLS, make_problem
from test_cuda_recurrence import assert_matches, run_both

import numrnn
from numrnn.backends import Masks
from numrnn.backends import reference as ref


@pytest.mark.parametrize("cell_name", list(EXTENDED_CELLS))
def test_per_step_kernels_match_reference(backend, rng, monkeypatch, cell_name):
    monkeypatch.setattr(backend, "PERSISTENT_MAX_WEIGHT_BYTES", 0)
    # B*H = 9 items over blocks of 8 threads: the grid-stride loops wrap.
    cell, params, data = make_problem(rng, *EXTENDED_CELLS[cell_name], 4, 3, 2, 3, True)
    actual, expected, own = run_both(backend, cell, params, data, True, np.float32)
    assert_matches(actual, expected, np.float32, own)


@pytest.mark.parametrize("cell_name", ["lstm_peephole", "indrnn"])
def test_layer_matches_numpy_backend(rng, cell_name):
    common = dict(num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    want = numrnn.Recurrent(cell_name, 2, 3, backend="numpy", **common)
    layer = numrnn.Recurrent(cell_name, 2, 3, backend="cuda", **common)
    x = rng.standard_normal((3, 2, 2))
    lengths = np.array([3, 1])
    results = []
    for each in (want, layer):
        out, state = each(x, lengths=lengths)
        grad_x, grad_state = each.backward(np.ones_like(out), state)
        results.append({"output": out, "state": state, "grad_x": grad_x,
                        "grad_state": grad_state, **each.grads})  # fmt: skip
    expected, actual = results
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(flat(actual[name]), flat(value), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def flat(a):
    """An array, or the pair (h, c), as one flat array."""
    return np.concatenate([np.ravel(part) for part in (a if isinstance(a, tuple) else (a,))])


@pytest.mark.parametrize(("cell_name", "per_step"), [("lstm_proj", False), ("ligru", True),
                                                     ("lstm_peephole", True)])
def test_regularisers_match_reference(backend, rng, monkeypatch, cell_name, per_step):
    """Recurrent dropout and zoneout masks, forward and backward, as the reference applies them."""
    from cuda_problems import CELLS

    if per_step:
        monkeypatch.setattr(backend, "PERSISTENT_MAX_WEIGHT_BYTES", 0)
    kind, proj_size = {**CELLS, **EXTENDED_CELLS}[cell_name]
    cell, params, data = make_problem(rng, kind, proj_size, 3, 3, 2, 3, True)
    T, B, H = 3, 3, 3
    P = proj_size or H
    masks = Masks((rng.random((B, P)) < 0.7) / 0.7, (rng.random((T, B, P)) < 0.4) * 1.0,
                  (rng.random((T, B, H)) < 0.4) * 1.0 if data["c0"] is not None else None)
    results = []
    for module in (backend, ref):
        output, h_n, c_n, tape = module.forward(cell, params, data["x"], data["h0"], data["c0"],
                                                data["lengths"], True, True, masks)
        grads = module.backward(cell, params, tape, data["grad_output"], data["grad_h_n"],
                                data["grad_c_n"])
        results.append([output, h_n, c_n, *grads[:3], *(grads[3][k] for k in sorted(grads[3]))])
    for got, want in zip(*results, strict=True):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
