"""The recurrent time loops of the ``"cpu"`` backend (``@njit``).

Each loop runs one layer-direction over all time steps.  The input
projection ``xw = X W_ihᵀ`` (without bias) has been computed beforehand by one
GEMM over all T·B rows; per step the loop does the recurrent product
``h_{t-1} W_hhᵀ``, on weights packed once per call (:mod:`._panels`) when
the caller passes them, else with BLAS (``np.dot``), and then the gate maths
of :mod:`numrnn.backends.gates`, fused in one pass over the units.

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

from ._jit import blocks, cell_compiler, fast_gates, jit, specialise, wide_vectors
from ._panels import panel_product
from ._rows import (
    _active_count,
    _add,
    _copy,
    _diagonal_backward,
    _gather_rows,
    _gather_step,
    _multiply,
    _scale,
    _scatter_rows,
    _step_rows,
    _time_index,
    _unzone,
    _zone,
    diagonal_product,
    zero_padding,
)

__all__ = ["diagonal_product", "gemm", "loops", "running_products", "zero_padding"]


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
def running_products(x, w, panels, lengths, order, t0, t1, xw, a, y, tail):
    """xw[t, b] = x[t, b] @ w for the steps t in [t0, t1) of the sequences still running
    (t < lengths[b]); the rows of padded steps are left as they are.

    Each step's rows (the first of ``order``, which sorts the sequences by decreasing
    length) are gathered into ``a`` (rows_padded(B), I; finite), multiplied into ``y``
    (B, N) at once (on ``w`` packed into ``panels``, with ``tail`` the edge tiles'
    workspace; by BLAS when ``panels`` is None), and scattered.  With lengths spread over
    [T/2, T] a quarter of the input projection's rows are padding; their products are
    not made (a forward pass with such lengths took 4-8% less time).
    """
    nb = order.shape[0]
    for t in range(t0, t1):
        nb = _active_count(lengths, order, t, nb)
        if nb == 0:
            break
        for k in range(nb):
            _copy(x[t, order[k]], a[k])
        if panels is None:  # None: pruned before typing (the kernel may not be compiled)
            np.dot(a[:nb], w, y[:nb])
        else:
            panel_product(a, nb, panels, y, tail)
        for k in range(nb):
            _copy(y[k], xw[t, order[k]])


def _forward(
    xw, b_ih, b_hh, bias, units, w_hh_t, panels, w_hr_t, h0, c0, lengths, order, reverse,
    relu, rec_mask, zone_h, zone_c, out, h_n, c_n, hprev, cprev, taped, hraw_tape, hs, cs, hh,
    hraw, tw, hm, hz, cz, tail, x, xa,
):  # fmt: skip
    """One layer-direction forward: the time loop, specialised per cell.

    ``ROW_PARAMS``, ``ROW_FORWARD`` (the cell's row functions),
    ``TWO_STATES`` and ``DIAGONAL`` are globals of each specialisation (see
    :func:`loops`), so the cell's maths is inlined and no cell code is tested
    at run time.  A loop made without the panels, the regularisers or the
    projection (``PACKED``, ``REGULARISED``, ``PROJECTION`` False) takes None
    for their arrays (``panels`` and ``tail``; ``rec_mask`` to ``zone_c`` and
    ``hm`` to ``cz``; ``w_hr_t`` and ``hraw_tape``): their code is pruned.

    Parameters
    ----------
    xw : (T, B, G*H) array
        X W_ihᵀ (no bias); overwritten with the gate values (the tape).
    b_ih, b_hh, bias : (G*H,) arrays
        The biases and their sum.
    units : (K*H,) array
        The cell's per-unit parameters (size 0 without).
    w_hh_t : (P, G*H) array, or (G*H,) for a diagonal cell
        W_hhᵀ, C-contiguous; P = H_out (proj_size, or H without projection).
    panels : array
        W_hhᵀ packed by :func:`numrnn.backends.cpu._panels.pack`: the per-step
        product then runs on it (:func:`~numrnn.backends.cpu._panels.panel_product`),
        or size 0: through BLAS.
    w_hr_t : (H, P) array, or (0, 0) without projection
        W_hrᵀ, C-contiguous.
    h0 : (B, P) array
    c0 : (B, H) array, or (B, 0) for a cell with no cell state
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
        The vanilla RNN's activation (0: tanh, 1: ReLU); ignored by others.
    rec_mask : (B, P) array, or size 0
        Recurrent dropout: the W_hh product reads rec_mask[b] * h_{t-1}.
    zone_h, zone_c : (T, B, P), (T, B, H) arrays, or size 0
        Zoneout: the new h (c) is z h_{t-1} + (1 - z) h̃ with z = zone_h[t, b]
        (zone_c[t, b]).
    out : (T, B, P) array
        Output, zero at padded steps.
    h_n : (B, P) array
    c_n : (B, H) or (B, 0) array
        Final states.
    hprev, cprev, taped : (T, B, P), (T, B, H or 0), (T, B, E*H) arrays, or size 0
        Tapes of h_{t-1} (zero at padded steps), c_{t-1} and the cell's
        extra values (E = ``Cell.taped``); filled if ``hprev`` is not size 0.
    hraw_tape : (T, B, H) array or size 0
        With projection and a tape: the unprojected hidden states (zero at
        padded steps), for dW_hr.
    hs, cs, hraw, tw : (n, P), (n, H or 0), (n, H), (n, E*H) arrays
        Workspaces; without projection ``hraw`` must be ``hs``.  With
        ``panels``, ``hs`` has ``rows_padded(n)`` rows, the last ones zero.
    hh : (n, G*H) array
        Workspace.
    hm, hz, cz : (n, P), (n, P), (n, H or 0) arrays
        Workspaces of the regularisers (size 0 where they are off); with
        ``panels`` and recurrent dropout, ``hm`` has ``rows_padded(n)`` rows,
        the last ones zero.
    tail : array
        Workspace of :func:`~numrnn.backends.cpu._panels.panel_product`.
    x : (T, B, I) array
        The input, in a ``FUSED`` loop (None in others): the input projection runs in the
        steps' products.  ``panels`` then hold [W_ih; W_hh]ᵀ, each step multiplies
        [x_t, h_{t-1}] by them into ``hh``, and ``xw`` is only written (the gate values, for
        the tape).  For the cells whose gates take the sum of the two parts.
    xa : (rows_padded(n), I + P) array
        Workspace of those products, in a ``FUSED`` loop: [x_t, h_{t-1}] of each row.
    """
    wide_vectors()
    fast = fast_gates(xw)
    if REGULARISED:  # noqa: F821 (a global of each specialisation)
        recurrent_dropout = rec_mask.size > 0
        zoneout = zone_h.size > 0
    else:  # constants: the regularisers' code is pruned before typing
        recurrent_dropout = zoneout = False
    T = xw.shape[0]
    B = order.shape[0]
    # A constant for a cell that takes no projection: its code is pruned before typing.
    proj = w_hr_t.size > 0 if PROJECTION else False  # noqa: F821
    tape = hprev.size > 0
    fused = x.size > 0 if FUSED else False  # noqa: F821 (a global of each specialisation)
    _gather_rows(h0, order, hs)
    if TWO_STATES:  # noqa: F821 (a global of each specialisation)
        _gather_rows(c0, order, cs)
    H = xw.shape[2] // GATES  # noqa: F821 (a global of each specialisation)
    # The rows read (G, H) blocks of the gates, (E, H) of the taped values and (K, H) of
    # the per-unit parameters.
    G, E, K = GATES, TAPED, UNIT_WIDTH  # noqa: F821 (globals of each specialisation)
    params = ROW_PARAMS(  # noqa: F821
        blocks(b_ih, (G, H)), blocks(b_hh, (G, H)), blocks(bias, (G, H)), blocks(units, (K, H))
    )
    xw_blocks = blocks(xw, (T, xw.shape[1], G, H))
    hh_blocks = blocks(hh, (hh.shape[0], G, H))
    # Fused: the rows read the whole pre-activation from hh and a zero hidden part.
    zero_blocks = blocks(np.zeros(G * H if fused else 0, hh.dtype), (G if fused else 0, H))
    taped_blocks = blocks(taped, (taped.shape[0], taped.shape[1], E, H))
    tw_blocks = blocks(tw, (tw.shape[0], E, H))
    if zoneout:  # hz, cz: each row's previous state, kept current by the zone pass
        for k in range(B):
            _copy(hs[k], hz[k])
            _copy(cs[k], cz[k])
    nb = B
    for s in range(T):
        nb = _active_count(lengths, order, s, nb)
        if nb == 0:
            break
        product_input = hs
        if recurrent_dropout and not DIAGONAL:  # noqa: F821
            for k in range(nb):
                _multiply(hs[k], rec_mask[order[k]], hm[k])
            product_input = hm
        if DIAGONAL:  # noqa: F821
            for k in range(nb):
                diagonal_product(
                    hs[k], w_hh_t, rec_mask[order[k]] if recurrent_dropout else hs[k][:0], hh[k]
                )
        elif PACKED and panels.size > 0:  # noqa: F821 (a global of each specialisation)
            if fused:
                I = x.shape[2]
                for k in range(nb):
                    _copy(x[_time_index(lengths, order[k], s, reverse), order[k]], xa[k, :I])
                    _copy(product_input[k], xa[k, I:])
                panel_product(xa, nb, panels, hh, tail)
            else:
                panel_product(product_input, nb, panels, hh, tail)
        else:
            np.dot(product_input[:nb], w_hh_t, hh[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            if tape:
                _copy(hs[k], hprev[t, b])
                _copy(cs[k], cprev[t, b])
            ROW_FORWARD(  # noqa: F821 (a global of each specialisation)
                hh_blocks[k] if fused else xw_blocks[t, b], params,
                zero_blocks if fused else hh_blocks[k], cs[k], hraw[k],
                taped_blocks[t, b] if tape else tw_blocks[k], relu, fast, True,
            )  # fmt: skip
            if fused and tape:  # the gate values, where the tape keeps them
                _copy(hh[k], xw[t, b])
            if proj and tape:
                _copy(hraw[k], hraw_tape[t, b])
        if proj:
            np.dot(hraw[:nb], w_hr_t, hs[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            if zoneout:  # the zoned state, kept in hz (cz) for the next step too
                _zone(zone_h[t, b], hz[k], hs[k])
                if TWO_STATES:  # noqa: F821
                    _zone(zone_c[t, b], cz[k], cs[k])
            _copy(hs[k], out[t, b])
    zero_padding(out, lengths, order)
    if tape:
        zero_padding(hprev, lengths, order)
        if proj:
            zero_padding(hraw_tape, lengths, order)
    _scatter_rows(hs, order, h_n)
    _scatter_rows(cs, order, c_n)  # (B, 0) for a cell without c


def _backward(
    gates, taped, hprev, cprev, b_ih, b_hh, bias, units, w_hh, panels, w_hr, grad_out,
    grad_hn, grad_cn, lengths, order, reverse, relu, rec_mask, zone_h, zone_c, dgates, dgates_h,
    dunits, dh0, dc0, dhtot, dhs, dcs, dgw, dhraw, dhd, zd, zcd, zero, tail,
):  # fmt: skip
    """One layer-direction backward through time, specialised per cell.

    ``ROW_PARAMS``, ``ROW_BACKWARD``, ``TWO_STATES``, ``DIRECT_GRAD`` and
    ``DIAGONAL`` are globals of each specialisation (see :func:`loops`).  As
    in :func:`_forward`, a loop made without a feature takes None for its
    arrays (``panels`` and ``tail``; ``rec_mask`` to ``zone_c`` and ``zd`` to
    ``zero``; ``w_hr`` and ``dhtot``).

    Parameters
    ----------
    gates, taped, hprev, cprev : arrays
        The forward tapes (see :func:`_forward`).
    b_ih, b_hh, bias, units : arrays
        As in :func:`_forward` (the rows read the per-unit parameters).
    w_hh : (G*H, P) array, or (G*H,) for a diagonal cell
    panels : array
        ``w_hh`` packed, or size 0 (as in :func:`_forward`).
    w_hr : (P, H) array, or (0, 0) without projection
    grad_out : (T, B, P) array
    grad_hn : (B, P) array
    grad_cn : (B, H) or (B, 0) array
    lengths, order, reverse, relu, rec_mask, zone_h, zone_c
        As in :func:`_forward`.
    dgates : (T, B, G*H) array
        Output: the gradients of the input parts of the pre-activations
        (dL/d(X W_ihᵀ + b_ih)), zero at padded steps.
    dgates_h : (T, B, G*H) array
        Output: the gradients of the hidden parts (dL/d(h W_hhᵀ + b_hh)),
        zero at padded steps; ``dgates`` itself unless the cell's
        ``split_grad``.
    dunits : (T, B, K*H) array
        Output: each step's part of the gradient of the per-unit parameters,
        zero at padded steps (K = 0 without them).
    dh0 : (B, P) array
    dc0 : (B, H) or (B, 0) array
        Outputs: dL/dh_0, dL/dc_0.
    dhtot : (T, B, P) array or size 0
        With projection: output dL/dh_t (zero at padded steps).
    dhs, dcs, dhraw, dhd : (n, P), (n, H or 0), (n, H), (n, H or 0) arrays
        Workspaces; without projection ``dhraw`` must be ``dhs``; with one, ``dhd``
        must be (n, H) zeros (the row functions add it as the output gradient, which
        ``dhraw`` then holds already).
    dgw : (n, G*H) array
        Workspace; ``rows_padded(n)`` rows with ``panels``.
    zd, zcd, zero : (n, P), (n, H or 0), (H,) arrays
        Workspaces of zoneout (size 0 without it); ``zero`` must be zeros.
    tail : array
        Workspace of :func:`~numrnn.backends.cpu._panels.panel_product`.
    """
    wide_vectors()
    T = gates.shape[0]
    P = dhs.shape[1]
    # A constant for a cell that takes no projection: its code is pruned before typing.
    proj = w_hr.size > 0 if PROJECTION else False  # noqa: F821
    if REGULARISED:  # noqa: F821 (a global of each specialisation)
        recurrent_dropout = rec_mask.size > 0
        zoneout = zone_h.size > 0
    else:  # constants: the regularisers' code is pruned before typing
        recurrent_dropout = zoneout = False
    _gather_rows(grad_hn, order, dhs)
    if TWO_STATES:  # noqa: F821
        _gather_rows(grad_cn, order, dcs)
    H = gates.shape[2] // GATES  # noqa: F821
    # The rows read (G, H) blocks of the gates, (E, H) of the taped values and (K, H) of
    # the per-unit parameters.
    G, E, K = GATES, TAPED, UNIT_WIDTH  # noqa: F821 (globals of each specialisation)
    params = ROW_PARAMS(  # noqa: F821
        blocks(b_ih, (G, H)), blocks(b_hh, (G, H)), blocks(bias, (G, H)), blocks(units, (K, H))
    )
    B = gates.shape[1]
    gate_blocks, taped_blocks = blocks(gates, (T, B, G, H)), blocks(taped, (T, B, E, H))
    dx_blocks, dhid_blocks = blocks(dgates, (T, B, G, H)), blocks(dgates_h, (T, B, G, H))
    dunit_blocks = blocks(dunits, (T, B, K, H))
    nb = np.int64(0)  # not the literal 0: _active_count is then compiled once, not twice
    for s in range(T - 1, -1, -1):
        nb = _active_count(lengths, order, s, nb)
        if proj or zoneout:
            # dh_t = grad_out_t + the gradient from step t+1, its zoned-out part kept apart,
            # then projected back through W_hr.
            for k in range(nb):
                b = order[k]
                t = _time_index(lengths, b, s, reverse)
                dh = dhs[k]
                g = grad_out[t, b]
                if zoneout:
                    _unzone(zone_h[t, b], dh, g, zd[k])
                else:
                    for j in range(P):
                        dh[j] += g[j]
                if proj:
                    _copy(dh, dhtot[t, b])
            if proj:
                np.dot(dhs[:nb], w_hr, dhraw[:nb])
        for k in range(nb):
            b = order[k]
            t = _time_index(lengths, b, s, reverse)
            if TWO_STATES and zoneout:  # noqa: F821
                _unzone(zone_c[t, b], dcs[k], zero, zcd[k])
            # Without a projection or zoneout the row adds grad_out_t itself (one pass fewer).
            ROW_BACKWARD(  # noqa: F821 (a global of each specialisation)
                gate_blocks[t, b], taped_blocks[t, b], hprev[t, b], cprev[t, b], dhraw[k],
                dhd[k] if proj else zero if zoneout else grad_out[t, b], dcs[k],
                dx_blocks[t, b], dhid_blocks[t, b], dhd[k], params, dunit_blocks[t, b], relu,
            )  # fmt: skip
        if DIAGONAL:  # noqa: F821 (recurrent dropout's mask applied in the same call)
            for k in range(nb):
                b = order[k]
                _diagonal_backward(
                    dgates_h[_time_index(lengths, b, s, reverse), b], w_hh,
                    rec_mask[b] if recurrent_dropout else dhs[k][:0], dhs[k],
                )  # fmt: skip
        elif PACKED and panels.size > 0:  # noqa: F821
            _gather_step(dgates_h, lengths, order, reverse, s, nb, dgw)
            panel_product(dgw, nb, panels, dhs, tail)
        else:
            np.dot(_step_rows(dgates_h, lengths, order, reverse, s, nb, dgw), w_hh, dhs[:nb])
        if recurrent_dropout and not DIAGONAL:  # noqa: F821
            for k in range(nb):
                _scale(dhs[k], rec_mask[order[k]])
        # dh_{t-1} also takes the cell's direct part and the zoned-out part of dh_t.
        if DIRECT_GRAD:  # noqa: F821
            if zoneout:
                for k in range(nb):
                    _add(dhs[k], dhd[k], zd[k])
            else:
                for k in range(nb):
                    dh = dhs[k]
                    dd = dhd[k]
                    for j in range(P):
                        dh[j] += dd[j]
        elif zoneout:
            for k in range(nb):
                _add(dhs[k], zd[k], zd[k][:0])
        if TWO_STATES and zoneout:  # noqa: F821
            for k in range(nb):
                _add(dcs[k], zcd[k], zcd[k][:0])
    zero_padding(dgates, lengths, order)
    if SPLIT_GRAD:  # noqa: F821
        zero_padding(dgates_h, lengths, order)
    zero_padding(dunits, lengths, order)
    if proj:
        zero_padding(dhtot, lengths, order)
    _scatter_rows(dhs, order, dh0)
    _scatter_rows(dcs, order, dc0)


_LOOPS = {}


def loops(cell, packed, regularised, fused=False):
    """The (forward, backward) time loops of a :class:`numrnn._cells.Cell`.

    Made once per cell variant (the tanh and ReLU RNNs share theirs: the
    activation is the ``relu`` argument), per ``packed`` and per
    ``regularised``: only loops made with ``packed=True`` run the product on
    panels, only those made with ``regularised=True`` apply recurrent
    dropout and zoneout (``PACKED``, ``REGULARISED``: globals of each
    specialisation; with False their code is pruned before typing, so those
    loops neither compile the panel kernel, ~9 s in float32, ~4 s in float64, nor pay the
    regularisers' share of the compile time).  A ``fused`` forward (packed
    only) takes the input projection into the steps' products (``FUSED``;
    its backward is the packed one's).
    """
    key = cell.kernel_key, bool(packed), bool(regularised), bool(fused)
    made = _LOOPS.get(key)
    if made is None:
        compiler = cell_compiler(cell)
        prefix = cell.variant + ("_packed" if packed else "") + ("_reg" if regularised else "")
        flags = {"GATES": cell.n_gates, "TAPED": cell.taped, "UNIT_WIDTH": cell.unit_width,
                 "TWO_STATES": cell.has_cell_state, "DIRECT_GRAD": cell.direct_grad,
                 "SPLIT_GRAD": cell.split_grad, "DIAGONAL": cell.diagonal,
                 "ROW_PARAMS": cell.functions("row_params"), "PACKED": bool(packed),
                 "REGULARISED": bool(regularised), "PROJECTION": cell.projection}
        forward = specialise(
            _forward, prefix + ("_fused" if fused else ""), compiler,
            ROW_FORWARD=cell.functions("row_forward"), FUSED=bool(fused), **flags,
        )  # fmt: skip
        if fused:
            _LOOPS[key] = made = (forward, loops(cell, packed, regularised)[1])
            return made
        backward = specialise(
            _backward, prefix, compiler, ROW_BACKWARD=cell.functions("row_backward"), **flags,
        )  # fmt: skip
        made = _LOOPS[key] = (forward, backward)
    return made
