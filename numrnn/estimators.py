"""scikit-learn style estimators: :class:`SequenceClassifier`, :class:`SequenceRegressor`.

Each maps one sequence to one output (many-to-one): a recurrent layer reads the sequence and a
dense head reads a readout of its outputs (by default their mean and max over the valid
steps). ``X`` may be a 3-D array (n_samples, T, n_features), a 2-D array (n_samples, T) of one
feature, or a list of variable-length (T_i, n_features) arrays, which are padded and passed
with their lengths; trailing all-NaN steps of an array count as padding too.

The estimators follow scikit-learn's conventions without importing it: the constructor only
stores its arguments, :meth:`~numrnn.SequenceClassifier.fit` returns ``self``, learned
attributes end in ``_``, and ``get_params``/``set_params`` work, so ``sklearn.base.clone``,
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` accept them.
"""

import numpy as np

from numrnn import _trainutil as tu
from numrnn._docs import fill_doc
from numrnn._estimator_base import SequenceEstimator, check_labels, check_targets
from numrnn._seqnet import as_padded
from numrnn._seqprep import column_scaling
from numrnn._sequences import real_array
from numrnn._sklearn_api import _PickledModel  # noqa: F401  (unpickles older pickles)
from numrnn.metrics import r2_score

__all__ = ["SequenceClassifier", "SequenceRegressor"]


_PARAMETERS = """cell : {"lstm", "gru", "rnn", "rnn_relu"}, default "gru"
        Recurrent cell ("rnn" is the tanh RNN).
    hidden_size : int, default 64
    num_layers : int, default 1
    bidirectional : bool, default True
        Read each sequence both ways.
    readout : {"mean_max", "mean", "max", "last"}, default "mean_max"
        What the head reads of the outputs at each sequence's valid steps: their mean and
        their maximum side by side, one of them, or the last step's output
        (:mod:`numrnn.readouts`).
    standardize : bool, default True
        Standardise each channel (feature) with the mean and standard deviation of its
        valid training steps (padding left out), inside the estimator:
        :math:`x' = (x - \\mu_f) / \\sigma_f`.
    patch : int or "auto", default "auto"
        Fold this many consecutive steps into one step of ``patch * n_features`` features
        before the network, so a long series becomes a short multivariate one; ``"auto"``
        picks the largest patch length that leaves at least 16 steps (1 below 32 steps).
    dropout : float, default 0.0
        Between stacked layers.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default "adam"
    learning_rate : float, default 0.01
        The starting rate (see ``lr_schedule``).
    epochs : int, default 200
        The most passes over the training data; training stops earlier (see
        ``n_iter_no_change``).
    batch_size : int, default 32
    clip_norm : float or None, default 1.0
        Clip the global gradient norm to this (None: no clipping).
    early_stopping : {"auto", True, False}, default "auto"
        Hold out ``validation_fraction`` of the training data (stratified by class for a
        classifier) and stop when its loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, restoring the weights of the best epoch. Without it
        the training loss is monitored in the same way. ``"auto"``: on from 500 training
        sequences (fewer leave too few to choose an epoch by).
    validation_fraction : float in (0, 1), default 0.1
    n_iter_no_change : int, default 20
        Patience of the stopping rule, in epochs.
    tol : float, default 1e-4
        The least decrease of the monitored loss that counts as an improvement.
    lr_schedule : {"plateau", "constant"}, default "plateau"
        ``"plateau"``: halve the learning rate when the monitored loss has not improved by
        ``tol`` for ``n_iter_no_change // 4`` epochs (:class:`numrnn.ReduceLROnPlateau`).
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
    seed : int or None
        Seeds the initial weights, dropout, the validation split and the order of the
        minibatches: the same seed and data give the same model.
    verbose : bool, default False
        Show a progress bar with the loss (if tqdm is installed)."""

_ATTRIBUTES = """n_features_in_ : int
        Channels (features) per step.
    input_mean_, input_scale_ : ndarray, shape (``n_features_in_``,)
        The standardisation (zeros and ones with ``standardize=False``).
    patch_size_ : int
        The patch length used.
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_loss_curve_ : list of float or None
        Loss on the held-out split per epoch, with early stopping.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        The epoch (from 0) whose weights were kept.
    model_ : numrnn.model.Sequential
        The trained network: ``model_.layers`` is the recurrent layer and the head."""

_NOTES = """The defaults were chosen by measurement on aeon's copies of UCR/UEA data sets with
    their own splits (docs/benchmarks.rst, "Sequence classification"): a last-step readout on
    raw series stays at chance on GunPoint; reading the mean and max over the valid steps of
    standardised input, folded into 16 to 31 steps, is what brings the accuracy to
    ROCKET's. Test accuracy of ``SequenceClassifier()`` (mean over seeds 0-2) against
    aeon's ``RocketClassifier`` in the same run: GunPoint 0.976 against 1.000,
    ItalyPowerDemand 0.960 against 0.969, BasicMotions 1.000 against 1.000, each fitted in
    0.6-2 s on 2 cores; on longer shape series (OSULeaf, ACSF1) it stays well below ROCKET
    (the table and a plot are in docs/benchmarks.rst)."""

_WARNINGS = """A fit that uses all ``epochs`` while the loss still improves warns with
    scikit-learn's ``ConvergenceWarning``; an estimator used before ``fit`` raises its
    ``NotFittedError`` (this module's look-alikes without scikit-learn)."""


def _check_real_targets(y, n_samples):
    """A regressor's targets ``y``: finite real numbers, (n_samples,) or (n_samples, k)."""
    y = check_targets(y, n_samples, "SequenceRegressor")
    if y.dtype == object:
        y = real_array(y, "y")
    if y.dtype.kind not in "fiu" or y.ndim > 2 or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be finite real numbers of shape (n_samples,) or "
                         f"(n_samples, n_outputs), got dtype {y.dtype} shape {y.shape}")
    return y


class SequenceClassifier(SequenceEstimator):
    __doc__ = f"""Classify whole sequences with a recurrent network (many-to-one).

    A recurrent layer reads each (standardised, patched) sequence; a dense softmax head reads
    a readout of its outputs. Trained by minibatches on the cross-entropy, with a plateau
    learning-rate schedule and a stopping rule.

    Parameters
    ----------
    {_PARAMETERS}

    Attributes
    ----------
    classes_ : ndarray
        The class labels seen by :meth:`fit`, sorted.
    {_ATTRIBUTES}

    See Also
    --------
    SequenceRegressor : the same network for real-valued targets.

    Notes
    -----
    {_NOTES}

    {_WARNINGS}

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.estimators import SequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 6, 1))
    >>> y = (X.sum(axis=(1, 2)) > 0).astype(int)
    >>> clf = SequenceClassifier(hidden_size=8, epochs=60, backend="numpy", seed=0)
    >>> clf.fit(X, y).score(X, y) > 0.8
    True
    >>> clf.predict([X[0, :3], X[1]]).shape          # variable-length sequences
    (2,)
    """

    _estimator_type = "classifier"

    @fill_doc
    def fit(self, X, y):
        """Train on sequences ``X`` and their class labels ``y``.

        %(estimator_X)s
        y : array_like, shape (n_samples,)
            Class labels (any type ``numpy.unique`` sorts).

        %(fit_returns)s
        """
        X = as_padded(X, "X")
        y = check_labels(y, len(X[0]))
        try:
            self.classes_ = np.unique(y)
        except TypeError as exc:
            raise ValueError(f"Unknown label type: y must hold labels of one sortable type "
                             f"({exc})") from exc
        if len(self.classes_) < 2:
            raise ValueError(f"y must hold at least 2 classes, got {len(self.classes_)} class"
                             f"{'es' * (len(self.classes_) != 1)}")
        targets = self._training_targets(y, len(y))
        return self._fit_network(X, targets, len(self.classes_), "cross_entropy", targets)

    @fill_doc
    def partial_fit(self, X, y, classes=None):
        """Train for one pass over ``X`` (scikit-learn's incremental learning).

        The first call (on an unfitted estimator) fits the input scaling and the patch length
        on its block and builds the network; each call then makes one pass of minibatches
        (in a seeded random order) over its block, and the optimizer's state carries over from
        call to call. There is no validation split, early stopping or schedule.

        %(estimator_X)s
        y : array_like, shape (n_samples,)
        classes : array_like, optional
            Every class label; required on the first call, optional (but equal) later.

        %(returns_self)s

        Raises
        ------
        ValueError
            If ``classes`` is missing on the first call or differs from the first call's.

        Examples
        --------
        >>> import numpy as np
        >>> from numrnn.estimators import SequenceClassifier
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((64, 6, 1))
        >>> y = (X.sum(axis=(1, 2)) > 0).astype(int)
        >>> clf = SequenceClassifier(hidden_size=8, backend="numpy", seed=0)
        >>> for block in range(0, 64, 16):
        ...     clf = clf.partial_fit(X[block:block + 16], y[block:block + 16], classes=[0, 1])
        >>> clf.n_iter_, clf.predict(X[:3]).shape
        (4, (3,))
        """
        fitted = hasattr(self, "model_")
        X = as_padded(X, "X", self.n_features_in_ if fitted else None)
        y = check_labels(y, len(X[0]))
        if classes is None and not fitted:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if classes is not None:
            classes = np.unique(classes)
            if fitted and not np.array_equal(classes, self.classes_):
                raise ValueError(f"classes={classes.tolist()} is not the same as on the first "
                                 f"call to partial_fit ({self.classes_.tolist()})")
            if len(classes) < 2:
                raise ValueError(f"classes must hold at least 2 classes, got {len(classes)}")
            self.classes_ = classes
        return self._partial_fit_network(X, self._training_targets(y, len(y)),
                                         len(self.classes_), "cross_entropy")

    def _training_targets(self, y, n_samples):
        """Class indices of ``y``, the targets of the network."""
        y = check_targets(y, n_samples)
        index = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        if not np.all(self.classes_[index] == y):
            raise ValueError(f"y holds labels not seen in fit: {np.setdiff1d(y, self.classes_)}")
        return index.astype(np.int64)

    @fill_doc
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        %(estimator_X)s

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
            For a dask array ``X`` (chunked over samples), a lazy dask array; for a dask bag
            of sequences, a dask bag of probability vectors.
        """
        if tu.is_dask(X):
            self._check_fitted()
            return self._lazy(self.predict_proba, X, (len(self.classes_),), np.float64)
        return self._forward(X).astype(np.float64)

    @fill_doc
    def predict(self, X):
        """The most probable class of each sequence.

        %(estimator_X)s

        Returns
        -------
        ndarray, shape (n_samples,)
            Lazy for dask input, as for :meth:`predict_proba`.
        """
        if tu.is_dask(X):
            self._check_fitted()
            return self._lazy(self.predict, X, (), self.classes_.dtype)
        proba = self._forward(X)
        return self.classes_[np.argmax(proba, axis=1)]

    @fill_doc
    def score(self, X, y):
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        %(estimator_X)s
        y : array_like, shape (n_samples,)

        Returns
        -------
        float
        """
        y = check_targets(y, len(X))
        return float(np.mean(self.predict(X) == y))


class SequenceRegressor(SequenceEstimator):
    __doc__ = f"""Predict one real vector per sequence with a recurrent network (many-to-one).

    A recurrent layer reads each (standardised, patched) sequence; a linear head reads a
    readout of its outputs. Trained by minibatches on the mean squared error. Targets are
    standardised internally (and predictions mapped back), so their scale does not matter.

    Parameters
    ----------
    {_PARAMETERS}

    Attributes
    ----------
    n_outputs_ : int
    {_ATTRIBUTES}

    See Also
    --------
    SequenceClassifier : the same network for class labels.

    Notes
    -----
    The defaults are those measured for :class:`SequenceClassifier` (see its notes).

    {_WARNINGS}

    Examples
    --------
    >>> import numpy as np, numrnn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (64, 5))                  # 64 sequences of 5 steps
    >>> y = X.mean(axis=1)
    >>> reg = numrnn.SequenceRegressor(hidden_size=8, epochs=60, backend="numpy", seed=0)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
    """

    _estimator_type = "regressor"

    @fill_doc
    def fit(self, X, y):
        """Train on sequences ``X`` and targets ``y``.

        %(estimator_X)s
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)

        %(fit_returns)s
        """
        X = as_padded(X, "X")
        y = _check_real_targets(y, len(X[0]))
        self._fit_target_scaling(y)
        return self._fit_network(X, self._training_targets(y, len(y)), self.n_outputs_, "mse")

    @fill_doc
    def partial_fit(self, X, y):
        """Train for one pass over ``X`` (scikit-learn's incremental learning).

        The first call (on an unfitted estimator) fits the input and target scaling and the
        patch length on its block and builds the network; each call then makes one pass of
        minibatches (in a seeded random order) over its block, and the optimizer's state
        carries over from call to call. There is no validation split, early stopping or
        schedule.

        %(estimator_X)s
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)

        %(returns_self)s

        Examples
        --------
        >>> import numpy as np
        >>> from numrnn.estimators import SequenceRegressor
        >>> X = np.random.default_rng(0).uniform(-1, 1, (64, 5))
        >>> reg = SequenceRegressor(hidden_size=8, backend="numpy", seed=0)
        >>> for epoch in range(3):
        ...     reg = reg.partial_fit(X, X.mean(axis=1))
        >>> reg.loss_curve_[-1] < reg.loss_curve_[0]
        True
        """
        fitted = hasattr(self, "model_")
        X = as_padded(X, "X", self.n_features_in_ if fitted else None)
        y = _check_real_targets(y, len(X[0]))
        if not fitted:
            self._fit_target_scaling(y)
        return self._partial_fit_network(X, self._training_targets(y, len(X[0])),
                                         self.n_outputs_, "mse")

    def _fit_target_scaling(self, y):
        """Set the targets' number of dimensions, of outputs, and their scaling."""
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.y_ndim_ = y.ndim
        self.n_outputs_ = y2.shape[1]
        self.y_mean_, self.y_scale_ = column_scaling(y2)

    def _training_targets(self, y, n_samples):
        """Standardised targets (n_samples, n_outputs), the targets of the network."""
        y = check_targets(y, n_samples).reshape(n_samples, -1)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} outputs per sequence, got "
                             f"{y.shape[1]}")
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32)

    @fill_doc
    def predict(self, X):
        """Predicted targets.

        %(estimator_X)s

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
            Like the ``y`` given to :meth:`fit`; lazy for a dask array or bag ``X``, as for
            :meth:`~numrnn.SequenceClassifier.predict_proba`.
        """
        if tu.is_dask(X):
            self._check_fitted()
            return self._lazy(self.predict, X, (self.n_outputs_,) * (self.y_ndim_ == 2),
                              np.float64)
        pred = self._forward(X) * self.y_scale_ + self.y_mean_
        return pred[:, 0] if self.y_ndim_ == 1 else pred

    @fill_doc
    def score(self, X, y):
        """Coefficient of determination :math:`R^2` of :meth:`predict`, averaged over outputs.

        %(estimator_X)s
        y : array_like

        Returns
        -------
        float
        """
        y = check_targets(y, len(X))
        return r2_score(y, self.predict(X).reshape(y.shape))
