r"""Time-series forecasting with a recurrent network: :class:`Forecaster`.

The series is cut into windows of ``window`` steps; a recurrent network reads each window and
predicts what follows. Two strategies forecast ``h`` steps ahead:

* ``"recursive"``: one model predicts the next step; for more steps its predictions are fed
  back as inputs, :math:`\hat y_{t+j} = f(y_{t-w+j}, \dots, y_t, \hat y_{t+1}, \dots,
  \hat y_{t+j-1})`. Any number of steps; errors can compound.
* ``"direct"``: one model predicts the next ``horizon`` steps jointly,
  :math:`(\hat y_{t+1}, \dots, \hat y_{t+h}) = f(y_{t-w+1}, \dots, y_t)`; at most
  ``horizon`` steps.

Exogenous inputs (covariates known in advance, such as calendar features) enter the window
aligned with the step they inform: the input at step :math:`s` is
:math:`(y_s, x_{s+1})`, so the network sees the covariates of the step it predicts.
"""

import numpy as np

from numrnn._docs import fill_doc
from numrnn._seqprep import column_scaling
from numrnn._sklearn_api import ParamsMixin
from numrnn._validation import check_choice, check_int
from numrnn.estimators import SequenceRegressor

__all__ = ["Forecaster"]

_STRATEGIES = ("recursive", "direct")


class Forecaster(ParamsMixin):
    """Forecast a univariate or multivariate series ``h`` steps ahead.

    Parameters
    ----------
    window : int, default 24
        Number of past steps the network reads.
    horizon : int, default 1
        Steps predicted jointly by the ``"direct"`` strategy; for ``"recursive"``, whose
        model predicts one step, the steps :meth:`predict` forecasts by default.
    strategy : {"recursive", "direct"}, default "recursive"
    cell : {"lstm", "gru", "rnn", "rnn_relu"}, default "lstm"
    hidden_size : int, default 32
    num_layers : int, default 1
    dropout : float, default 0.0
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default "adam"
    learning_rate : float, default 0.01
    epochs : int, default 50
        The most epochs; training stops earlier once the loss settles.
    batch_size : int, default 32
    clip_norm : float or None, default 1.0
    readout : {"last", "mean", "max", "mean_max"}, default "last"
        What the head reads of each window (:mod:`numrnn.readouts`); the latest step suits
        forecasting.
    early_stopping : {"auto", True, False}, default "auto"
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
    lr_schedule : {"plateau", "constant"}, default "plateau"
        Stopping and schedule as in :class:`~numrnn.estimators.SequenceRegressor`.
    backend : {"auto", "numpy", "cpu", "cuda"}, default "auto"
    seed : int or None
        The same seed and data give the same forecasts.
    verbose : bool, default False

    Attributes
    ----------
    regressor_ : SequenceRegressor
        The network, fitted on the windows.
    n_series_ : int
        Number of series (columns of ``y``).
    n_exog_ : int
        Number of exogenous inputs (0 if none).
    y_mean_, y_scale_ : ndarray
        Standardisation of ``y`` as an input (the regressor standardises its targets).
    window_, horizon_, strategy_
        The window, the horizon (the steps the ``"direct"`` model predicts at once; the
        steps :meth:`predict` forecasts by default) and the strategy, as fitted.
    history_ : tuple
        The training series and exogenous inputs, which :meth:`predict` continues by
        default.

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.forecasting import Forecaster
    >>> y = np.sin(np.arange(200) * 2 * np.pi / 20)
    >>> model = Forecaster(window=20, hidden_size=16, epochs=10, backend="numpy", seed=0)
    >>> forecast = model.fit(y).predict(5)
    >>> truth = np.sin(np.arange(200, 205) * 2 * np.pi / 20)
    >>> bool(np.max(np.abs(forecast - truth)) < 0.2)
    True
    """

    def __init__(self, window=24, horizon=1, strategy="recursive", cell="lstm", hidden_size=32,
                 num_layers=1, dropout=0.0, optimizer="adam", learning_rate=0.01, epochs=50,
                 batch_size=32, clip_norm=1.0, readout="last", early_stopping="auto",
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 lr_schedule="plateau", backend="auto", seed=None, verbose=False):
        self._store_arguments(locals())

    @fill_doc
    def fit(self, y, exog=None):
        """Fit on a series ``y``, optionally with exogenous inputs ``exog``.

        Parameters
        ----------
        y : array_like, shape (n_steps,) or (n_steps, n_series)
        exog : array_like, shape (n_steps, n_exog) or (n_steps,), optional
            Covariates at the same steps as ``y``.

        %(returns_self)s

        Raises
        ------
        ValueError, TypeError
            Naming the argument that is wrong, e.g. a series shorter than
            ``window + horizon``.
        """
        window = check_int(self.window, "window", 1)
        strategy = check_choice(self.strategy, "strategy", _STRATEGIES)
        horizon = check_int(self.horizon, "horizon", 1)
        ahead = horizon if strategy == "direct" else 1  # what one window's model predicts
        y_given, y = y, _series("y", y)
        if len(y) < window + ahead + 1:
            raise ValueError(f"y must have at least window + horizon + 1 = {window + ahead + 1} "
                             f"steps, got {len(y)}")
        exog = None if exog is None else _series("exog", exog, len(y))
        self.window_, self.horizon_, self.strategy_ = window, horizon, strategy
        self.y_ndim_ = np.ndim(y_given)
        self.n_series_ = y.shape[1]
        self.n_exog_ = 0 if exog is None else exog.shape[1]
        self.y_mean_, self.y_scale_ = column_scaling(y)
        if exog is not None:
            self.exog_mean_, self.exog_scale_ = column_scaling(exog)
        features = self._features(y, exog)
        # Window i reads steps i .. i+window-1 and predicts steps i+window .. i+window+ahead-1.
        count = len(y) - window - ahead + 1
        starts = np.arange(count)
        X = features[starts[:, None] + np.arange(window)]
        targets = y[starts[:, None] + window + np.arange(ahead)]
        names = SequenceRegressor._get_param_names()
        # One direction and no patching: the windows are short and their latest steps matter.
        self.regressor_ = SequenceRegressor(
            bidirectional=False, patch=1,
            **{k: v for k, v in self.get_params().items() if k in names})
        self.regressor_.fit(X, targets.reshape(count, -1))
        self.history_ = (y, exog)
        return self

    def predict(self, steps=None, y=None, exog=None):
        """Forecast ``steps`` steps after the end of ``y`` (the training series by default).

        Parameters
        ----------
        steps : int, optional
            How far ahead; default ``horizon``. At most ``horizon`` for ``"direct"``.
        y : array_like, shape (n, n_series) or (n,), optional
            The history to continue, at least ``window`` steps; default: the series given to
            :meth:`fit`.
        exog : array_like, shape (n + steps, n_exog), optional
            With a model fitted on exogenous inputs: their values over the history and the
            forecast steps (without ``y``: the training steps followed by ``steps`` more).

        Returns
        -------
        ndarray, shape (steps,) or (steps, n_series)
            Like ``y``'s columns.

        Raises
        ------
        ValueError, TypeError
            Naming the argument that is wrong.
        NotFittedError
            If the forecaster is not fitted (scikit-learn's class when installed).
        """
        self._check_fitted("regressor_")
        direct = self.strategy_ == "direct"
        steps = check_int(self.horizon_ if steps is None else steps, "steps", 1)
        if direct and steps > self.horizon_:
            raise ValueError(f"steps must be <= horizon ({self.horizon_}) for the direct "
                             f"strategy, got {steps}")
        y = self.history_[0] if y is None else _series("y", y)
        if y.shape[1] != self.n_series_:
            raise ValueError(f"y must have {self.n_series_} series (columns), got {y.shape[1]}")
        if len(y) < self.window_:
            raise ValueError(f"y must have at least window = {self.window_} steps, got "
                             f"{len(y)}")
        if self.n_exog_:
            if exog is None:
                raise ValueError("exog must be given: the forecaster was fitted with exogenous "
                                 "inputs")
            exog = _series("exog", exog, len(y) + steps)
            if exog.shape[1] != self.n_exog_:
                raise ValueError(f"exog must have {self.n_exog_} columns, got {exog.shape[1]}")
        elif exog is not None:
            raise ValueError("exog must be None: the forecaster was fitted without it")
        if direct:
            window = self._features(y, exog)[-self.window_:]
            out = self.regressor_.predict(window[None]).reshape(self.horizon_, self.n_series_)
            return self._columns(out[:steps])
        forecast = []
        for _ in range(steps):
            window = self._features(y, exog)[-self.window_:]
            step = self.regressor_.predict(window[None]).reshape(1, self.n_series_)
            forecast.append(step[0])
            y = np.concatenate([y, step])
        return self._columns(np.array(forecast))

    # -- helpers ---------------------------------------------------------------------------

    def _scaled(self, y):
        return (y - self.y_mean_) / self.y_scale_

    def _features(self, y, exog):
        """Inputs (n, n_series + n_exog): y at step s with exog at step s + 1."""
        parts = [self._scaled(y)]
        if exog is not None:
            parts.append((exog[1:len(y) + 1] - self.exog_mean_) / self.exog_scale_)
            if len(parts[1]) < len(y):
                # The last step of the training series has no exog after it; its window
                # only ever serves as history, never as the input of a training target.
                parts[1] = np.concatenate([parts[1], np.zeros((1, parts[1].shape[1]))])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _columns(self, values):
        """(steps,) for a 1-D series given to fit, else (steps, n_series)."""
        return values[:, 0] if self.y_ndim_ == 1 else values


def _series(name, a, length=None):
    """A finite float64 (n, k) array from (n,) or (n, k); its length checked if given."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D (steps, columns), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must not contain NaN or infinity")
    if length is not None and len(arr) != length:
        raise ValueError(f"{name} must have {length} steps, got {len(arr)}")
    arr = arr.astype(np.float64)
    return arr[:, None] if arr.ndim == 1 else arr
