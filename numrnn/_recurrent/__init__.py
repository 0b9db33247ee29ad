"""The recurrent layers, in parts.

* :mod:`.layers`: :class:`RNN`, :class:`LSTM`, :class:`GRU`, thin facades over
  :mod:`.base` (construction, parameters, modes, pickling);
* :mod:`.generic`: :class:`Recurrent`, the layer of any cell (a name or a definition);
* :mod:`.params`: the parameters' names, shapes, initialisation and storage;
* :mod:`.arguments`: the layers' arguments, checked and converted once;
* :mod:`.stack`: the stack core, pure functions forward and backward with an explicit tape;
* :mod:`.streaming`: ``step``'s fast path and its general path;
* :mod:`.grad`: :func:`no_grad`.
"""

from numrnn._recurrent.generic import Recurrent
from numrnn._recurrent.grad import NoTapeError, no_grad
from numrnn._recurrent.layers import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "NoTapeError", "Recurrent", "no_grad"]
