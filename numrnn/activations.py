"""Output functions of a head, computed without overflow for any finite input.

Examples
--------
>>> import numpy as np
>>> from numrnn.activations import softmax, sigmoid
>>> softmax(np.array([0.0, np.log(3.0)]))
array([0.25, 0.75])
>>> float(sigmoid(np.array(-1000.0)))
0.0
"""

import numpy as np

from numrnn._docs import fill_doc


@fill_doc
def log_softmax(z):
    r"""Compute the logarithm of the softmax along the last axis.

    .. math:: \log \mathrm{softmax}(z)_c = z_c - m - \log \sum_k e^{z_k - m},
              \quad m = \max_k z_k

    Subtracting the maximum keeps every exponent at most 0, so nothing overflows.

    %(logits)s

    Returns
    -------
    ndarray
        Same shape and dtype as ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.activations import log_softmax
    >>> np.exp(log_softmax(np.array([1e4, 1e4])))
    array([0.5, 0.5])
    """
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


@fill_doc
def softmax(z):
    r"""Compute the softmax along the last axis, :math:`e^{z_c} / \sum_k e^{z_k}`.

    %(logits)s

    Returns
    -------
    ndarray
        Probabilities summing to 1 along the last axis; shape and dtype of ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.activations import softmax
    >>> softmax(np.zeros(4))
    array([0.25, 0.25, 0.25, 0.25])
    """
    return np.exp(log_softmax(z))


@fill_doc
def sigmoid(z):
    r"""Compute the logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`, elementwise.

    Written as :math:`e^{z}/(1+e^{z})` for negative ``z`` so the exponent never overflows.

    %(elementwise)s
        Shape and dtype of ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.activations import sigmoid
    >>> sigmoid(np.array([0.0, 1000.0]))
    array([0.5, 1. ])
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


@fill_doc
def identity(z):
    """Return ``z`` unchanged (the output function of a regression head).

    %(elementwise)s
        ``z`` itself.

    Examples
    --------
    >>> from numrnn.activations import identity
    >>> identity(2.5)
    2.5
    """
    return z


#: Output functions by the name a head or loss uses for them.
OUTPUT_FUNCTIONS = {"identity": identity, "softmax": softmax, "sigmoid": sigmoid}
