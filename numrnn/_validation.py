"""Argument checks shared by the public API: one place, clear messages."""

import numbers

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_int(name, value, minimum):
    """``value`` as a Python int >= ``minimum``; TypeError/ValueError naming ``name``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float_dtype(dtype):
    """The layer dtype: float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return np.dtype(dt.type)  # numpy's own object: an unpickled dtype is another one


def as_float_array(name, a, dtype):
    """A fresh C-contiguous copy of ``a`` in ``dtype``.

    Integer and other float inputs are converted; booleans, complex, strings
    and objects are refused with a TypeError naming ``name``.
    """
    arr = as_array(name, a)
    if arr.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must be an array of real numbers, got dtype {arr.dtype} "
            f"({type(a).__name__})"
        )
    return np.array(arr, dtype=dtype, order="C", copy=True)


def as_array(name, a):
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


def check_shape(name, shape, expected, what=""):
    """Raise ValueError unless ``shape == expected``."""
    if tuple(shape) != tuple(expected):
        hint = f" {what}" if what else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{hint}, got {tuple(shape)}")


def check_lengths(lengths, T, B):
    """``lengths`` as an int64 array (B,) with values in [1, T], or None."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(
            f"lengths must have shape ({B},) (one length per sequence), got {arr.shape}"
        )
    if arr.size and (arr.min() < 1 or arr.max() > T):
        raise ValueError(
            f"lengths must lie in [1, {T}] (the padded length T), "
            f"got values in [{arr.min()}, {arr.max()}]"
        )
    return np.array(arr, dtype=np.int64, order="C")
