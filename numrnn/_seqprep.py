r"""What the sequence estimators do to the input before the network: scaling and patching.

* **Standardisation** per channel (feature), fitted on the valid steps of the training
  sequences only: :math:`x' = (x - \mu_f) / \sigma_f`, with :math:`\sigma_f = 1` for a
  constant channel. Padding never enters the statistics and stays zero afterwards.
* **Patching** folds :math:`p` consecutive steps into one step of :math:`p F` features
  (step :math:`s` of the result holds steps :math:`sp, \dots, sp + p - 1`, the features of
  each step side by side), so a 500-step univariate series becomes a 17-step series of 31
  features. A recurrent net then has 31 times fewer steps to carry information across
  (and costs about as much less to run). A sequence of length :math:`L` gets
  :math:`\lceil L / p \rceil` steps; the missing steps of its last patch are zeros, the mean
  of a standardised channel.

Real-valued targets, and the series a forecaster reads, are scaled per column alike
(:func:`column_scaling`).
"""

import numpy as np

from numrnn._validation import check_int

#: ``patch="auto"`` picks the coarsest patch that leaves at least this many steps (so series
#: of fewer than twice as many steps are not folded). Chosen by measurement
#: (docs/benchmarks.rst): folding to 16-31 steps beat 32-63 on ArrowHead (0.78 against
#: 0.75, two seeds) and matched it on GunPoint and BasicMotions; folding ItalyPowerDemand's
#: 24 steps into 12 lost 2 points.
AUTO_PATCH_STEPS = 16


def fit_standardisation(padded, lengths):
    """Per-channel mean and scale (F,) over the valid steps of ``padded`` (N, T, F)."""
    valid = _valid(padded, lengths)
    count = valid.sum()
    values = np.where(valid[..., None], padded, 0.0).astype(np.float64)
    mean = values.sum(axis=(0, 1)) / count
    centred = np.where(valid[..., None], padded - mean, 0.0)
    std = np.sqrt((centred ** 2).sum(axis=(0, 1)) / count)
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)


def column_scaling(values):
    """Mean and scale of each column of ``values`` (n, k): the standard deviation, 1 where it
    is 0 (a constant column is only centred)."""
    scale = values.std(axis=0)
    return values.mean(axis=0), np.where(scale > 0, scale, 1.0)


def standardise(padded, lengths, mean, scale):
    """``(padded - mean) / scale`` as float32, zeros at padded steps; a new array."""
    out = ((padded - mean) / scale).astype(np.float32)
    out[~_valid(padded, lengths)] = 0
    return out


def choose_patch(patch, steps):
    """The patch length: ``patch`` itself, or for ``"auto"`` the largest one that leaves at
    least :data:`AUTO_PATCH_STEPS` of the ``steps`` steps (1 for shorter series)."""
    if isinstance(patch, str):
        if patch != "auto":
            raise ValueError(f"patch must be 'auto' or an int >= 1, got {patch!r}")
        return max(1, steps // AUTO_PATCH_STEPS)
    return check_int(patch, "patch", 1)


def fold(padded, lengths, p):
    """Sequences (N, T, F) and lengths as (N, ceil(T/p), p*F) and ceil(lengths/p)."""
    if p == 1:
        return padded, lengths
    n, steps, features = padded.shape
    folded_steps = -(-steps // p)
    grown = np.zeros((n, folded_steps * p, features), dtype=padded.dtype)
    grown[:, :steps] = padded
    folded = grown.reshape(n, folded_steps, p * features)
    return folded, None if lengths is None else -(-lengths // p)


def _valid(padded, lengths):
    """(N, T) True at the valid steps."""
    n, steps = padded.shape[:2]
    if lengths is None:
        return np.ones((n, steps), dtype=bool)
    return np.arange(steps)[None, :] < lengths[:, None]
