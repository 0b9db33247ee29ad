"""One time step of a unidirectional stack, with as little overhead as possible.

Streaming use calls ``step`` once per sample, often with B = 1, where a
general forward call (input GEMM, per-step BLAS, workspace bookkeeping, one
call per layer) costs far more than the arithmetic.  A stepper instead runs
the whole stack in one compiled call whose products are plain loops, y = v Wᵀ
accumulated row by row of Wᵀ, which vectorise over the outputs and need no
BLAS call.  The cell's maths is its row function of
:mod:`numrnn.backends.gates`, inlined into :func:`_step` specialised per
cell, as in the time loops.

The stepper reads the parameter arrays it is given in place, never a copy:
the layers store each weight matrix W as the transpose of a C-contiguous,
cache-line aligned buffer, which is exactly the Wᵀ the products read, so a
change of the parameters in place counts from the next step on, as it does
for a forward call.

At B = 1 the Python side of a call costs as much as the arithmetic, and
Numba's unboxing of an array argument (~30 ns each) is a large part of it.
So the compiled step takes one array (the input) and three addresses: of the
model (a table of the parameters' addresses), and of the records of the
previous call's results (the state it reads) and of this call's (the arrays
it writes); see :func:`_step`.  The arrays behind those addresses are kept
alive by the stepper and the caller.
"""

import sys
from collections import deque

import numba
import numpy as np
from numba import carray, types
from numba.extending import overload

from ._jit import cell_compiler, fast_gates, jit, ptr, specialise, wide_vectors
from ._rows import diagonal_product

__all__ = ["make_stepper"]

# Columns of the per-layer table of the model: the addresses of W_ihᵀ, W_hhᵀ
# (a vector for a diagonal cell), W_hrᵀ (0: no projection), b_ih, b_hh and the
# cell's per-unit parameters (0: none), and the input size of the layer.
_WIH, _WHH, _WHR, _BIH, _BHH, _UNITS, _INPUTS, _LAYOUT = range(8)
# The product runs at the L2 cache's bandwidth, and rows that do not start on
# a 64-byte boundary (a cache line) cost 15-25% more: the workspace is aligned,
# and so are the layers' parameter buffers.
_ALIGN = 64
# The model starts with an int64 header: number of layers, hidden size,
# output size, and the vanilla RNN's ReLU flag; the layer table follows.
_LAYERS, _HIDDEN, _OUTPUT, _RELU, _HEADER = range(5)
# A call's record (see make_stepper) starts with the int64 addresses of its
# out, h and c arrays (c: h's, unless the cell has a cell state); its
# workspace follows, aligned.
_OUT_AT, _H_AT, _C_AT, _RECORD = range(4)
# Records are reused by reference counts (see make_stepper), whose meaning this
# relies on: CPython before 3.14 (which counts fewer references held on the
# interpreter's stack), with the GIL.  Elsewhere every call makes new arrays.
_REUSE = (
    sys.implementation.name == "cpython"
    and sys.version_info < (3, 14)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)



@jit
def _product(v, wt, y):
    """y = v Wᵀ, with ``wt`` = Wᵀ (len(v), len(y)), C-contiguous.

    Accumulated over the rows of Wᵀ (axpy form): the inner loop runs over
    contiguous outputs and vectorises without reassociating any sum.  Four
    rows per pass over y (a quarter of the loads and stores of y; eight rows
    gain nothing more).  Beyond 32 KiB (the L1 cache) the weights stream
    from the L2 cache, and that bounds the loop: a 96×256 float32 Wᵀ
    (96 KiB) takes 1.05 µs, the time a plain read of 96 KiB takes here
    (~100 GB/s on this 2-core Zen 4 machine).  The dot-product form on W
    itself (reassociated sums) measured 1.5x slower.
    """
    wide_vectors()
    n = y.shape[0]
    m = v.shape[0]
    for j in range(n):
        y[j] = 0
    i = 0
    while i + 4 <= m:
        v0, v1, v2, v3 = v[i], v[i + 1], v[i + 2], v[i + 3]
        r0, r1, r2, r3 = wt[i], wt[i + 1], wt[i + 2], wt[i + 3]
        for j in range(n):
            y[j] += v0 * r0[j] + v1 * r1[j] + v2 * r2[j] + v3 * r3[j]
        i += 4
    for r in range(i, m):
        vr = v[r]
        row = wt[r]
        for j in range(n):
            y[j] += vr * row[j]


def _row(a, b):
    """Row ``b`` of a batched (2-d) array; an unbatched (1-d) one is the row itself.

    Called from ``@njit`` code only, where the choice is made at compile
    time: a reshape to a common form instead costs 25 ns per array.
    """
    raise NotImplementedError("_row is only callable from @njit code")


@overload(_row, target="cpu", inline="always")
def _row_impl(a, b):
    if a.ndim == 2:
        return lambda a, b: a[b]
    return lambda a, b: a


@jit(nogil=False)
def _round_up(n, multiple):
    """``n`` rounded up to a multiple of ``multiple`` (from Python and from ``@njit`` code)."""
    return -(-n // multiple) * multiple


def _step(x, model, prev, record):
    """Advance every layer by one step, from one call's results into another's.

    Specialised per cell (see :func:`numrnn.backends.cpu._jit.specialise`):
    ``ROW_PARAMS``, ``ROW_FORWARD``, ``GATES``, ``TAPED``, ``TWO_STATES``, ``DIAGONAL``
    and ``UNIT_WIDTH`` are globals of each specialisation.

    Parameters
    ----------
    x : array, shape (B, I) or (I,) (unbatched), any memory layout
        The first layer's input.
    model : int
        The address of the model (:func:`_model`).
    prev, record : int
        The addresses of two call records (see :func:`make_stepper`): the
        state h0 (L, B, P) (and c0 (L, B, H)) is read from the arrays of
        ``prev``, and out (B, P), h_n, c_n are written into those of
        ``record``, whose workspace is used too.  Unbatched arrays have the
        same memory as batched ones with B = 1.
    """
    wide_vectors()
    fast = fast_gates(x)
    dtype = x.dtype
    head = carray(ptr(model), _HEADER, np.int64)
    L, H, P, relu = head[_LAYERS], head[_HIDDEN], head[_OUTPUT], head[_RELU]
    layout = carray(ptr(model + 8 * _HEADER), (L, _LAYOUT), np.int64)
    B = x.shape[0] if x.ndim == 2 else 1
    # The rows read (G, H) blocks of the gates, (E, H) of the taped values and (K, H) of
    # the per-unit parameters.
    G, E, K = GATES, TAPED, UNIT_WIDTH  # noqa: F821 (globals of each specialisation)
    GH = G * H
    src = carray(ptr(prev), _RECORD, np.int64)
    dst = carray(ptr(record), _RECORD, np.int64)
    h0 = carray(ptr(src[_H_AT]), (L, B, P), dtype)
    c0 = carray(ptr(src[_C_AT]), (L, B, H), dtype)
    out = carray(ptr(dst[_OUT_AT]), (B, P), dtype)
    h_n = carray(ptr(dst[_H_AT]), (L, B, P), dtype)
    c_n = carray(ptr(dst[_C_AT]), (L, B, H), dtype)
    # The input and hidden parts of the pre-activations, the summed biases, the
    # unprojected state and the cell's taped values (unused: no backward).
    # (2-D views made by carray, not reshape: its checks cost 10% of a small step.)
    at = _round_up(record + 8 * _RECORD, _ALIGN)
    size = 3 * GH + H + E * H
    work = carray(ptr(at), size, dtype)
    xg = work[:GH]
    hg = work[GH : 2 * GH]
    hraw = work[3 * GH : 3 * GH + H]
    value = work.itemsize
    xg_blocks = carray(ptr(at), (G, H), dtype)
    hg_blocks = carray(ptr(at + GH * value), (G, H), dtype)
    bias = carray(ptr(at + 2 * GH * value), (G, H), dtype)
    taped = carray(ptr(at + (3 * GH + H) * value), (E, H), dtype)
    for layer in range(L):
        lay = layout[layer]
        w_ih_t = carray(ptr(lay[_WIH]), (lay[_INPUTS], GH), dtype)
        b_ih = carray(ptr(lay[_BIH]), (G, H), dtype)
        b_hh = carray(ptr(lay[_BHH]), (G, H), dtype)
        proj = lay[_WHR] != 0
        for g in range(G):
            for j in range(H):
                bias[g, j] = b_ih[g, j] + b_hh[g, j]
        params = ROW_PARAMS(  # noqa: F821
            b_ih, b_hh, bias, carray(ptr(lay[_UNITS]), (K, H), dtype)
        )
        for b in range(B):
            h_prev = h0[layer, b]
            h = h_n[layer, b]
            _product(_row(x, b) if layer == 0 else h_n[layer - 1, b], w_ih_t, xg)
            if DIAGONAL:  # noqa: F821
                diagonal_product(h_prev, carray(ptr(lay[_WHH]), GH, dtype), h_prev[:0], hg)
            else:
                _product(h_prev, carray(ptr(lay[_WHH]), (P, GH), dtype), hg)
            c = c_n[layer, b]
            if TWO_STATES:  # noqa: F821
                c_prev = c0[layer, b]
                for j in range(H):
                    c[j] = c_prev[j]
            # The row updates the state in place: h starts as h_prev (cells without a
            # projection read it), the unprojected state hraw where there is a projection.
            h_raw = hraw if proj else h
            if not proj:
                for j in range(P):
                    h[j] = h_prev[j]
            ROW_FORWARD(  # noqa: F821 (a global of each specialisation)
                xg_blocks, params, hg_blocks, c, h_raw, taped, relu, fast, False
            )  # fmt: skip
            if proj:
                _product(hraw, carray(ptr(lay[_WHR]), (H, P), dtype), h)
            if layer == L - 1:
                o_b = out[b]
                for j in range(P):
                    o_b[j] = h[j]


_STEPS = {}


def _step_of(cell):
    """:func:`_step` specialised for a :class:`numrnn._cells.Cell` (made once per variant)."""
    made = _STEPS.get(cell.kernel_key)
    if made is None:
        made = _STEPS[cell.kernel_key] = specialise(
            _step, cell.variant, cell_compiler(cell, nogil=False),  # see make_stepper's notes
            ROW_PARAMS=cell.functions("row_params"), ROW_FORWARD=cell.functions("row_forward"),
            GATES=cell.n_gates, TAPED=cell.taped, TWO_STATES=cell.has_cell_state,
            DIAGONAL=cell.diagonal, UNIT_WIDTH=cell.unit_width,
        )  # fmt: skip
    return made


@jit(nogil=False)
def _fill_record(record, out, h, c):
    """Write the addresses of out, h and c into ``record``; return its address."""
    at = record.ctypes.data
    addresses = carray(ptr(at), _RECORD, np.int64)
    addresses[_OUT_AT] = out.ctypes.data
    addresses[_H_AT] = h.ctypes.data
    addresses[_C_AT] = c.ctypes.data
    return at


def _transposed(a, dtype):
    """``a.T`` if it is a C-contiguous array of ``dtype`` (read in place), else a copy of it."""
    t = a.T
    if t.dtype == dtype and t.flags.c_contiguous:
        return t
    return np.ascontiguousarray(t, dtype=dtype)


def _model(spec, params_list, dtype):
    """The model (header and layer table of addresses) and the arrays it points to.

    Returns
    -------
    model : ndarray of int64
    keep : list of ndarray
        The arrays whose addresses the model holds: the stepper keeps them
        alive.  They are the caller's parameter arrays (or their transposes)
        wherever these have the layout the step reads, so that changes made
        to them in place count.
    """
    keep, table = [], []
    for params in params_list:
        row = [0] * _LAYOUT
        w_hr = params.get("weight_hr")
        entries = {
            _WIH: _transposed(params["weight_ih"], dtype),
            _WHH: _transposed(params["weight_hh"], dtype),
            _BIH: np.ascontiguousarray(params["bias_ih"], dtype=dtype),
            _BHH: np.ascontiguousarray(params["bias_hh"], dtype=dtype),
        }
        if w_hr is not None:
            entries[_WHR] = _transposed(w_hr, dtype)
        if spec.cell.unit_role:
            entries[_UNITS] = np.ascontiguousarray(params[spec.cell.unit_role], dtype=dtype)
        for column, a in entries.items():
            row[column] = a.ctypes.data
            keep.append(a)
        row[_INPUTS] = params["weight_ih"].shape[1]
        table.append(row)
    header = [len(table), spec.hidden_size, spec.proj_size or spec.hidden_size, int(spec.cell.relu)]
    model = np.array(header + [v for row in table for v in row], dtype=np.int64)
    return model, keep


def make_stepper(cell, params_list, dtype):
    """One time step of a unidirectional stack of layers, for streaming.

    Parameters
    ----------
    cell : CellSpec
        The cell of every layer.
    params_list : list of dict
        Each layer's parameters, in the form :func:`forward` takes them,
        first layer first.  They are read in place where they have the
        layout the step reads (weights whose transposes are C-contiguous,
        biases C-contiguous; the layers store them so), so that changes
        made to them in place count from the next step on; others are
        copied.
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    callable
        ``stepper(x_shape) -> (step, start)``, where ``x_shape`` is ``(B, I)``
        or ``(I,)`` (unbatched).  Both return ``(out, new_state)``:

        ``start(x, state)``
            From any state: an ndarray h (L, B, H_out), or a tuple (h, c)
            with c (L, B, H) for LSTM; (L, H_out) and (L, H) unbatched; of
            the stepper's dtype (shapes checked, ValueError).  The state is
            copied, and left as it is.
        ``step(x, state)``
            The streaming call: ``state`` must be the very object that the
            latest call of ``step`` or ``start`` returned (it may have been
            changed in place), or ``step`` returns None and does nothing.

        x : ndarray
            The input at this step, of any memory layout.  An ndarray of
            shape ``x_shape`` in the other float dtype is converted (a
            float64 sample for a float32 layer: scientific data usually is
            float64).  If it is not an ndarray of shape ``x_shape`` and of a
            float dtype, both return None (and do nothing): the caller
            converts it and calls ``start``.
        out : ndarray, shape (B, H_out) or (H_out,)
            The last layer's new hidden state (a separate array).
        new_state
            Like ``state``.  The returned arrays are new, or arrays of an
            earlier call that nothing refers to any more (reused, see below).

    Notes
    -----
    The compiled code of :func:`_step` for the input's type is called
    directly (``Dispatcher.compile`` returns it), which skips the
    dispatcher's matching of argument types; it is compiled without
    ``nogil`` (releasing the GIL would cost 0.05 µs more).  ``step`` and
    ``start`` are closures rather than methods: their variables cost less to
    reach than attributes.

    Each call writes a *record*: its out, h (and c) arrays, and a byte array
    with their addresses and a workspace.  The records of calls two or more
    back that nobody holds any more are written again rather than freed and
    new ones made (0.4 µs of a 2 µs step): every result is still an array
    that the caller holds no other reference to (weak references do not
    count: they may see a dropped result written again).  The reused arrays
    are the same objects: a caller that changes the shape, dtype or flags of
    a returned array in place (rather than of a view) and then drops it may
    see them again (checking them on every call would cost 0.2 µs).

    Threads may share a stepper.  A record is taken from the deque with an
    atomic ``popleft`` and put back only once the result refers to its
    arrays; the latest state and its record are one tuple, replaced at once.
    A thread whose state is no longer the latest gets None from ``step``
    (the layer then calls ``start``).
    """
    dtype = np.dtype(np.dtype(dtype).type)  # numpy's own object: inputs' dtypes are it
    other = np.dtype(np.float64 if dtype == np.float32 else np.float32)
    if cell.proj_size and not cell.cell.projection:
        raise ValueError(f"proj_size is for LSTM only, got {cell.proj_size} for {cell.cell.name}")
    I = params_list[0]["weight_ih"].shape[1]
    model, keep = _model(cell, params_list, dtype)
    model_at = model.ctypes.data
    L, lstm = len(params_list), cell.cell.has_cell_state
    P, H = cell.proj_size or cell.hidden_size, cell.hidden_size
    work = (3 * cell.cell.n_gates + 1 + cell.cell.taped) * H
    record_bytes = 8 * _RECORD + _ALIGN + work * dtype.itemsize
    empty, ndarray, getrefcount, reuse = np.empty, np.ndarray, sys.getrefcount, _REUSE
    compiled = _step_of(cell.cell)

    def stepper(x_shape):
        if len(x_shape) not in (1, 2) or x_shape[-1] != I:
            raise ValueError(f"x_shape must be (B, {I}) or ({I},), got {x_shape}")
        lead = x_shape[:-1]
        out_shape, h_shape, c_shape = lead + (P,), (L,) + lead + (P,), (L,) + lead + (H,)
        # x as any-layout and read-only: slices such as X[:, t] need no copy nor check.
        x_type = numba.typeof(empty(x_shape, dtype)).copy(layout="A", readonly=True)
        run = compiled.compile((x_type, types.int64, types.int64, types.int64))
        arrays = [numba.typeof(empty(shape, dtype)) for shape in (out_shape, h_shape, c_shape)]
        fill = _fill_record.compile((types.uint8[::1], *arrays))

        def new_record():
            out, h = empty(out_shape, dtype), empty(h_shape, dtype)
            c = empty(c_shape, dtype) if lstm else None
            record = empty(record_bytes, np.uint8)
            # The arrays twice: numpy's resize refuses an array with more than two
            # references, so it can never move the memory whose address is recorded.
            return out, h, c, fill(record, out, h, h if c is None else c), record, (out, h, c)

        # The records of the latest two calls, oldest first (two new ones to begin with).
        recent = deque([new_record(), new_record()], maxlen=4)
        # The state the latest call returned, and its record (kept alive: the next call
        # reads the addresses in it).
        latest = (object(), None)

        def step(x, state, _prev=None):
            nonlocal latest
            prev = _prev
            if prev is None:
                state_was, prev = latest
                if state is not state_was:
                    return None
            if not (type(x) is ndarray and x.shape == x_shape and x.dtype is dtype):
                if not (type(x) is ndarray and x.shape == x_shape and x.dtype == other):
                    return None
                x = x.astype(dtype)
            # The record of two calls back is written again if nobody holds its arrays any
            # more (the record's two references and getrefcount's argument are the only ones).
            # popleft is atomic: threads sharing the stepper never get the same record.
            try:
                rec = recent.popleft()
            except IndexError:  # other threads took them all
                rec = new_record()
            if not (
                getrefcount(rec[0]) == 3
                and getrefcount(rec[1]) == 3
                and (not lstm or getrefcount(rec[2]) == 3)
                and reuse
            ):
                rec = new_record()
            run(x, model_at, prev[3], rec[3])
            state = (rec[1], rec[2]) if lstm else rec[1]
            result = rec[0], state
            latest = (state, rec)
            # Back in the deque only now that result refers to its arrays: another thread
            # must not find them unreferenced and write them before this one returns them.
            recent.append(rec)
            return result

        def start(x, state):
            h, c = state if lstm else (state, None)
            if h.shape != h_shape or (lstm and c.shape != c_shape):
                want, got = ((h_shape, c_shape), (h.shape, c.shape)) if lstm else (h_shape, h.shape)
                raise ValueError(f"state must have shape {want}, got {got}")
            src = new_record()  # the given state, copied into a record of its own
            src[1][...] = h
            if lstm:
                src[2][...] = c
            return step(x, state, src)

        # The model and the arrays it points to, which run reads, live as long as they do.
        step.model = start.model = (model, keep)
        return step, start

    return stepper
