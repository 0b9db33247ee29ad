"""Compute backends: the time-step loops of every cell, forward and BPTT.

A backend is a module (one folder under ``numrnn/backends/``) that provides
the functions below with exactly these signatures.  Everything above the
backends -- validation, stacking, directions, dropout, ``batch_first``,
unbatched input -- is written once in :mod:`numrnn._recurrent`.

Names users pass as ``backend=``:

========== ================================ =====================================
name       module                           role
========== ================================ =====================================
"numpy"    ``numrnn.backends.reference``    the specification (plain NumPy)
"cpu"      ``numrnn.backends.cpu``          ``@numba.njit`` time loops
"cuda"     ``numrnn.backends.cuda``         ``numba.cuda`` kernels
========== ================================ =====================================

Interface of a backend module
-----------------------------
``spec`` is a :class:`CellSpec`: the registered cell (:mod:`numrnn._cells`,
which says everything a backend needs to know of it: gate count, state,
maths), its hidden size and its projection size.  ``params`` is a dict with the keys
``"weight_ih"`` (G*H, I), ``"weight_hh"`` (G*H, H_out), ``"bias_ih"`` (G*H,),
``"bias_hh"`` (G*H,) and, for a cell with a projection (``proj_size > 0``),
``"weight_hr"`` (P, H); G is the cell's number of gates,
H_out is P when ``proj_size > 0`` else H.  Biases are always present (zeros
when the layer has ``bias=False``).  Arrays are C-contiguous, all of one
float dtype (float32 or float64), and are never modified by a backend.

``prepare_params(params)``
    The parameter dict in the form ``forward``/``backward`` take as
    ``params`` (host backends return it unchanged; the CUDA backend returns
    device copies).  The layer calls it again whenever the weights change.

``forward(spec, params, x, h0, c0, lengths, reverse, need_tape, masks=None)``
    x (T, B, I); h0 (B, H_out); c0 (B, H) for a cell with a cell state
    (LSTM) else None;
    lengths None (every sequence has T steps) or int64 (B,) in [1, T];
    reverse: process each sequence's valid part from its last valid step
    to step 0.  Returns ``(output, h_n, c_n, tape)``: output (T, B, H_out)
    with zeros at t >= lengths[b]; h_n (B, H_out) and c_n (B, H) (None if
    not LSTM) are each sequence's state after its last processed step;
    tape is an opaque object for ``backward`` (None when not need_tape).
    Returned arrays are new and owned by the caller.  ``masks``: None, or
    the regularisers of this layer-direction as a :class:`Masks` (host
    arrays of the layer's dtype), which backward applies likewise.

``backward(spec, params, tape, grad_output, grad_h_n, grad_c_n, input_grad=True)``
    Gradient of sum(output*grad_output) + sum(h_n*grad_h_n)
    (+ sum(c_n*grad_c_n)) for the forward call that produced ``tape``.
    grad_output (T, B, H_out) (entries at padded steps are ignored);
    grad_h_n (B, H_out); grad_c_n (B, H) for LSTM else None.  Returns
    ``(grad_x, grad_h0, grad_c0, grads)`` with grads a dict with the
    same keys and shapes as ``params``; grad_x is None when not
    ``input_grad`` (the product that makes it is skipped).

Array helpers (so the layer code never touches a device array directly):

``asarray(a, dtype)``          a C-contiguous backend array of dtype from a
                               host array or a device array (may alias ``a``
                               when it already is one: the layer passes
                               copies of the caller's arrays)
``to_numpy(a)``                host NumPy array
``zeros(shape, dtype)``
``concat_features(arrays)``    concatenate along the last axis
``split_features(a, sizes)``   inverse of concat_features: a list of arrays
``stack(arrays)``              stack along a new first axis
``transpose01(a)``             C-contiguous, first two axes swapped
``add(a, b)``                  a + b, new array
``multiply(a, b)``             a * b (elementwise, same shape), new array
``is_device_array(a)``         True if ``a`` lives on this backend's device
"""

import importlib
import os
from collections import namedtuple

from numrnn._cells import get_cell


class CellSpec(namedtuple("CellSpec", ["cell", "hidden_size", "proj_size"])):
    """Static description of one layer-direction's cell.

    ``cell`` is a registered :class:`numrnn._cells.Cell` (a name is looked
    up); ``proj_size`` is 0 unless the cell has a projection.
    """

    __slots__ = ()

    def __new__(cls, cell, hidden_size, proj_size):
        return super().__new__(cls, get_cell(cell), hidden_size, proj_size)


class Masks(namedtuple("Masks", ["recurrent", "zone_h", "zone_c"])):
    """The regularisers of one layer-direction's forward call (each None when off).

    ``recurrent`` (B, H_out): recurrent dropout, h_{t-1} -> recurrent ⊙ h_{t-1} before
    the W_hh product only (the mask, scaled by 1/(1 - p); the same at every step).
    ``zone_h`` (T, B, H_out), ``zone_c`` (T, B, H): zoneout weights z, the new state is
    z ⊙ (the previous one) + (1 - z) ⊙ (the cell's) -- 0/1 draws in training, the
    probability itself in evaluation (the expectation).
    """

    __slots__ = ()


#: Every function of the backend interface (above), with its parameter names.
INTERFACE = {
    "prepare_params": ("params",),
    "forward": ("spec", "params", "x", "h0", "c0", "lengths", "reverse", "need_tape", "masks"),
    "backward": ("spec", "params", "tape", "grad_output", "grad_h_n", "grad_c_n", "input_grad"),
    "asarray": ("a", "dtype"),
    "to_numpy": ("a",),
    "zeros": ("shape", "dtype"),
    "concat_features": ("arrays",),
    "split_features": ("a", "sizes"),
    "stack": ("arrays",),
    "transpose01": ("a",),
    "add": ("a", "b"),
    "multiply": ("a", "b"),
    "is_device_array": ("a",),
}

BACKENDS = {
    "numpy": "numrnn.backends.reference",
    "cpu": "numrnn.backends.cpu",
    "cuda": "numrnn.backends.cuda",
}


def _cuda_usable():
    try:
        cuda = importlib.import_module(BACKENDS["cuda"])
    except ImportError:
        return False
    return cuda.is_usable()


def resolve_backend(name="auto"):
    """The backend module for a backend name.

    Parameters
    ----------
    name : {"auto", "numpy", "cpu", "cuda"}
        ``"auto"`` takes the environment variable ``NUMRNN_BACKEND`` if set,
        else ``"cuda"`` when a real GPU is usable (the CUDA simulator does not
        count), else ``"cpu"``.

    Returns
    -------
    name : str
        The resolved name.
    module : module
        The backend module (see :mod:`numrnn.backends`).

    Raises
    ------
    ValueError
        If the name is unknown.
    TypeError
        If the name is not a string.
    RuntimeError
        If ``"cuda"`` is asked for and no GPU (or simulator) is usable.

    Examples
    --------
    >>> import numrnn
    >>> name, module = numrnn.resolve_backend("numpy")
    >>> name, module.__name__
    ('numpy', 'numrnn.backends.reference')
    """
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {type(name).__name__}")
    if name == "auto":
        name = os.environ.get("NUMRNN_BACKEND", "auto") or "auto"
        if name == "auto":
            name = "cuda" if _cuda_usable() else "cpu"
    if name not in BACKENDS:
        raise ValueError(
            f"backend must be one of {['auto', *BACKENDS]}, got {name!r}"
        )
    module = importlib.import_module(BACKENDS[name])
    if name == "cuda":
        module.check_available()
    return name, module
