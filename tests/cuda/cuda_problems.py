"""Random problems (one layer-direction) shared by the CUDA backend's tests."""

from numrnn.backends import CellSpec

CELLS = {
    "rnn_tanh": ("rnn_tanh", 0),
    "rnn_relu": ("rnn_relu", 0),
    "gru": ("gru", 0),
    "lstm": ("lstm", 0),
    "lstm_proj": ("lstm", 2),
}

#: The extended cells (DESIGN.md "Extended cells"), tested on a smaller grid.
EXTENDED_CELLS = {name: (name, 0) for name in ("lstm_peephole", "lstm_cifg", "ligru", "indrnn")}


def make_problem(rng, kind, proj_size, steps, batch, inputs, hidden, variable_length):
    """Parameters, inputs and output gradients of one layer-direction (float64)."""
    cell = CellSpec(kind, hidden, proj_size)
    rows = cell.cell.n_gates * hidden
    h_out = proj_size or hidden
    params = {
        "weight_ih": rng.uniform(-0.7, 0.7, (rows, inputs)),
        "weight_hh": rng.uniform(-0.7, 0.7, rows if cell.cell.diagonal else (rows, h_out)),
        "bias_ih": rng.uniform(-0.5, 0.5, rows),
        "bias_hh": rng.uniform(-0.5, 0.5, rows),
    }
    if proj_size:
        params["weight_hr"] = rng.uniform(-0.7, 0.7, (proj_size, hidden))
    if cell.cell.unit_role:
        params[cell.cell.unit_role] = rng.uniform(-0.7, 0.7, cell.cell.unit_width * hidden)
    lstm = cell.cell.has_cell_state
    data = {
        "x": rng.standard_normal((steps, batch, inputs)),
        "h0": rng.standard_normal((batch, h_out)),
        "c0": rng.standard_normal((batch, hidden)) if lstm else None,
        "lengths": rng.integers(1, steps + 1, batch) if variable_length else None,
        "grad_output": rng.standard_normal((steps, batch, h_out)),
        "grad_h_n": rng.standard_normal((batch, h_out)),
        "grad_c_n": rng.standard_normal((batch, hidden)) if lstm else None,
    }
    if variable_length:
        data["lengths"][rng.integers(batch)] = steps  # the longest row sets the step count
    return cell, params, data
