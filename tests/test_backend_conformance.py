"""Every backend module against the backend interface of :mod:`numrnn.backends`.

Each backend provides every interface function with the documented parameters, and its
``forward``/``backward`` over one layer-direction equal the NumPy reference's for every
registered cell (with and without a projection where the cell has one, with lengths and in
reverse), in float64, leave their inputs as they were, and return arrays they own.
The CUDA backend takes part where a GPU or Numba's CUDA simulator is usable (tests/cuda
turns the simulator on for a whole-suite run).
"""

import inspect

import numpy as np
import pytest

from numrnn._cells import CELLS
from numrnn.backends import BACKENDS, INTERFACE, CellSpec, Masks, resolve_backend


def backend_module(name):
    try:
        return resolve_backend(name)[1]
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    return backend_module(request.param)


def test_every_interface_function_with_its_parameters(backend):
    for name, parameters in INTERFACE.items():
        function = getattr(backend, name)
        assert callable(function), name
        assert tuple(inspect.signature(function).parameters) == parameters, name


CASES = [(name, 0) for name in CELLS] + [
    (name, 2) for name, cell in CELLS.items() if cell.projection
]


def problem(rng, spec, T=4, B=3, I=2):
    GH, P = spec.cell.n_gates * spec.hidden_size, spec.proj_size or spec.hidden_size
    params = {
        "weight_ih": rng.uniform(-0.6, 0.6, (GH, I)),
        "weight_hh": rng.uniform(-0.6, 0.6, GH if spec.cell.diagonal else (GH, P)),
        "bias_ih": rng.uniform(-0.3, 0.3, GH),
        "bias_hh": rng.uniform(-0.3, 0.3, GH),
    }
    if spec.proj_size:
        params["weight_hr"] = rng.uniform(-0.6, 0.6, (spec.proj_size, spec.hidden_size))
    if spec.cell.unit_role:
        params[spec.cell.unit_role] = rng.uniform(-0.6, 0.6,
                                                  spec.cell.unit_width * spec.hidden_size)
    c = rng.standard_normal((B, spec.hidden_size)) if spec.cell.has_cell_state else None
    return {
        "params": params,
        "x": rng.standard_normal((T, B, I)),
        "h0": rng.standard_normal((B, P)),
        "c0": c,
        "grad_output": rng.standard_normal((T, B, P)),
        "grad_h_n": rng.standard_normal((B, P)),
        "grad_c_n": None if c is None else rng.standard_normal(c.shape),
    }


def run(be, spec, case, lengths, reverse, masks=None, input_grad=True):
    """Forward and backward through ``be``'s interface; results as host arrays."""
    params = be.prepare_params({k: be.asarray(v, np.float64) for k, v in case["params"].items()})
    device = {k: None if case[k] is None else be.asarray(case[k], np.float64)
              for k in ("x", "h0", "c0", "grad_output", "grad_h_n", "grad_c_n")}
    out, h_n, c_n, tape = be.forward(spec, params, device["x"], device["h0"], device["c0"],
                                     lengths, reverse, True, masks)
    grad_x, grad_h0, grad_c0, grads = be.backward(spec, params, tape, device["grad_output"],
                                                  device["grad_h_n"], device["grad_c_n"],
                                                  input_grad)
    host = [None if a is None else be.to_numpy(a) for a in (out, h_n, c_n, grad_x, grad_h0,
                                                             grad_c0)]
    return host, {k: be.to_numpy(v) for k, v in grads.items()}


@pytest.mark.parametrize(("cell", "proj_size"), CASES)
@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_forward_and_backward_equal_the_reference(backend, rng, cell, proj_size, variable,
                                                  reverse):
    spec = CellSpec(cell, 3, proj_size)
    case = problem(rng, spec)
    before = {k: None if v is None else np.copy(v) for k, v in case.items() if k != "params"}
    params_before = {k: v.copy() for k, v in case["params"].items()}
    lengths = np.array([4, 1, 3]) if variable else None
    got, got_grads = run(backend, spec, case, lengths, reverse)
    want, want_grads = run(backend_module("numpy"), spec, case, lengths, reverse)
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)
    assert sorted(got_grads) == sorted(case["params"])
    for name, w in want_grads.items():
        np.testing.assert_allclose(got_grads[name], w, rtol=1e-9, atol=1e-11, err_msg=name)
    for name, v in before.items():  # inputs unchanged
        if v is not None:
            np.testing.assert_array_equal(case[name], v)
    for name, v in params_before.items():
        np.testing.assert_array_equal(case["params"][name], v)
    if variable:  # without the input's gradient: None, and the rest the same
        skipped, skipped_grads = run(backend, spec, case, lengths, reverse, input_grad=False)
        assert skipped[3] is None
        for i in (0, 1, 2, 4, 5):
            if got[i] is not None:
                np.testing.assert_array_equal(skipped[i], got[i])
        for name, g in got_grads.items():
            np.testing.assert_array_equal(skipped_grads[name], g, err_msg=name)


@pytest.mark.parametrize(("cell", "proj_size"), CASES)
def test_regularisers_equal_the_reference(backend, rng, cell, proj_size):
    spec = CellSpec(cell, 3, proj_size)
    case = problem(rng, spec)
    T, B, _ = case["x"].shape
    P = case["h0"].shape[1]
    masks = Masks((rng.random((B, P)) < 0.6) / 0.6, (rng.random((T, B, P)) < 0.4) * 1.0,
                  None if case["c0"] is None else rng.uniform(0, 1, (T, B, spec.hidden_size)))
    lengths = np.array([4, 1, 3])
    got, got_grads = run(backend, spec, case, lengths, True, masks)
    want, want_grads = run(backend_module("numpy"), spec, case, lengths, True, masks)
    for g, w in zip(got, want, strict=True):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)
    for name, w in want_grads.items():
        np.testing.assert_allclose(got_grads[name], w, rtol=1e-9, atol=1e-11, err_msg=name)


def test_array_helpers(backend, rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    da, db = backend.asarray(a, np.float64), backend.asarray(b, np.float64)
    host = backend.to_numpy
    np.testing.assert_array_equal(host(backend.add(da, db)), a + b)
    np.testing.assert_array_equal(host(backend.multiply(da, db)), a * b)
    np.testing.assert_array_equal(host(backend.transpose01(da)), a.swapaxes(0, 1))
    np.testing.assert_array_equal(host(backend.stack([da, db])), np.stack([a, b]))
    joined = backend.concat_features([da, db])
    np.testing.assert_array_equal(host(joined), np.concatenate([a, b], axis=-1))
    parts = backend.split_features(joined, [4, 4])
    np.testing.assert_array_equal(host(parts[0]), a)
    np.testing.assert_array_equal(host(parts[1]), b)
    np.testing.assert_array_equal(host(backend.zeros((2, 5), np.float32)), np.zeros((2, 5)))
    assert host(backend.zeros((2, 5), np.float32)).dtype == np.float32
    assert not backend.is_device_array(a)
