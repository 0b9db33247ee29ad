"""What the API reference (docs/api.rst) and tests/test_docstrings.py treat as public.

The public API is every name in ``numrnn.__all__`` and, in every public submodule (no leading
underscore; the backends are documented in prose), the names in its ``__all__``, or else the
classes and functions it defines without a leading underscore.
"""

import importlib
import inspect
import pkgutil

import numrnn

#: Submodules left out of the API reference: docs/backends.rst describes the backends.
UNLISTED_SUBMODULES = {"backends"}


def public_submodules():
    """Return the public submodules of numrnn, sorted by name."""
    return [
        importlib.import_module(f"numrnn.{info.name}")
        for info in sorted(pkgutil.iter_modules(numrnn.__path__), key=lambda info: info.name)
        if not info.name.startswith("_") and info.name not in UNLISTED_SUBMODULES
    ]


def public_names(module):
    """Return ``module``'s public names: its ``__all__``, else what it defines publicly."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    ]


def public_api():
    """Return ``{module: [names]}``: numrnn first, then each public submodule.

    A submodule's name that numrnn itself exports is listed under numrnn only.
    """
    exported = {id(getattr(numrnn, name)) for name in numrnn.__all__}
    api = {numrnn: list(numrnn.__all__)}
    for module in public_submodules():
        names = [n for n in public_names(module) if id(getattr(module, n)) not in exported]
        if names:
            api[module] = names
    return api
