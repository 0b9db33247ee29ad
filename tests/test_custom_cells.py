"""User-defined cells (numrnn.cells): the symbolic layer, the generated code, the checks.

A cell defined by equations equal to a built-in one (the GRU, the LSTM) must match it to
float64 round-off everywhere: its generated row functions against the built-in ones, and
whole layer-directions on every host backend.  JANET, which is not built in, is tested against
an independent PyTorch autograd implementation in tests/test_custom_cells_torch.py.
"""

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from apps_backends import FASTEST

pytest.importorskip("sympy")

import numrnn  # noqa: E402
from numrnn._cells import CELLS  # noqa: E402
from numrnn.cells import check_gradient, define_cell  # noqa: E402

GRU = {"gates": ("r", "z", "n"), "split": ("n",),
       "equations": {"r": "sigmoid(a_r)", "z": "sigmoid(a_z)", "n": "tanh(ax_n + r * ah_n)",
                     "h": "(1 - z) * n + z * h_prev"}}
LSTM = {"gates": ("i", "f", "g", "o"), "states": ("h", "c"),
        "equations": {"i": "sigmoid(a_i)", "f": "sigmoid(a_f)", "g": "tanh(a_g)",
                      "o": "sigmoid(a_o)", "c": "f * c_prev + i * g", "h": "o * tanh(c)"}}
#: The built-in cells, written as equations.
AS_BUILT_IN = {
    "gru": GRU,
    "lstm": LSTM,
    "lstm_cifg": {"gates": ("f", "g", "o"), "states": ("h", "c"),
                  "equations": {"f": "sigmoid(a_f)", "c": "f * c_prev + (1 - f) * tanh(a_g)",
                                "h": "sigmoid(a_o) * tanh(c)"}},
    "ligru": {"gates": ("z", "n"),
              "equations": {"z": "sigmoid(a_z)", "h": "z * h_prev + (1 - z) * relu(a_n)"}},
    "indrnn": {"gates": ("a",), "diagonal": True, "equations": {"h": "relu(a_a)"}},
    "lstm_peephole": {"gates": ("i", "f", "g", "o"), "states": ("h", "c"),
                      "parameters": ("p_i", "p_f", "p_o"), "parameter_name": "weight_ch",
                      "equations": {"i": "sigmoid(a_i + p_i * c_prev)",
                                    "f": "sigmoid(a_f + p_f * c_prev)",
                                    "c": "f * c_prev + i * tanh(a_g)",
                                    "h": "sigmoid(a_o + p_o * c) * tanh(c)"}},
}
JANET = {"gates": ("f", "g"),
         "equations": {"h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"}}


@pytest.fixture(scope="module")
def defined():
    """The cells defined once per module (each definition costs ~0.3 s of SymPy)."""
    cells = {name: define_cell(f"my_{name}", **kw) for name, kw in AS_BUILT_IN.items()}
    cells["janet"] = define_cell("janet", **JANET)
    return cells


@pytest.mark.parametrize("name", ["gru", "lstm", "ligru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_generated_rows_equal_the_built_in_rows(defined, name, dtype):
    """Same tape layout, same values: the rows are interchangeable."""
    cell, built_in = defined[name], CELLS[name]
    assert (cell.taped, cell.direct_grad, cell.split_grad) == \
        (built_in.taped, built_in.direct_grad, built_in.split_grad)
    G, H = cell.n_gates, 7
    rng = np.random.default_rng()
    # The rows' layout: (G, H) blocks of the gates, (E, H) of the taped values, (K, H) of
    # the per-unit parameters.
    x, b_ih, b_hh, hh = (rng.standard_normal((G, H)).astype(dtype) for _ in range(4))
    c, h = (rng.standard_normal(H).astype(dtype) for _ in range(2))
    units = np.zeros((0, H), dtype)
    fast = dtype == np.float32
    rtol = 1e-6 if fast else 1e-15
    results, params = [], []
    for one in (cell, built_in):
        state = [x.copy(), c.copy(), h.copy(), np.full((cell.taped, H), np.nan, dtype)]
        params.append(one.functions("row_params")(b_ih, b_hh, b_ih + b_hh, units))
        one.functions("row_forward")(state[0], params[-1], hh, state[1], state[2], state[3], 0,
                                     fast, True)
        results.append(state)
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    tape, taped = results[1][0], results[1][3]
    dhraw, g, dc = (rng.standard_normal(H).astype(dtype) for _ in range(3))
    results = []
    for one, p in zip((cell, built_in), params, strict=True):
        out = [np.full((G, H), np.nan, dtype), np.full((G, H), np.nan, dtype),
               np.full(H, np.nan, dtype), dc.copy()]
        dhid = out[1] if cell.split_grad else out[0]
        one.functions("row_backward")(tape, taped, h, c, dhraw, g, out[3], out[0], dhid, out[2],
                                      p, units, 0)
        results.append([out[0]] + ([out[1]] if cell.split_grad else [])
                       + ([out[2]] if cell.direct_grad else [])
                       + ([out[3]] if cell.has_cell_state else []))
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


# Every cell on the reference; on the cpu backend (seconds of compilation each) a split gate,
# a coupled cell state, a diagonal recurrence and per-unit parameters; the lstm's and ligru's
# rows are compared with the built-in rows above.
@pytest.mark.parametrize("name,backend", [(name, "numpy") for name in sorted(AS_BUILT_IN)]
                         + [(name, "cpu") for name in ("gru", "lstm_cifg", "indrnn",
                                                       "lstm_peephole")])
def test_defined_like_a_built_in_cell_computes_the_same(defined, backend, name):
    """Two bidirectional layers with lengths: outputs, states and every gradient."""
    rng = np.random.default_rng()
    T, B, I, H, L = 5, 3, 2, 4, 2
    layers = [numrnn.Recurrent(cell, I, H, L, bidirectional=True, dtype=np.float64,
                               backend=backend, seed=0) for cell in (defined[name], name)]
    state = {k: rng.standard_normal(v.shape) for k, v in layers[1].state_dict().items()}
    two = defined[name].has_cell_state
    x = rng.standard_normal((T, B, I))
    hx = [rng.standard_normal((2 * L, B, H)) for _ in range(1 + two)]
    hx = tuple(hx) if two else hx[0]
    grad_out = rng.standard_normal((T, B, 2 * H))
    grad_hn = [rng.standard_normal((2 * L, B, H)) for _ in range(1 + two)]
    grad_hn = tuple(grad_hn) if two else grad_hn[0]
    results = []
    for layer in layers:
        layer.load_state_dict(state)
        out, h_n = layer(x, hx, lengths=[T, 1, 3])
        grad_x, grad_hx = layer.backward(grad_out, grad_hn)
        results.append([out, *np.atleast_1d(h_n), grad_x, *np.atleast_1d(grad_hx)]
                       + [layer.grads[k] for k in state])
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


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
    diagonal = define_cell("ind", gates=("a",), diagonal=True,
                           equations={"h": "tanh(a_a) + 0.5 * h_prev"})
    errors = check_gradient(diagonal, steps=3, hidden_size=2, backends=("numpy",))
    assert errors[("numpy", "reverse", "weight_hh")] < 1e-7


def test_constants_are_exact_in_float64(backend):
    """Activations of numbers (log(3), sigmoid(1)) are constants of the equation, in the
    layer's dtype: a float64 layer computes them in float64 on every backend."""
    cell = define_cell("constants", gates=("g",),
                       equations={"h": "log(3) * sigmoid(1) * tanh(a_g) + exp(-2) * h_prev"})
    layer = numrnn.Recurrent(cell, 1, 1, backend=backend, dtype=np.float64, seed=0)
    layer.load_state_dict({k: np.ones_like(v) for k, v in layer.state_dict().items()})
    out, _ = layer(np.zeros((2, 1, 1)))
    first = np.log(3) / (1 + np.exp(-1)) * np.tanh(2.0)
    want = [first, np.log(3) / (1 + np.exp(-1)) * np.tanh(2.0 + first) + np.exp(-2) * first]
    np.testing.assert_allclose(out[:, 0, 0], want, rtol=1e-15)


@pytest.mark.parametrize("equations", [
    {"z": "a_f", "h": "sigmoid(z) * h_prev + tanh(a_g)"},  # a name for an input
    {"h": "a_g + 0.5 * sigmoid(a_f) * h_prev"},  # linear in a gate
    {"h": "sigmoid(a_f) * h_prev + tanh(a_g) / sqrt(1 + h_prev**2)"},  # power -1/2
    {"h": "sigmoid(a_f) * h_prev + 0.1 * sqrt(1 + a_g**2) * (1 + a_g**2)"},  # power 3/2
])
def test_names_and_half_integer_powers_differentiate_right(equations):
    """Equations SymPy folds into a bare name or into powers n/2 are cells like any other."""
    cell = define_cell("folded", gates=("f", "g"), equations=equations)
    errors = check_gradient(cell, steps=3, hidden_size=2, input_size=2)
    assert max(errors.values()) < 1e-6


def test_a_two_state_cell_need_not_read_its_previous_c():
    cell = define_cell("fresh_c", gates=("f", "g"), states=("h", "c"),
                       equations={"c": "tanh(a_g)", "h": "sigmoid(a_f) * h_prev + c"})
    errors = check_gradient(cell, steps=3, hidden_size=2, input_size=2)
    assert errors[("cpu", "reverse", "c0")] == 0 and max(errors.values()) < 1e-6


def test_equations_written_in_sympy_are_the_same_cell():
    """SymPy's own tanh, and symbols with assumptions, stand for the names they spell."""
    sympy = pytest.importorskip("sympy")
    a_f, a_g, h_prev = sympy.symbols("a_f a_g h_prev", real=True)
    written = define_cell("sym", gates=("f", "g"), equations={
        "h": sympy.Function("sigmoid")(a_f) * h_prev + sympy.tanh(a_g)})
    parsed = define_cell("txt", gates=("f", "g"),
                         equations={"h": "sigmoid(a_f) * h_prev + tanh(a_g)"})
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    outs = [numrnn.Recurrent(c, 3, 2, backend="numpy", dtype=np.float64, seed=1)(x)[0]
            for c in (written, parsed)]
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"batch": 0}, ValueError, "batch must be >= 1, got 0"),
    ({"steps": 2.0}, TypeError, "steps must be an integer, got float"),
    ({"backends": "cpu"}, ValueError, "backends must be a non-empty tuple"),
    ({"backends": ("gpu",)}, ValueError, "backends must be a non-empty tuple"),
    ({"eps": 0.0}, ValueError, r"eps must be a finite number in \(0.0, 1.0\], got 0.0"),
    ({"rtol": -1.0}, ValueError, "rtol must be a finite number"),
])
def test_check_gradient_refuses_bad_arguments(defined, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_gradient(defined["janet"], **kwargs)


def test_saving_a_model_with_a_defined_cell_says_to_pickle_it(defined, tmp_path):
    model = numrnn.Sequential([numrnn.Recurrent(defined["janet"], 2, 3, seed=0),
                               numrnn.Dense(3, 1, seed=0)], loss="mse")
    with pytest.raises(TypeError, match=r"layers\[0\] runs the user-defined cell 'janet'.*"
                                        "pickle the model"):
        numrnn.save(tmp_path / "m.npz", model)
    again = pickle.loads(pickle.dumps(model))
    x = np.ones((2, 4, 2), np.float32)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


@pytest.mark.parametrize(("dtype", "a"), [(np.float32, -20.0), (np.float64, -90.0),
                                         (np.float64, 40.0)])
def test_log_sigmoid_stays_finite_where_the_sigmoid_underflows(backend, dtype, a):
    """log(sigmoid(u)) is computed as -relu(-u) - log(1 + exp(-|u|)): the loops' sigmoid is 0
    far below zero (in float32 from -17, the fast one's absolute error being 3e-7)."""
    cell = define_cell("logsig", gates=("f", "g"),
                       equations={"h": "0.01 * log(sigmoid(a_f)) + 0.5 * h_prev * sigmoid(a_g)"})
    layer = numrnn.Recurrent(cell, 1, 1, backend=backend, dtype=dtype, seed=0)
    state = {k: np.zeros_like(v) for k, v in layer.state_dict().items()}
    state["bias_ih_l0"][0] = a  # a_f = a, a_g = 0
    layer.load_state_dict(state)
    out, _ = layer(np.zeros((2, 1, 1)))
    first = 0.01 * -np.logaddexp(0.0, -a)
    np.testing.assert_allclose(out[:, 0, 0], [first, 1.25 * first],
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    errors = check_gradient(cell, steps=3, hidden_size=2, input_size=2)
    assert max(errors.values()) < 1e-6


def test_check_gradient_names_what_is_wrong(defined, monkeypatch):
    """A cell whose backward is wrong (here: the gradient of h_prev is dropped) fails."""
    cell = define_cell("janet_wrong", **JANET)
    backward = cell.functions("step_backward")

    def wrong(*args):
        dgx, dgh, _, dc = backward(*args)
        return dgx, dgh, 0, dc

    monkeypatch.setattr(cell.namespace, f"{cell.maths}_step_backward", wrong)
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
        source = defined[name].namespace.source
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
    ({"gates": ("f",), "equations": {"h": "a_f ** h_prev"}}, ValueError,
     "only integer and half-integer powers"),
    ({"gates": ("f",), "equations": {"h": "a_f ** 1.25"}}, ValueError,
     "only integer and half-integer powers"),
    ({"gates": ("f",), "equations": {"h": "1e400 * tanh(a_f)"}}, ValueError,
     r"uses 1\.00000E\+400, which is not a real number within float64's range"),
    ({"gates": ("f",), "equations": {"h": "log(-1) * tanh(a_f)"}}, ValueError,
     r"uses 1\.0\*I, which is not a real number"),
    ({"gates": ("f",), "equations": {"h": "sigmoid(log(-1)) * tanh(a_f)"}}, ValueError,
     r"has sigmoid\(I\*pi\) = .*, which is not a finite real number"),
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
    ({"gates": "fg", "equations": {"h": "a_f"}}, TypeError,
     r"gates must be a tuple of names \(str\), got 'fg'"),
    ({"gates": ("f",), "states": ("h", 2), "equations": {"h": "a_f"}}, TypeError,
     "states must be a tuple of names"),
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


def test_the_docs_page_code_runs_checks_and_learns(monkeypatch, tmp_path):
    text = (Path(__file__).resolve().parent.parent / "docs" / "custom_cells.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text)
    assert len(blocks) == 3  # define and check; train; the GRU and LSTM as equations
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUMRNN_BACKEND", FASTEST)
    namespace = {}
    for block in blocks:
        source = "\n".join(line[3:] for line in block.splitlines())
        exec(compile(source, "custom_cells.rst", "exec"), namespace)
    assert max(namespace["errors"].values()) < 1e-6
    assert namespace["model"].evaluate(namespace["X_test"], namespace["y_test"][:, None])[
        "loss"] < 0.03  # the page says 0.006; always answering 1 scores 0.167
