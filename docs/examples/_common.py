"""Command line shared by the examples: ``--fast``, ``--out`` and ``--backend``.

Every example runs in two modes: the full one, whose results and plots the documentation
shows, and a fast one (``--fast`` or the environment variable ``NUMRNN_FAST=1``) that CI runs
in seconds, on less data, with a smaller network and fewer epochs. Each writes its plot and
its results (``NAME.json``, read by ``tests/test_examples.py``) to the ``--out`` folder: by
default the documentation's static files in full mode, a new temporary folder in fast mode
(never the current folder, which from a clone is the repository).
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

#: Where full-mode runs put their plots: the documentation's static files.
STATIC = Path(__file__).resolve().parent.parent / "_static"

#: Resolution of the plots: tick labels stay legible on high-density screens.
DPI = 150


def parse_args(description, argv=None):
    """Parse ``--fast``, ``--out DIR`` and ``--backend NAME``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true",
                        default=os.environ.get("NUMRNN_FAST", "") not in ("", "0"),
                        help="small and quick (also: NUMRNN_FAST=1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the plot (default: docs/_static, or a new temporary "
                             "folder in fast mode)")
    parser.add_argument("--backend", default="auto", help='"auto", "numpy", "cpu" or "cuda"')
    args = parser.parse_args(argv)
    _one_blas_thread()
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="numrnn_examples_")) if args.fast else STATIC
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def save(fig, results, out, name):
    """Save the figure as ``NAME.png`` and the results as ``NAME.json``; print the plot's path.

    Returns
    -------
    dict
        ``results`` with the plot's file name added under ``"plot"``.
    """
    path = Path(out) / f"{name}.png"
    fig.savefig(path, dpi=DPI)
    print(f"plot: {path}")
    results = {**results, "plot": path.name}
    (Path(out) / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def _one_blas_thread():
    """Limit BLAS to one thread when threadpoolctl is installed.

    The products of these small networks take ~40 us on one thread but can take ~800 us on
    two when other processes share the cores (measured on the project's 2-core machines).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    # threadpoolctl limits only the libraries loaded so far: load SciPy's BLAS (the one that
    # numrnn's compiled loops call) first. Left at two threads, its spinning workers made the
    # date example's training steps 19x more expensive in CPU time on a busy machine.
    import scipy.linalg.cython_blas  # noqa: F401
    # Kept for the life of the process: the examples are scripts.
    _one_blas_thread.limits = threadpool_limits(1, user_api="blas")
