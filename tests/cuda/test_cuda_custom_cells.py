"""Cells defined by their equations (numrnn.cells) on the CUDA backend, against the reference.

A small subset, as for the extended cells: a cell with a split gate (the GRU written as
equations), one with a cell state and per-unit parameters (the peephole LSTM) and JANET, each
through the kernels once persistent and once per step; JANET through a stacked bidirectional
layer.
"""

import numpy as np
import pytest
from cuda_problems import make_problem
from test_cuda_extended_cells import flat
from test_cuda_recurrence import assert_matches, run_both

import numrnn

pytest.importorskip("sympy")

from numrnn.cells import define_cell  # noqa: E402

DEFINITIONS = {
    "gru": {"gates": ("r", "z", "n"), "split": ("n",),
            "equations": {"r": "sigmoid(a_r)", "z": "sigmoid(a_z)",
                          "n": "tanh(ax_n + r * ah_n)", "h": "(1 - z) * n + z * h_prev"}},
    "peephole": {"gates": ("i", "f", "g", "o"), "states": ("h", "c"),
                 "parameters": ("p_i", "p_f", "p_o"),
                 "equations": {"i": "sigmoid(a_i + p_i * c_prev)",
                               "f": "sigmoid(a_f + p_f * c_prev)",
                               "c": "f * c_prev + i * tanh(a_g)",
                               "h": "sigmoid(a_o + p_o * c) * tanh(c)"}},
    "janet": {"gates": ("f", "g"),
              "equations": {"h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"}},
}


@pytest.fixture(scope="module")
def cells():
    return {name: define_cell(f"cuda_{name}", **kw) for name, kw in DEFINITIONS.items()}


@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_kernels_of_a_defined_cell_match_reference(backend, rng, monkeypatch, cells, name,
                                                   per_step):
    if per_step:
        monkeypatch.setattr(backend, "PERSISTENT_MAX_WEIGHT_BYTES", 0)
    dtype = np.float32 if per_step else np.float64
    cell, params, data = make_problem(rng, cells[name], 0, 4, 3, 2, 3, True)
    actual, expected, own = run_both(backend, cell, params, data, per_step, dtype)
    assert_matches(actual, expected, dtype, own)


def test_layer_of_a_defined_cell_matches_numpy_backend(rng, cells):
    common = dict(num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    layers = [numrnn.Recurrent(cells["janet"], 2, 3, backend=b, **common)
              for b in ("numpy", "cuda")]
    x = rng.standard_normal((3, 2, 2))
    results = []
    for layer in layers:
        out, h_n = layer(x, lengths=np.array([3, 1]))
        grad_x, grad_h0 = layer.backward(np.ones_like(out), h_n)
        results.append({"output": out, "h_n": h_n, "grad_x": grad_x, "grad_h0": grad_h0,
                        **layer.grads})
    expected, actual = results
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(flat(actual[key]), flat(value), rtol=1e-10, atol=1e-12,
                                   err_msg=key)
