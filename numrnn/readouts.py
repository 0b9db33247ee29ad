r"""Readouts: one vector per sequence from a recurrent layer's outputs at its valid steps.

A many-to-one head (:class:`numrnn.heads.Dense` with ``last_step=True``) maps one vector per
sequence to its prediction. The readout says which vector, from the outputs
:math:`h_{1..L_b}` of sequence :math:`b` at its :math:`L_b` valid steps (``lengths``):

.. math::

    \text{last}:\ r_b = h_{L_b}, \qquad
    \text{mean}:\ r_b = \frac{1}{L_b} \sum_{t=1}^{L_b} h_t, \qquad
    \text{max}:\ r_{b,f} = \max_{t \le L_b} h_{t,f}, \qquad
    \text{mean\_max}:\ r_b = [\text{mean}; \text{max}]

Padded steps (:math:`t > L_b`) never enter a readout, whatever they hold. The mean and the
max read every step, so the network need not carry what it saw early on to the end of the
sequence (on long series a last-step readout often learns nothing: GunPoint stays at chance).

Backward: the last step and the mean pass the gradient to the steps they read (the mean
divided by :math:`L_b`); the max passes it to the step that gave the maximum, the first such
step on ties (the subgradient PyTorch's ``max`` also picks).
"""

import numpy as np

#: Readout name -> how many vectors of the layer's width it concatenates.
READOUTS = {"last": 1, "mean": 1, "max": 1, "mean_max": 2}


def readout_forward(h, lengths, kind):
    """The readout of time-major outputs ``h`` (T, B, F): (B, width * F) and its tape.

    Parameters
    ----------
    h : ndarray, shape (T, B, F)
    lengths : ndarray of int, shape (B,), or None
        Valid steps per sequence (all ``T`` when None); already checked.
    kind : str
        A key of :data:`READOUTS`.

    Returns
    -------
    rows : ndarray, shape (B, READOUTS[kind] * F)
    tape : tuple
        For :func:`readout_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.readouts import readout_forward
    >>> h = np.arange(6.0).reshape(3, 2, 1)             # (T, B, F): steps 0-2 of 2 sequences
    >>> rows, _ = readout_forward(h, np.array([3, 1]), "mean_max")
    >>> rows                                            # [mean, max] over the valid steps
    array([[2., 4.],
           [1., 1.]])
    """
    steps, batch = h.shape[:2]
    if lengths is None:
        lengths = np.full(batch, steps, dtype=np.int64)
    parts, tape = [], {}
    if kind == "last":
        last = lengths - 1
        parts.append(h[last, np.arange(batch)])
        tape["last"] = last
    mask = np.arange(steps)[:, None] < lengths[None, :]
    if kind in ("mean", "mean_max"):
        parts.append(np.where(mask[..., None], h, 0).sum(axis=0) / lengths[:, None].astype(h.dtype))
        tape["mean"] = mask
    if kind in ("max", "mean_max"):
        where = np.argmax(np.where(mask[..., None], h, -np.inf), axis=0)   # (B, F)
        parts.append(np.take_along_axis(h, where[None], axis=0)[0])
        tape["max"] = where
    rows = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return rows, (h.shape, h.dtype, lengths, tape)


def readout_backward(grad_rows, tape):
    """Gradient with respect to ``h`` (T, B, F) from the gradient of the readout (B, width * F).

    Parameters
    ----------
    grad_rows : ndarray, shape (B, width * F)
    tape : tuple
        From :func:`readout_forward`.

    Returns
    -------
    ndarray, shape (T, B, F)
        Zeros at the steps the readout did not read.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.readouts import readout_backward, readout_forward
    >>> h = np.arange(6.0).reshape(3, 2, 1)
    >>> rows, tape = readout_forward(h, np.array([3, 1]), "mean")
    >>> readout_backward(np.ones_like(rows), tape)[:, :, 0]   # 1/L at each valid step
    array([[0.33333333, 1.        ],
           [0.33333333, 0.        ],
           [0.33333333, 0.        ]])
    """
    shape, dtype, lengths, parts = tape
    steps, batch, features = shape
    grad_h = np.zeros(shape, dtype=dtype)
    pieces = iter(np.split(grad_rows, len(parts), axis=1))
    if "last" in parts:
        grad_h[parts["last"], np.arange(batch)] += next(pieces)
    if "mean" in parts:
        grad_h += np.where(parts["mean"][..., None],
                           (next(pieces) / lengths[:, None].astype(dtype))[None], 0)
    if "max" in parts:
        batch_index, feature_index = np.meshgrid(np.arange(batch), np.arange(features),
                                                 indexing="ij")
        grad_h[parts["max"], batch_index, feature_index] += next(pieces)
    return grad_h
