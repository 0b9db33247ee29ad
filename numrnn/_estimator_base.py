"""What :class:`~numrnn.estimators.SequenceClassifier` and
:class:`~numrnn.estimators.SequenceRegressor` share: :class:`SequenceEstimator`.

It holds the constructor arguments, fits the input scaling, the patch length and the network
(:func:`numrnn._seqnet.build_model`, trained by :func:`numrnn._seqnet.fit_seeded` with early
stopping and a plateau schedule), and maps new sequences through the same preparation. The
subclasses turn their targets into the network's (class indices, standardised values) and its
outputs back. :func:`check_targets` and :func:`check_labels` check ``y`` with
scikit-learn's errors.
"""

import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from numrnn._compat import sklearn_class
from numrnn._seqnet import as_padded, build_model, fit_seeded
from numrnn._seqprep import choose_patch, fit_standardisation, fold, standardise
from numrnn._sklearn_api import ParamsMixin
from numrnn._validation import check_choice, check_float, check_int
from numrnn.optim import ReduceLROnPlateau
from numrnn.readouts import READOUTS

__all__ = ["SequenceEstimator", "check_labels", "check_targets"]

_LR_SCHEDULES = {"plateau", "constant"}
#: ``early_stopping="auto"`` holds out a validation split from this many samples on. Below
#: it, a 10 % split holds fewer than 50 sequences, too few to pick an epoch by (measured on
#: the small UCR sets: docs/benchmarks.rst); training then stops when the training loss
#: settles.
AUTO_EARLY_STOPPING_SAMPLES = 500


class SequenceEstimator(ParamsMixin):
    """Validation, input preparation and fitting shared by both estimators."""

    _estimator_type = None

    def __init__(self, cell="gru", hidden_size=64, num_layers=1, bidirectional=True,
                 readout="mean_max", standardize=True, patch="auto", dropout=0.0,
                 optimizer="adam", learning_rate=0.01, epochs=200, batch_size=32,
                 clip_norm=1.0, early_stopping="auto", validation_fraction=0.1,
                 n_iter_no_change=20, tol=1e-4, lr_schedule="plateau", backend="auto",
                 seed=None, verbose=False):
        self._store_arguments(locals())

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
        check_choice(self.readout, "readout", READOUTS)
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
        check_choice(self.lr_schedule, "lr_schedule", _LR_SCHEDULES)
        if self.early_stopping not in ("auto", True, False):
            raise ValueError(f"early_stopping must be 'auto', True or False, got "
                             f"{self.early_stopping!r}")
        patience = check_int(self.n_iter_no_change, "n_iter_no_change", 1)
        tol = check_float(self.tol, "tol", 0.0)
        epochs = check_int(self.epochs, "epochs", 1)
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
        enabled = (n_samples >= AUTO_EARLY_STOPPING_SAMPLES if self.early_stopping == "auto"
                   else self.early_stopping)
        everything = np.arange(n_samples)
        if not enabled:
            return everything, None
        fraction = check_float(self.validation_fraction, "validation_fraction", 0.0, 1.0,
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

    # -- predicting ----------------------------------------------------------------------

    def _prepared(self, padded, lengths):
        """Standardised and patched network input from padded sequences."""
        x = standardise(padded, lengths, self.input_mean_, self.input_scale_)
        return fold(x, lengths, self.patch_size_)

    def _network_input(self, X):
        """The network's input (padded, lengths) for sequences ``X``, as in training."""
        self._check_fitted()
        return self._prepared(*as_padded(X, "X", self.n_features_in_))

    def _forward(self, X):
        padded, lengths = self._network_input(X)
        return self.model_.predict(padded, lengths)


def check_targets(y, n_samples, owner="estimator"):
    """``y`` as an array with one target per sample (scikit-learn's error for None)."""
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n_samples:
        raise ValueError(f"y must have one target per sequence ({n_samples}), got shape "
                         f"{y.shape}")
    return y


def check_labels(y, n_samples):
    """Class labels ``y`` (n_samples,): no NaN, not continuous (scikit-learn's rules)."""
    y = check_targets(y, n_samples, "SequenceClassifier")
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
