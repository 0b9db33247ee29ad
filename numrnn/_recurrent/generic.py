r"""The recurrent layer of any cell: :class:`Recurrent`."""

import numpy as np

from numrnn._cells import CELLS, get_cell
from numrnn._docs import fill_doc
from numrnn._recurrent.layers import RNN
from numrnn._validation import check_float
from numrnn.backends import Masks

__all__ = ["Recurrent"]


def _probability(name, doc):
    """A property holding a probability in [0, 1) (checked) that resets the fast ``step``."""

    def get(self):
        return getattr(self, f"_{name}")

    def set_(self, p):
        setattr(self, f"_{name}", check_float(p, name, 0, 1, high_open=True))
        self._streaming.forget(self)

    return property(get, set_, doc=doc)


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

    Two regularisers act inside the compiled time loops, in training mode only (seeded by
    ``seed``, so reproducible), and backward applies them likewise:

    * ``recurrent_dropout=p``: variational dropout on the recurrent input (Gal & Ghahramani
      2016, "A theoretically grounded application of dropout in recurrent neural
      networks"; Keras' ``recurrent_dropout``): :math:`h_{t-1} \to m \odot h_{t-1} / (1 - p)`
      before the :math:`W_{hh}` product only, one mask :math:`m` per sequence and
      layer-direction, the same at every step. No effect in evaluation mode.
    * ``zoneout=p`` (Krueger et al. 2017, "Zoneout: regularizing RNNs by randomly
      preserving hidden activations"): :math:`h_t = m \odot h_{t-1} + (1 - m) \odot
      \tilde h_t` per unit and step, :math:`m \sim \text{Bernoulli}(p)`, with
      :math:`\tilde h_t` the cell's new state; cells with a cell state zone out :math:`c`
      the same way (masks of their own). Evaluation mode uses the expectation,
      :math:`h_t = p\, h_{t-1} + (1 - p)\, \tilde h_t`.

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
    recurrent_dropout : float in [0, 1), default 0
        Recurrent dropout probability (above), in training mode.
    zoneout : float in [0, 1), default 0
        Zoneout probability (above).

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

    _CONFIG = ("cell", "recurrent_dropout", "zoneout")

    def __init__(self, cell, input_size, hidden_size, num_layers=1, *, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
                 backend="auto", seed=None, recurrent_dropout=0.0, zoneout=0.0):
        definition = get_cell(cell)
        registered = CELLS.get(definition.name) == definition
        self.cell = definition.name if registered else definition
        self._setup(
            definition, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, dtype, backend, seed,
        )  # fmt: skip
        self.recurrent_dropout = recurrent_dropout
        self.zoneout = zoneout

    recurrent_dropout = _probability("recurrent_dropout",
                                     "float in [0, 1): recurrent dropout, in training mode.")
    zoneout = _probability("zoneout", "float in [0, 1): zoneout probability (its expectation "
                           "in evaluation mode).")

    @property
    def _step_regularised(self):
        recurrent = self._training and self._recurrent_dropout > 0
        return self._dropout_active or recurrent or self._zoneout > 0

    def _regularisers(self):
        """A maker of each layer-direction's :class:`~numrnn.backends.Masks`, or None."""
        p_recurrent = self._recurrent_dropout if self._training else 0.0
        p_zone, training = self._zoneout, self._training
        if not (p_recurrent or p_zone):
            return None
        from numrnn.backends.cpu._random import bernoulli  # compiled: numba loads lazily

        rng, dtype = self._dropout_rng, self.dtype
        sizes = [self._layout.hidden_out]
        if self._spec.cell.has_cell_state:
            sizes.append(self.hidden_size)

        def zone(shape):
            return bernoulli(rng, p_zone, shape, dtype) if training else np.full(shape, p_zone,
                                                                                 dtype)

        def masks(T, B):
            recurrent = None
            if p_recurrent:
                keep = 1.0 - p_recurrent
                recurrent = bernoulli(rng, keep, (B, sizes[0]), dtype, 1.0 / keep)
            zones = [zone((T, B, size)) if p_zone else None for size in sizes] + [None]
            return Masks(recurrent, zones[0], zones[1])

        return masks

    def __repr__(self):
        name = self.cell if isinstance(self.cell, str) else self.cell.name
        text = f"Recurrent({name!r}, {super().__repr__().partition('(')[2]}"
        for attr in ("recurrent_dropout", "zoneout"):
            if getattr(self, attr):
                text = text.replace(", dtype=", f", {attr}={getattr(self, attr)!r}, dtype=", 1)
        return text

