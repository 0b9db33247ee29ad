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

  - ``fast=False``: ``math.tanh`` and ``1 / (1 + math.exp(-x))``; for
    float64, both in plain arithmetic within 2 ulp of those (Cephes' rational
    fit of tanh below |x| = 0.625, elsewhere exp reduced to 2^n exp(r)): a
    loop of them vectorises, where the libm calls do not (1.5 and 1.2 ns an
    element against 14 and 4.5; the float64 RNN's forward pass became 1.4-2.3x
    faster, the LSTM's and GRU's 10-15% more).  Other dtypes keep libm.  Use
    it for float64 (the ``"cpu"`` backend is tested against the NumPy
    reference to rtol 1e-10 there).
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
        # what the rows read of the biases (bias = b_ih + b_hh), as (G, H)
        # blocks, and of the cell's per-unit parameters ``units``, a (K, H)
        # block (K = 0 without); called once per call, not per row
    {cell}_row_forward(x, params, hh, c, h, taped, relu, fast, keep)
        # x: the row of X W_ihᵀ, (G, H): gate k at unit j is x[k, j];
        # params: from row_params; hh: the row of h_prev W_hhᵀ (G, H, no
        # bias); c: c_prev (H), updated in place to c (LSTM); h: h_prev (H) on
        # entry for a cell without projection (GRU reads it), updated in place
        # to the new hidden state before any projection; taped: (E, H).  Where
        # ``keep``, x is overwritten with the gate values and taped with the
        # cell's extra tape values (the time loops' tape); the stepper keeps
        # none.
        # The callers hand over (G, H) blocks, made once per call, rather
        # than flat rows: a row function that took flat rows and split them
        # into per-gate views would repeat that split in every cell, and
        # reading x[k*H + j] instead (no views) kept the loop from vectorising
        # (a wrap-around test on every index: the LSTM's forward ran 2x
        # slower).
        # ``keep`` is a compile-time constant, like ``fast``: with the five
        # stores per unit the stepper does not need, its LSTM loop did not
        # vectorise.  And h is one array updated in place, not an input and
        # an output that may alias: with two, LLVM could not prove the loop
        # safe to vectorise (the GRU's ran 3.5x slower).
    {cell}_row_backward(gates, taped, hprev, cprev, dhraw, g, dc, dx, dhid,
                        ddirect, params, dunits, relu)
        # gates (G, H), taped (E, H): the forward's tape of this row;
        # dhraw + g: dL/dhraw of this step (g the output's gradient, added
        # here rather than in a pass of its own); dc: dL/dc in, dL/dc_prev out
        # (LSTM);
        # dx, dhid (G, H): gradients of the input and hidden parts of the
        # pre-activations (one array unless the cell's split_grad);
        # params: from row_params; dunits (K, H): this step's part of the
        # gradient of the per-unit parameters;
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

from ._common import sigmoid, tanh
from .gru import (
    gru_gates,
    gru_gates_backward,
    gru_row_backward,
    gru_row_forward,
    gru_row_params,
    gru_unit_backward,
    gru_unit_forward,
    ligru_gates,
    ligru_gates_backward,
    ligru_row_backward,
    ligru_row_forward,
    ligru_row_params,
    ligru_unit_backward,
    ligru_unit_forward,
)
from .lstm import (
    lstm_cifg_gates,
    lstm_cifg_gates_backward,
    lstm_cifg_row_backward,
    lstm_cifg_row_forward,
    lstm_cifg_row_params,
    lstm_cifg_unit_backward,
    lstm_cifg_unit_forward,
    lstm_gates,
    lstm_gates_backward,
    lstm_peephole_gates,
    lstm_peephole_gates_backward,
    lstm_peephole_row_backward,
    lstm_peephole_row_forward,
    lstm_peephole_row_params,
    lstm_peephole_unit_backward,
    lstm_peephole_unit_forward,
    lstm_row_backward,
    lstm_row_forward,
    lstm_row_params,
    lstm_unit_backward,
    lstm_unit_forward,
)
from .rnn import (
    rnn_act,
    rnn_act_backward,
    rnn_row_backward,
    rnn_row_forward,
    rnn_row_params,
    rnn_unit_backward,
    rnn_unit_forward,
)

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
