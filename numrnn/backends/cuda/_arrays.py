"""Device arrays of the CUDA backend: conversion, the interface's array helpers, and the
launches of the whole-array kernels (:mod:`._array_kernels`).

NumPy in, NumPy out; device arrays (anything with ``__cuda_array_interface__``) in, Numba
device arrays out (see :mod:`numrnn.backends.cuda`).
"""

import math

import numpy as np
from numba import cuda
from numba.core import config

from numrnn.backends.cuda import _array_kernels as kernels

_SIMULATOR = bool(config.ENABLE_CUDASIM)

# The simulator starts one Python thread (~1 ms) per CUDA thread: tiny launches
# there, which also make its runs exercise several blocks and strided loops.

#: Threads per block of the 1-D launches.
THREADS_PER_BLOCK = 8 if _SIMULATOR else 256

#: Most blocks of a 1-D launch; the kernels loop with the grid's stride.
MAX_BLOCKS = 2 if _SIMULATOR else 1024

def is_device_array(a):
    """True if ``a`` is a GPU array (Numba device array or any object with
    ``__cuda_array_interface__``)."""
    return bool(getattr(a, "__cuda_ndarray__", False)) or hasattr(a, "__cuda_array_interface__")


def _device_view(a):
    """A Numba device array sharing ``a``'s memory."""
    if getattr(a, "__cuda_ndarray__", False):
        return a
    return cuda.as_cuda_array(a)


def _launch(kernel, n):
    """``kernel`` configured for a 1-D launch over n items (grid capped)."""
    return kernel[max(1, min(MAX_BLOCKS, math.ceil(n / THREADS_PER_BLOCK))), THREADS_PER_BLOCK]


def _as_3d(a):
    """``a`` (1-, 2- or 3-D device array) viewed as 3-D with leading unit axes."""
    lead = 3 - a.ndim
    if lead == 0:
        return a
    if _SIMULATOR:
        return a[(None,) * lead]
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(
        (1,) * lead + tuple(a.shape),
        (0,) * lead + tuple(a.strides),
        a.dtype,
        stream=a.stream,
        gpu_data=a.gpu_data,
    )


def _copy(src, dst, swap01=False):
    """dst[...] = src[...] on the device, any strides, casting the dtype.

    With ``swap01`` (3-D only), dst[i, j] = src[j, i].
    """
    if dst.size:
        _launch(kernels.copy_3d, dst.size)(_as_3d(src), _as_3d(dst), swap01)


def _on_device(a, dtype, copy=False):
    """``a`` as a C-contiguous device array of ``dtype``.

    Host arrays are copied to the device; a device array is returned as is
    when it already fits and ``copy`` is False (only ever read then).
    """
    dtype = np.dtype(dtype)
    if not is_device_array(a):
        return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))
    a = _device_view(a)
    if not copy and a.dtype == dtype and a.is_c_contiguous():
        return a
    out = cuda.device_array(a.shape, dtype)
    _copy(a, out)
    return out


def asarray(a, dtype):
    """``a`` as a C-contiguous device array of ``dtype``.

    Parameters
    ----------
    a : array_like or device array
        Host data, or any array with ``__cuda_array_interface__`` (any
        strides and dtype; converted on the device).
    dtype : dtype

    Returns
    -------
    numba.cuda.cudadrv.devicearray.DeviceNDArray
        ``a`` itself (as a Numba view) when it already is a C-contiguous
        device array of ``dtype``, else a new array.
    """
    return _on_device(a, dtype)


def to_numpy(a):
    """Host NumPy array of ``a`` (device or host array)."""
    if is_device_array(a):
        return _device_view(a).copy_to_host()
    return np.asarray(a)


def zeros(shape, dtype):
    """A device array of zeros."""
    out = cuda.device_array(shape, np.dtype(dtype))
    if out.size:
        _launch(kernels.fill, out.size)(out.reshape(out.size), 0)
    return out


def concat_features(arrays):
    """Concatenate along the last axis (device arrays out).

    Parameters
    ----------
    arrays : sequence of arrays
        Same shape but for the last axis; converted to the first's dtype.
    """
    arrays = [_on_device(a, arrays[0].dtype) for a in arrays]
    widths = [a.shape[a.ndim - 1] for a in arrays]
    out = cuda.device_array(arrays[0].shape[:-1] + (sum(widths),), arrays[0].dtype)
    rows = out.reshape(-1, sum(widths))
    offset = 0
    for a, width in zip(arrays, widths, strict=True):
        _copy(a.reshape(-1, width), rows[:, offset : offset + width])
        offset += width
    return out


def split_features(a, sizes):
    """Inverse of :func:`concat_features`: new device arrays of last-axis ``sizes``."""
    a = _on_device(a, a.dtype)
    rows = a.reshape(-1, a.shape[a.ndim - 1])
    parts = []
    offset = 0
    for width in sizes:
        part = cuda.device_array(a.shape[:-1] + (width,), a.dtype)
        _copy(rows[:, offset : offset + width], part.reshape(-1, width))
        parts.append(part)
        offset += width
    return parts


def stack(arrays):
    """Stack same-shaped arrays along a new first axis (a new device array)."""
    arrays = [_on_device(a, arrays[0].dtype) for a in arrays]
    out = cuda.device_array((len(arrays),) + tuple(arrays[0].shape), arrays[0].dtype)
    for i, a in enumerate(arrays):
        _copy(a, out[i])
    return out


def transpose01(a):
    """A new C-contiguous device array with the first two axes of ``a`` swapped."""
    a = _on_device(a, a.dtype)
    shape = (a.shape[1], a.shape[0]) + tuple(a.shape[2:])
    out = cuda.device_array(shape, a.dtype)
    if a.ndim == 2:
        _copy(a.T, out)
    else:
        _copy(a, out, swap01=True)
    return out


def _elementwise(a, b, multiply):
    dtype = np.result_type(a.dtype, b.dtype)
    a = _on_device(a, dtype)
    b = _on_device(b, dtype)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    out = cuda.device_array(a.shape, dtype)
    if out.size:
        _launch(kernels.elementwise, out.size)(
            a.reshape(a.size), b.reshape(b.size), out.reshape(out.size), multiply
        )
    return out


def add(a, b):
    """a + b (same shape), a new device array."""
    return _elementwise(a, b, False)


def multiply(a, b):
    """a * b (elementwise, same shape), a new device array."""
    return _elementwise(a, b, True)


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


def _matmul(a, b, out, bias=None, trans_a=False, trans_b=False):
    """out = op(a) @ op(b) (+ bias) with the tiled kernel."""
    m, n = out.shape
    tiles = math.ceil(m / kernels.BLOCK) * math.ceil(n / kernels.BLOCK)
    if bias is None:
        bias = cuda.device_array(0, out.dtype)
    kernels.gemm[min(tiles, MAX_BLOCKS), (kernels.THREADS, kernels.THREADS)](
        a, b, out, bias, trans_a, trans_b
    )


def _column_sums(a):
    out = cuda.device_array(a.shape[1], a.dtype)
    _launch(kernels.column_sums, out.size)(a, out)
    return out
