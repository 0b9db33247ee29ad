r"""Evaluation metrics on flat arrays (one entry per sample or per valid time step).

Classification metrics take integer labels; :func:`perplexity` and
:func:`bits_per_character` take predicted class probabilities; regression metrics take real
values. :meth:`numrnn.Sequential.fit` flattens the valid steps of variable-length
sequences before calling them.

Examples
--------
>>> import numpy as np
>>> from numrnn.metrics import accuracy, f1_score
>>> y_true, y_pred = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
>>> accuracy(y_true, y_pred)
0.75
>>> round(f1_score(y_true, y_pred, average="macro"), 4)
0.7778
"""

import numpy as np

from numrnn._docs import fill_doc
from numrnn._validation import as_float_array, check_int, check_ndim

AVERAGES = {"macro", "micro", "weighted", None}


def _pair(y_true, y_pred, labels=False):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} "
                         f"and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("y_true must not be empty")
    if labels:
        for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
            if arr.dtype.kind not in "iub":
                raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    else:
        y_true = as_float_array(y_true, "y_true", np.float64)
        y_pred = as_float_array(y_pred, "y_pred", np.float64)
    return y_true.ravel() if labels else y_true, y_pred.ravel() if labels else y_pred


def accuracy(y_true, y_pred):
    r"""Compute the fraction of correct labels, :math:`\frac1N \sum_i [\hat y_i = y_i]`.

    Parameters
    ----------
    y_true, y_pred : array_like of int
        Same shape.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ or the arrays are empty.

    Examples
    --------
    >>> from numrnn.metrics import accuracy
    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    y_true, y_pred = _pair(y_true, y_pred, labels=True)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes=None):
    r"""Count the samples :math:`M_{jk}` with true label :math:`j` predicted as :math:`k`.

    Parameters
    ----------
    y_true, y_pred : array_like of int
        Labels in [0, num_classes).
    num_classes : int, optional
        Defaults to ``max(y_true, y_pred) + 1``.

    Returns
    -------
    ndarray of int64, shape (num_classes, num_classes)
        Rows are true labels, columns predicted labels (scikit-learn's convention).

    Examples
    --------
    >>> from numrnn.metrics import confusion_matrix
    >>> confusion_matrix([0, 1, 1], [0, 0, 1])
    array([[1, 0],
           [1, 1]])
    """
    y_true, y_pred = _pair(y_true, y_pred, labels=True)
    low = min(y_true.min(), y_pred.min())
    if low < 0:
        raise ValueError(f"labels must be >= 0, got {low}")
    high = int(max(y_true.max(), y_pred.max()))
    if num_classes is None:
        num_classes = high + 1
    num_classes = check_int(num_classes, "num_classes", 1)
    if high >= num_classes:
        raise ValueError(f"labels must be < num_classes={num_classes}, got {high}")
    flat = np.bincount(y_true.astype(np.int64) * num_classes + y_pred,
                       minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def precision_recall_f1(y_true, y_pred, average="macro", num_classes=None):
    r"""Precision, recall and F1 score, per class or averaged.

    Per class :math:`k`, from true positives :math:`TP_k`, false positives :math:`FP_k` and
    false negatives :math:`FN_k`:

    .. math:: P_k = \frac{TP_k}{TP_k + FP_k}, \quad R_k = \frac{TP_k}{TP_k + FN_k}, \quad
              F_k = \frac{2 P_k R_k}{P_k + R_k}

    (0 where a denominator is 0). ``"macro"`` averages over classes that occur in ``y_true``
    or ``y_pred``; ``"weighted"`` weights by each class's support; ``"micro"`` computes the
    scores from the summed counts. As ``sklearn.metrics.precision_recall_fscore_support``
    with ``zero_division=0``.

    Parameters
    ----------
    y_true, y_pred : array_like of int
    average : {"macro", "micro", "weighted", None}, default "macro"
        None returns per-class arrays.
    num_classes : int, optional
        See :func:`confusion_matrix`.

    Returns
    -------
    precision : float or ndarray
    recall : float or ndarray
    f1 : float or ndarray

    Examples
    --------
    >>> from numrnn.metrics import precision_recall_f1
    >>> p, r, f = precision_recall_f1([0, 0, 1, 1], [0, 1, 1, 1], average=None)
    >>> p, r
    (array([1.        , 0.66666667]), array([0.5, 1. ]))
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of 'macro', 'micro', 'weighted' or None, "
                         f"got {average!r}")
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    if average == "micro":
        tp, predicted, support = tp.sum(), predicted.sum(), support.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / predicted)
        recall = np.nan_to_num(tp / support)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    if average is None:
        return precision, recall, f1
    if average == "micro":
        return float(precision), float(recall), float(f1)
    present = (predicted + support) > 0
    weights = support if average == "weighted" else present.astype(np.float64)
    return tuple(float(np.sum(s * weights) / np.sum(weights)) for s in (precision, recall, f1))


def _single_score(index, name, what):
    """One of the three scores of :func:`precision_recall_f1` as a function of its own."""

    def score(y_true, y_pred, average="macro", num_classes=None):
        return precision_recall_f1(y_true, y_pred, average, num_classes)[index]

    score.__name__ = score.__qualname__ = name
    score.__doc__ = f"""Compute the {what}; see :func:`precision_recall_f1` for the definition.

    Parameters
    ----------
    y_true, y_pred : array_like of int
        True and predicted labels, same shape.
    average : {{"macro", "micro", "weighted", None}}, default "macro"
        How to combine the classes; None gives one score per class.
    num_classes : int, optional
        Defaults to ``max(y_true, y_pred) + 1``.

    Returns
    -------
    float or ndarray
        The {what}, in [0, 1].

    Examples
    --------
    >>> from numrnn.metrics import {name}
    >>> round({name}([0, 0, 1, 1], [0, 1, 1, 1]), 4)
    {round(precision_recall_f1([0, 0, 1, 1], [0, 1, 1, 1])[index], 4)}
    """
    return score


precision = _single_score(0, "precision", "precision")
recall = _single_score(1, "recall", "recall")
f1_score = _single_score(2, "f1_score", "F1 score")


@fill_doc
def mean_squared_error(y_true, y_pred):
    r"""Compute the mean of :math:`(\hat y - y)^2` over all entries.

    %(regression_metric)s

    Examples
    --------
    >>> from numrnn.metrics import mean_squared_error
    >>> mean_squared_error([1.0, 2.0], [1.0, 4.0])
    2.0
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean((y_pred - y_true) ** 2))


@fill_doc
def mean_absolute_error(y_true, y_pred):
    r"""Compute the mean of :math:`|\hat y - y|` over all entries.

    %(regression_metric)s

    Examples
    --------
    >>> from numrnn.metrics import mean_absolute_error
    >>> mean_absolute_error([1.0, 2.0], [1.0, 4.0])
    1.0
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_pred - y_true)))


def r2_score(y_true, y_pred):
    r"""Compute the coefficient of determination, averaged uniformly over outputs.

    .. math:: R^2 = 1 - \frac{\sum_i (y_i - \hat y_i)^2}{\sum_i (y_i - \bar y)^2}

    A constant target gives 1 for a perfect prediction and 0 otherwise (scikit-learn's
    convention).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (N,) or (N, outputs)

    Returns
    -------
    float
        1 for a perfect prediction, 0 for predicting the mean, below 0 for worse.

    Examples
    --------
    >>> from numrnn.metrics import r2_score
    >>> r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    """
    y_true, y_pred = _pair(y_true, y_pred)
    check_ndim(y_true, "y_true", (1, 2))
    residual = np.sum((y_true - y_pred) ** 2, axis=0)
    total = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(total > 0, 1 - residual / total, np.where(residual == 0, 1.0, 0.0))
    return float(np.mean(scores))


def _mean_nll(y_true, proba):
    y_true = np.asarray(y_true)
    proba = as_float_array(proba, "proba", np.float64)
    if y_true.dtype.kind not in "iu":
        raise TypeError(f"y_true must hold integer class labels, got dtype {y_true.dtype}")
    if proba.shape[:-1] != y_true.shape or proba.ndim < 1:
        raise ValueError(f"proba must have shape y_true.shape + (classes,) = "
                         f"{y_true.shape + ('C',)}, got {proba.shape}")
    if y_true.size == 0:
        raise ValueError("y_true must not be empty")
    if y_true.min() < 0 or y_true.max() >= proba.shape[-1]:
        raise ValueError(f"y_true must lie in [0, {proba.shape[-1] - 1}]")
    picked = np.take_along_axis(proba, y_true[..., None], axis=-1)
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(picked)))


@fill_doc
def perplexity(y_true, proba):
    r"""Compute the perplexity :math:`\exp\big(-\frac1N\sum_i \log p_i(y_i)\big)`.

    %(class_probabilities)s

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.metrics import perplexity
    >>> perplexity([0, 1], np.full((2, 4), 0.25))
    4.0
    """
    return float(np.exp(_mean_nll(y_true, proba)))


@fill_doc
def bits_per_character(y_true, proba):
    r"""Compute the mean negative log-likelihood in bits, :math:`-\frac1N\sum_i \log_2 p_i(y_i)`.

    %(class_probabilities)s

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.metrics import bits_per_character
    >>> bits_per_character([0, 1], np.full((2, 4), 0.25))
    2.0
    """
    return float(_mean_nll(y_true, proba) / np.log(2))


def _f1_macro(y_true, y_pred):
    return f1_score(y_true, y_pred, average="macro")


#: Metrics by the name ``fit(metrics=[...])`` uses, with the kind of prediction each takes:
#: "labels" (argmax / threshold of the output), "proba" (the output probabilities) or
#: "values" (the raw output).
METRICS = {
    "accuracy": (accuracy, "labels"),
    "f1_macro": (_f1_macro, "labels"),
    "mse": (mean_squared_error, "values"),
    "mae": (mean_absolute_error, "values"),
    "r2": (r2_score, "values"),
    "perplexity": (perplexity, "proba"),
    "bits_per_character": (bits_per_character, "proba"),
}
