"""What every cell's maths uses: the float32 constants, the activations and the
per-gate views (see :mod:`numrnn.backends.gates`)."""

import math
import types

import numba
import numpy as np
from numba.extending import overload

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

# float64 tanh (Cephes' tanh and exp, S. Moshier): |x| < 0.625:
# x + x z P(z)/Q(z), z = x²; beyond, 1 - 2 / (exp(2|x|) + 1), the exp reduced to
# 2^n exp(r), |r| <= ln(2)/2, exp(r) = 1 + 2r p(r²) / (q(r²) - r p(r²)).
_TP = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TQ = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
_EP = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_EQ = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
       2.00000000000000000009e0)
_LOG2E = 1.4426950408889634073599
_LN2_HI = 6.93145751953125e-1  # few bits: n * _LN2_HI is exact
_LN2_LO = 1.42860682030941723212e-6

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
        ~3e-7); False: ``math.tanh`` (for float64 :func:`_tanh64`, within 2 ulp of it).

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
    return _exact_tanh(x)


def _exact_tanh(x):
    """``math.tanh``; in compiled code, :func:`_tanh64` for a float64 (other types keep
    ``math.tanh``, which returns their type)."""
    return math.tanh(x)


def _exact_sigmoid(x):
    """``1 / (1 + math.exp(-x))``; in compiled code :func:`_sigmoid64` for a float64."""
    return 1.0 / (1.0 + math.exp(-x))


@overload(_exact_tanh)
def _exact_tanh_impl(x):
    if x == numba.types.float64:
        return lambda x: _tanh64(x)
    return lambda x: math.tanh(x)


@overload(_exact_sigmoid)
def _exact_sigmoid_impl(x):
    if x == numba.types.float64:
        return lambda x: _sigmoid64(x)
    return lambda x: _ONE / (_ONE + math.exp(-x))


# The float64 tanh and sigmoid are plain arithmetic, so that a loop of them vectorises
# (the libm calls do not: 14 and 4.5 ns an element on the project machine, these 1.5 and
# 1.2). Both stay within 2 ulp of libm's; NaN passes through, ±0 keep their sign.


@_scalar
def _exp_parts(y):
    """(m, n) with exp(y) = m 2^n for y >= 0 (Cephes' reduction: m = exp(r), |r| <=
    ln(2)/2). The callers scale by 2^n with int64 shifts: no bit casts, so the same code
    compiles for every target."""
    n = np.int64(y * _LOG2E + 0.5)
    r = (y - n * _LN2_HI) - n * _LN2_LO
    r2 = r * r
    p = r * ((_EP[0] * r2 + _EP[1]) * r2 + _EP[2])
    q = ((_EQ[0] * r2 + _EQ[1]) * r2 + _EQ[2]) * r2 + _EQ[3]
    return 1.0 + 2.0 * p / (q - p), n


@_scalar
def _tanh64(x):
    """float64 tanh: x + x z P(z)/Q(z) (z = x²) below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1)
    above (tanh(20) rounds to 1: 2|x| is cut at 40, and NaN becomes 40 there, handled at
    the end)."""
    a = abs(x)
    if a < 0.625:  # False for NaN
        z = x * x
        small = x + x * (z * (((_TP[0] * z + _TP[1]) * z + _TP[2])
                              / (((z + _TQ[0]) * z + _TQ[1]) * z + _TQ[2])))
        return small if z != 0 else x
    m, n = _exp_parts(a + a if a < 20.0 else 40.0)
    t = 1.0 - 2.0 / (m * np.float64(np.int64(1) << n) + 1.0)
    return t if x > 0 else -t if x < 0 else x


@_scalar
def _sigmoid64(x):
    """float64 logistic sigmoid from e = exp(|x|): e / (e + 1) for x >= 0, 1 / (1 + e) for
    x < 0; |x| is cut at 85, beyond which it is 1, or 0 (the true value is under 1.2e-37
    there). NaN passes through."""
    a = abs(x)
    m, n = _exp_parts(a if a < 85.0 else 85.0)  # NaN: 85, handled at the end
    half = n >> np.int64(1)  # 2^n as two factors: n reaches 123
    e = m * np.float64(np.int64(1) << half) * np.float64(np.int64(1) << (n - half))
    s = e / (e + 1.0) if x >= 0 else 1.0 / (1.0 + e) if a <= 85.0 else 0.0
    return s if x == x else x


# Not inlined in Numba's IR, unlike the other functions here: LLVM inlines it as
# well (no loss of speed measured), and the IR copies of the tanh it holds, in
# every caller, cost 0.5 s of compilation before an LSTM's first gradient.  (No C
# callback wrapper: it is never passed as a first-class function.)
@numba.njit(error_model="numpy", no_cfunc_wrapper=True)
def sigmoid(x, fast):
    """Logistic sigmoid σ(x) = 1 / (1 + exp(-x)).

    ``fast=True`` evaluates 1/2 + tanh(x/2)/2 with the approximate tanh
    (max abs error ~2.5e-7 in float32); ``fast=False`` uses ``math.exp`` (exp(-x)
    overflows to inf for very negative x, giving the correct limit 0), and for a float64
    :func:`_sigmoid64`, within 2 ulp of that.
    """
    if fast:
        return _HALF + _HALF * tanh(_HALF * x, fast)
    return _exact_sigmoid(x)


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
