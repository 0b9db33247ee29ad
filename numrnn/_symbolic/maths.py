"""A user-defined cell's equations as SymPy expressions, checked, differentiated and taped.

:func:`derive` turns a cell's definition (gates, states, per-unit parameters and the
equations as strings) into a :class:`Derivation`: the forward statements of one hidden unit,
the backward statements (the gradients of every input of the unit's maths, found by SymPy and
shortened by common-subexpression elimination) and the *tape*, the values forward keeps for
backward.

Taping.  Every application of an activation (``sigmoid``, ``tanh``, ``relu``, ``exp``,
``log``) is a *node*.  The derivatives of the activations are written in terms of their own
values (σ' = σ(1 − σ), tanh' = 1 − tanh², relu' = [relu > 0], exp' = exp), so once every node
in a gradient is replaced by its value, backward is arithmetic only: no transcendental
function is evaluated again, and the loop over units vectorises.  The tape is the nodes and
the pre-activations that the gradients still read (for the GRU: r, z, n and W_hn h + b_hn; for
the LSTM: i, f, g, o and tanh c, exactly what the built-in cells keep).
"""

import keyword
import math
import re
from dataclasses import dataclass

import sympy

__all__ = ["Derivation", "derive"]


class sigmoid(sympy.Function):  # noqa: N801 (the name users write)
    """The logistic function 1 / (1 + exp(-x)), with σ' = σ (1 − σ)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)


class tanh(sympy.Function):  # noqa: N801
    """tanh, with tanh' = 1 − tanh² (SymPy's own would rewrite itself)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return 1 - self**2


class relu(sympy.Function):  # noqa: N801
    """max(x, 0), with relu'(x) = [relu(x) > 0] (0 at 0, like PyTorch)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return positive(self)


class positive(sympy.Function):  # noqa: N801
    """[x > 0]: relu's derivative, written in terms of relu's value; not differentiable."""

    nargs = 1

    def fdiff(self, argindex=1):
        raise ValueError("a cell's equations may not differentiate relu twice")


class log1p(sympy.Function):  # noqa: N801
    """log(1 + x), accurate for tiny x; log1p' = 1 / (1 + x).  Not for users: the form
    :func:`_log_sigmoid` writes log(sigmoid(u)) in."""

    nargs = 1

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


#: The activations the equations may call; their applications are the tape's nodes.
ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "exp": sympy.exp,
               "log": sympy.log}
_NODE_TYPES = (sigmoid, tanh, relu, sympy.exp, sympy.log, log1p)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Derivation:
    """One hidden unit's maths, forward and backward, as ordered statements.

    Attributes
    ----------
    inputs : tuple of str
        The gate inputs, in gate order: ``a_<g>`` for a gate, ``ax_<g>`` and ``ah_<g>``
        (input and hidden parts) for a split one.
    forward : list of (str, sympy.Expr)
        Statements over the inputs, ``h_prev``, ``c_prev``, the parameters and earlier
        statements; the nodes are activation applications (``sigmoid(u)``).
    states : tuple of str
        The variables of ``forward`` holding the new states (h, then c).
    tape : tuple of str
        The values forward keeps for backward, in slot order.
    backward : list of (str, sympy.Expr)
        Statements over the tape, ``h_prev``, ``c_prev``, the parameters and the incoming
        gradients ``dy_h`` (and ``dy_c``): activation-free.
    recomputing : list of (str, sympy.Expr)
        The same gradients over the inputs, evaluating the activations again (the NumPy
        reference's backward: it does not rely on the tape).
    gradients : dict
        The variable of ``backward`` holding each gradient: by input name, ``"h_prev"``,
        ``"c_prev"`` and parameter name (``None`` where it is zero).
    uses_h_prev : bool
        Whether the maths reads h_{t-1} (so dL/dh_{t-1} has a part not through W_hh).
    """

    inputs: tuple
    forward: list
    states: tuple
    tape: tuple
    backward: list
    recomputing: list
    gradients: dict
    uses_h_prev: bool


def _check_names(kind, names, reserved):
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
            raise ValueError(f"{kind} must be identifiers not starting with _, got {name!r}")
        if name in reserved:
            raise ValueError(f"{kind}: {name!r} is a reserved name ({sorted(reserved)})")
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} must be distinct, got {tuple(names)}")


def symbols_of(gates, split, states, parameters):
    """The symbols the equations may read, by name (the validated definition's inputs)."""
    if not isinstance(gates, (tuple, list)) or not gates:
        raise ValueError(f"gates must be a non-empty tuple of names, got {gates!r}")
    if tuple(states) not in (("h",), ("h", "c")):
        raise ValueError(f"states must be ('h',) or ('h', 'c'), got {states!r}")
    reserved = set(ACTIVATIONS) | {"h", "c", "h_prev", "c_prev", "dy_h", "dy_c"}
    _check_names("gates", list(gates), reserved)
    _check_names("parameters", list(parameters), reserved)
    unknown = [g for g in split if g not in gates]
    if unknown:
        raise ValueError(f"split names gates that are not in gates {tuple(gates)}: {unknown}")
    known = {"h_prev": sympy.Symbol("h_prev")}
    if len(states) == 2:
        known["c_prev"] = sympy.Symbol("c_prev")
    for g in gates:
        if g in split:
            known[f"ax_{g}"] = sympy.Symbol(f"ax_{g}")
            known[f"ah_{g}"] = sympy.Symbol(f"ah_{g}")
        else:
            known[f"a_{g}"] = sympy.Symbol(f"a_{g}")
    clash = sorted(set(known) & set(parameters))
    if clash:
        raise ValueError(f"parameters clash with the names of inputs: {clash}")
    for p in parameters:
        known[p] = sympy.Symbol(p)
    return known


#: An activation applied to a number, as SymPy evaluates it (to a constant of the equation).
_VALUES = {sigmoid: lambda a: 1 / (1 + sympy.exp(-a)), tanh: sympy.tanh,
           relu: lambda a: sympy.Max(a, 0), sympy.exp: sympy.exp, sympy.log: sympy.log,
           log1p: lambda a: sympy.log(1 + a)}


def _from_sympy(expr, names):
    """A SymPy expression a user wrote, in this module's terms: symbols by name (whatever
    their assumptions), SymPy's tanh and functions named like an activation as that."""
    expr = expr.xreplace({s: names[s.name] for s in expr.free_symbols if s.name in names})
    return expr.replace(
        lambda e: isinstance(e, sympy.Function) and type(e).__name__ in ACTIVATIONS
        and not isinstance(e, _NODE_TYPES),
        lambda e: ACTIVATIONS[type(e).__name__](*e.args),
    )


def _fold_constants(target, expr):
    """Activations of numbers replaced by their values (30 digits): the loops would evaluate
    log(3) in the dtype of the number, float32, off by 1e-7 in a float64 cell."""

    def value(node):
        v = _VALUES[node.func](node.args[0]).evalf(30)
        if not (v.is_real and v.is_finite):
            raise ValueError(f"equation for {target!r} has {node} = {v}, which is not a "
                             "finite real number")
        return v

    return expr.replace(lambda e: isinstance(e, _NODE_TYPES) and not e.free_symbols, value)


def _log_sigmoid(u):
    """log(sigmoid(u)) = -log(1 + exp(-u)), written so that nothing under- or overflows:
    -relu(-u) - log1p(exp(-|u|)).  The loops' sigmoid is 0 far below zero (the float32 one
    has an absolute error of 3e-7), where the log of it would be -inf."""
    return -relu(-u) - log1p(sympy.exp(-relu(u) - relu(-u)))


def _parse(target, text, known, defined):
    """``text`` as a SymPy expression over ``known`` and the statements ``defined`` so far."""
    if isinstance(text, sympy.Expr):
        expr = _from_sympy(text, {**known, **defined})
    elif isinstance(text, str):
        namespace = {**ACTIVATIONS, **known, **defined}
        try:
            expr = sympy.parse_expr(text, local_dict=namespace, evaluate=True)
        except (SyntaxError, TypeError, sympy.SympifyError) as error:
            raise ValueError(f"equation for {target!r} does not parse: {text!r} ({error})") \
                from None
    else:
        raise TypeError(f"equation for {target!r} must be a str or a sympy expression, "
                        f"got {type(text).__name__}")
    # (A Symbol is a Boolean too, for SymPy's logic: a bare name is an expression here.)
    if not isinstance(expr, sympy.Expr) or (isinstance(expr, sympy.logic.boolalg.Boolean)
                                            and not expr.is_Symbol):
        raise ValueError(f"equation for {target!r} is not a scalar expression: {text!r}")
    # Decimal numbers as the rationals they denote: x**0.5 is a square root, x**2.0 a square.
    expr = _fold_constants(target, sympy.nsimplify(expr, rational=True))
    expr = expr.replace(lambda e: isinstance(e, sympy.log) and isinstance(e.args[0], sigmoid),
                        lambda e: _log_sigmoid(e.args[0].args[0]))
    # Earlier equations' names were replaced by their expressions (the parse's namespace).
    unknown = sorted(str(s) for s in expr.free_symbols - set(known.values()))
    if unknown:
        raise ValueError(f"equation for {target!r} uses unknown symbols {unknown}; it may use "
                         f"{sorted(known)} and the names defined before it")
    for sub in sympy.preorder_traversal(expr):
        if isinstance(sub, sympy.Function) and not isinstance(sub, _NODE_TYPES):
            raise ValueError(f"equation for {target!r} calls {sub.func.__name__}, which is "
                             f"not supported; it may call {sorted(ACTIVATIONS)}")
        if isinstance(sub, sympy.Pow) and not (2 * sub.exp).is_Integer:
            raise ValueError(f"equation for {target!r} has the power {sub}: only integer "
                             "and half-integer powers (square roots) are supported")
        if not (sub.is_Atom or isinstance(sub, (sympy.Add, sympy.Mul, sympy.Pow)) or
                isinstance(sub, _NODE_TYPES)):
            raise ValueError(f"equation for {target!r} uses {type(sub).__name__} ({sub}), "
                             "which is not supported: only +, -, *, /, powers and "
                             f"{sorted(ACTIVATIONS)}")
        if sub.is_Atom and not (sub.is_Symbol or (sub.is_real and sub.is_finite and
                                                  math.isfinite(float(sub)))):
            raise ValueError(f"equation for {target!r} uses {sympy.N(sub, 6)}, which is not "
                             "a real number within float64's range")
    return expr


def _nodes(exprs):
    """The activation applications of ``exprs``, innermost first, each once."""
    found = []
    for expr in exprs:
        for sub in sympy.postorder_traversal(expr):
            if isinstance(sub, _NODE_TYPES) and sub not in found:
                found.append(sub)
    return found


def _statements(outputs, names, prefix, atoms, free):
    """Common-subexpression elimination of ``outputs``, as statements in dependency order.

    ``atoms`` maps node expressions to symbols: each becomes a statement of its own and is
    never split by the elimination (its argument is shared with the rest).  ``free``: the
    names a statement may read without one defining them.
    """
    node_exprs = list(atoms)
    exprs = [node.args[0] for node in node_exprs] + list(outputs)
    # Nodes as symbols, so that shared subexpressions across nodes and outputs are found.
    exprs = [e.xreplace(atoms) for e in exprs]
    replacements, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols(prefix),
                                      optimizations="basic")
    pending = [(str(s), e) for s, e in replacements]
    pending += [(str(atoms[n]), n.func(r)) for n, r in zip(node_exprs, reduced, strict=False)]
    pending += list(zip(names, reduced[len(node_exprs):], strict=True))
    done, ordered = set(free), []
    while pending:
        k = next(k for k, (_, e) in enumerate(pending)
                 if {str(s) for s in e.free_symbols} <= done)
        name, expr = pending.pop(k)
        ordered.append((name, expr))
        done.add(name)
    return ordered


def derive(gates, split, states, parameters, equations):
    """Check a cell's definition and derive its forward, backward and tape.

    Parameters
    ----------
    gates, split, states, parameters, equations
        As :func:`numrnn.cells.define_cell` takes them.

    Returns
    -------
    Derivation

    Raises
    ------
    ValueError, TypeError
        Naming what does not fit the model.
    """
    gates, split, states, parameters = (tuple(v) for v in (gates, split, states, parameters))
    known = symbols_of(gates, split, states, parameters)
    if not isinstance(equations, dict):
        raise TypeError(f"equations must be a dict of name -> expression, got "
                        f"{type(equations).__name__}")
    defined = {}
    for target, text in equations.items():
        if not isinstance(target, str) or not _NAME.match(target):
            raise ValueError(f"equation names must be identifiers not starting with _, got "
                             f"{target!r}")
        if target in known or target in ACTIVATIONS:
            raise ValueError(f"equation for {target!r} redefines a reserved name")
        if target in defined:
            raise ValueError(f"{target!r} is defined twice")
        defined[target] = _parse(target, text, known, defined)
    missing = [s for s in states if s not in defined]
    if missing:
        raise ValueError(f"the equations must define the new states {states}; missing "
                         f"{missing}")
    # Each equation is in terms of the inputs only: the parse substituted earlier names.
    outputs = [defined[s] for s in states]
    used = set().union(*(e.free_symbols for e in outputs))
    inputs = tuple(n for g in gates for n in
                   ((f"ax_{g}", f"ah_{g}") if g in split else (f"a_{g}",)))
    for g in gates:
        names = (f"ax_{g}", f"ah_{g}") if g in split else (f"a_{g}",)
        unused = [n for n in names if known[n] not in used]
        if unused:
            raise ValueError(f"gate {g!r} is not used by the new states (they do not read "
                             f"{unused}); remove it from gates")
    for p in parameters:
        if known[p] not in used:
            raise ValueError(f"parameter {p!r} is not used by the new states")

    # The nodes in the order the equations name them (the gates first, as a rule).
    nodes = [n for n in _nodes(defined.values()) if n in _nodes(outputs)]
    node_symbols = {n: sympy.Symbol(f"_v{k}") for k, n in enumerate(nodes)}
    forward = _statements(outputs, [f"_new_{s}" for s in states], "_f", node_symbols, known)

    # Backward: the gradient of L = Σ dy_s s_new with respect to every input of the maths.
    dy = [sympy.Symbol(f"dy_{s}") for s in states]
    loss = sum(d * o for d, o in zip(dy, outputs, strict=True))
    wrt = [n for n in inputs] + ["h_prev"] + (["c_prev"] if len(states) == 2 else []) \
        + list(parameters)
    grads, raw = {}, {}
    for name in wrt:
        g = raw[name] = sympy.diff(loss, known[name])
        # The nodes by their values: outermost first is xreplace's order, and every node is
        # in the map, so no activation is left to evaluate.
        grads[name] = g.xreplace(node_symbols)
    leftover = _nodes(grads.values())
    if leftover:  # pragma: no cover (every node of a gradient is a node of forward)
        raise RuntimeError(f"untaped activations in the gradients: {leftover}")
    nonzero = {n: g for n, g in grads.items() if g != 0}
    needed = set().union(*(g.free_symbols for g in nonzero.values())) if nonzero else set()
    tape = tuple(str(s) for s in node_symbols.values() if s in needed) + \
        tuple(n for n in inputs if known[n] in needed)
    backward = _statements(list(nonzero.values()), [f"_d_{n}" for n in nonzero], "_b", {},
                           set(known) | {"dy_h", "dy_c"} | set(tape))
    gradients = {n: (f"_d_{n}" if n in nonzero else None) for n in wrt}
    recomputing = _statements([raw[n] for n in nonzero], [f"_d_{n}" for n in nonzero], "_r", {},
                              set(known) | {"dy_h", "dy_c"})
    return Derivation(inputs, forward, tuple(f"_new_{s}" for s in states), tape, backward,
                      recomputing, gradients, known["h_prev"] in used)
