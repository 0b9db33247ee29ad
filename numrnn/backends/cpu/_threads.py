"""What the backend runs in threads: the executor that runs the shares of a split batch (and
the shares of the big products), and the scratch buffers, kept per thread."""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["in_threads", "row_chunks", "workspaces"]


class _Workspaces(threading.local):
    """Scratch buffers by name and dtype, one set per thread, grown on demand."""

    def __init__(self):
        self.buffers = {}

    def get(self, name, shape, dtype):
        size = math.prod(shape)
        key = (name, dtype)
        buf = self.buffers.get(key)
        if buf is None or buf.size < size:
            buf = np.empty(size, dtype)
            self.buffers[key] = buf
        return buf[:size].reshape(shape)


workspaces = _Workspaces()


_executor = None  # ThreadPoolExecutor, started on first use


def _forget_executor():
    # A forked child has none of the parent's threads: an inherited executor
    # could count a worker as idle that does not exist, and hang.
    global _executor
    _executor = None


os.register_at_fork(after_in_child=_forget_executor)


def in_threads(tasks):
    """Run the callables at once, one per thread (this one included).

    The caller holds BLAS single-threaded (:func:`._blas.single_threaded`): all
    the parallelism of a split call is ours.  Leaving the big products to a
    multi-threaded BLAS instead left its workers spinning on the cores the
    recurrence threads needed next (the split forward ran 1.8x slower).
    """
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(os.cpu_count(), thread_name_prefix="numrnn-cpu")
    futures = [_executor.submit(task) for task in tasks[1:]]
    tasks[0]()
    for future in futures:
        future.result()


def row_chunks(rows, n):
    """n contiguous (start, stop) ranges covering range(rows)."""
    bounds = np.linspace(0, rows, n + 1).astype(np.int64)
    return list(zip(bounds[:-1], bounds[1:], strict=True))
