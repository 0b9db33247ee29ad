r"""A model chaining recurrent layers, dropout and a dense head, with ``fit`` and ``predict``.

Data layout: the model takes samples first, ``X`` of shape (N, T, I), whatever each layer's
own ``batch_first``; targets are (N, T) class indices or (N, T, O) values for a per-step head,
(N,) or (N, O) for a head with ``last_step=True``. ``lengths`` (N,) marks each sequence's
valid steps; padded steps never count in losses or metrics.

Truncated BPTT (``fit(tbptt=k)``) cuts each batch into windows of ``k`` steps and makes one
optimizer step per window; the recurrent state flows from one window into the next, but no
gradient flows back across a window boundary (the state is *detached*), so memory and time per
update depend on ``k``, not on T.

Examples
--------
>>> import numpy as np, numrnn
>>> from numrnn.model import Sequential
>>> from numrnn.heads import Dense
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(32, 6, 2)).astype(np.float32)
>>> y = (X[:, :, 0].cumsum(axis=1) > 0).astype(int)     # sign of a running sum, per step
>>> model = Sequential([numrnn.GRU(2, 8, batch_first=True, backend="numpy", seed=0),
...                     Dense(8, 2, activation="softmax", batch_first=True, seed=0)],
...                    loss="cross_entropy", optimizer=numrnn.optim.Adam(lr=0.05))
>>> history = model.fit(X, y, epochs=30, batch_size=16, seed=0, progress=False).history_
>>> history["loss"][-1] < history["loss"][0]
True
>>> model.predict(X[:1]).shape                          # (N, T, classes) probabilities
(1, 6, 2)
"""

import contextlib
from collections import namedtuple

import numpy as np

from numrnn import _trainutil as tu
from numrnn._component import Component
from numrnn._recurrent import RNN, no_grad
from numrnn._training.stream import make_stream_step
from numrnn._validation import check_int
from numrnn.heads import Dense
from numrnn.losses import LOSSES, Loss
from numrnn.metrics import METRICS
from numrnn.optim import OPTIMIZERS, Adam, Optimizer, Schedule, clip_grad_norm, clip_grad_value


class Dropout(Component):
    r"""Inverted dropout on the features between two components of a :class:`Sequential`.

    .. math:: y = x \odot m / (1 - p), \qquad m_j \sim \mathrm{Bernoulli}(1 - p)

    in training mode, a fresh mask per call; the identity in evaluation mode. (A stacked
    recurrent layer's own ``dropout`` acts between its internal layers only.)

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of zeroing a feature.
    seed : int or None
        Seed of the masks.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.model import Dropout
    >>> drop = Dropout(0.5, seed=0)
    >>> y = drop(np.ones((2, 4)))
    >>> sorted(set(y.ravel().tolist()))      # kept entries scaled by 1 / (1 - p)
    [0.0, 2.0]
    >>> drop.eval()(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, p=0.5, *, seed=None):
        self.p = tu.check_float(p, "p", 0.0, 1.0, high_open=True)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.training = True
        self.grads = {}
        self._mask = None

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this layer.
        """
        return {"p": self.p, "seed": tu.json_seed(self.seed)}

    def forward(self, x):
        r"""Apply dropout (in training mode) to features of any shape.

        Parameters
        ----------
        x : ndarray

        Returns
        -------
        ndarray
            :math:`x \odot m / (1 - p)` in training mode, ``x`` itself in evaluation mode.
        """
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._mask = None
            return x
        self._mask = ((self._rng.random(x.shape) >= self.p) / (1 - self.p)).astype(x.dtype)
        return x * self._mask

    __call__ = forward

    def backward(self, grad_output):
        """Backpropagate through the latest mask.

        Parameters
        ----------
        grad_output : ndarray
            Gradient with respect to the latest output.

        Returns
        -------
        ndarray
            ``grad_output * mask`` (``grad_output`` itself if no mask was drawn).
        """
        return grad_output if self._mask is None else grad_output * self._mask


#: What every optimizer update of :meth:`Sequential.fit` does besides the step itself:
#: the truncated-BPTT window (None: whole batches), gradient clipping, and the schedule to
#: step after each update (None unless ``schedule_interval="update"``).
_Updates = namedtuple("_Updates", ["tbptt", "clip_norm", "clip_value", "schedule"])


def _output_features(layer):
    """Features per step of a recurrent layer's output, ``D * H_out``."""
    return (2 if layer.bidirectional else 1) * (layer.proj_size or layer.hidden_size)


def _zero_state(layer, batch):
    """Initial state of a recurrent layer for ``batch`` sequences: h_0, or (h_0, c_0)."""
    n = layer.num_layers * (2 if layer.bidirectional else 1)
    h = np.zeros((n, batch, layer.proj_size or layer.hidden_size), dtype=layer.dtype)
    if type(layer).__name__ == "LSTM":
        return (h, np.zeros((n, batch, layer.hidden_size), dtype=layer.dtype))
    return h


def _state_batch(state):
    """Batch size of a recurrent layer's state h or (h, c)."""
    return (state[0] if isinstance(state, tuple) else state).shape[1]


def _take_state(state, rows):
    """The state of the sequences ``rows`` (batch axis 1), for h or (h, c)."""
    if isinstance(state, tuple):
        return tuple(s[:, rows] for s in state)
    return state[:, rows]


def _put_state(state, rows, new):
    """Write ``new`` into ``state`` for the sequences ``rows``, in place, for h or (h, c)."""
    for target, value in zip(state if isinstance(state, tuple) else (state,),
                             new if isinstance(new, tuple) else (new,), strict=True):
        target[:, rows] = value


class Sequential(Component):
    """Recurrent layers and dropout, then a :class:`~numrnn.heads.Dense` head, trained together.

    Parameters
    ----------
    layers : sequence
        :class:`numrnn.RNN`/:class:`numrnn.LSTM`/:class:`numrnn.GRU` layers and
        :class:`Dropout` in any order, then exactly one :class:`~numrnn.heads.Dense` head,
        last. Feature sizes must chain (a layer's ``input_size`` is the previous layer's
        ``D * H_out``).
    loss : str or Loss, default "mse"
        ``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"`` or a loss object from
        :mod:`numrnn.losses`; its ``activation`` must be the head's. The model applies it to
        its own time-major arrays (it keeps a copy with ``batch_first=False``).
    optimizer : str or Optimizer, optional
        A name (``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, default settings) or an
        optimizer from :mod:`numrnn.optim`; default ``Adam()``.

    Attributes
    ----------
    history_ : dict of list
        Per-epoch ``loss`` (and ``val_loss``, metrics, ``lr``) after :meth:`fit`.
    best_epoch_ : int
        Epoch (from 0) with the best monitored loss, after :meth:`fit`.

    Raises
    ------
    TypeError
        If a layer is of an unknown kind.
    ValueError
        If the layers do not chain, the head is missing or not last, or the loss does not pair
        with the head's output function.

    Notes
    -----
    A head with ``last_step=True`` after a bidirectional layer reads, for each sequence, the
    forward direction's output at the last valid step and the reverse direction's output at
    step 0 -- each direction's output after the whole sequence, like ``h_n`` (PyTorch) or a
    Keras ``Bidirectional`` layer without ``return_sequences``. (The reverse direction's
    output at the last step has seen that step only.)

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> from numrnn.heads import Dense
    >>> from numrnn.model import Dropout, Sequential
    >>> model = Sequential([numrnn.LSTM(3, 8, batch_first=True, backend="numpy", seed=0),
    ...                     Dropout(0.1, seed=0),
    ...                     Dense(8, 1, last_step=True, batch_first=True, seed=0)], loss="mse")
    >>> X = np.random.default_rng(0).normal(size=(20, 5, 3))
    >>> y = X.sum(axis=(1, 2))[:, None]                  # one target per sequence
    >>> model.fit(X, y, epochs=3, validation_split=0.2, seed=0, progress=False).predict(X).shape
    (20, 1)
    >>> sorted(model.history_)
    ['loss', 'lr', 'val_loss']
    """

    def __init__(self, layers, *, loss="mse", optimizer=None):
        self.layers = list(layers)
        if not self.layers or not isinstance(self.layers[-1], Dense):
            raise ValueError("layers must end with a Dense head, got "
                             f"{[type(c).__name__ for c in self.layers]}")
        features = None
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, RNN | Dropout | Dense):
                raise TypeError(f"layers[{i}] must be an RNN, LSTM, GRU, Dropout or Dense, "
                                f"got {type(layer).__name__}")
            if isinstance(layer, Dense) and i != len(self.layers) - 1:
                raise ValueError(f"layers[{i}] is a Dense head; the head must be the last layer")
            needs = (layer.in_features if isinstance(layer, Dense)
                     else layer.input_size if isinstance(layer, RNN) else None)
            if None not in (needs, features) and needs != features:
                raise ValueError(f"layers[{i}] takes {needs} input features but the layer "
                                 f"before gives {features}")
            if isinstance(layer, RNN):
                features = _output_features(layer)
        self.head = self.layers[-1]
        self.recurrent = [layer for layer in self.layers if isinstance(layer, RNN)]
        self.input_size = (self.recurrent[0].input_size if self.recurrent
                           else self.head.in_features)
        # A last-step head after a bidirectional layer reads each direction's final output
        # (see the class Notes), not the reverse direction's output after a single step.
        self._bidirectional_summary = (self.head.last_step and self.head.readout == "last"
                                       and bool(self.recurrent)
                                       and self.recurrent[-1].bidirectional)
        self._summary_tape = None
        self.loss = self._make_loss(loss)
        if self.loss.activation != self.head.activation:
            raise ValueError(f"loss {type(self.loss).__name__} pairs with a "
                             f"{self.loss.activation!r} head, got activation="
                             f"{self.head.activation!r}")
        if optimizer is None:
            optimizer = Adam()
        elif isinstance(optimizer, str):
            optimizer = OPTIMIZERS[tu.check_choice(optimizer, "optimizer", OPTIMIZERS)]()
        elif not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a name or a numrnn Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self._stream_state = None
        self._stream_step = None  # stream's fast path, made by its first one-step call
        self.training = True

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_stream_step"] = None  # a closure over this model: made again on first use
        return state

    def __repr__(self):
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return (f"Sequential([\n{inner}\n], loss={type(self.loss).__name__}(), "
                f"optimizer={type(self.optimizer).__name__}(lr={self.optimizer.lr}))")

    @staticmethod
    def _make_loss(loss):
        if isinstance(loss, str):
            return LOSSES[tu.check_choice(loss, "loss", LOSSES)]()
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a name or a numrnn Loss, got {type(loss).__name__}")
        return type(loss)(**{**loss.get_config(), "batch_first": False})

    # -- parameters and modes ------------------------------------------------------------------

    def parameters(self):
        """Return the live parameter arrays of all layers, which optimizers update in place.

        Returns
        -------
        dict of str to ndarray
            Keyed ``"{layer index}.{name}"``.
        """
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.parameters().items()}

    @property
    def grads(self):
        """Gradients of the latest backward pass, keyed like :meth:`parameters`."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.grads.items()}

    def _parameters_loaded(self):
        for layer in self.layers:
            layer._parameters_loaded()

    def train(self, mode=True):
        """Set every layer's training mode (dropout active), or evaluation mode.

        Parameters
        ----------
        mode : bool, default True

        Returns
        -------
        Sequential
            This model.
        """
        for layer in self.layers:
            layer.train(mode)
        self.training = bool(mode)
        return self

    @contextlib.contextmanager
    def _evaluating(self):
        modes = [layer.training for layer in self.layers]
        self.eval()
        try:
            with no_grad():
                yield
        finally:
            for layer, mode in zip(self.layers, modes, strict=True):
                layer.train(mode)

    # -- forward and backward on time-major arrays ----------------------------------------------

    def _forward(self, x, lengths, states):
        """Logits for time-major ``x`` (T, B, I); returns (logits, final states per layer).

        Per-step logits are time-major (T, B, O); a last-step head gives (B, O).
        """
        h, finals, states = x, [], iter(states)
        for layer in self.layers:
            if isinstance(layer, RNN):
                out, h_n = layer(tu.swap_batch_time(h, layer.batch_first), hx=next(states),
                                 lengths=lengths)
                h = tu.swap_batch_time(out, layer.batch_first)
                finals.append(h_n)
            elif isinstance(layer, Dropout):
                h = layer(h)
        if self._bidirectional_summary:
            h, self._summary_tape = _summary_of_both_directions(h, lengths)
            lengths = None
        z = self.head(tu.swap_batch_time(h, self.head.batch_first), lengths)
        if not self.head.last_step:
            z = tu.swap_batch_time(z, self.head.batch_first)
        return z, finals

    def _backward(self, grad_logits):
        """Backpropagate ``d loss / d logits``; each layer fills its ``grads``."""
        g = grad_logits
        if not self.head.last_step:
            g = tu.swap_batch_time(g, self.head.batch_first)
        g = tu.swap_batch_time(self.head.backward(g), self.head.batch_first)
        if self._bidirectional_summary:
            g = _summary_gradient(g, *self._summary_tape)
        for layer in reversed(self.layers[:-1]):
            if isinstance(layer, RNN):
                # grad_hx is dropped on purpose: with truncated BPTT the initial state is the
                # previous window's (detached) final state.
                grad_x, _ = layer.backward(tu.swap_batch_time(g, layer.batch_first))
                g = tu.swap_batch_time(grad_x, layer.batch_first)
            else:
                g = layer.backward(g)

    # -- data checks ----------------------------------------------------------------------------

    def _check_inputs(self, X, lengths, names=("X", "lengths")):
        X = tu.as_float_array(X, names[0])
        tu.check_ndim(X, names[0], (3,))
        if X.shape[2] != self.input_size or 0 in X.shape:
            raise ValueError(f"{names[0]} must have shape (N, T, {self.input_size}) with "
                             f"N, T >= 1, got {X.shape}")
        return X, tu.check_lengths(lengths, X.shape[1], X.shape[0], names[1])

    def _check_targets(self, y, X, name="y"):
        y = np.asarray(tu.to_numpy(y))
        n, steps = X.shape[:2]
        lead = (n,) if self.head.last_step else (n, steps)
        classes = self.loss.class_axis
        shape = lead if classes else lead + (self.head.out_features,)
        if y.shape != shape:
            what = "class indices" if classes else "targets"
            raise ValueError(f"{name} must have shape {shape} ({what} for a "
                             f"{'last-step' if self.head.last_step else 'per-step'} head), "
                             f"got {y.shape}")
        return y

    def _check_metrics(self, metrics):
        activation = self.head.activation
        for name in metrics:
            tu.check_choice(name, "metrics", METRICS)
            kind = METRICS[name][1]
            if (kind == "labels" and activation == "identity") or \
                    (kind == "proba" and activation != "softmax"):
                raise ValueError(f"metric {name!r} needs a "
                                 f"{'softmax' if kind == 'proba' else 'softmax or sigmoid'} "
                                 f"head, got activation={activation!r}")
        return list(metrics)

    # -- training -----------------------------------------------------------------------------

    def _train_batch(self, x, y, lengths, updates, seen):
        """One batch (time-major x, y); returns (summed window losses, their weight).

        Appends each window's valid (targets, logits) to ``seen`` if it is a list.
        """
        steps, batch = x.shape[:2]
        window = updates.tbptt or steps
        states = [_zero_state(layer, batch) for layer in self.recurrent]
        total = weight = 0.0
        for start in range(0, steps, window):
            stop = min(start + window, steps)
            if lengths is None:
                rows, window_lengths = slice(None), None
                count = (stop - start) * batch
            else:
                # Sequences that ended before this window sit it out.
                rows = np.flatnonzero(lengths > start)
                window_lengths = np.minimum(lengths[rows] - start, stop - start)
                count = int(window_lengths.sum())
            logits, finals = self._forward(x[start:stop, rows], window_lengths,
                                           [_take_state(s, rows) for s in states])
            target = y if self.head.last_step else y[start:stop, rows]
            value = self.loss(logits, target,
                              None if self.head.last_step else window_lengths)
            self._backward(self.loss.backward())
            if seen is not None:
                seen.append(self._flat_valid(logits, target, window_lengths))
            self._update(updates)
            for state, final in zip(states, finals, strict=True):
                _put_state(state, rows, final)
            total += value * count
            weight += count
        return total, weight

    def _update(self, updates):
        """Clip the latest gradients, take an optimizer step, step a per-update schedule."""
        grads = self.grads
        if updates.clip_norm is not None:
            clip_grad_norm(grads, updates.clip_norm)
        if updates.clip_value is not None:
            clip_grad_value(grads, updates.clip_value)
        self.optimizer.step(self.parameters(), grads)
        if updates.schedule is not None:
            updates.schedule.step()

    def partial_fit(self, X, y, *, lengths=None, batch_size=32, shuffle=False, seed=None,
                    clip_norm=None, clip_value=None):
        """Train for one pass over the given samples, keeping the optimizer's state.

        scikit-learn's ``partial_fit``: calls on successive blocks of data train out of core.
        Each call appends the pass's mean training loss to ``history_["loss"]``.

        Parameters
        ----------
        X : array_like, shape (N, T, I)
        y : array_like
            Targets shaped as for :meth:`fit`.
        lengths : array_like of int, shape (N,), optional
        batch_size : int, default 32
        shuffle : bool, default False
            Draw this block's batches in a random order.
        seed : int or None
            Seeds the order when shuffling.
        clip_norm, clip_value : float, optional
            Clip the gradients before each step.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np, numrnn
        >>> from numrnn.heads import Dense
        >>> from numrnn.model import Sequential
        >>> model = Sequential([numrnn.GRU(2, 8, batch_first=True, backend="numpy", seed=0),
        ...                     Dense(8, 1, last_step=True, batch_first=True, seed=0)])
        >>> X = np.random.default_rng(0).normal(size=(64, 5, 2))
        >>> y = X.sum(axis=(1, 2))[:, None]
        >>> for block in range(0, 64, 16):
        ...     model = model.partial_fit(X[block:block + 16], y[block:block + 16])
        >>> len(model.history_["loss"])
        4
        """
        X, lengths = self._check_inputs(X, lengths)
        y = self._check_targets(y, X)
        batch_size = check_int("batch_size", batch_size, 1)
        order = np.random.default_rng(seed).permutation(len(X)) if shuffle else np.arange(len(X))
        loss, _ = self._train_epoch(X, y, lengths, order, batch_size,
                                    _Updates(None, clip_norm, clip_value, None), [])
        self.eval()
        if not hasattr(self, "history_"):
            self.history_ = {"loss": []}
        self.history_.setdefault("loss", []).append(loss)
        return self

    def fit(self, X, y, *, lengths=None, epochs=10, batch_size=32, shuffle=True, seed=None,
            validation_split=0.0, validation_data=None, early_stopping=None,
            restore_best=True, metrics=(), clip_norm=None, clip_value=None, schedule=None,
            schedule_interval="epoch", tbptt=None, progress=True, min_delta=0.0):
        """Train with shuffled mini-batches; fills ``history_``.

        Parameters
        ----------
        X : array_like, shape (N, T, I)
        y : array_like
            (N, T) or (N, T, O) for a per-step head, (N,) or (N, O) for a last-step head.
        lengths : array_like of int, shape (N,), optional
            Valid steps per sequence.
        epochs : int, default 10
        batch_size : int, default 32
        shuffle : bool, default True
            Draw the batches in a new random order every epoch.
        seed : int or None
            Seeds the validation split and the shuffling: the same seed (and the same layer
            seeds) gives identical results.
        validation_split : float in [0, 1), default 0.0
            Fraction of the samples, drawn at random, held out for validation.
        validation_data : tuple, optional
            ``(X_val, y_val)`` or ``(X_val, y_val, lengths_val)``, instead of a split.
        early_stopping : int, optional
            Patience: stop when the monitored loss (``val_loss`` if there is validation data,
            else ``loss``) has not improved by more than ``min_delta`` for this many epochs.
        restore_best : bool, default True
            With ``early_stopping``, end with the weights of the best epoch.
        metrics : sequence of str
            Names from :data:`numrnn.metrics.METRICS`, recorded per epoch on the training
            batches' outputs as computed for their update (training mode, before the step)
            and on the validation data (``val_`` prefix).
        clip_norm, clip_value : float, optional
            Clip the gradients by global norm and/or by value before each step.
        schedule : Schedule, optional
            A learning-rate schedule of this model's optimizer.
        schedule_interval : {"epoch", "update"}, default "epoch"
            Step the schedule after every epoch or after every optimizer update (e.g. for a
            warm-up counted in updates).
        tbptt : int, optional
            Truncated BPTT window length (per-step heads, unidirectional layers).
        progress : bool, default True
            Show a tqdm progress bar over the epochs (if tqdm is installed).
        min_delta : float, default 0.0
            The least decrease of the monitored loss that counts as an improvement (Keras's
            ``EarlyStopping(min_delta=...)``).

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            For data of the wrong shape or type and invalid settings, naming the argument.
        """
        X, lengths = self._check_inputs(X, lengths)
        y = self._check_targets(y, X)
        epochs = check_int("epochs", epochs, 1)
        batch_size = check_int("batch_size", batch_size, 1)
        validation_split = tu.check_float(validation_split, "validation_split", 0.0, 1.0,
                                          high_open=True)
        metrics = self._check_metrics(metrics)
        if tbptt is not None:
            tbptt = check_int("tbptt", tbptt, 1)
            if self.head.last_step or any(layer.bidirectional for layer in self.recurrent):
                raise ValueError("tbptt needs a per-step head and unidirectional layers")
        if schedule is not None and (not isinstance(schedule, Schedule)
                                     or schedule.optimizer is not self.optimizer):
            raise ValueError("schedule must be a numrnn Schedule of this model's optimizer")
        tu.check_choice(schedule_interval, "schedule_interval", {"epoch", "update"})
        if early_stopping is not None:
            early_stopping = check_int("early_stopping", early_stopping, 1)
        min_delta = tu.check_float(min_delta, "min_delta", 0.0)
        rng = np.random.default_rng(seed)
        train_idx, validation = _split_validation(X, y, lengths, rng, validation_split,
                                                  validation_data)
        if validation_data is not None:
            X_val, lengths_val = self._check_inputs(
                validation[0], validation[2] if len(validation) == 3 else None,
                ("validation_data[0]", "validation_data[2]"))
            validation = (X_val, self._check_targets(validation[1], X_val, "validation_data[1]"),
                          lengths_val)

        updates = _Updates(tbptt, clip_norm, clip_value,
                           schedule if schedule_interval == "update" else None)
        history = {"loss": [], "lr": []}
        best, best_epoch, best_state = np.inf, 0, None
        bar = _progress(epochs, progress)
        for epoch in range(epochs):
            order = rng.permutation(train_idx) if shuffle else train_idx
            loss, scores = self._train_epoch(X, y, lengths, order, batch_size, updates, metrics)
            history["loss"].append(loss)
            history["lr"].append(self.optimizer.lr)
            for name, value in scores.items():
                history.setdefault(name, []).append(value)
            if validation is not None:
                scores = self.evaluate(*validation, metrics=metrics)
                for name, value in scores.items():
                    history.setdefault("val_" + name, []).append(value)
            monitored = history["val_loss" if validation is not None else "loss"][-1]
            if monitored < best - min_delta:
                best, best_epoch = monitored, epoch
                if early_stopping is not None and restore_best:
                    best_state = self.state_dict()
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items() if k != "lr"})
            if schedule is not None and schedule_interval == "epoch":
                schedule.step(monitored)
            if early_stopping is not None and epoch - best_epoch >= early_stopping:
                break
        if bar is not None:
            bar.close()
        if best_state is not None:
            self.load_state_dict(best_state)
        self.eval()
        self.history_, self.best_epoch_ = history, best_epoch
        return self

    def _train_epoch(self, X, y, lengths, order, batch_size, updates, metrics):
        """One pass over the samples in ``order``; returns (mean loss, training metrics)."""
        self.train()
        total = weight = 0.0
        seen = [] if metrics else None
        for begin in range(0, len(order), batch_size):
            x_b, y_b, len_b = self._batch(X, y, lengths, order[begin:begin + batch_size])
            batch_total, batch_weight = self._train_batch(x_b, y_b, len_b, updates, seen)
            total += batch_total
            weight += batch_weight
        if not seen:
            return total / weight, {}
        targets = np.concatenate([t for t, _ in seen])
        logits = np.concatenate([z for _, z in seen])
        return total / weight, self._metric_values(metrics, targets, logits)

    def _batch(self, X, y, lengths, idx):
        """Time-major batch of the samples ``idx``, cut to its longest sequence (y may be None)."""
        len_b = None if lengths is None else lengths[idx]
        steps = X.shape[1] if len_b is None else int(len_b.max())
        x_b = _zero_padding(tu.swap_batch_time(X[idx, :steps], True), len_b)
        if y is None or self.head.last_step:
            y_b = None if y is None else y[idx]
        else:
            y_b = tu.swap_batch_time(y[idx, :steps], True)
        return x_b, y_b, len_b

    def _flat_valid(self, logits, y, lengths):
        """Targets and logits of the valid steps only, one row per step (per-step head)."""
        if self.head.last_step:
            return y, logits
        mask = tu.valid_mask(lengths, logits.shape[0], logits.shape[1])
        return y[mask], logits[mask]

    def _metric_values(self, metrics, targets, logits):
        """Metric name -> value for flat targets and logits (one row per valid step)."""
        scores = {}
        for name in metrics:
            function, kind = METRICS[name]
            if kind == "labels":
                if self.head.activation == "softmax":
                    predicted, truth = np.argmax(logits, axis=-1), targets
                else:
                    predicted, truth = (logits > 0).astype(int), (targets >= 0.5).astype(int)
                scores[name] = function(truth, predicted)
            else:
                scores[name] = function(targets, self.head.activate(logits))
        return scores

    # -- inference ----------------------------------------------------------------------------

    def _logits(self, X, lengths, batch_size):
        """Time-major logits of all samples (T, N, O), or (N, O) for a last-step head."""
        n, steps = X.shape[:2]
        chunks = []
        with self._evaluating():
            for begin in range(0, n, batch_size):
                idx = np.arange(begin, min(begin + batch_size, n))
                x_b, _, len_b = self._batch(X, None, lengths, idx)
                logits, _ = self._forward(x_b, len_b, [None] * len(self.recurrent))
                if not self.head.last_step and logits.shape[0] < steps:
                    logits = np.concatenate([logits, np.zeros(
                        (steps - logits.shape[0],) + logits.shape[1:], logits.dtype)])
                chunks.append(logits)
        return np.concatenate(chunks, axis=0 if self.head.last_step else 1)

    def predict(self, X, lengths=None, *, batch_size=256):
        """Predict outputs after the head's output function (probabilities for softmax/sigmoid).

        Parameters
        ----------
        X : array_like, shape (N, T, I)
        lengths : array_like of int, shape (N,), optional
        batch_size : int, default 256
            Samples per forward pass (memory; results differ by rounding only).

        Returns
        -------
        ndarray or dask.array.Array
            (N, T, O) for a per-step head, with zeros at padded steps; (N, O) for a last-step
            head. For a dask array ``X`` (chunked over samples; ``lengths`` then a dask array
            too, or None), a lazy dask array computed block by block
            (:func:`numrnn.distributed.map_samples`).
        """
        if tu.is_dask(X):
            from numrnn.distributed import map_samples

            steps = () if self.head.last_step else (X.shape[1],)
            return map_samples(
                lambda x, *n: self.predict(x, n[0].ravel() if n else None,
                                           batch_size=batch_size),
                X, steps + (self.head.out_features,), self.head.dtype, lengths)
        X, lengths = self._check_inputs(X, lengths)
        batch_size = check_int("batch_size", batch_size, 1)
        return self._outputs(self._logits(X, lengths, batch_size), lengths)

    def evaluate(self, X, y, lengths=None, *, metrics=(), batch_size=256):
        """Compute the loss and metrics on data, in evaluation mode.

        Parameters
        ----------
        X : array_like, shape (N, T, I)
        y : array_like
            Targets shaped as for :meth:`fit`.
        lengths : array_like of int, shape (N,), optional
        metrics : sequence of str
            Names from :data:`numrnn.metrics.METRICS`.
        batch_size : int, default 256

        Returns
        -------
        dict
            ``{"loss": float, metric name: float, ...}``, over the valid steps only.
        """
        X, lengths = self._check_inputs(X, lengths)
        y = self._check_targets(y, X)
        metrics = self._check_metrics(metrics)
        logits = self._logits(X, lengths, check_int("batch_size", batch_size, 1))
        y_tm = y if self.head.last_step else tu.swap_batch_time(y, True)
        scores = {"loss": self.loss(logits, y_tm, None if self.head.last_step else lengths)}
        scores.update(self._metric_values(metrics, *self._flat_valid(logits, y_tm, lengths)))
        return scores

    def reset_stream(self):
        """Forget the state carried by :meth:`stream`."""
        self._stream_state = None
        self._stream_step = None

    def stream(self, x, lengths=None):
        """Run stateful inference on the next chunk of every sequence (any batch size).

        The recurrent state after this chunk is kept for the next call, so feeding a long
        sequence chunk by chunk gives the outputs of one pass over the whole sequence. The
        batch size is fixed by the first chunk after :meth:`reset_stream`.

        Parameters
        ----------
        x : array_like, shape (B, T_chunk, I)
        lengths : array_like of int, shape (B,), optional
            Valid steps of each sequence in this chunk (at least 1).

        Returns
        -------
        ndarray
            Like :meth:`predict` for this chunk.

        Raises
        ------
        ValueError
            If a layer is bidirectional or the batch size differs from the stream's.
        """
        fast = self._stream_step
        if fast is not None and lengths is None:
            out = fast(x)
            if out is not None:
                return out
        if any(layer.bidirectional for layer in self.recurrent):
            raise ValueError("stream needs unidirectional layers")
        x, lengths = self._check_inputs(x, lengths)
        batch = x.shape[0]
        if self._stream_state is None:
            self._stream_state = [_zero_state(layer, batch) for layer in self.recurrent]
        elif self._stream_state and _state_batch(self._stream_state[0]) != batch:
            raise ValueError(f"x must have batch size {_state_batch(self._stream_state[0])} "
                             f"like the stream's earlier chunks, got {batch}; call "
                             "reset_stream() to start a new stream")
        with self._evaluating():
            logits, self._stream_state = self._forward(
                _zero_padding(tu.swap_batch_time(x, True), lengths), lengths,
                self._stream_state)
        if x.shape[1] == 1 and self._stream_step is None:
            self._stream_step = make_stream_step(self, x.shape)
        return self._outputs(logits, lengths)

    def _outputs(self, logits, lengths):
        """Activated, samples-first outputs from time-major logits; zeros at padded steps."""
        out = self.head.activate(logits)
        if self.head.last_step:
            return out
        out[~tu.valid_mask(lengths, out.shape[0], out.shape[1])] = 0
        return np.ascontiguousarray(tu.swap_batch_time(out, True))


def _summary_of_both_directions(h, lengths):
    """Per sequence, the forward half of ``h`` (T, B, 2H) at the last valid step and the
    reverse half at step 0, as a one-step sequence (1, B, 2H); and the tape for
    :func:`_summary_gradient`."""
    steps, batch, features = h.shape
    last = np.full(batch, steps - 1) if lengths is None else lengths - 1
    half = features // 2
    summary = np.concatenate([h[last, np.arange(batch), :half], h[0, :, half:]], axis=1)
    return summary[None], (h.shape, last)


def _summary_gradient(grad_summary, shape, last):
    """Gradient with respect to ``h`` from the gradient (1, B, 2H) of its summary."""
    grad_h = np.zeros(shape, dtype=grad_summary.dtype)
    half = shape[2] // 2
    grad_h[last, np.arange(shape[1]), :half] = grad_summary[0, :, :half]
    grad_h[0, :, half:] = grad_summary[0, :, half:]
    return grad_h


def _split_validation(X, y, lengths, rng, validation_split, validation_data):
    """(sorted training sample indices, validation tuple or None) for :meth:`Sequential.fit`."""
    order = rng.permutation(len(X))
    if validation_data is not None:
        if validation_split:
            raise ValueError("give validation_split or validation_data, not both")
        if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (X_val, y_val) or "
                             "(X_val, y_val, lengths_val)")
        return np.sort(order), validation_data
    if not validation_split:
        return np.sort(order), None
    n_val = int(round(validation_split * len(X)))
    if not 0 < n_val < len(X):
        raise ValueError(f"validation_split={validation_split} leaves {n_val} of {len(X)} "
                         "samples for validation; need at least 1 each side")
    held = order[:n_val]
    return np.sort(order[n_val:]), (X[held], y[held], None if lengths is None else lengths[held])


def _zero_padding(x, lengths):
    """A C-contiguous copy of time-major ``x`` with zeros at padded steps.

    Padding may hold anything (NaN included); a GEMM over all rows would carry it into the
    weight gradients (0 * NaN = NaN), so it never reaches a layer.
    """
    x = np.array(x, order="C")
    if lengths is not None:
        x[~tu.valid_mask(lengths, x.shape[0], x.shape[1])] = 0
    return x


def _progress(epochs, enabled):
    """A tqdm bar over the epochs, or None when disabled or tqdm is not installed."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=epochs, desc="fit", unit="epoch")
