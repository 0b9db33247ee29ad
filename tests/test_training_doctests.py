"""The Examples sections of the training tools run as doctests."""

import doctest
import importlib

import pytest
from parity import import_torch, uses_torch

MODULES = ["numrnn.activations", "numrnn.heads", "numrnn.losses", "numrnn.optim",
           "numrnn.metrics", "numrnn.model", "numrnn.io"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    if any(uses_torch(test) for test in doctest.DocTestFinder().find(module)):
        import_torch()  # numrnn.io's to_torch example; test_docstrings runs the others alone
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
