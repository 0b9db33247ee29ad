r"""Training losses with their gradients, masking padded time steps.

Every loss is called as ``loss(pred, target, lengths=None)`` and returns a Python float;
``loss.backward()`` then returns :math:`\partial L/\partial\,\mathrm{pred}` for that call, shaped
and typed like ``pred``. Predictions are *logits* (pre-activation outputs of
:class:`numrnn.heads.Dense`); each loss names the output function it pairs with in its
``activation`` attribute.

With ``lengths``, ``pred`` has a time axis: (T, B, ...) or, with ``batch_first=True``,
(B, T, ...), and steps :math:`t \ge` ``lengths[b]`` never count, neither in the sum nor in the
mean's denominator, so padded targets may hold anything (even NaN or -1).

Reduction ``"mean"`` divides the sum of per-element losses over valid steps by the number of
valid elements (for :class:`CrossEntropyLoss`, by the sum of the targets' class weights, as
PyTorch does); ``"sum"`` does not divide.

Examples
--------
>>> import numpy as np
>>> from numrnn.losses import CrossEntropyLoss
>>> loss = CrossEntropyLoss()
>>> logits = np.zeros((3, 2, 4))                      # (T, B, C)
>>> target = np.array([[0, 1], [2, 3], [1, -1]])      # -1 is padding, never read
>>> bool(np.isclose(loss(logits, target, lengths=np.array([3, 2])), np.log(4)))
True
>>> loss.backward().shape
(3, 2, 4)
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._validation import as_float_array, check_choice, check_float, check_lengths, check_ndim
from numrnn.activations import log_softmax, sigmoid


def _weights(value, name):
    """Per-class weights: None, or a 1-D float64 array of finite values >= 0."""
    if value is None:
        return None
    value = as_float_array(value, name, np.float64)
    check_ndim(value, name, (1,))
    if np.any(value < 0) or not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be finite and >= 0")
    return value


class Loss:
    """Common machinery: shape checks, the ``lengths`` mask, reduction and the gradient.

    Subclasses define ``activation``, ``class_axis`` (whether the last axis of ``pred`` holds
    classes that the target does not have), ``_check_target`` and ``_elementwise``.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
        How the per-element losses of the valid steps are combined.
    batch_first : bool, default False
        Whether ``pred`` and ``target`` are (B, T, ...) instead of (T, B, ...).

    Examples
    --------
    Every loss is one, and :func:`numrnn.save` keeps its configuration:

    >>> from numrnn.losses import Loss, MSELoss
    >>> isinstance(MSELoss(), Loss)
    True
    >>> MSELoss(reduction="sum").get_config()
    {'reduction': 'sum', 'batch_first': False}
    """

    activation = "identity"
    class_axis = False

    def __init__(self, reduction="mean", batch_first=False):
        self.reduction = check_choice(reduction, "reduction", {"mean", "sum"})
        self.batch_first = bool(batch_first)
        self._grad = None

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this loss (used by :mod:`numrnn.io`).
        """
        return {"reduction": self.reduction, "batch_first": self.batch_first}

    def __call__(self, pred, target, lengths=None):
        """Compute the loss of logits ``pred`` against ``target``; see the module docstring.

        Parameters
        ----------
        pred : array_like
            Logits.
        target : array_like
            Targets (see the subclass for shape and type).
        lengths : array_like of int, shape (B,), optional
            Valid steps per sequence; needs a time axis in ``pred``.

        Returns
        -------
        float
        """
        pred = as_float_array(pred, "pred")
        if self.class_axis and pred.ndim == 0:
            raise ValueError("pred must have a class axis (the last), got a scalar")
        sample_shape = pred.shape[:-1] if self.class_axis else pred.shape
        if lengths is None:
            mask = np.ones(sample_shape, dtype=bool)
        else:
            if len(sample_shape) < 2:
                raise ValueError(
                    "with lengths, pred must have time and batch axes "
                    f"({'(T, B, C)' if self.class_axis else '(T, B, ...)'}), got shape "
                    f"{pred.shape}")
            batch, steps = sample_shape[:2] if self.batch_first else sample_shape[1::-1]
            lengths = check_lengths(lengths, steps, batch)
            mask2 = tu.swap_batch_time(tu.valid_mask(lengths, steps, batch), self.batch_first)
            mask = np.broadcast_to(
                mask2.reshape(mask2.shape + (1,) * (len(sample_shape) - 2)), sample_shape)
        target = self._check_target(np.asarray(target), pred, sample_shape, mask)
        z = pred.astype(np.float64)
        losses, grads, weights = self._elementwise(z, target, mask)
        weights = np.where(mask, np.broadcast_to(weights, sample_shape), 0.0)
        denominator = weights.sum() if self.reduction == "mean" else 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = 1.0 / denominator
        grad_mask = mask[..., None] if self.class_axis else mask
        self._grad = (np.where(grad_mask, grads, 0.0) * scale).astype(pred.dtype)
        return float(np.where(mask, losses, 0.0).sum() * scale)

    def backward(self):
        r"""Return the gradient :math:`\partial L/\partial\,\mathrm{pred}` of the latest call.

        Returns
        -------
        ndarray
            Shaped and typed like that call's ``pred``; zeros at padded steps.

        Raises
        ------
        RuntimeError
            If the loss has not been called yet.
        """
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss")
        return self._grad

    def _check_target(self, target, pred, sample_shape, mask):
        if target.dtype.kind not in "fiu":
            raise TypeError(f"target must hold real numbers, got dtype {target.dtype}")
        if target.shape != sample_shape:
            raise ValueError(f"target must have shape {sample_shape} (like pred), "
                             f"got {target.shape}")
        return np.where(mask, target, 0.0)


class MSELoss(Loss):
    r"""Mean squared error, :math:`\ell = (z - y)^2` per element.

    .. math:: L = \frac{1}{N}\sum_{\text{valid}} (z - y)^2, \qquad
              \frac{\partial L}{\partial z} = \frac{2 (z - y)}{N}

    with :math:`N` the number of valid elements (1 for ``reduction="sum"``). Pairs with an
    identity output; ``target`` has ``pred``'s shape.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
    batch_first : bool, default False
        Layout of ``pred`` when ``lengths`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.losses import MSELoss
    >>> loss = MSELoss()
    >>> loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    2.5
    >>> loss.backward()
    array([1., 2.])
    """

    activation = "identity"

    def _elementwise(self, z, target, mask):
        diff = z - target
        return diff * diff, 2.0 * diff, 1.0


class BCEWithLogitsLoss(Loss):
    r"""Binary cross-entropy computed from logits (PyTorch's ``BCEWithLogitsLoss``).

    .. math:: \ell = -p\,y \log\sigma(z) - (1 - y)\log(1 - \sigma(z))
                   = (1 - y) z + (1 + (p - 1) y)\,\mathrm{softplus}(-z)

    .. math:: \frac{\partial \ell}{\partial z} = (1 - y) - (1 + (p - 1) y)\,\sigma(-z)

    with :math:`p` the positive-class weight. The softplus form never takes the log of a
    rounded-to-zero probability. Pairs with a sigmoid output; ``target`` has ``pred``'s shape,
    values in [0, 1].

    Parameters
    ----------
    pos_weight : array_like, shape (O,), optional
        Weight :math:`p` of positive targets per output (broadcast along the last axis).
    reduction : {"mean", "sum"}, default "mean"
    batch_first : bool, default False

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.losses import BCEWithLogitsLoss
    >>> loss = BCEWithLogitsLoss()
    >>> bool(np.isclose(loss(np.array([0.0]), np.array([1.0])), np.log(2)))
    True
    >>> loss(np.array([1000.0]), np.array([0.0]))  # stable where sigmoid rounds to 1
    1000.0
    """

    activation = "sigmoid"

    def __init__(self, pos_weight=None, reduction="mean", batch_first=False):
        super().__init__(reduction, batch_first)
        self.pos_weight = _weights(pos_weight, "pos_weight")

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this loss.
        """
        pos_weight = None if self.pos_weight is None else self.pos_weight.tolist()
        return {**super().get_config(), "pos_weight": pos_weight}

    def _check_target(self, target, pred, sample_shape, mask):
        target = super()._check_target(target, pred, sample_shape, mask)
        if np.any((target < 0) | (target > 1)):
            raise ValueError("target must lie in [0, 1] at valid steps")
        if self.pos_weight is not None and pred.shape[-1:] != self.pos_weight.shape:
            raise ValueError(f"pos_weight has shape {self.pos_weight.shape} but pred's last "
                             f"axis has size {pred.shape[-1:]}")
        return target

    def _elementwise(self, z, target, mask):
        scale = 1.0 if self.pos_weight is None else 1.0 + (self.pos_weight - 1.0) * target
        softplus_neg = np.maximum(-z, 0.0) + np.log1p(np.exp(-np.abs(z)))
        losses = (1.0 - target) * z + scale * softplus_neg
        grads = (1.0 - target) - scale * sigmoid(-z)
        return losses, grads, 1.0


class CrossEntropyLoss(Loss):
    r"""Softmax cross-entropy from logits, with class weights and label smoothing (PyTorch's).

    With :math:`\log p = \mathrm{log\_softmax}(z)`, smoothing :math:`\varepsilon`, class
    weights :math:`w` (ones if not given) and :math:`C` classes, the per-sample target
    distribution and loss are

    .. math:: q_c = (1 - \varepsilon)\, w_y [c = y] + \frac{\varepsilon}{C} w_c, \qquad
              \ell = -\sum_c q_c \log p_c, \qquad
              \frac{\partial \ell}{\partial z_c} = p_c \sum_k q_k - q_c

    and ``reduction="mean"`` divides :math:`\sum \ell` by :math:`\sum w_{y}` over valid
    samples, exactly as ``torch.nn.CrossEntropyLoss``. Pairs with a softmax output.

    Parameters
    ----------
    weight : array_like, shape (C,), optional
        Class weights :math:`w`, >= 0.
    label_smoothing : float in [0, 1], default 0.0
    reduction : {"mean", "sum"}, default "mean"
    batch_first : bool, default False

    Notes
    -----
    ``pred`` is (..., C) and ``target`` holds integer class indices of shape ``pred.shape[:-1]``
    (e.g. (T, B) for per-step or (B,) for per-sequence outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.losses import CrossEntropyLoss
    >>> loss = CrossEntropyLoss(label_smoothing=0.1)
    >>> value = loss(np.array([[2.0, 0.0, 0.0]]), np.array([0]))
    >>> bool(abs(loss.backward().sum()) < 1e-12)   # softmax gradients sum to zero
    True
    """

    activation = "softmax"
    class_axis = True

    def __init__(self, weight=None, label_smoothing=0.0, reduction="mean", batch_first=False):
        super().__init__(reduction, batch_first)
        self.weight = _weights(weight, "weight")
        self.label_smoothing = check_float(label_smoothing, "label_smoothing", 0.0, 1.0)

    def get_config(self):
        """Return the constructor arguments as JSON-compatible values.

        Returns
        -------
        dict
            Keyword arguments that rebuild this loss.
        """
        weight = None if self.weight is None else self.weight.tolist()
        return {**super().get_config(), "weight": weight,
                "label_smoothing": self.label_smoothing}

    def _check_target(self, target, pred, sample_shape, mask):
        classes = pred.shape[-1]
        if target.dtype.kind not in "iu":
            raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
        if target.shape != sample_shape:
            raise ValueError(f"target must have shape {sample_shape} (pred's without the "
                             f"class axis), got {target.shape}")
        if self.weight is not None and self.weight.shape != (classes,):
            raise ValueError(f"weight must have shape ({classes},) for {classes} classes, "
                             f"got {self.weight.shape}")
        target = np.where(mask, target, 0)
        if target.size and (target.min() < 0 or target.max() >= classes):
            raise ValueError(f"target must lie in [0, {classes - 1}] at valid steps, got values "
                             f"in [{target.min()}, {target.max()}]")
        return target

    def _elementwise(self, z, target, mask):
        classes = z.shape[-1]
        weight = np.ones(classes) if self.weight is None else self.weight
        eps = self.label_smoothing
        q = np.broadcast_to(weight * (eps / classes), z.shape).copy()
        target_weight = weight[target]
        np.put_along_axis(q, target[..., None], (1.0 - eps) * target_weight[..., None]
                          + np.take_along_axis(q, target[..., None], axis=-1), axis=-1)
        log_p = log_softmax(z)
        losses = -np.sum(q * log_p, axis=-1)
        grads = np.exp(log_p) * q.sum(axis=-1, keepdims=True) - q
        return losses, grads, target_weight


#: Losses by the name :class:`numrnn.model.Sequential` and :mod:`numrnn.io` use for them.
LOSSES = {"mse": MSELoss, "cross_entropy": CrossEntropyLoss, "bce_with_logits": BCEWithLogitsLoss}
