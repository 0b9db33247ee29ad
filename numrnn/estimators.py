"""scikit-learn style estimators: :class:`SequenceClassifier`, :class:`SequenceRegressor`.

Each maps one sequence to one output (many-to-one): a recurrent layer reads the sequence and a
dense head reads its state at the sequence's last valid step. ``X`` may be a 3-D array
(n_samples, T, n_features), a 2-D array (n_samples, T) of one feature, or a list of
variable-length (T_i, n_features) arrays, which are padded and passed with their lengths.

The estimators follow scikit-learn's conventions without importing it: the constructor only
stores its arguments, :meth:`~numrnn.SequenceClassifier.fit` returns ``self``, learned
attributes end in ``_``, and ``get_params``/``set_params`` work, so ``sklearn.base.clone``,
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` accept them.
"""

import inspect
from collections import namedtuple

import numpy as np

from numrnn._seqnet import as_padded, build_model, fit_seeded
from numrnn.io import build_model as build_from_config
from numrnn.io import model_config
from numrnn.metrics import r2_score
from numrnn.model import Sequential

__all__ = ["SequenceClassifier", "SequenceRegressor"]

_PickledModel = namedtuple("_PickledModel", ["config", "parameters"])


class ParamsMixin:
    """scikit-learn's parameter protocol, and pickling of the fitted networks.

    Subclasses store every constructor argument unchanged under its own name. Fitted
    :class:`~numrnn.model.Sequential` attributes are pickled as their configuration and
    parameters (:mod:`numrnn.io`'s description), since a layer holds its backend module,
    which cannot be pickled; so joblib and ``GridSearchCV(n_jobs=...)`` can move fitted
    estimators between processes. The optimizer's state is not kept.
    """

    def __getstate__(self):
        state = dict(self.__dict__)
        for name, value in state.items():
            if isinstance(value, Sequential):
                state[name] = _PickledModel(model_config(value), value.state_dict())
        return state

    def __setstate__(self, state):
        for name, value in state.items():
            if isinstance(value, _PickledModel):
                model = build_from_config(value.config)
                model.load_state_dict(value.parameters)
                state[name] = model.eval()
        self.__dict__.update(state)

    @classmethod
    def _get_param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """The constructor arguments, by name.

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn compatibility; there are no nested estimators.

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor arguments; returns self.

        Parameters
        ----------
        **params
            Names from :meth:`get_params`.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For a name that is not a parameter.
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if v is not defaults[k].default and v != defaults[k].default]
        return f"{type(self).__name__}({', '.join(changed)})"


class _SequenceEstimator(ParamsMixin):
    """Validation and fitting shared by both estimators."""

    _estimator_type = None

    def __init__(self, cell="lstm", hidden_size=32, num_layers=1, bidirectional=False,
                 dropout=0.0, optimizer="adam", learning_rate=0.01, epochs=30, batch_size=32,
                 clip_norm=1.0, backend="auto", seed=None, verbose=False):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.clip_norm = clip_norm
        self.backend = backend
        self.seed = seed
        self.verbose = verbose

    def __sklearn_tags__(self):
        # Imported here: scikit-learn is optional and only its own code asks for tags.
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True),
            transformer_tags=None,
            classifier_tags=ClassifierTags() if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
            input_tags=InputTags(two_d_array=True, three_d_array=True),
        )

    # -- fitting -------------------------------------------------------------------------

    def _fit_network(self, X, targets, output_size, loss):
        padded, lengths = X
        self.n_features_in_ = padded.shape[2]
        self.model_ = build_model(
            self.cell, self.n_features_in_, self.hidden_size, output_size,
            num_layers=self.num_layers, bidirectional=self.bidirectional, dropout=self.dropout,
            last_step=True, loss=loss, optimizer=self.optimizer,
            learning_rate=self.learning_rate, backend=self.backend, seed=self.seed)
        self.loss_curve_ = fit_seeded(
            self.model_, padded, targets, lengths=lengths, epochs=self.epochs,
            batch_size=self.batch_size, clip_norm=self.clip_norm, seed=self.seed,
            progress=self.verbose)
        return self

    def _forward(self, X):
        if not hasattr(self, "model_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit first")
        padded, lengths = as_padded(X, "X", self.n_features_in_)
        return self.model_.predict(padded, lengths)


def _check_targets(y, n_samples):
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n_samples:
        raise ValueError(f"y must have one target per sequence ({n_samples}), got shape "
                         f"{y.shape}")
    return y


class SequenceClassifier(_SequenceEstimator):
    """Classify whole sequences with a recurrent network (many-to-one).

    A recurrent layer reads each sequence; a dense softmax head reads its output at the
    sequence's last valid step. Trained by minibatches on the cross-entropy.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn", "rnn_relu"}, default "lstm"
        Recurrent cell ("rnn" is the tanh RNN).
    hidden_size : int, default 32
    num_layers : int, default 1
    bidirectional : bool, default False
        The head then reads each direction's output after the whole sequence.
    dropout : float, default 0.0
        Between stacked layers.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default "adam"
    learning_rate : float, default 0.01
    epochs : int, default 30
    batch_size : int, default 32
    clip_norm : float or None, default 1.0
        Clip the global gradient norm to this (None: no clipping).
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
    seed : int or None
        Seeds the initial weights, dropout and the order of the minibatches: the same seed
        and data give the same model.
    verbose : bool, default False
        Show a progress bar with the loss (if tqdm is installed).

    Attributes
    ----------
    classes_ : ndarray
        The class labels seen by :meth:`fit`, sorted.
    n_features_in_ : int
    loss_curve_ : list of float
        Mean training loss per epoch.
    model_ : numrnn.model.Sequential
        The trained network: ``model_.layers`` is the recurrent layer and the head.

    See Also
    --------
    SequenceRegressor

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.estimators import SequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 6, 1))
    >>> y = (X.sum(axis=(1, 2)) > 0).astype(int)
    >>> clf = SequenceClassifier(hidden_size=8, epochs=20, backend="numpy", seed=0)
    >>> clf.fit(X, y).score(X, y) > 0.8
    True
    >>> clf.predict([X[0, :3], X[1]]).shape          # variable-length sequences
    (2,)
    """

    _estimator_type = "classifier"

    def fit(self, X, y):
        """Train on sequences ``X`` and their class labels ``y``.

        Parameters
        ----------
        X : array_like or list of array_like
            (n_samples, T, n_features), (n_samples, T), or a list of (T_i, n_features).
        y : array_like, shape (n_samples,)
            Class labels (any type ``numpy.unique`` sorts).

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            Naming the argument that is wrong.
        """
        X = as_padded(X, "X")
        y = _check_targets(y, len(X[0]))
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one label per sequence), got shape {y.shape}")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y must hold at least 2 classes, got {len(self.classes_)}")
        return self._fit_network(X, self._training_targets(y, len(y)), len(self.classes_),
                                 "cross_entropy")

    def _training_targets(self, y, n_samples):
        """Class indices of ``y``, the targets of the network."""
        y = _check_targets(y, n_samples)
        index = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        if not np.all(self.classes_[index] == y):
            raise ValueError(f"y holds labels not seen in fit: {np.setdiff1d(y, self.classes_)}")
        return index.astype(np.int64)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array_like or list of array_like

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
        """
        return self._forward(X).astype(np.float64)

    def predict(self, X):
        """The most probable class of each sequence.

        Parameters
        ----------
        X : array_like or list of array_like

        Returns
        -------
        ndarray, shape (n_samples,)
        """
        proba = self._forward(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y):
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array_like or list of array_like
        y : array_like, shape (n_samples,)

        Returns
        -------
        float
        """
        y = _check_targets(y, len(X))
        return float(np.mean(self.predict(X) == y))


class SequenceRegressor(_SequenceEstimator):
    """Predict one real vector per sequence with a recurrent network (many-to-one).

    A recurrent layer reads each sequence; a linear head reads its output at the sequence's
    last valid step. Trained by minibatches on the mean squared error. Targets are
    standardised internally (and predictions mapped back), so their scale does not matter.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn", "rnn_relu"}, default "lstm"
    hidden_size : int, default 32
    num_layers : int, default 1
    bidirectional : bool, default False
    dropout : float, default 0.0
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default "adam"
    learning_rate : float, default 0.01
    epochs : int, default 30
    batch_size : int, default 32
    clip_norm : float or None, default 1.0
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
    seed : int or None
    verbose : bool, default False

    Attributes
    ----------
    n_features_in_ : int
    n_outputs_ : int
    loss_curve_ : list of float
        Mean training loss per epoch (on the standardised targets).
    model_ : numrnn.model.Sequential

    See Also
    --------
    SequenceClassifier

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.estimators import SequenceRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (64, 5))                  # 64 sequences of 5 steps
    >>> y = X.mean(axis=1)
    >>> reg = SequenceRegressor(hidden_size=8, epochs=40, backend="numpy", seed=0)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
    """

    _estimator_type = "regressor"

    def fit(self, X, y):
        """Train on sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array_like or list of array_like
            (n_samples, T, n_features), (n_samples, T), or a list of (T_i, n_features).
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self

        Raises
        ------
        ValueError, TypeError
            Naming the argument that is wrong.
        """
        X = as_padded(X, "X")
        y = _check_targets(y, len(X[0]))
        if y.dtype.kind not in "fiu" or y.ndim > 2 or not np.all(np.isfinite(y)):
            raise ValueError(f"y must be finite real numbers of shape (n_samples,) or "
                             f"(n_samples, n_outputs), got dtype {y.dtype} shape {y.shape}")
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.y_ndim_ = y.ndim
        self.n_outputs_ = y2.shape[1]
        self.y_mean_ = y2.mean(axis=0)
        self.y_scale_ = np.where(y2.std(axis=0) > 0, y2.std(axis=0), 1.0)
        return self._fit_network(X, self._training_targets(y, len(y)), self.n_outputs_, "mse")

    def _training_targets(self, y, n_samples):
        """Standardised targets (n_samples, n_outputs), the targets of the network."""
        y = _check_targets(y, n_samples).reshape(n_samples, -1)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} outputs per sequence, got "
                             f"{y.shape[1]}")
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array_like or list of array_like

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_outputs)
            Like the ``y`` given to :meth:`fit`.
        """
        pred = self._forward(X) * self.y_scale_ + self.y_mean_
        return pred[:, 0] if self.y_ndim_ == 1 else pred

    def score(self, X, y):
        """Coefficient of determination :math:`R^2` of :meth:`predict`, averaged over outputs.

        Parameters
        ----------
        X : array_like or list of array_like
        y : array_like

        Returns
        -------
        float
        """
        y = _check_targets(y, len(X))
        return r2_score(y, self.predict(X).reshape(y.shape))
