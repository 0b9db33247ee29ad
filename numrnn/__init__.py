"""numrnn: Numba-compiled recurrent neural networks for scientific Python.

NumPy arrays in, NumPy arrays out; weights that move to and from PyTorch
unchanged. See :class:`RNN`, :class:`LSTM` and :class:`GRU`.
"""

from numrnn._layers import GRU, LSTM, RNN, NoTapeError, no_grad, resolve_backend

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "RNN", "NoTapeError", "no_grad", "resolve_backend"]
