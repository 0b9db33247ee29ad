r"""Scale out on Dask: lazy prediction, warm workers and data-parallel training.

Everything here runs on Dask's own machinery (``pip install numrnn[dask]``); nothing is
home-made:

* ``predict``/``predict_proba`` of the estimators and :meth:`numrnn.Sequential.predict`
  take a dask array chunked over samples and return a lazy dask array, computed block by block
  (:func:`map_samples`); the estimators also take a dask bag of variable-length sequences.
* :func:`warm_workers` registers a ``distributed`` worker plugin: it caps each worker's BLAS
  threads and compiles (or loads from Numba's cache) the kernels when the worker starts, so
  its first fit costs what its later fits cost.
* :class:`DataParallel` trains a :class:`~numrnn.Sequential` synchronously on several
  workers, like PyTorch's ``DistributedDataParallel``: each step, every replica computes the
  gradients of its shard of the global batch, the gradients are averaged (weighted by the
  number of valid steps each shard holds), and every replica takes the same optimizer step.

With :math:`n_k` valid steps (or sequences, for a last-step head) in shard :math:`k` and
:math:`g_k` the gradient of that shard's mean loss, the averaged gradient

.. math:: g = \frac{\sum_k n_k g_k}{\sum_k n_k}

is the gradient of the global batch's mean loss, so data-parallel training equals
single-process training with the same global batch, to round-off.

Examples
--------
>>> import numpy as np, dask.array as da
>>> from numrnn.estimators import SequenceClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((40, 6, 1))
>>> y = (X.sum(axis=(1, 2)) > 0).astype(int)
>>> clf = SequenceClassifier(hidden_size=8, epochs=60, backend="numpy", seed=0).fit(X, y)
>>> lazy = clf.predict_proba(da.from_array(X, chunks=(16, 6, 1)))
>>> lazy.chunks
((16, 16, 8), (2,))
>>> np.allclose(lazy.compute(), clf.predict_proba(X))
True
"""

import pickle
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from numrnn._training import fit as fit_loop
from numrnn._validation import check_int

try:
    from distributed import WorkerPlugin
except ImportError:  # the dask extra is not installed: the plugin cannot be registered
    WorkerPlugin = object

__all__ = ["DataParallel", "map_samples", "warm_workers"]


def map_samples(function, X, tail, dtype, lengths=None):
    """Apply ``function`` lazily to each block of samples of a dask array.

    Parameters
    ----------
    function : callable
        ``function(X_block)`` or ``function(X_block, lengths_block)``, returning an array of
        shape ``(len(X_block),) + tail``.
    X : dask.array.Array, shape (N, ...)
        Chunked over samples (axis 0); other axes are merged into one chunk.
    tail : tuple of int
        The shape of one sample's result.
    dtype : dtype
        The result's dtype.
    lengths : dask.array.Array or array_like, shape (N,), optional
        Chunked like ``X``'s samples; ``function`` then gets its block with shape
        ``(n, 1, ...)``, one axis per axis of ``X``.

    Returns
    -------
    dask.array.Array, shape (N,) + tail
        Lazy; block ``i`` is ``function`` of ``X``'s block ``i``.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from numrnn.distributed import map_samples
    >>> X = da.ones((5, 3, 2), chunks=(2, 3, 2))
    >>> out = map_samples(lambda x: x.sum(axis=(1, 2)), X, (), np.float64)
    >>> out.chunks, out.compute().tolist()
    (((2, 2, 1),), [6.0, 6.0, 6.0, 6.0, 6.0])
    """
    import dask.array as da

    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    chunks = (X.chunks[0],) + tuple((n,) for n in tail)
    drop = tuple(range(1 + len(tail), X.ndim))
    new = tuple(range(X.ndim, 1 + len(tail)))
    options = {"chunks": chunks, "dtype": dtype, "meta": np.empty((0,) * len(chunks), dtype)}
    if drop:
        options["drop_axis"] = drop
    if new:
        options["new_axis"] = new
    if lengths is None:
        return da.map_blocks(function, X, **options)
    lengths = da.asarray(lengths).rechunk((X.chunks[0],))
    return da.map_blocks(function, X, lengths[(slice(None),) + (None,) * (X.ndim - 1)],
                         **options)


def map_sequences(function, bag):
    """Apply ``function`` (a list of sequences to an array) to each partition of a dask bag.

    Returns a dask bag of the results, one item per sequence.
    """
    return bag.map_partitions(lambda part: list(function(list(part))))


def warm_workers(client, *, cells=("gru",), threads=1, backend="auto"):
    """Cap BLAS threads and warm numrnn's kernels on every worker, now and when one starts.

    Registers a ``distributed`` worker plugin with ``client``: on each worker (those running
    and those that join later) it limits BLAS to ``threads`` threads (threadpoolctl, for the
    whole process) and fits a tiny :class:`~numrnn.estimators.SequenceClassifier` per cell,
    which compiles the kernels or loads them from Numba's cache, so that a worker's first
    real fit costs what its later fits cost. numrnn's CPU backend starts no Numba threads;
    start the workers with ``NUMBA_NUM_THREADS`` set (``LocalCluster(env=...)``) if other code
    does.

    Parameters
    ----------
    client : distributed.Client
    cells : sequence of str, default ("gru",)
        The cells to warm (``"lstm"``, ``"gru"``, ``"rnn"``, ``"rnn_relu"``).
    threads : int, default 1
        BLAS threads per worker process.
    backend : str, default "auto"
        The backend to warm.

    Returns
    -------
    dict
        Worker address to the seconds each cell's warm-up took there.

    Raises
    ------
    ValueError
        If ``threads`` is not a positive integer.

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> from numrnn.distributed import warm_workers
    >>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster, \\
    ...         Client(cluster) as client:
    ...     seconds = warm_workers(client, cells=("gru", "lstm"), backend="numpy")
    >>> [sorted(cells) for cells in seconds.values()]
    [['gru', 'lstm']]
    """
    plugin = _WarmWorkers(tuple(cells), check_int(threads, "threads", 1), backend)
    client.register_plugin(plugin)
    return client.run(_warm_up_seconds)


def _warm_up_seconds(dask_worker):
    return dask_worker.numrnn_warm_up_seconds


class _WarmWorkers(WorkerPlugin):
    """The worker plugin of :func:`warm_workers`."""

    idempotent = False
    name = "numrnn-warm-workers"

    def __init__(self, cells, threads, backend):
        self.cells, self.threads, self.backend = cells, threads, backend

    def setup(self, worker):
        """Cap the worker's BLAS threads, warm the kernels, keep the seconds on the worker."""
        from numrnn.estimators import SequenceClassifier

        threadpool_limits(limits=self.threads, user_api="blas")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((8, 4, 1)).astype(np.float32)
        y = np.arange(8) % 2
        seconds = {}
        for cell in self.cells:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the one-epoch fit has not converged
                SequenceClassifier(cell=cell, hidden_size=4, epochs=1, batch_size=4,
                                   backend=self.backend, seed=0).fit(X, y).predict(X)
            seconds[cell] = time.perf_counter() - start
        worker.numrnn_warm_up_seconds = seconds


class _GradientsOnly:
    """An optimizer stand-in whose step does nothing: the gradients stay in the layers."""

    lr = 0.0

    def step(self, parameters, grads):
        """Leave the parameters as they are."""


def _set_grads(model, grads):
    """Give each layer of ``model`` its part of ``grads`` (keyed like ``model.grads``)."""
    for i, layer in enumerate(model.layers):
        prefix = f"{i}."
        layer.grads = {k[len(prefix):]: v for k, v in grads.items() if k.startswith(prefix)}


class _Replica:
    """A model replica, living on a worker as a dask actor."""

    def __init__(self, frozen):
        self.model = pickle.loads(frozen)

    def _apply(self, step):
        """Take the optimizer step of the previous global batch, if any."""
        if step is not None:
            grads, lr, updates = step
            self.model.optimizer.lr = lr
            _set_grads(self.model, grads)
            fit_loop.update(self.model, updates)

    def gradients(self, step, x, y, lengths, keep_outputs):
        """Apply ``step``, then the shard's loss and gradients: (summed loss, its weight, the
        loss's count, gradients times that count, (targets, logits) of the valid steps or
        None)."""
        self._apply(step)
        model, optimizer = self.model, self.model.optimizer
        seen = [] if keep_outputs else None
        model.train()
        model.optimizer = _GradientsOnly()
        try:
            total, weight = fit_loop.train_batch(
                model, x, y, lengths, fit_loop.Updates(None, None, None, None), seen)
        finally:
            model.optimizer = optimizer
        # What the loss averages over: sequences for a last-step head, else valid steps.
        count = (x.shape[1] if model.head.last_step
                 else x.shape[0] * x.shape[1] if lengths is None else int(lengths.sum()))
        grads = {k: g * count for k, g in model.grads.items()}
        return total, weight, count, grads, seen[0] if seen else None

    def state_dict(self, step):
        """Apply ``step``; the replica's parameters."""
        self._apply(step)
        return self.model.state_dict()


class DataParallel:
    """Synchronous data-parallel training of a :class:`~numrnn.Sequential` on Dask.

    One replica of the model lives on each worker as a dask actor. :meth:`fit` runs the
    model's own :meth:`~numrnn.Sequential.fit` (so seeding, shuffling, validation,
    early stopping, schedules and ``history_`` are exactly the single-process ones), but each
    global batch is split into one shard per worker: the replicas compute their shards'
    gradients, these are averaged (weighted by the valid steps of each shard), and the
    model and every replica take the same optimizer step (clipping included). A replica
    takes step :math:`k` at the start of its call for step :math:`k + 1`: one round trip per
    step.

    Parameters
    ----------
    model : Sequential
        The model to train; it ends with the trained weights.
    client : distributed.Client
    workers : sequence of str, optional
        Worker addresses, one replica each; default all the client's workers.

    Attributes
    ----------
    workers : list of str

    Raises
    ------
    ValueError
        If there are no workers, or the loss is not a plain mean (``reduction="sum"`` or
        class weights).

    Notes
    -----
    Each step sends a worker its shard of the batch and the averaged gradients of the last
    step, and returns its gradients: :math:`2P` numbers per worker and step for :math:`P`
    parameters, plus the shard. Dropout masks come from each replica's own generator, so a
    model with dropout does not repeat the single-process run exactly; truncated BPTT
    (``tbptt``) is not supported.

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> from distributed import Client, LocalCluster
    >>> from numrnn.distributed import DataParallel
    >>> from numrnn.heads import Dense
    >>> from numrnn.model import Sequential
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, \\
    ...         Client(cluster) as client:
    ...     model = Sequential([numrnn.GRU(2, 8, batch_first=True, backend="numpy", seed=0),
    ...                         Dense(8, 1, last_step=True, batch_first=True, seed=0)])
    ...     X = np.random.default_rng(0).normal(size=(64, 5, 2))
    ...     y = X.sum(axis=(1, 2))[:, None]
    ...     history = DataParallel(model, client).fit(X, y, epochs=2, batch_size=32,
    ...                                               seed=0, progress=False).history_
    >>> len(history["loss"])
    2
    """

    def __init__(self, model, client, workers=None):
        self.model = model
        self.client = client
        self.workers = list(workers if workers is not None
                            else client.scheduler_info()["workers"])
        if not self.workers:
            raise ValueError("DataParallel needs at least one worker, got none")
        loss = model.loss
        if loss.reduction != "mean" or getattr(loss, "weight", None) is not None:
            # The shards' gradients are averaged by their number of valid steps.
            raise ValueError(f"DataParallel needs a loss with reduction='mean' and no class "
                             f"weights, got {type(loss).__name__}({loss.get_config()})")
        self._replicas = None
        self._pending = None

    def _start(self):
        """One replica per worker, each a copy of the model as it is now."""
        # Pickled here, so that even a cluster of threads gets copies, not the model itself.
        frozen = pickle.dumps(self.model)
        futures = [self.client.submit(_Replica, frozen, actor=True, workers=[w], pure=False)
                   for w in self.workers]
        self._replicas = [f.result() for f in futures]
        self._pending = None

    def fit(self, X, y, **options):
        """Train like :meth:`Sequential.fit <numrnn.Sequential.fit>`, data-parallel.

        Parameters
        ----------
        X, y : array_like
            As for :meth:`~numrnn.Sequential.fit`.
        **options
            :meth:`~numrnn.Sequential.fit`'s keyword arguments (``batch_size`` is the
            global batch, split evenly over the workers), except ``tbptt``.

        Returns
        -------
        Sequential
            The model, trained.

        Raises
        ------
        ValueError
            If ``tbptt`` is given.
        """
        if options.get("tbptt") is not None:
            raise ValueError("DataParallel does not support tbptt, got tbptt="
                             f"{options['tbptt']}")
        self._start()
        self.model._train_batch = self._train_batch
        try:
            return self.model.fit(X, y, **options)
        finally:
            del self.model._train_batch

    def replica_states(self):
        """The replicas' parameters after the last step (each should equal the model's).

        Returns
        -------
        list of dict
        """
        futures = [r.state_dict(self._pending) for r in self._replicas]
        self._pending = None
        return [f.result() for f in futures]

    def _train_batch(self, x, y, lengths, updates, seen):
        """Sequential's batch step, with the gradients computed by the replicas."""
        model = self.model
        last_step = model.head.last_step
        shards = [rows for rows in np.array_split(np.arange(x.shape[1]), len(self._replicas))
                  if len(rows)]
        futures = [replica.gradients(
            self._pending, x[:, rows], y[rows] if last_step else y[:, rows],
            None if lengths is None else lengths[rows], seen is not None)
            for replica, rows in zip(self._replicas, shards, strict=False)]
        # Replicas without a shard this time must still take the pending step.
        for replica in self._replicas[len(shards):]:
            replica.state_dict(self._pending).result()
        results = [f.result() for f in futures]
        # The batch's loss is the shards' losses averaged like the gradients; its weight in
        # the epoch's loss is Sequential's own.
        weight = sum(r[1] for r in results)
        count = sum(r[2] for r in results)
        total = sum(r[0] / r[1] * r[2] for r in results) / count * weight
        grads = {k: sum(r[3][k] for r in results) / count for k in results[0][3]}
        if seen is not None:
            seen.append(tuple(np.concatenate([r[4][j] for r in results])
                              for j in range(2)))
        # A copy for the replicas: clipping below changes the model's gradients in place.
        self._pending = ({k: g.copy() for k, g in grads.items()}, model.optimizer.lr,
                         updates._replace(schedule=None))
        _set_grads(model, grads)
        fit_loop.update(model, updates)
        return total, weight
