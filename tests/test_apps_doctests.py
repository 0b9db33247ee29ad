"""The Examples sections of the applications run as doctests."""

import doctest
import importlib

import pytest

MODULES = ["numrnn.estimators", "numrnn.forecasting", "numrnn.text", "numrnn.diagnostics",
           "numrnn.datasets"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    if name == "numrnn.diagnostics":
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
