"""Output heads: a dense (affine) map from a recurrent layer's output to predictions."""

import numpy as np

from numrnn import _trainutil as tu
from numrnn import _validation as valid
from numrnn._component import Component
from numrnn._docs import fill_doc
from numrnn.activations import OUTPUT_FUNCTIONS
from numrnn.readouts import READOUTS, readout_backward, readout_forward


@fill_doc
class Dense(Component):
    r"""Affine output head, applied at every time step or at each sequence's last valid step.

    .. math:: z_t = W_{hy} h_t + b_y, \qquad \hat y_t = f(z_t)

    with :math:`W_{hy}` of shape (out_features, in_features) and the output function
    :math:`f` one of identity, softmax or sigmoid. :meth:`forward` returns the logits
    :math:`z`; :meth:`activate` applies :math:`f`. Losses take logits because softmax with
    cross-entropy and sigmoid with binary cross-entropy are only stable computed together
    (see :mod:`numrnn.losses`).

    Parameters and state-dict names are those of ``torch.nn.Linear`` (``weight``, ``bias``),
    initialised :math:`U(-1/\sqrt{F}, 1/\sqrt{F})` like PyTorch.

    After a bidirectional layer, the output at the last step holds the reverse direction's
    output after one step only; :class:`numrnn.model.Sequential` therefore feeds a last-step
    head each direction's output after the whole sequence instead.

    Parameters
    ----------
    in_features : int
        Size F of each input vector (a recurrent layer's ``D * H_out``).
    out_features : int
        Size O of each output vector (number of classes or regression targets).
    bias : bool, default True
        Whether to add :math:`b_y`.
    activation : {"identity", "softmax", "sigmoid"}, default "identity"
        Output function :math:`f` used by :meth:`activate`.
    last_step : bool, default False
        If True, map one ``readout`` of each sequence's valid steps, giving one output per
        sequence (many-to-one); else map every step.
    readout : {"last", "mean", "max", "mean_max"}, default "last"
        With ``last_step``: the vector read from each sequence (:mod:`numrnn.readouts`),
        ``"last"`` being step ``lengths[b] - 1``. ``"mean_max"`` doubles the weight's
        columns: ``weight`` is (out_features, 2 * in_features).
    batch_first : bool, default False
        Layout of 3-D input: (B, T, F) if True, else (T, B, F).
    %(component_tail)s

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.heads import Dense
    >>> head = Dense(4, 3, activation="softmax", last_step=True, seed=0)
    >>> h = np.ones((5, 2, 4), dtype=np.float32)          # (T, B, F)
    >>> z = head(h, lengths=np.array([5, 2]))
    >>> z.shape
    (2, 3)
    >>> grad_h = head.backward(np.ones_like(z))
    >>> grad_h.shape, float(np.abs(grad_h[2:, 1]).sum())  # steps past length 2 get no gradient
    ((5, 2, 4), 0.0)
    >>> np.allclose(head.activate(z).sum(axis=-1), 1.0)
    True
    >>> pooled = Dense(4, 3, last_step=True, readout="mean_max", seed=0)
    >>> pooled.state_dict()["weight"].shape                # mean and max side by side
    (3, 8)
    """

    def __init__(self, in_features, out_features, *, bias=True, activation="identity",
                 last_step=False, readout="last", batch_first=False, dtype=np.float32,
                 seed=None):
        self.in_features = valid.check_int(in_features, "in_features", 1)
        self.out_features = valid.check_int(out_features, "out_features", 1)
        self.bias = bool(bias)
        self.activation = valid.check_choice(activation, "activation", OUTPUT_FUNCTIONS)
        self.last_step = bool(last_step)
        self.readout = valid.check_choice(readout, "readout", READOUTS)
        if self.readout != "last" and not self.last_step:
            raise ValueError(f"readout={readout!r} needs last_step=True (a per-step head maps "
                             "every step)")
        self.batch_first = bool(batch_first)
        self.dtype = valid.check_float_dtype(dtype)
        self.seed = seed
        rng = np.random.default_rng(seed)
        columns = READOUTS[self.readout] * self.in_features
        bound = 1.0 / np.sqrt(columns)
        self._params = {"weight": rng.uniform(-bound, bound, (self.out_features, columns))}
        if self.bias:
            self._params["bias"] = rng.uniform(-bound, bound, self.out_features)
        self._params = {k: v.astype(self.dtype) for k, v in self._params.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self._params.items()}
        self.training = True
        self._tape = None

    def __repr__(self):
        options = "".join(f", {name}={getattr(self, name)!r}" for name, default in (
            ("bias", True), ("activation", "identity"), ("last_step", False),
            ("readout", "last"), ("batch_first", False)) if getattr(self, name) != default)
        return f"Dense({self.in_features}, {self.out_features}{options}, dtype={self.dtype.name})"

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this head (used by :mod:`numrnn.io`).
        """
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias, "activation": self.activation, "last_step": self.last_step,
                "readout": self.readout, "batch_first": self.batch_first, "dtype": self.dtype.name,
                "seed": tu.json_seed(self.seed)}

    def parameters(self):
        """Return the live parameter arrays, which optimizers update in place.

        Returns
        -------
        dict of str to ndarray
            ``weight`` (O, F) and, if ``bias``, ``bias`` (O,): ``torch.nn.Linear``'s names,
            also those of :meth:`state_dict` and :meth:`load_state_dict`.
        """
        return self._params

    def activate(self, z):
        """Apply the output function (``activation``) to logits.

        Parameters
        ----------
        z : ndarray
            Logits from :meth:`forward`.

        Returns
        -------
        ndarray
            :math:`f(z)`, same shape.
        """
        return OUTPUT_FUNCTIONS[self.activation](z)

    def forward(self, h, lengths=None):
        """Compute the logits of the head for a recurrent layer's output ``h``.

        Parameters
        ----------
        h : array_like
            (T, B, F) or (B, T, F) with ``batch_first``; unbatched (T, F). Without
            ``last_step`` any array whose last axis has size F is accepted.
        lengths : array_like of int, shape (B,), optional
            Valid steps per sequence. Logits at padded steps are 0; with ``last_step`` the
            readout reads the steps before ``lengths[b]`` only (all steps when None).

        Returns
        -------
        ndarray
            Per step: ``h``'s shape with F replaced by O. With ``last_step``: (B, O), or (O,)
            for unbatched input.

        Raises
        ------
        ValueError
            If the last axis of ``h`` is not F, if ``h`` has the wrong number of dimensions or
            ``lengths`` is invalid.
        """
        h = valid.as_float_array(h, "h", self.dtype)
        if h.ndim == 0 or h.shape[-1] != self.in_features:
            raise ValueError(f"h must have last axis of size {self.in_features} (in_features), "
                             f"got shape {h.shape}")
        W = self._params["weight"]
        mask = None
        if self.last_step or lengths is not None:
            valid.check_ndim(h, "h", (2, 3))
            if h.ndim == 2 and lengths is not None:
                raise ValueError("lengths must be None for unbatched (T, F) input")
            # Unbatched input is treated as a batch of one so both cases see (T, B, F).
            hm = tu.swap_batch_time(h, self.batch_first) if h.ndim == 3 else h[:, None, :]
            steps, batch = hm.shape[0], hm.shape[1]
            lengths = valid.check_lengths(lengths, steps, batch)
        if self.last_step:
            rows, used = readout_forward(hm, lengths, self.readout)
        else:
            rows = h
            used = mask = tu.valid_mask(lengths, steps, batch) if lengths is not None else None
        z = rows @ W.T
        if self.bias:
            z += self._params["bias"]
        if mask is not None:
            tu.swap_batch_time(z, self.batch_first)[~mask] = 0
        self._tape = (h.shape, rows, used)
        if self.last_step:
            return z[0] if h.ndim == 2 else z
        return z

    __call__ = forward

    @fill_doc
    def backward(self, grad_output):
        r"""Backpropagate through the latest :meth:`forward` and fill ``grads``.

        .. math:: \frac{\partial L}{\partial W} = \sum_{t,b} g_{tb} h_{tb}^\top,\quad
                  \frac{\partial L}{\partial b} = \sum_{t,b} g_{tb},\quad
                  \frac{\partial L}{\partial h_{tb}} = W^\top g_{tb}

        summed over the valid steps (or, with ``last_step``, over the readouts, whose
        gradient :mod:`numrnn.readouts` passes on to the steps they read).

        Parameters
        ----------
        grad_output : array_like
            :math:`\partial L/\partial z`, shaped like the logits.

        Returns
        -------
        ndarray
            :math:`\partial L/\partial h`, shaped like ``h`` (zeros at steps not used).

        Raises
        ------
        %(raises_before_forward)s
        ValueError
            If ``grad_output`` is not shaped like the logits.
        """
        grad_h = self._time_major_backward(grad_output)
        if self.last_step and grad_h.ndim == 3:
            return np.ascontiguousarray(tu.swap_batch_time(grad_h, self.batch_first))
        return grad_h

    def _time_major_backward(self, grad_output):
        """:meth:`backward`, with a last-step head's gradient for batched ``h`` time-major
        (T, B, F) whatever ``batch_first`` (a model's chain takes it so: no transposing copy)."""
        h_shape, rows, used = self._recorded(self._tape)
        g = valid.as_float_array(grad_output, "grad_output", self.dtype)
        out_shape = rows.shape[:-1] + (self.out_features,)
        if self.last_step and len(h_shape) == 2:
            g = g[None]
        if g.shape != out_shape:
            raise ValueError(f"grad_output must have shape {out_shape}, got {g.shape}")
        if not self.last_step and used is not None:
            g = g * tu.swap_batch_time(used, self.batch_first)[..., None]
        W = self._params["weight"]
        g2 = g.reshape(-1, self.out_features)
        # (rows^T g)^T, not g^T rows: OpenBLAS splits the latter over two threads, which on a
        # busy 2-core machine took 1-17 ms instead of 0.04 ms (float32, O=10, F=64, T*B=1600).
        self.grads = {"weight": np.ascontiguousarray(
            (rows.reshape(-1, W.shape[1]).T @ g2).T)}
        if self.bias:
            self.grads["bias"] = g2.sum(axis=0)
        grad_rows = g @ W
        if not self.last_step:
            return grad_rows
        grad_hm = readout_backward(grad_rows, used)
        return grad_hm[:, 0] if len(h_shape) == 2 else grad_hm
