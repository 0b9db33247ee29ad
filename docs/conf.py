"""Sphinx configuration for the numrnn documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import inspect
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

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

#: Placeholder in api.rst replaced by the reference of everything in ``numrnn.__all__``.
PUBLIC_API_MARKER = ".. public-api::"


def public_api_rst():
    """Return reST documenting every name in ``numrnn.__all__``, in that order."""
    names = list(numrnn.__all__)
    if not names:
        return "The public API is not populated yet.\n"
    lines = [".. currentmodule:: numrnn", "", ".. autosummary::", ""]
    lines += [f"   {name}" for name in names]
    lines.append("")
    for name in names:
        obj = getattr(numrnn, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            lines += [f".. autoexception:: {name}", ""]
        elif inspect.isclass(obj):
            lines += [f".. autoclass:: {name}", "   :members:", "   :inherited-members:", ""]
        elif callable(obj):
            lines += [f".. autofunction:: {name}", ""]
        else:
            lines += [f".. autodata:: {name}", ""]
    return "\n".join(lines)


def insert_public_api(app, docname, source):
    """Fill api.rst's placeholder so the reference follows ``__all__`` automatically."""
    if docname == "api":
        source[0] = source[0].replace(PUBLIC_API_MARKER, public_api_rst())


def setup(app):
    """Register the ``source-read`` hook that builds the API reference."""
    app.connect("source-read", insert_public_api)
