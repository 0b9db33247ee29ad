"""A :class:`~numrnn.model.Sequential`'s data: checked once, cut into time-major batches.

The model takes samples first (N, T, I), whatever each layer's own ``batch_first``; the
chain (:mod:`numrnn._training.chain`) runs time-major batches (T, B, I) cut to their longest
sequence, with zeros at padded steps.
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._sequences import pad_inputs, pad_targets
from numrnn._training.chain import zero_padding
from numrnn._validation import as_float_array, check_lengths, check_ndim, to_numpy

__all__ = ["check_inputs", "check_targets", "flat_valid", "split_validation",
           "time_major_batch"]


def check_inputs(model, X, lengths, names=("X", "lengths")):
    """``(X, lengths)`` checked for ``model``: a ragged list padded, (N, T, I) floats."""
    X, lengths = pad_inputs(X, lengths, names)
    X = as_float_array(X, names[0])
    check_ndim(X, names[0], (3,))
    if X.shape[2] != model.input_size or 0 in X.shape:
        raise ValueError(f"{names[0]} must have shape (N, T, {model.input_size}) with "
                         f"N, T >= 1, got {X.shape}")
    return X, check_lengths(lengths, X.shape[1], X.shape[0], names[1])


def check_targets(model, y, X, lengths, name="y"):
    """Targets ``y`` checked against the inputs ``X`` and the model's head and loss."""
    head = model.head
    if not head.last_step:
        y = pad_targets(y, lengths, X.shape[1], name)
    y = np.asarray(to_numpy(y))
    n, steps = X.shape[:2]
    lead = (n,) if head.last_step else (n, steps)
    classes = model.loss.class_axis
    shape = lead if classes else lead + (head.out_features,)
    if y.shape != shape:
        what = "class indices" if classes else "targets"
        raise ValueError(f"{name} must have shape {shape} ({what} for a "
                         f"{'last-step' if head.last_step else 'per-step'} head), "
                         f"got {y.shape}")
    return y


def time_major_batch(model, X, y, lengths, idx):
    """Time-major batch of the samples ``idx``, cut to its longest sequence (y may be None)."""
    len_b = None if lengths is None else lengths[idx]
    steps = X.shape[1] if len_b is None else int(len_b.max())
    x_b = zero_padding(tu.swap_batch_time(X[idx, :steps], True), len_b)
    if y is None or model.head.last_step:
        y_b = None if y is None else y[idx]
    else:
        y_b = tu.swap_batch_time(y[idx, :steps], True)
    return x_b, y_b, len_b


def flat_valid(model, logits, y, lengths):
    """Targets and logits of the valid steps only, one row per step (per-step head)."""
    if model.head.last_step:
        return y, logits
    mask = tu.valid_mask(lengths, logits.shape[0], logits.shape[1])
    return y[mask], logits[mask]


def split_validation(X, y, lengths, rng, validation_split, validation_data):
    """(sorted training sample indices, validation tuple or None) for the fit loop."""
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
