"""One time step of a unidirectional stack, with as little overhead as possible.

Streaming use calls ``step`` once per sample, often with B = 1, where a
general forward call (input GEMM, per-step BLAS, workspace bookkeeping, one
call per layer) costs far more than the arithmetic.  A stepper instead packs
every layer's weights once, transposed, into one array, and runs the whole
stack in one compiled call whose products are plain loops: y = b + v Wᵀ
accumulated row by row of Wᵀ, which vectorises over the outputs and needs no
BLAS call.
"""

import sys
from collections import deque

import numba
import numpy as np
from numba.extending import overload

from ..gates import gru_gates, lstm_gates, rnn_act
from ._jit import fast_gates, jit

__all__ = ["make_stepper"]

# Columns of the per-layer layout table: offsets into the packed weights of
# W_ihᵀ, W_hhᵀ, W_hrᵀ (-1: no projection), of the biases b_ih, b_hh and of
# b_hr (P zeros: the projection has no bias; a zero one lets it use _affine).
_WIH, _WHH, _WHR, _BIH, _BHH, _BHR = range(6)
# Every packed block starts on a 64-byte boundary (a cache line): the product
# runs at the L2 cache's bandwidth, and misaligned rows cost 15-25% more.
_ALIGN = 64
# Cell codes of _step (one integer argument: every argument costs dispatch time).
_RNN_TANH, _LSTM, _GRU, _RNN_RELU = range(4)
_CODES = {"rnn_tanh": _RNN_TANH, "lstm": _LSTM, "gru": _GRU, "rnn_relu": _RNN_RELU}


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


@jit(nogil=False)  # see make_stepper's notes
def _step(x, h0, c0, w, layout, code, out, h_n, c_n):
    """Advance every layer by one step, into out, h_n (and c_n for LSTM).

    ``code``: a cell code (_RNN_TANH, _LSTM, _GRU, _RNN_RELU).  The arrays
    come batched (x (B, I), states (L, B, n), out (B, P)) or unbatched
    (x (I,), states (L, n), out (P,)), so the caller's arrays need no
    reshaping in Python (each reshape there costs 0.2 µs).  c0 and c_n are
    None unless LSTM (Numba then compiles the LSTM branches out).
    """
    fast = fast_gates(x)
    L = layout.shape[0]
    P = out.shape[out.ndim - 1]
    B = out.size // P
    H = c0.shape[c0.ndim - 1] if c0 is not None else P
    G = 4 if code == _LSTM else 3 if code == _GRU else 1
    # Allocated here, not passed in (every argument costs call time), and
    # at once: the input and hidden parts of the pre-activations, o*tanh(c).
    work = np.empty(2 * G * H + H, x.dtype)
    xg = work[: G * H]
    hg = work[G * H : 2 * G * H]
    hraw = work[2 * G * H :]
    for layer in range(L):
        lay = layout[layer]
        for b in range(B):
            h_prev = _row(h0[layer], b)
            h = _row(h_n[layer], b)
            _affine(_row(x, b) if layer == 0 else _row(h_n[layer - 1], b), w, lay[_WIH],
                    lay[_BIH], xg)  # fmt: skip
            _affine(h_prev, w, lay[_WHH], lay[_BHH], hg)
            if c0 is not None:
                c = _row(c_n[layer], b)
                c_prev = _row(c0[layer], b)
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
                o_b = _row(out, b)
                for j in range(P):
                    o_b[j] = h[j]


def _pack(params_list, dtype):
    """Every layer's weights, transposed, in one aligned array, and the layout table."""
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
        row = [-1] * (_BHR + 1)
        for column, a in entries.items():
            row[column] = offset
            pieces.append((offset, a))
            offset += -(-a.size // step) * step
        layout.append(row)
    raw = np.zeros(offset + step, dtype)
    packed = raw[(-raw.ctypes.data % _ALIGN) // dtype.itemsize :][:offset]
    for start, a in pieces:
        packed[start : start + a.size] = np.ravel(a)
    return packed, np.array(layout, dtype=np.int64)


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
        ``stepper(x_shape) -> step``, where ``x_shape`` is ``(B, I)`` or
        ``(I,)`` (unbatched), and ``step(x, state) -> (out, new_state)``:

        x : ndarray
            The input at this step, of any memory layout.  If it is not an
            ndarray of shape ``x_shape`` and of the stepper's dtype, ``step``
            returns None (and does nothing): the caller converts it and calls
            again.
        state : ndarray, or tuple (h, c) of ndarrays (LSTM)
            The state of every layer: h (L, B, H_out) and c (L, B, H), or
            (L, H_out) and (L, H) unbatched; C-contiguous, of the stepper's
            dtype.  Not checked: the state a previous call returned, or one
            the caller has validated.
        out : ndarray, shape (B, H_out) or (H_out,)
            The last layer's new hidden state (a separate array).
        new_state
            Like ``state``.  The returned arrays are new, or arrays of an
            earlier call that nothing refers to any more (reused, see below).

    Notes
    -----
    ``step`` calls the compiled code of :func:`_step` for these argument
    types directly (``Dispatcher.compile`` returns it), which skips the
    dispatcher's matching of argument types (0.2 µs of a 2 µs step); it is
    compiled without ``nogil`` (releasing the GIL would cost 0.05 µs more).
    ``step`` is a closure rather than an object: its variables cost less to
    reach than attributes.
    """
    dtype = np.dtype(dtype)
    weights, layout = _pack(params_list, dtype)
    code = _CODES[cell.kind]
    L, lstm = layout.shape[0], cell.kind == "lstm"
    P, H = cell.proj_size or cell.hidden_size, cell.hidden_size
    empty, ndarray, getrefcount = np.empty, np.ndarray, sys.getrefcount

    def stepper(x_shape):
        lead = x_shape[:-1]
        out_shape, h_shape = lead + (P,), (L,) + lead + (P,)
        c_shape = (L,) + lead + (H,)
        cell_state = empty(c_shape, dtype) if lstm else None
        args = [empty(x_shape, dtype), empty(h_shape, dtype), cell_state, weights, layout, code,
                empty(out_shape, dtype), empty(h_shape, dtype), cell_state]  # fmt: skip
        types = [numba.typeof(a) for a in args]
        # x as any-layout and read-only: slices such as X[:, t] need no copy nor check.
        types[0] = types[0].copy(layout="A", readonly=True)
        run = _step.compile(tuple(types))
        recent = deque(maxlen=4)  # the arrays of the latest calls, oldest first

        def step(x, state):
            if not (type(x) is ndarray and x.shape == x_shape and x.dtype is dtype):
                return None
            # Arrays returned two calls back that nobody holds any more (the deque's tuple
            # and getrefcount's argument are the only references) are written again rather
            # than freed and new ones made: 0.4 µs of a 2 µs step.  Every result is still
            # an array the caller holds no other reference to.  popleft is atomic, so
            # threads sharing the stepper never get the same arrays.
            try:
                arrays = recent.popleft() if len(recent) > 1 else None
            except IndexError:  # another thread took it
                arrays = None
            if arrays is None or not (
                getrefcount(arrays[0]) == 2
                and getrefcount(arrays[1]) == 2
                and (not lstm or getrefcount(arrays[2]) == 2)
            ):
                arrays = (empty(out_shape, dtype), empty(h_shape, dtype),
                          empty(c_shape, dtype) if lstm else None)  # fmt: skip
            out, h_n, c_n = arrays
            if lstm:
                h0, c0 = state
                run(x, h0, c0, weights, layout, code, out, h_n, c_n)
                recent.append(arrays)
                return out, (h_n, c_n)
            run(x, state, None, weights, layout, code, out, h_n, None)
            recent.append(arrays)
            return out, h_n

        return step

    return stepper
