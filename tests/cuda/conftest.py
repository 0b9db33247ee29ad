"""Run the CUDA backend's tests on a GPU, or on Numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM`` must be set before Numba is imported, so it is set
here, at the top, unless the caller chose (``NUMBA_ENABLE_CUDASIM=0`` runs
these tests on a real GPU).  When Numba was imported earlier in the same
process (a run over the whole ``tests`` folder) without the simulator and no
GPU is usable, every test here is skipped.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import numrnn.backends.cuda as cuda_backend  # noqa: E402

try:
    cuda_backend.check_available()
    SKIP_REASON = None
except RuntimeError as exc:
    SKIP_REASON = str(exc)


@pytest.fixture(autouse=True)
def _cuda_or_simulator():
    """Skip, saying why, where neither a GPU nor the simulator can run the kernels."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)


@pytest.fixture
def rng():
    """Fresh random inputs every run; the seed is printed on failure."""
    seed = np.random.SeedSequence().entropy % 2**32
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)


@pytest.fixture
def backend():
    """The CUDA backend's implementation module (imports numba.cuda)."""
    from numrnn.backends.cuda import _backend

    return _backend
