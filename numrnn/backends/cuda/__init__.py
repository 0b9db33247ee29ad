"""The ``"cuda"`` backend: ``numba.cuda`` kernels (see ``docs/cuda.rst``).

Importing this package is cheap and never fails: ``numba.cuda`` (~0.7 s to
import) is imported only when a backend function is first used, after
:func:`check_available` has passed.

Availability
------------
:func:`is_usable`
    True only when a real GPU can be used (never under Numba's CUDA
    simulator), so ``backend="auto"`` never picks the simulator.
:func:`check_available`
    Raises a ``RuntimeError`` that says what is missing unless a GPU is usable
    or the simulator is enabled (``NUMBA_ENABLE_CUDASIM=1`` set before Numba
    is imported; slow, for tests).  Accessing any backend function calls it.

Arrays
------
NumPy in, NumPy out: when ``x`` (``grad_output`` for ``backward``) is a host
array, ``forward``/``backward`` return host arrays.  Device arrays in
(anything with ``__cuda_array_interface__``: Numba device arrays, CuPy,
PyTorch CUDA tensors) give Numba device arrays out, with no host round trip.
The array helpers (``asarray``, ``zeros``, ...) always return device arrays.

Parameters stay on the device between calls when the caller converts them
once with ``prepare_params`` and passes the result (a ``DeviceParams``)
instead of the NumPy dict; a NumPy dict is copied to the device on every
call.
"""

import functools

_BACKEND_FUNCTIONS = frozenset(
    {
        "forward",
        "backward",
        "asarray",
        "to_numpy",
        "zeros",
        "concat_features",
        "split_features",
        "add",
        "multiply",
        "is_device_array",
        "stack",
        "transpose01",
        "prepare_params",
        "DeviceParams",
    }
)

# Only what never needs a GPU: ``from ... import *`` and documentation tools
# must not trip the availability check.
__all__ = ["check_available", "is_usable"]


def _simulator_enabled():
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


@functools.cache
def _unusable_reason():
    """Why no real GPU can be used, or None if one can."""
    if _simulator_enabled():
        return "Numba's CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM=1)"
    try:
        from numba import cuda
    except ImportError as exc:
        return f"numba.cuda cannot be imported ({exc}); install numba-cuda[cu12] or [cu13]"
    try:
        if cuda.is_available():
            return None
        return "numba.cuda.is_available() is False: no NVIDIA GPU or driver was found"
    except Exception as exc:  # driver errors vary by CUDA version: report, don't crash
        return f"the CUDA driver failed to initialise ({exc})"


def is_usable():
    """Whether a real CUDA GPU can be used.

    Returns
    -------
    bool
        True if ``numba.cuda`` imports and finds a GPU with a working
        driver; always False under Numba's CUDA simulator.  The first call
        imports ``numba.cuda``; the answer is cached.
    """
    return _unusable_reason() is None


def check_available():
    """Raise unless the CUDA backend can run (on a GPU or on the simulator).

    Raises
    ------
    RuntimeError
        If no GPU is usable and Numba's CUDA simulator is not enabled; the
        message says why and how to get either.
    """
    if _simulator_enabled():
        return
    reason = _unusable_reason()
    if reason is not None:
        raise RuntimeError(
            f'backend="cuda" needs a CUDA GPU, but {reason}. Use backend="cpu", or set '
            "NUMBA_ENABLE_CUDASIM=1 before importing numba to run on Numba's (slow) CUDA "
            "simulator."
        )


def __getattr__(name):
    # PEP 562: the kernels and numba.cuda load on first use, after the check.
    if name in _BACKEND_FUNCTIONS:
        check_available()
        from numrnn.backends.cuda import _backend

        return getattr(_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
