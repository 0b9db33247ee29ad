r"""The recurrent layer of any cell: :class:`Recurrent`."""

import numpy as np

from numrnn._cells import CELLS, get_cell
from numrnn._docs import fill_doc
from numrnn._recurrent.layers import RNN

__all__ = ["Recurrent"]


@fill_doc
class Recurrent(RNN):
    r"""Multi-layer recurrent layer of any cell: built-in, extended or user-defined.

    Each layer computes the gate pre-activations

    .. math:: a = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}

    split by gate in the cell's order, then the cell's per-unit maths. Registered cells
    (``numrnn._cells``):

    * ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``: as :class:`RNN`,
      :class:`LSTM` (without projection) and :class:`GRU`.
    * ``"lstm_peephole"``, gates i, f, g, o, peephole weights ``weight_ch_l{k}``
      (3H,) = :math:`p_i, p_f, p_o` (Gers & Schmidhuber 2000, "Recurrent nets that
      time and count"):

      .. math::

          i &= \sigma(a_i + p_i \odot c_{t-1}), \quad f = \sigma(a_f + p_f \odot c_{t-1}),
          \quad g = \tanh(a_g) \\
          c_t &= f \odot c_{t-1} + i \odot g, \quad o = \sigma(a_o + p_o \odot c_t),
          \quad h_t = o \odot \tanh(c_t)

    * ``"lstm_cifg"``, gates f, g, o: coupled input and forget gates (Greff et al.
      2017, "LSTM: a search space odyssey"):

      .. math::

          c_t = f \odot c_{t-1} + (1 - f) \odot g, \quad h_t = o \odot \tanh(c_t)

      with :math:`f = \sigma(a_f)`, :math:`g = \tanh(a_g)`, :math:`o = \sigma(a_o)`.
    * ``"ligru"``, gates z, n: the light GRU without batch normalisation (Ravanelli et
      al. 2018, "Light gated recurrent units for speech recognition"):

      .. math::

          z = \sigma(a_z), \quad n = \max(a_n, 0), \quad
          h_t = z \odot h_{t-1} + (1 - z) \odot n

    * ``"indrnn"``: the independently recurrent network (Li et al. 2018, "Independently
      recurrent neural network (IndRNN)"), ``weight_hh_l{k}`` a vector (H,):

      .. math:: h_t = \max(W_{ih} x_t + b_{ih} + w_{hh} \odot h_{t-1} + b_{hh}, 0)

    Parameters are PyTorch's layout (``weight_ih_l{k}`` (G·H, in), ``weight_hh_l{k}``
    (G·H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G·H,)), then the cell's extras, then
    the ``_reverse`` variants, layer after layer.

    Parameters
    ----------
    cell : str or Cell
        A registered cell name (above), or a cell definition (``numrnn._cells.Cell``).
    %(layer_sizes)s
    %(layer_options)s
    %(layer_numerics)s

    Attributes
    ----------
    cell : str or Cell
        The registered name, or the cell definition given.
    grads : dict of str to ndarray
        Gradients of the latest :meth:`backward`, keyed like :meth:`state_dict`.
    training : bool
        Training mode (dropout active). See :meth:`train` and :meth:`eval`.

    Raises
    ------
    ValueError
        If ``cell`` names no registered cell (the message lists them).
    TypeError
        If ``cell`` is neither a name nor a cell definition.

    %(layer_see_also)s

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> layer = numrnn.Recurrent("lstm_peephole", 3, 4, backend="numpy", seed=0)
    >>> out, (h_n, c_n) = layer(np.zeros((5, 2, 3)))
    >>> out.shape, h_n.shape, layer.state_dict()["weight_ch_l0"].shape
    ((5, 2, 4), (1, 2, 4), (12,))
    >>> indrnn = numrnn.Recurrent("indrnn", 3, 4, bidirectional=True, backend="numpy")
    >>> indrnn.state_dict()["weight_hh_l0_reverse"].shape
    (4,)
    """

    _CONFIG = ("cell",)

    def __init__(
        self,
        cell,
        input_size,
        hidden_size,
        num_layers=1,
        *,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=np.float32,
        backend="auto",
        seed=None,
    ):
        definition = get_cell(cell)
        registered = CELLS.get(definition.name) == definition
        self.cell = definition.name if registered else definition
        self._setup(
            definition, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, dtype, backend, seed,
        )  # fmt: skip

    def __repr__(self):
        name = self.cell if isinstance(self.cell, str) else self.cell.name
        return f"Recurrent({name!r}, {super().__repr__().partition('(')[2]}"
