"""BLAS thread counts chosen by the size of the product.

Two BLAS libraries do the work: NumPy's (the big GEMMs over all T·B rows,
called from Python) and SciPy's (``np.dot`` inside ``@njit`` code links to
``scipy.linalg.cython_blas``).  Both are multi-threaded.  Threads pay off only
for large products: for the small per-step products of a recurrent loop the
hand-off costs more than it saves and the timings become bimodal from
process to process.  So every BLAS call of this backend runs under
:func:`blas_threads`, which drops the libraries to one thread for products
below :data:`MIN_THREADED_FLOPS` and otherwise leaves the caller's setting
alone.  The backend uses no Numba threads (no ``parallel=True``); when it
splits a batch between Python threads it runs BLAS single-threaded inside
them (:func:`single_threaded`), so threads never oversubscribe the cores.
"""

import contextlib
import threading

__all__ = [
    "MIN_THREADED_FLOPS",
    "OPENBLAS_SINGLE_THREAD_FLOPS",
    "blas_threads",
    "max_threads",
    "single_threaded",
]

#: OpenBLAS itself runs a GEMM on one thread when m·n·k <= 4·65536
#: (``GEMM_MULTITHREAD_THRESHOLD``), i.e. below ~0.5 MFLOP: nothing to do there.
OPENBLAS_SINGLE_THREAD_FLOPS = 2 * 4 * 65536

#: Products with fewer floating-point operations (2·m·n·k) than this run on
#: one BLAS thread.  Measured with 2 threads on the project machine:
#: (32×128)·(128×512) (4 MFLOP) ran 1.7x faster on two threads than on one.
MIN_THREADED_FLOPS = 2e6

_controllers = []
#: The blocks inside :func:`single_threaded` now (of every thread), and the thread counts
#: the first of them found: the last one out restores them.
_single = {"depth": 0, "saved": None}
_single_lock = threading.Lock()


def _blas_controllers():
    """The threadpoolctl controllers of every loaded BLAS, found once."""
    if not _controllers:
        with _single_lock:  # two threads' first calls: found once, not twice
            if not _controllers:
                # Load SciPy's BLAS (the one np.dot in @njit uses) before looking.
                import scipy.linalg.cython_blas  # noqa: F401
                from threadpoolctl import ThreadpoolController

                found = ThreadpoolController().select(user_api="blas").lib_controllers
                _controllers.extend(found)
    return _controllers


def max_threads():
    """The fewest threads any loaded BLAS may use (the caller's limit)."""
    return min(lib.get_num_threads() for lib in _blas_controllers())


@contextlib.contextmanager
def single_threaded():
    """Run the block with every BLAS on one thread, then restore.

    The thread counts are process-wide: blocks of several threads overlap, and each saving
    and restoring its own view left BLAS on one thread for good (a block entered inside
    another thread's saved 1).  So the first block in saves them and the last one out
    restores them.
    """
    libs = _blas_controllers()
    with _single_lock:
        if _single["depth"] == 0:
            _single["saved"] = [lib.get_num_threads() for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _single["depth"] += 1
    try:
        yield
    finally:
        with _single_lock:
            _single["depth"] -= 1
            if _single["depth"] == 0:
                for lib, n in zip(libs, _single["saved"], strict=True):
                    lib.set_num_threads(n)


_UNCHANGED = contextlib.nullcontext()


def blas_threads(flops):
    """A context that runs its block with one BLAS thread if ``flops`` is small.

    Parameters
    ----------
    flops : float
        Floating-point operations of one product in the block (the largest
        one, when the block does several of similar size).  Outside
        [OPENBLAS_SINGLE_THREAD_FLOPS, MIN_THREADED_FLOPS) the thread counts
        are left alone, by a context that does nothing (four times cheaper to
        enter than a generator's: it runs around every call).
    """
    if OPENBLAS_SINGLE_THREAD_FLOPS <= flops < MIN_THREADED_FLOPS:
        return single_threaded()
    return _UNCHANGED
