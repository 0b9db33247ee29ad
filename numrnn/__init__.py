"""numrnn: Numba-compiled recurrent neural networks for scientific Python.

NumPy arrays in, NumPy arrays out; weights that move to and from PyTorch
unchanged.

* Layers: :class:`RNN`, :class:`LSTM`, :class:`GRU` (forward, BPTT, streaming).
* Training: heads, losses, optimizers, schedules, clipping, :class:`Sequential`
  with ``fit``, saving (:func:`save`, :func:`load`) and PyTorch converters.
* Sequence to sequence: :class:`Embedding`, attention (:class:`LuongAttention`,
  :class:`BahdanauAttention`) and :class:`Seq2Seq` with beam search.
* Applications: scikit-learn style estimators, forecasting, character-level
  language models; :mod:`numrnn.metrics` and :mod:`numrnn.diagnostics`.
"""

import importlib

from numrnn._recurrent import GRU, LSTM, RNN, NoTapeError, Recurrent, no_grad
from numrnn.attention import BahdanauAttention, LuongAttention
from numrnn.backends import resolve_backend
from numrnn.embedding import Embedding
from numrnn.estimators import SequenceClassifier, SequenceRegressor
from numrnn.forecasting import Forecaster
from numrnn.heads import Dense
from numrnn.io import from_torch, load, save, to_torch
from numrnn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from numrnn.model import Dropout, Sequential
from numrnn.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    LinearWarmup,
    ReduceLROnPlateau,
    RMSprop,
    StepLR,
    clip_grad_norm,
    clip_grad_value,
)
from numrnn.seq2seq import Seq2Seq
from numrnn.text import CharLanguageModel, CharVocabulary

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "Adam",
    "AdamW",
    "BCEWithLogitsLoss",
    "BahdanauAttention",
    "CharLanguageModel",
    "CharVocabulary",
    "CosineAnnealingLR",
    "CrossEntropyLoss",
    "Dense",
    "Dropout",
    "Embedding",
    "Forecaster",
    "LinearWarmup",
    "LuongAttention",
    "MSELoss",
    "NoTapeError",
    "RMSprop",
    "Recurrent",
    "ReduceLROnPlateau",
    "SequenceClassifier",
    "Seq2Seq",
    "SequenceRegressor",
    "Sequential",
    "StepLR",
    "clip_grad_norm",
    "clip_grad_value",
    "from_torch",
    "load",
    "no_grad",
    "resolve_backend",
    "save",
    "to_torch",
    "warmup",
]

# Loaded on first use: the submodules below and the numba-compiled CPU backend
# (``warmup``), so that ``import numrnn`` stays fast.
_LAZY_MODULES = ("datasets", "diagnostics", "metrics")


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"numrnn.{name}")
    if name == "warmup":
        return importlib.import_module("numrnn.backends.cpu").warmup
    raise AttributeError(f"module 'numrnn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY_MODULES, "warmup"])
