"""A model made of named components: :class:`ComponentGroup`, the base of
:class:`~numrnn.seq2seq.Seq2Seq`.

The group's parameters, gradients and state are its components', keyed
``"<component>.<parameter>"`` in the order of :attr:`ComponentGroup.components`; its mode is
theirs too.
"""


from numrnn._component import Component, checked_state
from numrnn._training.inference import evaluating

__all__ = ["ComponentGroup"]


class ComponentGroup(Component):
    """Parameters, gradients, state and modes of the components that ``components`` names."""

    @property
    def components(self):
        """The components by name, in :meth:`state_dict` order (subclasses list them)."""
        raise NotImplementedError

    def parameters(self):
        """Return the live parameter arrays of every component, which optimizers update.

        Returns
        -------
        dict of str to ndarray
            Keyed ``"<component>.<parameter>"``.
        """
        return {f"{name}.{key}": value for name, component in self.components.items()
                for key, value in component.parameters().items()}

    @property
    def grads(self):
        """Gradients of the latest :meth:`train_batch` (or backward), keyed like
        :meth:`parameters`.

        Returns
        -------
        dict of str to ndarray
        """
        return {f"{name}.{key}": value for name, component in self.components.items()
                for key, value in component.grads.items()}

    def load_state_dict(self, state_dict):
        """Replace every parameter (strict: the keys and shapes of :meth:`state_dict`).

        Parameters
        ----------
        state_dict : dict of str to array_like

        Raises
        ------
        ValueError
            Naming missing or unexpected keys; nothing changes then.
        """
        checked_state(self.state_dict(), state_dict, type(self).__name__)
        for name, component in self.components.items():
            component.load_state_dict({key[len(name) + 1:]: value
                                       for key, value in state_dict.items()
                                       if key.startswith(name + ".")})

    def _children(self):
        return self.components.values()

    def _evaluating(self):
        """Evaluation mode without a tape, the components' modes restored afterwards."""
        return evaluating(self)
