"""Central finite differences, the independent check of every analytic gradient here."""

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """d f(x) / d x by central differences; ``f`` maps a float64 array to a float.

    ``x`` is perturbed in place and restored, so ``f`` may close over it.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        plus = f(x)
        flat_x[i] = saved - eps
        minus = f(x)
        flat_x[i] = saved
        flat_g[i] = (plus - minus) / (2 * eps)
    return grad
