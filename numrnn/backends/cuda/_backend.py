"""Host side of the CUDA backend: parameters on the device, the recurrence's launches,
the tape (array conversion and the array helpers are in :mod:`._arrays`).

See :mod:`numrnn.backends` for the interface and :mod:`numrnn.backends.cuda`
for how host and device arrays flow.  Reached through the package's
``__getattr__``, so importing it implies :func:`check_available` passed.
"""

import math
from collections import namedtuple

import numpy as np
from numba import cuda

from numrnn.backends.cuda import _kernels as kernels
from numrnn.backends.cuda._arrays import (  # noqa: F401 (the interface's array helpers)
    MAX_BLOCKS,
    THREADS_PER_BLOCK,
    _column_sums,
    _copy,
    _launch,
    _matmul,
    _on_device,
    add,
    asarray,
    concat_features,
    is_device_array,
    multiply,
    split_features,
    stack,
    to_numpy,
    transpose01,
    zeros,
)

#: The persistent recurrence kernel runs when one block's share of a step --
#: reading all of W_hh once -- is at most this many bytes; larger recurrent
#: weights use one launch per step and phase across the whole GPU.
PERSISTENT_MAX_WEIGHT_BYTES = 256 * 1024

_Tape = namedtuple(
    "_Tape",
    ["x", "h0", "c0", "lengths", "nsteps", "reverse", "output", "gates", "cells", "proj_in",
     "masks"],
)


class DeviceParams:
    """One layer-direction's parameters, copied to the device once.

    Built by :func:`prepare_params`; pass it to :func:`forward` and
    :func:`backward` in place of the parameter dict.  It is a snapshot:
    after the weights change, build a new one.

    Attributes
    ----------
    arrays : dict of str to device array
        The parameters under their interface names.
    weight_hh_t, weight_hr_t : device array or None
        Transposed copies, so that threads of a warp (consecutive hidden
        units) read consecutive addresses in the forward recurrence.
    dtype : numpy.dtype
    """

    def __init__(self, params):
        self.dtype = np.dtype(params["weight_ih"].dtype)
        self.arrays = {name: _on_device(p, self.dtype, copy=True) for name, p in params.items()}
        self.weight_hh_t = self._transposed("weight_hh")
        self.weight_hr_t = self._transposed("weight_hr")

    def _transposed(self, name):
        w = self.arrays.get(name)
        if w is None or w.ndim != 2:  # a diagonal W_hh is a vector: read as it is
            return w
        w_t = cuda.device_array(w.shape[::-1], self.dtype)
        _copy(w.T, w_t)
        return w_t

    def __getitem__(self, name):
        return self.arrays[name]


def prepare_params(params):
    """Copy a layer-direction's parameters to the device, for reuse across calls.

    Parameters
    ----------
    params : dict or DeviceParams
        The interface's parameter dict (host or device arrays).  A
        :class:`DeviceParams` is returned unchanged.

    Returns
    -------
    DeviceParams
    """
    if isinstance(params, DeviceParams):
        return params
    return DeviceParams(params)


# --------------------------------------------------------------------------
# Launch helpers
# --------------------------------------------------------------------------


_dummies = {}


def _dummy(ndim, dtype):
    """A one-element device array standing in for an array a cell does not use."""
    key = (ndim, np.dtype(dtype))
    if key not in _dummies:
        _dummies[key] = zeros((1,) * ndim, dtype)
    return _dummies[key]


def _persistent_plan(batch, units, weight_bytes):
    """(blocks, threads, rows_per_block) of a persistent launch, or None.

    A block takes as many batch rows as fit one thread per unit, so that
    W_hh, read once per step by each block, is shared by more rows.
    """
    if weight_bytes > PERSISTENT_MAX_WEIGHT_BYTES:
        return None
    rows = max(1, min(batch, THREADS_PER_BLOCK // units))
    return math.ceil(batch / rows), min(THREADS_PER_BLOCK, rows * units), rows


def _lengths_on_device(lengths, steps, batch):
    """Device int64 lengths and the number of steps to run."""
    host = np.full(batch, steps, np.int64) if lengths is None else to_numpy(lengths)
    host = np.asarray(host, dtype=np.int64)
    return cuda.to_device(host), int(host.max())


def _sizes(spec, params):
    """(cell, H, H_out, G·H, the parameters on the device) of a layer-direction."""
    hidden = spec.hidden_size
    return (spec.cell, hidden, spec.proj_size or hidden, spec.cell.n_gates * hidden,
            prepare_params(params))


def _units(cell, dev, dtype):
    """The cell's per-unit parameters (a dummy for a cell without any)."""
    return dev[cell.unit_role] if cell.unit_role else _dummy(1, dtype)


# --------------------------------------------------------------------------
# forward / backward
# --------------------------------------------------------------------------


def _regularisers(masks, dtype):
    """(masked, zoned, rec_mask, zone_h, zone_c): the kernels' flags and device arrays of the
    regularisers (one-element dummies where off)."""
    recurrent, zone_h, zone_c = (None, None, None) if masks is None else masks
    arrays = tuple(_dummy(ndim, dtype) if a is None else _on_device(a, dtype)
                   for a, ndim in ((recurrent, 2), (zone_h, 3), (zone_c, 3)))  # fmt: skip
    return (recurrent is not None, zone_h is not None, *arrays)


def forward(spec, params, x, h0, c0, lengths, reverse, need_tape, masks=None):
    """Run one layer-direction over a batch of sequences.

    See :mod:`numrnn.backends` for the full contract.

    Parameters
    ----------
    spec : numrnn.backends.CellSpec
    params : dict or DeviceParams
        Host or device arrays; a :class:`DeviceParams` avoids copying them
        on every call.
    x : array (T, B, I)
        Host or device array; decides whether the results are host arrays.
    h0 : array (B, H_out) or None
    c0 : array (B, H) or None
        A cell with a cell state only.
    lengths : int array (B,) or None
    reverse : bool
    need_tape : bool

    Returns
    -------
    output, h_n, c_n, tape
        Host arrays if ``x`` is a host array, else device arrays; c_n is
        None unless the cell has a cell state; tape None unless ``need_tape``.
    """
    cell, hidden, h_out, gate_rows, dev = _sizes(spec, params)
    two_states, projected, dtype = cell.has_cell_state, spec.proj_size > 0, dev.dtype
    fast = dtype == np.float32
    host = not is_device_array(x)
    # Device inputs are copied when kept for backward: the caller may change them meanwhile.
    x = _on_device(x, dtype, copy=need_tape)
    steps, batch, inputs = x.shape
    h0 = zeros((batch, h_out), dtype) if h0 is None else _on_device(h0, dtype, copy=need_tape)
    if two_states:
        c0 = zeros((batch, hidden), dtype) if c0 is None else _on_device(c0, dtype, copy=need_tape)
    else:
        c0 = _dummy(2, dtype)
    lengths_given = lengths is not None
    lengths, nsteps = _lengths_on_device(lengths, steps, batch)

    xp = cuda.device_array((steps, batch, gate_rows), dtype)
    _matmul(
        x.reshape(steps * batch, inputs),
        dev["weight_ih"],
        xp.reshape(steps * batch, gate_rows),
        bias=dev["bias_ih"],
        trans_b=True,
    )
    if need_tape and lengths_given:
        # x is our own copy here (need_tape): safe to clean for the W_ih gradient.
        _launch(kernels.zero_padding, x.size)(lengths, x)
    output = zeros((steps, batch, h_out), dtype)
    keep_gates = need_tape
    if keep_gates:
        gates = cuda.device_array((steps, batch, (cell.n_gates + cell.taped) * hidden), dtype)
    else:
        gates = _dummy(3, dtype)
    cells = cuda.device_array((steps, batch, hidden), dtype) if two_states else _dummy(3, dtype)
    # Zeroed: padded rows of proj_in enter the W_hr gradient product.
    proj_in = zeros((steps, batch, hidden), dtype) if projected else _dummy(3, dtype)
    w_hr_t = dev.weight_hr_t if projected else _dummy(2, dtype)

    masked, zoned, *regularisers = _regularisers(masks, dtype)
    common = (fast, int(cell.relu), hidden, projected, reverse, keep_gates, masked, zoned)
    arrays = (xp, dev.weight_hh_t, dev["bias_hh"], _units(cell, dev, dtype), w_hr_t,
              *regularisers, h0, c0, lengths, output, gates, cells, proj_in)
    kernel = kernels.recurrence(cell).forward
    plan = _persistent_plan(batch, max(hidden, h_out), dev["weight_hh"].size * dtype.itemsize)
    if plan is not None:
        blocks, threads, rows = plan
        kernel[blocks, threads](True, 0, 0, nsteps, rows, *common, *arrays)
    else:
        for s in range(nsteps):
            _launch(kernel, batch * hidden)(False, 0, s, 1, 0, *common, *arrays)
            if projected:
                _launch(kernel, batch * h_out)(False, 1, s, 1, 0, *common, *arrays)

    h_n = cuda.device_array((batch, h_out), dtype)
    _launch(kernels.gather_last, h_n.size)(reverse, lengths, output, h_n)
    c_n = None
    if two_states:
        c_n = cuda.device_array((batch, hidden), dtype)
        _launch(kernels.gather_last, c_n.size)(reverse, lengths, cells, c_n)

    tape = None
    if need_tape:
        # The caller owns the returned output and may change it; the tape keeps its own.
        kept = output if host else _on_device(output, dtype, copy=True)
        tape = _Tape(x, h0, c0, lengths, nsteps, reverse, kept, gates, cells, proj_in,
                     (masked, zoned, *regularisers))
    if host:
        return to_numpy(output), to_numpy(h_n), None if c_n is None else to_numpy(c_n), tape
    return output, h_n, c_n, tape


def backward(spec, params, tape, grad_output, grad_h_n, grad_c_n, input_grad=True):
    """Backpropagation through time for the forward call that made ``tape``.

    See :mod:`numrnn.backends` for the full contract.

    Parameters
    ----------
    spec : numrnn.backends.CellSpec
    params : dict or DeviceParams
        The parameters the forward call used.
    tape : object
        From :func:`forward` with ``need_tape=True``.
    grad_output : array (T, B, H_out)
        Host or device array; decides whether the results are host arrays.
    grad_h_n : array (B, H_out) or None
        None means zeros.
    grad_c_n : array (B, H) or None
        A cell with a cell state only; None means zeros.
    input_grad : bool, default True
        False: grad_x is not computed (None).

    Returns
    -------
    grad_x, grad_h0, grad_c0, grads
        grad_c0 is None unless the cell has a cell state; ``grads`` has the keys of
        ``params``.
    """
    cell, hidden, h_out, gate_rows, dev = _sizes(spec, params)
    two_states, projected, dtype = cell.has_cell_state, spec.proj_size > 0, dev.dtype
    host = not is_device_array(grad_output)
    grad_output = _on_device(grad_output, dtype)
    steps, batch, inputs = tape.x.shape
    rows = steps * batch

    dh_carry = (
        zeros((batch, h_out), dtype) if grad_h_n is None else _on_device(grad_h_n, dtype, copy=True)
    )
    if two_states:
        dc_carry = (
            zeros((batch, hidden), dtype)
            if grad_c_n is None
            else _on_device(grad_c_n, dtype, copy=True)
        )
    else:
        dc_carry = _dummy(2, dtype)
    dy = zeros((steps, batch, h_out), dtype)
    dgx = zeros((steps, batch, gate_rows), dtype)
    dgh = zeros((steps, batch, gate_rows), dtype) if cell.split_grad else dgx
    unit_width = cell.unit_width * hidden
    dunits = zeros((steps, batch, unit_width), dtype) if unit_width else _dummy(3, dtype)
    w_hr = dev["weight_hr"] if projected else _dummy(2, dtype)
    reverse = tape.reverse
    masked, zoned, rec_mask, zone_h, zone_c = tape.masks
    dz_carry = zeros((batch, h_out), dtype) if zoned else _dummy(2, dtype)
    common = (
        int(cell.relu), hidden, projected, reverse, masked, zoned, dev["weight_hh"], w_hr,
        _units(cell, dev, dtype), rec_mask, zone_h, zone_c, tape.h0, tape.c0, tape.lengths,
        tape.output, tape.gates, tape.cells, grad_output, dy, dgx, dgh, dunits, dh_carry,
        dc_carry, dz_carry,
    )  # fmt: skip

    kernel = kernels.recurrence(cell).backward
    plan = _persistent_plan(batch, max(hidden, h_out), dev["weight_hh"].size * dtype.itemsize)
    if plan is not None:
        blocks, threads, rows_per_block = plan
        kernel[blocks, threads](True, 0, tape.nsteps - 1, tape.nsteps, rows_per_block, *common)
    else:
        for s in range(tape.nsteps - 1, -1, -1):
            for phase, width in enumerate((h_out, hidden, h_out)):
                _launch(kernel, batch * width)(False, phase, s, 1, 0, *common)

    dgx_rows = dgx.reshape(rows, gate_rows)
    dgh_rows = dgh.reshape(rows, gate_rows)
    grad_x = None
    if input_grad:
        grad_x = cuda.device_array((steps, batch, inputs), dtype)
        _matmul(dgx_rows, dev["weight_ih"], grad_x.reshape(rows, inputs))
    h_prev = cuda.device_array((steps, batch, h_out), dtype)
    _launch(kernels.gather_previous, h_prev.size)(
        reverse, tape.lengths, tape.h0, tape.output, h_prev
    )
    if masked:  # recurrent dropout: the W_hh product read rec_mask * h_prev
        _launch(kernels.scale_rows, h_prev.size)(rec_mask, h_prev)
    grads = {
        "weight_ih": cuda.device_array((gate_rows, inputs), dtype),
        "bias_ih": _column_sums(dgx_rows),
        "bias_hh": _column_sums(dgh_rows),
    }
    _matmul(dgx_rows, tape.x.reshape(rows, inputs), grads["weight_ih"], trans_a=True)
    if cell.diagonal:
        products = cuda.device_array(dgh.shape, dtype)
        _launch(kernels.diagonal_products, products.size)(dgh, h_prev, products)
        grads["weight_hh"] = _column_sums(products.reshape(rows, gate_rows))
    else:
        grads["weight_hh"] = cuda.device_array((gate_rows, h_out), dtype)
        _matmul(dgh_rows, h_prev.reshape(rows, h_out), grads["weight_hh"], trans_a=True)
    if unit_width:
        grads[cell.unit_role] = _column_sums(dunits.reshape(rows, unit_width))
    if projected:
        grads["weight_hr"] = cuda.device_array((h_out, hidden), dtype)
        _matmul(
            dy.reshape(rows, h_out),
            tape.proj_in.reshape(rows, hidden),
            grads["weight_hr"],
            trans_a=True,
        )

    grad_c0 = dc_carry if two_states else None
    if host:
        grads = {name: to_numpy(g) for name, g in grads.items()}
        grad_c0 = None if grad_c0 is None else to_numpy(grad_c0)
        grad_x = None if grad_x is None else to_numpy(grad_x)
        return grad_x, to_numpy(dh_carry), grad_c0, grads
    return grad_x, dh_carry, grad_c0, grads
