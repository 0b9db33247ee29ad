r"""The NumPy reference backend (``backend="numpy"``): the specification.

Plain NumPy, written to read like the equations, float64-exact. Every other
backend is tested against it. One layer-direction over a whole sequence is
processed by a generic driver (:func:`forward`, :func:`backward`) that handles
the schedule of time steps (per-sequence ``lengths``, ``reverse``), the input
projection and the weight gradients as single products over all ``T*B`` rows;
the cells contribute one step of maths each, forward and backward.

Cells (PyTorch conventions; ``a`` is a pre-activation, ``x`` the input
projection row ``W_ih x_t + b_ih``, ``h`` the previous state):

* RNN: :math:`h' = \phi(x + W_{hh} h + b_{hh})`, :math:`\phi` tanh or relu.
* LSTM, gates i, f, g, o: :math:`c' = f \odot c + i \odot g`,
  :math:`h' = W_{hr}(o \odot \tanh c')` (no :math:`W_{hr}` without projection).
* GRU, gates r, z, n: :math:`n = \tanh(x_n + r \odot (W_{hn} h + b_{hn}))`,
  :math:`h' = (1 - z) \odot n + z \odot h`.
* The extended cells (``lstm_peephole``, ``lstm_cifg``, ``ligru``, ``indrnn``) of
  :mod:`numrnn._cells`; IndRNN is the ReLU RNN with a diagonal (vector) ``weight_hh``,
  which the driver applies elementwise.
"""

import numpy as np
from scipy.special import expit as _sigmoid

# ---------------------------------------------------------------------------
# The cells: one step forward, one step backward, found through the cell
# registry (numrnn._cells.Cell.functions) as ``{maths}_step_forward`` and
# ``{maths}_step_backward``.
#
# step_forward(cell, gx, gh, h, c, params) -> (h_new, c_new, saved)
#     gx (B, G*H): input projection rows for this step (bias b_ih included);
#     gh (B, G*H): the hidden parts W_hh h + b_hh (elementwise for a diagonal
#     cell); h (B, H_out), c (B, H) or None: the previous state.
# step_backward(cell, dh, dc, h, c, saved, params, grads) -> (dgx, dgh, dh_direct, dc_prev)
#     cell: the registered cell (numrnn._cells.Cell; the RNN reads its ``relu``);
#     dh (B, H_out), dc (B, H): gradients w.r.t. this step's new state;
#     dgx, dgh: gradients w.r.t. the input and hidden parts of the pre-activations;
#     dh_direct: the part of dh_prev that does not go through W_hh (0 if none);
#     grads: accumulators for parameters used inside the cell (weight_hr, the
#     cell's per-unit parameters).
# ---------------------------------------------------------------------------


def rnn_step_forward(cell, gx, gh, h, c, params):
    """Vanilla RNN: h' = tanh(a) or max(a, 0)."""
    a = gx + gh
    h_new = np.maximum(a, 0) if cell.relu else np.tanh(a)
    return h_new, None, h_new


def rnn_step_backward(cell, dh, dc, h, c, h_new, params, grads):
    """Vanilla RNN backward: da = dh (1 - h'²) or dh [h' > 0]."""
    da = dh * (h_new > 0) if cell.relu else dh * (1 - h_new * h_new)
    return da, da, 0, None


def lstm_step_forward(cell, gx, gh, h, c, params):
    """LSTM, gates i, f, g, o: c' = f c + i g, h' = W_hr (o tanh c') (no W_hr: o tanh c')."""
    i, f, g, o = np.split(gx + gh, 4, axis=1)
    i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    m = o * tanh_c
    h_new = m @ params["weight_hr"].T if "weight_hr" in params else m
    return h_new, c_new, (i, f, g, o, tanh_c, m)


def lstm_step_backward(cell, dh, dc, h, c, saved, params, grads):
    """LSTM backward."""
    i, f, g, o, tanh_c, m = saved
    if "weight_hr" in params:
        grads["weight_hr"] += dh.T @ m
        dm = dh @ params["weight_hr"]
    else:
        dm = dh
    do = dm * tanh_c
    dc_total = dc + dm * o * (1 - tanh_c * tanh_c)
    di, dg, df = dc_total * g, dc_total * i, dc_total * c
    da = np.concatenate(
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1
    )
    return da, da, 0, dc_total * f


def gru_step_forward(cell, gx, gh, h, c, params):
    """GRU, gates r, z, n: n = tanh(x_n + r (W_hn h + b_hn)), h' = (1 - z) n + z h."""
    x_r, x_z, x_n = np.split(gx, 3, axis=1)
    h_r, h_z, h_n = np.split(gh, 3, axis=1)
    r = _sigmoid(x_r + h_r)
    z = _sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h, None, (r, z, n, h_n)


def gru_step_backward(cell, dh, dc, h, c, saved, params, grads):
    """GRU backward."""
    r, z, n, h_n = saved
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (h - n) * z * (1 - z)
    dr = dn * h_n * r * (1 - r)
    dgx = np.concatenate([dr, dz, dn], axis=1)
    dgh = np.concatenate([dr, dz, dn * r], axis=1)
    return dgx, dgh, dh * z, None


def lstm_cifg_step_forward(cell, gx, gh, h, c, params):
    """CIFG-LSTM, gates f, g, o: c' = f c + (1 - f) g, h' = o tanh c'."""
    f, g, o = np.split(gx + gh, 3, axis=1)
    f, g, o = _sigmoid(f), np.tanh(g), _sigmoid(o)
    c_new = f * c + (1 - f) * g
    tanh_c = np.tanh(c_new)
    return o * tanh_c, c_new, (f, g, o, tanh_c)


def lstm_cifg_step_backward(cell, dh, dc, h, c, saved, params, grads):
    """CIFG-LSTM backward."""
    f, g, o, tanh_c = saved
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
    da = np.concatenate(
        [dc_total * (c - g) * f * (1 - f), dc_total * (1 - f) * (1 - g * g),
         dh * tanh_c * o * (1 - o)], axis=1,
    )  # fmt: skip
    return da, da, 0, dc_total * f


def ligru_step_forward(cell, gx, gh, h, c, params):
    """Li-GRU, gates z, n: n = relu(a_n), h' = z h + (1 - z) n."""
    z, n = np.split(gx + gh, 2, axis=1)
    z, n = _sigmoid(z), np.maximum(n, 0)
    return z * h + (1 - z) * n, None, (z, n)


def ligru_step_backward(cell, dh, dc, h, c, saved, params, grads):
    """Li-GRU backward."""
    z, n = saved
    da = np.concatenate([dh * (h - n) * z * (1 - z), dh * (1 - z) * (n > 0)], axis=1)
    return da, da, dh * z, None


def lstm_peephole_step_forward(cell, gx, gh, h, c, params):
    """Peephole LSTM: i = σ(a_i + p_i c), f = σ(a_f + p_f c), o = σ(a_o + p_o c')."""
    a_i, a_f, a_g, a_o = np.split(gx + gh, 4, axis=1)
    p_i, p_f, p_o = np.split(params["weight_ch"], 3)
    i, f, g = _sigmoid(a_i + p_i * c), _sigmoid(a_f + p_f * c), np.tanh(a_g)
    c_new = f * c + i * g
    o = _sigmoid(a_o + p_o * c_new)
    tanh_c = np.tanh(c_new)
    return o * tanh_c, c_new, (i, f, g, o, c_new, tanh_c)


def lstm_peephole_step_backward(cell, dh, dc, h, c, saved, params, grads):
    """Peephole LSTM backward; adds the gradient of ``weight_ch``."""
    i, f, g, o, c_new, tanh_c = saved
    p_i, p_f, p_o = np.split(params["weight_ch"], 3)
    da_o = dh * tanh_c * o * (1 - o)
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c) + da_o * p_o
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * c * f * (1 - f)
    da_g = dc_total * i * (1 - g * g)
    grads["weight_ch"] += np.concatenate(
        [(da_i * c).sum(axis=0), (da_f * c).sum(axis=0), (da_o * c_new).sum(axis=0)]
    )
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    return da, da, 0, dc_total * f + da_i * p_i + da_f * p_f


def _hidden_parts(cell, h, params):
    """W_hh h + b_hh, or w_hh ⊙ h + b_hh gate by gate for a diagonal cell."""
    if cell.diagonal:
        return np.tile(h, cell.n_gates) * params["weight_hh"] + params["bias_hh"]
    return h @ params["weight_hh"].T + params["bias_hh"]


def _hidden_backward(cell, dgh, h, params, grads):
    """Accumulate dW_hh and db_hh of one step; return the part of dh_prev through W_hh."""
    grads["bias_hh"] += dgh.sum(axis=0)
    if cell.diagonal:
        grads["weight_hh"] += (dgh * np.tile(h, cell.n_gates)).sum(axis=0)
        B, H = h.shape
        return (dgh * params["weight_hh"]).reshape(B, cell.n_gates, H).sum(axis=1)
    grads["weight_hh"] += dgh.T @ h
    return dgh @ params["weight_hh"]


# ---------------------------------------------------------------------------
# The driver: schedule, projections, masking.
# ---------------------------------------------------------------------------


def schedule(T, B, lengths, reverse):
    """Time index processed by each sequence at each step, and whether it is active.

    Parameters
    ----------
    T, B : int
        Padded length and batch size.
    lengths : ndarray of int, shape (B,), or None
        Valid length of each sequence (None: all ``T``).
    reverse : bool
        Process each sequence's valid part from its last valid step to 0.

    Returns
    -------
    t : ndarray of int, shape (T, B)
        At step ``s``, sequence ``b`` processes time ``t[s, b]`` (0 where inactive).
    active : ndarray of bool, shape (T, B)
        ``s < lengths[b]``.
    """
    L = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths, np.int64)
    s = np.arange(T)[:, None]
    active = s < L[None, :]
    t = (L[None, :] - 1 - s) if reverse else np.broadcast_to(s, (T, B))
    return np.where(active, t, 0), active


class _Tape:
    __slots__ = ("x", "t", "active", "steps", "masks")

    def __init__(self, x, t, active, masks):
        self.x, self.t, self.active, self.steps, self.masks = x, t, active, [], masks


def _zoned(z, previous, new):
    """Zoneout: z previous + (1 - z) new (``new`` itself without a zoneout weight)."""
    return new if z is None else z * previous + (1 - z) * new


def _zone_weights(masks, t, cols):
    """The zoneout weights of h and c at one step (None where there are none)."""
    return tuple(None if masks is None or z is None else z[t, cols]
                 for z in ((None, None) if masks is None else (masks.zone_h, masks.zone_c)))


def prepare_params(params):
    """Return ``params`` as this backend uses them (host arrays: unchanged)."""
    return params


def forward(spec, params, x, h0, c0, lengths, reverse, need_tape, masks=None):
    """One layer-direction over a sequence; see :mod:`numrnn.backends`."""
    cell = spec.cell
    recurrent = None if masks is None else masks.recurrent
    step_forward = cell.functions("step_forward")
    T, B, _ = x.shape
    t_index, active = schedule(T, B, lengths, reverse)
    cols = np.arange(B)
    gx_all = x @ params["weight_ih"].T + params["bias_ih"]
    h = h0.copy()
    c = None if c0 is None else c0.copy()
    output = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    tape = _Tape(x, t_index, active, masks) if need_tape else None
    for s in range(T):
        t, m = t_index[s], active[s]
        if not m.any():
            break
        h_in = h if recurrent is None else recurrent * h
        h_new, c_new, saved = step_forward(cell, gx_all[t, cols],
                                           _hidden_parts(cell, h_in, params), h, c, params)
        z_h, z_c = _zone_weights(masks, t, cols)
        h_new = _zoned(z_h, h, h_new)
        if c is not None:
            c_new = _zoned(z_c, c, c_new)
        output[t[m], cols[m]] = h_new[m]
        if need_tape:
            tape.steps.append((h, c, saved))
        h = np.where(m[:, None], h_new, h)
        if c is not None:
            c = np.where(m[:, None], c_new, c)
    return output, h, c, tape


def backward(spec, params, tape, grad_output, grad_h_n, grad_c_n, input_grad=True):
    """Backpropagation through time for :func:`forward`; see :mod:`numrnn.backends`."""
    cell = spec.cell
    step_backward = cell.functions("step_backward")
    x = tape.x
    T, B, I = x.shape
    cols = np.arange(B)
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    d_gx_all = np.zeros((T, B, params["weight_ih"].shape[0]), dtype=x.dtype)
    dh = grad_h_n.copy()
    dc = None if grad_c_n is None else grad_c_n.copy()
    for s in reversed(range(len(tape.steps))):
        t, m = tape.t[s], tape.active[s]
        mask = m[:, None]
        h, c, saved = tape.steps[s]
        dh_step = np.where(mask, dh + grad_output[t, cols], 0)
        dc_step = None if dc is None else np.where(mask, dc, 0)
        # Zoneout: the new state is z previous + (1 - z) the cell's, in both gradients.
        z_h, z_c = _zone_weights(tape.masks, t, cols)
        dh_zoned = 0 if z_h is None else z_h * dh_step
        dc_zoned = 0 if z_c is None else z_c * dc_step
        dgx, dgh, dh_direct, dc_prev = step_backward(
            cell, _zoned(z_h, 0, dh_step), None if dc is None else _zoned(z_c, 0, dc_step), h, c,
            saved, params, grads,
        )  # fmt: skip
        d_gx_all[t[m], cols[m]] = dgx[m]
        recurrent = None if tape.masks is None else tape.masks.recurrent
        if recurrent is None:
            through = _hidden_backward(cell, dgh, h, params, grads)
        else:  # recurrent dropout: the product reads recurrent * h
            through = recurrent * _hidden_backward(cell, dgh, recurrent * h, params, grads)
        dh = np.where(mask, dh_direct + through + dh_zoned, dh)
        if dc is not None:
            dc = np.where(mask, dc_prev + dc_zoned, dc)
    rows = d_gx_all.reshape(T * B, -1)
    # Time t is valid for sequence b iff step t is active (t < lengths[b]) in
    # either direction; padded inputs must not reach dW_ih (0 * NaN is NaN).
    x_valid = np.where(tape.active[:, :, None], x, 0)
    grads["weight_ih"] += rows.T @ x_valid.reshape(T * B, I)
    grads["bias_ih"] += rows.sum(axis=0)
    grad_x = d_gx_all @ params["weight_ih"] if input_grad else None
    return grad_x, dh, dc, grads


# ---------------------------------------------------------------------------
# Array helpers (host NumPy arrays).
# ---------------------------------------------------------------------------


def asarray(a, dtype):
    """``a`` as a C-contiguous array of ``dtype`` (no copy if it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype)


def to_numpy(a):
    """``a`` as a host NumPy array."""
    return np.asarray(a)


def zeros(shape, dtype):
    """A zero-filled array."""
    return np.zeros(shape, dtype=dtype)


def concat_features(arrays):
    """Concatenate along the last axis."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=-1)


def split_features(a, sizes):
    """Split along the last axis into C-contiguous pieces of the given sizes."""
    if len(sizes) == 1:
        return [a]
    return [np.ascontiguousarray(p) for p in np.split(a, np.cumsum(sizes)[:-1], axis=-1)]


def stack(arrays):
    """Stack along a new first axis (a new array)."""
    if len(arrays) == 1:  # a single layer-direction: 4x faster than np.stack
        return arrays[0][np.newaxis].copy()
    return np.stack(arrays)


def transpose01(a):
    """C-contiguous copy with the first two axes swapped."""
    return np.ascontiguousarray(a.swapaxes(0, 1))


def add(a, b):
    """``a + b``."""
    return a + b


def multiply(a, b):
    """``a * b``."""
    return a * b


def is_device_array(a):
    """Host arrays only: always False."""
    return False


__all__ = [
    "add", "asarray", "backward", "concat_features", "forward", "is_device_array", "multiply",
    "prepare_params", "schedule", "split_features", "stack", "to_numpy", "transpose01", "zeros",
]
