"""Streaming: the cost of one ``layer.step`` call (B=1, I=32, H=64)."""

import numpy as np

from .common import CELLS, DTYPES, Benchmark, assert_close, make_layer, skip_unless_available


class Step(Benchmark):
    """One time step of a one-layer cell, fed the state the previous call returned."""

    params = (list(CELLS), ["numpy", "cpu", "cuda"], list(DTYPES))
    param_names = ["cell", "backend", "dtype"]

    def setup(self, cell, backend, dtype):
        skip_unless_available(backend)
        rng = np.random.default_rng(0)
        self.layer = make_layer(cell, 32, 64, backend, dtype).eval()
        xs = rng.standard_normal((3, 1, 32)).astype(dtype)
        # Stepping three times must give the whole-sequence forward (this compiles, too).
        expected, _ = self.layer(xs)
        state = None
        for t in range(3):
            out, state = self.layer.step(xs[t], state)
            assert_close(out, expected[t].astype(np.float64), dtype, f"step {t}")
        self.x_t, self.state = xs[0], state

    def time_step(self, cell, backend, dtype):
        # Fed back, as a streaming loop does (an older state takes the validating path).
        self.state = self.layer.step(self.x_t, self.state)[1]
