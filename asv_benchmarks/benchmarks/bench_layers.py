"""Forward and forward+backward time of every cell, per backend, dtype and size."""

import numpy as np

from .common import (
    CELLS,
    DTYPES,
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

    def setup(self, cell, backend, dtype, size):
        skip_unless_available(backend)
        steps, batch, input_size, hidden_size = SIZES[size]
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((steps, batch, input_size)).astype(dtype)
        self.layer = make_layer(cell, input_size, hidden_size, backend, dtype)
        # The first forward and backward compile; their results are checked before timing.
        output, _ = self.layer(self.x)
        self.grad_output = rng.standard_normal(output.shape).astype(dtype)
        grad_x, _ = self.layer.backward(self.grad_output)

        reference = reference_copy(self.layer, cell, input_size, hidden_size)
        expected_output, _ = reference(self.x.astype(np.float64))
        expected_grad_x, _ = reference.backward(self.grad_output.astype(np.float64))
        assert_close(output, expected_output, dtype, "output")
        assert_close(grad_x, expected_grad_x, dtype, "grad_x")

    def time_forward(self, cell, backend, dtype, size):
        self.layer(self.x)

    def time_forward_backward(self, cell, backend, dtype, size):
        self.layer(self.x)
        self.layer.backward(self.grad_output)
