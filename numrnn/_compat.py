"""scikit-learn's exception classes when scikit-learn is installed, look-alikes otherwise.

scikit-learn is imported only when one is raised or warned, never by ``import numrnn`` (it
takes about a second): so ``except sklearn.exceptions.NotFittedError`` and
``warnings.filterwarnings("ignore", category=ConvergenceWarning)`` work as with
scikit-learn's own estimators.
"""


class NotFittedError(ValueError, AttributeError):
    """Raised by an estimator used before ``fit`` (scikit-learn's class when installed)."""


class ConvergenceWarning(UserWarning):
    """Training stopped before the loss settled (scikit-learn's class when installed)."""


class DataConversionWarning(UserWarning):
    """The data was converted to the form expected (scikit-learn's class when installed)."""


_FALLBACKS = {"NotFittedError": NotFittedError, "ConvergenceWarning": ConvergenceWarning,
              "DataConversionWarning": DataConversionWarning}


def sklearn_class(name):
    """``sklearn.exceptions.<name>`` if scikit-learn is installed, else this module's class."""
    try:
        import sklearn.exceptions
    except ImportError:
        return _FALLBACKS[name]
    return getattr(sklearn.exceptions, name)
