r"""The recurrent layers: :class:`RNN`, :class:`LSTM` and :class:`GRU`.

Thin facades: each holds its parameters in :class:`ParamLayout`'s layout, converts its
arguments once (:mod:`numrnn._recurrent.arguments`), and calls the stack core
(:mod:`numrnn._recurrent.stack`) or, for ``step``, its streaming component
(:mod:`numrnn._recurrent.streaming`).  What makes a cell a cell comes from the cell
registry (:mod:`numrnn._cells`).
"""

import numpy as np

from numrnn._docs import fill_doc
from numrnn._recurrent.arguments import check_input, check_state, to_backend, user_layout
from numrnn._recurrent.base import RecurrentBase
from numrnn._recurrent.grad import NoTapeError, grad_enabled
from numrnn._recurrent.stack import stack_backward, stack_forward
from numrnn._validation import check_lengths, check_shape

__all__ = ["GRU", "LSTM", "RNN"]


class _Record:
    """What one forward call leaves for backward: the stack's tape and the user's layout."""

    __slots__ = ("batched", "device", "dims", "tape")

    def __init__(self, tape, dims, batched, device):
        self.tape, self.dims, self.batched, self.device = tape, dims, batched, device


@fill_doc
class RNN(RecurrentBase):
    r"""Multi-layer Elman RNN with tanh or ReLU nonlinearity.

    Each layer computes, for every time step :math:`t`,

    .. math:: h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    with :math:`\phi` = tanh or ReLU. Layer :math:`k > 0` takes the outputs of
    layer :math:`k - 1` (both directions concatenated) as its input, with
    dropout between layers in training mode.

    Parameters
    ----------
    %(layer_sizes)s
    nonlinearity : {"tanh", "relu"}, default "tanh"
        The activation :math:`\phi`.
    %(layer_options)s
    %(layer_numerics)s

    Attributes
    ----------
    grads : dict of str to ndarray
        Gradients of the latest :meth:`backward`, keyed like :meth:`state_dict`.
    training : bool
        Training mode (dropout active). See :meth:`train` and :meth:`eval`.

    %(layer_see_also)s

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> rnn = numrnn.RNN(3, 4, num_layers=2, backend="numpy", seed=0)
    >>> out, h_n = rnn(np.zeros((5, 2, 3)))
    >>> out.shape, h_n.shape
    ((5, 2, 4), (2, 2, 4))
    """

    _CONFIG = ("nonlinearity",)

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=np.float32,
        backend="auto",
        seed=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._setup(
            "rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias, batch_first,
            dropout, bidirectional, 0, dtype, backend, seed,
        )

    def forward(self, x, hx=None, lengths=None):
        """Run the layer over whole sequences.

        Parameters
        ----------
        x : array_like, shape (T, B, I), (B, T, I) if batch_first, or (T, I)
            Input sequences (padded to length T). Device arrays (anything with
            ``__cuda_array_interface__``) are accepted by the CUDA backend.
        hx : array_like or tuple of two, optional
            Initial state (num_layers * D, B, H_out) -- for an LSTM the tuple
            ``(h_0, c_0)`` with c_0 (num_layers * D, B, H). No B axis for
            unbatched input. Zeros if None.
        lengths : array_like of int, shape (B,), optional
            Valid length of each sequence, in [1, T], in any order. Outputs at
            t >= lengths[b] are zero; final states are taken at each sequence's
            last valid step; the reverse direction runs over the valid part.

        Returns
        -------
        output : ndarray, shape (T, B, D * H_out)
            Outputs of the last layer (D = 2 if bidirectional).
        h_n : ndarray or tuple of ndarray
            Final states (num_layers * D, B, H_out); for an LSTM
            ``(h_n, c_n)``.

        Raises
        ------
        ValueError, TypeError
            For input of the wrong shape, dtype or structure.
        """
        be = self._be
        x, batched, device = check_input(be, "x", x, 3, self.input_size, self.dtype)
        if batched and self.batch_first:
            x = be.transpose01(x)
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        if not batched and lengths is not None:
            lengths = np.reshape(lengths, (1,)) if np.size(lengths) == 1 else lengths
        output, finals = self._time_major_forward(x, hx, lengths, batched, device)
        if batched and self.batch_first:
            output = be.transpose01(output)
        return user_layout(be, output, finals, batched, device)

    __call__ = forward

    def _time_major_forward(self, x, hx, lengths, batched=True, device=False):
        """:meth:`forward` on time-major ``x`` (T, B, I), a backend array of the layer's dtype
        that nothing writes to until backward (the tape keeps it): (output (T, B, D·H_out),
        final states), backend arrays.  A model's chain calls it with its own arrays: no
        defensive copy and no transposes for ``batch_first``."""
        T, B = x.shape[0], x.shape[1]
        lengths = check_lengths(lengths, T, B)
        states, _ = check_state(self._be, self._layout, hx, B, batched, self.dtype,
                                type(self).__name__)
        need_tape = grad_enabled()
        output, finals, tape = stack_forward(
            self._be, self._spec, self._layer_params(), x, states, lengths,
            self._layout.directions, self._dropout_mask(), need_tape, self._regularisers(),
        )  # fmt: skip
        self._record = _Record(tape, (T, B), batched, device) if need_tape else None
        return output, finals

    def backward(self, grad_output, grad_hn=None, *, input_grad=True):
        """Backpropagation through time for the latest forward call.

        Computes the gradient of
        ``sum(output * grad_output) + sum(h_n * grad_hn)`` (for an LSTM
        ``grad_hn = (grad_h_n, grad_c_n)`` and the sum includes the cell state).

        Parameters
        ----------
        grad_output : array_like
            Same shape as the forward call's ``output``. Entries at padded
            steps are ignored (those outputs are constant zeros).
        grad_hn : array_like or tuple of two, optional
            Same structure and shapes as the forward call's final state;
            None means zeros.
        input_grad : bool, default True
            False: ``grad_x`` is not computed and None is returned in its
            place (the first layer of a network, whose input is data: its
            product with ``W_ih`` is skipped).

        Returns
        -------
        grad_x : ndarray or None
            Shaped like the forward call's ``x``.
        grad_hx : ndarray or tuple of ndarray
            Shaped like the initial state (also when ``hx`` was None).

        Raises
        ------
        NoTapeError
            If no forward call was recorded (none yet, or under :func:`no_grad`).
        ValueError, TypeError
            For gradients of the wrong shape or structure.

        Notes
        -----
        Parameter gradients are stored, fresh, in ``grads``.
        """
        record = self._recorded()
        be = self._be
        T, B = record.dims
        features = self._layout.directions * self._layout.hidden_out
        if record.batched:
            expected = (B, T, features) if self.batch_first else (T, B, features)
        else:
            expected = (T, features)
        g, _ = to_backend(be, "grad_output", grad_output, self.dtype)
        check_shape(g.shape, "grad_output", expected, "(the shape of the forward output)")
        if record.batched and self.batch_first:
            g = be.transpose01(g)
        g, grad_states0 = self._time_major_backward(g.reshape(T, B, features), grad_hn,
                                                    input_grad)
        if g is not None and record.batched and self.batch_first:
            g = be.transpose01(g)
        return user_layout(be, g, grad_states0, record.batched, record.device)

    def _recorded(self):
        if self._record is None:
            raise NoTapeError(
                "backward() needs a recorded forward call: call the layer first "
                "(outside numrnn.no_grad())"
            )
        return self._record

    def _time_major_backward(self, g, grad_hn, input_grad):
        """:meth:`backward` from time-major ``g`` (T, B, D·H_out), a backend array of the
        layer's dtype: (grad_x (T, B, I) or None, gradients of the initial states), backend
        arrays; fills ``grads``."""
        record, be, layout = self._recorded(), self._be, self._layout
        grad_states, _ = check_state(be, layout, grad_hn, record.dims[1], record.batched,
                                     self.dtype, type(self).__name__)
        g, grad_states0, grads = stack_backward(be, self._spec, record.tape, g, grad_states,
                                                bool(input_grad))
        named = {}
        for idx, by_role in enumerate(grads):
            for role, value in by_role.items():
                name = layout.name(role, *divmod(idx, layout.directions))
                if name in self._params:
                    named[name] = be.to_numpy(value)
        self.grads = {name: named[name] for name in self._params}
        return g, grad_states0

    def step(self, x_t, hx=None):
        """Advance the state by one time step (unidirectional layers only).

        ``step`` records no tape; use the layer on whole sequences to train.

        Parameters
        ----------
        x_t : array_like, shape (B, I) or (I,)
            The input at one time step.
        hx : array_like or tuple of two, optional
            The state, as returned by the previous call (zeros if None).

        Returns
        -------
        out_t : ndarray, shape (B, H_out) or (H_out,)
            The last layer's output.
        h : ndarray or tuple of ndarray
            The new state, shaped like ``hx``.

        Raises
        ------
        ValueError
            If the layer is bidirectional, or for input of the wrong shape.

        Notes
        -----
        The usual streaming loop, ``out, h = layer.step(x_t, h)`` with ``h``
        the very state (for LSTM, the very tuple) the previous call returned
        and ``x_t`` an array of the layer's dtype and of the previous call's
        shape, is the fastest case: the ``"cpu"`` backend then skips
        validation and conversion (a few µs). The state is still read
        afresh, so changing it in place is fine. Every call returns arrays
        that share no memory with anything the caller still holds.

        Several threads may step one layer, each with its own state; only
        a call with the latest state any thread got takes the fast path.
        """
        # The common streaming call: hx the very state the previous call returned and x_t
        # like the previous one (the backend's step checks both, and still reads the state
        # afresh).  It skips validation and conversion (5 µs, longer than the step itself).
        # _fast_step is the backend's step only while no dropout applies (see
        # numrnn._recurrent.streaming).
        result = self._fast_step(x_t, hx)
        if result is not None:
            return result
        return self._streaming.step(self, x_t, hx)


@fill_doc
class LSTM(RNN):
    r"""Multi-layer long short-term memory (LSTM), optionally with projections.

    Gate order i, f, g, o (rows of ``weight_ih_l{k}``, ``weight_hh_l{k}``):

    .. math::

        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' &= f \odot c + i \odot g \\
        h' &= o \odot \tanh(c')

    With ``proj_size = P > 0``, :math:`h' = W_{hr}(o \odot \tanh c')` is P-dimensional.

    Parameters
    ----------
    %(layer_sizes)s
    %(layer_options)s
    proj_size : int, default 0
        Size P of the projected hidden state (0: no projection); P < H.
    %(layer_numerics)s

    %(layer_see_also)s

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> lstm = numrnn.LSTM(3, 8, proj_size=2, backend="numpy", seed=0)
    >>> out, (h_n, c_n) = lstm(np.zeros((5, 4, 3)))
    >>> out.shape, h_n.shape, c_n.shape
    ((5, 4, 2), (1, 4, 2), (1, 4, 8))
    """

    _CONFIG = ("proj_size",)

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        dtype=np.float32,
        backend="auto",
        seed=None,
    ):
        self._setup(
            "lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, dtype, backend, seed,
        )


@fill_doc
class GRU(RNN):
    r"""Multi-layer gated recurrent unit (GRU), reset gate after the hidden product.

    Gate order r, z, n (PyTorch, cuDNN, Keras ``reset_after=True``):

    .. math::

        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' &= (1 - z) \odot n + z \odot h

    Parameters
    ----------
    %(layer_sizes)s
    %(layer_options)s
    %(layer_numerics)s

    %(layer_see_also)s

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn import GRU
    >>> gru = GRU(3, 4, bidirectional=True, backend="numpy", seed=0)
    >>> out, h_n = gru(np.zeros((5, 2, 3)), lengths=[5, 3])
    >>> out.shape, h_n.shape
    ((5, 2, 8), (2, 2, 4))
    """

    _CONFIG = ()

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=np.float32,
        backend="auto",
        seed=None,
    ):
        self._setup(
            "gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, dtype, backend, seed,
        )
