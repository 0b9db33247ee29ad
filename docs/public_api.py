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


#: The API reference's sections, grouped by task, in order: heading, depth (1: a section,
#: 2: a subsection of the section above), one sentence on what they hold, and their members.
#: A member is a module, standing for every public object defined there, or a public import
#: path (``numrnn.Dropout``), which wins over its module. A new public object defined in a
#: module listed here needs no change; one defined elsewhere needs one entry.
SECTIONS = [
    ("Layers", 1, "The recurrent layers, what runs them and what turns off their tape.",
     ("numrnn._recurrent.layers", "numrnn._recurrent.generic", "numrnn._recurrent.grad",
      "numrnn.Dropout", "numrnn.backends")),
    ("Cells", 1, "The pointwise functions of the cells' and heads' equations (:doc:`cells`), "
     "and cells of your own (:doc:`custom_cells`).", ("numrnn.activations", "numrnn.cells")),
    ("Training", 1, "Everything :doc:`training` puts together: a head, a loss, an optimizer "
     "and a schedule, in a model.", ()),
    ("Heads", 2, "Read a prediction off the hidden states.", ("numrnn.heads", "numrnn.readouts")),
    ("Losses", 2, "Score a prediction and give its gradient.", ("numrnn.losses",)),
    ("Optimizers", 2, "Update the parameters from their gradients, after clipping them.",
     ("numrnn.optim", "numrnn._training.clipping")),
    ("Schedules", 2, "Change an optimizer's learning rate from epoch to epoch.",
     ("numrnn.StepLR", "numrnn.CosineAnnealingLR", "numrnn.LinearWarmup",
      "numrnn.ReduceLROnPlateau", "numrnn.optim.Schedule")),
    ("Model", 2, "Layers and a head trained together: ``fit``, ``predict``, ``evaluate``.",
     ("numrnn.model",)),
    ("Metrics", 2, "Evaluate predictions in NumPy.", ("numrnn.metrics",)),
    ("Sequence to sequence", 1, "Token embeddings, attention over an encoder's outputs, "
     "and an encoder--decoder trained with teacher forcing and decoded by beam search.",
     ("numrnn.embedding", "numrnn.attention", "numrnn.seq2seq")),
    ("Applications", 1, "Ready-made models for a task, in scikit-learn's style.",
     ("numrnn.estimators", "numrnn.forecasting", "numrnn.text")),
    ("Data", 1, "Small data sets that ship with numrnn or are made on the fly.",
     ("numrnn.datasets",)),
    ("Diagnostics", 1, "Look inside a trained network.", ("numrnn.diagnostics",)),
    ("Input and output", 1, "Save and load models; move weights to and from PyTorch.",
     ("numrnn.io",)),
    ("Scale-out", 1, "Lazy prediction, warm workers and data-parallel training on a Dask "
     "cluster (:doc:`dask`).", ("numrnn.distributed",)),
]


def public_objects():
    """Return ``{import path: object}`` for every public object, in the order of `public_api`.

    An object is listed once, under the first module that exports it (numrnn first).
    """
    return {
        f"{module.__name__}.{name}": getattr(module, name)
        for module, names in public_api().items()
        for name in names
    }


def _member_of(path, obj, member):
    """Whether ``member`` of a section claims the object at import ``path``, and how surely."""
    if member == path:
        return 2
    defined_in = getattr(obj, "__module__", None) or ""
    return int(defined_in == member or defined_in.startswith(member + "."))


def api_sections():
    """Return ``[(heading, depth, summary, modules, paths)]``: the public objects by section.

    ``modules`` are the public modules among the section's members, ``paths`` the import paths
    of its objects.

    Raises
    ------
    LookupError
        If a public object belongs to no section, or to two equally: `SECTIONS` needs an entry.
    """
    listed = {module.__name__ for module in public_submodules()}
    placed = {heading: [] for heading, *_ in SECTIONS}
    for path, obj in public_objects().items():
        scores = {heading: max((_member_of(path, obj, m) for m in members), default=0)
                  for heading, _, _, members in SECTIONS}
        best = max(scores.values())
        winners = [heading for heading, score in scores.items() if score == best]
        if best == 0 or len(winners) > 1:
            raise LookupError(f"{path} (defined in {obj.__module__}) is in "
                              f"{winners if best else 'no section'} of docs/public_api.py's "
                              "SECTIONS; add its import path or module to one section")
        placed[winners[0]].append(path)
    return [(heading, depth, summary,
             [member for member in members if member in listed], placed[heading])
            for heading, depth, summary, members in SECTIONS]


def documented_data(module):
    """Return the public module-level names of ``module`` documented by ``#:`` comments."""
    from sphinx.pycode import ModuleAnalyzer

    found = ModuleAnalyzer.for_module(module).find_attr_docs()
    return [name for scope, name in found if not scope and not name.startswith("_")]
