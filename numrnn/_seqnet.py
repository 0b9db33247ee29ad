"""What the applications share: their network, and user sequences as a padded batch.

The estimators (:mod:`numrnn.estimators`), the forecaster (:mod:`numrnn.forecasting`) and the
character model (:mod:`numrnn.text`) all train the same kind of
:class:`~numrnn.model.Sequential`: one of :class:`~numrnn.RNN`, :class:`~numrnn.LSTM`,
:class:`~numrnn.GRU`, then a :class:`~numrnn.heads.Dense` head on every step or on each
sequence's last valid step (:func:`build_model`). They accept sequences as arrays or as lists
of variable-length arrays (:func:`as_padded`, padded by
:func:`numrnn._sequences.pad_sequences`, which :class:`~numrnn.model.Sequential` uses too).
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._recurrent import GRU, LSTM, RNN
from numrnn._sequences import check_finite, pad_sequences, real_array
from numrnn.heads import Dense
from numrnn.losses import LOSSES
from numrnn.model import Sequential
from numrnn.optim import OPTIMIZERS

#: Cell names the applications accept: layer class and its extra constructor arguments.
CELLS = {
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "rnn": (RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
}


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
        seqs = [real_array(f"{name}[{i}]", s) for i, s in enumerate(X)]
        padded, lengths = pad_sequences([s[:, None] if s.ndim == 1 else s for s in seqs],
                                        name, np.float32)
        if np.all(lengths == lengths[0]):
            lengths = None
    else:
        padded = real_array(name, X).astype(np.float32)
        if padded.ndim == 2:
            padded = padded[:, :, None]
        lengths = None
    if padded.ndim != 3 or 0 in padded.shape:
        raise ValueError(f"{name} must be a non-empty (n_samples, T, n_features) or "
                         f"(n_samples, T) array or a list of (T_i, n_features) or (T_i,) "
                         f"arrays, got shape {padded.shape}")
    check_finite(name, padded)
    if n_features is not None and padded.shape[2] != n_features:
        raise ValueError(f"{name} has {padded.shape[2]} features per step, but the model was "
                         f"fitted with {n_features}")
    return padded, lengths


def build_model(cell, input_size, hidden_size, output_size, *, num_layers=1,
                bidirectional=False, dropout=0.0, last_step=True, loss="mse",
                optimizer="adam", learning_rate=0.01, backend="auto", seed=None):
    """A :class:`~numrnn.model.Sequential`: one recurrent layer (batch first), one dense head.

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
    loss : {"mse", "cross_entropy", "bce_with_logits"}, default "mse"
        The head's output function is the one the loss pairs with.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default "adam"
    learning_rate : float, default 0.01
    backend : str, default "auto"
    seed : int or None
        Seeds the layer's and the head's initial weights and the layer's dropout.

    Returns
    -------
    Sequential
    """
    layer_class, extra = CELLS[tu.check_choice(cell, "cell", CELLS)]
    optimizer = OPTIMIZERS[tu.check_choice(optimizer, "optimizer", OPTIMIZERS)](
        lr=tu.check_float(learning_rate, "learning_rate", low=0.0, low_open=True))
    tu.check_choice(loss, "loss", LOSSES)
    layer_seed, head_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    rnn = layer_class(
        input_size, hidden_size, num_layers,
        batch_first=True, dropout=dropout, bidirectional=bidirectional, backend=backend,
        seed=layer_seed, **extra)
    directions = 2 if bidirectional else 1
    head = Dense(directions * rnn.hidden_size, output_size, activation=LOSSES[loss].activation,
                 last_step=last_step, batch_first=True, seed=head_seed)
    return Sequential([rnn, head], loss=loss, optimizer=optimizer)


def fit_seeded(model, X, y, *, lengths=None, epochs, batch_size, clip_norm, seed, progress):
    """``model.fit`` for the applications; returns the training loss of each epoch.

    ``seed`` seeds the weights itself (in :func:`build_model`); the batch order is drawn from
    a stream spawned from it, so the two never share random numbers.
    """
    if clip_norm is not None:
        clip_norm = tu.check_float(clip_norm, "clip_norm", low=0.0, low_open=True)
    order_seed = np.random.SeedSequence(seed).spawn(1)[0].generate_state(1)[0]
    model.fit(X, y, lengths=lengths, epochs=epochs, batch_size=batch_size, seed=int(order_seed),
              clip_norm=clip_norm, progress=bool(progress))
    return model.history_["loss"]
