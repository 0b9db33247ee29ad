"""Start-up cost of the CPU backend: importing numrnn, building a layer and its first forward
and backward call, in a fresh process.

"cold" starts with an empty Numba cache, so the time is the compilation of the cell's loops;
"cached" starts with the cache that a previous process filled, so the time is loading them.
"""

import shutil
import subprocess
import sys
import tempfile

from .common import CELLS, DTYPES, PROFILE, Benchmark, skip_unless_available

#: Untimed: point Numba's cache at ``{cache_dir}`` (a Python expression); import NumPy.
START = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache_dir}
import numpy as np
"""
#: Timed: everything up to the first gradient (the backend may compile at any of these steps).
FIRST_CALL = """
import numrnn
layer = numrnn.{cell}(4, 8, backend="cpu", dtype=np.{dtype}, seed=0)
x = np.ones((5, 2, 4), dtype=np.{dtype})
output, _ = layer(x)
layer.backward(np.ones_like(output))
"""


class FirstCall(Benchmark):
    """Wall time from ``import numrnn`` to the first gradient."""

    params = (list(CELLS), list(DTYPES), ["cold", "cached"])
    param_names = ["cell", "dtype", "cache"]
    number = 1
    repeat = 3
    warmup_time = 0
    #: Set by setup; asv calls teardown even after setup skipped the benchmark.
    cache_dir = None

    def setup(self, cell, dtype, cache):
        if PROFILE == "tiny":
            raise NotImplementedError("compile times are not measured in the tiny profile")
        skip_unless_available("cpu")
        self.cache_dir = tempfile.mkdtemp(prefix="numrnn-bench-cache-")
        if cache == "cached":
            start = START.format(cache_dir=repr(self.cache_dir))
            first_call = FIRST_CALL.format(cell=cell, dtype=dtype)
            subprocess.run([sys.executable, "-c", start + first_call], check=True)

    def teardown(self, cell, dtype, cache):
        if self.cache_dir is not None:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def timeraw_first_call(self, cell, dtype, cache):
        if cache == "cold":
            # A fresh directory per sample, so that no sample loads what another compiled.
            cache_dir = f"__import__('tempfile').mkdtemp(dir={self.cache_dir!r})"
        else:
            cache_dir = repr(self.cache_dir)
        return FIRST_CALL.format(cell=cell, dtype=dtype), START.format(cache_dir=cache_dir)
