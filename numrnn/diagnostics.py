r"""Diagnostics of trained networks: how far back in time the gradient reaches.

:func:`gradient_flow` measures :math:`\|\partial L / \partial h^{(k)}_t\|` -- the norm of the
loss's gradient with respect to layer :math:`k`'s hidden state at every step :math:`t` -- the
quantity whose exponential decay over :math:`T - t` is the vanishing-gradient problem of
plain RNNs (Bengio et al., 1994; Hochreiter & Schmidhuber, 1997).
:func:`plot_gradient_flow` draws it (matplotlib is needed for the plot only).

Examples
--------
>>> import numpy as np
>>> from numrnn.estimators import SequenceRegressor
>>> from numrnn.diagnostics import gradient_flow
>>> rng = np.random.default_rng(0)
>>> X, y = rng.uniform(size=(16, 10, 1)), rng.uniform(size=16)
>>> reg = SequenceRegressor(hidden_size=4, num_layers=2, epochs=1, backend="numpy", seed=0)
>>> gradient_flow(reg.fit(X, y), X, y).shape          # (num_layers, T)
(2, 10)
"""

import numpy as np

from numrnn._recurrent import RNN
from numrnn._seqnet import as_padded
from numrnn._training.chain import summary_gradient, summary_of_both_directions
from numrnn.model import Sequential

__all__ = ["gradient_flow", "plot_gradient_flow"]


def gradient_flow(model, X, y):
    r"""Measure the loss gradient's norm with respect to every layer's state at every step.

    For layer :math:`k` (0 = the first) and step :math:`t`, the norm
    :math:`\|\partial L/\partial h^{(k)}_t\|` of the *total* derivative of the training loss
    :math:`L` on ``(X, y)`` with respect to the layer's output :math:`h^{(k)}_t`, through
    every path: into the layer above (or the head) at step :math:`t` and into the layer's
    own steps :math:`t+1, t+2, \dots`. The norm is taken over the batch and the units (both
    directions of a bidirectional layer, each at step :math:`t`). Stacked layers inside one
    recurrent layer (``num_layers > 1``) count as layers of their own.

    The layers' own backend computes it: each step runs as a one-step call of the stack
    core's layer-direction function with a tape of its own, so backpropagation hands back the
    gradient with respect to the state between steps.

    Parameters
    ----------
    model : Sequential, SequenceClassifier or SequenceRegressor
        A :class:`numrnn.model.Sequential`, or a fitted estimator of
        :mod:`numrnn.estimators` (then ``X`` and ``y`` are as for its ``fit``).
    X : array_like
        Sequences of one length T: (N, T, I) for a Sequential.
    y : array_like
        Their targets, as for the model's ``fit``.

    Returns
    -------
    ndarray, shape (num_layers, T)

    Raises
    ------
    TypeError
        If ``model`` is neither a Sequential nor a fitted estimator.
    ValueError
        If the sequences differ in length, or for bad ``X`` or ``y``.

    Notes
    -----
    The cost is that of one forward and backward pass, run one step at a time. Dropout is
    off (evaluation mode).

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> from numrnn.diagnostics import gradient_flow
    >>> from numrnn.heads import Dense
    >>> from numrnn.model import Sequential
    >>> model = Sequential([numrnn.LSTM(2, 4, batch_first=True, backend="numpy", seed=0),
    ...                     Dense(4, 1, last_step=True, batch_first=True, seed=0)], loss="mse")
    >>> X = np.random.default_rng(0).normal(size=(8, 6, 2))
    >>> flow = gradient_flow(model, X, np.zeros((8, 1)))
    >>> flow.shape                              # (layers, steps)
    (1, 6)
    >>> bool(np.all(flow > 0))
    True
    """
    if isinstance(getattr(model, "model_", None), Sequential):
        x, lengths = model._network_input(X)   # scaled and patched as in training
        y = model._training_targets(y, len(x))
        model = model.model_
    elif isinstance(model, Sequential):
        x, lengths = as_padded(X, "X", model.input_size)
    else:
        raise TypeError(f"model must be a numrnn Sequential or a fitted SequenceClassifier or "
                        f"SequenceRegressor, got {type(model).__name__}")
    if lengths is not None:
        raise ValueError("X must hold sequences of one length for gradient_flow")
    steps = x.shape[1]
    # Forward, one internal layer at a time, batch first; remember each step's tape.
    layers, layer_inputs, h = [], [], x
    for layer in model.layers[:-1]:
        if not isinstance(layer, RNN):
            continue  # dropout: the identity in evaluation mode
        D = 2 if layer.bidirectional else 1
        params = layer._layer_params()
        for k in range(layer.num_layers):
            directions = [_Steps(layer, params[k * D + d], d == 1) for d in range(D)]
            layer_inputs.append(h)
            layers.append(directions)
            h = np.concatenate([steps_of.forward(h) for steps_of in directions], axis=2)
    upstream = _head_gradient(model, h, y)
    norms = np.zeros((len(layers), steps))
    for k in reversed(range(len(layers))):
        grad_input = np.zeros_like(layer_inputs[k])
        total = np.zeros_like(upstream)
        width = upstream.shape[2] // len(layers[k])
        for d, steps_of in enumerate(layers[k]):
            part = slice(d * width, (d + 1) * width)
            gx, total[:, :, part] = steps_of.backward(upstream[:, :, part])
            grad_input += gx
        norms[k] = np.sqrt(np.sum(total.astype(np.float64) ** 2, axis=(0, 2)))
        upstream = grad_input
    return norms


def _head_gradient(model, h, y):
    """Gradient of the loss with respect to the last recurrent output ``h`` (B, T, F).

    The head and the loss are the model's own; the layouts are the model's too: its loss is
    time-major, its head has its own, and a last-step head after a bidirectional layer reads
    each direction's output after the whole sequence (see :class:`~numrnn.model.Sequential`).
    """
    head = model.head
    h = np.swapaxes(h, 0, 1)
    summary = model._bidirectional_summary
    if summary:
        h, tape = summary_of_both_directions(h, None)
    logits = head(np.swapaxes(h, 0, 1) if head.batch_first else h)
    per_step_batch_first = not head.last_step and head.batch_first
    targets = np.asarray(y)
    if not head.last_step:
        targets = np.swapaxes(targets, 0, 1)
    model.loss(np.swapaxes(logits, 0, 1) if per_step_batch_first else logits, targets)
    grad_logits = model.loss.backward()
    grad_h = head.backward(np.swapaxes(grad_logits, 0, 1) if per_step_batch_first
                           else grad_logits)
    if head.batch_first:
        grad_h = np.swapaxes(grad_h, 0, 1)
    if summary:
        grad_h = summary_gradient(grad_h, *tape)
    return np.swapaxes(grad_h, 0, 1)


class _Steps:
    """One layer-direction of a recurrent layer, run one step at a time with a tape per step.

    Each step is a one-step call of the backend's layer-direction forward (the stack core's
    building block), so its backward hands back the gradient with respect to the state
    between steps.
    """

    def __init__(self, rnn, params, reverse):
        self.be, self.spec, self.params, self.dtype = rnn._be, rnn._spec, params, rnn.dtype
        self.reverse = reverse
        self.tapes = []

    def _order(self, steps):
        return range(steps - 1, -1, -1) if self.reverse else range(steps)

    def _zeros(self, batch):
        spec = self.spec
        h = self.be.zeros((batch, spec.proj_size or spec.hidden_size), self.dtype)
        c = self.be.zeros((batch, spec.hidden_size), self.dtype) if spec.cell.has_cell_state \
            else None
        return h, c

    def _step_rows(self, a, t):
        """``a[:, t]`` (B, n) as a one-step backend array (1, B, n)."""
        return self.be.asarray(np.ascontiguousarray(a[None, :, t]), self.dtype)

    def forward(self, x):
        """Outputs (B, T, H_out) in time order for the input ``x`` (B, T, I)."""
        outputs = [None] * x.shape[1]
        h, c = self._zeros(x.shape[0])
        for t in self._order(x.shape[1]):
            out, h, c, tape = self.be.forward(self.spec, self.params, self._step_rows(x, t), h,
                                              c, None, False, True)
            outputs[t] = self.be.to_numpy(out)[0]
            self.tapes.append(tape)
        return np.stack(outputs, axis=1)

    def backward(self, upstream):
        """Backpropagate through the steps in reverse processing order.

        Returns the gradient with respect to the input (B, T, I) and the total gradient with
        respect to the output (B, T, H): the gradient from above plus that through the
        following steps.
        """
        steps = upstream.shape[1]
        total = np.zeros_like(upstream)
        grad_input = [None] * steps
        # The gradient with respect to the state after step t, from the steps after it.
        carry_h, carry_c = self._zeros(upstream.shape[0])
        for tape, t in reversed(list(zip(self.tapes, self._order(steps), strict=True))):
            gx, grad_h, grad_c, _ = self.be.backward(self.spec, self.params, tape,
                                                     self._step_rows(upstream, t), carry_h,
                                                     carry_c)
            grad_input[t] = self.be.to_numpy(gx)[0]
            total[:, t] = upstream[:, t] + self.be.to_numpy(carry_h)
            carry_h, carry_c = grad_h, grad_c
        return np.stack(grad_input, axis=1), total


def plot_gradient_flow(flows, ax=None, title=None):
    r"""Plot gradient norms over time steps on a logarithmic axis.

    Parameters
    ----------
    flows : ndarray or dict of str to ndarray
        An array (num_layers, T) from :func:`gradient_flow`, or several keyed by a label
        (for example ``{"LSTM": ..., "tanh RNN": ...}``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure otherwise.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If an array is not 2-D.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from numrnn.diagnostics import plot_gradient_flow
    >>> ax = plot_gradient_flow({"demo": np.exp(-np.arange(20.0))[None]})
    >>> ax.get_yscale()
    'log'
    """
    import matplotlib.pyplot as plt

    if not isinstance(flows, dict):
        flows = {"": flows}
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, norms in flows.items():
        norms = np.asarray(norms)
        if norms.ndim != 2:
            raise ValueError(f"flows[{label!r}] must be 2-D (num_layers, T), got shape "
                             f"{norms.shape}")
        for k, row in enumerate(norms):
            name = label + (f" layer {k}" if len(norms) > 1 else "")
            ax.semilogy(np.arange(len(row)), row, label=name.strip() or None)
    ax.set_xlabel("time step t")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    if title:
        ax.set_title(title)
    if any(label for label in flows) or any(len(np.asarray(v)) > 1 for v in flows.values()):
        ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    return ax
