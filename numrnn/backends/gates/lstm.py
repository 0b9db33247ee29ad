"""The LSTM family's maths: the LSTM (PyTorch's), the peephole LSTM (Gers & Schmidhuber
2000) and the coupled input-forget gate LSTM (Greff et al. 2017); per unit, per row (CPU) and
per unit of a kernel (CUDA).

See :mod:`numrnn.backends.gates` for the conventions and signatures.
"""

from ._common import _ONE, _scalar, sigmoid, summed_bias, tanh, with_globals


@_scalar
def lstm_gates(ai, af, ag, ao, c_prev, fast):
    """One LSTM unit, forward.

    Parameters
    ----------
    ai, af, ag, ao : float
        Full pre-activations of the gates i, f, g, o
        (W_i* x + b_i* + W_h* h_prev + b_h*).
    c_prev : float
        Previous cell state.
    fast : bool
        See :func:`tanh`.

    Returns
    -------
    i, f, g, o, c, tanh_c : float
        Gate values, c = f c_prev + i g, and tanh(c); the (unprojected)
        hidden state is ``o * tanh_c``.
    """
    i = sigmoid(ai, fast)
    f = sigmoid(af, fast)
    g = tanh(ag, fast)
    o = sigmoid(ao, fast)
    c = f * c_prev + i * g
    tanh_c = tanh(c, fast)
    return i, f, g, o, c, tanh_c


@_scalar
def lstm_gates_backward(i, f, g, o, c_prev, tanh_c, dh_raw, dc):
    """One LSTM unit, backward.

    Parameters
    ----------
    i, f, g, o, c_prev, tanh_c : float
        The forward values of this step (``tanh_c`` = tanh(c)).
    dh_raw : float
        dL/d(o tanh(c)) of this step (after back-projection through W_hr).
    dc : float
        dL/dc arriving from the next step (or from c_n).

    Returns
    -------
    dai, daf, dag, dao : float
        Gradients of the four pre-activations.
    dc_prev : float
        dL/dc_prev.

    Notes
    -----
    dc_t = dc + dh_raw o (1 - tanh_c²), dao = dh_raw tanh_c o (1 - o),
    dai = dc_t g i (1 - i), dag = dc_t i (1 - g²),
    daf = dc_t c_prev f (1 - f), dc_prev = dc_t f.
    """
    dct = dc + dh_raw * o * (_ONE - tanh_c * tanh_c)
    dao = dh_raw * tanh_c * o * (_ONE - o)
    dai = dct * g * i * (_ONE - i)
    dag = dct * i * (_ONE - g * g)
    daf = dct * c_prev * f * (_ONE - f)
    return dai, daf, dag, dao, dct * f


@_scalar
def lstm_cifg_gates(af, ag, ao, c_prev, fast):
    """One CIFG-LSTM unit, forward: the input gate is 1 - f.

    Returns
    -------
    f, g, o, c, tanh_c : float
        f = σ(af), g = tanh(ag), o = σ(ao), c = f c_prev + (1 - f) g and
        tanh(c); the hidden state is ``o * tanh_c``.
    """
    f = sigmoid(af, fast)
    g = tanh(ag, fast)
    o = sigmoid(ao, fast)
    c = f * c_prev + (_ONE - f) * g
    return f, g, o, c, tanh(c, fast)


@_scalar
def lstm_cifg_gates_backward(f, g, o, c_prev, tanh_c, dh_raw, dc):
    """One CIFG-LSTM unit, backward: (daf, dag, dao, dc_prev).

    dc_t = dc + dh o (1 - tanh_c²), dao = dh tanh_c o (1 - o),
    daf = dc_t (c_prev - g) f (1 - f), dag = dc_t (1 - f)(1 - g²), dc_prev = dc_t f.
    """
    dct = dc + dh_raw * o * (_ONE - tanh_c * tanh_c)
    dao = dh_raw * tanh_c * o * (_ONE - o)
    daf = dct * (c_prev - g) * f * (_ONE - f)
    dag = dct * (_ONE - f) * (_ONE - g * g)
    return daf, dag, dao, dct * f


#: The CIFG-LSTM's rows read the summed bias alone.
lstm_cifg_row_params = summed_bias


@_scalar
def lstm_cifg_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a CIFG-LSTM step: x keeps f, g, o; c, h = o tanh c, taped = tanh c."""
    b = params
    for j in range(c.shape[0]):
        f, g, o, c_j, tanh_c = lstm_cifg_gates(
            x[0, j] + b[0, j] + hh[0, j], x[1, j] + b[1, j] + hh[1, j],
            x[2, j] + b[2, j] + hh[2, j], c[j], fast,
        )  # fmt: skip
        if keep:
            x[0, j], x[1, j], x[2, j], taped[0, j] = f, g, o, tanh_c
        c[j] = c_j
        h[j] = o * tanh_c


@_scalar
def lstm_cifg_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a CIFG-LSTM step backward: dx of f, g, o; dc becomes dL/dc_prev."""
    for j in range(dc.shape[0]):
        dx[0, j], dx[1, j], dx[2, j], dc[j] = lstm_cifg_gates_backward(
            gates[0, j], gates[1, j], gates[2, j], cprev[j], taped[0, j], dhraw[j] + g[j], dc[j]
        )


@_scalar
def lstm_cifg_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu,
                           fast, keep):
    """One unit of a CIFG-LSTM step: the tape keeps f, g, o, tanh c; returns (o tanh c, c)."""
    x = xp[t, b]
    f, g, o, c, tanh_c = lstm_cifg_gates(x[j] + p0, x[H + j] + p1, x[2 * H + j] + p2, c_prev, fast)
    if keep:
        row = gates[t, b]
        row[j], row[H + j], row[2 * H + j], row[3 * H + j] = f, g, o, tanh_c
    return o * tanh_c, c


@_scalar
def lstm_cifg_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units,
                            relu):
    """One unit of a CIFG-LSTM step backward: dgx of f, g, o; returns (0, dc_prev)."""
    kept = gates[t, b]
    daf, dag, dao, dc_prev = lstm_cifg_gates_backward(
        kept[j], kept[H + j], kept[2 * H + j], c_prev, kept[3 * H + j], dh, dc
    )
    row = dgx[t, b]
    row[j], row[H + j], row[2 * H + j] = daf, dag, dao
    return dc_prev, dc_prev


@_scalar
def lstm_peephole_gates(ai, af, ag, ao, c_prev, pi, pf, po, fast):
    """One peephole-LSTM unit, forward: (i, f, g, o, c, tanh_c).

    i = σ(ai + pi c_prev), f = σ(af + pf c_prev), g = tanh(ag),
    c = f c_prev + i g, o = σ(ao + po c); the hidden state is o tanh(c).
    """
    i = sigmoid(ai + pi * c_prev, fast)
    f = sigmoid(af + pf * c_prev, fast)
    g = tanh(ag, fast)
    c = f * c_prev + i * g
    o = sigmoid(ao + po * c, fast)
    return i, f, g, o, c, tanh(c, fast)


@_scalar
def lstm_peephole_gates_backward(i, f, g, o, c_prev, tanh_c, pi, pf, po, dh_raw, dc):
    """One peephole-LSTM unit, backward: (dai, daf, dag, dao, dc_prev, dpi, dpf, dpo).

    dao = dh tanh_c o (1 - o), dc_t = dc + dh o (1 - tanh_c²) + dao po,
    dai = dc_t g i (1 - i), daf = dc_t c_prev f (1 - f), dag = dc_t i (1 - g²),
    dc_prev = dc_t f + dai pi + daf pf; dpi = dai c_prev, dpf = daf c_prev, dpo = dao c
    (c = f c_prev + i g, recomputed).
    """
    dao = dh_raw * tanh_c * o * (_ONE - o)
    dct = dc + dh_raw * o * (_ONE - tanh_c * tanh_c) + dao * po
    dai = dct * g * i * (_ONE - i)
    daf = dct * c_prev * f * (_ONE - f)
    dag = dct * i * (_ONE - g * g)
    dc_prev = dct * f + dai * pi + daf * pf
    return dai, daf, dag, dao, dc_prev, dai * c_prev, daf * c_prev, dao * (f * c_prev + i * g)


#: The LSTM's rows read the summed bias alone.
lstm_row_params = summed_bias


@_scalar
def lstm_peephole_row_params(b_ih, b_hh, bias, units):
    """The peephole LSTM's row parameters: the summed bias, and p_i, p_f, p_o."""
    return bias, units


# The LSTM and the peephole LSTM share their rows and units: one source each, compiled for
# each cell with its own PEEPHOLE global (see _with_peepholes).


def _lstm_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of an LSTM step: x keeps i, f, g, o; c, h = o tanh c, taped = tanh c (with the
    peepholes p_i, p_f, p_o of params where ``PEEPHOLE``)."""
    if PEEPHOLE:  # noqa: F821 (a global of each cell's copy)
        b, p = params
    else:
        b = p = params
    for j in range(c.shape[0]):
        ai = x[0, j] + b[0, j] + hh[0, j]
        af = x[1, j] + b[1, j] + hh[1, j]
        ag = x[2, j] + b[2, j] + hh[2, j]
        ao = x[3, j] + b[3, j] + hh[3, j]
        if PEEPHOLE:  # noqa: F821
            i, f, g, o, c_j, tanh_c = lstm_peephole_gates(
                ai, af, ag, ao, c[j], p[0, j], p[1, j], p[2, j], fast
            )
        else:
            i, f, g, o, c_j, tanh_c = lstm_gates(ai, af, ag, ao, c[j], fast)
        if keep:
            x[0, j], x[1, j], x[2, j], x[3, j], taped[0, j] = i, f, g, o, tanh_c
        c[j] = c_j
        h[j] = o * tanh_c


def _lstm_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of an LSTM step backward: dx of i, f, g, o (and dunits of p_i, p_f, p_o where
    ``PEEPHOLE``); dc becomes dL/dc_prev."""
    for j in range(dc.shape[0]):
        i, f, gg, o, tanh_c = gates[0, j], gates[1, j], gates[2, j], gates[3, j], taped[0, j]
        if PEEPHOLE:  # noqa: F821
            p = params[1]
            dx[0, j], dx[1, j], dx[2, j], dx[3, j], dc[j], dunits[0, j], dunits[1, j], \
                dunits[2, j] = lstm_peephole_gates_backward(
                    i, f, gg, o, cprev[j], tanh_c, p[0, j], p[1, j], p[2, j], dhraw[j] + g[j],
                    dc[j],
                )  # fmt: skip
        else:
            dx[0, j], dx[1, j], dx[2, j], dx[3, j], dc[j] = lstm_gates_backward(
                i, f, gg, o, cprev[j], tanh_c, dhraw[j] + g[j], dc[j]
            )


def _lstm_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                       keep):
    """One unit of an LSTM step: the tape keeps i, f, g, o, tanh c; returns (o tanh c, c)
    (with the peepholes of ``units`` where ``PEEPHOLE``)."""
    x = xp[t, b]
    ai, af, ag, ao = x[j] + p0, x[H + j] + p1, x[2 * H + j] + p2, x[3 * H + j] + p3
    if PEEPHOLE:  # noqa: F821
        i, f, g, o, c, tanh_c = lstm_peephole_gates(
            ai, af, ag, ao, c_prev, units[j], units[H + j], units[2 * H + j], fast
        )
    else:
        i, f, g, o, c, tanh_c = lstm_gates(ai, af, ag, ao, c_prev, fast)
    if keep:
        row = gates[t, b]
        row[j], row[H + j], row[2 * H + j], row[3 * H + j], row[4 * H + j] = i, f, g, o, tanh_c
    return o * tanh_c, c


def _lstm_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units,
                        relu):
    """One unit of an LSTM step backward: dgx of i, f, g, o (and dunits of p_i, p_f, p_o
    where ``PEEPHOLE``); returns (0, dc_prev)."""
    kept = gates[t, b]
    i, f, g, o, tanh_c = kept[j], kept[H + j], kept[2 * H + j], kept[3 * H + j], kept[4 * H + j]
    dx = dgx[t, b]
    if PEEPHOLE:  # noqa: F821
        dp = dunits[t, b]
        dx[j], dx[H + j], dx[2 * H + j], dx[3 * H + j], dc_prev, dp[j], dp[H + j], \
            dp[2 * H + j] = lstm_peephole_gates_backward(
                i, f, g, o, c_prev, tanh_c, units[j], units[H + j], units[2 * H + j], dh, dc
            )  # fmt: skip
    else:
        dx[j], dx[H + j], dx[2 * H + j], dx[3 * H + j], dc_prev = lstm_gates_backward(
            i, f, g, o, c_prev, tanh_c, dh, dc
        )
    return dc_prev, dc_prev


def _with_peepholes(function, cell, peephole):
    """``{cell}_{kind}``: the shared ``function`` compiled with its global ``PEEPHOLE`` set
    to ``peephole`` (:func:`with_globals`), so the LSTM's functions do not compile the
    peephole maths."""
    return _scalar(with_globals(function, cell + function.__name__[len("_lstm") :],
                                PEEPHOLE=peephole))


_SHARED = (_lstm_row_forward, _lstm_row_backward, _lstm_unit_forward, _lstm_unit_backward)
lstm_row_forward, lstm_row_backward, lstm_unit_forward, lstm_unit_backward = (
    _with_peepholes(function, "lstm", False) for function in _SHARED
)
(lstm_peephole_row_forward, lstm_peephole_row_backward, lstm_peephole_unit_forward,
 lstm_peephole_unit_backward) = (_with_peepholes(function, "lstm_peephole", True)
                                 for function in _SHARED)  # fmt: skip
