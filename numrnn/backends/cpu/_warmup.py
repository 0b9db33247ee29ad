"""``numrnn.warmup``: the ``"cpu"`` backend's kernels compiled (or loaded from Numba's cache)
ahead of use."""

import numpy as np

__all__ = ["warmup"]


def warmup(dtypes=(np.float32, np.float64), kinds=None):
    """Compile the kernels ahead of use (or load them from Numba's cache).

    Compiles the panel kernel of the per-step products, then runs a tiny
    forward and backward of each cell kind in each dtype (through the loops
    that use that kernel, as every later call then does), and a stepper step
    with and without a batch axis, so that the first real call does not pay
    for compilation.

    Parameters
    ----------
    dtypes : sequence of dtypes
        Any of ``numpy.float32``, ``numpy.float64``.
    kinds : sequence of str, optional
        Registered cell names; by default every registered cell (cells with
        the same variant, such as ``"rnn_tanh"`` and ``"rnn_relu"``, share
        their kernels, compiled once).

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn import warmup
    >>> warmup(dtypes=(np.float32,), kinds=("gru",))   # the first GRU call then starts at once
    """
    from ..._cells import CELLS
    from ..._recurrent.params import ParamLayout
    from .. import CellSpec, cpu

    if kinds is None:  # one cell per variant: the others share its kernels
        kinds = list({cell.kernel_key: name for name, cell in reversed(CELLS.items())}.values())

    T, B, I, H = 2, 2, 2, 2
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        cpu._panels.compile_kernels(dtype)
        for kind in kinds:
            cell = CellSpec(kind, H, 0)
            # Stored as the layers store theirs: the same compiled types.
            layout = ParamLayout(cell, I, 1, True, False)
            params = layout.per_direction(layout.initial(rng, dtype), dtype)[0]
            x = np.ones((T, B, I), dtype)
            h0 = np.zeros((B, H), dtype)
            c0 = h0 if cell.cell.has_cell_state else None
            out, h_n, c_n, tape = cpu.forward(cell, params, x, h0, c0, None, False, True)
            cpu.backward(cell, params, tape, out, h_n, c_n)
            # The forward that runs the input projection in the steps, made for large
            # batches: forced on this one (a call of another thread meanwhile may run on
            # the panels too, which gives the same results).
            forced = {"PANEL_MIN_ROWS": 1, "PANEL_MIN_K": 1, "FUSE_MIN_BYTES": 0}
            saved = {k: getattr(cpu, k) for k in forced}
            vars(cpu).update(forced)
            try:
                cpu.forward(cell, params, x, h0, c0, None, False, False)
            finally:
                vars(cpu).update(saved)
            stepper = cpu.make_stepper(cell, [params], dtype)
            for x_t, states in ((x[0], [h0[None]]), (x[0, 0], [h0[None, 0]])):  # (un)batched
                states += [] if c0 is None else [np.zeros_like(states[0])]
                start = stepper(x_t.shape)[1]
                start(x_t, states[0] if c0 is None else tuple(states))
