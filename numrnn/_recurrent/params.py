"""The recurrent layers' parameters: names, shapes, initialisation and storage.

:class:`ParamLayout` is PyTorch's layout: ``weight_ih_l{k}``, ``weight_hh_l{k}``,
``bias_ih_l{k}``, ``bias_hh_l{k}`` (and ``weight_hr_l{k}`` with a projection), then the same
with the suffix ``_reverse``, layer after layer; the gate count comes from the cell registry.

Storage: each weight matrix W is kept as the transpose of a C-contiguous buffer that
starts on a cache line: the live parameter (what ``parameters()`` returns and
optimizers update in place) is ``buffer.T``, an F-contiguous view, and
``buffer`` is exactly the Wᵀ that the CPU backend's products read.  So the
per-step products and the streaming stepper read the live parameters in
place, never a copy that could go stale, and no transposed copy is made per
call.  Vectors (biases) are aligned copies.  ``state_dict()`` still returns
C-contiguous copies, as PyTorch's does.
"""

import numpy as np

__all__ = ["ParamLayout", "stored"]

#: Bytes of a cache line: rows of the weight buffers that start on one are read
#: 15-25% faster by the stepper's products.
ALIGN = 64


def _aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array whose data starts on an ALIGN-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def stored(a, dtype):
    """A copy of ``a`` in the storage layout (see the module docstring).

    Parameters
    ----------
    a : ndarray, 1-D or 2-D
    dtype : numpy dtype

    Returns
    -------
    ndarray
        Equal to ``a``, of ``dtype``: for a matrix the transpose of an aligned
        C-contiguous buffer, for a vector an aligned C-contiguous array.
    """
    a = np.asarray(a)
    if a.ndim == 2:
        buffer = _aligned_empty(a.shape[::-1], dtype)
        buffer[...] = a.T
        return buffer.T
    out = _aligned_empty(a.shape, dtype)
    out[...] = a
    return out


_ROLES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


class ParamLayout:
    """Names and shapes of a stack's parameters, in PyTorch's ``state_dict`` order.

    Parameters
    ----------
    spec : numrnn.backends.CellSpec
        The cell, its hidden size H and projection size P (0: none).
    input_size, num_layers : int
    bias, bidirectional : bool
    """

    def __init__(self, spec, input_size, num_layers, bias, bidirectional):
        self.spec = spec
        self.input_size = input_size
        self.num_layers = num_layers
        self.bias = bias
        self.directions = 2 if bidirectional else 1

    @property
    def hidden_out(self):
        """int: H_out, the size of h (P with a projection, else H)."""
        return self.spec.proj_size or self.spec.hidden_size

    def name(self, role, layer, direction):
        """The parameter name of ``role`` for one layer-direction (``weight_ih_l0_reverse``)."""
        return f"{role}_l{layer}{'_reverse' if direction else ''}"

    def shapes(self):
        """dict of str to tuple: every parameter's shape, in PyTorch's order.

        A diagonal cell's ``weight_hh`` is a vector (G·H,); the cell's per-unit
        parameters (K·H,) come last in each layer-direction.
        """
        cell, H = self.spec.cell, self.spec.hidden_size
        GH, P = cell.n_gates * H, self.spec.proj_size
        shapes = {}
        for k in range(self.num_layers):
            inputs = self.input_size if k == 0 else self.directions * self.hidden_out
            for d in range(self.directions):
                roles = {"weight_ih": (GH, inputs),
                         "weight_hh": (GH,) if cell.diagonal else (GH, self.hidden_out)}
                if self.bias:
                    roles.update(bias_ih=(GH,), bias_hh=(GH,))
                if P:
                    roles["weight_hr"] = (P, H)
                if cell.unit_role:
                    roles[cell.unit_role] = (cell.unit_width * H,)
                shapes.update({self.name(role, k, d): shape for role, shape in roles.items()})
        return shapes

    def initial(self, rng, dtype):
        """Every parameter drawn from U(-1/sqrt(H), 1/sqrt(H)), stored (see :func:`stored`)."""
        bound = 1.0 / np.sqrt(self.spec.hidden_size)
        return {name: stored(rng.uniform(-bound, bound, size=shape), dtype)
                for name, shape in self.shapes().items()}

    def per_direction(self, params, dtype):
        """One dict per layer-direction (layer-major) with the backend's role names.

        The arrays are the live ones; missing biases (``bias=False``) are zeros.
        """
        zeros = stored(np.zeros(self.spec.cell.n_gates * self.spec.hidden_size), dtype)
        roles = _ROLES + ((self.spec.cell.unit_role,) if self.spec.cell.unit_role else ())
        prepared = []
        for k in range(self.num_layers):
            for d in range(self.directions):
                p = {}
                for role in roles:
                    name = self.name(role, k, d)
                    if name in params:
                        p[role] = params[name]
                    elif role.startswith("bias"):
                        p[role] = zeros
                prepared.append(p)
        return prepared
