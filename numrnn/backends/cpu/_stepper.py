"""One time step of a unidirectional stack, with as little overhead as possible.

Streaming use calls ``step`` once per sample, often with B = 1, where a
general forward call (input GEMM, per-step BLAS, workspace bookkeeping, one
call per layer) costs far more than the arithmetic.  A stepper instead packs
every layer's weights once, transposed, into one buffer, and runs the whole
stack in one compiled call whose products are plain loops: y = b + v Wᵀ
accumulated row by row of Wᵀ, which vectorises over the outputs and needs no
BLAS call.

At B = 1 the Python side of a call costs as much as the arithmetic, and
Numba's unboxing of an array argument (~30 ns each) is a large part of it.
So the compiled step takes one array (the input) and three addresses: of the
packed model, and of the records of the previous call's results (the state
it reads) and of this call's (the arrays it writes); see :func:`_step`.  The
arrays behind those addresses are kept alive by the stepper and the caller.
"""

import sys
from collections import deque

import numba
import numpy as np
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..._cells import CELLS
from ..gates import gru_gates, lstm_gates, rnn_act
from ._jit import fast_gates, jit

__all__ = ["make_stepper"]

# Columns of the per-layer layout table: offsets into the packed weights of
# W_ihᵀ, W_hhᵀ, W_hrᵀ (-1: no projection), of the biases b_ih, b_hh and of
# b_hr (P zeros: the projection has no bias; a zero one lets it use _affine).
_WIH, _WHH, _WHR, _BIH, _BHH, _BHR, _LAYOUT = range(7)
# Every packed block starts on a 64-byte boundary (a cache line): the product
# runs at the L2 cache's bandwidth, and misaligned rows cost 15-25% more.
_ALIGN = 64
# Cell codes.
_RNN_TANH, _LSTM, _GRU, _RNN_RELU = (CELLS[n].code for n in ("rnn_tanh", "lstm", "gru", "rnn_relu"))
# The model (see _pack) starts with an int64 header: number of layers, hidden
# size, output size, cell code, where the weights start (bytes from the
# model's address) and their length; the layout table (L, _LAYOUT) follows.
_LAYERS, _HIDDEN, _OUTPUT, _CODE, _W_AT, _W_LEN, _HEADER = range(7)
# A call's record (see make_stepper) starts with the int64 addresses of its
# out, h and c arrays (c: h's, unless LSTM); its workspace follows, aligned.
_OUT_AT, _H_AT, _C_AT, _RECORD = range(4)
# Records are reused by reference counts (see make_stepper), whose meaning this
# relies on: CPython before 3.14 (which counts fewer references held on the
# interpreter's stack), with the GIL.  Elsewhere every call makes new arrays.
_REUSE = (
    sys.implementation.name == "cpython"
    and sys.version_info < (3, 14)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
)


@intrinsic
def _ptr(typingctx, address):
    """The integer ``address`` as a ``void *``, for ``numba.carray``."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@jit
def _affine(v, w, offset, bias_offset, y):
    """y = b + v Wᵀ, with Wᵀ (len(v), len(y)) stored at ``w[offset:]``.

    Accumulated over the rows of Wᵀ (axpy form): the inner loop runs over
    contiguous outputs and vectorises without reassociating any sum.  Four
    rows per pass over y (a quarter of the loads and stores of y; eight rows
    gain nothing more).  Beyond 32 KiB (the L1 cache) the weights stream
    from the L2 cache, and that bounds the loop: a 96×256 float32 Wᵀ
    (96 KiB) takes 1.05 µs, the time a plain read of 96 KiB takes here
    (~100 GB/s on this 2-core Zen 4 machine).  The rows are taken
    as slices: indexing ``w`` at a computed offset instead costs a
    negative-index check per element, which kept the loop scalar (8x slower).
    """
    n = y.shape[0]
    m = v.shape[0]
    bias = w[bias_offset : bias_offset + n]
    for j in range(n):
        y[j] = bias[j]
    i = 0
    while i + 4 <= m:
        v0, v1, v2, v3 = v[i], v[i + 1], v[i + 2], v[i + 3]
        r0 = w[offset + i * n : offset + (i + 1) * n]
        r1 = w[offset + (i + 1) * n : offset + (i + 2) * n]
        r2 = w[offset + (i + 2) * n : offset + (i + 3) * n]
        r3 = w[offset + (i + 3) * n : offset + (i + 4) * n]
        for j in range(n):
            y[j] += v0 * r0[j] + v1 * r1[j] + v2 * r2[j] + v3 * r3[j]
        i += 4
    for r in range(i, m):
        vr = v[r]
        row = w[offset + r * n : offset + (r + 1) * n]
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


@jit(nogil=False)  # see make_stepper's notes
def _step(x, model, prev, record):
    """Advance every layer by one step, from one call's results into another's.

    Parameters
    ----------
    x : array, shape (B, I) or (I,) (unbatched), any memory layout
        The first layer's input.
    model : int
        The address of the packed model (:func:`_pack`).
    prev, record : int
        The addresses of two call records (see :func:`make_stepper`): the
        state h0 (L, B, P) (and c0 (L, B, H)) is read from the arrays of
        ``prev``, and out (B, P), h_n, c_n are written into those of
        ``record``, whose workspace is used too.  Unbatched arrays have the
        same memory as batched ones with B = 1.
    """
    fast = fast_gates(x)
    dtype = x.dtype
    head = carray(_ptr(model), _HEADER, np.int64)
    L, H, P, code = head[_LAYERS], head[_HIDDEN], head[_OUTPUT], head[_CODE]
    layout = carray(_ptr(model + 8 * _HEADER), (L, _LAYOUT), np.int64)
    w = carray(_ptr(model + head[_W_AT]), head[_W_LEN], dtype)
    B = x.shape[0] if x.ndim == 2 else 1
    G = 4 if code == _LSTM else 3 if code == _GRU else 1
    src = carray(_ptr(prev), _RECORD, np.int64)
    dst = carray(_ptr(record), _RECORD, np.int64)
    h0 = carray(_ptr(src[_H_AT]), (L, B, P), dtype)
    c0 = carray(_ptr(src[_C_AT]), (L, B, H), dtype)
    out = carray(_ptr(dst[_OUT_AT]), (B, P), dtype)
    h_n = carray(_ptr(dst[_H_AT]), (L, B, P), dtype)
    c_n = carray(_ptr(dst[_C_AT]), (L, B, H), dtype)
    # The input and hidden parts of the pre-activations, and o*tanh(c).
    work = carray(_ptr(_round_up(record + 8 * _RECORD, _ALIGN)), 2 * G * H + H, dtype)
    xg = work[: G * H]
    hg = work[G * H : 2 * G * H]
    hraw = work[2 * G * H :]
    for layer in range(L):
        lay = layout[layer]
        for b in range(B):
            h_prev = h0[layer, b]
            h = h_n[layer, b]
            _affine(_row(x, b) if layer == 0 else h_n[layer - 1, b], w, lay[_WIH], lay[_BIH], xg)
            _affine(h_prev, w, lay[_WHH], lay[_BHH], hg)
            if code == _LSTM:
                c = c_n[layer, b]
                c_prev = c0[layer, b]
                for j in range(H):
                    i, f, g, o, c_j, tanh_c = lstm_gates(
                        xg[j] + hg[j],
                        xg[H + j] + hg[H + j],
                        xg[2 * H + j] + hg[2 * H + j],
                        xg[3 * H + j] + hg[3 * H + j],
                        c_prev[j],
                        fast,
                    )
                    c[j] = c_j
                    hraw[j] = o * tanh_c
                if lay[_WHR] >= 0:
                    _affine(hraw, w, lay[_WHR], lay[_BHR], h)
                else:
                    for j in range(H):
                        h[j] = hraw[j]
            elif code == _GRU:
                for j in range(H):
                    r, z, n, h_j = gru_gates(
                        xg[j], xg[H + j], xg[2 * H + j],
                        hg[j], hg[H + j], hg[2 * H + j],
                        h_prev[j], fast,
                    )  # fmt: skip
                    h[j] = h_j
            else:
                relu = int(code == _RNN_RELU)
                for j in range(H):
                    h[j] = rnn_act(xg[j] + hg[j], relu, fast)
            if layer == L - 1:
                o_b = out[b]
                for j in range(P):
                    o_b[j] = h[j]


@jit(nogil=False)
def _fill_record(record, out, h, c):
    """Write the addresses of out, h and c into ``record``; return its address."""
    at = record.ctypes.data
    addresses = carray(_ptr(at), _RECORD, np.int64)
    addresses[_OUT_AT] = out.ctypes.data
    addresses[_H_AT] = h.ctypes.data
    addresses[_C_AT] = c.ctypes.data
    return at


def _pack(cell, params_list, dtype):
    """The model: header, layout table and every layer's weights, transposed.

    One aligned byte array (see the header constants); each weight block
    starts on an _ALIGN-byte boundary.
    """
    step = _ALIGN // dtype.itemsize
    pieces, layout, offset = [], [], 0
    for params in params_list:
        w_hr = params.get("weight_hr")
        entries = {
            _WIH: params["weight_ih"].T,
            _WHH: params["weight_hh"].T,
            _BIH: params["bias_ih"],
            _BHH: params["bias_hh"],
        }
        if w_hr is not None:
            entries[_WHR] = w_hr.T
            entries[_BHR] = np.zeros(w_hr.shape[0])
        row = [-1] * _LAYOUT
        for column, a in entries.items():
            row[column] = offset
            pieces.append((offset, a))
            offset += _round_up(a.size, step)
        layout.append(row)
    w_at = _round_up(8 * (_HEADER + _LAYOUT * len(layout)), _ALIGN)
    raw = np.zeros(w_at + offset * dtype.itemsize + _ALIGN, np.uint8)
    model = raw[-raw.ctypes.data % _ALIGN :][: w_at + offset * dtype.itemsize]
    header = [len(layout), cell.hidden_size, cell.proj_size or cell.hidden_size,
              cell.cell.code, w_at, offset]  # fmt: skip
    model[: 8 * len(header)].view(np.int64)[:] = header
    model[8 * _HEADER : 8 * (_HEADER + _LAYOUT * len(layout))].view(np.int64)[:] = np.ravel(layout)
    weights = model[w_at:].view(dtype)
    for start, a in pieces:
        weights[start : start + a.size] = np.ravel(a)
    return model


def make_stepper(cell, params_list, dtype):
    """One time step of a unidirectional stack of layers, for streaming.

    Parameters
    ----------
    cell : CellSpec
        The cell of every layer.
    params_list : list of dict
        Each layer's parameters, in the form :func:`forward` takes them,
        first layer first.  They are copied: make a new stepper when they
        change.
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
            The input at this step, of any memory layout.  If it is not an
            ndarray of shape ``x_shape`` and of the stepper's dtype, both
            return None (and do nothing): the caller converts it and calls
            ``start``.
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
    if cell.proj_size and not cell.cell.projection:
        raise ValueError(f"proj_size is for LSTM only, got {cell.proj_size} for {cell.cell.name}")
    I = params_list[0]["weight_ih"].shape[1]
    model = _pack(cell, params_list, dtype)
    model_at = model.ctypes.data
    L, lstm = len(params_list), cell.cell.has_cell_state
    P, H = cell.proj_size or cell.hidden_size, cell.hidden_size
    record_bytes = 8 * _RECORD + _ALIGN + (2 * cell.cell.n_gates + 1) * H * dtype.itemsize
    empty, ndarray, getrefcount, reuse = np.empty, np.ndarray, sys.getrefcount, _REUSE

    def stepper(x_shape):
        if len(x_shape) not in (1, 2) or x_shape[-1] != I:
            raise ValueError(f"x_shape must be (B, {I}) or ({I},), got {x_shape}")
        lead = x_shape[:-1]
        out_shape, h_shape, c_shape = lead + (P,), (L,) + lead + (P,), (L,) + lead + (H,)
        # x as any-layout and read-only: slices such as X[:, t] need no copy nor check.
        x_type = numba.typeof(empty(x_shape, dtype)).copy(layout="A", readonly=True)
        run = _step.compile((x_type, types.int64, types.int64, types.int64))
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
                return None
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

        # The model's memory, which run reads at model_at, lives as long as they do.
        step.model = start.model = model
        return step, start

    return stepper
