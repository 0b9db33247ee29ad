"""Cells defined by their equations (:func:`numrnn.cells.define_cell`): JANET, and the LSTM
written as equations, whose times are to be read next to the built-in LSTM's in
``bench_layers.Layers``; forward and forward+backward, float32."""

import numpy as np

from .common import (
    SIZES,
    Benchmark,
    assert_close,
    make_layer,
    reference_copy,
    skip_unless_available,
)

DEFINED_CELLS = {
    "janet": {"gates": ("f", "g"), "equations": {
        "h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"}},
    "lstm_by_equations": {"gates": ("i", "f", "g", "o"), "states": ("h", "c"), "equations": {
        "c": "sigmoid(a_f) * c_prev + sigmoid(a_i) * tanh(a_g)",
        "h": "sigmoid(a_o) * tanh(c)"}},
}


class DefinedCells(Benchmark):
    """One-layer ``numrnn.Recurrent`` of a defined cell, checked against the NumPy backend."""

    params = (list(DEFINED_CELLS), ["cpu", "cuda"], list(SIZES))
    param_names = ["cell", "backend", "size"]

    def setup(self, cell, backend, size):
        from numrnn.cells import define_cell

        skip_unless_available(backend)
        steps, batch, input_size, hidden_size = SIZES[size]
        defined = define_cell(cell, **DEFINED_CELLS[cell])
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((steps, batch, input_size)).astype(np.float32)
        self.layer = make_layer(defined, input_size, hidden_size, backend, np.float32)
        reference = reference_copy(self.layer, defined, input_size, hidden_size)
        output, _ = self.layer(self.x)
        assert_close(output, reference(self.x.astype(np.float64))[0], "float32", "output")
        self.grad_output = rng.standard_normal(output.shape).astype(np.float32)
        self.layer.backward(self.grad_output)

    def time_forward(self, cell, backend, size):
        self.layer(self.x)

    def time_forward_backward(self, cell, backend, size):
        self.layer(self.x)
        self.layer.backward(self.grad_output)
