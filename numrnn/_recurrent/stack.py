r"""The stack core: pure functions that run a stack of layer-directions forward and back.

No state of their own: arrays, the per layer-direction parameter dicts of
:meth:`ParamLayout.per_direction`, and an explicit :class:`Tape`.  The layers are thin
facades over these two functions (and :mod:`numrnn.diagnostics` calls them directly).

Layer :math:`k > 0` takes the outputs of layer :math:`k - 1` (both directions
concatenated) as its input, with a dropout mask between layers where one is given.
"""

__all__ = ["Tape", "stack_backward", "stack_forward"]


class Tape:
    """What :func:`stack_forward` leaves for :func:`stack_backward`.

    Attributes
    ----------
    params : list of dict
        The parameters of each layer-direction the forward call used.
    tapes : list
        The backend's tape of each layer-direction.
    masks : list of array or None
        The dropout mask after each layer (None: none applied).
    directions : int
        D, 1 or 2.
    """

    __slots__ = ("directions", "masks", "params", "tapes")

    def __init__(self, params, directions):
        self.params, self.directions = params, directions
        self.tapes, self.masks = [], []


def stack_forward(be, spec, params, x, states, lengths, directions, dropout_mask, need_tape,
                  regularisers=None):
    """Run every layer and direction of a stack over whole sequences.

    Parameters
    ----------
    be : module
        The backend (:mod:`numrnn.backends`).
    spec : numrnn.backends.CellSpec
    params : list of dict
        Per layer-direction, layer-major (layer k, direction d at ``k * D + d``).
    x : backend array, shape (T, B, I)
    states : list of backend arrays
        h_0 (L·D, B, H_out), and c_0 (L·D, B, H) for a cell with a cell state.
    lengths : int64 ndarray (B,) or None
    directions : int
        D: 2 runs a reverse direction over each sequence's valid part too.
    dropout_mask : callable or None
        ``dropout_mask(shape)`` gives the mask (a backend array) to multiply the outputs of
        every layer but the last by, or None for no dropout.
    need_tape : bool
    regularisers : callable or None
        ``regularisers(T, B)`` gives the recurrent dropout and zoneout masks
        (:class:`numrnn.backends.Masks`) of one layer-direction, drawn anew for each; None
        for none.

    Returns
    -------
    output : backend array, shape (T, B, D·H_out)
    finals : list of backend arrays
        Like ``states``: each sequence's state after its last valid step.
    tape : Tape or None
    """
    num_layers = len(params) // directions
    tape = Tape(params, directions) if need_tape else None
    finals = [[] for _ in states]
    layer_input = x
    for k in range(num_layers):
        outs = []
        for d in range(directions):
            idx = k * directions + d
            c0 = states[1][idx] if len(states) == 2 else None
            masks = None if regularisers is None else regularisers(*layer_input.shape[:2])
            out, h_n, c_n, layer_tape = be.forward(
                spec, params[idx], layer_input, states[0][idx], c0, lengths, d == 1, need_tape,
                masks,
            )  # fmt: skip
            outs.append(out)
            finals[0].append(h_n)
            if c0 is not None:
                finals[1].append(c_n)
            if need_tape:
                tape.tapes.append(layer_tape)
        layer_input = be.concat_features(outs)
        mask = None
        if k < num_layers - 1 and dropout_mask is not None:
            mask = dropout_mask(layer_input.shape)
            layer_input = be.multiply(layer_input, mask)
        if need_tape:
            tape.masks.append(mask)
    return layer_input, [be.stack(f) for f in finals], tape


def stack_backward(be, spec, tape, grad_output, grad_states, input_grad=True):
    """Backpropagation through time for the :func:`stack_forward` call of ``tape``.

    Parameters
    ----------
    be, spec
        As for :func:`stack_forward`.
    tape : Tape
    grad_output : backend array, shape (T, B, D·H_out)
        Gradient of the output (entries at padded steps are ignored).
    grad_states : list of backend arrays
        Gradients of the final states, shaped like them.
    input_grad : bool, default True
        False: the first layer skips the gradient of its input, and grad_x is None.

    Returns
    -------
    grad_x : backend array, shape (T, B, I), or None
    grad_states0 : list of backend arrays
        Gradients of the initial states, shaped like them.
    grads : list of dict
        Per layer-direction, layer-major: the parameter gradients by role (as the backend
        names them).
    """
    D = tape.directions
    n = len(tape.params)
    grad_h0, grad_c0, grads = [None] * n, [None] * n, [None] * n
    hidden_out = grad_states[0].shape[2]
    g = grad_output
    for k in reversed(range(n // D)):
        if tape.masks[k] is not None:
            g = be.multiply(g, tape.masks[k])
        parts = be.split_features(g, [hidden_out] * D)
        g = None
        for d in range(D):
            idx = k * D + d
            gc_n = grad_states[1][idx] if len(grad_states) == 2 else None
            gx, grad_h0[idx], grad_c0[idx], grads[idx] = be.backward(
                spec, tape.params[idx], tape.tapes[idx], parts[d], grad_states[0][idx], gc_n,
                input_grad or k > 0,
            )  # fmt: skip
            g = gx if g is None else None if gx is None else be.add(g, gx)
    grad_states0 = [be.stack(grad_h0)]
    if len(grad_states) == 2:
        grad_states0.append(be.stack(grad_c0))
    return g, grad_states0, grads
