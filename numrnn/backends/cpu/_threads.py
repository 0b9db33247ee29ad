"""What the backend runs in threads: the executor that runs the shares of a split batch (and
the shares of the big products), and the scratch buffers, kept per thread."""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["in_threads", "row_chunks", "step_shares", "workspaces"]


class _Workspaces(threading.local):
    """Scratch buffers by name and dtype, one set per thread, grown on demand.

    The views handed out are kept by shape, so that a call with the shapes of
    the previous ones gets them back at a dictionary lookup (0.15 us, against
    0.65 us to slice and reshape anew: several per forward and backward call).
    """

    #: Views kept at most (variable shapes, as in training on batches of
    #: different lengths, would otherwise add views without end).
    MAX_VIEWS = 256

    def __init__(self):
        self.buffers = {}
        self.views = {}

    def get(self, name, shape, dtype):
        key = (name, dtype, shape)
        view = self.views.get(key)
        if view is not None:
            return view
        size = math.prod(shape)
        buf = self.buffers.get(key[:2])
        if buf is None or buf.size < size:
            buf = self.buffers[key[:2]] = np.empty(size, dtype)
            # Views of the old buffer go: every view of a name shares one buffer.
            self.views = {k: v for k, v in self.views.items() if k[:2] != key[:2]}
        if len(self.views) >= self.MAX_VIEWS:
            self.views.clear()
        view = self.views[key] = buf[:size].reshape(shape)
        return view


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
    """n contiguous (start, stop) ranges covering range(rows), of sizes differing by at most
    one (plain integers: np.linspace took 7 us, a sixth of a small forward call)."""
    return [(rows * i // n, rows * (i + 1) // n) for i in range(n)]


def step_shares(lengths, first, T, n):
    """Steps [first, T) in n consecutive (t0, t1) ranges of about equal numbers of running
    sequences (t < lengths[b]): the shares of the input projection's per-step products;
    [] if first >= T."""
    if first >= T:
        return []
    running = np.count_nonzero(lengths[None, :] > np.arange(first, T)[:, None], axis=1)
    total = np.cumsum(running)
    bounds = np.searchsorted(total, total[-1] * np.arange(1, n) / n) + first
    edges = [first, *(int(b) for b in bounds), T]
    return list(zip(edges[:-1], edges[1:], strict=True))
