"""forward and backward of the CUDA backend against the NumPy reference.

Shapes are tiny: the simulator runs one Python thread per CUDA thread.  They
are chosen so that the persistent kernel runs several blocks, blocks with
several batch rows and with fewer threads than units, and the per-step
kernels loop with the grid's stride.
"""

import numpy as np
import pytest
from cuda_problems import CELLS, make_problem

from numrnn.backends import reference as ref

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def cast(a, dtype):
    return None if a is None or a.dtype.kind == "i" else a.astype(dtype)


def run_both(backend, cell, params, data, reverse, dtype):
    """(cuda results, reference results, the reference's own results in ``dtype``).

    Each is forward + backward, as host arrays.  The reference runs in float64 on the
    same (rounded to ``dtype``) values; its run in ``dtype`` measures how far rounding
    alone moves the answer (a relu that cancels to a tiny value loses digits).
    """
    results = []
    runs = [(backend, dtype), (ref, np.float64)] + [(ref, dtype)] * (dtype != np.float64)
    for module, run_dtype in runs:
        p = {k: cast(cast(v, dtype), run_dtype) for k, v in params.items()}
        d = {k: cast(cast(v, dtype), run_dtype) for k, v in data.items()}
        output, h_n, c_n, tape = module.forward(
            cell, p, d["x"], d["h0"], d["c0"], data["lengths"], reverse, True
        )
        grad_x, grad_h0, grad_c0, grads = module.backward(
            cell, p, tape, d["grad_output"], d["grad_h_n"], d["grad_c_n"]
        )
        results.append(
            {
                "output": output,
                "h_n": h_n,
                "c_n": c_n,
                "grad_x": grad_x,
                "grad_h0": grad_h0,
                "grad_c0": grad_c0,
                **{f"grad_{k}": v for k, v in grads.items()},
            }
        )
    return results[0], results[1], results[-1]


def assert_matches(actual, expected, dtype, own):
    """``actual`` equals ``expected`` to the dtype's tolerance, relative to each array's
    largest value; in float32 it may also be off by 20 times the reference's own float32
    error (``own``), which is larger where a sum cancels."""
    assert actual.keys() == expected.keys()
    for name, want in expected.items():
        got = actual[name]
        if want is None:
            assert got is None, name
            continue
        assert isinstance(got, np.ndarray), f"{name}: host in, host out"
        assert got.dtype == dtype, name
        assert got.shape == want.shape, name
        rtol = TOLERANCE[dtype]
        atol = max(rtol * np.abs(want).max(), 20 * np.abs(own[name] - want).max())
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("variable_length", [False, True])
@pytest.mark.parametrize("cell_name", list(CELLS))
def test_persistent_kernel_matches_reference(
    backend, rng, cell_name, variable_length, reverse, dtype
):
    # H=3 with 8 threads per block: two batch rows per block, B=3 makes two blocks.
    cell, params, data = make_problem(rng, *CELLS[cell_name], 4, 3, 2, 3, variable_length)
    actual, expected, own = run_both(backend, cell, params, data, reverse, dtype)
    assert_matches(actual, expected, dtype, own)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell_name", list(CELLS))
def test_per_step_kernels_match_reference(backend, rng, monkeypatch, cell_name, reverse):
    monkeypatch.setattr(backend, "PERSISTENT_MAX_WEIGHT_BYTES", 0)
    # B*H = 15 items over at most 2 blocks of 8 threads: the grid-stride loops wrap.
    cell, params, data = make_problem(rng, *CELLS[cell_name], 4, 3, 2, 5, True)
    actual, expected, own = run_both(backend, cell, params, data, reverse, np.float64)
    assert_matches(actual, expected, np.float64, own)


@pytest.mark.parametrize("cell_name", ["gru", "lstm_proj"])
def test_more_units_than_threads(backend, rng, cell_name):
    # H=10 > 8 threads: a block's threads loop over the units of its one row.
    kind, _ = CELLS[cell_name]
    cell, params, data = make_problem(rng, kind, 9 if kind == "lstm" else 0, 3, 2, 2, 10, True)
    actual, expected, own = run_both(backend, cell, params, data, True, np.float64)
    assert_matches(actual, expected, np.float64, own)


def test_device_arrays_in_device_arrays_out(backend, rng):
    from numba import cuda

    cell, params, data = make_problem(rng, "lstm", 2, 3, 2, 2, 3, True)
    host_out = backend.forward(
        cell, params, data["x"], data["h0"], data["c0"], data["lengths"], True, True
    )
    dev = {k: None if v is None or k == "lengths" else cuda.to_device(v) for k, v in data.items()}
    device_params = backend.prepare_params({k: cuda.to_device(v) for k, v in params.items()})
    out = backend.forward(
        cell, device_params, dev["x"], dev["h0"], dev["c0"], data["lengths"], True, True
    )
    for got, want in zip(out[:3], host_out[:3], strict=True):
        assert backend.is_device_array(got)
        np.testing.assert_allclose(got.copy_to_host(), want, rtol=1e-12, atol=1e-12)
    host_grads = backend.backward(
        cell, params, host_out[3], data["grad_output"], data["grad_h_n"], data["grad_c_n"]
    )
    grads = backend.backward(
        cell, device_params, out[3], dev["grad_output"], dev["grad_h_n"], dev["grad_c_n"]
    )
    for got, want in zip(grads[:3], host_grads[:3], strict=True):
        assert backend.is_device_array(got)
        np.testing.assert_allclose(got.copy_to_host(), want, rtol=1e-12, atol=1e-12)
    assert grads[3].keys() == params.keys()
    for name, got in grads[3].items():
        assert backend.is_device_array(got)
        np.testing.assert_allclose(got.copy_to_host(), host_grads[3][name], rtol=1e-12,
                                   atol=1e-12)  # fmt: skip


def test_tape_survives_changes_to_the_callers_arrays(backend, rng):
    from numba import cuda

    cell, params, data = make_problem(rng, "gru", 0, 3, 2, 2, 3, False)
    x = cuda.to_device(data["x"])
    output, _, _, tape = backend.forward(cell, params, x, data["h0"], None, None, False, True)
    expected = backend.backward(cell, params, tape, data["grad_output"], data["grad_h_n"], None)
    output, _, _, tape = backend.forward(cell, params, x, data["h0"], None, None, False, True)
    x.copy_to_device(np.full(x.shape, 7.0))
    output.copy_to_device(np.full(output.shape, 7.0))
    grad_x = backend.backward(cell, params, tape, data["grad_output"], data["grad_h_n"], None)
    np.testing.assert_array_equal(grad_x[0], expected[0])
    for name, g in expected[3].items():
        np.testing.assert_array_equal(grad_x[3][name], g)


def test_prepared_params_are_reused_and_equivalent(backend, rng):
    cell, params, data = make_problem(rng, "rnn_tanh", 0, 3, 2, 2, 3, False)
    prepared = backend.prepare_params(params)
    assert backend.prepare_params(prepared) is prepared
    with_dict = backend.forward(cell, params, data["x"], data["h0"], None, None, False, False)
    with_prepared = backend.forward(cell, prepared, data["x"], data["h0"], None, None, False, False)
    assert with_dict[3] is None and with_prepared[3] is None
    np.testing.assert_array_equal(with_dict[0], with_prepared[0])


@pytest.mark.parametrize("reverse", [False, True])
def test_all_sequences_shorter_than_the_input(backend, rng, reverse):
    # The kernels run max(lengths) < T steps; later outputs stay zero.
    cell, params, data = make_problem(rng, "lstm", 2, 5, 2, 2, 3, True)
    data["lengths"] = np.array([3, 2])
    actual, expected, own = run_both(backend, cell, params, data, reverse, np.float64)
    assert_matches(actual, expected, np.float64, own)
    assert not actual["output"][3:].any()
