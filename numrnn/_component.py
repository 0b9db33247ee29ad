"""The protocol every building block shares: layers, heads, dropout and models.

A component has a training mode (:meth:`Component.train`, :meth:`Component.eval`,
:attr:`Component.training`), live parameters (:meth:`Component.parameters`), their gradients
(``grads``, keyed the same), copies of them (:meth:`Component.state_dict`), a strict
:meth:`Component.load_state_dict`, and the constructor arguments that rebuild it
(``get_config``).  One mistake raises one exception type everywhere:
:class:`StateDictError` for missing or unexpected keys (a ``KeyError`` and a ``ValueError``,
so ``except`` clauses written for either keep working), ``ValueError`` for a mis-shaped
value, ``TypeError`` for a value that is not an array of real numbers.
"""

import numpy as np

from numrnn._docs import fill_doc
from numrnn._validation import to_numpy

__all__ = ["Component", "StateDictError", "checked_state"]


class StateDictError(ValueError, KeyError):
    """A state dict's keys do not match the component's: missing or unexpected keys."""

    __str__ = Exception.__str__  # KeyError's would quote the message


def checked_state(expected, state_dict, owner):
    """``state_dict`` checked against ``expected`` (name -> array): converted copies.

    Strict like PyTorch: nothing is assigned here, so a failed load leaves the owner as it
    was.

    Parameters
    ----------
    expected : dict of str to ndarray
        The owner's parameters: the keys, shapes and dtypes wanted.
    state_dict : mapping of str to array_like
        NumPy arrays, PyTorch tensors (any device) or device arrays.
    owner : str
        Named in the messages.

    Returns
    -------
    dict of str to ndarray
        New C-contiguous arrays of the expected dtypes, in ``expected``'s order.

    Raises
    ------
    StateDictError
        Naming every missing and every unexpected key.
    ValueError
        Naming every mis-shaped value.
    TypeError
        If ``state_dict`` is not a mapping, or a value does not hold real numbers.
    """
    if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict.keys() if k not in expected]
    if missing or unexpected:
        raise StateDictError(
            f"state_dict does not match {owner}: missing keys {missing}, unexpected keys "
            f"{unexpected}"
        )
    converted, wrong = {}, []
    for key, current in expected.items():
        value = np.asarray(to_numpy(state_dict[key]))
        if value.dtype.kind not in "fiu":
            raise TypeError(f"state_dict[{key!r}] must hold real numbers, got dtype "
                            f"{value.dtype}")
        converted[key] = np.array(value, dtype=current.dtype, order="C", copy=True)
        if value.shape != current.shape:
            wrong.append(f"state_dict[{key!r}] must have shape {current.shape} for {owner}, "
                         f"got {value.shape}")
    if wrong:
        raise ValueError("; ".join(wrong))
    return converted


class Component:
    """Base of every numrnn building block (see the module docstring).

    Subclasses set ``self.training`` and ``self.grads`` in ``__init__`` and override
    :meth:`parameters` (none by default) and ``get_config``.  :meth:`load_state_dict`
    copies the values into the live parameter arrays, in place, so arrays that
    :meth:`parameters` returned earlier stay live, and then calls :meth:`_parameters_loaded`.
    """

    @fill_doc
    def train(self, mode=True):
        """Set training mode (dropout active), or evaluation mode with ``mode=False``.

        A component made of others (a model) sets the same mode on each of them.

        Parameters
        ----------
        mode : bool, default True

        %(returns_self)s
        """
        for child in self._children():
            child.train(mode)
        self.training = bool(mode)
        return self

    @fill_doc
    def eval(self):
        """Set evaluation mode (no dropout).

        %(returns_self)s
        """
        return self.train(False)

    def parameters(self):
        """Return the live parameter arrays, which optimizers update in place.

        Returns
        -------
        dict of str to ndarray
            Keyed like :meth:`state_dict`.
        """
        return {}

    def state_dict(self):
        """Return copies of the parameters.

        Returns
        -------
        dict of str to ndarray
            C-contiguous copies: changing them does not change the component.
        """
        return {name: np.array(p, order="C") for name, p in self._live().items()}

    def load_state_dict(self, state_dict):
        """Replace the parameters (strict: the keys and shapes of :meth:`state_dict`).

        Parameters
        ----------
        state_dict : mapping of str to array_like
            NumPy arrays or PyTorch tensors; converted to the component's dtype.

        Raises
        ------
        StateDictError
            Naming missing and unexpected keys (it is a ``KeyError`` and a ``ValueError``).
        ValueError
            Naming mis-shaped values.
        TypeError
            If a value does not hold real numbers.

        Notes
        -----
        Nothing changes unless every entry is valid.  The values are copied into the
        parameter arrays in place: arrays that :meth:`parameters` returned stay live.
        """
        live = self._live()
        for name, value in checked_state(live, state_dict, type(self).__name__).items():
            live[name][...] = value
        self._parameters_loaded()

    def _recorded(self, tape):
        """``tape``, what the latest forward kept for backward; a RuntimeError if none did."""
        if tape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return tape

    def _children(self):
        """The components this one is made of (none by default; models list theirs)."""
        return ()

    def _live(self):
        """The live parameters, without side effects (``parameters`` may have some)."""
        return self.parameters()

    def _parameters_loaded(self):
        """Called after :meth:`load_state_dict` changed the parameters (nothing by default)."""
