"""The component protocol of the parameterised layers without modes: a base class.

A component keeps its parameters in ``self._params`` (name -> ndarray) and the gradients of
its latest backward in ``self.grads``; training and evaluation mode behave the same.
"""

from numrnn import _trainutil as tu


class StatelessModes:
    """``train``/``eval``, ``state_dict``, ``load_state_dict`` and ``parameters`` over
    ``self._params``, for layers that behave the same in training and evaluation mode."""

    training = True

    def train(self, mode=True):
        """Set training mode (no effect on this layer, kept for a uniform interface).

        Parameters
        ----------
        mode : bool, default True

        Returns
        -------
        object
            This layer.
        """
        self.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode.

        Returns
        -------
        object
            This layer.
        """
        return self.train(False)

    def state_dict(self):
        """Return copies of the parameters.

        Returns
        -------
        dict of str to ndarray
        """
        return {k: v.copy() for k, v in self._params.items()}

    def load_state_dict(self, state_dict):
        """Replace the parameters (strict: same keys and shapes as :meth:`state_dict`).

        Parameters
        ----------
        state_dict : mapping of str to array_like
            NumPy arrays or PyTorch tensors; converted to the layer's dtype.

        Raises
        ------
        ValueError
            Naming missing, unexpected and mis-shaped keys; nothing changes then.
        """
        self._params = tu.checked_state(self._params, state_dict, type(self).__name__)

    def parameters(self):
        """Return the live parameter arrays, which optimizers update in place.

        Returns
        -------
        dict of str to ndarray
        """
        return self._params
