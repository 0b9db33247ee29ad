"""The ``"cpu"`` backend: ``@numba.njit`` time loops around BLAS products.

Implements the backend interface of :mod:`numrnn.backends` for float32 and
float64.  One layer-direction runs as

1. input projection ``X W_ihᵀ``: one GEMM over all T·B rows (with padding of at
   least an eighth of them, over the steps every sequence runs, then per step
   over the sequences still running);
2. the recurrent loop (:mod:`._kernels`): per step ``h_{t-1} W_hhᵀ`` and the
   fused gate maths of :mod:`numrnn.backends.gates`.  The product runs on
   ``W_hhᵀ`` packed once per call (:mod:`._panels`, a Numba micro-kernel)
   when a thread's share of the batch has at least :data:`PANEL_MIN_ROWS`
   rows, else through BLAS from ``@njit``;
3. backward: the reverse loop gives the gradients of the pre-activations
   ``dG`` for all steps (per step ``dG_t W_hh``, on packed ``W_hh`` likewise),
   then ``dX = dG W_ih``, ``dW_ih = dGᵀ X``, ``dW_hh = dGᵀ H_prev`` (and
   ``dW_hr``) are one GEMM each over all rows; where the input and hidden parts
   share dG, ``[dW_ih, dW_hh] = dGᵀ [X, H_prev]`` is one.

Sequences of a batch are independent, so a large batch is split between
threads that each run the whole recurrence of their share (kernels release
the GIL; BLAS runs single-threaded inside them): one hand-off per call
instead of a multi-threaded BLAS call, synchronised, at every step.

float32 uses the fast rational activations of :mod:`numrnn.backends.gates`
(max abs error ~3e-7), float64 the exact ones.  Results are bitwise
reproducible from run to run.  Large scratch arrays are kept per thread and
reused between calls (allocating them anew on every call doubled the time
of a mid-size forward); arrays returned to the caller are always new.

Besides the interface, the backend provides :func:`warmup` (compile every
kernel ahead of use) and :func:`make_stepper` (a minimal-overhead single
time step for unidirectional stacks, for ``step``).  The host-array helpers
of the interface are those of the NumPy reference backend.
"""

import functools
from functools import partial

import numpy as np

from ..reference import (
    add,
    asarray,
    concat_features,
    is_device_array,
    multiply,
    prepare_params,
    split_features,
    stack,
    to_numpy,
    transpose01,
    zeros,
)
from . import _kernels, _panels
from ._blas import blas_threads, max_threads, single_threaded
from ._rows import diagonal_weight_grad
from ._stepper import make_stepper
from ._threads import in_threads, row_chunks, step_shares, workspaces
from ._warmup import warmup

__all__ = [
    "add", "asarray", "backward", "concat_features", "forward", "is_device_array", "make_stepper",
    "multiply", "prepare_params", "split_features", "stack", "to_numpy", "transpose01", "warmup",
    "zeros",
]


#: Recurrent work (FLOPs of all per-step products of a call) from which the
#: batch is split between threads (as many as BLAS may use): below it, the
#: hand-off costs more than it saves.
MIN_SPLIT_FLOPS = 2e7

class _Tape:
    """What backward needs of one forward call (see :func:`forward`).

    ``x`` is the caller's input array (not copied: backends never modify
    their inputs, and the layer keeps it unchanged until backward);
    ``gates`` (the gate values), ``hprev``, ``cprev`` (h_{t-1}, c_{t-1}),
    ``taped`` (the cell's extra values) and ``hraw`` (unprojected states,
    with a projection) are owned by the tape and only read by backward, so
    backward may run more than once; ``masks`` are the regularisers' arrays.
    """

    __slots__ = ("x", "lengths", "full", "order", "reverse", "gates", "hprev", "cprev",
                 "taped", "hraw", "masks")

    def __init__(self, x, lengths, full, order, reverse, gates, hprev, cprev, taped, hraw,
                 masks):
        self.masks = masks
        self.x = x
        self.lengths = lengths
        self.full = full
        self.order = order
        self.reverse = reverse
        self.gates = gates
        self.hprev = hprev
        self.cprev = cprev
        self.taped = taped
        self.hraw = hraw


def _contiguous(a):
    """``a`` if C- or F-contiguous (the layers' weights are F-contiguous: no copy on every
    call), else a C-contiguous copy: the loops' products need one or the other."""
    flags = a.flags
    return a if flags.c_contiguous or flags.f_contiguous else np.ascontiguousarray(a)


def _lengths_and_order(lengths, T, B):
    """int64 lengths (all T when None) and the sequences by decreasing length."""
    if lengths is None:
        return np.full(B, T, np.int64), np.arange(B, dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    # Stable, so equal lengths keep their order: deterministic row layout.
    return lengths, np.argsort(-lengths, kind="stable").astype(np.int64)


@functools.lru_cache(maxsize=256)
def _empty(shape, dtype):
    """A size-0 array of ``shape``: the stand-in for an array that a call leaves off (a tape
    not recorded, the state of a cell without one, a regulariser's workspace).  Never
    written, so one serves every call (0.1 us, against 0.15-0.2 to make one, several times
    per call)."""
    return np.empty(shape, dtype)


def _batch_parts(lengths, order, flops):
    """The sequences each thread runs: ``order`` split, or whole.

    Sequences are independent, so shares of a batch can run their whole
    recurrence in separate threads with no synchronisation per step (a
    per-step product on two BLAS threads synchronises twice per step).
    Equal lengths: consecutive runs (their rows stay contiguous); else
    round robin over the length order, which balances the work.
    """
    B = order.shape[0]
    if B < 2 or flops < MIN_SPLIT_FLOPS:
        return [order]
    n = min(B, max_threads())
    if n < 2:
        return [order]
    if lengths[order[0]] == lengths[order[-1]]:
        return np.array_split(order, n)
    return [order[i::n] for i in range(n)]


def _row_inputs(cell, params, dtype):
    """The biases, their sum and the cell's per-unit parameters (size 0 without), as the
    loops take them."""
    b_ih, b_hh = params["bias_ih"], params["bias_hh"]
    units = params[cell.unit_role] if cell.unit_role else _empty((0,), dtype)
    return b_ih, b_hh, b_ih + b_hh, units


@functools.lru_cache(maxsize=8)
def _no_masks(dtype):
    """The (rec_mask, zone_h, zone_c) of a call without regularisers: size 0."""
    return _empty((0, 0), dtype), _empty((0, 0, 0), dtype), _empty((0, 0, 0), dtype)


def _mask_arrays(masks, dtype):
    """The loops' (rec_mask, zone_h, zone_c): C-contiguous arrays, size 0 where off."""
    if masks is None:
        return _no_masks(dtype)
    rec_mask, zone_h, zone_c = masks
    return (_empty((0, 0), dtype) if rec_mask is None else np.ascontiguousarray(rec_mask, dtype),
            _empty((0, 0, 0), dtype) if zone_h is None else np.ascontiguousarray(zone_h, dtype),
            _empty((0, 0, 0), dtype) if zone_c is None else np.ascontiguousarray(zone_c, dtype))


#: The per-step products run on packed weights (:mod:`._panels`) when the
#: rows of a thread's share are at least this many and the product's inner
#: size at least :data:`PANEL_MIN_K`; below, OpenBLAS was as fast or faster.
PANEL_MIN_ROWS = 8
PANEL_MIN_K = 32

#: The input projection runs in the steps' products (see :func:`forward`) when its output
#: would take at least this many bytes: below, it stays in the caches, and one GEMM ahead
#: of the loop was as fast or faster (the RNN at (1000, 8, 16, 32): 0.45 ms against
#: 0.47-0.55 ms in the steps).
FUSE_MIN_BYTES = 2**20

#: Backward multiplies dGᵀ by [X, H_prev] (copied side by side) in one product, not by X
#: and H_prev in two, when a thread's share has at least this many rows: one product of
#: I + P columns ran 8-10% faster than two of I and P at 1600 rows (I, P, G·H = 32, 128,
#: 512; one thread), and the copy cost more than it saved at 100.
JOINT_MIN_ROWS = 256

#: Backward copies an F-contiguous W_hh to C order for its per-step BLAS products when
#: the sequences have at least this many steps.
BLAS_COPY_MIN_STEPS = 8


def _packed(w, rows, name):
    """``w`` (K, N) packed into panels for shares of ``rows`` rows, or size 0: use BLAS.

    The panel kernel is compiled (or loaded from Numba's cache) by the first call that
    uses it, before the loops that call it; until then calls run loops that cannot
    (:func:`_loops`), so small problems never wait for its compilation.
    """
    if w.ndim != 2 or rows < PANEL_MIN_ROWS or w.shape[0] < PANEL_MIN_K:  # (a diagonal W_hh: 1-D)
        return _empty((0, 0, 0), w.dtype)
    K, N = w.shape
    _panels.compile_kernels(w.dtype)
    panels = workspaces.get(name, (-(-N // _panels.NR), K, _panels.NR), w.dtype)
    _panels.pack(w, panels)
    return panels


def _loops(cell, dtype, regularisers, fused=False):
    """The cell's time loops: those with the panel product once its kernel is compiled, and
    those that apply recurrent dropout and zoneout only where a mask is given; and whether
    they are those (``packed``, ``regularised``).  With ``fused``, the forward loop runs the
    input projection in the steps' products.

    A loop made without a feature takes None for that feature's arrays (the panels and
    their workspace, the masks and theirs, the projection's): fewer arrays to convert at
    each call, and a shorter argument-unpacking wrapper to compile (0.15 s per loop).
    """
    rec_mask, zone_h, _ = regularisers
    packed, regularised = _panels.compiled(dtype), bool(rec_mask.size or zone_h.size)
    return (*_kernels.loops(cell, packed, regularised, fused), packed, regularised)


def _product_input(workspaces, name, n, width, dtype, panels):
    """Workspace (rows, width) for the n rows of a per-step product's input: the panel
    product reads (and drops) rows_padded(n) rows, the rows past n zero."""
    rows = _panels.rows_padded(n) if panels.size else n
    a = workspaces.get(name, (rows, width), dtype)
    if rows > n:
        a[n:] = 0
    return a


def _tail(dtype):
    """The edge-tile workspace of the panel product, of the calling thread."""
    return workspaces.get("tail", (_panels.MR, _panels.NR), dtype)


def forward(spec, params, x, h0, c0, lengths, reverse, need_tape, masks=None):
    """Run one layer-direction over a batch of sequences.

    See :mod:`numrnn.backends` for the parameters and the returned
    ``(output, h_n, c_n, tape)``.
    """
    T, B, I = x.shape
    dtype = x.dtype
    cell = spec.cell
    H = spec.hidden_size
    GH = cell.n_gates * H
    P = h0.shape[1]
    C = H if cell.has_cell_state else 0
    E = cell.taped * H
    full = lengths is None
    lengths, order = _lengths_and_order(lengths, T, B)
    reverse = bool(reverse)

    xw = np.empty((T, B, GH), dtype) if need_tape else workspaces.get("xw", (T, B, GH), dtype)
    x_rows, xw_rows, w_ih_t = x.reshape(T * B, I), xw.reshape(T * B, GH), params["weight_ih"].T
    step_flops = 2.0 * B * P * GH
    parts = _batch_parts(lengths, order, T * step_flops)

    out = np.empty((T, B, P), dtype)
    h_n = np.empty((B, P), dtype)
    c_n = np.empty((B, C), dtype)
    c0 = _empty((B, 0), dtype) if c0 is None else c0
    w_hh_t = np.ascontiguousarray(params["weight_hh"].T)
    w_hr_t = np.ascontiguousarray(params.get("weight_hr", _empty((0, 0), dtype)).T)
    proj = w_hr_t.size > 0
    if need_tape:
        hprev, cprev = np.empty((T, B, P), dtype), np.empty((T, B, C), dtype)
        taped = np.empty((T, B, E), dtype)
        hraw_tape = np.empty((T, B, H), dtype) if proj else _empty((0, 0, 0), dtype)
    else:
        hprev = cprev = taped = hraw_tape = _empty((0, 0, 0), dtype)
    rec_mask, zone_h, zone_c = regularisers = _mask_arrays(masks, dtype)
    b_ih, b_hh, bias, units = _row_inputs(cell, params, dtype)
    relu = int(cell.relu)
    # The cells whose gates take the sum of the input and hidden parts multiply [x_t, h_{t-1}]
    # by [W_ih; W_hh]ᵀ at each step, on the panels: no (T, B, G·H) projection to write
    # and read back, and one product of I + P rows instead of two.
    rows = max(len(part) for part in parts)
    fuse = (not (cell.split_grad or cell.diagonal) and rows >= PANEL_MIN_ROWS
            and T * B * GH * x.itemsize >= FUSE_MIN_BYTES)
    panels = _packed(np.concatenate([w_ih_t, w_hh_t]) if fuse else w_hh_t, rows, "panels_f")
    fused = fuse and panels.size > 0  # (where [W_ih; W_hh] has too few rows, W_hh has too)
    x_in = np.ascontiguousarray(x) if fused else None
    loop, _, packed, regularised = _loops(cell, dtype, regularisers, fused)

    def run(part):
        n = part.shape[0]
        hs = _product_input(workspaces, "hs", n, P, dtype, panels)
        masks = spaces = (None, None, None)
        if regularised:
            hm = hz = cz = _empty((0, 0), dtype)
            if rec_mask.size:
                hm = _product_input(workspaces, "hm", n, P, dtype, panels)
            if zone_h.size:
                hz, cz = workspaces.get("hz", (n, P), dtype), workspaces.get("cz", (n, C), dtype)
            masks, spaces = regularisers, (hm, hz, cz)
        tail = (_tail(dtype) if panels.size else _empty((0, 0), dtype)) if packed else None
        loop(
            xw, b_ih, b_hh, bias, units, w_hh_t, panels if packed else None,
            w_hr_t if cell.projection else None, h0, c0, lengths, part, reverse, relu, *masks,
            out, h_n, c_n, hprev, cprev, taped, hraw_tape if cell.projection else None, hs,
            workspaces.get("cs", (n, C), dtype) if C else _empty((n, 0), dtype),
            workspaces.get("hh", (n, GH), dtype),
            workspaces.get("hraw", (n, H), dtype) if proj else hs,
            workspaces.get("tw", (n, E), dtype) if E else _empty((n, 0), dtype), *spaces, tail,
            *((x_in, _product_input(workspaces, "xh", n, I + P, dtype, panels)) if fused
              else (None, None)),
        )  # fmt: skip

    # The input projection: one GEMM over the steps that every sequence runs; after
    # them, when padding is an eighth of the rows or more, only the running sequences' rows.
    steps = T if (T * B - int(lengths.sum())) * 8 < T * B else int(lengths[order[-1]])
    running = [] if fused else step_shares(lengths, steps, T, len(parts))
    panels_ih = _packed(w_ih_t, B, "panels_ih") if running else _empty((0, 0, 0), dtype)

    def project(share):
        a, b = row_chunks(steps * B, len(parts))[share]
        _kernels.gemm(x_rows[a:b], w_ih_t, xw_rows[a:b])
        if running:
            _kernels.running_products(
                x, w_ih_t, panels_ih if panels_ih.size else None, lengths, order,
                *running[share], xw, _product_input(workspaces, "xa", B, I, dtype, panels_ih),
                workspaces.get("xy", (B, GH), dtype), _tail(dtype),
            )  # fmt: skip

    if len(parts) == 1:
        if not fused:
            with blas_threads(2.0 * T * B * I * GH):
                project(0)
        with blas_threads(step_flops):
            run(order)
    else:
        with single_threaded():
            if not fused:
                in_threads([partial(project, i) for i in range(len(parts))])
            in_threads([partial(run, part) for part in parts])
    tape = None
    if need_tape:
        full = full or bool(lengths.min() == T)
        tape = _Tape(x, lengths, full, order, reverse, xw, hprev, cprev, taped, hraw_tape,
                     regularisers)
    return out, h_n, (c_n if cell.has_cell_state else None), tape


def backward(spec, params, tape, grad_output, grad_h_n, grad_c_n, input_grad=True):
    """Backpropagation through time for the forward call of ``tape``.

    See :mod:`numrnn.backends` for the parameters and the returned
    ``(grad_x, grad_h0, grad_c0, grads)``.
    """
    x = tape.x
    T, B, I = x.shape
    dtype = x.dtype
    cell = spec.cell
    H = spec.hidden_size
    GH = cell.n_gates * H
    P = tape.hprev.shape[2]
    C = H if cell.has_cell_state else 0
    lengths, order, reverse = tape.lengths, tape.order, tape.reverse
    w_hh = _contiguous(params["weight_hh"])
    w_ih = _contiguous(params["weight_ih"])
    dgates = workspaces.get("dgates", (T, B, GH), dtype)
    dh0 = np.empty((B, P), dtype)
    dc0 = np.empty((B, C), dtype) if C else _empty((B, 0), dtype)
    grad_c_n = _empty((B, 0), dtype) if grad_c_n is None else grad_c_n
    w_hr = np.ascontiguousarray(params.get("weight_hr", _empty((0, 0), dtype)))
    proj = w_hr.size > 0
    dhtot = workspaces.get("dhtot", (T, B, P), dtype) if proj else _empty((0, 0, 0), dtype)
    split = cell.split_grad
    dgates_h = workspaces.get("dgates_h", (T, B, GH), dtype) if split else dgates
    K = cell.unit_width
    dunits = np.empty((T, B, K * H), dtype) if K else _empty((T, B, 0), dtype)
    b_ih, b_hh, bias, units = _row_inputs(cell, params, dtype)
    relu = int(cell.relu)
    direct = H if cell.direct_grad else 0
    rec_mask, zone_h, zone_c = tape.masks
    zoneout = zone_h.size > 0
    step_flops = 2.0 * B * P * GH
    parts = _batch_parts(lengths, order, T * step_flops)
    panels = _packed(w_hh, max(len(part) for part in parts), "panels_b")
    if not panels.size and T >= BLAS_COPY_MIN_STEPS:
        # The per-step products through BLAS read W_hh C-contiguous: on the layers'
        # F-contiguous weights (the transposed product) each step took 0.1 us longer
        # (H = 64), more over T steps than the copy costs once.
        w_hh = np.ascontiguousarray(w_hh)
    _, loop, packed, regularised = _loops(cell, dtype, tape.masks)

    def run(part):
        n = part.shape[0]
        dhs = workspaces.get("dhs", (n, P), dtype)
        dgw = _product_input(workspaces, "dgw", n, GH, dtype, panels)
        masks = spaces = (None, None, None)
        if regularised:
            spaces = (_empty((0, 0), dtype),) * 2 + (_empty((0,), dtype),)
            if zoneout:
                spaces = (workspaces.get("zd", (n, P), dtype),
                          workspaces.get("zcd", (n, C), dtype), np.zeros(H, dtype))
            masks = tape.masks
        tail = (_tail(dtype) if panels.size else _empty((0, 0), dtype)) if packed else None
        loop(
            tape.gates, tape.taped, tape.hprev, tape.cprev, b_ih, b_hh, bias, units, w_hh,
            panels if packed else None, w_hr if cell.projection else None, grad_output,
            grad_h_n, grad_c_n, lengths, part, reverse, relu, *masks, dgates, dgates_h, dunits,
            dh0, dc0, dhtot if cell.projection else None, dhs,
            workspaces.get("dcs", (n, C), dtype) if C else _empty((n, 0), dtype), dgw,
            workspaces.get("dhraw", (n, H), dtype) if proj else dhs,
            np.zeros((n, H), dtype) if proj else
            workspaces.get("dhd", (n, direct), dtype) if direct else _empty((n, 0), dtype),
            *spaces, tail,
        )  # fmt: skip

    if len(parts) == 1:
        with blas_threads(step_flops):
            run(order)
    else:
        with single_threaded():
            in_threads([partial(run, part) for part in parts])

    rows = T * B
    dg = dgates.reshape(rows, GH)
    # Gradient of the hidden parts h W_hhᵀ + b_hh: the same as of the input
    # parts unless the cell's split_grad (the GRU's candidate gate).
    dg_h = dgates_h.reshape(rows, GH)
    hprev = tape.hprev.reshape(rows, P)
    if rec_mask.size and not cell.diagonal:  # recurrent dropout: the product read rec_mask * h_prev
        hprev = (tape.hprev * rec_mask).reshape(rows, P)
    if not tape.full:
        # dG is zero at padded steps, but 0 * NaN is not: padding the
        # caller filled with NaN or inf must not reach dW_ih.
        x = workspaces.get("x_valid", x.shape, dtype)
        np.copyto(x, tape.x)
        _kernels.zero_padding(x, lengths, order)
    grad_x = np.empty((T, B, I), dtype) if input_grad else None
    x_rows = x.reshape(rows, I)
    # Weight gradients: sums over all rows, so a split call sums the partial
    # products of its row chunks (in a fixed order: still reproducible).  Where the input
    # and hidden parts share dG, dW_ih and dW_hh are one product dGᵀ [X, H_prev] (from
    # JOINT_MIN_ROWS rows a thread).
    chunks = row_chunks(rows, len(parts))
    joint = not (split or cell.diagonal) and rows // len(chunks) >= JOINT_MIN_ROWS
    products = [] if joint else [("weight_ih", dg, x_rows)]
    if not (joint or cell.diagonal):
        products.append(("weight_hh", dg_h, hprev))
    if proj:
        products.append(("weight_hr", dhtot.reshape(rows, P), tape.hraw.reshape(rows, H)))

    def gradients(a, b):
        if input_grad:
            _kernels.gemm(dg[a:b], w_ih, grad_x.reshape(rows, I)[a:b])
        sums = {}
        if joint:
            xh = workspaces.get("xh_rows", (b - a, I + P), dtype)
            xh[:, :I] = x_rows[a:b]
            xh[:, I:] = hprev[a:b]
            both = np.empty((GH, I + P), dtype)
            _kernels.gemm(dg[a:b].T, xh, both)
            sums["weight_ih"], sums["weight_hh"] = both[:, :I].copy(), both[:, I:].copy()
        for name, left, right in products:
            sums[name] = np.empty((left.shape[1], right.shape[1]), dtype)
            _kernels.gemm(left[a:b].T, right[a:b], sums[name])
        sums["bias_ih"] = dg[a:b].sum(axis=0)
        if split:
            sums["bias_hh"] = dg_h[a:b].sum(axis=0)
        return sums

    if len(parts) == 1:
        with blas_threads(2.0 * rows * min(I, P) * GH):
            grads = gradients(0, rows)
    else:
        sums = [None] * len(chunks)

        def task(i):
            sums[i] = gradients(*chunks[i])

        with single_threaded():
            in_threads([partial(task, i) for i in range(len(chunks))])
        grads = sums[0]
        for more in sums[1:]:
            for name in grads:
                grads[name] += more[name]
    if not split:
        grads["bias_hh"] = grads["bias_ih"].copy()
    if cell.diagonal:
        grads["weight_hh"] = np.empty(GH, dtype)
        diagonal_weight_grad(dgates_h, tape.hprev, rec_mask, grads["weight_hh"])
    if cell.unit_role:
        grads[cell.unit_role] = dunits.reshape(rows, -1).sum(axis=0)
    return grad_x, dh0, (dc0 if cell.has_cell_state else None), grads

