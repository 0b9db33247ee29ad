"""Token embeddings: integer ids in, vectors out (:class:`Embedding`)."""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._component import Component
from numrnn._docs import fill_doc
from numrnn._validation import as_float_array, check_float_dtype, check_int, to_numpy

__all__ = ["Embedding"]


class Embedding(Component):
    r"""A lookup table of vectors, one per token id (``torch.nn.Embedding``'s layout).

    .. math:: y_{\ldots} = W_{\mathrm{ids}_{\ldots}, :}, \qquad
              \frac{\partial L}{\partial W_{v}} = \sum_{\ldots:\ \mathrm{ids}_{\ldots} = v}
              \frac{\partial L}{\partial y_{\ldots}}

    so the gradients of repeated ids add up. The row ``padding_idx`` starts at zero and gets
    no gradient, so it stays zero under every optimizer (weight decay included); PyTorch
    behaves the same.

    Parameters
    ----------
    num_embeddings : int
        Number of ids V: valid ids are 0, ..., V - 1.
    embedding_dim : int
        Size E of each vector.
    padding_idx : int, optional
        An id in [-V, V) (negative counts from the end, as in PyTorch) whose row is zeros and
        is never trained.
    dtype : {np.float32, np.float64}, default np.float32
    seed : int or None
        Seed of the initialisation, :math:`W_{ve} \sim \mathcal N(0, 1)` like PyTorch's.

    Attributes
    ----------
    grads : dict of ndarray
        ``{"weight": ...}`` from the latest :meth:`backward`.
    training : bool
        Kept for a uniform interface; an embedding behaves the same in both modes.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn import Embedding
    >>> emb = Embedding(5, 3, padding_idx=0, seed=0)
    >>> ids = np.array([[1, 2], [1, 0]])                 # any shape of integer ids
    >>> y = emb(ids)
    >>> y.shape, bool(np.all(y[1, 1] == 0))              # the padding row is zeros
    ((2, 2, 3), True)
    >>> emb.backward(np.ones_like(y))
    >>> emb.grads["weight"][:3]                          # id 1 twice, id 2 once, padding none
    array([[0., 0., 0.],
           [2., 2., 2.],
           [1., 1., 1.]], dtype=float32)
    """

    def __init__(self, num_embeddings, embedding_dim, *, padding_idx=None, dtype=np.float32,
                 seed=None):
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", 1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        if padding_idx is not None:
            padding_idx = check_int(padding_idx, "padding_idx", -self.num_embeddings)
            if padding_idx >= self.num_embeddings:
                raise ValueError(f"padding_idx must lie in [{-self.num_embeddings}, "
                                 f"{self.num_embeddings - 1}], got {padding_idx}")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.dtype = check_float_dtype(dtype)
        self.seed = seed
        weight = np.random.default_rng(seed).standard_normal(
            (self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self._params = {"weight": weight}
        self.grads = {"weight": np.zeros_like(weight)}
        self.training = True
        self._ids = None

    def __repr__(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return (f"Embedding({self.num_embeddings}, {self.embedding_dim}{padding}, "
                f"dtype={self.dtype.name})")

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this layer.
        """
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx, "dtype": self.dtype.name,
                "seed": tu.json_seed(self.seed)}

    def parameters(self):
        """Return the live parameter arrays, which optimizers update in place.

        Returns
        -------
        dict of str to ndarray
            ``{"weight": (num_embeddings, embedding_dim)}``, ``torch.nn.Embedding``'s name.
        """
        return self._params

    def forward(self, ids):
        """Look up the vectors of ``ids``.

        Parameters
        ----------
        ids : array_like of int
            Any shape; every id in [0, num_embeddings).

        Returns
        -------
        ndarray
            ``ids.shape + (embedding_dim,)``, a new array.

        Raises
        ------
        TypeError
            If ``ids`` are not integers.
        ValueError
            If an id lies outside [0, num_embeddings).
        """
        ids = check_ids(ids, self.num_embeddings)
        self._ids = ids
        return self._params["weight"][ids]

    __call__ = forward

    @fill_doc
    def backward(self, grad_output):
        r"""Fill ``grads`` with :math:`\partial L/\partial W` for the latest :meth:`forward`.

        Parameters
        ----------
        grad_output : array_like
            :math:`\partial L/\partial y`, shaped like that call's output.

        Raises
        ------
        %(raises_before_forward)s
        ValueError
            If ``grad_output`` is shaped differently from the output.
        """
        ids = self._recorded(self._ids)
        g = as_float_array(grad_output, "grad_output", self.dtype)
        expected = ids.shape + (self.embedding_dim,)
        if g.shape != expected:
            raise ValueError(f"grad_output must have shape {expected} (the output's), "
                             f"got {g.shape}")
        grad = np.zeros_like(self._params["weight"])
        np.add.at(grad, ids.ravel(), g.reshape(-1, self.embedding_dim))
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        self.grads = {"weight": grad}


def check_ids(ids, num_embeddings, name="ids"):
    """``ids`` as an int64 array, every one in [0, num_embeddings); else a clear error."""
    arr = np.asarray(to_numpy(ids))
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_embeddings):
        raise ValueError(f"{name} must lie in [0, {num_embeddings - 1}] (num_embeddings="
                         f"{num_embeddings}), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)
