"""The public API's docstrings: numpydoc validation, and their examples run as doctests.

The public API is what docs/public_api.py says (the API reference documents the same): every
name in ``numrnn.__all__``, the public names of the public submodules and, for classes, their
public methods.
"""

import doctest
import inspect

import numpydoc.validate
import pytest
from parity import import_torch, uses_torch
from public_api import public_api

import numrnn

#: numpydoc checks that are not required here: extended summaries, examples and See Also
#: sections are welcome but not mandatory on every method; See Also entries may omit their
#: description; a returned ``self`` needs no description; context managers written with
#: ``contextlib.contextmanager`` are generators without a Yields section; a parameter whose
#: name and type say everything may go without a description.
IGNORED_CHECKS = {"ES01", "EX01", "SA01", "SA02", "SA03", "SA04", "RT03", "YD01", "PR07"}

API = public_api()


def public_objects():
    """Yield ``(import path, object)`` for every public object, each object once."""
    seen = set()
    for module, names in API.items():
        for name in names:
            obj = getattr(module, name)
            yield f"{module.__name__}.{name}", obj
            if not inspect.isclass(obj) or issubclass(obj, BaseException):
                continue
            for member_name, member in inspect.getmembers(obj, callable):
                if member_name.startswith("_") or id(member) in seen:
                    continue
                if member.__doc__ is None and inspect.getdoc(member):
                    # An override that inherits its docstring (as Sphinx shows it): that
                    # docstring is checked on the method that writes it.
                    continue
                seen.add(id(member))
                yield f"{module.__name__}.{name}.{member_name}", member


PUBLIC = dict(public_objects())


def test_numrnn_exports_a_public_api():
    assert numrnn.__all__


@pytest.mark.parametrize("import_path", sorted(PUBLIC))
def test_numpydoc(import_path):
    errors = [
        f"{code}: {message}"
        for code, message in numpydoc.validate.validate(import_path)["errors"]
        if code not in IGNORED_CHECKS
    ]
    assert not errors, f"{import_path}:\n" + "\n".join(errors)


def doctests():
    """Every doctest in the public modules' docstrings and the public objects' docstrings."""
    finder = doctest.DocTestFinder(recurse=False)
    found = []
    for module in API:
        found += finder.find(module, module.__name__)
    for import_path, obj in PUBLIC.items():
        found += finder.find(obj, import_path, globs={})
    return [test for test in found if test.examples]


@pytest.mark.parametrize("test", doctests(), ids=lambda test: test.name)
def test_doctest(test):
    if test.name.startswith("numrnn.distributed"):
        pytest.importorskip("distributed")  # the dask extra
    if uses_torch(test):
        import_torch()  # an example of moving weights to PyTorch: skipped without it
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)
