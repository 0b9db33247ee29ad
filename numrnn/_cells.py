r"""The cell registry: everything that makes an LSTM an LSTM, written once.

A :class:`Cell` holds a cell's name, its one integer code, its gate order,
its state (``h``, or ``h`` and ``c``), whether it takes a projection, and where
its per-unit maths lives.  The layers, the backends, the stepper, io and the
diagnostics read it; none of them tests a kind string or a class name.

The maths of every cell -- the per-unit forward and backward functions
shared by the CPU loops and the CUDA kernels, and the per-row loops the CPU
time loop and stepper inline -- is in :mod:`numrnn.backends.gates`, under the
names a cell's ``maths`` prefix gives.  It is reached lazily (through
:meth:`Cell.functions`), so ``import numrnn`` does not import Numba.

================ ==== ============ ======= ============
name             code gates        state   projection
================ ==== ============ ======= ============
``"rnn_tanh"``   0    one          h       no
``"rnn_relu"``   1    one          h       no
``"lstm"``       2    i, f, g, o   h, c    yes
``"gru"``        3    r, z, n      h       no
================ ==== ============ ======= ============
"""

import importlib
from dataclasses import dataclass

__all__ = ["CELLS", "Cell", "get_cell"]


@dataclass(frozen=True)
class Cell:
    """One recurrent cell's definition.

    Parameters
    ----------
    name : str
        The registered name (``"lstm"``).
    code : int
        The cell's one integer code (compiled code branches on it).
    gates : tuple of str
        Gate order along the rows of ``weight_ih`` / ``weight_hh``.
    states : tuple of str
        ``("h",)`` or ``("h", "c")``: the recurrent state.
    projection : bool
        Whether the cell takes ``proj_size > 0`` (``weight_hr``).
    maths : str
        Prefix of the cell's functions in :mod:`numrnn.backends.gates`:
        ``{maths}_row_forward`` and ``{maths}_row_backward``, one batch row of
        one time step, which the CPU time loops and the stepper inline, and
        ``{maths}_row_params``, what the rows read of the biases.
    taped : int
        Values per unit that forward keeps for backward besides the gate
        values, h_{t-1} and c_{t-1} (LSTM: tanh c; GRU: W_hn h + b_hn).
    direct_grad : bool
        Whether dL/dh_{t-1} has a part that does not go through W_hh (GRU: z
        dh), and the gradient of the hidden parts differs from that of the
        input parts (GRU: the candidate's r ⊙ (W_hn h + b_hn)).
    relu : bool
        For the vanilla RNN: ReLU instead of tanh.
    """

    name: str
    code: int
    gates: tuple
    states: tuple
    projection: bool
    maths: str
    taped: int = 0
    direct_grad: bool = False
    relu: bool = False

    @property
    def n_gates(self):
        """int: number of gates G (rows of ``weight_ih`` are G·H)."""
        return len(self.gates)

    @property
    def has_cell_state(self):
        """bool: whether the state is the pair (h, c)."""
        return len(self.states) == 2

    def functions(self, kind):
        """The cell's compiled function ``kind`` of :mod:`numrnn.backends.gates`.

        Parameters
        ----------
        kind : {"row_params", "row_forward", "row_backward"}

        Returns
        -------
        numba dispatcher
        """
        gates = importlib.import_module("numrnn.backends.gates")
        return getattr(gates, f"{self.maths}_{kind}")


_DEFINITIONS = (
    Cell("rnn_tanh", 0, ("h",), ("h",), False, "rnn"),
    Cell("rnn_relu", 1, ("h",), ("h",), False, "rnn", relu=True),
    Cell("lstm", 2, ("i", "f", "g", "o"), ("h", "c"), True, "lstm", taped=1),
    Cell("gru", 3, ("r", "z", "n"), ("h",), False, "gru", taped=1, direct_grad=True),
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
