"""The LSTM family's maths: the LSTM (PyTorch's), the peephole LSTM (Gers & Schmidhuber
2000) and the coupled input-forget gate LSTM (Greff et al. 2017); per unit, per row (CPU) and
per unit of a kernel (CUDA).

See :mod:`numrnn.backends.gates` for the conventions and signatures.
"""

from ._common import _ONE, _scalar, _split3, _split4, sigmoid, tanh


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
def lstm_row_params(b_ih, b_hh, bias, units):
    """The LSTM's row parameters: the summed bias of each gate."""
    return _split4(bias, bias.shape[0] // 4)


@_scalar
def lstm_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of an LSTM step: x keeps i, f, g, o; c, h = o tanh c, taped = tanh c."""
    H = c.shape[0]
    xi, xf, xg, xo = _split4(x, H)
    hi, hf, hg, ho = _split4(hh, H)
    bi, bf, bg, bo = params
    for j in range(H):
        i, f, g, o, c_j, tanh_c = lstm_gates(
            xi[j] + bi[j] + hi[j],
            xf[j] + bf[j] + hf[j],
            xg[j] + bg[j] + hg[j],
            xo[j] + bo[j] + ho[j],
            c[j],
            fast,
        )
        if keep:
            xi[j], xf[j], xg[j], xo[j], taped[j] = i, f, g, o, tanh_c
        c[j] = c_j
        h[j] = o * tanh_c


@_scalar
def lstm_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of an LSTM step backward: dx of i, f, g, o; dc becomes dL/dc_prev."""
    H = dc.shape[0]
    gi, gf, gg, go = _split4(gates, H)
    di, df, dg, do = _split4(dx, H)
    for j in range(H):
        di[j], df[j], dg[j], do[j], dc[j] = lstm_gates_backward(
            gi[j], gf[j], gg[j], go[j], cprev[j], taped[j], dhraw[j] + g[j], dc[j]
        )


@_scalar
def lstm_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                      keep):
    """One unit of an LSTM step: the tape keeps i, f, g, o, tanh c; returns (o tanh c, c)."""
    i, f, g, o, c, tanh_c = lstm_gates(
        xp[t, b, j] + p0, xp[t, b, H + j] + p1, xp[t, b, 2 * H + j] + p2,
        xp[t, b, 3 * H + j] + p3, c_prev, fast,
    )  # fmt: skip
    if keep:
        gates[t, b, j] = i
        gates[t, b, H + j] = f
        gates[t, b, 2 * H + j] = g
        gates[t, b, 3 * H + j] = o
        gates[t, b, 4 * H + j] = tanh_c
    return o * tanh_c, c


@_scalar
def lstm_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units, relu):
    """One unit of an LSTM step backward: dgx of i, f, g, o; returns (0, dc_prev)."""
    dai, daf, dag, dao, dc_prev = lstm_gates_backward(
        gates[t, b, j], gates[t, b, H + j], gates[t, b, 2 * H + j], gates[t, b, 3 * H + j],
        c_prev, gates[t, b, 4 * H + j], dh, dc,
    )  # fmt: skip
    dgx[t, b, j] = dai
    dgx[t, b, H + j] = daf
    dgx[t, b, 2 * H + j] = dag
    dgx[t, b, 3 * H + j] = dao
    return dc_prev, dc_prev


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


@_scalar
def lstm_cifg_row_params(b_ih, b_hh, bias, units):
    """The CIFG-LSTM's row parameters: the summed bias of each gate."""
    return _split3(bias, bias.shape[0] // 3)


@_scalar
def lstm_cifg_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a CIFG-LSTM step: x keeps f, g, o; c, h = o tanh c, taped = tanh c."""
    H = c.shape[0]
    xf, xg, xo = _split3(x, H)
    hf, hg, ho = _split3(hh, H)
    bf, bg, bo = params
    for j in range(H):
        f, g, o, c_j, tanh_c = lstm_cifg_gates(
            xf[j] + bf[j] + hf[j], xg[j] + bg[j] + hg[j], xo[j] + bo[j] + ho[j], c[j], fast
        )
        if keep:
            xf[j], xg[j], xo[j], taped[j] = f, g, o, tanh_c
        c[j] = c_j
        h[j] = o * tanh_c


@_scalar
def lstm_cifg_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a CIFG-LSTM step backward: dx of f, g, o; dc becomes dL/dc_prev."""
    H = dc.shape[0]
    gf, gg, go = _split3(gates, H)
    df, dg, do = _split3(dx, H)
    for j in range(H):
        df[j], dg[j], do[j], dc[j] = lstm_cifg_gates_backward(
            gf[j], gg[j], go[j], cprev[j], taped[j], dhraw[j] + g[j], dc[j]
        )


@_scalar
def lstm_cifg_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu,
                           fast, keep):
    """One unit of a CIFG-LSTM step: the tape keeps f, g, o, tanh c; returns (o tanh c, c)."""
    f, g, o, c, tanh_c = lstm_cifg_gates(
        xp[t, b, j] + p0, xp[t, b, H + j] + p1, xp[t, b, 2 * H + j] + p2, c_prev, fast
    )
    if keep:
        gates[t, b, j] = f
        gates[t, b, H + j] = g
        gates[t, b, 2 * H + j] = o
        gates[t, b, 3 * H + j] = tanh_c
    return o * tanh_c, c


@_scalar
def lstm_cifg_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units,
                            relu):
    """One unit of a CIFG-LSTM step backward: dgx of f, g, o; returns (0, dc_prev)."""
    daf, dag, dao, dc_prev = lstm_cifg_gates_backward(
        gates[t, b, j], gates[t, b, H + j], gates[t, b, 2 * H + j], c_prev,
        gates[t, b, 3 * H + j], dh, dc,
    )  # fmt: skip
    dgx[t, b, j] = daf
    dgx[t, b, H + j] = dag
    dgx[t, b, 2 * H + j] = dao
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


@_scalar
def lstm_peephole_row_params(b_ih, b_hh, bias, units):
    """The peephole LSTM's row parameters: the summed bias of each gate, and p_i, p_f, p_o."""
    H = bias.shape[0] // 4
    return _split4(bias, H), _split3(units, H)


@_scalar
def lstm_peephole_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a peephole-LSTM step: x keeps i, f, g, o; c, h = o tanh c, taped = tanh c."""
    H = c.shape[0]
    xi, xf, xg, xo = _split4(x, H)
    hi, hf, hg, ho = _split4(hh, H)
    (bi, bf, bg, bo), (pi, pf, po) = params
    for j in range(H):
        i, f, g, o, c_j, tanh_c = lstm_peephole_gates(
            xi[j] + bi[j] + hi[j], xf[j] + bf[j] + hf[j], xg[j] + bg[j] + hg[j],
            xo[j] + bo[j] + ho[j], c[j], pi[j], pf[j], po[j], fast,
        )  # fmt: skip
        if keep:
            xi[j], xf[j], xg[j], xo[j], taped[j] = i, f, g, o, tanh_c
        c[j] = c_j
        h[j] = o * tanh_c


@_scalar
def lstm_peephole_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a peephole-LSTM step backward: dx of i, f, g, o, dunits of p_i, p_f, p_o;
    dc becomes dL/dc_prev."""
    H = dc.shape[0]
    gi, gf, gg, go = _split4(gates, H)
    di, df, dg, do = _split4(dx, H)
    pi, pf, po = params[1]
    dpi, dpf, dpo = _split3(dunits, H)
    for j in range(H):
        di[j], df[j], dg[j], do[j], dc[j], dpi[j], dpf[j], dpo[j] = lstm_peephole_gates_backward(
            gi[j], gf[j], gg[j], go[j], cprev[j], taped[j], pi[j], pf[j], po[j],
            dhraw[j] + g[j], dc[j],
        )  # fmt: skip


@_scalar
def lstm_peephole_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units,
                               relu, fast, keep):
    """One unit of a peephole-LSTM step: the tape keeps i, f, g, o, tanh c; returns
    (o tanh c, c)."""
    i, f, g, o, c, tanh_c = lstm_peephole_gates(
        xp[t, b, j] + p0, xp[t, b, H + j] + p1, xp[t, b, 2 * H + j] + p2,
        xp[t, b, 3 * H + j] + p3, c_prev, units[j], units[H + j], units[2 * H + j], fast,
    )  # fmt: skip
    if keep:
        gates[t, b, j] = i
        gates[t, b, H + j] = f
        gates[t, b, 2 * H + j] = g
        gates[t, b, 3 * H + j] = o
        gates[t, b, 4 * H + j] = tanh_c
    return o * tanh_c, c


@_scalar
def lstm_peephole_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc,
                                units, relu):
    """One unit of a peephole-LSTM step backward: dgx of i, f, g, o and dunits of p_i, p_f,
    p_o; returns (0, dc_prev)."""
    dai, daf, dag, dao, dc_prev, dpi, dpf, dpo = lstm_peephole_gates_backward(
        gates[t, b, j], gates[t, b, H + j], gates[t, b, 2 * H + j], gates[t, b, 3 * H + j],
        c_prev, gates[t, b, 4 * H + j], units[j], units[H + j], units[2 * H + j], dh, dc,
    )  # fmt: skip
    dgx[t, b, j] = dai
    dgx[t, b, H + j] = daf
    dgx[t, b, 2 * H + j] = dag
    dgx[t, b, 3 * H + j] = dao
    dunits[t, b, j] = dpi
    dunits[t, b, H + j] = dpf
    dunits[t, b, 2 * H + j] = dpo
    return dc_prev, dc_prev
