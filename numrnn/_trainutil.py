"""Masks and layouts shared by the training tools (heads, losses, optimizers, models).

The argument checks they use are in :mod:`numrnn._validation`, with the layers' own.
"""

import numbers

import numpy as np


def valid_mask(lengths, steps, batch):
    """Boolean (steps, batch) mask, True where ``t < lengths[b]`` (all True if None)."""
    if lengths is None:
        return np.ones((steps, batch), dtype=bool)
    return np.arange(steps)[:, None] < lengths[None, :]


def swap_batch_time(arr, swap):
    """View of ``arr`` with its first two axes, (B, T) <-> (T, B), swapped when ``swap``.

    Its own inverse: converts a batch-first array to time-major and back.
    """
    return np.swapaxes(arr, 0, 1) if swap else arr


def json_seed(seed):
    """``seed`` for a saved config: an int or None (other seed objects are not saved; the
    weights they made are)."""
    return int(seed) if isinstance(seed, numbers.Integral) else None


def is_dask(value):
    """Whether ``value`` is a dask collection (array, bag...), checked without importing dask."""
    return type(value).__module__.partition(".")[0] == "dask"
