"""scikit-learn's estimator protocol for the applications, without importing scikit-learn.

:class:`ParamsMixin` gives :class:`~numrnn.estimators.SequenceClassifier`,
:class:`~numrnn.estimators.SequenceRegressor`, :class:`~numrnn.forecasting.Forecaster` and
:class:`~numrnn.text.CharLanguageModel` what ``sklearn.base.clone``, ``Pipeline`` and
``GridSearchCV`` ask of an estimator: constructor arguments stored unchanged under their own
names, ``get_params``/``set_params``, and pickles that survive moving between processes.
"""

import inspect
from collections import namedtuple

from numrnn._compat import sklearn_class
from numrnn._docs import fill_doc
from numrnn.io import build_model, model_config
from numrnn.model import Sequential

__all__ = ["ParamsMixin"]

# A fitted Sequential in a pickle: numrnn.io's description of it and its parameters.
_PickledModel = namedtuple("_PickledModel", ["config", "parameters"])


class ParamsMixin:
    """scikit-learn's parameter protocol, and pickling of the fitted networks.

    Subclasses store every constructor argument unchanged under its own name
    (:meth:`_store_arguments`). Fitted :class:`~numrnn.model.Sequential` attributes are
    pickled as their configuration and parameters (:mod:`numrnn.io`'s description), since a
    layer holds its backend module, which cannot be pickled; so joblib and
    ``GridSearchCV(n_jobs=...)`` can move fitted estimators between processes. The optimizer's
    state is not kept.
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
                model = build_model(value.config)
                model.load_state_dict(value.parameters)
                state[name] = model.eval()
        self.__dict__.update(state)

    @classmethod
    def _get_param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def _store_arguments(self, arguments):
        """Store the constructor's arguments (its ``locals()``) unchanged, as scikit-learn
        asks: no checks and no conversions before ``fit``."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def _check_fitted(self, attribute="model_"):
        """Raise scikit-learn's ``NotFittedError`` (or its look-alike) before ``fit``."""
        if not hasattr(self, attribute):
            raise sklearn_class("NotFittedError")(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

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

    @fill_doc
    def set_params(self, **params):
        """Set constructor arguments; returns self.

        Parameters
        ----------
        **params
            Names from :meth:`get_params`.

        %(returns_self)s

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
