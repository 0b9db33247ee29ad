"""Forward and forward+backward time of every cell, per backend, dtype and size, and with
variable lengths; the extended cells, and cells defined by their equations, with and without
their regularisers."""

import numpy as np

from .common import (
    CELLS,
    DTYPES,
    EXTENDED_CELLS,
    REGULARISERS,
    SIZES,
    Benchmark,
    assert_close,
    make_layer,
    reference_copy,
    skip_unless_available,
)


class Layers(Benchmark):
    """One-layer unidirectional RNN/LSTM/GRU on a full batch of sequences of length T."""

    params = (list(CELLS), ["numpy", "cpu", "cuda"], list(DTYPES), list(SIZES))
    param_names = ["cell", "backend", "dtype", "size"]
    #: Lengths drawn uniformly from [T/2, T] (:class:`VariableLengths`), or None.
    variable = False

    def setup(self, cell, backend, dtype, size):
        skip_unless_available(backend)
        steps, batch, input_size, hidden_size = SIZES[size]
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((steps, batch, input_size)).astype(dtype)
        self.lengths = (rng.integers(max(1, steps // 2), steps + 1, size=batch)
                        if self.variable else None)
        self.layer = make_layer(cell, input_size, hidden_size, backend, dtype)
        # The first forward and backward compile; their results are checked before timing.
        output, _ = self.layer(self.x, lengths=self.lengths)
        self.grad_output = rng.standard_normal(output.shape).astype(dtype)
        grad_x, _ = self.layer.backward(self.grad_output)

        reference = reference_copy(self.layer, cell, input_size, hidden_size)
        expected_output, _ = reference(self.x.astype(np.float64), lengths=self.lengths)
        expected_grad_x, _ = reference.backward(self.grad_output.astype(np.float64))
        assert_close(output, expected_output, dtype, "output")
        assert_close(grad_x, expected_grad_x, dtype, "grad_x")

    def time_forward(self, cell, backend, dtype, size):
        self.layer(self.x, lengths=self.lengths)

    def time_forward_backward(self, cell, backend, dtype, size):
        self.layer(self.x, lengths=self.lengths)
        self.layer.backward(self.grad_output)


class VariableLengths(Layers):
    """:class:`Layers` on batches whose lengths are drawn uniformly from [T/2, T], float32
    (the ``"cpu"`` backend's input projection then skips the padded steps)."""

    params = (list(CELLS), ["numpy", "cpu", "cuda"], ["float32"], list(SIZES))
    variable = True


class ExtendedCells(Benchmark):
    """One-layer ``numrnn.Recurrent`` of each extended cell, float32, plain or with recurrent
    dropout or zoneout (training mode, so the masks apply)."""

    params = (list(EXTENDED_CELLS), ["cpu", "cuda"], list(REGULARISERS), list(SIZES))
    param_names = ["cell", "backend", "regulariser", "size"]

    def setup(self, cell, backend, regulariser, size):
        skip_unless_available(backend)
        steps, batch, input_size, hidden_size = SIZES[size]
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((steps, batch, input_size)).astype(np.float32)
        self.layer = make_layer(cell, input_size, hidden_size, backend, np.float32,
                                **REGULARISERS[regulariser])
        # Checked in evaluation mode (no masks, zoneout's expectation), then timed in training.
        reference = reference_copy(self.layer, cell, input_size, hidden_size)
        reference.zoneout = self.layer.zoneout
        self.layer.eval()
        reference.eval()
        assert_close(self.layer(self.x)[0], reference(self.x.astype(np.float64))[0], "float32",
                     "output")
        self.layer.train()
        output, _ = self.layer(self.x)
        self.grad_output = rng.standard_normal(output.shape).astype(np.float32)
        self.layer.backward(self.grad_output)

    def time_forward(self, cell, backend, regulariser, size):
        self.layer(self.x)

    def time_forward_backward(self, cell, backend, regulariser, size):
        self.layer(self.x)
        self.layer.backward(self.grad_output)


#: Cells defined by their equations (numrnn.cells.define_cell): JANET, and the LSTM written as
#: equations, whose times are to be read next to the built-in LSTM's.
DEFINED_CELLS = {
    "janet": {"gates": ("f", "g"), "equations": {
        "h": "sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - 1)) * tanh(a_g)"}},
    "lstm_by_equations": {"gates": ("i", "f", "g", "o"), "states": ("h", "c"), "equations": {
        "c": "sigmoid(a_f) * c_prev + sigmoid(a_i) * tanh(a_g)",
        "h": "sigmoid(a_o) * tanh(c)"}},
}


class DefinedCells(ExtendedCells):
    """:class:`ExtendedCells`' benchmark for cells defined by their equations."""

    params = (list(DEFINED_CELLS), ["cpu", "cuda"], list(REGULARISERS), list(SIZES))

    def setup(self, cell, backend, regulariser, size):
        from numrnn.cells import define_cell

        super().setup(define_cell(cell, **DEFINED_CELLS[cell]), backend, regulariser, size)
