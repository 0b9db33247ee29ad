"""Peak memory and time of one training step: forward, BPTT and an Adam update."""

import numpy as np

import numrnn

from .common import (
    CELLS,
    SIZES,
    Benchmark,
    check_learns,
    make_layer,
    skip_unless_available,
)


class TrainingStep(Benchmark):
    """One-layer float32 cell, mean-squared error on every output, Adam."""

    params = (list(CELLS), ["numpy", "cpu"], list(SIZES))
    param_names = ["cell", "backend", "size"]

    def setup(self, cell, backend, size):
        skip_unless_available(backend)
        steps, batch, input_size, hidden_size = SIZES[size]
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((steps, batch, input_size)).astype(np.float32)
        self.target = rng.standard_normal((steps, batch, hidden_size)).astype(np.float32)
        self.layer = make_layer(cell, input_size, hidden_size, backend, np.float32)
        self.optimizer = numrnn.Adam(lr=1e-3)
        check_learns(self._step)

    def _step(self):
        output, _ = self.layer(self.x)
        error = output - self.target
        self.layer.backward(2 * error / error.size)
        self.optimizer.step(self.layer.parameters(), self.layer.grads)
        return float(np.mean(error * error))

    def time_training_step(self, cell, backend, size):
        self._step()

    def peakmem_training_step(self, cell, backend, size):
        self._step()
