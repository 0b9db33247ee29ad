"""Argument checks and conversions of the whole public API: one place, one convention.

Every function takes the value first and its argument name second (as scikit-learn's
``check_scalar`` does), and raises ``TypeError`` for a value of the wrong kind and
``ValueError`` for one of the right kind but out of range or of the wrong shape, with a message
that names the argument, what was expected and what was given.
"""

import numbers

import numpy as np

__all__ = [
    "FLOAT_DTYPES",
    "as_array",
    "as_float_array",
    "check_choice",
    "check_float",
    "check_float_dtype",
    "check_int",
    "check_lengths",
    "check_ndim",
    "check_shape",
    "to_numpy",
]

#: The float dtypes numrnn computes in.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_int(value, name, minimum):
    """``value`` as a Python int >= ``minimum``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite float in the given interval (closed unless told)."""
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


def check_choice(value, name, choices):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_float_dtype(dtype):
    """The layer dtype, float32 or float64, as NumPy's own dtype object.

    NumPy's own object: a dtype that comes out of a pickle is another one, and the streaming
    fast path compares dtypes by identity.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return np.dtype(dt.type)


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


def as_array(a, name):
    """``np.asarray(a)``; for a list of sequences of different lengths, a ValueError that
    says what to do instead: pad them and pass their lengths."""
    try:
        return np.asarray(a)
    except ValueError as exc:
        raise ValueError(
            f"{name} must be one array, got a {type(a).__name__} that NumPy cannot stack. "
            "For sequences of different lengths: pad them with zeros into one array and pass "
            "each one's length as lengths= (numrnn.model.Sequential and the estimators take "
            f"such a list as it is). NumPy says: {exc}"
        ) from exc


def as_float_array(a, name, dtype=None, *, copy=False):
    """``a`` (array-like, tensor or device array) as a NumPy float array.

    Integer and float inputs are converted to ``dtype`` (by default their own float dtype, or
    float64); booleans, complex numbers, strings and objects are refused.  With ``copy`` the
    result is a new C-contiguous array, never the caller's; otherwise it may be a view of it
    (which the caller then must not write to).
    """
    arr = as_array(to_numpy(a), name)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype} "
                        f"({type(a).__name__})")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in FLOAT_DTYPES else np.float64
    if copy:
        return np.array(arr, dtype=dtype, order="C", copy=True)
    return arr.astype(dtype, copy=False)


def check_ndim(arr, name, ndims):
    """Raise ValueError unless ``arr.ndim`` is one of ``ndims``."""
    if arr.ndim not in ndims:
        allowed = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name} must have {allowed} dimensions, got shape {arr.shape}")


def check_shape(shape, name, expected, what=""):
    """Raise ValueError unless ``shape == expected``; ``what`` says what the axes are."""
    if tuple(shape) != tuple(expected):
        hint = f" {what}" if what else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{hint}, got {tuple(shape)}")


def check_lengths(lengths, steps, batch, name="lengths"):
    """``lengths`` as an int64 array (batch,) with values in [1, steps], or None."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) (one length per sequence), got "
                         f"{arr.shape}")
    if arr.size and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(f"{name} must lie in [1, {steps}] (the padded length T), got values "
                         f"in [{arr.min()}, {arr.max()}]")
    return np.array(arr, dtype=np.int64, order="C")
