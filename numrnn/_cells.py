r"""The cell registry: everything that makes an LSTM an LSTM, written once.

A :class:`Cell` holds a cell's name, its one integer code, its gate order,
its state (``h``, or ``h`` and ``c``), whether it takes a projection, and where
its per-unit maths lives.  The layers, the backends, the stepper, io and the
diagnostics read it; none of them tests a kind string or a class name.

The maths of every cell -- the NumPy reference steps of
:mod:`numrnn.backends.reference`, and the per-row and per-unit functions of
:mod:`numrnn.backends.gates` that the CPU time loops, the stepper and the CUDA
kernels inline -- is found under the names a cell's ``maths`` prefix gives
(:meth:`Cell.functions`), lazily, so ``import numrnn`` does not import Numba.
A user-defined cell names its own ``namespace`` for them.

==================== ==== ============ ===== ============================================
name                 code gates        state equations and reference
==================== ==== ============ ===== ============================================
``"rnn_tanh"``       0    one          h     h' = tanh(a) (Elman 1990)
``"rnn_relu"``       1    one          h     h' = max(a, 0)
``"lstm"``           2    i, f, g, o   h, c  Hochreiter & Schmidhuber 1997, PyTorch's;
                                             takes ``proj_size`` (Sak et al. 2014)
``"gru"``            3    r, z, n      h     Cho et al. 2014, reset after W_hn h
``"lstm_peephole"``  4    i, f, g, o   h, c  i = σ(a_i + p_i c), f = σ(a_f + p_f c),
                                             c' = f c + i g, o = σ(a_o + p_o c'), h' = o
                                             tanh c'; ``weight_ch_l{k}`` (3H,) = p_i, p_f,
                                             p_o (Gers & Schmidhuber 2000, "Recurrent nets
                                             that time and count", IJCNN)
``"lstm_cifg"``      5    f, g, o      h, c  c' = f c + (1 - f) g, h' = o tanh c' (coupled
                                             input and forget gate; Greff et al. 2017,
                                             "LSTM: a search space odyssey", IEEE TNNLS)
``"ligru"``          6    z, n         h     z = σ(a_z), n = relu(a_n), h' = z h + (1 - z) n
                                             (light GRU, without batch norm; Ravanelli et
                                             al. 2018, "Light gated recurrent units for
                                             speech recognition", IEEE TETCI)
``"indrnn"``         7    one          h     h' = relu(W_ih x + b_ih + w_hh ⊙ h + b_hh),
                                             ``weight_hh_l{k}`` a vector (H,) (Li et al.
                                             2018, "Independently recurrent neural
                                             network (IndRNN)", CVPR)
==================== ==== ============ ===== ============================================

``a = W_ih x + b_ih + W_hh h + b_hh`` split by gate in the order given; the
parameters are PyTorch's (``weight_ih_l{k}`` (G·H, in), ``weight_hh_l{k}``
(G·H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G·H,)) plus the extras named.
"""

import importlib
from dataclasses import dataclass

__all__ = ["CELLS", "Cell", "get_cell"]


#: Where the functions of a built-in cell live, by kind (see :meth:`Cell.functions`).
_HOMES = {
    "step_forward": "numrnn.backends.reference",
    "step_backward": "numrnn.backends.reference",
    "row_params": "numrnn.backends.gates",
    "row_forward": "numrnn.backends.gates",
    "row_backward": "numrnn.backends.gates",
    "unit_forward": "numrnn.backends.gates",
    "unit_backward": "numrnn.backends.gates",
}


@dataclass(frozen=True)
class Cell:
    """One recurrent cell's definition.

    Parameters
    ----------
    name : str
        The registered name (``"lstm"``).
    code : int
        The cell's one integer code.
    gates : tuple of str
        Gate order along the rows of ``weight_ih`` / ``weight_hh``.
    states : tuple of str
        ``("h",)`` or ``("h", "c")``: the recurrent state.
    projection : bool
        Whether the cell takes ``proj_size > 0`` (``weight_hr``).
    maths : str
        Prefix of the cell's functions (see :meth:`functions`):
        ``{maths}_step_forward``/``_step_backward`` (NumPy reference),
        ``{maths}_row_forward``/``_row_backward`` (one batch row of one time
        step, which the CPU time loops and the stepper inline),
        ``{maths}_row_params`` (what the rows read of the biases and per-unit
        parameters, split once per call) and
        ``{maths}_unit_forward``/``_unit_backward`` (one unit of one batch row,
        which the CUDA kernels inline).
    taped : int
        Values per unit that forward keeps for backward besides the gate
        values, h_{t-1} and c_{t-1} (LSTM: tanh c; GRU: W_hn h + b_hn).
    direct_grad : bool
        Whether dL/dh_{t-1} has a part that does not go through W_hh (GRU:
        z dh).
    split_grad : bool
        Whether the gradient of the hidden parts (W_hh h + b_hh) differs from
        that of the input parts (GRU: the candidate's r ⊙ (W_hn h + b_hn)).
    relu : bool
        For the vanilla RNN: ReLU instead of tanh.
    diagonal : bool
        Whether the recurrence is elementwise: ``weight_hh`` is a vector
        (G·H,) and the hidden part of gate g at unit j is
        ``w_hh[g*H + j] * h[j] + b_hh[g*H + j]`` (IndRNN).
    unit_role : str or None
        The cell's per-unit parameters, if it has any: one vector (K·H,)
        named ``{unit_role}_l{k}``, after the biases (peephole LSTM:
        ``"weight_ch"``, p_i, p_f, p_o).
    unit_width : int
        K, the number of per-unit parameters of each unit (0 without).
    namespace : str, module or None
        Where the cell's functions live: a module name or any object with
        them as attributes (a user-defined cell's generated functions).
        None: the built-in modules, :mod:`numrnn.backends.reference` for the
        NumPy steps and :mod:`numrnn.backends.gates` for the compiled ones.
    """

    name: str
    code: int
    gates: tuple
    states: tuple
    projection: bool
    maths: str
    taped: int = 0
    direct_grad: bool = False
    split_grad: bool = False
    relu: bool = False
    diagonal: bool = False
    unit_role: str = None
    unit_width: int = 0
    namespace: object = None

    @property
    def n_gates(self):
        """int: number of gates G (rows of ``weight_ih`` are G·H)."""
        return len(self.gates)

    @property
    def has_cell_state(self):
        """bool: whether the state is the pair (h, c)."""
        return len(self.states) == 2

    @property
    def variant(self):
        """str: the name of the cell's compiled time loops and kernels.

        Cells with the same variant and namespace share them (``"rnn_tanh"``
        and ``"rnn_relu"``: the ReLU flag is an argument).
        """
        return self.maths + ("_diagonal" if self.diagonal else "")

    @property
    def kernel_key(self):
        """hashable: identifies the compiled code of the cell (see :attr:`variant`)."""
        namespace = self.namespace
        return (namespace if namespace is None or isinstance(namespace, str) else id(namespace),
                self.variant)

    def functions(self, kind):
        """The cell's function ``kind``: ``{maths}_{kind}`` in its namespace.

        Parameters
        ----------
        kind : {"step_forward", "step_backward", "row_params", "row_forward", \
"row_backward", "unit_forward", "unit_backward"}

        Returns
        -------
        callable
            A NumPy function (``step_*``) or a numba dispatcher.
        """
        namespace = self.namespace
        if namespace is None:
            namespace = _HOMES[kind]
        if isinstance(namespace, str):
            namespace = importlib.import_module(namespace)
        return getattr(namespace, f"{self.maths}_{kind}")


_DEFINITIONS = (
    Cell("rnn_tanh", 0, ("h",), ("h",), False, "rnn"),
    Cell("rnn_relu", 1, ("h",), ("h",), False, "rnn", relu=True),
    Cell("lstm", 2, ("i", "f", "g", "o"), ("h", "c"), True, "lstm", taped=1),
    Cell("gru", 3, ("r", "z", "n"), ("h",), False, "gru", taped=1, direct_grad=True,
         split_grad=True),
    Cell("lstm_peephole", 4, ("i", "f", "g", "o"), ("h", "c"), False, "lstm_peephole", taped=1,
         unit_role="weight_ch", unit_width=3),
    Cell("lstm_cifg", 5, ("f", "g", "o"), ("h", "c"), False, "lstm_cifg", taped=1),
    Cell("ligru", 6, ("z", "n"), ("h",), False, "ligru", direct_grad=True),
    Cell("indrnn", 7, ("h",), ("h",), False, "rnn", relu=True, diagonal=True),
)

#: The registered cells by name.
CELLS = {cell.name: cell for cell in _DEFINITIONS}

#: The registered cells by code (``BY_CODE[cell.code] is cell``).
BY_CODE = tuple(sorted(_DEFINITIONS, key=lambda cell: cell.code))
assert [cell.code for cell in BY_CODE] == list(range(len(BY_CODE)))


def get_cell(cell):
    """The registered :class:`Cell` for a name (a Cell is returned as it is).

    Raises
    ------
    ValueError
        If the name is not registered, listing the names that are.
    TypeError
        If ``cell`` is neither a string nor a Cell.
    """
    if isinstance(cell, Cell):
        return cell
    if not isinstance(cell, str):
        raise TypeError(f"cell must be a cell name or a Cell, got {type(cell).__name__}")
    try:
        return CELLS[cell]
    except KeyError:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}") from None
