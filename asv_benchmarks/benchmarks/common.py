"""Shared pieces of the benchmarks: size profiles, backend availability, the base class."""

import importlib
import os

import numpy as np

import numrnn
from numrnn.backends import BACKENDS

#: Benchmark sizes, chosen by ``NUMRNN_BENCH_PROFILE``: name -> (T, B, I, H).
PROFILES = {
    "tiny": {"T5_B2_I4_H8": (5, 2, 4, 8)},
    "small": {
        "T20_B16_I32_H64": (20, 16, 32, 64),
        "T50_B64_I128_H128": (50, 64, 128, 128),
    },
    "large": {
        "T50_B128_I256_H512": (50, 128, 256, 512),
        "T100_B32_I64_H128": (100, 32, 64, 128),
        "T1000_B1_I16_H64": (1000, 1, 16, 64),
    },
}
PROFILE = os.environ.get("NUMRNN_BENCH_PROFILE", "small")
if PROFILE not in PROFILES:
    raise ValueError(f"NUMRNN_BENCH_PROFILE must be one of {sorted(PROFILES)}, not {PROFILE!r}")
SIZES = PROFILES[PROFILE]

CELLS = ("RNN", "LSTM", "GRU")
#: The extended cells (``numrnn.Recurrent``), and the regularisers benchmarked on them.
EXTENDED_CELLS = ("lstm_peephole", "lstm_cifg", "ligru", "indrnn")
REGULARISERS = {"none": {}, "recurrent_dropout": {"recurrent_dropout": 0.25},
                "zoneout": {"zoneout": 0.1}}
DTYPES = ("float32", "float64")

#: Largest acceptable difference from the float64 NumPy reference, per dtype.
TOLERANCES = {"float32": 2e-3, "float64": 1e-6}


def skip_unless_available(backend):
    """Raise NotImplementedError (asv's "skip") if ``backend`` cannot run here.

    The CUDA backend needs a real GPU: the simulator would only time Python threads.
    """
    try:
        module = importlib.import_module(BACKENDS[backend])
    except ImportError as exc:
        raise NotImplementedError(f"backend {backend!r} is not importable: {exc}") from exc
    if backend == "cuda" and not module.is_usable():
        raise NotImplementedError("no usable GPU")


def make_layer(cell, input_size, hidden_size, backend, dtype, **options):
    """Return a one-layer ``numrnn.<cell>`` (``numrnn.Recurrent(cell)`` for a cell name) with
    a fixed seed."""
    if cell in CELLS:
        return getattr(numrnn, cell)(input_size, hidden_size, 1, backend=backend, dtype=dtype,
                                     seed=0, **options)
    return numrnn.Recurrent(cell, input_size, hidden_size, 1, backend=backend, dtype=dtype,
                            seed=0, **options)


def reference_copy(layer, cell, input_size, hidden_size):
    """Return a float64 ``"numpy"``-backend layer with ``layer``'s parameters."""
    reference = make_layer(cell, input_size, hidden_size, "numpy", np.float64)
    reference.load_state_dict({k: v.astype(np.float64) for k, v in layer.state_dict().items()})
    return reference


def assert_close(actual, expected, dtype, what):
    """Fail the benchmark's setup if ``actual`` is not ``expected`` within the tolerance."""
    error = np.max(np.abs(np.asarray(actual, dtype=np.float64) - expected))
    if not error <= TOLERANCES[dtype]:
        raise AssertionError(f"{what} differs from the NumPy reference by {error:.3g}")


def check_learns(step, steps=3):
    """Raise unless the loss that ``step()`` returns goes down over a few steps (a setup check)."""
    before = step()
    for _ in range(steps):
        after = step()
    if not after < before:
        raise AssertionError(f"loss did not go down: {before} -> {after}")


class Benchmark:
    """Base class: one process per benchmark, a generous timeout for the NumPy backend."""

    processes = 1
    timeout = 600
