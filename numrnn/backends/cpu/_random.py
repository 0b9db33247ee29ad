"""Bernoulli masks for the regularisers, drawn by compiled code.

Zoneout needs T·B·H draws per state and layer-direction at every training call: NumPy's
fastest way (``rng.random(shape, dtype=np.float32) < p``) took ~0.8 ms for (100, 32, 128), as
long as a whole IndRNN forward pass of that size.  :func:`bernoulli` hashes a counter instead
(splitmix64, Steele et al. 2014: no state carried from one draw to the next, so the loop
vectorises) and writes the 0/1 values in the mask's dtype directly.
"""

import numpy as np

from ._jit import jit

__all__ = ["bernoulli"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@jit
def _fill(seed, threshold, flat):
    for i in range(flat.shape[0]):
        z = seed + np.uint64(i) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
        flat[i] = 1 if (z >> np.uint64(11)) < threshold else 0


def bernoulli(rng, p, shape, dtype):
    """An array of ``shape`` and ``dtype`` whose entries are 1 with probability ``p``, else 0.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the seed (one number per mask): masks are reproducible from it.
    p : float in [0, 1]
    shape : tuple of int
    dtype : numpy dtype

    Returns
    -------
    ndarray
        The 53 high bits of each hash, uniform on [0, 2^53), are compared with p·2^53.
    """
    out = np.empty(shape, dtype)
    seed = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
    _fill(seed, np.uint64(round(p * 2.0**53)), out.reshape(-1))
    return out
