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

The gate maths comes from :mod:`numrnn.backends.gates` (shared with the
``"cpu"`` backend); nothing here re-derives it.

Layouts: ``xp`` (T, B, G*H) holds W_ih x + b_ih; ``output`` (T, B, H_out)
the hidden states (zero at padded steps), which also serve as the previous
hidden state of the next step.  Tape arrays: ``gates`` (T, B, 5H) for an LSTM
(i, f, g, o, tanh c) and (T, B, 4H) for a GRU (r, z, n, W_hn h + b_hn);
``cells`` (T, B, H) the LSTM cell states; ``proj_in`` (T, B, H) the LSTM's
o * tanh(c) before the projection.  Arrays a cell does not use are passed as
one-element dummies and never touched.
"""

from numba import cuda

from numrnn._cells import CELLS
from numrnn.backends import gates as gate_math
from numrnn.backends.cuda._array_kernels import _index3

# The cells' codes (numrnn._cells), as globals: compile-time constants in the kernels.
RNN_TANH, RNN_RELU, LSTM, GRU = (CELLS[name].code for name in ("rnn_tanh", "rnn_relu", "lstm",
                                                                 "gru"))


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
def _hidden_parts(w_hh_t, b_hh, j, hidden, ngates, h, b):
    """W_h* h[b] + b_h* at unit j of the first ``ngates`` gates (the rest 0).

    One pass over h[b] for all gates: each h value loaded serves every gate.
    ``ngates`` is 1 (RNN), 3 (GRU) or 4 (LSTM).
    """
    zero = b_hh.dtype.type(0)
    p0 = b_hh[j]
    p1 = b_hh[hidden + j] if ngates > 1 else zero
    p2 = b_hh[2 * hidden + j] if ngates > 1 else zero
    p3 = b_hh[3 * hidden + j] if ngates > 3 else zero
    for k in range(w_hh_t.shape[0]):
        hk = h[b, k]
        p0 += w_hh_t[k, j] * hk
        if ngates > 1:
            p1 += w_hh_t[k, hidden + j] * hk
            p2 += w_hh_t[k, 2 * hidden + j] * hk
        if ngates > 3:
            p3 += w_hh_t[k, 3 * hidden + j] * hk
    return p0, p1, p2, p3


@cuda.jit(device=True)
def _forward_cells(
    kind, fast, hidden, projected, reverse, keep_gates, s, row0, row1, first, stride,
    xp, w_hh_t, b_hh, h0, c0, lengths, output, gates, cells, proj_in,
):  # fmt: skip
    """Phase 1 of forward step s: gates and new state of items (b, j).

    Items are rows row0..row1-1 times the ``hidden`` units, taken from
    ``first`` with ``stride``.  Rows with lengths[b] <= s are done.
    """
    ngates = 4 if kind == LSTM else 3 if kind == GRU else 1
    for item in range(first, (row1 - row0) * hidden, stride):
        b, j, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        t_prev = t + 1 if reverse else t - 1
        h_prev = h0 if s == 0 else output[t_prev]
        # W_h* h_prev + b_h* of each gate (unused ones are 0)
        p0, p1, p2, p3 = _hidden_parts(w_hh_t, b_hh, j, hidden, ngates, h_prev, b)
        if kind == LSTM:
            ai = xp[t, b, j] + p0
            af = xp[t, b, hidden + j] + p1
            ag = xp[t, b, 2 * hidden + j] + p2
            ao = xp[t, b, 3 * hidden + j] + p3
            c_prev = c0[b, j] if s == 0 else cells[t_prev, b, j]
            i, f, g, o, c, tanh_c = gate_math.lstm_gates(ai, af, ag, ao, c_prev, fast)
            cells[t, b, j] = c
            if keep_gates:
                gates[t, b, j] = i
                gates[t, b, hidden + j] = f
                gates[t, b, 2 * hidden + j] = g
                gates[t, b, 3 * hidden + j] = o
                gates[t, b, 4 * hidden + j] = tanh_c
            if projected:
                proj_in[t, b, j] = o * tanh_c
            else:
                output[t, b, j] = o * tanh_c
        elif kind == GRU:
            r, z, n, h = gate_math.gru_gates(
                xp[t, b, j], xp[t, b, hidden + j], xp[t, b, 2 * hidden + j],
                p0, p1, p2, h_prev[b, j], fast,
            )  # fmt: skip
            output[t, b, j] = h
            if keep_gates:
                gates[t, b, j] = r
                gates[t, b, hidden + j] = z
                gates[t, b, 2 * hidden + j] = n
                gates[t, b, 3 * hidden + j] = p2
        else:
            output[t, b, j] = gate_math.rnn_act(xp[t, b, j] + p0, kind == RNN_RELU, fast)


@cuda.jit(device=True)
def _forward_projection(s, reverse, row0, row1, first, stride, w_hr_t, lengths, proj_in, output):
    """Phase 2 of an LSTM forward step with projection: h = W_hr (o tanh c)."""
    width = output.shape[2]
    for item in range(first, (row1 - row0) * width, stride):
        b, p, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        output[t, b, p] = _dot_column(w_hr_t, p, proj_in[t], b)


@cuda.jit(device=True)
def _backward_output_grads(
    s, reverse, row0, row1, first, stride, lengths, grad_output, dh_carry, dy
):
    """Backward phase 1: dy[t, b] = grad_output[t, b] + the gradient from step s+1.

    ``dh_carry`` holds grad_h_n until a row's last step, then the gradient
    that flowed back from the step after.
    """
    width = dy.shape[2]
    for item in range(first, (row1 - row0) * width, stride):
        b, k, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        dy[t, b, k] = grad_output[t, b, k] + dh_carry[b, k]


@cuda.jit(device=True)
def _backward_cells(
    kind, hidden, projected, reverse, s, row0, row1, first, stride,
    w_hr, h0, c0, lengths, output, gates, cells, dy, dgx, dgh, dh_carry, dc_carry,
):  # fmt: skip
    """Backward phase 2: gradients of the pre-activations of items (b, j).

    ``dgx`` receives the gradients w.r.t. the input parts (W_ih x + b_ih),
    ``dgh`` w.r.t. the hidden parts (W_hh h + b_hh); they differ only for the
    GRU's candidate (and are one array otherwise).  The GRU's direct part
    z * dh of dL/dh_prev goes into ``dh_carry`` (phase 1 has consumed it);
    the LSTM's dL/dc_prev into ``dc_carry``.
    """
    for item in range(first, (row1 - row0) * hidden, stride):
        b, j, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        t_prev = t + 1 if reverse else t - 1
        if projected:
            dh = _dot_column(w_hr, j, dy[t], b)
        else:
            dh = dy[t, b, j]
        if kind == LSTM:
            c_prev = c0[b, j] if s == 0 else cells[t_prev, b, j]
            dai, daf, dag, dao, dc_prev = gate_math.lstm_gates_backward(
                gates[t, b, j], gates[t, b, hidden + j], gates[t, b, 2 * hidden + j],
                gates[t, b, 3 * hidden + j], c_prev, gates[t, b, 4 * hidden + j],
                dh, dc_carry[b, j],
            )  # fmt: skip
            dgx[t, b, j] = dai
            dgx[t, b, hidden + j] = daf
            dgx[t, b, 2 * hidden + j] = dag
            dgx[t, b, 3 * hidden + j] = dao
            dc_carry[b, j] = dc_prev
        elif kind == GRU:
            h_prev = h0[b, j] if s == 0 else output[t_prev, b, j]
            dar, daz, dxn, dhn, dh_direct = gate_math.gru_gates_backward(
                gates[t, b, j], gates[t, b, hidden + j], gates[t, b, 2 * hidden + j],
                gates[t, b, 3 * hidden + j], h_prev, dh,
            )  # fmt: skip
            dgx[t, b, j] = dar
            dgx[t, b, hidden + j] = daz
            dgx[t, b, 2 * hidden + j] = dxn
            dgh[t, b, j] = dar
            dgh[t, b, hidden + j] = daz
            dgh[t, b, 2 * hidden + j] = dhn
            dh_carry[b, j] = dh_direct
        else:
            dgx[t, b, j] = gate_math.rnn_act_backward(output[t, b, j], dh, kind == RNN_RELU)


@cuda.jit(device=True)
def _backward_hidden(kind, reverse, s, row0, row1, first, stride, w_hh, lengths, dgh, dh_carry):
    """Backward phase 3: dL/dh_prev = W_hh.T dgh (+ the GRU's direct part).

    Threads of a warp that differ in k take consecutive ones, so reading
    W_hh[r, k] coalesces without a transposed copy.
    """
    width = dh_carry.shape[1]
    for item in range(first, (row1 - row0) * width, stride):
        b, k, t = _step_item(item, row0, row1, s, lengths, reverse)
        if t < 0:
            continue
        acc = dh_carry[b, k] if kind == GRU else dh_carry.dtype.type(0)
        for r in range(w_hh.shape[0]):
            acc += w_hh[r, k] * dgh[t, b, r]
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


@cuda.jit
def forward_recurrence(
    persistent, phase, s_first, nsteps, rows_per_block,
    kind, fast, hidden, projected, reverse, keep_gates,
    xp, w_hh_t, b_hh, w_hr_t, h0, c0, lengths, output, gates, cells, proj_in,
):  # fmt: skip
    """Forward steps ``s_first`` .. ``s_first + nsteps - 1``.

    ``persistent``: every step in one launch; block k owns rows [k*rows_per_block,
    (k+1)*rows_per_block), and ``syncthreads`` separates the phases.  Otherwise one
    ``phase`` (0: the cells, 1: the projection) of one step over the whole grid: the kernel
    boundary separates the phases.
    """
    row0, row1, first, stride = _work(persistent, rows_per_block, lengths.size)
    for s in range(s_first, s_first + nsteps):
        if persistent or phase == 0:
            _forward_cells(
                kind, fast, hidden, projected, reverse, keep_gates, s, row0, row1, first,
                stride, xp, w_hh_t, b_hh, h0, c0, lengths, output, gates, cells, proj_in,
            )  # fmt: skip
        if persistent:
            cuda.syncthreads()
        if projected and (persistent or phase == 1):
            _forward_projection(
                s, reverse, row0, row1, first, stride, w_hr_t, lengths, proj_in, output
            )
            if persistent:
                cuda.syncthreads()


@cuda.jit
def backward_recurrence(
    persistent, phase, s_last, nsteps, rows_per_block, kind, hidden, projected, reverse,
    w_hh, w_hr, h0, c0, lengths, output, gates, cells, grad_output,
    dy, dgx, dgh, dh_carry, dc_carry,
):  # fmt: skip
    """Backward steps ``s_last`` down to ``s_last - nsteps + 1`` (see forward_recurrence;
    the phases are 0: the output gradients, 1: the cells, 2: the hidden product)."""
    row0, row1, first, stride = _work(persistent, rows_per_block, lengths.size)
    for s in range(s_last, s_last - nsteps, -1):
        if persistent or phase == 0:
            _backward_output_grads(s, reverse, row0, row1, first, stride, lengths, grad_output,
                                   dh_carry, dy)  # fmt: skip
        if persistent:
            cuda.syncthreads()
        if persistent or phase == 1:
            _backward_cells(
                kind, hidden, projected, reverse, s, row0, row1, first, stride,
                w_hr, h0, c0, lengths, output, gates, cells, dy, dgx, dgh, dh_carry, dc_carry,
            )  # fmt: skip
        if persistent:
            cuda.syncthreads()
        if persistent or phase == 2:
            _backward_hidden(kind, reverse, s, row0, row1, first, stride, w_hh, lengths, dgh,
                             dh_carry)  # fmt: skip
        if persistent:
            cuda.syncthreads()
