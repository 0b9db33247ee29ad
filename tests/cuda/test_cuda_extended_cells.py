"""The extended cells on the CUDA backend against the NumPy reference (a small subset).

The full grid (layers, directions, lengths, bias) runs on the ``"numpy"`` and ``"cpu"``
backends in tests/test_extended_cells.py; here each cell runs its kernels once persistent
and once per step, and one stacked bidirectional layer of each runs through the layer.
"""

import numpy as np
import pytest
from cuda_problems import EXTENDED_CELLS, make_problem
from test_cuda_recurrence import assert_matches, run_both

import numrnn


@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("cell_name", list(EXTENDED_CELLS))
def test_kernels_match_reference(backend, rng, monkeypatch, cell_name, per_step):
    if per_step:
        monkeypatch.setattr(backend, "PERSISTENT_MAX_WEIGHT_BYTES", 0)
    dtype = np.float32 if per_step else np.float64
    # H=3, B=3: two blocks of two rows (persistent); the grid-stride loops wrap (per step).
    cell, params, data = make_problem(rng, *EXTENDED_CELLS[cell_name], 4, 3, 2, 3, True)
    actual, expected = run_both(backend, cell, params, data, per_step, dtype)
    assert_matches(actual, expected, dtype)


@pytest.mark.parametrize("cell_name", list(EXTENDED_CELLS))
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
