"""PyTorch for the parity tests, or a skip that says how to get its CPU build.

torch is optional for the test suite: the README's test command does not install it, because
on Linux PyPI's ``torch`` is the CUDA build (triton and the ``nvidia-*`` packages, several GB).
CI (``.ci/run``) installs ``torch==2.13.0`` and runs every parity test.
"""

import re

import pytest

#: Why a parity test is skipped, and how to run it.
WITHOUT_TORCH = (
    "torch is not installed: this test compares with PyTorch. Install its CPU build, the "
    "version CI uses: pip install torch==2.13.0 where your package index serves the CPU "
    "wheel (PyPI's Linux wheel is the CUDA build, several GB; docs/install.rst says more)"
)


def import_torch():
    """The ``torch`` module, or skip the calling test (or module) with :data:`WITHOUT_TORCH`."""
    return pytest.importorskip("torch", reason=WITHOUT_TORCH)


def uses_torch(doctest_):
    """True if one of the examples of ``doctest_`` (a ``doctest.DocTest``) imports torch."""
    return any(re.match(r"(import|from) .*\btorch\b", example.source)
               for example in doctest_.examples)
