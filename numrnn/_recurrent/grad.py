"""Whether forward calls record a tape: :func:`no_grad`, and the error of a missing tape."""

import contextlib
import threading

__all__ = ["NoTapeError", "grad_enabled", "no_grad"]

_grad_state = threading.local()


@contextlib.contextmanager
def no_grad():
    """Context manager: forward calls inside record no tape for :meth:`RNN.backward`.

    Saves the memory and time that the tape costs when only outputs are needed.

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> gru = numrnn.GRU(3, 5, backend="numpy", seed=0)
    >>> with numrnn.no_grad():
    ...     out, h_n = gru(np.ones((4, 2, 3)))
    >>> out.shape
    (4, 2, 5)
    """
    previous = getattr(_grad_state, "enabled", True)
    _grad_state.enabled = False
    try:
        yield
    finally:
        _grad_state.enabled = previous


def grad_enabled():
    """Whether forward calls in this thread record a tape (outside :func:`no_grad`)."""
    return getattr(_grad_state, "enabled", True)


class NoTapeError(RuntimeError, ValueError):
    """``backward`` was called with no recorded forward pass to differentiate.

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> gru = numrnn.GRU(2, 3, backend="numpy", seed=0)
    >>> with numrnn.no_grad():
    ...     output, h_n = gru(np.zeros((4, 1, 2)))
    >>> try:
    ...     gru.backward(np.ones_like(output))
    ... except numrnn.NoTapeError:
    ...     print("no tape to differentiate")
    no tape to differentiate
    """
