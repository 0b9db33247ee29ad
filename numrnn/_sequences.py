"""Training data as users hold it: lists of sequences of different lengths, and NaN checks.

A list of N sequences (arrays whose first axis is time) becomes one zero-padded array
(N, T_max, ...) and the sequences' lengths (:func:`pad_sequences`), which is what the layers
take (``lengths=``). The applications (:mod:`numrnn._seqnet`) and
:class:`~numrnn.model.Sequential` share this padding; :func:`check_finite` refuses training
data that would turn every weight into NaN, while padding after a sequence's end may hold
anything.
"""

import numpy as np


def real_array(a, name):
    """``a`` as a NumPy array of real numbers (scikit-learn's errors for the other kinds)."""
    if hasattr(a, "toarray") or hasattr(a, "tocsr"):
        raise TypeError(f"Sparse data was passed for {name}, but dense data is required; use "
                        "X.toarray() to convert it to a dense array")
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be an array or a list of arrays: {exc}") from exc
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} must hold real numbers")
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers: {exc}") from exc
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def is_ragged(X):
    """True if ``X`` is a list or tuple of sequences that differ in length."""
    if not isinstance(X, list | tuple) or not X:
        return False
    try:
        return len({len(s) for s in X}) > 1
    except TypeError:  # scalars, or 0-d arrays: not a list of sequences
        return False


def pad_sequences(sequences, name="X", dtype=None, steps=0):
    """Sequences of different lengths as one zero-padded array, samples first.

    Parameters
    ----------
    sequences : list of array_like
        N arrays (T_i, ...), time first, with the same shape after the time axis.
    name : str
        Argument name for error messages.
    dtype : dtype, optional
        Of the result; by default the sequences' common NumPy type.
    steps : int, default 0
        Pad to at least this many steps.

    Returns
    -------
    padded : ndarray, shape (N, max(T_max, steps), ...)
        Zeros after each sequence's end.
    lengths : ndarray of int64, shape (N,)

    Raises
    ------
    TypeError
        If a sequence holds something other than real numbers.
    ValueError
        If a sequence is empty or a scalar, or the sequences' steps differ in shape.
    """
    seqs = [real_array(s, f"{name}[{i}]") for i, s in enumerate(sequences)]
    for i, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[0] == 0:
            raise ValueError(f"{name}[{i}] must be a non-empty sequence (time first), got "
                             f"shape {s.shape}")
        if s.shape[1:] != seqs[0].shape[1:]:
            raise ValueError(f"{name}[{i}] has shape {s.shape}, {name}[0] has "
                             f"{seqs[0].shape}: all steps of all sequences need the same shape")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    padded = np.zeros((len(seqs), max(int(lengths.max()), steps)) + seqs[0].shape[1:],
                      dtype=np.result_type(*seqs) if dtype is None else dtype)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    return padded, lengths


def pad_inputs(X, lengths, names=("X", "lengths")):
    """``(X, lengths)``, with a ragged list ``X`` padded and its lengths taken from it.

    Anything else is returned unchanged, for the caller's own checks.
    """
    if not is_ragged(X):
        return X, lengths
    if lengths is not None:
        raise ValueError(f"{names[1]} must be None when {names[0]} is a list of sequences of "
                         "different lengths: their lengths are taken from the list")
    return pad_sequences(X, names[0])


def pad_targets(y, lengths, steps, name="y"):
    """Per-step targets ``y``, a ragged list padded to ``steps`` steps; else ``y`` unchanged.

    Each target sequence must have one entry per valid step of its input sequence
    (``lengths[i]``, or ``steps`` for all when ``lengths`` is None).
    """
    if not is_ragged(y):
        return y
    padded, y_lengths = pad_sequences(y, name, steps=steps)
    expected = np.full(len(y_lengths), steps) if lengths is None else lengths
    if y_lengths.shape == expected.shape:
        wrong = np.flatnonzero(y_lengths != expected)
        if wrong.size:
            i = wrong[0]
            raise ValueError(f"{name}[{i}] has {y_lengths[i]} steps, but sequence {i} of the "
                             f"input has {expected[i]}: per-step targets need one entry per "
                             "valid step")
    return padded


def check_finite(a, name, lengths=None, per_step=True):
    """Raise ValueError if ``a`` (samples first) holds NaN or infinity at a valid step.

    With ``per_step``, axis 1 of ``a`` is time, and the steps at and after ``lengths[i]``
    (padding) may hold anything: they never reach a layer or a loss.
    """
    bad = ~np.isfinite(a)
    bad = bad.reshape(bad.shape[: 2 if per_step else 1] + (-1,)).any(axis=-1)
    if per_step and lengths is not None:
        bad &= np.arange(bad.shape[1])[None, :] < lengths[:, None]
    if bad.any():
        first = ", ".join(str(i) for i in np.argwhere(bad)[0])
        where = "sample, step" if per_step else "sample"
        raise ValueError(f"{name} must not contain NaN or infinity, found at {name}[{first}] "
                         f"({where}): training on it makes the loss and every weight NaN. "
                         "Drop or fill those values (padding after a sequence's length may "
                         "hold anything)")


def check_finite_data(X, y, lengths, per_step_targets, names=("X", "y")):
    """:func:`check_finite` for inputs ``X`` (N, T, I) and targets ``y`` of a model.

    ``per_step_targets``: ``y`` has a time axis (N, T, ...), else one target per sequence.
    """
    check_finite(X, names[0], lengths)
    check_finite(y, names[1], lengths, per_step=per_step_targets)
