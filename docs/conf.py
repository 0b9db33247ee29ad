"""Sphinx configuration for the numrnn documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import inspect
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(DOCS), DOCS]

from public_api import public_api  # noqa: E402

import numrnn  # noqa: E402

project = "numrnn"
author = "the numrnn developers"
copyright = "2026, the numrnn developers"
version = release = numrnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

exclude_patterns = ["_build"]
html_theme = "alabaster"
autosummary_generate = False
autodoc_member_order = "bysource"
# Class pages list their methods through autodoc ``:members:``; numpydoc's own member
# tables would need autosummary stub pages.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

#: Placeholder in api.rst replaced by the reference of the public API (see public_api.py).
PUBLIC_API_MARKER = ".. public-api::"


def object_rst(name, obj):
    """Return the autodoc directive documenting ``obj`` under its module's ``name``."""
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return [f".. autoexception:: {name}", ""]
    if inspect.isclass(obj):
        return [f".. autoclass:: {name}", "   :members:", "   :inherited-members:", ""]
    if callable(obj):
        return [f".. autofunction:: {name}", ""]
    return [f".. autodata:: {name}", ""]


def public_api_rst():
    """Return reST documenting the public API: a section per module, a summary table each."""
    lines = []
    for module, names in public_api().items():
        lines += [module.__name__, "-" * len(module.__name__), ""]
        lines += [f".. automodule:: {module.__name__}", ""]
        if not names:
            continue
        lines += [".. autosummary::", ""] + [f"   {name}" for name in names] + [""]
        for name in names:
            lines += object_rst(name, getattr(module, name))
    return "\n".join(lines)


def insert_public_api(app, docname, source):
    """Fill api.rst's placeholder so the reference follows ``__all__`` automatically."""
    if docname == "api":
        source[0] = source[0].replace(PUBLIC_API_MARKER, public_api_rst())


def setup(app):
    """Register the ``source-read`` hook that builds the API reference."""
    app.connect("source-read", insert_public_api)
