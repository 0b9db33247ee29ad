"""The recurrence kernels of the CUDA backend (the whole-array ones, the matrix product
among them, are in :mod:`._array_kernels`; see ``docs/cuda.rst`` for the choice and its
bounds):

* the recurrence -- one step of a cell is split into *phases*, each a device
  function over "items" (a batch row and a hidden unit).  Between phases
  every item must see the others' results.  ``forward_recurrence`` /
  ``backward_recurrence`` either loop over all time steps in one launch
  (persistent: a block owns a tile of batch rows and every hidden unit of
  them, so ``syncthreads`` separates the phases) or run one phase of one step
  over the whole grid (the kernel boundary separates the phases).
* gathers of final and previous states, and the zeroing of padded steps.

Every kernel loops over its work with the grid's stride, so any launch size
is correct: the host caps the grid (and Numba's simulator, one Python thread
per CUDA thread, can run with few threads).

The recurrence is written once, as skeletons, and compiled per cell by
:func:`recurrence` (the pattern of the ``"cpu"`` backend's time loops): the
cell's per-unit device functions (``unit_forward``, ``unit_backward``, found
through :meth:`numrnn._cells.Cell.functions`; the built-in ones are in
:mod:`numrnn.backends.gates`, shared with the ``"cpu"`` backend) and its flags
are globals of each specialisation, so no cell code is tested at run time and
a new cell adds no branch here.

Layouts: ``xp`` (T, B, G*H) holds W_ih x + b_ih; ``output`` (T, B, H_out)
the hidden states (zero at padded steps), which also serve as the previous
hidden state of the next step.  Tape arrays: ``gates`` (T, B, (G + E)*H), the
values the cell's unit functions keep (E = ``Cell.taped``; an LSTM's i, f, g,
o, tanh c); ``cells`` (T, B, H) the cell states of a cell with two states;
``proj_in`` (T, B, H) the hidden state before a projection; ``dunits`` (T,
B, K*H) the contributions of each step to the gradient of the cell's per-unit
parameters (K = ``Cell.unit_width``).  Arrays a cell does not use are passed as
one-element dummies and never touched.
"""

from collections import namedtuple

from numba import cuda
from numba.core import config

from numrnn.backends.cpu._jit import specialise
from numrnn.backends.cuda._array_kernels import _index3

#: Most gates a cell may have on this backend (the hidden parts of a unit are
#: computed in registers, one variable per gate).
MAX_GATES = 4


@cuda.jit
def gather_last(reverse, lengths, seq, out):
    """out[b, k] = seq[t_last(b), b, k]: the state after each row's last step.

    The last processed step is t = lengths[b] - 1 forwards and t = 0 in
    reverse.
    """
    width = out.shape[1]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        b = i // width
        k = i - b * width
        t = 0 if reverse else lengths[b] - 1
        out[b, k] = seq[t, b, k]


@cuda.jit
def gather_previous(reverse, lengths, h0, output, h_prev):
    """h_prev[t, b] = the hidden state that entered step t of row b.

    That is h0 at a row's first step, the output of the step before
    otherwise, and 0 at padded steps (their gradients are 0 anyway).  Rows of
    it are the right operand of the W_hh gradient product.
    """
    for i in range(cuda.grid(1), h_prev.size, cuda.gridsize(1)):
        t, b, k = _index3(i, h_prev.shape)
        length = lengths[b]
        if t >= length:
            h_prev[t, b, k] = 0
        elif t == (length - 1 if reverse else 0):
            h_prev[t, b, k] = h0[b, k]
        else:
            h_prev[t, b, k] = output[t + 1 if reverse else t - 1, b, k]


@cuda.jit
def zero_padding(lengths, seq):
    """seq[t, b, :] = 0 where t >= lengths[b].

    Applied to the taped input: its rows are the right operand of the W_ih
    gradient product, where a padded NaN would survive 0 * NaN.
    """
    for i in range(cuda.grid(1), seq.size, cuda.gridsize(1)):
        t, b, k = _index3(i, seq.shape)
        if t >= lengths[b]:
            seq[t, b, k] = 0


@cuda.jit
def scale_rows(scale, seq):
    """seq[t, b, k] *= scale[b, k] (recurrent dropout's mask on the previous states)."""
    for i in range(cuda.grid(1), seq.size, cuda.gridsize(1)):
        t, b, k = _index3(i, seq.shape)
        seq[t, b, k] *= scale[b, k]


@cuda.jit
def diagonal_products(dgh, h_prev, out):
    """out[t, b, g*H + k] = dgh[t, b, g*H + k] * h_prev[t, b, k].

    Summed over the rows, the gradient of a diagonal (vector) W_hh.
    """
    hidden = h_prev.shape[2]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        t, b, r = _index3(i, out.shape)
        out[t, b, r] = dgh[t, b, r] * h_prev[t, b, r % hidden]


# --------------------------------------------------------------------------
# Recurrence: phase functions
# --------------------------------------------------------------------------


@cuda.jit(device=True)
def _time_of_step(s, length, reverse):
    """Time index of step s of a row with ``length`` valid steps."""
    return length - 1 - s if reverse else s


@cuda.jit(device=True)
def _row_and_unit(item, row0, row1):
    """(batch row, unit) of an item; the batch row varies fastest.

    So the threads of a warp share units, and one read of a weight serves
    several batch rows (it is broadcast across the warp): the weights are
    read from memory once per warp-full of rows instead of once per row.
    """
    rows = row1 - row0
    return row0 + item % rows, item // rows


@cuda.jit(device=True)
def _step_item(item, row0, row1, s, lengths, reverse):
    """(b, j, t): the batch row and unit of an item, and the time of step s of that row
    (-1 when the row has no step s)."""
    b, j = _row_and_unit(item, row0, row1)
    length = lengths[b]
    return b, j, _time_of_step(s, length, reverse) if s < length else -1


@cuda.jit(device=True)
def _dot_column(w_t, col, h, b):
    """sum_k w_t[k, col] * h[b, k]: entry ``col`` of W h[b], given W.T.

    The projections use it: W_hr (o tanh c) forwards from W_hr.T, and
    W_hr.T dy backwards from W_hr.  Threads of a warp that differ in ``col``
    take consecutive ones, so the weight reads coalesce.
    """
    acc = w_t.dtype.type(0)
    for k in range(w_t.shape[0]):
        acc += w_t[k, col] * h[b, k]
    return acc


@cuda.jit(device=True)
def _hidden_parts(w_hh_t, b_hh, j, hidden, ngates, h, b, rec_mask, masked):
    """W_h* h[b] + b_h* at unit j of the first ``ngates`` gates (the rest 0).

    One pass over h[b] for all gates: each h value loaded serves every gate.
    ``masked`` (recurrent dropout): the product reads rec_mask[b] * h[b].
    """
    zero = b_hh.dtype.type(0)
    p0 = b_hh[j]
    p1 = b_hh[hidden + j] if ngates > 1 else zero
    p2 = b_hh[2 * hidden + j] if ngates > 2 else zero
    p3 = b_hh[3 * hidden + j] if ngates > 3 else zero
    for k in range(w_hh_t.shape[0]):
        hk = h[b, k] * rec_mask[b, k] if masked else h[b, k]
        p0 += w_hh_t[k, j] * hk
        if ngates > 1:
            p1 += w_hh_t[k, hidden + j] * hk
        if ngates > 2:
            p2 += w_hh_t[k, 2 * hidden + j] * hk
        if ngates > 3:
            p3 += w_hh_t[k, 3 * hidden + j] * hk
    return p0, p1, p2, p3


@cuda.jit(device=True)
def _diagonal_parts(w_hh, b_hh, j, hidden, ngates, h_j):
    """w_h* ⊙ h + b_h* at unit j of the first ``ngates`` gates, for a vector W_hh."""
    zero = b_hh.dtype.type(0)
    p0 = w_hh[j] * h_j + b_hh[j]
    p1 = w_hh[hidden + j] * h_j + b_hh[hidden + j] if ngates > 1 else zero
    p2 = w_hh[2 * hidden + j] * h_j + b_hh[2 * hidden + j] if ngates > 2 else zero
    p3 = w_hh[3 * hidden + j] * h_j + b_hh[3 * hidden + j] if ngates > 3 else zero
    return p0, p1, p2, p3


def _forward_cells(
    fast, relu, hidden, projected, reverse, keep_gates, masked, zoned, s, row0, row1, first,
    stride, xp, w_hh_t, b_hh, units, rec_mask, zone_h, zone_c, h0, c0, lengths, output, gates,
    cells, proj_in,
):  # fmt: skip
    """Phase 1 of forward step s: gates and new state of items (b, j).

    Items are rows row0..row1-1 times the ``hidden`` units, taken from
    ``first`` with ``stride``.  Rows with lengths[b] <= s are done.
    ``UNIT_FORWARD``, ``N_GATES``, ``TWO_STATES`` and ``DIAGONAL`` are
    globals of each specialisation (see :func:`recurrence`).  ``masked``:
    recurrent dropout (``rec_mask``); ``zoned``: zoneout (``zone_h``, ``zone_c``;
    a projected h is zoned out in phase 2).
    """
    zero = xp.dtype.type(0)
    for item in range(first, (row1 - row0) * hidden, stride):
        b, j, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        t_prev = t + 1 if reverse else t - 1
        h_prev = h0 if s == 0 else output[t_prev]
        # A projected state has P < H entries: cells with a projection do not read h_prev[j].
        h_j = zero if projected else h_prev[b, j]
        if DIAGONAL:  # noqa: F821 (a global of each specialisation)
            h_in = h_j * rec_mask[b, j] if masked else h_j
            p0, p1, p2, p3 = _diagonal_parts(w_hh_t, b_hh, j, hidden, N_GATES, h_in)  # noqa: F821
        else:
            p0, p1, p2, p3 = _hidden_parts(w_hh_t, b_hh, j, hidden, N_GATES, h_prev, b,  # noqa: F821
                                           rec_mask, masked)  # fmt: skip
        c_prev = zero
        if TWO_STATES:  # noqa: F821
            c_prev = c0[b, j] if s == 0 else cells[t_prev, b, j]
        h_raw, c = UNIT_FORWARD(  # noqa: F821
            xp, gates, t, b, j, hidden, p0, p1, p2, p3, h_j, c_prev, units, relu, fast,
            keep_gates,
        )  # fmt: skip
        if TWO_STATES:  # noqa: F821
            if zoned:
                c += zone_c[t, b, j] * (c_prev - c)
            cells[t, b, j] = c
        if projected:
            proj_in[t, b, j] = h_raw
        else:
            if zoned:
                h_raw += zone_h[t, b, j] * (h_j - h_raw)
            output[t, b, j] = h_raw


@cuda.jit(device=True)
def _forward_projection(s, reverse, zoned, row0, row1, first, stride, w_hr_t, zone_h, h0,
                        lengths, proj_in, output):
    """Phase 2 of a forward step with projection: h = W_hr h_raw (zoned out where ``zoned``)."""
    width = output.shape[2]
    for item in range(first, (row1 - row0) * width, stride):
        b, p, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        h = _dot_column(w_hr_t, p, proj_in[t], b)
        if zoned:
            h_prev = h0[b, p] if s == 0 else output[t + 1 if reverse else t - 1, b, p]
            h += zone_h[t, b, p] * (h_prev - h)
        output[t, b, p] = h


@cuda.jit(device=True)
def _backward_output_grads(
    s, reverse, zoned, row0, row1, first, stride, lengths, zone_h, grad_output, dh_carry,
    dz_carry, dy,
):  # fmt: skip
    """Backward phase 1: dy[t, b] = grad_output[t, b] + the gradient from step s+1.

    ``dh_carry`` holds grad_h_n until a row's last step, then the gradient
    that flowed back from the step after.  With zoneout (``zoned``) the part
    z dy goes to h_{t-1} directly (``dz_carry``), dy keeps (1 - z) dy.
    """
    width = dy.shape[2]
    for item in range(first, (row1 - row0) * width, stride):
        b, k, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        d = grad_output[t, b, k] + dh_carry[b, k]
        if zoned:
            dz = zone_h[t, b, k] * d
            dz_carry[b, k] = dz
            d -= dz
        dy[t, b, k] = d


def _backward_cells(
    relu, hidden, projected, reverse, zoned, s, row0, row1, first, stride,
    w_hr, units, zone_c, h0, c0, lengths, output, gates, cells, dy, dgx, dgh, dunits, dh_carry,
    dc_carry,
):  # fmt: skip
    """Backward phase 2: gradients of the pre-activations of items (b, j).

    ``dgx`` receives the gradients w.r.t. the input parts (W_ih x + b_ih),
    ``dgh`` w.r.t. the hidden parts (W_hh h + b_hh); they are one array
    unless the cell's ``split_grad``.  A cell's direct part of dL/dh_prev (not
    through W_hh; ``direct_grad``) goes into ``dh_carry`` (phase 1 has
    consumed it), dL/dc_prev into ``dc_carry``.  ``UNIT_BACKWARD``,
    ``TWO_STATES`` and ``DIRECT_GRAD`` are globals of each specialisation.
    """
    for item in range(first, (row1 - row0) * hidden, stride):
        b, j, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        zero = dy.dtype.type(0)
        t_prev = t + 1 if reverse else t - 1
        if projected:
            dh = _dot_column(w_hr, j, dy[t], b)
            h_j = zero
        else:
            dh = dy[t, b, j]
            h_j = h0[b, j] if s == 0 else output[t_prev, b, j]
        c_prev = zero
        dc = zero
        dc_zoned = zero
        if TWO_STATES:  # noqa: F821
            c_prev = c0[b, j] if s == 0 else cells[t_prev, b, j]
            dc = dc_carry[b, j]
            if zoned:  # z dc goes to c_{t-1} directly
                dc_zoned = zone_c[t, b, j] * dc
                dc -= dc_zoned
        dh_direct, dc_prev = UNIT_BACKWARD(  # noqa: F821
            gates, dgx, dgh, dunits, t, b, j, hidden, h_j, c_prev, dh, dc, units, relu
        )
        if DIRECT_GRAD:  # noqa: F821
            dh_carry[b, j] = dh_direct
        if TWO_STATES:  # noqa: F821
            dc_carry[b, j] = dc_prev + dc_zoned


def _backward_hidden(reverse, masked, zoned, s, row0, row1, first, stride, w_hh, rec_mask,
                     lengths, dgh, dh_carry, dz_carry):
    """Backward phase 3: dL/dh_prev = W_hh.T dgh (+ the cell's direct part).

    Threads of a warp that differ in k take consecutive ones, so reading
    W_hh[r, k] coalesces without a transposed copy.  A diagonal (vector)
    W_hh gives sum_g w_hh[g*H + k] dgh[g*H + k].  Recurrent dropout
    (``masked``) multiplies the product's part by rec_mask[b]; zoneout
    (``zoned``) adds the part that went to h_{t-1} directly.
    """
    width = dh_carry.shape[1]
    for item in range(first, (row1 - row0) * width, stride):
        b, k, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        acc = dh_carry.dtype.type(0)
        if DIAGONAL:  # noqa: F821
            for g in range(N_GATES):  # noqa: F821
                acc += w_hh[g * width + k] * dgh[t, b, g * width + k]
        else:
            for r in range(w_hh.shape[0]):
                acc += w_hh[r, k] * dgh[t, b, r]
        if masked:
            acc *= rec_mask[b, k]
        if DIRECT_GRAD:  # noqa: F821
            acc += dh_carry[b, k]
        if zoned:
            acc += dz_carry[b, k]
        dh_carry[b, k] = acc


# --------------------------------------------------------------------------
# Recurrence: kernels
# --------------------------------------------------------------------------


@cuda.jit(device=True)
def _work(persistent, rows_per_block, batch):
    """(row0, row1, first, stride): the items this thread takes (see the kernels below)."""
    if persistent:
        row0 = cuda.blockIdx.x * rows_per_block
        return row0, min(row0 + rows_per_block, batch), cuda.threadIdx.x, cuda.blockDim.x
    return 0, batch, cuda.grid(1), cuda.gridsize(1)


def _forward_recurrence(
    persistent, phase, s_first, nsteps, rows_per_block,
    fast, relu, hidden, projected, reverse, keep_gates, masked, zoned,
    xp, w_hh_t, b_hh, units, w_hr_t, rec_mask, zone_h, zone_c, h0, c0, lengths, output, gates,
    cells, proj_in,
):  # fmt: skip
    """Forward steps ``s_first`` .. ``s_first + nsteps - 1``.

    ``persistent``: every step in one launch; block k owns rows [k*rows_per_block,
    (k+1)*rows_per_block), and ``syncthreads`` separates the phases.  Otherwise one
    ``phase`` (0: the cells, 1: the projection) of one step over the whole grid: the kernel
    boundary separates the phases.  ``_forward_cells`` is the cell's specialisation.
    """
    row0, row1, first, stride = _work(persistent, rows_per_block, lengths.size)
    for s in range(s_first, s_first + nsteps):
        if persistent or phase == 0:
            _forward_cells(
                fast, relu, hidden, projected, reverse, keep_gates, masked, zoned, s, row0,
                row1, first, stride, xp, w_hh_t, b_hh, units, rec_mask, zone_h, zone_c, h0, c0,
                lengths, output, gates, cells, proj_in,
            )  # fmt: skip
        if persistent:
            cuda.syncthreads()
        if projected and (persistent or phase == 1):
            _forward_projection(s, reverse, zoned, row0, row1, first, stride, w_hr_t, zone_h, h0,
                                lengths, proj_in, output)  # fmt: skip
            if persistent:
                cuda.syncthreads()


def _backward_recurrence(
    persistent, phase, s_last, nsteps, rows_per_block, relu, hidden, projected, reverse,
    masked, zoned, w_hh, w_hr, units, rec_mask, zone_h, zone_c, h0, c0, lengths, output, gates,
    cells, grad_output, dy, dgx, dgh, dunits, dh_carry, dc_carry, dz_carry,
):  # fmt: skip
    """Backward steps ``s_last`` down to ``s_last - nsteps + 1`` (see forward_recurrence;
    the phases are 0: the output gradients, 1: the cells, 2: the hidden product)."""
    row0, row1, first, stride = _work(persistent, rows_per_block, lengths.size)
    for s in range(s_last, s_last - nsteps, -1):
        if persistent or phase == 0:
            _backward_output_grads(s, reverse, zoned, row0, row1, first, stride, lengths, zone_h,
                                   grad_output, dh_carry, dz_carry, dy)  # fmt: skip
        if persistent:
            cuda.syncthreads()
        if persistent or phase == 1:
            _backward_cells(
                relu, hidden, projected, reverse, zoned, s, row0, row1, first, stride,
                w_hr, units, zone_c, h0, c0, lengths, output, gates, cells, dy, dgx, dgh, dunits,
                dh_carry, dc_carry,
            )  # fmt: skip
        if persistent:
            cuda.syncthreads()
        if persistent or phase == 2:
            _backward_hidden(reverse, masked, zoned, s, row0, row1, first, stride, w_hh,
                             rec_mask, lengths, dgh, dh_carry, dz_carry)  # fmt: skip
        if persistent:
            cuda.syncthreads()


#: A cell's recurrence kernels: ``forward_recurrence`` and ``backward_recurrence``.
Recurrence = namedtuple("Recurrence", ["forward", "backward"])

_RECURRENCES = {}


def _unit_function(cell, kind):
    """The cell's unit function ``kind``, as the kernels call it.

    On a GPU the ``@njit`` function itself (Numba compiles it for the kernel).
    The simulator runs kernels as Python and cannot pass its arrays to
    compiled code: there the function's Python source runs too.
    """
    function = cell.functions(kind)
    return function.py_func if config.ENABLE_CUDASIM else function


def recurrence(cell):
    """The recurrence kernels of a :class:`numrnn._cells.Cell`, compiled for it.

    The phase skeletons above are specialised with the cell's unit functions
    and flags as globals (:func:`numrnn.backends.cpu._jit.specialise`), and
    the kernels with those phases; made once per cell variant (cells that
    share their maths and flags, such as ``"rnn_tanh"`` and ``"rnn_relu"``,
    share their kernels: the ReLU flag is an argument).

    Returns
    -------
    Recurrence
        ``forward(persistent, phase, s_first, nsteps, rows_per_block, fast, relu,
        hidden, projected, reverse, keep_gates, masked, zoned, xp, w_hh_t, b_hh, units,
        w_hr_t, rec_mask, zone_h, zone_c, h0, c0, lengths, output, gates, cells, proj_in)``
        and ``backward(persistent, phase, s_last, nsteps, rows_per_block, relu, hidden,
        projected, reverse, masked, zoned, w_hh, w_hr, units, rec_mask, zone_h, zone_c, h0,
        c0, lengths, output, gates, cells, grad_output, dy, dgx, dgh, dunits, dh_carry,
        dc_carry, dz_carry)``.
    """
    key = cell.kernel_key
    made = _RECURRENCES.get(key)
    if made is None:
        if cell.n_gates > MAX_GATES:
            raise ValueError(
                f"the cuda backend runs cells of at most {MAX_GATES} gates; {cell.name!r} "
                f"has {cell.n_gates}"
            )
        flags = {"N_GATES": cell.n_gates, "TWO_STATES": cell.has_cell_state,
                 "DIAGONAL": cell.diagonal, "DIRECT_GRAD": cell.direct_grad}
        device = cuda.jit(device=True)
        prefix = f"{cell.variant}_"
        units = {"UNIT_FORWARD": _unit_function(cell, "unit_forward"),
                 "UNIT_BACKWARD": _unit_function(cell, "unit_backward")}
        phases = {name: specialise(skeleton, prefix, device, **units, **flags)
                  for name, skeleton in (("_forward_cells", _forward_cells),
                                         ("_backward_cells", _backward_cells),
                                         ("_backward_hidden", _backward_hidden))}  # fmt: skip
        made = _RECURRENCES[key] = Recurrence(
            specialise(_forward_recurrence, prefix, cuda.jit, **phases),
            specialise(_backward_recurrence, prefix, cuda.jit, **phases),
        )
    return made
