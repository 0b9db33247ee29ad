"""Gate maths of every cell, written once, per hidden unit.

These scalar functions are the single definition of what one hidden unit of a
cell computes in one time step, forward and backward.  They are plain
``@numba.njit`` functions: no allocation, no NumPy calls, only ``math``
functions and arithmetic, so they can be called from the ``@njit`` time loops
of the ``"cpu"`` backend and from ``@cuda.jit`` kernels alike (Numba compiles
a called ``njit`` function for the calling target).  They are compiled with
``inline="always"`` (inlined in Numba's IR): left to LLVM, ``lstm_gates`` was
not inlined and a loop over hidden units calling it ran 12x slower, unvectorised.
``sigmoid``, small enough for LLVM to inline, is the exception (see there).

Conventions
-----------
* **dtype-preserving.**  Every constant is a ``numpy.float32`` whose value is
  exact in float32 (0.5, 1) or is a coefficient of the float32
  approximations.  float32 op float32 stays float32 and float64 op float32 is
  float64, so float32 inputs give float32 results and float64 inputs float64
  results.  Never pass Python floats or ints: they would promote float32 to
  float64.
* **fast** (last argument of the functions that evaluate an activation)
  selects how tanh and the logistic sigmoid are evaluated:

  - ``fast=False``: ``math.tanh`` and ``1 / (1 + math.exp(-x))``, exact to
    the rounding of the dtype.  Use it for float64 (the ``"cpu"`` backend is
    tested against the NumPy reference to rtol 1e-10 there).
  - ``fast=True``: rational approximation of tanh (the degree 13/6 minimax
    fit used by Eigen for float32) on |x| <= 7.905, exactly ±1 beyond;
    sigmoid(x) = 1/2 + tanh(x/2)/2.
    Max absolute error ~3e-7 in float32; it is plain arithmetic, so a loop of
    it vectorises (the libm calls do not, on the CPU).  Meant for float32.

  Pass a constant known at compile time (the ``"cpu"`` backend derives it
  from the dtype by an ``@overload``): after inlining, the compiler removes
  the branch.  A runtime flag works but keeps the loop from vectorising.
* **NaN** propagates through every forward function (the clamps are written
  as comparisons that are false for NaN; no ``fastmath`` is used, so NaN
  checks are not optimised away).  ``rnn_act`` with ReLU returns NaN for NaN
  input, like ``torch.relu``.  Infinite pre-activations saturate (tanh(±inf)
  = ±1, sigmoid(+inf) = 1, sigmoid(-inf) = 0) in both modes.
* Compile with ``error_model="numpy"`` in callers too: the default Python
  error model puts a zero-division check on every ``/``, which blocks
  vectorisation.

API
---
Activations::

    tanh(x, fast) -> tanh(x)
    sigmoid(x, fast) -> 1 / (1 + exp(-x))

Vanilla RNN, ``a`` = W_ih x + b_ih + W_hh h + b_hh, ``relu`` an int code
(0: tanh, 1: relu)::

    rnn_act(a, relu, fast) -> h
    rnn_act_backward(h, dh, relu) -> da

LSTM, ``a*`` = the full pre-activations (W_i* x + b_i* + W_h* h + b_h*) of
the gates i, f, g, o; ``h_raw`` = o * tanh(c) is the hidden state before the
optional projection W_hr::

    lstm_gates(ai, af, ag, ao, c_prev, fast) -> (i, f, g, o, c, tanh_c)
        # c = f*c_prev + i*g, h_raw = o*tanh_c
    lstm_gates_backward(i, f, g, o, c_prev, tanh_c, dh_raw, dc)
        -> (dai, daf, dag, dao, dc_prev)
        # dh_raw = dL/dh_raw, dc = dL/dc from later steps / c_n

Rows: one batch row of one time step, a loop over the H units of the
functions above, for the CPU time loops and the stepper (registered per cell
in :mod:`numrnn._cells`; they inline into a loop skeleton compiled per cell)::

    {cell}_row_params(b_ih, b_hh, bias, units) -> params
        # what the rows read of the biases (bias = b_ih + b_hh) and of the
        # cell's per-unit parameters ``units`` (K*H; size 0 without), split
        # into per-gate views once per call: split on every row of every
        # step, the GRU's forward ran 12% slower at H = 32
    {cell}_row_forward(x, params, hh, c, h, taped, relu, fast, keep)
        # x: the row of X W_ihᵀ (G*H); params: from row_params; hh: the row
        # of h_prev W_hhᵀ (G*H, no bias); c: c_prev (H), updated in place to c
        # (LSTM); h: h_prev (H) on entry for a cell without projection (GRU
        # reads it), updated in place to the new hidden state before any
        # projection.  Where ``keep``, x is overwritten with the gate values
        # and taped with the cell's extra tape values (the time loops'
        # tape); the stepper keeps none.
        # ``keep`` is a compile-time constant, like ``fast``: with the five
        # stores per unit the stepper does not need, its LSTM loop did not
        # vectorise.  And h is one array updated in place, not an input and
        # an output that may alias: with two, LLVM could not prove the loop
        # safe to vectorise (the GRU's ran 3.5x slower).
    {cell}_row_backward(gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid,
                        ddirect, params, dunits, relu)
        # dhraw + g: dL/dhraw of this step (g the output's gradient, added
        # here rather than in a pass of its own); dc: dL/dc in, dL/dc_prev out
        # (LSTM);
        # dx, dhid: gradients of the input and hidden parts of the
        # pre-activations (one array unless the cell's split_grad);
        # params: from row_params; dunits: this step's part of the gradient
        # of the per-unit parameters (K*H);
        # ddirect: the part of dL/dh_prev not through W_hh (direct_grad)

Units: one hidden unit j of batch row b at time t, for the CUDA kernels
(registered per cell like the rows; they inline into the phase skeletons of
:mod:`numrnn.backends.cuda._kernels`, compiled per cell)::

    {cell}_unit_forward(xp, gates, t, b, j, H, p0, p1, p2, p3, h_prev, c_prev,
                        units, relu, fast, keep) -> (h_raw, c)
        # xp (T, B, G*H): W_ih x + b_ih; p0..p3: the hidden parts W_h* h + b_h*
        # of gates 0..3 at unit j (0 beyond G); h_prev: h_{t-1}[j] (0 with a
        # projection); c_prev: c_{t-1}[j] (0 without a cell state); units: the
        # per-unit parameters (K*H,); where ``keep``, the cell's (G + E)*H tape
        # values go to gates[t, b, :].  Returns the hidden state before any
        # projection and the new c (anything without a cell state).
    {cell}_unit_backward(gates, dgx, dgh, dunits, t, b, j, H, h_prev, c_prev,
                         dh, dc, units, relu) -> (dh_direct, dc_prev)
        # dh: dL/dh_raw of this step; dc: dL/dc from later steps; writes
        # dgx[t, b, g*H + j] (and dgh: one array unless the cell's split_grad)
        # and dunits[t, b, :] (this step's part of the per-unit parameters'
        # gradient).  Returns the direct part of dL/dh_prev (direct_grad) and
        # dL/dc_prev; anything where the cell has neither.

GRU, ``x*`` = W_i* x + b_i* and ``h*`` = W_h* h + b_h* kept apart, because
the reset gate multiplies the hidden part of the candidate::

    gru_gates(xr, xz, xn, hr, hz, hn, h_prev, fast) -> (r, z, n, h)
    gru_gates_backward(r, z, n, hn, h_prev, dh)
        -> (dar, daz, dxn, dhn, dh_prev)
        # dar, daz: gradients of the r, z pre-activations (input and hidden
        # parts alike); dxn: of xn; dhn: of hn; dh_prev: the direct part
        # z*dh (the caller adds the part through W_hh).

Notes
-----
Forward equations (PyTorch's)::

    RNN:  h = tanh(a) or max(a, 0)
    LSTM: i = σ(ai), f = σ(af), g = tanh(ag), o = σ(ao)
          c = f c_prev + i g,  h_raw = o tanh(c)
    GRU:  r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r hn)
          h = (1 - z) n + z h_prev

Backward equations (σ' = σ(1 - σ), tanh' = 1 - tanh²)::

    RNN:  da = dh (1 - h²)  or  dh [h > 0]
    LSTM: dc_t  = dc + dh_raw o (1 - tanh_c²)
          dao = dh_raw tanh_c o (1 - o),  dai = dc_t g i (1 - i)
          dag = dc_t i (1 - g²),          daf = dc_t c_prev f (1 - f)
          dc_prev = dc_t f
    GRU:  dxn = dh (1 - z) (1 - n²),  dhn = dxn r
          dar = dxn hn r (1 - r),     daz = dh (h_prev - n) z (1 - z)
          dh_prev = dh z
"""

import math

import numba
import numpy as np

__all__ = [
    "gru_gates",
    "gru_gates_backward",
    "gru_row_backward",
    "gru_row_forward",
    "gru_row_params",
    "gru_unit_backward",
    "gru_unit_forward",
    "ligru_gates",
    "ligru_gates_backward",
    "ligru_row_backward",
    "ligru_row_forward",
    "ligru_row_params",
    "ligru_unit_backward",
    "ligru_unit_forward",
    "lstm_cifg_gates",
    "lstm_cifg_gates_backward",
    "lstm_cifg_row_backward",
    "lstm_cifg_row_forward",
    "lstm_cifg_row_params",
    "lstm_cifg_unit_backward",
    "lstm_cifg_unit_forward",
    "lstm_gates",
    "lstm_gates_backward",
    "lstm_peephole_gates",
    "lstm_peephole_gates_backward",
    "lstm_peephole_row_backward",
    "lstm_peephole_row_forward",
    "lstm_peephole_row_params",
    "lstm_peephole_unit_backward",
    "lstm_peephole_unit_forward",
    "lstm_row_backward",
    "lstm_row_forward",
    "lstm_row_params",
    "lstm_unit_backward",
    "lstm_unit_forward",
    "rnn_act",
    "rnn_act_backward",
    "rnn_row_backward",
    "rnn_row_forward",
    "rnn_row_params",
    "rnn_unit_backward",
    "rnn_unit_forward",
    "sigmoid",
    "tanh",
]

# float32 constants: exact in float32, so they neither promote float32 nor
# lose anything for float64 (see the module docstring).
_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)

# Rational minimax approximation of tanh on [-c, c] (Eigen's float32 tanh):
# tanh(x) ~ x P(x²) / Q(x²); beyond c the fit rounds to ±1 in float32.
_TANH_CLAMP = np.float32(7.90531110763549805)
_P13 = np.float32(-2.76076847742355e-16)
_P11 = np.float32(2.00018790482477e-13)
_P9 = np.float32(-8.60467152213735e-11)
_P7 = np.float32(5.12229709037114e-08)
_P5 = np.float32(1.48572235717979e-05)
_P3 = np.float32(6.37261928875436e-04)
_P1 = np.float32(4.89352455891786e-03)
_Q6 = np.float32(1.19825839466702e-06)
_Q4 = np.float32(1.18534705686654e-04)
_Q2 = np.float32(2.26843463243900e-03)
_Q0 = np.float32(4.89352518554385e-03)

# error_model="numpy": no zero-division checks, so loops over units vectorise;
# inline="always": see the module docstring.
_scalar = numba.njit(error_model="numpy", inline="always")


@_scalar
def tanh(x, fast):
    """Hyperbolic tangent, exact (``fast=False``) or rational approximation.

    Parameters
    ----------
    x : float32 or float64
    fast : bool
        True: x P(x²)/Q(x²) for |x| <= 7.905, ±1 beyond (max abs error
        ~3e-7); False: ``math.tanh``.

    Returns
    -------
    float of x's type
    """
    if fast:
        # Beyond the clamp the fit is not used: tanh is ±1 within the fit's
        # error there, and exact ±1 makes sigmoid saturate to exactly 0 and 1.
        # Comparisons are False for NaN, so NaN passes through to the fit.
        if x > _TANH_CLAMP:
            return _ONE
        if x < -_TANH_CLAMP:
            return -_ONE
        x2 = x * x
        p = x2 * _P13 + _P11
        p = x2 * p + _P9
        p = x2 * p + _P7
        p = x2 * p + _P5
        p = x2 * p + _P3
        p = x2 * p + _P1
        q = x2 * _Q6 + _Q4
        q = x2 * q + _Q2
        q = x2 * q + _Q0
        return x * p / q
    return math.tanh(x)


# Not inlined in Numba's IR, unlike the other functions here: LLVM inlines it as
# well (no loss of speed measured), and the IR copies of the tanh it holds, in
# every caller, cost 0.5 s of compilation before an LSTM's first gradient.
@numba.njit(error_model="numpy")
def sigmoid(x, fast):
    """Logistic sigmoid σ(x) = 1 / (1 + exp(-x)).

    ``fast=True`` evaluates 1/2 + tanh(x/2)/2 with the approximate tanh
    (max abs error ~2.5e-7 in float32); ``fast=False`` uses ``math.exp`` (exp(-x)
    overflows to inf for very negative x, giving the correct limit 0).
    """
    if fast:
        return _HALF + _HALF * tanh(_HALF * x, fast)
    return _ONE / (_ONE + math.exp(-x))


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


# ---------------------------------------------------------------------------
# Rows: the units of one batch row at one step (see the module docstring).
# Per-gate views (``xi = x[:H]``) rather than ``x[H + j]``: with the offset
# form LLVM could not rule out that a store to one gate overlaps a load of
# another, and left the loop scalar (24 ns per LSTM unit instead of 2-4).
# ---------------------------------------------------------------------------


@_scalar
def _split3(a, H):
    """The three gate blocks of a row of length 3H, as views."""
    return a[:H], a[H : 2 * H], a[2 * H : 3 * H]


@_scalar
def _split4(a, H):
    """The four gate blocks of a row of length 4H, as views."""
    return a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H : 4 * H]


@_scalar
def rnn_row_params(b_ih, b_hh, bias, units):
    """The vanilla RNN's row parameters: the summed bias."""
    return bias


@_scalar
def rnn_row_forward(x, params, hh, c, h, taped, relu, fast, keep):
    """One row of a vanilla RNN step: h = act(x + hh + b); x keeps h."""
    bias = params
    for j in range(h.shape[0]):
        h_j = rnn_act(x[j] + bias[j] + hh[j], relu, fast)
        if keep:
            x[j] = h_j
        h[j] = h_j


@_scalar
def rnn_row_backward(
    gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, params, dunits, relu
):
    """One row of a vanilla RNN step backward: dx = act'(a) (dhraw + g)."""
    for j in range(dhraw.shape[0]):
        dx[j] = rnn_act_backward(gates[j], dhraw[j] + g[j], relu)


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


# ---------------------------------------------------------------------------
# Units: one hidden unit of one batch row at one step, for the CUDA kernels
# (see the module docstring).  ``c_prev``/``dc`` are 0 and the returned c /
# dc_prev, dh_direct ignored for a cell without them.
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Extended cells (DESIGN.md "Extended cells"): each one's per-unit maths, its
# rows and its units together.  IndRNN is the vanilla RNN's maths (ReLU) with
# a diagonal recurrence, which the time loops and kernels do.
# ---------------------------------------------------------------------------


@_scalar
def _split2(a, H):
    """The two gate blocks of a row of length 2H, as views."""
    return a[:H], a[H : 2 * H]


@_scalar
def _relu(a):
    """max(a, 0), NaN kept (``a < 0`` is False for NaN), like ``torch.relu``."""
    return _ZERO if a < _ZERO else a


# -- lstm_cifg: coupled input and forget gates (Greff et al. 2017) ----------


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


# -- ligru: the light GRU (Ravanelli et al. 2018), without batch norm --------


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


# -- lstm_peephole: peephole connections (Gers & Schmidhuber 2000) -----------


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
