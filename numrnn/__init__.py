"""numrnn: Numba-compiled recurrent neural networks for scientific Python."""

__version__ = "0.1.0"
__all__ = []
