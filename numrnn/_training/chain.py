"""A :class:`~numrnn.model.Sequential`'s components chained on time-major arrays.

Forward runs the recurrent layers (time-major whatever their ``batch_first``, on the chain's
own arrays: no transposes, no defensive copies), the dropout layers and the head on a
time-major batch (T, B, I) and returns the logits and every recurrent layer's final state;
backward hands ``d loss / d logits`` back through them, so that each component fills its
``grads``.  The fit loop, prediction and streaming all go through here.
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._recurrent import RNN
from numrnn._recurrent.arguments import user_layout
from numrnn._training.dropout import Dropout
from numrnn.heads import Dense

__all__ = ["backward", "check_layers", "forward", "zero_padding", "zero_state"]


def check_layers(layers):
    """The components of a model, as a list: recurrent layers and dropout that chain (each
    one's input size the output size before it), then one Dense head, last."""
    layers = list(layers)
    if not layers or not isinstance(layers[-1], Dense):
        raise ValueError(f"layers must end with a Dense head, got "
                         f"{[type(c).__name__ for c in layers]}")
    features = None
    for i, layer in enumerate(layers):
        if not isinstance(layer, RNN | Dropout | Dense):
            raise TypeError(f"layers[{i}] must be an RNN, LSTM, GRU, Dropout or Dense, "
                            f"got {type(layer).__name__}")
        if isinstance(layer, Dense) and i != len(layers) - 1:
            raise ValueError(f"layers[{i}] is a Dense head; the head must be the last layer")
        needs = (layer.in_features if isinstance(layer, Dense)
                 else layer.input_size if isinstance(layer, RNN) else None)
        if None not in (needs, features) and needs != features:
            raise ValueError(f"layers[{i}] takes {needs} input features but the layer "
                             f"before gives {features}")
        if isinstance(layer, RNN):
            features = output_features(layer)
    return layers


def forward(model, x, lengths, states):
    """Logits for time-major ``x`` (T, B, I): (logits, final states per recurrent layer).

    Per-step logits are time-major (T, B, O); a last-step head gives (B, O).  ``states``
    holds one initial state (or None) per recurrent layer.
    """
    h, finals, states = x, [], iter(states)
    for layer in model.layers[:-1]:
        if isinstance(layer, RNN):
            # Time-major in and out whatever the layer's batch_first, and no defensive copy:
            # the chain's arrays are its own, and nothing writes to them.
            be = layer._be
            out, h_n = layer._time_major_forward(be.asarray(h, layer.dtype), next(states),
                                                 lengths)
            h, h_n = user_layout(be, out, h_n, True, False)
            finals.append(h_n)
        else:
            h = layer(h)
    head = model.head
    if model._bidirectional_summary:
        h, model._summary_tape = summary_of_both_directions(h, lengths)
        lengths = None
    z = head(tu.swap_batch_time(h, head.batch_first), lengths)
    if not head.last_step:
        z = tu.swap_batch_time(z, head.batch_first)
    return z, finals


def backward(model, grad_logits):
    """Backpropagate ``d loss / d logits``; each component fills its ``grads``."""
    head, g = model.head, grad_logits
    if head.last_step:  # the readout's gradient, time-major already
        g = head._time_major_backward(g)
    else:
        g = tu.swap_batch_time(head.backward(tu.swap_batch_time(g, head.batch_first)),
                               head.batch_first)
    if model._bidirectional_summary:
        g = summary_gradient(g, *model._summary_tape)
    for layer in reversed(model.layers[:-1]):
        if isinstance(layer, RNN):
            # grad_hx is dropped on purpose: with truncated BPTT the initial state is the
            # previous window's (detached) final state. The first layer's input is data: no
            # gradient is made for it.
            be = layer._be
            grad_x, _ = layer._time_major_backward(be.asarray(g, layer.dtype), None,
                                                   layer is not model.layers[0])
            g = None if grad_x is None else be.to_numpy(grad_x)
        else:
            g = layer.backward(g)


def output_features(layer):
    """Features per step of a recurrent layer's output, ``D * H_out``."""
    return (2 if layer.bidirectional else 1) * (layer.proj_size or layer.hidden_size)


def zero_state(layer, batch):
    """Initial state of a recurrent layer for ``batch`` sequences: h_0, or (h_0, c_0)."""
    n = layer.num_layers * (2 if layer.bidirectional else 1)
    h = np.zeros((n, batch, layer.proj_size or layer.hidden_size), dtype=layer.dtype)
    if layer._spec.cell.has_cell_state:
        return (h, np.zeros((n, batch, layer.hidden_size), dtype=layer.dtype))
    return h


def state_batch(state):
    """Batch size of a recurrent layer's state h or (h, c)."""
    return (state[0] if isinstance(state, tuple) else state).shape[1]


def take_state(state, rows):
    """The state of the sequences ``rows`` (batch axis 1), for h or (h, c)."""
    if isinstance(state, tuple):
        return tuple(s[:, rows] for s in state)
    return state[:, rows]


def put_state(state, rows, new):
    """Write ``new`` into ``state`` for the sequences ``rows``, in place, for h or (h, c)."""
    for target, value in zip(state if isinstance(state, tuple) else (state,),
                             new if isinstance(new, tuple) else (new,), strict=True):
        target[:, rows] = value


def summary_of_both_directions(h, lengths):
    """Per sequence, the forward half of ``h`` (T, B, 2H) at the last valid step and the
    reverse half at step 0, as a one-step sequence (1, B, 2H); and the tape for
    :func:`summary_gradient`."""
    steps, batch, features = h.shape
    last = np.full(batch, steps - 1) if lengths is None else lengths - 1
    half = features // 2
    summary = np.concatenate([h[last, np.arange(batch), :half], h[0, :, half:]], axis=1)
    return summary[None], (h.shape, last)


def summary_gradient(grad_summary, shape, last):
    """Gradient with respect to ``h`` from the gradient (1, B, 2H) of its summary."""
    grad_h = np.zeros(shape, dtype=grad_summary.dtype)
    half = shape[2] // 2
    grad_h[last, np.arange(shape[1]), :half] = grad_summary[0, :, :half]
    grad_h[0, :, half:] = grad_summary[0, :, half:]
    return grad_h


def zero_padding(x, lengths):
    """A C-contiguous copy of time-major ``x`` with zeros at padded steps.

    Padding may hold anything (NaN included); a GEMM over all rows would carry it into the
    weight gradients (0 * NaN = NaN), so it never reaches a layer.
    """
    x = np.array(x, order="C")
    if lengths is not None:
        x[~tu.valid_mask(lengths, x.shape[0], x.shape[1])] = 0
    return x
