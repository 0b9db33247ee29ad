"""Bernoulli masks for the regularisers, drawn by compiled code.

Zoneout needs T·B·H draws per state and layer-direction at every training call: NumPy's
fastest way (``rng.random(shape, dtype=np.float32) < p``) took ~0.8 ms for (100, 32, 128), as
long as a whole IndRNN forward pass of that size.  :func:`bernoulli` hashes a counter instead
(splitmix64, Steele et al. 2014: no state carried from one draw to the next, so the loop
vectorises), takes two draws from each hash, and writes the 0/1 values (recurrent dropout's
0 and 1/(1-p)) in the mask's dtype directly: 83 us for that shape.
"""

import numpy as np

from ._jit import jit

__all__ = ["bernoulli"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@jit
def _hash(seed, i):
    z = seed + np.uint64(i) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit
def _fill(seed, threshold, value, flat):
    # Two draws per hash: its high and its low 32 bits.
    n = flat.shape[0]
    low = np.uint64(0xFFFFFFFF)
    for i in range(n // 2):
        z = _hash(seed, i)
        flat[2 * i] = value if (z >> np.uint64(32)) < threshold else 0
        flat[2 * i + 1] = value if (z & low) < threshold else 0
    if n % 2:
        flat[n - 1] = value if (_hash(seed, n // 2) >> np.uint64(32)) < threshold else 0


def bernoulli(rng, p, shape, dtype, value=1.0):
    """An array of ``shape`` and ``dtype`` whose entries are ``value`` with probability ``p``,
    else 0.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the seed (one number per mask): masks are reproducible from it.
    p : float in [0, 1]
    shape : tuple of int
    dtype : numpy dtype
    value : float
        The kept entries' value (recurrent dropout's 1 / (1 - p): the scaling in the same
        pass).

    Returns
    -------
    ndarray
        Each 64-bit hash gives two entries: its high and its low 32 bits, each uniform on
        [0, 2^32), are compared with p·2^32 (a resolution of 2^-32 in p, finer than a
        float32 uniform's 2^-24).
    """
    out = np.empty(shape, dtype)
    seed = np.uint64(rng.bit_generator.random_raw())
    _fill(seed, np.uint64(round(p * 2.0**32)), out.dtype.type(value), out.reshape(-1))
    return out
