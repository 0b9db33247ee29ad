"""The layers' arguments: checked and converted once, from the user's layout to the core's.

The core takes time-major batched backend arrays of the layer's dtype: ``x`` (T, B, I) and a
list of states, h (L·D, B, H_out) and for a cell with a cell state c (L·D, B, H).  These
functions validate what the user passed (shapes named in every message; the caller's arrays
are never modified) and bring results back to the user's layout.
"""

import numpy as np

from numrnn._validation import as_float_array, check_shape

__all__ = ["check_input", "check_state", "to_backend", "user_layout"]


def to_backend(be, name, a, dtype):
    """(backend array of ``dtype``, whether ``a`` was a device array)."""
    if be.is_device_array(a):
        # The interface's typestr where there is one: torch tensors' dtypes are not
        # NumPy's (the simulator's device arrays have no interface, but NumPy dtypes).
        interface = getattr(a, "__cuda_array_interface__", None)
        found = np.dtype(interface["typestr"] if interface else a.dtype)
        if found.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype {found}")
        return be.asarray(a, dtype), True
    return be.asarray(as_float_array(a, name, dtype, copy=True), dtype), False


def check_input(be, name, x, ndim_batched, input_size, dtype):
    """``x`` as a backend array: (array, batched, device).

    Batched input has ``ndim_batched`` axes, unbatched one fewer; the last is the features.
    """
    arr, device = to_backend(be, name, x, dtype)
    if arr.ndim not in (ndim_batched, ndim_batched - 1):
        raise ValueError(
            f"{name} must be {ndim_batched}-D (batched) or {ndim_batched - 1}-D "
            f"(unbatched), got {arr.ndim}-D with shape {arr.shape}"
        )
    # shape[ndim - 1]: the CUDA simulator's device-array shapes refuse negative indexes.
    if arr.shape[arr.ndim - 1] != input_size:
        raise ValueError(
            f"{name} must have input_size={input_size} features in its last axis, "
            f"got shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr, arr.ndim == ndim_batched, device


def check_state(be, layout, hx, batch, batched, dtype, owner):
    """The initial states as a list of (L·D, B, size) backend arrays, and whether given.

    ``hx`` is None (zeros), one array h, or for a cell with a cell state the pair (h, c);
    unbatched states have no B axis.  ``owner`` names the layer class in messages.
    """
    n = layout.num_layers * layout.directions
    sizes = [("h_0", layout.hidden_out)]
    if layout.spec.cell.has_cell_state:
        sizes.append(("c_0", layout.spec.hidden_size))
    if hx is None:
        return [be.zeros((n, batch, size), dtype) for _, size in sizes], False
    if len(sizes) == 2:
        if not isinstance(hx, tuple | list) or len(hx) != 2:
            raise TypeError(f"hx must be a tuple (h_0, c_0) for {owner} (its cell has a cell "
                            f"state), got {type(hx).__name__}")
        items = [(f"hx[{i}] ({label})", a, size) for i, (a, (label, size))
                 in enumerate(zip(hx, sizes, strict=True))]
    else:
        if isinstance(hx, tuple | list):
            raise TypeError(f"hx must be one array for {owner}, got a {type(hx).__name__}")
        items = [("hx", hx, sizes[0][1])]
    states = []
    for name, a, size in items:
        arr, _ = to_backend(be, name, a, dtype)
        check_shape(arr.shape, name, (n, batch, size) if batched else (n, size),
                    "(num_layers * num_directions" + (", batch" if batched else "")
                    + ", hidden)")
        states.append(arr if batched else arr.reshape(n, 1, size))
    return states, True


def user_layout(be, output, finals, batched, device):
    """``(output, state)`` in the user's layout: unbatched without the B axis, host arrays
    unless the input was a device array; the state a tuple for a cell with a cell state.
    ``output`` may be None (kept)."""
    if not batched:
        finals = [f.reshape(f.shape[0], f.shape[2]) for f in finals]
        if output is not None:  # None: a gradient that was not asked for
            output = output.reshape(output.shape[0], output.shape[2])
    if not device:
        finals = [be.to_numpy(f) for f in finals]
        output = None if output is None else be.to_numpy(output)
    return output, (tuple(finals) if len(finals) == 2 else finals[0])
