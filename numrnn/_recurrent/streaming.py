"""A layer's streaming step: the backend's compiled stepper where one applies.

``RNN.step`` only calls ``layer._fast_step(x_t, hx)``: a function that returns None unless
the backend's streaming step applies, which is then the whole call (about 2 µs for a small
LSTM).  :class:`Streaming` is the general path behind it: it validates and converts, runs
one step, and installs the backend's step as the fast one where it can.

The fast step can never go stale.  The stepper reads the layer's live parameter arrays in
place (see :mod:`numrnn._recurrent.params`), so changes made to them in place, by an
optimizer, ``load_state_dict`` or the caller, count at the next step.  Training mode,
dropout and the regularisers (the stepper has none of them) reset it: the layer calls
:meth:`Streaming.forget`.
A pickled layer gets a new :class:`Streaming`.
"""

import threading

import numpy as np

from numrnn._recurrent.arguments import check_input, check_state, user_layout
from numrnn._recurrent.stack import stack_forward

__all__ = ["Streaming", "no_fast_step"]


def no_fast_step(x_t, hx):
    """``layer._fast_step`` when there is none: every step takes the general path."""
    return None


class Streaming:
    """The general path of a layer's ``step``, and the keeper of its fast path."""

    def __init__(self):
        # Guards the stepper and the layer's _fast_step against threads that step while
        # others change the training mode or dropout.
        self._lock = threading.Lock()
        self._stepper = None  # (backend stepper, {x_t shape: its (step, start) functions})

    def forget(self, layer):
        """Make ``layer.step`` take the general path, which installs a fast one if it can."""
        with self._lock:
            layer._fast_step = no_fast_step

    def step(self, layer, x_t, hx):
        """``layer.step`` in general: validation, conversion, any backend."""
        if layer.bidirectional:
            raise ValueError(
                "step() advances one time step forward; a bidirectional layer needs the "
                "whole sequence: call the layer on the sequence instead"
            )
        be, dtype = layer._be, layer.dtype
        x_t, batched, device = check_input(be, "x_t", x_t, 2, layer.input_size, dtype)
        batch = x_t.shape[0] if batched else 1
        states, _ = check_state(be, layer._layout, hx, batch, batched, dtype,
                                type(layer).__name__)
        make_stepper = getattr(be, "make_stepper", None)
        if make_stepper is None or layer._step_regularised:
            x = x_t.reshape(1, batch, layer.input_size)
            output, finals, _ = stack_forward(
                be, layer._spec, layer._layer_params(), x, states, None,
                layer._layout.directions, layer._dropout_mask(), need_tape=False,
                regularisers=layer._regularisers(),
            )  # fmt: skip
            output, state = user_layout(be, output, finals, batched, device)
            return output[0], state
        # One compiled call for the whole stack (numrnn.backends.cpu.make_stepper), on the
        # arrays in the caller's shapes: it returns them in the same shapes.
        with self._lock:
            made = self._stepper
            if made is None:
                stepper = make_stepper(layer._spec, layer._layer_params(), dtype)
                made = self._stepper = (stepper, {})
        stepper, steps = made
        if x_t.shape not in steps:  # x_t of any memory layout: the stepper reads it in place
            steps[x_t.shape] = stepper(x_t.shape)
        step, start = steps[x_t.shape]
        states = [np.ascontiguousarray(s if batched else s.reshape(s.shape[0], s.shape[2]))
                  for s in states]  # fmt: skip
        result = start(x_t, states[0] if len(states) == 1 else tuple(states))
        with self._lock:  # unless the training mode or dropout changed meanwhile
            if not layer._step_regularised:
                layer._fast_step = step
        return result
