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

import inspect
import warnings
from collections import namedtuple

import numpy as np
from threadpoolctl import threadpool_limits

from numrnn import _trainutil as tu
from numrnn._compat import sklearn_class
from numrnn._seqnet import _real_array, as_padded, build_model, fit_seeded
from numrnn._seqprep import choose_patch, fit_standardisation, fold, standardise
from numrnn._validation import check_int
from numrnn.io import build_model as build_from_config
from numrnn.io import model_config
from numrnn.metrics import r2_score
from numrnn.model import Sequential
from numrnn.optim import ReduceLROnPlateau
from numrnn.readouts import READOUTS

__all__ = ["SequenceClassifier", "SequenceRegressor"]

_PickledModel = namedtuple("_PickledModel", ["config", "parameters"])
_LR_SCHEDULES = {"plateau", "constant"}
#: ``early_stopping="auto"`` holds out a validation split from this many samples on. Below
#: it, a 10 % split holds fewer than 50 sequences, too few to pick an epoch by (measured on
#: the small UCR sets: docs/benchmarks.rst); training then stops when the training loss
#: settles.
_AUTO_EARLY_STOPPING_SAMPLES = 500


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
    """Validation, input preparation and fitting shared by both estimators."""

    _estimator_type = None

    def __init__(self, cell="gru", hidden_size=64, num_layers=1, bidirectional=True,
                 readout="mean_max", standardize=True, patch="auto", dropout=0.0,
                 optimizer="adam", learning_rate=0.01, epochs=200, batch_size=32,
                 clip_norm=1.0, early_stopping="auto", validation_fraction=0.1,
                 n_iter_no_change=20, tol=1e-4, lr_schedule="plateau", backend="auto",
                 seed=None, verbose=False):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.readout = readout
        self.standardize = standardize
        self.patch = patch
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.clip_norm = clip_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.lr_schedule = lr_schedule
        self.backend = backend
        self.seed = seed
        self.verbose = verbose

    def __sklearn_tags__(self):
        # Imported here: scikit-learn is optional and only its own code asks for tags.
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True, multi_output=not classifier),
            transformer_tags=None,
            classifier_tags=ClassifierTags() if classifier else None,
            regressor_tags=None if classifier else RegressorTags(),
            input_tags=InputTags(two_d_array=True, three_d_array=True),
        )

    # -- fitting -------------------------------------------------------------------------

    def _new_network(self, padded, lengths, output_size, loss):
        """Fit the scaling and the patch length on padded sequences and build the network;
        returns the network's input (x, lengths)."""
        tu.check_choice(self.readout, "readout", READOUTS)
        self.n_features_in_ = padded.shape[2]
        self.input_mean_, self.input_scale_ = (
            fit_standardisation(padded, lengths) if self.standardize
            else (np.zeros(padded.shape[2]), np.ones(padded.shape[2])))
        self.patch_size_ = choose_patch(self.patch, padded.shape[1])
        x, lengths = self._prepared(padded, lengths)
        self.model_ = build_model(
            self.cell, x.shape[2], self.hidden_size, output_size,
            num_layers=self.num_layers, bidirectional=self.bidirectional, dropout=self.dropout,
            last_step=True, readout=self.readout, loss=loss, optimizer=self.optimizer,
            learning_rate=self.learning_rate, backend=self.backend, seed=self.seed)
        return x, lengths

    def _fit_network(self, X, targets, output_size, loss, strata=None):
        """Fit the scaling, the patch length and the network on padded ``X`` and ``targets``.

        ``strata``: the class index of each sample, for a stratified validation split.
        """
        tu.check_choice(self.lr_schedule, "lr_schedule", _LR_SCHEDULES)
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(f"early_stopping must be 'auto', True or False, got "
                             f"{self.early_stopping!r}")
        patience = check_int("n_iter_no_change", self.n_iter_no_change, 1)
        tol = tu.check_float(self.tol, "tol", 0.0)
        epochs = check_int("epochs", self.epochs, 1)
        x, lengths = self._new_network(*X, output_size, loss)
        train, held = self._validation_split(len(x), strata)
        options = {"early_stopping": patience, "min_delta": tol}
        if held is not None:
            options["validation_data"] = (x[held], targets[held],
                                          None if lengths is None else lengths[held])
        if self.lr_schedule == "plateau":
            options["schedule"] = ReduceLROnPlateau(
                self.model_.optimizer, factor=0.5, patience=max(1, patience // 4),
                threshold=tol, threshold_mode="abs")
        # One BLAS thread: these networks' products are small, and on a busy 2-core machine
        # two threads made each one take ~10 ms (ArrowHead, 60 epochs: 11.3 s against 1.2 s
        # on one thread, load average 5).
        import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS of @njit's np.dot first)

        with threadpool_limits(limits=1, user_api="blas"):
            self.loss_curve_ = fit_seeded(
                self.model_, x[train], targets[train],
                lengths=None if lengths is None else lengths[train], epochs=epochs,
                batch_size=self.batch_size, clip_norm=self.clip_norm, seed=self.seed,
                progress=self.verbose, **options)
        self.validation_loss_curve_ = self.model_.history_.get("val_loss")
        self.n_iter_ = len(self.loss_curve_)
        self.best_epoch_ = self.model_.best_epoch_
        self._warn_if_unsettled(self.validation_loss_curve_ or self.loss_curve_, epochs,
                                patience, tol)
        return self

    def _partial_fit_network(self, X, targets, output_size, loss):
        """One pass of the network over padded ``X``; the first call builds it (the scaling
        and patch length come from this first block)."""
        padded, lengths = X
        if not hasattr(self, "model_"):
            x, lengths = self._new_network(padded, lengths, output_size, loss)
            self.loss_curve_, self.validation_loss_curve_, self.n_iter_ = [], None, 0
            self.best_epoch_ = 0
        else:
            x, lengths = self._prepared(padded, lengths)
        order_seed = None if self.seed is None else [int(self.seed), self.n_iter_]
        with threadpool_limits(limits=1, user_api="blas"):
            self.model_.partial_fit(x, targets, lengths=lengths, batch_size=self.batch_size,
                                    shuffle=True, seed=order_seed, clip_norm=self.clip_norm)
        self.loss_curve_ = [*self.loss_curve_, self.model_.history_["loss"][-1]]
        self.n_iter_ += 1
        return self

    def _lazy(self, method, X, tail, dtype):
        """``method`` over a dask array (lazy, block by block) or a dask bag of sequences.

        Callers check that the estimator is fitted first: ``tail`` reads fitted attributes.
        """
        from numrnn.distributed import map_samples, map_sequences

        if hasattr(X, "map_partitions") and not hasattr(X, "chunks"):
            return map_sequences(method, X)
        return map_samples(method, X, tail, dtype)

    def _validation_split(self, n_samples, strata):
        """Sample indices (training, held out or None) for early stopping."""
        enabled = (n_samples >= _AUTO_EARLY_STOPPING_SAMPLES if self.early_stopping == "auto"
                   else self.early_stopping)
        everything = np.arange(n_samples)
        if not enabled:
            return everything, None
        fraction = tu.check_float(self.validation_fraction, "validation_fraction", 0.0, 1.0,
                                  low_open=True, high_open=True)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1])
        groups = [everything] if strata is None else [np.flatnonzero(strata == c)
                                                      for c in np.unique(strata)]
        # Each class keeps at least one training sample and gives its share to validation.
        held = np.concatenate([rng.permutation(g)[:min(len(g) - 1, round(fraction * len(g)))]
                               for g in groups]).astype(np.int64)
        if len(held) == 0:
            return everything, None
        return np.setdiff1d(everything, held), np.sort(held)

    def _warn_if_unsettled(self, monitored, epochs, patience, tol):
        """ConvergenceWarning when the epoch budget ran out while the loss still improved:
        the last ``patience`` epochs (half of them, for fewer) bettered the best before them
        by more than ``tol``. A single epoch shows nothing settled.
        """
        if len(monitored) < epochs:
            return
        window = max(1, min(patience, len(monitored) // 2))
        before, recent = min(monitored[:-window] or [np.inf]), min(monitored[-window:])
        if recent < before - tol:
            loss = f"{'validation ' if self.validation_loss_curve_ else ''}loss"
            trend = (f"{loss} {before:.4g} -> {recent:.4g} over the last {window} epochs"
                     if np.isfinite(before) else "one epoch")
            warnings.warn(f"{type(self).__name__} stopped at epochs={epochs} before its {loss} "
                          f"settled ({trend}); raise epochs", sklearn_class("ConvergenceWarning"),
                          stacklevel=4)

    def _prepared(self, padded, lengths):
        """Standardised and patched network input from padded sequences."""
        x = standardise(padded, lengths, self.input_mean_, self.input_scale_)
        return fold(x, lengths, self.patch_size_)

    def _network_input(self, X):
        """The network's input (padded, lengths) for sequences ``X``, as in training."""
        self._check_fitted()
        return self._prepared(*as_padded(X, "X", self.n_features_in_))

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise sklearn_class("NotFittedError")(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def _forward(self, X):
        padded, lengths = self._network_input(X)
        return self.model_.predict(padded, lengths)


def _check_targets(y, n_samples, owner="estimator"):
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n_samples:
        raise ValueError(f"y must have one target per sequence ({n_samples}), got shape "
                         f"{y.shape}")
    return y


def _check_real_targets(y, n_samples):
    """A regressor's targets ``y``: finite real numbers, (n_samples,) or (n_samples, k)."""
    y = _check_targets(y, n_samples, "SequenceRegressor")
    if y.dtype == object:
        y = _real_array("y", y)
    if y.dtype.kind not in "fiu" or y.ndim > 2 or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be finite real numbers of shape (n_samples,) or "
                         f"(n_samples, n_outputs), got dtype {y.dtype} shape {y.shape}")
    return y


def _check_labels(y, n_samples):
    """Class labels ``y`` (n_samples,): no NaN, not continuous (scikit-learn's rules)."""
    y = _check_targets(y, n_samples, "SequenceClassifier")
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; it is "
                      "raveled", sklearn_class("DataConversionWarning"), stacklevel=3)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sequence), got shape {y.shape}")
    missing = np.isnan(y) if y.dtype.kind == "f" else np.array(
        [isinstance(v, float) and v != v for v in y.ravel()]) if y.dtype == object else None
    if missing is not None and missing.any():
        raise ValueError(f"y must not contain NaN: found {int(missing.sum())} NaN labels")
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        raise ValueError("Unknown label type: continuous. y holds non-integer numbers; "
                         "SequenceClassifier needs class labels (use SequenceRegressor for "
                         "real-valued targets)")
    return y


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
    (the table and a plot are in docs/benchmarks.rst).

    A fit that uses all ``epochs`` while the loss still improves warns with scikit-learn's
    ``ConvergenceWarning``; an estimator used before ``fit`` raises its ``NotFittedError``
    (this module's look-alikes without scikit-learn)."""


class SequenceClassifier(_SequenceEstimator):
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
    SequenceRegressor

    Notes
    -----
    {_NOTES}

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
        y = _check_labels(y, len(X[0]))
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

    def partial_fit(self, X, y, classes=None):
        """Train for one pass over ``X`` (scikit-learn's incremental learning).

        The first call (on an unfitted estimator) fits the input scaling and the patch length
        on its block and builds the network; each call then makes one pass of minibatches
        (in a seeded random order) over its block, and the optimizer's state carries over from
        call to call. There is no validation split, early stopping or schedule.

        Parameters
        ----------
        X : array_like or list of array_like
        y : array_like, shape (n_samples,)
        classes : array_like, optional
            Every class label; required on the first call, optional (but equal) later.

        Returns
        -------
        self

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
        y = _check_labels(y, len(X[0]))
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
            For a dask array ``X`` (chunked over samples), a lazy dask array; for a dask bag
            of sequences, a dask bag of probability vectors.
        """
        if tu.is_dask(X):
            self._check_fitted()
            return self._lazy(self.predict_proba, X, (len(self.classes_),), np.float64)
        return self._forward(X).astype(np.float64)

    def predict(self, X):
        """The most probable class of each sequence.

        Parameters
        ----------
        X : array_like or list of array_like

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
    SequenceClassifier

    Notes
    -----
    {_NOTES}

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.estimators import SequenceRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (64, 5))                  # 64 sequences of 5 steps
    >>> y = X.mean(axis=1)
    >>> reg = SequenceRegressor(hidden_size=8, epochs=60, backend="numpy", seed=0)
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
        y = _check_real_targets(y, len(X[0]))
        self._fit_target_scaling(y)
        return self._fit_network(X, self._training_targets(y, len(y)), self.n_outputs_, "mse")

    def partial_fit(self, X, y):
        """Train for one pass over ``X`` (scikit-learn's incremental learning).

        The first call (on an unfitted estimator) fits the input and target scaling and the
        patch length on its block and builds the network; each call then makes one pass of
        minibatches (in a seeded random order) over its block, and the optimizer's state
        carries over from call to call. There is no validation split, early stopping or
        schedule.

        Parameters
        ----------
        X : array_like or list of array_like
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self

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
        self.y_mean_ = y2.mean(axis=0)
        self.y_scale_ = np.where(y2.std(axis=0) > 0, y2.std(axis=0), 1.0)

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
            Like the ``y`` given to :meth:`fit`; lazy for a dask array or bag ``X``, as for
            :meth:`~numrnn.SequenceClassifier.predict_proba`.
        """
        if tu.is_dask(X):
            self._check_fitted()
            return self._lazy(self.predict, X, (self.n_outputs_,) * (self.y_ndim_ == 2),
                              np.float64)
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
