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

from numrnn import _trainutil as tu
from numrnn._component import Component
from numrnn._docs import fill_doc
from numrnn._recurrent import RNN
from numrnn._training import chain, inference
from numrnn._training import fit as fit_loop
from numrnn._training.build import resolve_loss, resolve_optimizer
from numrnn._training.data import check_inputs
from numrnn._training.dropout import Dropout
from numrnn._validation import check_int

__all__ = ["Dropout", "Sequential"]


class Sequential(inference.StreamMixin, Component):
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
        self.layers = chain.check_layers(layers)
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
        self.loss = resolve_loss(loss)
        if self.loss.activation != self.head.activation:
            raise ValueError(f"loss {type(self.loss).__name__} pairs with a "
                             f"{self.loss.activation!r} head, got activation="
                             f"{self.head.activation!r}")
        self.optimizer = resolve_optimizer(optimizer)
        self._stream_state = None
        self._stream_step = None  # stream's fast path, made by its first one-step call
        self.training = True

    def __repr__(self):
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return (f"Sequential([\n{inner}\n], loss={type(self.loss).__name__}(), "
                f"optimizer={type(self.optimizer).__name__}(lr={self.optimizer.lr}))")

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

    def _children(self):
        return self.layers

    # -- forward and backward on time-major arrays ----------------------------------------------

    def _forward(self, x, lengths, states):
        """Logits and final states for time-major ``x`` (see :mod:`numrnn._training.chain`)."""
        return chain.forward(self, x, lengths, states)

    def _backward(self, grad_logits):
        """Backpropagate ``d loss / d logits``; each layer fills its ``grads``."""
        chain.backward(self, grad_logits)

    # -- training, evaluation and prediction (numrnn._training) ---------------------------------

    @fill_doc
    def fit(self, X, y, *, lengths=None, epochs=10, batch_size=32, shuffle=True, seed=None,
            validation_split=0.0, validation_data=None, early_stopping=None,
            restore_best=True, metrics=(), clip_norm=None, clip_value=None, schedule=None,
            schedule_interval="epoch", tbptt=None, progress=True, min_delta=0.0):
        """Train with shuffled mini-batches; fills ``history_``.

        Parameters
        ----------
        X : array_like, shape (N, T, I), or list of N arrays (T_i, I)
            A list of sequences of different lengths is padded with zeros, and their lengths
            are the ``lengths``. NaN and infinity are refused, except in padding.
        y : array_like
            (N, T) or (N, T, O) for a per-step head (or a list of N arrays (T_i,) or
            (T_i, O), padded like ``X``), (N,) or (N, O) for a last-step head.
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

        %(returns_self)s

        Raises
        ------
        ValueError, TypeError
            For data of the wrong shape or type, NaN or infinity in valid steps of the data,
            and invalid settings, naming the argument.
        """
        return fit_loop.fit(
            self, X, y, lengths=lengths, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
            seed=seed, validation_split=validation_split, validation_data=validation_data,
            early_stopping=early_stopping, restore_best=restore_best, metrics=metrics,
            clip_norm=clip_norm, clip_value=clip_value, schedule=schedule,
            schedule_interval=schedule_interval, tbptt=tbptt, progress=progress,
            min_delta=min_delta,
        )

    @fill_doc
    def partial_fit(self, X, y, *, lengths=None, batch_size=32, shuffle=False, seed=None,
                    clip_norm=None, clip_value=None):
        """Train for one pass over the given samples, keeping the optimizer's state.

        scikit-learn's ``partial_fit``: calls on successive blocks of data train out of core.
        Each call appends the pass's mean training loss to ``history_["loss"]``.

        Parameters
        ----------
        %(samples)s
        batch_size : int, default 32
        shuffle : bool, default False
            Draw this block's batches in a random order.
        seed : int or None
            Seeds the order when shuffling.
        clip_norm, clip_value : float, optional
            Clip the gradients before each step.

        %(returns_self)s

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
        return fit_loop.partial_fit(self, X, y, lengths=lengths, batch_size=batch_size,
                                    shuffle=shuffle, seed=seed, clip_norm=clip_norm,
                                    clip_value=clip_value)

    def _train_batch(self, x, y, lengths, updates, seen):
        """The batch step of :meth:`fit` (:func:`numrnn._training.fit.train_batch`);
        :class:`numrnn.distributed.DataParallel` replaces it on its model during a fit."""
        return fit_loop.train_batch(self, x, y, lengths, updates, seen)

    # -- inference ----------------------------------------------------------------------------

    def predict(self, X, lengths=None, *, batch_size=256):
        """Predict outputs after the head's output function (probabilities for softmax/sigmoid).

        Parameters
        ----------
        X : array_like, shape (N, T, I), or list of N arrays (T_i, I)
            A list of sequences of different lengths is padded (see :meth:`fit`).
        lengths : array_like of int, shape (N,), optional
        batch_size : int, default 256
            Samples per forward pass (memory; results differ by rounding only).

        Returns
        -------
        ndarray
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
        X, lengths = check_inputs(self, X, lengths)
        batch_size = check_int(batch_size, "batch_size", 1)
        return inference.outputs(self, inference.logits(self, X, lengths, batch_size), lengths)

    @fill_doc
    def evaluate(self, X, y, lengths=None, *, metrics=(), batch_size=256):
        """Compute the loss and metrics on data, in evaluation mode.

        Parameters
        ----------
        %(samples)s
        metrics : sequence of str
            Names from :data:`numrnn.metrics.METRICS`.
        batch_size : int, default 256

        Returns
        -------
        dict
            ``{"loss": float, metric name: float, ...}``, over the valid steps only.
        """
        return fit_loop.evaluate(self, X, y, lengths, metrics, batch_size)
