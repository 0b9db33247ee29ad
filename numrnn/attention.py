r"""Attention over encoder outputs: :class:`LuongAttention`, :class:`BahdanauAttention`.

A query :math:`q_t` (a decoder's output at step :math:`t`) scores every key :math:`k_s` (an
encoder's output at source step :math:`s`); the scores of each sequence's valid steps
(:math:`s <` ``lengths[b]``) are normalised by a softmax into the attention weights, and the
context is the weighted mean of the keys:

.. math:: e_{ts} = \mathrm{score}(q_t, k_s), \qquad
          a_{ts} = \frac{\exp e_{ts}}{\sum_{s' < \ell} \exp e_{ts'}}\ (s < \ell,\
          \text{else } 0), \qquad c_t = \sum_s a_{ts} k_s

Backward, with :math:`g_t = \partial L/\partial c_t` and :math:`\bar a_{ts}` the gradient
that reaches the weights (from the context, :math:`g_t \cdot k_s`, plus any given directly):

.. math:: \frac{\partial L}{\partial e_{ts}} = a_{ts}\Big(\bar a_{ts}
          - \sum_{s'} a_{ts'} \bar a_{ts'}\Big), \qquad
          \frac{\partial L}{\partial k_s} \mathrel{+}= \sum_t a_{ts} g_t

and then through the score function. Padded steps get weight 0 and no gradient.

Layouts follow the recurrent layers': keys (S, B, H_k) and queries (T, B, H_q), or (B, S, H_k)
and (B, T, H_q) with ``batch_first``; a query of shape (B, H_q) is one step of decoding.
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._component import Component
from numrnn._docs import fill_doc
from numrnn._validation import (
    as_float_array,
    check_choice,
    check_float_dtype,
    check_int,
    check_lengths,
    check_ndim,
)

__all__ = ["BahdanauAttention", "LuongAttention"]


class _Attention(Component):
    """What every attention shares: checks, the masked softmax, the context and its backward.

    Subclasses define ``_init_params(rng)``, ``_scores(q, k)`` (batch-major, returning the
    scores and what their backward needs) and ``_scores_backward(grad_scores, saved)``
    (returning the gradients of q and k and filling ``grads``).
    """

    def _setup(self, query_size, key_size, batch_first, dtype, seed):
        self.query_size = check_int(query_size, "query_size", 1)
        self.key_size = check_int(key_size, "key_size", 1)
        self.batch_first = bool(batch_first)
        self.dtype = check_float_dtype(dtype)
        self.seed = seed
        self._params = {k: v.astype(self.dtype)
                        for k, v in self._init_params(np.random.default_rng(seed)).items()}
        self.grads = {k: np.zeros_like(v) for k, v in self._params.items()}
        self.training = True
        self._tape = None

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this layer.
        """
        return {"query_size": self.query_size, "key_size": self.key_size, **self._config(),
                "batch_first": self.batch_first, "dtype": self.dtype.name,
                "seed": tu.json_seed(self.seed)}

    def parameters(self):
        """Return the live parameter arrays, which optimizers update in place.

        Returns
        -------
        dict of str to ndarray
        """
        return self._params

    def forward(self, query, keys, lengths=None):
        """Attend with ``query`` over ``keys``.

        Parameters
        ----------
        query : array_like
            (T, B, query_size), (B, T, query_size) with ``batch_first``, or (B, query_size)
            for one query per sequence.
        keys : array_like
            (S, B, key_size), or (B, S, key_size) with ``batch_first``.
        lengths : array_like of int, shape (B,), optional
            Valid source steps per sequence, in [1, S]; all S if None.

        Returns
        -------
        context : ndarray
            Like ``query`` with its last axis of size key_size.
        weights : ndarray
            (T, B, S), (B, T, S) with ``batch_first``, or (B, S) for a 2-D ``query``; zero at
            padded source steps, summing to 1 over the valid ones.

        Raises
        ------
        ValueError, TypeError
            For arrays of the wrong shape or type, naming the argument.
        """
        k = as_float_array(keys, "keys", self.dtype)
        q = as_float_array(query, "query", self.dtype)
        check_ndim(k, "keys", (3,))
        check_ndim(q, "query", (2, 3))
        kb = k if self.batch_first else k.swapaxes(0, 1)
        batch, steps = kb.shape[:2]
        if kb.shape[2] != self.key_size or 0 in kb.shape:
            raise ValueError(f"keys must be (S, B, {self.key_size}) (batch_first: "
                             f"(B, S, {self.key_size})) and not empty, got shape {k.shape}")
        if q.ndim == 2:
            qb = q[:, None, :]
        else:
            qb = q if self.batch_first else q.swapaxes(0, 1)
        if qb.shape[0] != batch or qb.shape[2] != self.query_size or qb.shape[1] == 0:
            layout = "(B, query_size) or " + ("(B, T, query_size)" if self.batch_first
                                               else "(T, B, query_size)")
            raise ValueError(f"query must be {layout} with B={batch} (the keys' batch) and "
                             f"query_size={self.query_size}, got shape {q.shape}")
        lengths = check_lengths(lengths, steps, batch)
        scores, saved = self._scores(qb, kb)
        if lengths is not None:
            scores = np.where((np.arange(steps) < lengths[:, None])[:, None, :], scores, -np.inf)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        context = weights @ kb
        self._tape = (q.ndim, qb, kb, weights, saved)
        return self._user_layout(context, q.ndim), self._user_layout(weights, q.ndim)

    __call__ = forward

    def _user_layout(self, batch_major, query_ndim):
        """(B, T, X) as the caller's layout: (B, X) for a 2-D query, else (T, B, X) unless
        batch_first."""
        if query_ndim == 2:
            return batch_major[:, 0]
        return batch_major if self.batch_first else np.ascontiguousarray(
            batch_major.swapaxes(0, 1))

    def _batch_major(self, grad, query_ndim, shape, name):
        g = as_float_array(grad, name, self.dtype)
        user_shape = self._user_layout(np.empty(shape, dtype=bool), query_ndim).shape
        if g.shape != user_shape:
            raise ValueError(f"{name} must have shape {user_shape}, got {g.shape}")
        if query_ndim == 2:
            return g[:, None]
        return g if self.batch_first else g.swapaxes(0, 1)

    @fill_doc
    def backward(self, grad_context, grad_weights=None):
        """Backpropagate through the latest :meth:`forward` and fill ``grads``.

        Parameters
        ----------
        grad_context : array_like
            Gradient of the loss with respect to ``context``, shaped like it.
        grad_weights : array_like, optional
            Gradient with respect to ``weights``, shaped like them; zeros if None.

        Returns
        -------
        grad_query : ndarray
            Shaped like ``query``.
        grad_keys : ndarray
            Shaped like ``keys``; zero at padded steps.

        Raises
        ------
        %(raises_before_forward)s
        ValueError
            If a gradient has the wrong shape.
        """
        query_ndim, qb, kb, weights, saved = self._recorded(self._tape)
        gc = self._batch_major(grad_context, query_ndim, weights.shape[:2] + kb.shape[2:],
                               "grad_context")
        grad_w = gc @ kb.swapaxes(1, 2)
        if grad_weights is not None:
            grad_w += self._batch_major(grad_weights, query_ndim, weights.shape, "grad_weights")
        grad_scores = weights * (grad_w - np.sum(grad_w * weights, axis=-1, keepdims=True))
        grad_q, grad_k = self._scores_backward(grad_scores, qb, kb, saved)
        grad_k += weights.swapaxes(1, 2) @ gc
        if query_ndim == 2:
            grad_q = grad_q[:, 0]
        elif not self.batch_first:
            grad_q = grad_q.swapaxes(0, 1)
        if not self.batch_first:
            grad_k = grad_k.swapaxes(0, 1)
        return np.ascontiguousarray(grad_q), np.ascontiguousarray(grad_k)


@fill_doc
class LuongAttention(_Attention):
    r"""Multiplicative attention of Luong, Pham & Manning (2015): "dot" and "general" scores.

    .. math:: \mathrm{dot}:\ e_{ts} = q_t^\top k_s, \qquad
              \mathrm{general}:\ e_{ts} = q_t^\top W k_s

    with :math:`W` (query_size, key_size), initialised :math:`U(-1/\sqrt{H_k}, 1/\sqrt{H_k})`
    (``torch.nn.Linear(key_size, query_size, bias=False)``'s weight). "dot" has no
    parameters and needs query_size == key_size. The weights, the context and their
    backward are described in :mod:`numrnn.attention`.

    Parameters
    ----------
    query_size : int
        Size of each query (the decoder's output).
    key_size : int
        Size of each key (the encoder's output, both directions).
    score : {"general", "dot"}, default "general"
    batch_first : bool, default False
        Queries and keys (and the results) are (B, T, ...) instead of (T, B, ...).
    %(component_tail)s

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn import LuongAttention
    >>> attention = LuongAttention(4, 6, score="general", seed=0)
    >>> rng = np.random.default_rng(0)
    >>> keys = rng.normal(size=(5, 2, 6))                # (S, B, key_size)
    >>> query = rng.normal(size=(3, 2, 4))               # (T, B, query_size)
    >>> context, weights = attention(query, keys, lengths=np.array([5, 2]))
    >>> context.shape, weights.shape
    ((3, 2, 6), (3, 2, 5))
    >>> weights[:, 1, 2:].max(), bool(np.allclose(weights.sum(axis=-1), 1))
    (np.float32(0.0), True)
    >>> grad_query, grad_keys = attention.backward(np.ones_like(context))
    >>> grad_query.shape, grad_keys.shape, sorted(attention.grads)
    ((3, 2, 4), (5, 2, 6), ['weight'])
    """

    def __init__(self, query_size, key_size, *, score="general", batch_first=False,
                 dtype=np.float32, seed=None):
        self.score = check_choice(score, "score", {"dot", "general"})
        if score == "dot" and query_size != key_size:
            raise ValueError(f"score='dot' needs query_size == key_size, got {query_size} "
                             f"and {key_size}")
        self._setup(query_size, key_size, batch_first, dtype, seed)

    def __repr__(self):
        return (f"LuongAttention({self.query_size}, {self.key_size}, score={self.score!r}, "
                f"dtype={self.dtype.name})")

    def _config(self):
        return {"score": self.score}

    def _init_params(self, rng):
        if self.score == "dot":
            return {}
        bound = 1.0 / np.sqrt(self.key_size)
        return {"weight": rng.uniform(-bound, bound, (self.query_size, self.key_size))}

    def _scores(self, q, k):
        projected = q if self.score == "dot" else q @ self._params["weight"]
        return projected @ k.swapaxes(1, 2), projected

    def _scores_backward(self, grad_scores, q, k, projected):
        grad_k = grad_scores.swapaxes(1, 2) @ projected
        grad_projected = grad_scores @ k
        if self.score == "dot":
            self.grads = {}
            return grad_projected, grad_k
        W = self._params["weight"]
        self.grads = {"weight": np.ascontiguousarray(
            q.reshape(-1, self.query_size).T @ grad_projected.reshape(-1, self.key_size))}
        return grad_projected @ W.T, grad_k


@fill_doc
class BahdanauAttention(_Attention):
    r"""Additive attention of Bahdanau, Cho & Bengio (2015).

    .. math:: e_{ts} = v^\top \tanh(W_q q_t + W_k k_s + b)

    with :math:`W_q` (attention_size, query_size) ``query_weight``, :math:`W_k`
    (attention_size, key_size) ``key_weight``, :math:`b` ``bias`` and :math:`v`
    ``score_weight`` (attention_size,), initialised like ``torch.nn.Linear`` layers
    (:math:`U(-1/\sqrt{n}, 1/\sqrt{n})`, :math:`n` the input size; :math:`n = A` for
    :math:`v`). The weights, the context and their backward are described in
    :mod:`numrnn.attention`; here, with :math:`u_{ts} = \tanh(\cdot)` and
    :math:`\delta_{ts} = (\partial L/\partial e_{ts})\, v \odot (1 - u_{ts}^2)`:

    .. math:: \frac{\partial L}{\partial v} = \sum_{t,s} \frac{\partial L}{\partial e_{ts}}
              u_{ts},\quad \frac{\partial L}{\partial q_t} = W_q^\top \sum_s \delta_{ts},\quad
              \frac{\partial L}{\partial k_s} = W_k^\top \sum_t \delta_{ts}

    Parameters
    ----------
    query_size : int
    key_size : int
    attention_size : int, optional
        Size A of the hidden layer of the score; query_size if None.
    batch_first : bool, default False
    %(component_tail)s

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn import BahdanauAttention
    >>> attention = BahdanauAttention(4, 6, attention_size=8, seed=0)
    >>> keys = np.random.default_rng(0).normal(size=(5, 2, 6))
    >>> context, weights = attention(np.ones((2, 4)), keys)   # one query per sequence
    >>> context.shape, weights.shape
    ((2, 6), (2, 5))
    >>> sorted(attention.state_dict())
    ['bias', 'key_weight', 'query_weight', 'score_weight']
    """

    def __init__(self, query_size, key_size, *, attention_size=None, batch_first=False,
                 dtype=np.float32, seed=None):
        self.attention_size = check_int(
            query_size if attention_size is None else attention_size, "attention_size", 1)
        self._setup(query_size, key_size, batch_first, dtype, seed)

    def __repr__(self):
        return (f"BahdanauAttention({self.query_size}, {self.key_size}, "
                f"attention_size={self.attention_size}, dtype={self.dtype.name})")

    def _config(self):
        return {"attention_size": self.attention_size}

    def _init_params(self, rng):
        size = self.attention_size
        params = {}
        for name, shape, fan_in in (("query_weight", (size, self.query_size), self.query_size),
                                    ("key_weight", (size, self.key_size), self.key_size),
                                    ("bias", (size,), self.key_size),
                                    ("score_weight", (size,), size)):
            bound = 1.0 / np.sqrt(fan_in)
            params[name] = rng.uniform(-bound, bound, shape)
        return params

    def _scores(self, q, k):
        p = self._params
        hidden = np.tanh((q @ p["query_weight"].T)[:, :, None, :]
                         + (k @ p["key_weight"].T + p["bias"])[:, None, :, :])
        return hidden @ p["score_weight"], hidden

    def _scores_backward(self, grad_scores, q, k, hidden):
        p = self._params
        delta = grad_scores[..., None] * p["score_weight"] * (1 - hidden * hidden)
        grad_pq = delta.sum(axis=2)                      # (B, T, A)
        grad_pk = delta.sum(axis=1)                      # (B, S, A)
        size = self.attention_size
        self.grads = {
            "query_weight": grad_pq.reshape(-1, size).T @ q.reshape(-1, self.query_size),
            "key_weight": grad_pk.reshape(-1, size).T @ k.reshape(-1, self.key_size),
            "bias": grad_pk.sum(axis=(0, 1)),
            "score_weight": np.tensordot(grad_scores, hidden, axes=3),
        }
        return grad_pq @ p["query_weight"], grad_pk @ p["key_weight"]
