"""The fast path of :meth:`numrnn.model.Sequential.stream` for one step of every sequence.

Streaming one sample at a time is the common real-time use: a chunk of one step, ``x`` of
shape (B, 1, I).  The general path validates, pads, switches every layer to evaluation mode
and back, and runs each layer's sequence forward on a sequence of length one: about 100 µs
for a one-layer LSTM.  The fast path instead calls each recurrent layer's own ``step``
(whose compiled stepper reads the live parameters: it cannot go stale), treats dropout
layers as the identity (``stream`` runs in evaluation mode), and applies the head to the
last hidden state with its live parameters, in one compiled call
(:func:`numrnn.backends.cpu._head.dense_step`).

It applies only while the general path would compute the same: no recurrent layer has
dropout active (training mode with ``dropout > 0``: its ``step`` would drop units), no
lengths are given, and ``x`` is an ndarray of the shape it was made for.  Otherwise it
returns None and ``stream`` takes the general path.
"""

import numpy as np

__all__ = ["make_stream_step"]


def make_stream_step(model, shape):
    """A function ``step(x) -> output or None`` for chunks of one step of ``shape`` (B, 1, I).

    ``model._stream_state`` is read and replaced as by the general path.
    """
    import numba  # on first use: import numrnn stays free of it

    from numrnn.backends.cpu._head import ACTIVATION_CODES, dense_step

    layers, head = tuple(model.recurrent), model.head
    weight = head.parameters()["weight"]
    bias = head.parameters().get("bias", np.empty(0, weight.dtype))
    code = ACTIVATION_CODES[head.activation]
    # The compiled code for these types, called directly: the dispatcher's matching of
    # four arguments cost ~0.5 µs a call.  h is the last layer's step output, C-contiguous.
    h_type = numba.typeof(np.empty((shape[0], head.in_features), weight.dtype))
    out_shape = (shape[0], head.out_features)
    dense = dense_step.compile((h_type, numba.typeof(weight), numba.typeof(bias), numba.int64,
                                numba.typeof(np.empty(out_shape, weight.dtype))))
    empty, dtype = np.empty, weight.dtype
    per_step = not head.last_step
    ndarray = np.ndarray

    def step(x):
        states = model._stream_state
        if type(x) is not ndarray or x.shape != shape or x.dtype.kind != "f" or states is None:
            return None
        for layer in layers:
            if layer._dropout_active:
                return None
        h = x[:, 0]
        new = []
        for layer, state in zip(layers, states, strict=True):
            h, state = layer.step(h, state)
            new.append(state)
        model._stream_state = new
        out = empty(out_shape, dtype)
        dense(h, weight, bias, code, out)
        return out[:, None] if per_step else out

    return step
