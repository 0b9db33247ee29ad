"""The Examples sections of the training tools run as doctests."""

import doctest
import importlib

import pytest

MODULES = ["numrnn.activations", "numrnn.heads", "numrnn.losses", "numrnn.optim",
           "numrnn.metrics", "numrnn.model", "numrnn.io"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
