"""User-defined cells (numrnn.cells): the symbolic layer, the generated code, the checks.

A cell defined by equations equal to a built-in one (the GRU, the LSTM) must match it to
float64 round-off everywhere: its generated row functions against the built-in ones, and
whole layer-directions on every host backend.  JANET, which is not built in, is tested against
an independent PyTorch autograd implementation in tests/test_custom_cells_torch.py.
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sympy")

from numrnn.backends import CellSpec, gates, resolve_backend  # noqa: E402
from numrnn.cells import check_gradient, define_cell  # noqa: E402

GRU = {"gates": ("r", "z", "n"), "split": ("n",),
       "equations": {"r": "sigmoid(a_r)", "z": "sigmoid(a_z)", "n": "tanh(ax_n + r * ah_n)",
                     "h": "(1 - z) * n + z * h_prev"}}
LSTM = {"gates": ("i", "f", "g", "o"), "states": ("h", "c"),
        "equations": {"i": "sigmoid(a_i)", "f": "sigmoid(a_f)", "g": "tanh(a_g)",
                      "o": "sigmoid(a_o)", "c": "f * c_prev + i * g", "h": "o * tanh(c)"}}
JANET = {"gates": ("f", "g"),
         "equations": {"h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"}}
AS_BUILT_IN = [("gru", GRU), ("lstm", LSTM)]


@pytest.fixture(scope="module")
def defined():
    """The cells defined once per module (each definition costs ~0.3 s of SymPy)."""
    return {name: define_cell(f"my_{name}", **kw) for name, kw in AS_BUILT_IN + [("janet", JANET)]}


@pytest.mark.parametrize("name", ["gru", "lstm"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_generated_rows_equal_the_built_in_rows(defined, name, dtype):
    """Same tape layout, same values: the rows are interchangeable."""
    cell = defined[name]
    G, H = cell.n_gates, 7
    rng = np.random.default_rng()
    x, b_ih, b_hh, hh = (rng.standard_normal(G * H).astype(dtype) for _ in range(4))
    c, h = (rng.standard_normal(H).astype(dtype) for _ in range(2))
    fast = dtype == np.float32
    results = []
    for row, row_params in ((cell.functions("row_forward"), cell.functions("row_params")),
                            (getattr(gates, f"{name}_row_forward"),
                             getattr(gates, f"{name}_row_params"))):
        state = [x.copy(), c.copy(), h.copy(), np.full(cell.taped * H, np.nan, dtype)]
        params = row_params(b_ih, b_hh, b_ih + b_hh)
        row(state[0], params, hh, state[1], state[2], state[3], 0, fast, True)
        results.append(state)
    rtol = 1e-6 if fast else 1e-15
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    tape, taped = results[1][0], results[1][3]
    dhraw, g, dc = (rng.standard_normal(H).astype(dtype) for _ in range(3))
    results = []
    for row in (cell.functions("row_backward"), getattr(gates, f"{name}_row_backward")):
        out = [np.full(G * H, np.nan, dtype), np.full(G * H, np.nan, dtype),
               np.full(H, np.nan, dtype), dc.copy()]
        dhid = out[1] if cell.direct_grad else out[0]
        row(tape, taped, h, c, dhraw, g, out[3], out[0], dhid, out[2], 0)
        results.append(out if cell.direct_grad else [out[0], out[3]])
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def _layer_direction(backend, cell, params, x, h0, c0, lengths, reverse, grads_in):
    be = resolve_backend(backend)[1]
    spec = CellSpec(cell, h0.shape[1], 0)
    prepared = be.prepare_params(params)
    out, h_n, c_n, tape = be.forward(spec, prepared, x, h0, c0, lengths, reverse, True)
    gx, gh0, gc0, grads = be.backward(spec, prepared, tape, *grads_in)
    return [out, h_n, c_n, gx, gh0, gc0] + [grads[k] for k in sorted(grads)]


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("name", ["gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
def test_defined_like_a_built_in_cell_computes_the_same(defined, backend, name, reverse):
    cell = defined[name]
    rng = np.random.default_rng()
    T, B, I, H = 5, 3, 2, 4
    G = cell.n_gates
    params = {"weight_ih": rng.standard_normal((G * H, I)),
              "weight_hh": rng.standard_normal((G * H, H)),
              "bias_ih": rng.standard_normal(G * H), "bias_hh": rng.standard_normal(G * H)}
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((B, H))
    two = cell.has_cell_state
    c0 = rng.standard_normal((B, H)) if two else None
    lengths = np.array([T, 1, 3], np.int64)
    grads_in = (rng.standard_normal((T, B, H)), rng.standard_normal((B, H)),
                rng.standard_normal((B, H)) if two else None)
    got = _layer_direction(backend, cell, params, x, h0, c0, lengths, reverse, grads_in)
    want = _layer_direction(backend, name, params, x, h0, c0, lengths, reverse, grads_in)
    for a, b in zip(got, want, strict=True):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_check_gradient_passes_on_janet_and_reports_each_array(defined):
    errors = check_gradient(defined["janet"], steps=4, hidden_size=3)
    assert {key for _, _, key in errors} == {"x", "h0", "weight_ih", "weight_hh", "bias_ih",
                                              "bias_hh"}
    assert max(errors.values()) < 1e-7


def test_every_supported_function_and_input_differentiates_right():
    """relu, exp, log, sqrt, powers, quotients, inexact constants, a split gate, two states."""
    cell = define_cell("everything", gates=("f", "g", "o"), states=("h", "c"), split=("o",),
                       equations={
                           "u": "relu(a_f) * exp(-a_g**2 / 4) + log(1 + sigmoid(a_f))",
                           "c": "u * (1 + c_prev**2)**0.5 / (2 + h_prev**2) + 0.3 * c_prev",
                           "h": "tanh(c) * sigmoid(ax_o + 0.1 * ah_o) - (ah_o + h_prev)**3 / 7"})
    errors = check_gradient(cell, steps=3, hidden_size=3, input_size=2)
    assert {key for _, _, key in errors} >= {"x", "h0", "c0", "weight_hh"}


def test_check_gradient_names_what_is_wrong(defined, monkeypatch):
    """A cell whose backward is wrong (here: the gradient of h_prev is dropped) fails."""
    cell = defined["janet"]
    be = resolve_backend("numpy")[1]
    steps = dict(be._STEPS)
    forward, backward = steps.get(cell.maths, (cell.functions("step_forward"),
                                               cell.functions("step_backward")))

    def wrong(*args):
        dgx, dgh, _, dc = backward(*args)
        return dgx, dgh, 0, dc

    monkeypatch.setitem(be._STEPS, cell.maths, (forward, wrong))
    with pytest.raises(AssertionError, match=r"\('numpy', 'forward', 'h0'\): relative error"):
        check_gradient(cell, backends=("numpy",), steps=3, hidden_size=2)


def test_defined_cell_pickles_as_its_definition(defined):
    cell = defined["janet"]
    again = pickle.loads(pickle.dumps(cell))
    assert again == cell
    assert again.functions("row_forward") is not cell.functions("row_forward")


def test_the_tape_keeps_activation_values_only(defined):
    """Backward evaluates no activation: the generated backward calls none."""
    for name in ("gru", "lstm", "janet"):
        source = defined[name].defined.source
        body = source.split("def maths_backward")[1].split("\n@")[0]
        assert "sigmoid(" not in body and "tanh(" not in body and "math." not in body
    assert defined["gru"].taped == defined["lstm"].taped == defined["janet"].taped == 1


def test_importing_numrnn_and_numrnn_cells_does_not_import_sympy():
    code = "import sys, numrnn, numrnn.cells; assert 'sympy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


BAD = [
    ({"gates": ("f",), "equations": {"h": "sigmoid(a_f) * q"}}, ValueError,
     r"equation for 'h' uses unknown symbols \['q'\]"),
    ({"gates": ("f",), "equations": {"h": "sin(a_f)"}}, ValueError, "calls sin, which is not"),
    ({"gates": ("f",), "equations": {"h": "foo(a_f)"}}, ValueError, "calls foo"),
    ({"gates": ("f",), "equations": {"h": "Abs(a_f)"}}, ValueError, "Abs"),
    ({"gates": ("f",), "equations": {"h": "a_f ** h_prev"}}, ValueError, "only integer powers"),
    ({"gates": ("f",), "equations": {"h": "a_f ** 1.5"}}, ValueError, "only integer powers"),
    ({"gates": ("f", "g"), "equations": {"h": "tanh(a_f)"}}, ValueError,
     r"gate 'g' is not used by the new states"),
    ({"gates": ("f",), "equations": {"c": "tanh(a_f)"}}, ValueError,
     r"must define the new states \('h',\); missing \['h'\]"),
    ({"gates": ("f",), "states": ("h", "c"), "equations": {"h": "tanh(a_f)"}}, ValueError,
     r"missing \['c'\]"),
    ({"gates": ("f",), "states": ("c",), "equations": {"c": "a_f"}}, ValueError,
     r"states must be \('h',\) or \('h', 'c'\)"),
    ({"gates": ("f",), "equations": {"h": "tanh(a_f) + c_prev"}}, ValueError,
     r"unknown symbols \['c_prev'\]"),
    ({"gates": (), "equations": {"h": "h_prev"}}, ValueError, "gates must be a non-empty"),
    ({"gates": ("f", "f"), "equations": {"h": "a_f"}}, ValueError, "gates must be distinct"),
    ({"gates": ("h_prev",), "equations": {"h": "a_h_prev"}}, ValueError, "reserved name"),
    ({"gates": ("f",), "split": ("n",), "equations": {"h": "a_f"}}, ValueError,
     r"split names gates that are not in gates"),
    ({"gates": ("f",), "equations": {"h": "tanh(a_f) +"}}, ValueError, "does not parse"),
    ({"gates": ("f",), "equations": {"h": "a_f > 0"}}, ValueError, "not a scalar expression"),
    ({"gates": ("f",), "equations": {"a_f": "1", "h": "a_f"}}, ValueError,
     "redefines a reserved name"),
    ({"gates": ("f",), "equations": {"h": 3.0}}, TypeError, "must be a str or a sympy"),
    ({"gates": ("f",), "equations": [("h", "a_f")]}, TypeError, "equations must be a dict"),
    ({"gates": ("f",), "equations": {"h": "relu(relu(a_f))"}, "states": ("h",)}, None, None),
]


@pytest.mark.parametrize("definition,error,match", BAD)
def test_a_cell_that_does_not_fit_the_model_is_refused_with_a_clear_error(definition, error,
                                                                          match):
    if error is None:  # the last one fits: relu of relu needs no second derivative
        define_cell("fits", **definition)
        return
    with pytest.raises(error, match=match):
        define_cell("bad", **definition)


def test_the_name_must_be_an_identifier():
    with pytest.raises(ValueError, match="name must be an identifier, got 'my cell'"):
        define_cell("my cell", **JANET)
