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

from numrnn._recurrent import GRU, LSTM, RNN
from numrnn._sequences import pad_sequences, real_array
from numrnn._validation import check_choice, check_float
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
        Zeros after each sequence's end. Trailing steps that are NaN in every feature are
        padding too (the way tslearn and others store unequal lengths in one array).
    lengths : ndarray of int64, shape (N,), or None
        None when all sequences have the same length (no padding).

    Raises
    ------
    TypeError
        If ``X`` holds something other than real numbers.
    ValueError
        If ``X`` is empty, has the wrong number of dimensions, holds infinity or NaN other
        than as trailing padding, or its sequences differ in their number of features.
    """
    if isinstance(X, list | tuple) and X and not np.isscalar(X[0]):
        seqs = [real_array(s, f"{name}[{i}]") for i, s in enumerate(X)]
        padded, lengths = pad_sequences([s[:, None] if s.ndim == 1 else s for s in seqs],
                                        name, np.float32)
        if np.all(lengths == lengths[0]):
            lengths = None
    else:
        given = real_array(X, name)
        if given.ndim in (2, 3) and 0 in given.shape:
            # scikit-learn's words: for a (n_samples, T) array the steps are its "features".
            empty = given.shape.index(0)
            what = ("0 sample(s)", "0 feature(s)" if given.ndim == 2 else "0 steps",
                    "0 feature(s)")[empty]
            raise ValueError(f"{name} has {what} (shape={given.shape}) while a minimum of 1 "
                             "is required (samples, steps and features may not be empty)")
        if given.ndim not in (2, 3):
            hint = "; Reshape your data: a 1-D array is one sequence, pass X[None]" * (
                given.ndim == 1)
            raise ValueError(f"{name} must be a (n_samples, T, n_features) or (n_samples, T) "
                             f"array or a list of (T_i, n_features) arrays, got shape "
                             f"{given.shape}{hint}")
        padded = given.astype(np.float32)
        padded = padded[:, :, None] if padded.ndim == 2 else padded
        lengths = None
    if not np.all(np.isfinite(padded)):
        padded, lengths = _nan_padding(padded, lengths, name)
    if n_features is not None and padded.shape[2] != n_features:
        raise ValueError(f"{name} has {padded.shape[2]} features per step, but the model was "
                         f"fitted with {n_features}")
    return padded, lengths


def _nan_padding(padded, lengths, name):
    """Trailing all-NaN steps as padding: zeros there and the lengths they leave."""
    empty_step = np.isnan(padded).all(axis=2)                       # (N, T)
    # A step is padding when it and every step after it are all NaN.
    padding = np.flip(np.logical_and.accumulate(np.flip(empty_step, axis=1), axis=1), axis=1)
    nan_lengths = padded.shape[1] - padding.sum(axis=1)
    padded = np.where(padding[..., None], 0, padded).astype(np.float32)
    if not np.all(np.isfinite(padded)) or nan_lengths.min() == 0:
        raise ValueError(f"{name} must not contain NaN or infinity (NaN is allowed only as "
                         f"trailing padding: whole steps at the end of a non-empty sequence)")
    lengths = nan_lengths if lengths is None else np.minimum(lengths, nan_lengths)
    return padded, (None if np.all(lengths == padded.shape[1]) else lengths.astype(np.int64))


def build_model(cell, input_size, hidden_size, output_size, *, num_layers=1,
                bidirectional=False, dropout=0.0, last_step=True, readout="last", loss="mse",
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
        Head on a readout of each sequence (many-to-one), else on every step.
    readout : {"last", "mean", "max", "mean_max"}, default "last"
        With ``last_step``: what the head reads (:mod:`numrnn.readouts`).
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
    layer_class, extra = CELLS[check_choice(cell, "cell", CELLS)]
    optimizer = OPTIMIZERS[check_choice(optimizer, "optimizer", OPTIMIZERS)](
        lr=check_float(learning_rate, "learning_rate", low=0.0, low_open=True))
    check_choice(loss, "loss", LOSSES)
    layer_seed, head_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    rnn = layer_class(
        input_size, hidden_size, num_layers,
        batch_first=True, dropout=dropout, bidirectional=bidirectional, backend=backend,
        seed=layer_seed, **extra)
    directions = 2 if bidirectional else 1
    head = Dense(directions * rnn.hidden_size, output_size, activation=LOSSES[loss].activation,
                 last_step=last_step, readout=readout, batch_first=True, seed=head_seed)
    return Sequential([rnn, head], loss=loss, optimizer=optimizer)


def fit_seeded(model, X, y, *, lengths=None, epochs, batch_size, clip_norm, seed, progress,
               **options):
    """``model.fit`` for the applications; returns the training loss of each epoch.

    ``seed`` seeds the weights itself (in :func:`build_model`); the batch order is drawn from
    a stream spawned from it, so the two never share random numbers. ``options`` go to
    ``model.fit`` (validation data, early stopping, a schedule).
    """
    if clip_norm is not None:
        clip_norm = check_float(clip_norm, "clip_norm", low=0.0, low_open=True)
    order_seed = np.random.SeedSequence(seed).spawn(1)[0].generate_state(1)[0]
    model.fit(X, y, lengths=lengths, epochs=epochs, batch_size=batch_size, seed=int(order_seed),
              clip_norm=clip_norm, progress=bool(progress), **options)
    return model.history_["loss"]
