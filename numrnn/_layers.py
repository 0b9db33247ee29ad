r"""The recurrent layers: :class:`RNN`, :class:`LSTM` and :class:`GRU`.

Everything above the backends lives here, once: validation, conversion,
stacking, directions, dropout between layers, ``batch_first``, unbatched
input, the tape for :meth:`backward`, and the PyTorch parameter layout.
"""

import contextlib
import importlib
import os
import threading
import warnings

import numpy as np

from numrnn._validation import (
    as_float_array,
    check_float_dtype,
    check_int,
    check_lengths,
    check_shape,
)
from numrnn.backends import BACKENDS, CellSpec

__all__ = ["GRU", "LSTM", "RNN", "NoTapeError", "no_grad", "resolve_backend"]

_grad_state = threading.local()


@contextlib.contextmanager
def no_grad():
    """Context manager: forward calls inside record no tape for :meth:`RNN.backward`.

    Saves the memory and time that the tape costs when only outputs are needed.

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> gru = numrnn.GRU(3, 5, backend="numpy", seed=0)
    >>> with numrnn.no_grad():
    ...     out, h_n = gru(np.ones((4, 2, 3)))
    >>> out.shape
    (4, 2, 5)
    """
    previous = getattr(_grad_state, "enabled", True)
    _grad_state.enabled = False
    try:
        yield
    finally:
        _grad_state.enabled = previous


def _grad_enabled():
    return getattr(_grad_state, "enabled", True)


class NoTapeError(RuntimeError, ValueError):
    """``backward`` was called with no recorded forward pass to differentiate."""


def _cuda_usable():
    try:
        cuda = importlib.import_module(BACKENDS["cuda"])
    except ImportError:
        return False
    return cuda.is_usable()


def resolve_backend(name="auto"):
    """The backend module for a backend name.

    Parameters
    ----------
    name : {"auto", "numpy", "cpu", "cuda"}
        ``"auto"`` takes the environment variable ``NUMRNN_BACKEND`` if set,
        else ``"cuda"`` when a real GPU is usable (the CUDA simulator does not
        count), else ``"cpu"``.

    Returns
    -------
    name : str
        The resolved name.
    module : module
        The backend module (see :mod:`numrnn.backends`).

    Raises
    ------
    ValueError
        If the name is unknown.
    RuntimeError
        If ``"cuda"`` is asked for and no GPU (or simulator) is usable.
    """
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {type(name).__name__}")
    if name == "auto":
        name = os.environ.get("NUMRNN_BACKEND", "auto") or "auto"
        if name == "auto":
            name = "cuda" if _cuda_usable() else "cpu"
    if name not in BACKENDS:
        raise ValueError(
            f"backend must be one of {['auto', *BACKENDS]}, got {name!r}"
        )
    module = importlib.import_module(BACKENDS[name])
    if name == "cuda":
        module.check_available()
    return name, module


def _no_fast_step(x_t, hx):
    """``RNN._fast_step`` when there is none: every step call takes the general path."""
    return None


class _Record:
    """What one forward call leaves for backward."""

    __slots__ = ("batched", "device", "dims", "hx_given", "masks", "params", "tapes")


class RNN:
    r"""Multi-layer Elman RNN with tanh or ReLU nonlinearity.

    Each layer computes, for every time step :math:`t`,

    .. math:: h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    with :math:`\phi` = tanh or ReLU. Layer :math:`k > 0` takes the outputs of
    layer :math:`k - 1` (both directions concatenated) as its input, with
    dropout between layers in training mode.

    Parameters
    ----------
    input_size : int
        Number of input features I.
    hidden_size : int
        Number of hidden units H.
    num_layers : int, default 1
        Number of stacked layers.
    nonlinearity : {"tanh", "relu"}, default "tanh"
        The activation :math:`\phi`.
    bias : bool, default True
        Whether to use the biases :math:`b_{ih}, b_{hh}`.
    batch_first : bool, default False
        Input and output are (B, T, features) instead of (T, B, features).
    dropout : float in [0, 1), default 0
        Dropout probability on the outputs of each layer but the last, in
        training mode.
    bidirectional : bool, default False
        Also run each layer backward in time; outputs are concatenated.
    dtype : {numpy.float32, numpy.float64}, default float32
        Floating-point type of parameters and computations.
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
        Where the time loops run (see :func:`resolve_backend`).
    seed : int or None
        Seed for the initial weights, drawn from U(-1/sqrt(H), 1/sqrt(H)),
        and for dropout.

    Attributes
    ----------
    grads : dict of str to ndarray
        Gradients of the latest :meth:`backward`, keyed like :meth:`state_dict`.
    training : bool
        Training mode (dropout active). See :meth:`train` and :meth:`eval`.

    See Also
    --------
    LSTM, GRU

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> rnn = numrnn.RNN(3, 4, num_layers=2, backend="numpy", seed=0)
    >>> out, h_n = rnn(np.zeros((5, 2, 3)))
    >>> out.shape, h_n.shape
    ((5, 2, 4), (2, 2, 4))
    """

    _kind = None

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

    # -- construction ------------------------------------------------------------------------

    def _setup(
        self, kind, input_size, hidden_size, num_layers, bias, batch_first, dropout,
        bidirectional, proj_size, dtype, backend, seed,
    ):
        self.input_size = check_int("input_size", input_size, 1)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.proj_size = check_int("proj_size", proj_size, 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({self.hidden_size}), "
                f"got {self.proj_size}"
            )
        for name, flag in (("bias", bias), ("batch_first", batch_first),
                           ("bidirectional", bidirectional)):
            if not isinstance(flag, bool | np.bool_):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__} {flag!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.bidirectional = bool(bidirectional)
        # Guards _stepper and _fast_step against threads that step while others change the
        # parameters, training or dropout (see _step).
        self._lock = threading.Lock()
        self.dropout = dropout
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout acts between stacked layers only; with num_layers=1 it has no effect",
                UserWarning, stacklevel=3,
            )
        self.dtype = check_float_dtype(dtype)
        self.backend, self._be = resolve_backend(backend)
        self._cell = CellSpec(kind, self.hidden_size, self.proj_size)
        self.training = True
        self.grads = {}
        self._record = None
        self._prepared = None
        # (backend stepper, {x_t shape: its (step, start) functions}); see step().
        self._stepper = None
        init_seq, dropout_seq = np.random.SeedSequence(seed).spawn(2)
        self._dropout_rng = np.random.default_rng(dropout_seq)
        self._params = self._init_params(np.random.default_rng(init_seq))

    @property
    def _num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def _hidden_out(self):
        return self.proj_size or self.hidden_size

    def _param_shapes(self):
        """Names and shapes in PyTorch's state_dict order."""
        H, P, G = self.hidden_size, self.proj_size, self._cell.cell.n_gates
        shapes = {}
        for k in range(self.num_layers):
            in_size = self.input_size if k == 0 else self._num_directions * self._hidden_out
            for suffix in ("", "_reverse")[: self._num_directions]:
                shapes[f"weight_ih_l{k}{suffix}"] = (G * H, in_size)
                shapes[f"weight_hh_l{k}{suffix}"] = (G * H, self._hidden_out)
                if self.bias:
                    shapes[f"bias_ih_l{k}{suffix}"] = (G * H,)
                    shapes[f"bias_hh_l{k}{suffix}"] = (G * H,)
                if P:
                    shapes[f"weight_hr_l{k}{suffix}"] = (P, H)
        return shapes

    def _init_params(self, rng):
        bound = 1.0 / np.sqrt(self.hidden_size)
        return {
            name: rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            for name, shape in self._param_shapes().items()
        }

    def _layer_params(self):
        """Per layer-direction parameter dicts in the backend's form (cached)."""
        if self._prepared is None:
            G, H = self._cell.cell.n_gates, self.hidden_size
            prepared = []
            for k in range(self.num_layers):
                for suffix in ("", "_reverse")[: self._num_directions]:
                    p = {}
                    for role in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
                        name = f"{role}_l{k}{suffix}"
                        if name in self._params:
                            p[role] = self._params[name]
                        elif role.startswith("bias"):
                            p[role] = np.zeros(G * H, dtype=self.dtype)
                    prepared.append(self._be.prepare_params(p))
            self._prepared = prepared
        return self._prepared

    # -- parameters --------------------------------------------------------------------------

    def state_dict(self):
        """The parameters, with PyTorch's names, shapes and order.

        Returns
        -------
        dict of str to ndarray
            Copies: changing them does not change the layer.
        """
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict):
        """Replace the parameters (strict: same keys and shapes as :meth:`state_dict`).

        Parameters
        ----------
        state_dict : mapping of str to array_like
            For example ``torch.nn.LSTM(...).state_dict()`` converted to NumPy,
            or another layer's :meth:`state_dict`. Values are copied and
            converted to the layer's dtype.

        Raises
        ------
        KeyError
            Naming every missing and unexpected key.
        ValueError
            Naming every key whose shape differs.
        TypeError
            If a value is not an array of real numbers.

        Notes
        -----
        Nothing is changed unless every entry is valid.
        """
        expected = self._param_shapes()
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        if missing or unexpected:
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
            )
        new = {name: as_float_array(name, _host(state_dict[name]), self.dtype)
               for name in expected}
        wrong = [f"{name}: expected {shape}, got {new[name].shape}"
                 for name, shape in expected.items() if new[name].shape != shape]
        if wrong:
            raise ValueError("load_state_dict: mis-shaped parameters: " + "; ".join(wrong))
        self._params = new
        self._params_changed()

    def parameters(self):
        """The live parameter arrays, keyed like :meth:`state_dict`.

        Optimizers update these arrays in place. Every call marks the
        parameters as possibly changed, so backends that keep copies (CUDA)
        refresh them before the next forward call.

        Returns
        -------
        dict of str to ndarray
        """
        self._params_changed()
        return self._params

    def _params_changed(self):
        """Forget everything made from the parameters (backend copies, stepper)."""
        with self._lock:
            self._prepared = self._stepper = None
            self._fast_step = _no_fast_step

    def _forget_fast_step(self):
        """Make ``step`` take its general path, which installs a fast one again if it can."""
        with self._lock:
            self._fast_step = _no_fast_step

    @property
    def training(self):
        """bool: training mode (dropout between layers active); see :meth:`train`."""
        return self._training

    @training.setter
    def training(self, mode):
        self._training = bool(mode)
        self._forget_fast_step()  # step's fast path has no dropout

    @property
    def dropout(self):
        """float in [0, 1): dropout probability between layers, in training mode."""
        return self._dropout

    @dropout.setter
    def dropout(self, p):
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating):
            raise TypeError(f"dropout must be a float in [0, 1), got {p!r}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self._dropout = float(p)
        self._forget_fast_step()

    @property
    def _dropout_active(self):
        """Whether dropout applies between layers now (training mode, dropout > 0)."""
        return self._training and self._dropout > 0

    def train(self, mode=True):
        """Set training mode (dropout between layers active); returns self.

        Parameters
        ----------
        mode : bool, default True

        Returns
        -------
        self
        """
        self.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (no dropout); returns self.

        Returns
        -------
        self
        """
        return self.train(False)

    # -- forward -----------------------------------------------------------------------------

    def _to_backend(self, name, a):
        """(backend array of the layer dtype, whether ``a`` was a device array)."""
        if self._be.is_device_array(a):
            # The interface's typestr where there is one: torch tensors' dtypes are not
            # NumPy's (the simulator's device arrays have no interface, but NumPy dtypes).
            interface = getattr(a, "__cuda_array_interface__", None)
            dtype = np.dtype(interface["typestr"] if interface else a.dtype)
            if dtype.kind not in "fiu":
                raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")
            return self._be.asarray(a, self.dtype), True
        return self._be.asarray(as_float_array(name, a, self.dtype), self.dtype), False

    def _check_hx(self, hx, B, batched):
        n, Hout, H = self.num_layers * self._num_directions, self._hidden_out, self.hidden_size
        lstm = self._cell.cell.has_cell_state
        if hx is None:
            states = [self._be.zeros((n, B, Hout), self.dtype)]
            if lstm:
                states.append(self._be.zeros((n, B, H), self.dtype))
            return states, False
        if lstm:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(
                    "hx must be a tuple (h_0, c_0) for an LSTM, "
                    f"got {type(hx).__name__}"
                )
            items = [("hx[0] (h_0)", hx[0], Hout), ("hx[1] (c_0)", hx[1], H)]
        else:
            if isinstance(hx, tuple | list):
                raise TypeError(f"hx must be one array for {type(self).__name__}, got a "
                                f"{type(hx).__name__}")
            items = [("hx", hx, Hout)]
        states = []
        for name, a, size in items:
            arr, _ = self._to_backend(name, a)
            check_shape(name, arr.shape, (n, B, size) if batched else (n, size),
                        "(num_layers * num_directions" + (", batch" if batched else "")
                        + ", hidden)")
            states.append(arr if batched else arr.reshape(n, 1, size))
        return states, True

    def _check_input(self, name, x, ndim_batched):
        arr, device = self._to_backend(name, x)
        if arr.ndim not in (ndim_batched, ndim_batched - 1):
            raise ValueError(
                f"{name} must be {ndim_batched}-D (batched) or {ndim_batched - 1}-D "
                f"(unbatched), got {arr.ndim}-D with shape {arr.shape}"
            )
        # shape[ndim - 1]: the CUDA simulator's device-array shapes refuse negative indexes.
        if arr.shape[arr.ndim - 1] != self.input_size:
            raise ValueError(
                f"{name} must have input_size={self.input_size} features in its last axis, "
                f"got shape {arr.shape}"
            )
        if 0 in arr.shape:
            raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
        return arr, arr.ndim == ndim_batched, device

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
        x, batched, device = self._check_input("x", x, 3)
        if batched and self.batch_first:
            x = self._be.transpose01(x)
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        T, B = x.shape[0], x.shape[1]
        if not batched and lengths is not None:
            lengths = np.reshape(lengths, (1,)) if np.size(lengths) == 1 else lengths
        lengths = check_lengths(lengths, T, B)
        states, hx_given = self._check_hx(hx, B, batched)
        output, finals = self._run(x, states, lengths, _grad_enabled(), batched, device, hx_given)
        if batched and self.batch_first:
            output = self._be.transpose01(output)
        return self._user_layout(output, finals, batched, device)

    __call__ = forward

    def _run(self, x, states, lengths, need_tape, batched, device, hx_given):
        be, D = self._be, self._num_directions
        params = self._layer_params()
        record = _Record() if need_tape else None
        if need_tape:
            record.tapes, record.masks, record.params = [], [], params
            record.batched, record.device, record.hx_given = batched, device, hx_given
            record.dims = x.shape[:2]
        finals = [[] for _ in states]
        layer_input = x
        for k in range(self.num_layers):
            outs = []
            for d in range(D):
                idx = k * D + d
                c0 = states[1][idx] if len(states) == 2 else None
                out, h_n, c_n, tape = be.forward(
                    self._cell, params[idx], layer_input, states[0][idx], c0, lengths,
                    d == 1, need_tape,
                )
                outs.append(out)
                finals[0].append(h_n)
                if c0 is not None:
                    finals[1].append(c_n)
                if need_tape:
                    record.tapes.append(tape)
            layer_input = be.concat_features(outs)
            if k < self.num_layers - 1 and self._dropout_active:
                keep = 1.0 - self.dropout
                mask = (self._dropout_rng.random(layer_input.shape) < keep) / keep
                mask = be.asarray(mask, self.dtype)
                layer_input = be.multiply(layer_input, mask)
            else:
                mask = None
            if need_tape:
                record.masks.append(mask)
        self._record = record
        return layer_input, [be.stack(f) for f in finals]

    def _user_layout(self, output, finals, batched, device):
        if not batched:
            output = output.reshape(output.shape[0], output.shape[2])
            finals = [f.reshape(f.shape[0], f.shape[2]) for f in finals]
        if not device:
            output = self._be.to_numpy(output)
            finals = [self._be.to_numpy(f) for f in finals]
        return output, (tuple(finals) if len(finals) == 2 else finals[0])

    # -- backward ----------------------------------------------------------------------------

    def backward(self, grad_output, grad_hn=None):
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

        Returns
        -------
        grad_x : ndarray
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
        record = self._record
        if record is None:
            raise NoTapeError(
                "backward() needs a recorded forward call: call the layer first "
                "(outside numrnn.no_grad())"
            )
        be, D, L = self._be, self._num_directions, self.num_layers
        T, B = record.dims
        Hout = self._hidden_out
        if record.batched:
            expected = (B, T, D * Hout) if self.batch_first else (T, B, D * Hout)
        else:
            expected = (T, D * Hout)
        g, _ = self._to_backend("grad_output", grad_output)
        check_shape("grad_output", g.shape, expected, "(the shape of the forward output)")
        if record.batched and self.batch_first:
            g = be.transpose01(g)
        g = g.reshape(T, B, D * Hout)
        grad_states, _ = self._check_hx(grad_hn, B, record.batched)
        grad_h0, grad_c0 = [None] * (L * D), [None] * (L * D)
        names = list(self._param_shapes())
        grads = {}
        for k in reversed(range(L)):
            if record.masks[k] is not None:
                g = be.multiply(g, record.masks[k])
            parts = be.split_features(g, [Hout] * D)
            g = None
            for d in range(D):
                idx = k * D + d
                gc_n = grad_states[1][idx] if len(grad_states) == 2 else None
                gx, grad_h0[idx], grad_c0[idx], layer_grads = be.backward(
                    self._cell, record.params[idx], record.tapes[idx], parts[d],
                    grad_states[0][idx], gc_n,
                )
                suffix = "_reverse" if d == 1 else ""
                for role, value in layer_grads.items():
                    name = f"{role}_l{k}{suffix}"
                    if name in self._params:
                        grads[name] = be.to_numpy(value)
                g = gx if g is None else be.add(g, gx)
        self.grads = {name: grads[name] for name in names}
        if record.batched and self.batch_first:
            g = be.transpose01(g)
        finals = [be.stack(grad_h0)]
        if self._cell.cell.has_cell_state:
            finals.append(be.stack(grad_c0))
        if not record.batched:
            g = g.reshape(T, g.shape[2])
            finals = [f.reshape(f.shape[0], f.shape[2]) for f in finals]
        if not record.device:
            g = be.to_numpy(g)
            finals = [be.to_numpy(f) for f in finals]
        return g, (tuple(finals) if len(finals) == 2 else finals[0])

    # -- streaming ---------------------------------------------------------------------------

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
        # afresh, so states changed in place count).  It skips validation and conversion
        # (5 µs, longer than the step itself).  _fast_step is the backend's step only while
        # no dropout applies; changing the parameters, training or dropout resets it.
        result = self._fast_step(x_t, hx)
        if result is not None:
            return result
        return self._step(x_t, hx)

    def _step(self, x_t, hx):
        """``step`` in general: validation, conversion, any backend.

        Kept out of ``step``, whose frame its locals would make slower to set up
        (0.05-0.1 µs of a 2 µs fast step).
        """
        if self.bidirectional:
            raise ValueError(
                "step() advances one time step forward; a bidirectional layer needs the "
                "whole sequence: call the layer on the sequence instead"
            )
        x_t, batched, device = self._check_input("x_t", x_t, 2)
        x = x_t.reshape(1, x_t.shape[0] if batched else 1, self.input_size)
        states, hx_given = self._check_hx(hx, x.shape[1], batched)
        make_stepper = getattr(self._be, "make_stepper", None)
        if make_stepper is not None and not self._dropout_active:
            # One compiled call for the whole stack (see numrnn.backends.cpu.make_stepper),
            # on the arrays in the caller's shapes: it returns them in the same shapes.
            with self._lock:
                made = self._stepper
                if made is None:
                    params = self._layer_params()
                    made = self._stepper = (make_stepper(self._cell, params, self.dtype), {})
            stepper, steps = made
            if x_t.shape not in steps:  # x_t of any memory layout: the stepper reads it in place
                steps[x_t.shape] = stepper(x_t.shape)
            step, start = steps[x_t.shape]
            states = [np.ascontiguousarray(s if batched else s.reshape(s.shape[0], s.shape[2]))
                      for s in states]  # fmt: skip
            result = start(x_t, states[0] if len(states) == 1 else tuple(states))
            with self._lock:  # unless the parameters, training or dropout changed meanwhile
                if self._stepper is made and not self._dropout_active:
                    self._fast_step = step
            return result
        record = self._record
        output, finals = self._run(x, states, None, False, batched, device, hx_given)
        self._record = record
        output, state = self._user_layout(output, finals, batched, device)
        return output[0], state

    def __getstate__(self):
        # The backend module and its device copies are re-created on unpickling;
        # the tape of the latest forward call is not kept.
        state = self.__dict__.copy()
        for key in ("_be", "_prepared", "_record", "_stepper", "_fast_step", "_lock"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.backend, self._be = resolve_backend(self.backend)
        self._prepared = self._record = self._stepper = None
        self._fast_step = _no_fast_step
        self._lock = threading.Lock()

    def __repr__(self):
        extra = [f"num_layers={self.num_layers}"]
        for attr, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, attr) != default:
                extra.append(f"{attr}={getattr(self, attr)!r}")
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            extra.append(f"nonlinearity={self.nonlinearity!r}")
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"{', '.join(extra)}, dtype={self.dtype.name}, backend={self.backend!r})")


def _host(value):
    """PyTorch tensors (CPU or GPU) to NumPy; anything else unchanged."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


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
    input_size : int
        Number of input features I.
    hidden_size : int
        Number of hidden (cell) units H.
    num_layers : int, default 1
        Number of stacked layers.
    bias : bool, default True
        Whether to use the biases.
    batch_first : bool, default False
        Input and output are (B, T, features) instead of (T, B, features).
    dropout : float in [0, 1), default 0
        Dropout probability between layers, in training mode.
    bidirectional : bool, default False
        Also run each layer backward in time.
    proj_size : int, default 0
        Size P of the projected hidden state (0: no projection); P < H.
    dtype : {numpy.float32, numpy.float64}, default float32
        Floating-point type of parameters and computations.
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
        Where the time loops run.
    seed : int or None
        Seed for the initial weights and for dropout.

    See Also
    --------
    RNN : the shared methods (forward, backward, step, state_dict).
    GRU

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> lstm = numrnn.LSTM(3, 8, proj_size=2, backend="numpy", seed=0)
    >>> out, (h_n, c_n) = lstm(np.zeros((5, 4, 3)))
    >>> out.shape, h_n.shape, c_n.shape
    ((5, 4, 2), (1, 4, 2), (1, 4, 8))
    """

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
    input_size : int
        Number of input features I.
    hidden_size : int
        Number of hidden units H.
    num_layers : int, default 1
        Number of stacked layers.
    bias : bool, default True
        Whether to use the biases.
    batch_first : bool, default False
        Input and output are (B, T, features) instead of (T, B, features).
    dropout : float in [0, 1), default 0
        Dropout probability between layers, in training mode.
    bidirectional : bool, default False
        Also run each layer backward in time.
    dtype : {numpy.float32, numpy.float64}, default float32
        Floating-point type of parameters and computations.
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
        Where the time loops run.
    seed : int or None
        Seed for the initial weights and for dropout.

    See Also
    --------
    RNN : the shared methods (forward, backward, step, state_dict).
    LSTM

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> gru = numrnn.GRU(3, 4, bidirectional=True, backend="numpy", seed=0)
    >>> out, h_n = gru(np.zeros((5, 2, 3)), lengths=[5, 3])
    >>> out.shape, h_n.shape
    ((5, 2, 8), (2, 2, 4))
    """

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
