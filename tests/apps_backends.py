"""Backends the application tests (estimators, forecasting, text, diagnostics, examples) use.

The NumPy reference always; the Numba CPU backend as well once it is importable. ``FASTEST``
runs the tests whose subject is not the backend (scikit-learn integration, the examples).
"""

from numrnn import resolve_backend


def _importable(name):
    try:
        resolve_backend(name)
    except ImportError:
        return False
    return True


HOST_BACKENDS = ["numpy"] + [name for name in ("cpu",) if _importable(name)]
FASTEST = HOST_BACKENDS[-1]
