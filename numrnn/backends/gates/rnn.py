"""The vanilla RNN's maths (tanh or ReLU; IndRNN's too, whose diagonal recurrence the
time loops and kernels do): per unit, per row (CPU) and per unit of a kernel (CUDA).

See :mod:`numrnn.backends.gates` for the conventions and signatures.
"""

from ._common import _ONE, _ZERO, _scalar, summed_bias, tanh


@_scalar
def rnn_act(a, relu, fast):
    """Vanilla RNN activation h = tanh(a) (``relu == 0``) or max(a, 0).

    ReLU keeps NaN (``a < 0`` is False for NaN), like ``torch.relu``.
    """
    if relu:
        return _ZERO if a < _ZERO else a
    return tanh(a, fast)


@_scalar
def rnn_act_backward(h, dh, relu):
    """Gradient of the RNN activation: da = dh (1 - h²) or dh [h > 0].

    Written in terms of the output h, so the pre-activation need not be kept.
    """
    if relu:
        return dh if h > _ZERO else _ZERO
    return dh * (_ONE - h * h)


#: The vanilla RNN's rows read the summed bias alone.
rnn_row_params = summed_bias


@_scalar
def rnn_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a vanilla RNN step: h = act(x + hh + b); x keeps h."""
    b = params
    for j in range(h.shape[0]):
        h_j = rnn_act(x[0, j] + b[0, j] + hh[0, j], relu, fast)
        if keep:
            x[0, j] = h_j
        h[j] = h_j


@_scalar
def rnn_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a vanilla RNN step backward: dx = act'(a) (dhraw + g)."""
    for j in range(dhraw.shape[0]):
        dx[0, j] = rnn_act_backward(gates[0, j], dhraw[j] + g[j], relu)


@_scalar
def rnn_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                     keep):
    """One unit of a vanilla RNN step: h = act(x + p0); the tape keeps h."""
    h = rnn_act(xp[t, b, j] + p0, relu, fast)
    if keep:
        gates[t, b, j] = h
    return h, c_prev


@_scalar
def rnn_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units, relu):
    """One unit of a vanilla RNN step backward: da = act'(a) dh."""
    dgx[t, b, j] = rnn_act_backward(gates[t, b, j], dh, relu)
    return dc, dc
