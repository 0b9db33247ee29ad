"""Sphinx configuration for the numrnn documentation.

Build with ``python -m sphinx -n -W --keep-going -b html docs docs/_build/html`` (what CI
runs): nitpicky, so a reference that points nowhere fails the build. Nothing is fetched while
building or reading the site: MathJax is served from the built site, the examples are not run
(their gallery shows the plots their full runs wrote to ``_static/``).
"""

import sys
from itertools import groupby
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS)]

from public_api import api_sections, documented_data  # noqa: E402

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
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    # Copies its bundled MathJax 3 into _static/mathjax and points mathjax_path there.
    "sphinx-mathjax-offline",
]

# Every reference must resolve (-n): a missing target is a warning, and -W makes it an error.
nitpicky = True
exclude_patterns = ["_build", "examples/GALLERY_HEADER.rst", "generated/api_stubs.rst"]
templates_path = ["_templates"]

html_theme = "pydata_sphinx_theme"
html_title = f"numrnn {release}"
html_static_path = ["_static"]
html_css_files = ["numrnn.css"]
html_theme_options = {
    "logo": {"text": f"numrnn {release}"},
    "header_links_before_dropdown": 6,
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # An object's page keeps the left sidebar (the other objects) and gives the right one's
    # width to the code; its methods follow on the page itself.
    "secondary_sidebar_items": {"*": ["page-toc"], "gallery/*": ["page-toc"],
                                "generated/*": []},
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# Only the objects of the API and the examples have neighbours to navigate to: elsewhere the
# left sidebar would be empty, and its width goes to the code.
html_sidebars = {"*": [], "generated/*": ["sidebar-nav-bs"], "gallery/*": ["sidebar-nav-bs"]}
html_show_sourcelink = False

# The prompts and outputs of examples are not copied, only the code.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

autosummary_generate = ["generated/api_stubs.rst"]
autodoc_member_order = "bysource"
# Signatures show defaults as written (``dtype=np.float32``), not their repr.
autodoc_preserve_defaults = True
# Class pages list their methods through autodoc ``:members:`` (_templates/autosummary).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "gallery",
    # _common.py is the examples' shared command line, not an example.
    "ignore_pattern": r"(^|[\\/])_[^\\/]*\.py$",
    # The examples train for minutes in full mode: the docs show the plots those runs wrote to
    # _static/ (each script names its plot in ``sphinx_gallery_thumbnail_path``), and
    # tests/test_examples.py runs every example in its fast mode.
    "plot_gallery": "False",
    "download_all_examples": False,
    "remove_config_comments": True,
    "write_computation_times": False,
    "show_signature": False,
}

#: Placeholder in api.rst replaced by the sections of the API (public_api.SECTIONS).
PUBLIC_API_MARKER = ".. public-api::"
#: Where autosummary writes one page per public object.
GENERATED = DOCS / "generated"


def public_api_rst():
    """Return reST for the API index: a heading, its sentence and a summary table per section.

    A section that lists public modules shows their docstrings first, and their data documented
    with ``#:`` comments (the names ``fit`` and the heads accept) after the table.
    """
    underline = {1: "-", 2: "~"}
    lines = [".. automodule:: numrnn", ""]
    for heading, depth, summary, modules, paths in api_sections():
        lines += [heading, underline[depth] * len(heading), "", summary, ""]
        lines += [line for module in modules for line in (f".. automodule:: {module}", "")]
        # A table per module exporting them, its names relative to it: the one-line summaries'
        # references resolve there, and autosummary wants no name repeating the module.
        for module, names in groupby(paths, key=lambda path: path.rpartition(".")[0]):
            lines += [f".. currentmodule:: {module}", "",
                      ".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
            lines += [f"   {name.rpartition('.')[2]}" for name in names] + [""]
        lines += [line for module in modules for name in documented_data(module)
                  for line in (f".. autodata:: {module}.{name}", "   :no-value:", "")]
    return "\n".join(lines)


def write_autosummary_stubs(app, config):
    """Write the list autosummary makes its pages from, and delete pages of removed objects.

    Runs before Sphinx looks for documents, so a stale page never reaches the build.
    """
    paths = [path for *_, section in api_sections() for path in section]
    GENERATED.mkdir(exist_ok=True)
    for page in GENERATED.glob("numrnn*.rst"):
        if page.stem not in paths:
            page.unlink()
    listing = "\n".join([".. autosummary::", "   :toctree: .", ""]
                        + [f"   {path}" for path in paths]) + "\n"
    stubs = GENERATED / "api_stubs.rst"
    if not stubs.is_file() or stubs.read_text() != listing:
        stubs.write_text(listing)


def module_sections_as_rubrics(app, what, name, obj, options, lines):
    """Show the numpydoc sections of a module's docstring (``Examples``) as rubrics.

    numpydoc leaves module docstrings alone, so their section headings would become sections
    of the page that documents the module.
    """
    if what != "module":
        return
    for i, (line, underline) in enumerate(zip(lines, lines[1:], strict=False)):
        if line.strip() and underline.strip() == "-" * len(line.strip()):
            lines[i:i + 2] = [f".. rubric:: {line.strip()}", ""]


def insert_public_api(app, docname, source):
    """Fill api.rst's placeholder so the reference follows ``__all__`` automatically."""
    if docname == "api":
        source[0] = source[0].replace(PUBLIC_API_MARKER, public_api_rst())


def setup(app):
    """Register the hooks that build the API reference."""
    app.connect("config-inited", write_autosummary_stubs)
    app.connect("source-read", insert_public_api)
    app.connect("autodoc-process-docstring", module_sections_as_rubrics)

