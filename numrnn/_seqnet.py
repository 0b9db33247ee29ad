"""A recurrent layer followed by a dense head: the network behind the applications.

The estimators (:mod:`numrnn.estimators`), the forecaster (:mod:`numrnn.forecasting`), the
character model (:mod:`numrnn.text`) and the diagnostics all need the same thing: one of
:class:`~numrnn.RNN`, :class:`~numrnn.LSTM`, :class:`~numrnn.GRU` (batch first), a
:class:`~numrnn.heads.Dense` head on every step or on each sequence's last valid step, and
minibatch training with a loss and an optimizer from :mod:`numrnn.losses` and
:mod:`numrnn.optim`. It lives here, once, together with the conversion of user sequences
(arrays or lists of variable-length arrays) to a padded batch and lengths.
"""

import numbers

import numpy as np

from numrnn._layers import GRU, LSTM, RNN, no_grad
from numrnn.heads import Dense
from numrnn.optim import SGD, Adam, AdamW, RMSprop, clip_grad_norm

#: Cell names the applications accept: layer class and its extra constructor arguments.
CELLS = {
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "rnn": (RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
}

#: Optimizer names the applications accept.
OPTIMIZERS = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


def check_option(name, value, options):
    """``value`` if it is a key of ``options``, else ValueError naming ``name``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def check_positive_int(name, value):
    """``value`` as an int >= 1, else TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_positive_float(name, value):
    """``value`` as a finite float > 0, else TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def as_padded(X, name="X", n_features=None):
    """Sequences as a padded float32 batch (N, T, F) and their lengths.

    Parameters
    ----------
    X : array_like or list of array_like
        (N, T, F); (N, T) for one feature; or a list of N arrays (T_i, F) or (T_i,).
    name : str
        Argument name for error messages.
    n_features : int, optional
        Required number of features F.

    Returns
    -------
    padded : ndarray, shape (N, T_max, F), float32
        Zeros after each sequence's end.
    lengths : ndarray of int64, shape (N,), or None
        None when all sequences have the same length (no padding).

    Raises
    ------
    TypeError
        If ``X`` holds something other than real numbers.
    ValueError
        If ``X`` is empty, has the wrong number of dimensions, holds NaN or infinity, or its
        sequences differ in their number of features.
    """
    if isinstance(X, list | tuple) and X and not np.isscalar(X[0]):
        seqs = [_real_array(f"{name}[{i}]", s) for i, s in enumerate(X)]
        seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
        for i, s in enumerate(seqs):
            if s.ndim != 2 or s.shape[0] == 0:
                raise ValueError(f"{name}[{i}] must be a non-empty (T_i, n_features) or "
                                 f"(T_i,) array, got shape {s.shape}")
            if s.shape[1] != seqs[0].shape[1]:
                raise ValueError(f"{name}[{i}] has {s.shape[1]} features, {name}[0] has "
                                 f"{seqs[0].shape[1]}: all sequences need the same number")
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        padded = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]), dtype=np.float32)
        for i, s in enumerate(seqs):
            padded[i, : len(s)] = s
        if np.all(lengths == lengths[0]):
            lengths = None
    else:
        padded = _real_array(name, X).astype(np.float32)
        if padded.ndim == 2:
            padded = padded[:, :, None]
        if padded.ndim != 3 or 0 in padded.shape:
            raise ValueError(f"{name} must be a non-empty (n_samples, T, n_features) or "
                             f"(n_samples, T) array or a list of (T_i, n_features) arrays, "
                             f"got shape {padded.shape}")
        lengths = None
    if not np.all(np.isfinite(padded)):
        raise ValueError(f"{name} must not contain NaN or infinity")
    if n_features is not None and padded.shape[2] != n_features:
        raise ValueError(f"{name} has {padded.shape[2]} features per step, but the model was "
                         f"fitted with {n_features}")
    return padded, lengths


def _real_array(name, a):
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be an array or a list of arrays: {exc}") from exc
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


class SequenceNet:
    """A recurrent layer (batch first) followed by a :class:`~numrnn.heads.Dense` head.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn", "rnn_relu"}
    input_size, hidden_size, output_size : int
    num_layers : int, default 1
    bidirectional : bool, default False
    dropout : float, default 0.0
        Between stacked layers, in training mode.
    last_step : bool, default True
        Head on each sequence's last valid step (many-to-one), else on every step.
    activation : {"identity", "softmax", "sigmoid"}, default "identity"
        Output function of the head (see :meth:`predict`).
    backend : str, default "auto"
    seed : int or None
        Seeds the layer's and the head's initial weights and the layer's dropout.
    """

    def __init__(self, cell, input_size, hidden_size, output_size, *, num_layers=1,
                 bidirectional=False, dropout=0.0, last_step=True, activation="identity",
                 backend="auto", seed=None):
        layer_class, extra = CELLS[check_option("cell", cell, CELLS)]
        self.cell = cell
        layer_seed, head_seed = np.random.SeedSequence(seed).generate_state(2)
        self.rnn = layer_class(
            input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
            bidirectional=bidirectional, backend=backend, seed=int(layer_seed), **extra)
        directions = 2 if bidirectional else 1
        self.head = Dense(directions * hidden_size, output_size, activation=activation,
                          last_step=last_step, batch_first=True, seed=int(head_seed))
        # The optimizer updates these arrays in place; they are copied into the head after
        # every update because the head hands out copies only (state_dict).
        self._head_params = self.head.state_dict()

    def parameters(self):
        """Live parameter arrays of the layer and the head, as ``rnn.*`` and ``head.*``."""
        params = {f"rnn.{k}": v for k, v in self.rnn.parameters().items()}
        params.update({f"head.{k}": v for k, v in self._head_params.items()})
        return params

    def state_dict(self):
        """Copies of all parameters, keyed like :meth:`parameters`."""
        return {k: v.copy() for k, v in self.parameters().items()}

    def train(self, mode=True):
        """Training mode (dropout active) for the layer and the head; returns self."""
        self.rnn.train(mode)
        self.head.train(mode)
        return self

    def forward(self, x, lengths=None, hx=None):
        """Logits of the head and the layer's final state for a batch ``x`` (B, T, I)."""
        output, state = self.rnn(x, hx=hx, lengths=lengths)
        return self.head(output, lengths=lengths), state

    def backward(self, grad_logits, grad_state=None):
        """Backpropagate ``grad_logits``; return ``(grads, grad_x, grad_hx)``.

        ``grads`` holds the parameter gradients, keyed like :meth:`parameters`.
        """
        grad_output = self.head.backward(grad_logits)
        grad_x, grad_hx = self.rnn.backward(grad_output, grad_state)
        grads = {f"rnn.{k}": v for k, v in self.rnn.grads.items()}
        grads.update({f"head.{k}": v for k, v in self.head.grads.items()})
        return grads, grad_x, grad_hx

    def update(self, grads, optimizer, clip_norm=None):
        """One optimizer step on the parameters; returns the gradient norm before clipping."""
        norm = clip_grad_norm(grads, clip_norm) if clip_norm else None
        optimizer.step(self.parameters(), grads)
        self.head.load_state_dict(self._head_params)
        return norm

    def fit(self, X, Y, lengths, loss, optimizer, *, epochs, batch_size, rng,
            clip_norm=None, callback=None):
        """Minibatch training for ``epochs`` passes over ``X`` (N, T, I) and targets ``Y``.

        Per-step heads pass ``lengths`` to the loss so padded steps never count. After each
        epoch ``callback(epoch, mean_loss)`` is called if given.

        Returns
        -------
        list of float
            Mean training loss of each epoch.
        """
        n = len(X)
        history = []
        self.train(True)
        for epoch in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                batch_lengths = None if lengths is None else lengths[idx]
                logits, _ = self.forward(X[idx], batch_lengths)
                loss_lengths = None if self.head.last_step else batch_lengths
                total += loss(logits, Y[idx], lengths=loss_lengths) * len(idx)
                grads, _, _ = self.backward(loss.backward())
                self.update(grads, optimizer, clip_norm)
            history.append(total / n)
            if callback is not None:
                callback(epoch, history[-1])
        self.train(False)
        return history

    def predict(self, X, lengths=None, batch_size=256):
        """Head outputs after the output function, in evaluation mode, without a tape."""
        self.train(False)
        outputs = []
        with no_grad():
            for start in range(0, len(X), batch_size):
                part = None if lengths is None else lengths[start:start + batch_size]
                logits, _ = self.forward(X[start:start + batch_size], part)
                outputs.append(self.head.activate(logits))
        return np.concatenate(outputs)


def make_optimizer(name, learning_rate):
    """An optimizer from :mod:`numrnn.optim` by name."""
    return OPTIMIZERS[check_option("optimizer", name, OPTIMIZERS)](
        lr=check_positive_float("learning_rate", learning_rate))
