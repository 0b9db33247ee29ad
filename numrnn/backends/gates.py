"""Gate maths of every cell, written once, per hidden unit.

These scalar functions are the single definition of what one hidden unit of a
cell computes in one time step, forward and backward.  They are plain
``@numba.njit`` functions: no allocation, no NumPy calls, only ``math``
functions and arithmetic, so they can be called from the ``@njit`` time loops
of the ``"cpu"`` backend and from ``@cuda.jit`` kernels alike (Numba compiles
a called ``njit`` function for the calling target).  They are compiled with
``inline="always"`` (inlined in Numba's IR): left to LLVM, ``lstm_gates`` was
not inlined and a loop over hidden units calling it ran 12x slower, unvectorised.

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

    {cell}_row_params(b_ih, b_hh, bias) -> params
        # what the rows read of the biases (bias = b_ih + b_hh), split into
        # per-gate views once per call: split on every row of every step,
        # the GRU's forward ran 12% slower at H = 32
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
                        ddirect, relu)
        # dhraw + g: dL/dhraw of this step (g the output's gradient, added
        # here rather than in a pass of its own); dc: dL/dc in, dL/dc_prev out
        # (LSTM);
        # dx, dhid: gradients of the input and hidden parts of the
        # pre-activations (one array unless the cell's direct_grad);
        # ddirect: the part of dL/dh_prev not through W_hh (direct_grad)

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
    "lstm_gates",
    "lstm_gates_backward",
    "lstm_row_backward",
    "lstm_row_forward",
    "lstm_row_params",
    "rnn_act",
    "rnn_act_backward",
    "rnn_row_backward",
    "rnn_row_forward",
    "rnn_row_params",
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


@_scalar
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
def rnn_row_params(b_ih, b_hh, bias):
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
def rnn_row_backward(gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, relu):
    """One row of a vanilla RNN step backward: dx = act'(a) (dhraw + g)."""
    for j in range(dhraw.shape[0]):
        dx[j] = rnn_act_backward(gates[j], dhraw[j] + g[j], relu)


@_scalar
def lstm_row_params(b_ih, b_hh, bias):
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
def lstm_row_backward(gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, relu):
    """One row of an LSTM step backward: dx of i, f, g, o; dc becomes dL/dc_prev."""
    H = dc.shape[0]
    gi, gf, gg, go = _split4(gates, H)
    di, df, dg, do = _split4(dx, H)
    for j in range(H):
        di[j], df[j], dg[j], do[j], dc[j] = lstm_gates_backward(
            gi[j], gf[j], gg[j], go[j], cprev[j], taped[j], dhraw[j] + g[j], dc[j]
        )


@_scalar
def gru_row_params(b_ih, b_hh, bias):
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
def gru_row_backward(gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid, ddirect, relu):
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
