"""Docstring sections that several public objects share, written once.

A line ``%(name)s`` alone in a docstring stands for ``SECTIONS[name]``, indented like
the line; :func:`fill_doc` puts the text in (MNE-Python's ``fill_doc`` and SciPy's
``doccer`` do the same).  Only whole lines are replaced, so the braces of numpydoc's
``{"a", "b"}`` need no escaping.
"""

import re
import textwrap

__all__ = ["SECTIONS", "fill_doc"]

#: The shared sections, by name.
SECTIONS = {
    "returns_self": """\
Returns
-------
self""",
    "fit_returns": """\
Returns
-------
self

Raises
------
ValueError, TypeError
    Naming the argument that is wrong.""",
    "raises_before_forward": """\
RuntimeError
    If called before :meth:`forward`.""",
    "layer_sizes": """\
input_size : int
    Number of input features I.
hidden_size : int
    Number of hidden units H (for cells with a cell state, also its size).
num_layers : int, default 1
    Number of stacked layers.""",
    "layer_options": """\
bias : bool, default True
    Whether to use the biases :math:`b_{ih}, b_{hh}`.
batch_first : bool, default False
    Input and output are (B, T, features) instead of (T, B, features).
dropout : float in [0, 1), default 0
    Dropout probability on the outputs of each layer but the last, in
    training mode.
bidirectional : bool, default False
    Also run each layer backward in time; outputs are concatenated.""",
    "layer_numerics": """\
dtype : {numpy.float32, numpy.float64}, default float32
    Floating-point type of parameters and computations.
backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
    Where the time loops run (see :func:`resolve_backend`).
seed : int or None
    Seed for the initial weights, drawn from U(-1/sqrt(H), 1/sqrt(H)),
    and for dropout.""",
    "layer_see_also": """\
See Also
--------
RNN, LSTM, GRU : numrnn's recurrent layers; :class:`RNN` documents the methods
    they share (forward, backward, step, state_dict).""",
    "component_tail": """\
dtype : {np.float32, np.float64}, default np.float32
seed : int or None
    Seed of the initialisation.

Attributes
----------
grads : dict of ndarray
    Gradients from the latest :meth:`backward`, keys of :meth:`state_dict`.
training : bool
    Kept for a uniform interface with the other components; it behaves the same in
    both modes.""",
    "class_probabilities": """\
Parameters
----------
y_true : array_like of int, shape (N,)
proba : array_like, shape (N, C)
    Predicted class probabilities.

Returns
-------
float
    ``inf`` if a true class has probability 0.""",
    "logits": """\
Parameters
----------
z : ndarray
    Logits; classes along the last axis.""",
    "estimator_X": """\
Parameters
----------
X : array_like or list of array_like
    (n_samples, T, n_features), (n_samples, T), or a list of (T_i, n_features).""",
    "regression_metric": """\
Parameters
----------
y_true, y_pred : array_like
    Same shape.

Returns
-------
float""",
    "elementwise": """\
Parameters
----------
z : ndarray

Returns
-------
ndarray""",
    "seq2seq_data": """\
src : array_like of int, (N, S), or list of N sequences
    Source token ids, samples first (N sequences: a batch, or all the data).
tgt : array_like of int, (N, T), or list of N sequences
    Target token ids, without the end token (the model appends it).
src_lengths : array_like of int, shape (N,), optional
    Valid source steps, in [1, S]; taken from the sequences for lists.
tgt_lengths : array_like of int, shape (N,), optional
    Valid target steps, in [0, T].""",
    "samples": """\
X : array_like, shape (N, T, I), or list of N arrays (T_i, I)
y : array_like
    Targets shaped as for :meth:`fit`.
lengths : array_like of int, shape (N,), optional""",
}

_PLACEHOLDER = re.compile(r"^( *)%\((\w+)\)s$", re.MULTILINE)


def fill_doc(obj):
    """Put the shared sections into ``obj``'s docstring (a decorator).

    Parameters
    ----------
    obj : function or class
        Whose docstring holds lines ``%(name)s``, names of :data:`SECTIONS`.

    Returns
    -------
    obj
        The same object, its docstring filled in.

    Raises
    ------
    KeyError
        For a name that is not in :data:`SECTIONS` (a mistake in numrnn's source).
    """
    if obj.__doc__:  # None under python -OO
        obj.__doc__ = _PLACEHOLDER.sub(
            lambda m: textwrap.indent(SECTIONS[m.group(2)], m.group(1)), obj.__doc__
        )
    return obj
