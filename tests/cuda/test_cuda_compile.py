"""The kernels compile for a real GPU, and float32 kernels do no float64 maths.

The simulator runs kernels as Python, so it catches neither code that Numba
cannot compile for CUDA nor a float32 value silently promoted to float64
(slow on most GPUs).  This test records the argument types of every launch
that a forward and backward of each cell make here (the recurrence kernels as
specialised for each cell), then compiles those kernels to PTX in a fresh
process without the simulator (NVVM is enough; no GPU is needed) and looks
for float64 instructions in the float32 ones.
Skipped where the CUDA compiler libraries (``numba-cuda[cu12]`` or
``[cu13]``) are not installed.
"""

import os
import pickle
import subprocess
import sys

import numba
import numpy as np
import pytest
from cuda_problems import CELLS, EXTENDED_CELLS, make_problem

from numrnn.backends import CellSpec

COMPILE = r"""
import pickle, sys, types
import numba.cuda.dispatcher
from numba import cuda
from numrnn._cells import get_cell
from numrnn.backends.cuda import _array_kernels, _kernels

# Compiling an njit function called from a kernel asks the current device for
# its compute capability; there is no device here.
numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(
    compute_capability=(8, 0)
)
try:
    cuda.compile_ptx(lambda a: None, (numba.float32[:],), cc=(8, 0))
except Exception as exc:
    print(f"no CUDA compiler: {exc}")
    raise SystemExit(3)
problems = []
for module, name, signature, is_float32 in pickle.load(open(sys.argv[1], "rb")):
    if module == "recurrence":  # name: (cell name, "forward" or "backward")
        kernel = getattr(_kernels.recurrence(get_cell(name[0])), name[1])
    else:
        kernel = getattr({"_kernels": _kernels, "_array_kernels": _array_kernels}[module], name)
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(8, 0))
    if is_float32 and ".f64" in ptx:
        problems.append(f"{name}{signature}: float64 instructions in a float32 kernel")
print("\n".join(problems))
raise SystemExit(1 if problems else 0)
"""


class _Recorder:
    """Stands in for a kernel: records argument types, then launches it."""

    def __init__(self, module, name, kernel, seen):
        self.module, self.name, self.kernel, self.seen = module, name, kernel, seen

    def __getitem__(self, config):
        launch = self.kernel[config]

        def record_and_launch(*args):
            types = tuple(numba.typeof(getattr(a, "_ary", a)) for a in args)
            float32 = any(getattr(a, "dtype", None) == np.float32 for a in args)
            self.seen.add((self.module, self.name, types, float32))
            return launch(*args)

        return record_and_launch


def test_kernels_compile_for_the_gpu(backend, monkeypatch, tmp_path):
    from numba.core import config

    from numrnn.backends.cuda import _array_kernels, _kernels

    if not config.ENABLE_CUDASIM:
        pytest.skip("on a GPU the other tests compile the kernels")
    seen = set()
    for module in (_kernels, _array_kernels):
        short = module.__name__.rsplit(".", 1)[1]
        for name in dir(module):
            kernel = getattr(module, name)
            if hasattr(kernel, "fn") and not name.startswith("_"):
                monkeypatch.setattr(module, name, _Recorder(short, name, kernel, seen))
    specialised = _kernels.recurrence

    def recorded_recurrence(cell):
        made = specialised(cell)
        return _kernels.Recurrence(*(_Recorder("recurrence", (cell.name, which), kernel, seen)
                                     for which, kernel in zip(made._fields, made, strict=True)))

    monkeypatch.setattr(_kernels, "recurrence", recorded_recurrence)
    rng = np.random.default_rng(0)
    for per_step in (False, True):
        monkeypatch.setattr(backend, "PERSISTENT_MAX_WEIGHT_BYTES", 0 if per_step else 1 << 30)
        for kind, proj_size in [*CELLS.values(), *EXTENDED_CELLS.values()]:
            for dtype in (np.float32, np.float64):
                _, params, data = make_problem(rng, kind, proj_size, 2, 1, 1, 2, True)
                cell = CellSpec(kind, 2, proj_size)
                p = {k: v.astype(dtype) for k, v in params.items()}
                d = {k: v if v is None or k == "lengths" else v.astype(dtype)
                     for k, v in data.items()}  # fmt: skip
                _, _, _, tape = backend.forward(
                    cell, p, d["x"], d["h0"], d["c0"], d["lengths"], False, True
                )
                backend.backward(cell, p, tape, d["grad_output"], d["grad_h_n"], d["grad_c_n"])
    signatures = tmp_path / "signatures.pkl"
    signatures.write_bytes(pickle.dumps(sorted(seen, key=str)))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0", "PYTHONPATH": root}
    result = subprocess.run(
        [sys.executable, "-c", COMPILE, str(signatures)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode == 3:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
