"""The GRU family's maths: the GRU (PyTorch's, reset after W_hn h) and the light GRU
(Ravanelli et al. 2018); per unit, per row (CPU) and per unit of a kernel (CUDA).

See :mod:`numrnn.backends.gates` for the conventions and signatures.
"""

from ._common import _ONE, _ZERO, _relu, _scalar, sigmoid, summed_bias, tanh


@_scalar
def gru_gates(xr, xz, xn, hr, hz, hn, h_prev, fast):
    """One GRU unit, forward (reset gate applied after the hidden product).

    Parameters
    ----------
    xr, xz, xn : float
        Input parts W_i* x + b_i* of the gates r, z, n.
    hr, hz, hn : float
        Hidden parts W_h* h_prev + b_h*.
    h_prev : float
        Previous hidden state.
    fast : bool
        See :func:`tanh`.

    Returns
    -------
    r, z, n, h : float
        r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r hn),
        h = (1 - z) n + z h_prev.
    """
    r = sigmoid(xr + hr, fast)
    z = sigmoid(xz + hz, fast)
    n = tanh(xn + r * hn, fast)
    h = (_ONE - z) * n + z * h_prev
    return r, z, n, h


@_scalar
def gru_gates_backward(r, z, n, hn, h_prev, dh):
    """One GRU unit, backward.

    Parameters
    ----------
    r, z, n, hn, h_prev : float
        Forward values of this step (``hn`` = W_hn h_prev + b_hn).
    dh : float
        dL/dh of this step (from the output, h_n and the next step).

    Returns
    -------
    dar, daz : float
        Gradients of the r and z pre-activations (= of their input parts
        and of their hidden parts).
    dxn, dhn : float
        Gradients of xn and of hn: dxn = dh (1 - z)(1 - n²), dhn = dxn r.
    dh_prev : float
        The direct part dh z of dL/dh_prev (the part through W_hh is the
        caller's).
    """
    dxn = dh * (_ONE - z) * (_ONE - n * n)
    dar = dxn * hn * r * (_ONE - r)
    daz = dh * (h_prev - n) * z * (_ONE - z)
    return dar, daz, dxn, dxn * r, dh * z


@_scalar
def gru_row_params(b_ih, b_hh, bias, units):
    """The GRU's row parameters: both biases (r's hidden part stays apart)."""
    return b_ih, b_hh


@_scalar
def gru_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a GRU step: x keeps r, z, n; taped = W_hn h + b_hn; h becomes h'."""
    bi, bh = params
    for j in range(h.shape[0]):
        hn_j = hh[2, j] + bh[2, j]
        r, z, n, h[j] = gru_gates(
            x[0, j] + bi[0, j], x[1, j] + bi[1, j], x[2, j] + bi[2, j],
            hh[0, j] + bh[0, j], hh[1, j] + bh[1, j], hn_j, h[j], fast,
        )  # fmt: skip
        if keep:
            x[0, j], x[1, j], x[2, j], taped[0, j] = r, z, n, hn_j


@_scalar
def gru_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a GRU step backward: dx, dhid of r, z, n; ddirect = z dh."""
    for j in range(dhraw.shape[0]):
        dr, dz, dx[2, j], dhid[2, j], ddirect[j] = gru_gates_backward(
            gates[0, j], gates[1, j], gates[2, j], taped[0, j], hprev[j], dhraw[j] + g[j]
        )
        dx[0, j], dx[1, j], dhid[0, j], dhid[1, j] = dr, dz, dr, dz


@_scalar
def gru_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                     keep):
    """One unit of a GRU step: the tape keeps r, z, n, W_hn h + b_hn; returns (h, c_prev)."""
    x = xp[t, b]
    r, z, n, h = gru_gates(x[j], x[H + j], x[2 * H + j], p0, p1, p2, h_prev, fast)
    if keep:
        row = gates[t, b]
        row[j], row[H + j], row[2 * H + j], row[3 * H + j] = r, z, n, p2
    return h, c_prev


@_scalar
def gru_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units, relu):
    """One unit of a GRU step backward: dgx, dgh of r, z, n; returns (z dh, dc)."""
    kept = gates[t, b]
    dar, daz, dxn, dhn, dh_direct = gru_gates_backward(
        kept[j], kept[H + j], kept[2 * H + j], kept[3 * H + j], h_prev, dh
    )
    row = dgx[t, b]
    row[j], row[H + j], row[2 * H + j] = dar, daz, dxn
    row = dgh[t, b]
    row[j], row[H + j], row[2 * H + j] = dar, daz, dhn
    return dh_direct, dc


@_scalar
def ligru_gates(az, an, h_prev, fast):
    """One Li-GRU unit, forward: (z, n, h) with z = σ(az), n = relu(an),
    h = z h_prev + (1 - z) n."""
    z = sigmoid(az, fast)
    n = _relu(an)
    return z, n, z * h_prev + (_ONE - z) * n


@_scalar
def ligru_gates_backward(z, n, h_prev, dh):
    """One Li-GRU unit, backward: (daz, dan, dh_direct).

    daz = dh (h_prev - n) z (1 - z), dan = dh (1 - z) [n > 0], dh_direct = dh z.
    """
    daz = dh * (h_prev - n) * z * (_ONE - z)
    dan = dh * (_ONE - z) if n > _ZERO else _ZERO
    return daz, dan, dh * z


#: The Li-GRU's rows read the summed bias alone.
ligru_row_params = summed_bias


@_scalar
def ligru_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a Li-GRU step: x keeps z, n; h becomes h'."""
    b = params
    for j in range(h.shape[0]):
        z, n, h_j = ligru_gates(
            x[0, j] + b[0, j] + hh[0, j], x[1, j] + b[1, j] + hh[1, j], h[j], fast
        )
        if keep:
            x[0, j], x[1, j] = z, n
        h[j] = h_j


@_scalar
def ligru_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a Li-GRU step backward: dx of z, n; ddirect = z dh."""
    for j in range(dhraw.shape[0]):
        dx[0, j], dx[1, j], ddirect[j] = ligru_gates_backward(
            gates[0, j], gates[1, j], hprev[j], dhraw[j] + g[j]
        )


@_scalar
def ligru_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                       keep):
    """One unit of a Li-GRU step: the tape keeps z, n; returns (h, c_prev)."""
    x = xp[t, b]
    z, n, h = ligru_gates(x[j] + p0, x[H + j] + p1, h_prev, fast)
    if keep:
        row = gates[t, b]
        row[j], row[H + j] = z, n
    return h, c_prev


@_scalar
def ligru_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units,
                        relu):
    """One unit of a Li-GRU step backward: dgx of z, n; returns (z dh, dc)."""
    kept = gates[t, b]
    daz, dan, dh_direct = ligru_gates_backward(kept[j], kept[H + j], h_prev, dh)
    row = dgx[t, b]
    row[j], row[H + j] = daz, dan
    return dh_direct, dc
