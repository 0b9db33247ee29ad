"""Inverted dropout between the components of a :class:`~numrnn.model.Sequential` (public as
:class:`numrnn.Dropout` and :class:`numrnn.model.Dropout`)."""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._component import Component
from numrnn._validation import check_float

__all__ = ["Dropout"]


class Dropout(Component):
    r"""Inverted dropout on the features between two components of a :class:`Sequential`.

    .. math:: y = x \odot m / (1 - p), \qquad m_j \sim \mathrm{Bernoulli}(1 - p)

    in training mode, a fresh mask per call; the identity in evaluation mode. (A stacked
    recurrent layer's own ``dropout`` acts between its internal layers only.)

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of zeroing a feature.
    seed : int or None
        Seed of the masks.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.model import Dropout
    >>> drop = Dropout(0.5, seed=0)
    >>> y = drop(np.ones((2, 4)))
    >>> sorted(set(y.ravel().tolist()))      # kept entries scaled by 1 / (1 - p)
    [0.0, 2.0]
    >>> drop.eval()(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, p=0.5, *, seed=None):
        self.p = check_float(p, "p", 0.0, 1.0, high_open=True)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.training = True
        self.grads = {}
        self._mask = None

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this layer.
        """
        return {"p": self.p, "seed": tu.json_seed(self.seed)}

    def forward(self, x):
        r"""Apply dropout (in training mode) to features of any shape.

        Parameters
        ----------
        x : ndarray

        Returns
        -------
        ndarray
            :math:`x \odot m / (1 - p)` in training mode, ``x`` itself in evaluation mode.
        """
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._mask = None
            return x
        from numrnn.backends.cpu._random import bernoulli  # compiled: numba loads lazily

        keep = 1.0 - self.p
        # Drawn in float32 or float64; kept in x's dtype where that is another float.
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        mask = bernoulli(self._rng, keep, x.shape, dtype, 1.0 / keep)
        self._mask = mask.astype(x.dtype, copy=False) if x.dtype.kind == "f" else mask
        return x * self._mask

    __call__ = forward

    def backward(self, grad_output):
        """Backpropagate through the latest mask.

        Parameters
        ----------
        grad_output : ndarray
            Gradient with respect to the latest output.

        Returns
        -------
        ndarray
            ``grad_output * mask`` (``grad_output`` itself if no mask was drawn).
        """
        return grad_output if self._mask is None else grad_output * self._mask
