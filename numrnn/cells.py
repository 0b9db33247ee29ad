r"""Write your own recurrent cell: its forward equations, nothing else.

A cell that fits the model of the built-in ones -- gate pre-activations from one input
product and one hidden product, then elementwise maths per hidden unit -- is defined by its
per-unit forward equations with :func:`define_cell`.  Its backward is derived symbolically
(SymPy, with common-subexpression elimination), and code for every backend is generated from
the equations: the CPU time loops and the stepper inline it exactly as they inline a built-in
cell's maths, so it runs at a built-in cell's speed.  :func:`check_gradient` compares the
derived gradients with finite differences.

SymPy is needed to define a cell (``pip install numrnn[cells]``), not to import numrnn.

See ``docs/custom_cells.rst`` ("Write your own cell") for a worked example.
"""

import importlib
from dataclasses import dataclass

import numpy as np

from numrnn._cells import Cell

__all__ = ["check_gradient", "define_cell"]


@dataclass(frozen=True)
class _Definition:
    """What the user wrote."""

    name: str
    gates: tuple
    states: tuple
    split: tuple
    parameters: tuple
    parameter_name: str
    equations: tuple  # of (name, str or sympy expression)


class _Generated:
    """A defined cell's namespace: its generated functions as ``{maths}_{kind}`` attributes.

    It pickles as the definition, derived again when loaded, and compares by it.  The
    compiled time loops may be cached on disk (``cacheable``): ``maths`` carries a digest of
    the generated source, so two definitions never share a name.
    """

    cacheable = True

    def __init__(self, definition, namespace, maths, source):
        self.definition, self.maths, self.source = definition, maths, source
        for kind in _KINDS:
            if kind in namespace:
                setattr(self, f"{maths}_{kind}", namespace[kind])

    def __reduce__(self):
        return _namespace_of, (self.definition,)

    def __eq__(self, other):
        return isinstance(other, _Generated) and other.definition == self.definition

    def __hash__(self):
        return hash(self.definition)


_KINDS = ("step_forward", "step_backward", "row_params", "row_forward", "row_backward",
          "unit_forward", "unit_backward")


def _derive(definition):
    """The generated namespace and the Cell's layout flags of a definition."""
    try:
        importlib.import_module("sympy")
    except ImportError:  # pragma: no cover (sympy is in the test extra)
        raise ImportError("define_cell needs SymPy: pip install 'numrnn[cells]'") from None
    from numrnn._symbolic import codegen, maths

    d = definition
    derivation = maths.derive(d.gates, d.split, d.states, d.parameters, dict(d.equations))
    source, layout = codegen.generate(derivation, d.gates, d.split, d.states, d.parameters,
                                      d.parameter_name)
    namespace, digest = codegen.compile_source(source, d.name)
    return _Generated(d, namespace, f"{d.name}_{digest}", source), layout


def _namespace_of(definition):
    return _derive(definition)[0]


def define_cell(name, *, gates, equations, states=("h",), split=(), parameters=(),
                parameter_name="weight_unit", diagonal=False):
    r"""Define a recurrent cell by its per-unit forward equations.

    The cell fits the model of the built-in cells: with ``G = len(gates)``, the layer
    computes the gate pre-activations of every hidden unit

    .. math:: a_k = (W_{ih} x_t + b_{ih})_k + (W_{hh} h_{t-1} + b_{hh})_k,
              \qquad k = 1, \dots, G,

    with ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H) and the biases stacked gate after
    gate in the order of ``gates`` (PyTorch's layout), and the cell's equations then give
    the new state of each unit from its pre-activations, its previous state and constants.
    For a GRU-like gate listed in ``split``, the input part :math:`ax_k = (W_{ih} x_t +
    b_{ih})_k` and the hidden part :math:`ah_k = (W_{hh} h_{t-1} + b_{hh})_k` reach the
    equations separately (the GRU's :math:`n = \tanh(ax_n + r\,ah_n)`).

    Parameters
    ----------
    name : str
        The cell's name (an identifier): it names the generated code.
    gates : tuple of str
        The gates, in the order of their rows in the weights.
    equations : dict of str to str
        ``target: expression``, evaluated in order.  An expression may read

        * ``a_<gate>`` (``ax_<gate>`` and ``ah_<gate>`` for a gate in ``split``);
        * ``h_prev`` (and ``c_prev`` for the states ``("h", "c")``): the previous state
          of the unit;
        * the per-unit ``parameters``;
        * the names defined by earlier equations, and numbers;

        and call ``sigmoid``, ``tanh``, ``relu``, ``exp`` and ``log``, with ``+``, ``-``,
        ``*``, ``/``, integer and half-integer powers (``sqrt``, ``x**0.5``).  The
        equations must define the new states: ``h`` (and ``c``).  A SymPy expression may be
        given instead of a string (its symbols and SymPy's ``tanh`` stand for the names
        they spell).
    states : ("h",) or ("h", "c")
        The recurrent state: h alone, or h and a cell state c (the layer's ``hx`` is then
        the pair ``(h_0, c_0)``, as for the LSTM).
    split : tuple of str
        Gates whose input and hidden parts the equations read separately.
    parameters : tuple of str
        Per-unit parameters the equations read by these names (a peephole weight): each is
        a vector of H values per layer and direction, all K of them packed in this order into
        one parameter (K·H,) named ``{parameter_name}_l{k}`` (after the biases in the
        ``state_dict``), drawn from U(-1/√H, 1/√H) like the weights.  Their gradients are
        derived too.
    parameter_name : str
        The name of the per-unit parameters' vector.
    diagonal : bool
        An elementwise recurrence (IndRNN's): ``weight_hh`` is a vector (G·H,) and the hidden
        part of gate k at unit j is :math:`(w_{hh})_{kj} h_{t-1,j} + (b_{hh})_{kj}` instead of
        a row of :math:`W_{hh} h_{t-1} + b_{hh}`.

    Returns
    -------
    numrnn._cells.Cell
        The cell, which :class:`numrnn.Recurrent` and every backend take like a built-in
        one.  Its backward is derived: the gradient of every input of the maths, written
        in terms of values forward keeps (the activations' outputs), so backward evaluates
        no activation again.

    Raises
    ------
    ValueError
        For a cell that does not fit the model, naming what is wrong: an unknown symbol or
        function, a new state not defined, a gate or parameter the new states do not use, a
        power other than an integer or half-integer, a name defined twice or reserved, a
        number beyond float64's range.
    TypeError
        For an equation that is neither a string nor a SymPy expression.
    ImportError
        Without SymPy.

    See Also
    --------
    check_gradient : compare the derived gradients with finite differences.

    Notes
    -----
    The derivatives of the activations are written in terms of their own values
    (:math:`\sigma' = \sigma(1-\sigma)`, :math:`\tanh' = 1-\tanh^2`,
    :math:`\mathrm{relu}' = [\mathrm{relu} > 0]`, :math:`\exp' = \exp`), so forward keeps
    each activation's value and the pre-activations the gradients still read (for the GRU:
    r, z, n and :math:`ah_n`; for the LSTM: i, f, g, o and tanh c -- what the built-in
    cells keep).  In float32 the CPU backend evaluates sigmoid and tanh by the same rational
    approximations as the built-in cells (see ``numrnn.backends.gates``).

    The JANET cell (van der Westhuizen & Lasenby, "The unreasonable effectiveness of the
    forget gate", 2018) keeps only a forget gate, shifted by :math:`\beta = 1` for the
    input's weight: :math:`h_t = \sigma(a_f) h_{t-1} + (1 - \sigma(a_f - \beta))
    \tanh(a_g)`.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.cells import define_cell
    >>> janet = define_cell(
    ...     "janet", gates=("f", "g"),
    ...     equations={"h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"})
    >>> janet.gates, janet.states
    (('f', 'g'), ('h',))
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier, got {name!r}")
    if not isinstance(equations, dict):
        raise TypeError(f"equations must be a dict of name -> expression, got "
                        f"{type(equations).__name__}")
    if not isinstance(parameter_name, str) or not parameter_name.isidentifier():
        raise ValueError(f"parameter_name must be an identifier, got {parameter_name!r}")
    if not isinstance(diagonal, bool):
        raise TypeError(f"diagonal must be a bool, got {type(diagonal).__name__}")
    names = {"gates": gates, "states": states, "split": split, "parameters": parameters}
    for what, value in names.items():
        if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{what} must be a tuple of names (str), got {value!r}")
    definition = _Definition(name, *(tuple(v) for v in names.values()), parameter_name,
                             tuple(equations.items()))
    namespace, layout = _derive(definition)
    return Cell(name, -1, definition.gates, definition.states, False, namespace.maths,
                unit_role=parameter_name if parameters else None,
                unit_width=len(definition.parameters), diagonal=diagonal, namespace=namespace,
                **layout)


def check_gradient(cell, *, input_size=3, hidden_size=4, steps=5, batch=2,
                   backends=("numpy", "cpu"), eps=1e-6, rtol=1e-6, seed=0):
    r"""Compare a cell's backward with central finite differences, in float64.

    One layer-direction of ``cell`` runs forward on random inputs (with random lengths,
    forwards and in reverse) on each backend; the gradients its backward gives for the
    input, the initial state and every parameter are compared with central differences of
    the loss :math:`L = \sum_t \langle y_t, g_t\rangle + \langle h_T, g_h\rangle` (and
    :math:`+ \langle c_T, g_c\rangle`) for random :math:`g`.

    Parameters
    ----------
    cell : str or numrnn._cells.Cell
        A registered name or a cell from :func:`define_cell`.
    input_size, hidden_size, steps, batch : int
        The size of the test (small: each entry of every array costs two forward calls).
    backends : tuple of str
        The backends to check.
    eps : float
        The finite-difference step.
    rtol : float
        The largest relative error allowed, :math:`\|g_{fd} - g\| / \max(\|g_{fd}\|,
        \|g\|)` per array.
    seed : int
        Seed of the random inputs.

    Returns
    -------
    dict
        ``{(backend, direction, array): relative error}`` for every array checked.

    Raises
    ------
    AssertionError
        If an error exceeds ``rtol``, listing every such array and its error.
    ValueError, TypeError
        For sizes that are not positive integers, ``eps`` outside (0, 1], ``rtol`` not
        positive, or an unknown backend.

    Examples
    --------
    >>> from numrnn.cells import check_gradient, define_cell
    >>> janet = define_cell(
    ...     "janet", gates=("f", "g"),
    ...     equations={"h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"})
    >>> errors = check_gradient(janet)
    >>> max(errors.values()) < 1e-6
    True
    """
    from numrnn._validation import check_float, check_int
    from numrnn.backends import BACKENDS, CellSpec, resolve_backend

    input_size, hidden_size, steps, batch = (
        check_int(value, name, 1) for value, name in
        ((input_size, "input_size"), (hidden_size, "hidden_size"), (steps, "steps"),
         (batch, "batch"))
    )  # fmt: skip
    if isinstance(backends, str) or not all(b in BACKENDS for b in backends) or not backends:
        raise ValueError(f"backends must be a non-empty tuple of {sorted(BACKENDS)}, got "
                         f"{backends!r}")
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True)
    rtol = check_float(rtol, "rtol", 0.0, low_open=True)
    spec = CellSpec(cell, hidden_size, 0)
    rng = np.random.default_rng(seed)
    G, H = spec.cell.n_gates, hidden_size
    shapes = {"weight_ih": (G * H, input_size),
              "weight_hh": (G * H,) if spec.cell.diagonal else (G * H, H),
              "bias_ih": (G * H,), "bias_hh": (G * H,)}
    if spec.cell.unit_width:
        shapes[spec.cell.unit_role] = (spec.cell.unit_width * H,)
    params = {k: rng.uniform(-1, 1, s) for k, s in shapes.items()}
    inputs = {"x": rng.standard_normal((steps, batch, input_size)),
              "h0": rng.standard_normal((batch, H))}
    two = spec.cell.has_cell_state
    if two:
        inputs["c0"] = rng.standard_normal((batch, H))
    lengths = np.array([steps] + list(rng.integers(1, steps + 1, batch - 1)), np.int64)
    weights = {"output": rng.standard_normal((steps, batch, H)),
               "h_n": rng.standard_normal((batch, H)), "c_n": rng.standard_normal((batch, H))}

    errors, failures = {}, []
    for backend in backends:
        be = resolve_backend(backend)[1]
        for reverse in (False, True):
            def loss(params, inputs, be=be, reverse=reverse):
                out, h_n, c_n, _ = be.forward(spec, be.prepare_params(params), inputs["x"],
                                              inputs["h0"], inputs.get("c0"), lengths, reverse,
                                              False)
                total = np.sum(be.to_numpy(out) * weights["output"])
                total += np.sum(be.to_numpy(h_n) * weights["h_n"])
                return total + (np.sum(be.to_numpy(c_n) * weights["c_n"]) if two else 0.0)

            prepared = be.prepare_params(params)
            _, _, _, tape = be.forward(spec, prepared, inputs["x"], inputs["h0"],
                                       inputs.get("c0"), lengths, reverse, True)
            gx, gh0, gc0, grads = be.backward(spec, prepared, tape, weights["output"],
                                              weights["h_n"], weights["c_n"] if two else None)
            analytic = {"x": gx, "h0": gh0, "c0": gc0, **grads}
            for values in (inputs, params):
                for key, array in values.items():
                    numeric = np.zeros_like(array)
                    for index in np.ndindex(array.shape):
                        saved = array[index]
                        array[index] = saved + eps
                        up = loss(params, inputs)
                        array[index] = saved - eps
                        down = loss(params, inputs)
                        array[index] = saved
                        numeric[index] = (up - down) / (2 * eps)
                    got = be.to_numpy(analytic[key])
                    scale = max(np.linalg.norm(numeric), np.linalg.norm(got), 1e-300)
                    error = float(np.linalg.norm(numeric - got) / scale)
                    where = (backend, "reverse" if reverse else "forward", key)
                    errors[where] = error
                    if not error <= rtol:
                        failures.append(f"{where}: relative error {error:.3g}")
    if failures:
        raise AssertionError(f"gradient check of cell {spec.cell.name!r} failed (rtol "
                             f"{rtol:g}):\n  " + "\n  ".join(failures))
    return errors
