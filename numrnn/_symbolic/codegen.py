"""Python source for a user-defined cell's maths, compiled like the built-in cells'.

From a :class:`~numrnn._symbolic.maths.Derivation` this writes one module of source:

* ``maths_forward`` / ``maths_backward``: one hidden unit, scalar ``@njit`` functions in the
  conventions of :mod:`numrnn.backends.gates` (dtype-preserving, the compile-time ``fast``
  flag), which all the compiled functions below call;
* ``unit_forward`` / ``unit_backward``: one unit of one batch row, in the signatures of the
  built-in ``{cell}_unit_*``, which the CUDA kernels inline (cells of at most four gates);
* ``row_params``, ``row_forward`` / ``row_backward``: one batch row, in exactly the signatures
  of the built-in ``{cell}_row_*``, calling the unit functions, so the CPU time
  loops and the stepper inline them at the built-in cells' speed;
* ``step_forward`` / ``step_backward``: one step of a batch in NumPy, in the signatures of
  the reference backend's steps (its backward evaluates the activations again rather than
  reading a tape, so the reference does not share the tape's logic).

The source is compiled under a file name registered with :mod:`linecache`, so tracebacks,
``inspect.getsource`` and Numba's error messages show it.
"""

import hashlib
import linecache

import numpy as np
import sympy

from numrnn._symbolic import maths

__all__ = ["generate", "compile_source"]


class _Printer:
    """Expressions as Python source, for ``@njit`` scalar code or for NumPy.

    Numbers exact in float32 are module constants ``K<n>`` of type ``numpy.float32``
    (dtype-preserving, as in :mod:`numrnn.backends.gates`); others become ``like(ref, v)``,
    the value in the dtype of the variable ``ref``, computed once per function.
    """

    def __init__(self, numpy):
        self.numpy = numpy
        self.constants = {}  # value -> name, float32-exact
        self.inexact = {}  # value -> name, per function

    @staticmethod
    def var(name):
        """The Python name of a maths variable: ``t_`` for generated, ``m_`` for the user's."""
        return "t" + name if name.startswith("_") else "m_" + name

    def number(self, value):
        value = float(value)
        if self.numpy:
            return repr(value)
        if float(np.float32(value)) == value:
            return self.constants.setdefault(value, f"K{len(self.constants)}")
        return self.inexact.setdefault(value, f"k{len(self.inexact)}")

    def __call__(self, e):
        if e.is_Symbol:
            return self.var(e.name)
        if e.is_Number or e.is_NumberSymbol:
            if e < 0:
                return f"(-{self.number(-e)})"
            return self.number(e)
        if e.is_Add:
            first, *rest = e.as_ordered_terms()
            text = self(first)
            for term in rest:
                negative = term.could_extract_minus_sign()
                text += f" - {self(-term)}" if negative else f" + {self(term)}"
            return f"({text})"
        if e.is_Mul:
            coeff, factors = e.as_coeff_mul()
            num = [f for f in factors if not (f.is_Pow and f.exp.is_negative)]
            den = [f.base ** (-f.exp) for f in factors if f.is_Pow and f.exp.is_negative]
            text = " * ".join([self(f) for f in num] or [self.number(1)])
            if den:
                text = f"{text} / ({' * '.join(self(f) for f in den)})"
            if coeff == -1:
                return f"(-({text}))"
            if coeff != 1:
                text = f"{self(coeff)} * {text}"
            return f"({text})"
        if e.is_Pow:  # an integer or half-integer power (checked by maths)
            if e.exp.is_negative:
                return f"({self.number(1)} / {self(sympy.Pow(e.base, -e.exp, evaluate=False))})"
            base = self(e.base)
            factors = [base] * int(e.exp)
            if not e.exp.is_Integer:  # b**(n + 1/2) = b**n sqrt(b)
                factors.append(f"np.sqrt({base})" if self.numpy else f"math.sqrt({base})")
            return "(" + " * ".join(factors) + ")"
        arg = self(e.args[0])
        if isinstance(e, maths.sigmoid):
            return f"expit({arg})" if self.numpy else f"sigmoid({arg}, fast)"
        if isinstance(e, maths.tanh):
            return f"np.tanh({arg})" if self.numpy else f"tanh({arg}, fast)"
        if isinstance(e, maths.relu):
            zero = self.number(0)
            return f"np.maximum({arg}, 0.0)" if self.numpy else \
                f"({zero} if {arg} < {zero} else {arg})"
        if isinstance(e, maths.positive):
            return f"({arg} > 0).astype({arg}.dtype)" if self.numpy else \
                f"({self.number(1)} if {arg} > {self.number(0)} else {self.number(0)})"
        if isinstance(e, sympy.exp):
            return f"np.exp({arg})" if self.numpy else f"math.exp({arg})"
        if isinstance(e, sympy.log):
            return f"np.log({arg})" if self.numpy else f"math.log({arg})"
        if isinstance(e, maths.log1p):
            return f"np.log1p({arg})" if self.numpy else f"math.log1p({arg})"
        raise ValueError(f"cannot write {e} as code")  # pragma: no cover (checked by maths)

    def body(self, statements, indent, ref):
        """Statements as lines; ``ref``: a variable of the functions' dtype (for constants)."""
        self.inexact = {}
        lines = [f"{indent}{self.var(name)} = {self(expr)}" for name, expr in statements]
        head = [f"{indent}{name} = like({ref}, {value!r})" for value, name in self.inexact.items()]
        return head + lines


def _tuple(names):
    return "(" + "".join(f"{n}, " for n in names) + ")"


def _zero_or(printer, name):
    return printer.var(name) if name is not None else printer.number(0)


def generate(derivation, gates, split, states, parameters, parameter_name):
    """The source of a cell's functions (see the module docstring), in the registry's layout.

    ``parameters`` are the names of the per-unit parameters, packed in this order into one
    vector (K·H,) named ``parameter_name``.

    Returns
    -------
    source : str
    layout : dict
        ``taped`` (values per unit kept besides the G gate slots), ``direct_grad`` (dL/dh_{t-1}
        has a part not through W_hh) and ``split_grad`` (a gate's hidden part has a gradient
        of its own), for the registry's Cell.
    """
    d = derivation
    two = len(states) == 2
    nb = _Printer(numpy=False)
    var = nb.var
    G, K = len(gates), len(parameters)
    split_grad = bool(split)
    state_args = ["m_h_prev"] + (["m_c_prev"] if two else [])
    param_args = [var(p) for p in parameters]
    dy_args = ["m_dy_h"] + (["m_dy_c"] if two else [])
    wrt = list(d.gradients)
    grads = _tuple("d_" + n for n in wrt)
    ins = [var(n) for n in d.inputs]
    n_extra = max(0, len(d.tape) - G)
    outs = ["new_h"] + (["new_c"] if two else []) + [f"keep{k}" for k in range(len(d.tape))]
    forward_args = ", ".join(ins + state_args + param_args)
    forward_call = f"{_tuple(outs)} = maths_forward({forward_args}, fast)"
    lines = []

    def gate_inputs(indent, input_part, hidden_part):
        """The statements reading each gate's pre-activation (or its two parts)."""
        out = []
        for k, g in enumerate(gates):
            if g in split:
                out += [f"{indent}m_ax_{g} = {input_part(k, True)}",
                        f"{indent}m_ah_{g} = {hidden_part(k, True)}"]
            else:
                out += [f"{indent}m_a_{g} = {input_part(k, False)} + {hidden_part(k, False)}"]
        return out

    # -- one unit: the maths every compiled function below calls --------------------------
    lines += ["@_scalar",
              f"def maths_forward({', '.join(ins + state_args + param_args)}, fast):",
              '    """One unit forward: the new states, then the tape values."""']
    lines += nb.body(d.forward, "    ", ins[0])
    lines += [f"    return {_tuple([var(s) for s in d.states] + [var(t) for t in d.tape])}", ""]
    tape_args = [var(t) for t in d.tape]
    lines += ["@_scalar",
              f"def maths_backward({', '.join(tape_args + state_args + param_args + dy_args)}):",
              f'    """One unit backward: the gradients of {", ".join(wrt)}."""']
    lines += nb.body(d.backward, "    ", "m_dy_h")
    lines += [f"    return {_tuple([_zero_or(nb, d.gradients[n]) for n in wrt])}", ""]

    # -- one batch row, for the CPU time loops and the stepper ----------------------------
    # The rows read (G, H) blocks: of the biases (a gate's summed bias, or both biases of a
    # split gate), the pre-activations and the tape; and the (K, H) per-unit parameters.
    lines += ["@_scalar", "def row_params(b_ih, b_hh, bias, units):",
              '    """What the rows read (see numrnn.backends.gates)."""',
              "    return b_ih, b_hh, bias, units", ""]
    slots = [f"x[{k}, j]" for k in range(min(G, len(d.tape)))]
    slots += [f"taped[{k}, j]" for k in range(n_extra)]
    units = [f"{var(p)} = up[{k}, j]" for k, p in enumerate(parameters)]
    lines += ["@_scalar", "def row_forward(x, params, hh, c, h, taped, relu, fast, keep):",
              '    """One batch row of one step (see numrnn.backends.gates)."""',
              "    bi, bh, bs, up = params", "    for j in range(h.shape[0]):"]
    lines += gate_inputs("        ",
                         lambda k, s: f"x[{k}, j] + {'bi' if s else 'bs'}[{k}, j]",
                         lambda k, s: f"hh[{k}, j]" + (f" + bh[{k}, j]" if s else ""))
    lines += ["        m_h_prev = h[j]"] + (["        m_c_prev = c[j]"] if two else [])
    lines += [f"        {u}" for u in units] + [f"        {forward_call}", "        if keep:"]
    lines += [f"            {slot} = keep{k}" for k, slot in enumerate(slots)] or \
        ["            pass"]
    lines += ["        h[j] = new_h"] + (["        c[j] = new_c"] if two else []) + [""]

    lines += ["@_scalar",
              "def row_backward(gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, "
              "params, dunits, relu):",
              '    """One batch row of one step backward (see numrnn.backends.gates)."""',
              "    up = params[3]", "    for j in range(dhraw.shape[0]):"]
    args = [slot.replace("x[", "gates[") for slot in slots] + ["hprev[j]"]
    args += (["cprev[j]"] if two else []) + [f"up[{k}, j]" for k in range(K)]
    args += ["dhraw[j] + g[j]"] + (["dc[j]"] if two else [])
    lines += [f"        {grads} = maths_backward({', '.join(args)})"]
    for k, g in enumerate(gates):
        if g in split:
            lines += [f"        dx[{k}, j] = d_ax_{g}", f"        dhid[{k}, j] = d_ah_{g}"]
        else:
            lines += [f"        dx[{k}, j] = d_a_{g}"]
            lines += [f"        dhid[{k}, j] = d_a_{g}"] if split_grad else []
    lines += ["        ddirect[j] = d_h_prev"] if d.uses_h_prev else []
    lines += ["        dc[j] = d_c_prev"] if two else []
    lines += [f"        dunits[{k}, j] = d_{p}" for k, p in enumerate(parameters)] + [""]

    # -- one unit of one batch row, for the CUDA kernels ----------------------------------
    if G <= 4:  # the kernels hand over the hidden parts of four gates at the most
        lines += ["@_scalar",
                  "def unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units,"
                  " relu, fast, keep):",
                  '    """One unit of one step (see numrnn.backends.gates)."""']
        lines += gate_inputs("    ", lambda k, s: f"xp[t, b, {k} * H + j]", lambda k, s: f"p{k}")
        lines += ["    m_h_prev = h_prev", "    m_c_prev = c_prev"]
        lines += [f"    {var(p)} = units[{k} * H + j]" for k, p in enumerate(parameters)]
        lines += [f"    {forward_call}", "    if keep:"]
        lines += [f"        gates[t, b, {k} * H + j] = keep{k}" for k in range(len(d.tape))] or \
            ["        pass"]
        lines += [f"    return new_h, {'new_c' if two else 'c_prev'}", ""]
        lines += ["@_scalar",
                  "def unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc,"
                  " units, relu):",
                  '    """One unit of one step backward (see numrnn.backends.gates)."""']
        args = [f"gates[t, b, {k} * H + j]" for k in range(len(d.tape))] + ["h_prev"]
        args += ["c_prev"] if two else []
        args += [f"units[{k} * H + j]" for k in range(K)] + ["dh"] + (["dc"] if two else [])
        lines += [f"    {grads} = maths_backward({', '.join(args)})"]
        for k, g in enumerate(gates):
            at = f"[t, b, {k} * H + j]"
            if g in split:
                lines += [f"    dgx{at} = d_ax_{g}", f"    dgh{at} = d_ah_{g}"]
            else:
                lines += [f"    dgx{at} = d_a_{g}"] + ([f"    dgh{at} = d_a_{g}"] if split_grad
                                                       else [])
        lines += [f"    dunits[t, b, {k} * H + j] = d_{p}" for k, p in enumerate(parameters)]
        lines += [f"    return {'d_h_prev' if d.uses_h_prev else 'dc'}, "
                  f"{'d_c_prev' if two else 'dc'}", ""]

    # -- the NumPy reference's steps ------------------------------------------------------
    npp = _Printer(numpy=True)
    unit_views = [f"    {var(p)} = params[{parameter_name!r}][{k} * H : {k + 1} * H]"
                  for k, p in enumerate(parameters)]
    lines += ["def step_forward(cell, gx, gh, h, c, params):",
              '    """One step of a batch (see numrnn.backends.reference)."""',
              f"    H = gx.shape[1] // {G}", "    m_h_prev = h"]
    lines += (["    m_c_prev = c"] if two else []) + unit_views
    lines += gate_inputs("    ", lambda k, s: f"gx[:, {k} * H : {k + 1} * H]",
                         lambda k, s: f"gh[:, {k} * H : {k + 1} * H]")
    lines += npp.body(d.forward, "    ", "gx")
    lines += [f"    return {var(d.states[0])}, {var(d.states[1]) if two else None}, "
              f"{_tuple(ins)}", ""]
    lines += ["def step_backward(cell, dh, dc, h, c, saved, params, grads):",
              '    """One step backward, evaluating the activations again."""',
              "    H = dh.shape[1]", f"    {_tuple(ins)} = saved", "    m_h_prev = h",
              "    m_dy_h = dh"]
    lines += (["    m_c_prev = c", "    m_dy_c = dc"] if two else []) + unit_views
    lines += npp.body(d.recomputing, "    ", "m_dy_h")
    name = d.gradients.get
    dgx = [name(f"ax_{g}") if g in split else name(f"a_{g}") for g in gates]
    dgh = [name(f"ah_{g}") if g in split else name(f"a_{g}") for g in gates]
    lines += [f"    grads[{parameter_name!r}][{k} * H : {k + 1} * H] += "
              f"{var(name(p))}.sum(axis=0)" for k, p in enumerate(parameters) if name(p)]
    lines += [f"    dgx = np.concatenate([{', '.join(var(n) for n in dgx)}], axis=1)",
              f"    dgh = np.concatenate([{', '.join(var(n) for n in dgh)}], axis=1)",
              f"    return dgx, dgh, {_zero_or(npp, name('h_prev'))}, "
              f"{_zero_or(npp, name('c_prev')) if two else None}", ""]

    head = ["import math", "", "import numpy as np", "from scipy.special import expit", "",
            "from numrnn._symbolic.codegen import like",
            "from numrnn.backends.gates._common import _scalar, sigmoid, tanh", ""]
    head += [f"{name} = np.float32({value!r})" for value, name in nb.constants.items()]
    source = "\n".join(head + [""] + lines)
    return source, {"taped": n_extra, "direct_grad": d.uses_h_prev, "split_grad": split_grad}


def like(x, value):
    """``value`` in the float type of ``x`` (from ``@njit`` code only)."""
    raise NotImplementedError("like is only callable from @njit code")


def _register_like():
    from numba import types
    from numba.extending import overload

    @overload(like, inline="always")
    def _like(x, value):
        if isinstance(x, types.Float) and x.bitwidth == 32:
            return lambda x, value: np.float32(value)
        return lambda x, value: np.float64(value)


def compile_source(source, name):
    """Execute ``source`` as a module named after the cell; return its namespace.

    The file name carries a digest of the source, so two definitions never share one, and it
    is registered with :mod:`linecache` for tracebacks and ``inspect``.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    filename = f"<numrnn cell {name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": f"numrnn.cells._generated_{name}"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 (our own generated code)
    return namespace, digest


_register_like()
