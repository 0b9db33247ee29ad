"""A dense head on one step of hidden states, compiled: ``Sequential.stream``'s fast path.

At one sample per call NumPy's per-call overheads are the whole cost of a small head (an
affine map and a softmax took ~9 µs, four times the recurrent step); compiled, it is one
call.  The activations are those of :mod:`numrnn.activations`, in the same numerically
stable forms.
"""

import math

from ._jit import jit

__all__ = ["ACTIVATION_CODES", "dense_step"]

#: The output functions of :data:`numrnn.activations.OUTPUT_FUNCTIONS`, by code.
ACTIVATION_CODES = {"identity": 0, "softmax": 1, "sigmoid": 2}


@jit(nogil=False)
def dense_step(h, weight, bias, activation, out):
    """out = ``f(h Wᵀ + b)`` for hidden states h (B, F).

    Parameters
    ----------
    h : array (B, F)
    weight : array (O, F)
    bias : array (O,) or (0,) for none
    activation : int
        A code of :data:`ACTIVATION_CODES`.
    out : array (B, O)
        Written (made by the caller: a new array made and returned here cost 0.5 µs more).
    """
    B, F = h.shape
    O = weight.shape[0]
    one = h.dtype.type(1)
    for b in range(B):
        z = out[b]
        for o in range(O):
            w = weight[o]
            acc = bias[o] if bias.size else h.dtype.type(0)
            for f in range(F):
                acc += w[f] * h[b, f]
            z[o] = acc
        if activation == 1:  # softmax, shifted by the maximum
            top = z[0]
            for o in range(1, O):
                top = max(top, z[o])
            total = h.dtype.type(0)
            for o in range(O):
                z[o] = math.exp(z[o] - top)
                total += z[o]
            for o in range(O):
                z[o] /= total
        elif activation == 2:  # sigmoid, without overflow on either side
            for o in range(O):
                if z[o] >= 0:
                    z[o] = one / (one + math.exp(-z[o]))
                else:
                    e = math.exp(z[o])
                    z[o] = e / (one + e)
