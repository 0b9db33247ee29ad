"""What every cell's maths uses: the float32 constants, the activations and the
per-gate views (see :mod:`numrnn.backends.gates`)."""

import math
import types

import numba
import numpy as np

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
# every caller, cost 0.5 s of compilation before an LSTM's first gradient.  (No C
# callback wrapper: it is never passed as a first-class function.)
@numba.njit(error_model="numpy", no_cfunc_wrapper=True)
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
def summed_bias(b_ih, b_hh, bias, units):
    """The row parameters of a cell whose rows read the summed bias alone."""
    return bias


@_scalar
def _relu(a):
    """max(a, 0), NaN kept (``a < 0`` is False for NaN), like ``torch.relu``."""
    return _ZERO if a < _ZERO else a


def with_globals(function, name, **constants):
    """A copy of the Python ``function`` named ``name``, with ``constants`` among its globals.

    Numba freezes globals into the machine code and prunes a branch on a constant global
    before typing: one source compiles into variants that each hold only their own code
    (the CPU loops per cell, the LSTM's and the peephole LSTM's rows and units).
    """
    namespace = dict(function.__globals__, **constants)
    copy = types.FunctionType(function.__code__, namespace, name, function.__defaults__)
    copy.__qualname__ = name
    copy.__doc__ = function.__doc__
    return copy
