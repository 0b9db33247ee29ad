"""Gradient clipping over dicts of arrays, in place (public in :mod:`numrnn.optim`)."""

import math

import numpy as np

from numrnn._validation import check_float

__all__ = ["clip_grad_norm", "clip_grad_value"]


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Scale all gradients together so their global norm is at most ``max_norm`` (in place).

    As ``torch.nn.utils.clip_grad_norm_``:

    .. math:: n = \Big\| \big(\|g_1\|_p, \|g_2\|_p, \dots\big) \Big\|_p, \qquad
              g_i \leftarrow g_i \min\Big(1, \frac{\text{max\_norm}}{n + 10^{-6}}\Big)

    Parameters
    ----------
    grads : dict of ndarray
        Changed in place.
    max_norm : float
        Largest allowed norm, > 0.
    norm_type : float, default 2.0
        :math:`p`; ``np.inf`` for the largest absolute entry.
    error_if_nonfinite : bool, default False
        Raise instead of clipping when the norm is NaN or infinite (a gradient holds NaN or
        infinity: scaling cannot make it finite).

    Returns
    -------
    float
        The global norm :math:`n` before clipping, computed in float64 where a gradient's
        own dtype overflows (float32 entries of 1e20).

    Raises
    ------
    ValueError
        With ``error_if_nonfinite``, if the norm is NaN or infinite, naming the gradients
        that are not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.optim import clip_grad_norm
    >>> g = {"a": np.array([3.0]), "b": np.array([4.0])}
    >>> clip_grad_norm(g, 10.0), g["a"]            # below the limit: unchanged
    (5.0, array([3.]))
    """
    max_norm = check_float(max_norm, "max_norm", low=0.0, low_open=True)
    if norm_type != np.inf:
        norm_type = check_float(norm_type, "norm_type", low=0.0, low_open=True)
    arrays = [_writeable_grad(grads, name) for name in grads]
    if not arrays:
        return 0.0
    with np.errstate(over="ignore"):
        norms = [float(np.linalg.norm(g.ravel(), ord=norm_type)) for g in arrays]
    # The sum of squares of float32 entries overflows from ~1e19: again in float64.
    norms = [n if math.isfinite(n) else float(np.linalg.norm(g.ravel().astype(np.float64),
                                                             ord=norm_type))
             for n, g in zip(norms, arrays, strict=True)]  # fmt: skip
    total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        bad = [name for name, g in zip(grads, arrays, strict=True) if not np.isfinite(g).all()]
        raise ValueError(f"the gradients' norm is {total}: {bad} hold NaN or infinity")
    coef = min(1.0, max_norm / (total + 1e-6))
    if coef < 1.0:
        for g in arrays:
            g *= coef
    return total


def clip_grad_value(grads, clip_value):
    """Clamp every gradient entry to [-clip_value, clip_value] in place.

    Parameters
    ----------
    grads : dict of ndarray
        Changed in place.
    clip_value : float
        > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.optim import clip_grad_value
    >>> g = {"a": np.array([-3.0, 0.5, 2.0])}
    >>> clip_grad_value(g, 1.0)
    >>> g["a"]
    array([-1. ,  0.5,  1. ])
    """
    clip_value = check_float(clip_value, "clip_value", low=0.0, low_open=True)
    for name in grads:
        g = _writeable_grad(grads, name)
        np.clip(g, -clip_value, clip_value, out=g)


def _writeable_grad(grads, name):
    g = grads[name]
    if not isinstance(g, np.ndarray) or g.dtype.kind != "f" or not g.flags.writeable:
        raise ValueError(f"grads[{name!r}] must be a writeable float ndarray to clip in place, "
                         f"got {type(g).__name__}")
    return g
