"""The recurrent time loops of the ``"cpu"`` backend (``@njit``).

Each loop runs one layer-direction over all time steps.  The input
projection ``xw = X W_ihᵀ`` (without bias) has been computed beforehand by one
GEMM over all T·B rows; per step the loop does the recurrent product
``h_{t-1} W_hhᵀ`` with BLAS (``np.dot``) and then the gate maths of
:mod:`numrnn.backends.gates`, fused in one pass over the units.

Variable lengths and direction
------------------------------
``order`` lists the sequences by decreasing length (stable), and the
recurrent state lives in that order (``hs[k]`` belongs to sequence
``order[k]``).  At loop step ``s`` the sequences still running are then the
prefix ``k < nb``, so the per-step GEMM covers exactly the active rows.  The
time index of sequence ``b`` at loop step ``s`` is ``s``, or
``lengths[b] - 1 - s`` when ``reverse``: each sequence runs backwards over
its own valid part.

In-place tapes
--------------
Forward overwrites each row of ``xw`` with the gate values once it has read
it (so ``xw`` becomes the tape of gate values at no extra memory).
Backward leaves the tape intact (it may run again) and writes the gradients
of the pre-activations ``dG`` to a separate array, whose rows at padded
steps (t >= length) are zeroed, so the GEMMs over all T·B rows that follow
are unaffected by them.

The per-step products take the transposed weights of forward as
C-contiguous copies: OpenBLAS ran (32×128)·(128×512) at 59 GFLOP/s with the
transposed view ``W.T`` and at 80 GFLOP/s with a contiguous ``Wᵀ``.

Inside the loops over units every array is indexed by the unit ``j`` alone,
through per-gate views (``xi = row[:H]``, ...): written as ``row[H + j]``,
LLVM could not rule out that a store to one gate overlaps a load of another
and left the loop scalar (24 ns per LSTM unit instead of 2-4).

Backward runs the per-step product ``dG_t W_hh`` on the rows of ``dG`` in
place when all sequences have length T (their rows of step t are then
contiguous, in order); with other lengths it gathers the active rows first.

Workspaces (``hs``, ``hh``, ...) hold no state between calls: every element
read is written first in the same call.  Tape arrays of size 0 mean "no
tape".  Where a loop needs the same buffer under two names (``hraw`` is ``hs``
without projection) the caller passes the same array twice.
"""

import numpy as np

from ..gates import (
    gru_gates,
    gru_gates_backward,
    lstm_gates,
    lstm_gates_backward,
    rnn_act,
    rnn_act_backward,
)
from ._jit import fast_gates, jit

__all__ = [
    "gemm",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
    "zero_padding",
]


@jit
def _gather_rows(src, order, dst):
    """dst[k] = src[order[k]] (into the length-sorted order)."""
    for k in range(order.shape[0]):
        b = order[k]
        for j in range(src.shape[1]):
            dst[k, j] = src[b, j]


@jit
def _scatter_rows(src, order, dst):
    """dst[order[k]] = src[k] (back to the caller's order)."""
    for k in range(order.shape[0]):
        b = order[k]
        for j in range(src.shape[1]):
            dst[b, j] = src[k, j]


@jit
def _copy(src, dst):
    """dst[:] = src (an explicit loop: slice assignment compiles slowly)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@jit
def _split3(a, H):
    """The three gate blocks of a row of length 3H, as views."""
    return a[:H], a[H : 2 * H], a[2 * H : 3 * H]


@jit
def _split4(a, H):
    """The four gate blocks of a row of length 4H, as views."""
    return a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H : 4 * H]


@jit
def zero_padding(a, lengths, order):
    """a[t, b, :] = 0 for the padded steps t >= lengths[b] of b in order."""
    for k in range(order.shape[0]):
        b = order[k]
        for t in range(lengths[b], a.shape[0]):
            row = a[t, b]
            for j in range(row.shape[0]):
                row[j] = 0


@jit
def gemm(a, b, out):
    """out = a @ b with SciPy's BLAS (a, b C- or F-contiguous, out C-contiguous).

    The big products of the backend go through here rather than through
    ``np.matmul``: NumPy's own OpenBLAS build ran (3200×32)·(32×512) and
    (128×512)·(512×2048) at 60-80 GFLOP/s on one thread of the project
    machine, SciPy's (the one ``np.dot`` in ``@njit`` calls) at 160-170.
    """
    np.dot(a, b, out)


@jit
def _time_index(lengths, b, s, reverse):
    return lengths[b] - 1 - s if reverse else s


@jit
def _active_count(lengths, order, s, nb):
    """How many sequences run at step s: the first ones of ``order``.

    ``order`` sorts the sequences by decreasing length, so the running ones
    come first; ``nb`` is the count at the neighbouring step, where the
    search starts (forward it only shrinks, backward it only grows).
    """
    while nb > 0 and lengths[order[nb - 1]] <= s:
        nb -= 1
    while nb < order.shape[0] and lengths[order[nb]] > s:
        nb += 1
    return nb


@jit
def _gather_step(a, lengths, order, reverse, s, nb, dst):
    """dst[k] = a[t_k, order[k]] for the nb active sequences of step s."""
    for k in range(nb):
        b = order[k]
        row = a[_time_index(lengths, b, s, reverse), b]
        for j in range(row.shape[0]):
            dst[k, j] = row[j]


@jit
def _step_rows(a, lengths, order, reverse, s, nb, gathered):
    """The rows of step s of ``a`` (T, B, n) as one C-contiguous (nb, n) block.

    When every sequence has full length and ``order`` is a run of
    consecutive indices (it is then ascending: a stable sort of equal
    lengths), these rows are a block of ``a[t]`` itself; otherwise they are
    gathered into ``gathered``.
    """
    first = order[0]
    last = order[order.shape[0] - 1]
    if lengths[last] == a.shape[0] and last - first == order.shape[0] - 1:
        return a[_time_index(lengths, first, s, reverse), first : first + nb]
    _gather_step(a, lengths, order, reverse, s, nb, gathered)
    return gathered[:nb]


@jit
def rnn_forward(xw, bias, w_hh_t, h0, lengths, order, reverse, relu, out, h_n, hprev, hs, hh):
    """Vanilla RNN forward: h_t = act(xw_t + bias + W_hh h_{t-1}).

    Parameters
    ----------
    xw : (T, B, H) array
        X W_ihᵀ; overwritten with h_t (the tape of activations).
    bias : (H,) array
        b_ih + b_hh.
    w_hh_t : (H, H) array
        W_hhᵀ, C-contiguous.
    h0 : (B, H) array
    lengths : (B,) int64 array
        Sequence lengths.
    order : (n,) int64 array
        The sequences this call runs (all B, or a share of them when the
        batch is split between threads), by decreasing length: a
        subsequence of the stable sort of ``lengths`` (so ascending where
        lengths are equal).  Only their entries of the arrays below are
        read or written, and the workspaces need n rows.
    reverse : bool
    relu : int
        0: tanh, 1: ReLU.
    out : (T, B, H) array
        Output, zero at padded steps.
    h_n : (B, H) array
        Final states.
    hprev : (T, B, H) or size-0 array
        Tape of h_{t-1} (zero at padded steps), filled if not size 0.
    hs, hh : (B, H) arrays
        Workspaces.
    """
    fast = fast_gates(xw)
    T, H = xw.shape[0], xw.shape[2]
    B = order.shape[0]
    tape = hprev.size > 0
    _gather_rows(h0, order, hs)
    nb = B
    for s in range(T):
        nb = _active_count(lengths, order, s, nb)
        if nb == 0:
            break
        np.dot(hs[:nb], w_hh_t, hh[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            h = hs[k]
            if tape:
                _copy(h, hprev[t, b])
            row = xw[t, b]
            a = hh[k]
            for j in range(H):
                h_j = rnn_act(row[j] + bias[j] + a[j], relu, fast)
                row[j] = h_j
                h[j] = h_j
            _copy(h, out[t, b])
    zero_padding(out, lengths, order)
    if tape:
        zero_padding(hprev, lengths, order)
    _scatter_rows(hs, order, h_n)


@jit
def rnn_backward(
    gates, w_hh, grad_out, grad_hn, lengths, order, reverse, relu, dgates, dh0, dhs, dgw
):
    """Vanilla RNN backward through time.

    Parameters
    ----------
    gates : (T, B, H) array
        The forward tape h_t.
    w_hh : (H, H) array
    grad_out : (T, B, H) array
    grad_hn : (B, H) array
    lengths, order, reverse, relu
        As in :func:`rnn_forward`.
    dgates : (T, B, H) array
        Output: dG = dL/da_t (zero at padded steps), a_t the pre-activation.
    dh0 : (B, H) array
        Output: dL/dh_0.
    dhs, dgw : (B, H) arrays
        Workspaces.

    Notes
    -----
    dh_t = grad_out_t + dL/dh_t from step t+1, da_t = act'(a_t) dh_t,
    dL/dh_{t-1} = da_t W_hh.
    """
    T, H = gates.shape[0], gates.shape[2]
    _gather_rows(grad_hn, order, dhs)
    nb = 0
    for s in range(T - 1, -1, -1):
        nb = _active_count(lengths, order, s, nb)
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            h = gates[t, b]
            g = grad_out[t, b]
            dh = dhs[k]
            da = dgates[t, b]
            for j in range(H):
                da[j] = rnn_act_backward(h[j], dh[j] + g[j], relu)
        np.dot(_step_rows(dgates, lengths, order, reverse, s, nb, dgw), w_hh, dhs[:nb])
    zero_padding(dgates, lengths, order)
    _scatter_rows(dhs, order, dh0)


@jit
def lstm_forward(
    xw,
    bias,
    w_hh_t,
    w_hr_t,
    h0,
    c0,
    lengths,
    order,
    reverse,
    out,
    h_n,
    c_n,
    hprev,
    cprev,
    tanhc,
    hs,
    cs,
    hh,
    hraw,
    tcw,
):
    """LSTM forward, with optional projection h_t = W_hr (o_t tanh(c_t)).

    Parameters
    ----------
    xw : (T, B, 4H) array
        X W_ihᵀ; overwritten with the gate values i, f, g, o.
    bias : (4H,) array
        b_ih + b_hh.
    w_hh_t : (P, 4H) array
        W_hhᵀ, C-contiguous; P = H_out (proj_size, or H without projection).
    w_hr_t : (H, P) array, or (0, 0) without projection
        W_hrᵀ, C-contiguous.
    h0 : (B, P) array
    c0 : (B, H) array
    lengths, order, reverse
        As in :func:`rnn_forward`.
    out : (T, B, P) array
    h_n : (B, P) array
    c_n : (B, H) array
    hprev, cprev, tanhc : (T, B, P), (T, B, H), (T, B, H) or size-0 arrays
        Tapes of h_{t-1} (zero at padded steps), c_{t-1} and tanh(c_t).
    hs : (B, P) array
        Workspace (the state h).
    cs, hraw, tcw : (B, H) arrays
        Workspaces; without projection ``hraw`` must be ``hs``.
    hh : (B, 4H) array
        Workspace.
    """
    fast = fast_gates(xw)
    T = xw.shape[0]
    B = order.shape[0]
    H = cs.shape[1]
    proj = w_hr_t.size > 0
    tape = hprev.size > 0
    bi, bf, bg, bo = _split4(bias, H)
    _gather_rows(h0, order, hs)
    _gather_rows(c0, order, cs)
    nb = B
    for s in range(T):
        nb = _active_count(lengths, order, s, nb)
        if nb == 0:
            break
        np.dot(hs[:nb], w_hh_t, hh[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            c = cs[k]
            if tape:
                _copy(hs[k], hprev[t, b])
                _copy(c, cprev[t, b])
            xi, xf, xg, xo = _split4(xw[t, b], H)
            hi, hf, hg, ho = _split4(hh[k], H)
            tc = tanhc[t, b] if tape else tcw[k]
            m = hraw[k]
            for j in range(H):
                i, f, g, o, c_j, tanh_c = lstm_gates(
                    xi[j] + bi[j] + hi[j],
                    xf[j] + bf[j] + hf[j],
                    xg[j] + bg[j] + hg[j],
                    xo[j] + bo[j] + ho[j],
                    c[j],
                    fast,
                )
                xi[j] = i
                xf[j] = f
                xg[j] = g
                xo[j] = o
                c[j] = c_j
                tc[j] = tanh_c
                m[j] = o * tanh_c
        if proj:
            np.dot(hraw[:nb], w_hr_t, hs[:nb])
        for k in range(nb):
            b = order[k]
            _copy(hs[k], out[_time_index(lengths, b, s, reverse), b])
    zero_padding(out, lengths, order)
    if tape:
        zero_padding(hprev, lengths, order)
    _scatter_rows(hs, order, h_n)
    _scatter_rows(cs, order, c_n)


@jit
def lstm_backward(
    gates,
    cprev,
    tanhc,
    w_hh,
    w_hr,
    grad_out,
    grad_hn,
    grad_cn,
    lengths,
    order,
    reverse,
    dgates,
    dh0,
    dc0,
    dhtot,
    hraw_tape,
    dhs,
    dcs,
    dgw,
    dhraw,
):
    """LSTM backward through time.

    Parameters
    ----------
    gates : (T, B, 4H) array
        Forward tape i, f, g, o.
    cprev, tanhc : (T, B, H) arrays
        Forward tapes c_{t-1}, tanh(c_t).
    w_hh : (4H, P) array
    w_hr : (P, H) array, or (0, 0) without projection
    grad_out : (T, B, P) array
    grad_hn : (B, P) array
    grad_cn : (B, H) array
    lengths, order, reverse
        As in :func:`lstm_forward`.
    dgates : (T, B, 4H) array
        Output: dG, the gradients of the four pre-activations (zero at
        padded steps).
    dh0 : (B, P) array
    dc0 : (B, H) array
        Outputs: dL/dh_0, dL/dc_0.
    dhtot : (T, B, P) array or size 0
        With projection: output dL/dh_t (zero at padded steps).
    hraw_tape : (T, B, H) array or size 0
        With projection: output o_t tanh(c_t) (zero at padded steps);
        dW_hr = dhtotᵀ hraw_tape.
    dhs : (B, P) array
    dcs, dhraw : (B, H) arrays
        Workspaces; without projection ``dhraw`` must be ``dhs``.
    dgw : (B, 4H) array
        Workspace.
    """
    T = gates.shape[0]
    H = dcs.shape[1]
    P = dhs.shape[1]
    proj = w_hr.size > 0
    _gather_rows(grad_hn, order, dhs)
    _gather_rows(grad_cn, order, dcs)
    nb = 0
    for s in range(T - 1, -1, -1):
        nb = _active_count(lengths, order, s, nb)
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            dh = dhs[k]
            g = grad_out[t, b]
            for j in range(P):
                dh[j] += g[j]
            if proj:
                _copy(dh, dhtot[t, b])
        if proj:
            np.dot(dhs[:nb], w_hr, dhraw[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            gi, gf, gg, go = _split4(gates[t, b], H)
            di, df, dg, do = _split4(dgates[t, b], H)
            cp = cprev[t, b]
            tc = tanhc[t, b]
            dm = dhraw[k]
            dc = dcs[k]
            if proj:
                m = hraw_tape[t, b]
                for j in range(H):
                    m[j] = go[j] * tc[j]
            for j in range(H):
                di[j], df[j], dg[j], do[j], dc[j] = lstm_gates_backward(
                    gi[j], gf[j], gg[j], go[j], cp[j], tc[j], dm[j], dc[j]
                )
        np.dot(_step_rows(dgates, lengths, order, reverse, s, nb, dgw), w_hh, dhs[:nb])
    zero_padding(dgates, lengths, order)
    if proj:
        zero_padding(dhtot, lengths, order)
        zero_padding(hraw_tape, lengths, order)
    _scatter_rows(dhs, order, dh0)
    _scatter_rows(dcs, order, dc0)


@jit
def gru_forward(
    xw, b_ih, b_hh, w_hh_t, h0, lengths, order, reverse, out, h_n, hprev, hn_tape, hs, hh, hnw
):
    """GRU forward (reset gate after the hidden product).

    Parameters
    ----------
    xw : (T, B, 3H) array
        X W_ihᵀ; overwritten with the gate values r, z, n.
    b_ih, b_hh : (3H,) arrays
    w_hh_t : (H, 3H) array
        W_hhᵀ, C-contiguous.
    h0 : (B, H) array
    lengths, order, reverse
        As in :func:`rnn_forward`.
    out : (T, B, H) array
    h_n : (B, H) array
    hprev, hn_tape : (T, B, H) or size-0 arrays
        Tapes of h_{t-1} (zero at padded steps) and of W_hn h_{t-1} + b_hn.
    hs, hnw : (B, H) arrays
    hh : (B, 3H) array
        Workspaces.
    """
    fast = fast_gates(xw)
    T = xw.shape[0]
    B = order.shape[0]
    H = hs.shape[1]
    tape = hprev.size > 0
    bir, biz, bin_ = _split3(b_ih, H)
    bhr, bhz, bhn = _split3(b_hh, H)
    _gather_rows(h0, order, hs)
    nb = B
    for s in range(T):
        nb = _active_count(lengths, order, s, nb)
        if nb == 0:
            break
        np.dot(hs[:nb], w_hh_t, hh[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            h = hs[k]
            if tape:
                _copy(h, hprev[t, b])
            xr, xz, xn = _split3(xw[t, b], H)
            hr, hz, hn = _split3(hh[k], H)
            hn_b = hn_tape[t, b] if tape else hnw[k]
            for j in range(H):
                hn_j = hn[j] + bhn[j]
                xr[j], xz[j], xn[j], h[j] = gru_gates(
                    xr[j] + bir[j],
                    xz[j] + biz[j],
                    xn[j] + bin_[j],
                    hr[j] + bhr[j],
                    hz[j] + bhz[j],
                    hn_j,
                    h[j],
                    fast,
                )
                hn_b[j] = hn_j
            _copy(h, out[t, b])
    zero_padding(out, lengths, order)
    if tape:
        zero_padding(hprev, lengths, order)
    _scatter_rows(hs, order, h_n)


@jit
def gru_backward(
    gates,
    hn_tape,
    hprev,
    w_hh,
    grad_out,
    grad_hn,
    lengths,
    order,
    reverse,
    dgates,
    dgates_h,
    dh0,
    dhs,
    dgw,
    dhd,
):
    """GRU backward through time.

    Parameters
    ----------
    gates : (T, B, 3H) array
        Forward tape r, z, n.
    hn_tape : (T, B, H) array
        Forward tape W_hn h_{t-1} + b_hn.
    hprev : (T, B, H) array
        Forward tape h_{t-1}.
    w_hh : (3H, H) array
    grad_out : (T, B, H) array
    grad_hn : (B, H) array
    lengths, order, reverse
        As in :func:`gru_forward`.
    dgates : (T, B, 3H) array
        Output: the gradients [dr, dz, dxn] of the input parts
        (dL/d(X W_ihᵀ + b_ih)), zero at padded steps.
    dgates_h : (T, B, 3H) array
        Output: the gradients [dr, dz, dhn] of the hidden parts
        (dL/d(h W_hhᵀ + b_hh)), zero at padded steps.
    dh0 : (B, H) array
        Output: dL/dh_0.
    dhs, dhd : (B, H) arrays
    dgw : (B, 3H) array
        Workspaces.
    """
    T = gates.shape[0]
    H = dhs.shape[1]
    _gather_rows(grad_hn, order, dhs)
    nb = 0
    for s in range(T - 1, -1, -1):
        nb = _active_count(lengths, order, s, nb)
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            r, z, n = _split3(gates[t, b], H)
            dxr, dxz, dxn = _split3(dgates[t, b], H)
            dhr, dhz, dhn = _split3(dgates_h[t, b], H)
            hn = hn_tape[t, b]
            hp = hprev[t, b]
            g = grad_out[t, b]
            dh = dhs[k]
            dd = dhd[k]
            for j in range(H):
                dr, dz, dxn[j], dhn[j], dd[j] = gru_gates_backward(
                    r[j], z[j], n[j], hn[j], hp[j], dh[j] + g[j]
                )
                dxr[j] = dr
                dxz[j] = dz
                dhr[j] = dr
                dhz[j] = dz
        np.dot(_step_rows(dgates_h, lengths, order, reverse, s, nb, dgw), w_hh, dhs[:nb])
        for k in range(nb):
            dh = dhs[k]
            dd = dhd[k]
            for j in range(H):
                dh[j] += dd[j]
    zero_padding(dgates, lengths, order)
    zero_padding(dgates_h, lengths, order)
    _scatter_rows(dhs, order, dh0)
