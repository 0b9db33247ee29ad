"""Argument checks and masks shared by the training tools (heads, losses, optimizers, model).

The layers' checks in :mod:`numrnn._validation` are used as they are; this module adds what
the training tools need besides.

Every check raises with the argument's name, what was expected and what was given, so a user
sees at once which argument to fix.
"""

import numbers

import numpy as np

from numrnn._validation import as_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``, else raise ValueError."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_float(value, name, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a finite float in the given (closed unless told) interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not np.isfinite(value) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        bounds = ("-inf" if low is None else low, "inf" if high is None else high)
        interval = f"{left}{bounds[0]}, {bounds[1]}{right}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value}")
    return value


def as_float_array(x, name, dtype=None):
    """A NumPy float array view or copy of ``x`` (never the caller's array when written to).

    Device arrays are copied to the host, so heads and losses accept a CUDA layer's output
    directly: see :func:`to_numpy`.
    """
    x = to_numpy(x)
    try:
        arr = as_array(name, x)
    except ValueError:  # sequences of different lengths: as_array says what to do
        raise
    except Exception as exc:  # anything np.asarray refuses is a type error for the user
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in FLOAT_DTYPES else np.float64
    return arr.astype(dtype, copy=False)


def check_ndim(arr, name, ndims):
    """Raise ValueError unless ``arr.ndim`` is one of ``ndims``."""
    if arr.ndim not in ndims:
        allowed = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name} must have {allowed} dimensions, got shape {arr.shape}")


def check_lengths(lengths, steps, batch, name="lengths"):
    """Validate sequence lengths: ``None`` or ints of shape (batch,) in [1, steps]."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), got {arr.shape}")
    if arr.size and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(
            f"{name} must lie in [1, {steps}], got values in [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


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


def to_numpy(value):
    """Host copy of a tensor or device array; anything else unchanged.

    PyTorch tensors (any device, with or without grad), Numba device arrays (also the CUDA
    simulator's) and any other ``__cuda_array_interface__`` object (CuPy, ...).
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if hasattr(value, "copy_to_host"):
        return value.copy_to_host()
    if hasattr(value, "__cuda_array_interface__"):
        from numba import cuda  # imported lazily: it costs ~0.7 s and is rarely needed

        return cuda.as_cuda_array(value).copy_to_host()
    return value


def is_dask(value):
    """Whether ``value`` is a dask collection (array, bag...), checked without importing dask."""
    return type(value).__module__.partition(".")[0] == "dask"
