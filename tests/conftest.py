"""Shared fixtures: the backends every layer-contract test runs on."""

import numpy as np
import pytest

#: Host backends the layer contract is tested on (CUDA has its own suite in tests/cuda).
BACKENDS = ["numpy", "cpu"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each host backend in turn."""
    return request.param


@pytest.fixture
def rng():
    """Fresh random inputs every run; the seed is printed on failure."""
    seed = np.random.SeedSequence().entropy % 2**32
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)
