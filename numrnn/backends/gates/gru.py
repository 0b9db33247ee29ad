"""The GRU family's maths: the GRU (PyTorch's, reset after W_hn h) and the light GRU
(Ravanelli et al. 2018); per unit, per row (CPU) and per unit of a kernel (CUDA).

See :mod:`numrnn.backends.gates` for the conventions and signatures.
"""

from ._common import _ONE, _ZERO, _relu, _scalar, _split2, _split3, sigmoid, tanh


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
    """The GRU's row parameters: both biases of each gate (r's hidden part stays apart)."""
    H = b_ih.shape[0] // 3
    return _split3(b_ih, H), _split3(b_hh, H)


@_scalar
def gru_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a GRU step: x keeps r, z, n; taped = W_hn h + b_hn; h becomes h'."""
    H = h.shape[0]
    xr, xz, xn = _split3(x, H)
    hr, hz, hn = _split3(hh, H)
    (bir, biz, bin_), (bhr, bhz, bhn) = params
    for j in range(H):
        hn_j = hn[j] + bhn[j]
        r, z, n, h[j] = gru_gates(
            xr[j] + bir[j],
            xz[j] + biz[j],
            xn[j] + bin_[j],
            hr[j] + bhr[j],
            hz[j] + bhz[j],
            hn_j,
            h[j],
            fast,
        )
        if keep:
            xr[j], xz[j], xn[j], taped[j] = r, z, n, hn_j


@_scalar
def gru_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a GRU step backward: dx, dhid of r, z, n; ddirect = z dh."""
    H = dhraw.shape[0]
    r, z, n = _split3(gates, H)
    dxr, dxz, dxn = _split3(dx, H)
    dhr, dhz, dhn = _split3(dhid, H)
    for j in range(H):
        dr, dz, dxn[j], dhn[j], ddirect[j] = gru_gates_backward(
            r[j], z[j], n[j], taped[j], hprev[j], dhraw[j] + g[j]
        )
        dxr[j] = dr
        dxz[j] = dz
        dhr[j] = dr
        dhz[j] = dz


@_scalar
def gru_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                     keep):
    """One unit of a GRU step: the tape keeps r, z, n, W_hn h + b_hn; returns (h, c_prev)."""
    r, z, n, h = gru_gates(
        xp[t, b, j], xp[t, b, H + j], xp[t, b, 2 * H + j], p0, p1, p2, h_prev, fast
    )
    if keep:
        gates[t, b, j] = r
        gates[t, b, H + j] = z
        gates[t, b, 2 * H + j] = n
        gates[t, b, 3 * H + j] = p2
    return h, c_prev


@_scalar
def gru_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units, relu):
    """One unit of a GRU step backward: dgx, dgh of r, z, n; returns (z dh, dc)."""
    dar, daz, dxn, dhn, dh_direct = gru_gates_backward(
        gates[t, b, j], gates[t, b, H + j], gates[t, b, 2 * H + j], gates[t, b, 3 * H + j],
        h_prev, dh,
    )  # fmt: skip
    dgx[t, b, j] = dar
    dgx[t, b, H + j] = daz
    dgx[t, b, 2 * H + j] = dxn
    dgh[t, b, j] = dar
    dgh[t, b, H + j] = daz
    dgh[t, b, 2 * H + j] = dhn
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


@_scalar
def ligru_row_params(b_ih, b_hh, bias, units):
    """The Li-GRU's row parameters: the summed bias of each gate."""
    return _split2(bias, bias.shape[0] // 2)


@_scalar
def ligru_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a Li-GRU step: x keeps z, n; h becomes h'."""
    H = h.shape[0]
    xz, xn = _split2(x, H)
    hz, hn = _split2(hh, H)
    bz, bn = params
    for j in range(H):
        z, n, h_j = ligru_gates(xz[j] + bz[j] + hz[j], xn[j] + bn[j] + hn[j], h[j], fast)
        if keep:
            xz[j], xn[j] = z, n
        h[j] = h_j


@_scalar
def ligru_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a Li-GRU step backward: dx of z, n; ddirect = z dh."""
    H = dhraw.shape[0]
    gz, gn = _split2(gates, H)
    dz, dn = _split2(dx, H)
    for j in range(H):
        dz[j], dn[j], ddirect[j] = ligru_gates_backward(gz[j], gn[j], hprev[j], dhraw[j] + g[j])


@_scalar
def ligru_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev, units, relu, fast,
                       keep):
    """One unit of a Li-GRU step: the tape keeps z, n; returns (h, c_prev)."""
    z, n, h = ligru_gates(xp[t, b, j] + p0, xp[t, b, H + j] + p1, h_prev, fast)
    if keep:
        gates[t, b, j] = z
        gates[t, b, H + j] = n
    return h, c_prev


@_scalar
def ligru_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev, dh, dc, units,
                        relu):
    """One unit of a Li-GRU step backward: dgx of z, n; returns (z dh, dc)."""
    daz, dan, dh_direct = ligru_gates_backward(gates[t, b, j], gates[t, b, H + j], h_prev, dh)
    dgx[t, b, j] = daz
    dgx[t, b, H + j] = dan
    return dh_direct, dc
