"""Small public-domain data sets shipped with numrnn (see ``README.md`` in this folder).

Examples
--------
>>> from numrnn.datasets import load_sunspots, load_jargon
>>> years, sunspots = load_sunspots()
>>> int(years[0]), int(years[-1]), sunspots.shape
(1700, 2008, (309,))
>>> load_jargon()[:42]
'Chapter 1. Hacker Slang and Hacker Culture'
>>> X, y = adding_problem(4, steps=10, seed=0)
>>> X.shape, y.shape
((4, 10, 2), (4,))
"""

from importlib import resources

import numpy as np

__all__ = ["adding_problem", "load_jargon", "load_sunspots"]


def _path(name):
    return resources.files(__name__).joinpath(name)


def load_sunspots():
    """Yearly mean sunspot numbers, 1700--2008 (NOAA NGDC; public domain).

    Returns
    -------
    years : ndarray of int, shape (309,)
    sunspots : ndarray of float, shape (309,)

    Examples
    --------
    >>> from numrnn.datasets import load_sunspots
    >>> years, sunspots = load_sunspots()
    >>> int(years[0]), int(years[-1]), len(sunspots)
    (1700, 2008, 309)
    """
    with _path("sunspots.csv").open("r", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", skiprows=1)
    return table[:, 0].astype(int), table[:, 1]


def load_jargon():
    """Part I (Introduction) of the Jargon File 4.4.7 as one string (public domain).

    Returns
    -------
    str
        About 87,000 ASCII characters of English prose.

    Examples
    --------
    >>> from numrnn.datasets import load_jargon
    >>> text = load_jargon()
    >>> len(text) > 80_000, text.isascii()
    (True, True)
    """
    return _path("jargon_intro.txt").read_text(encoding="ascii")


def adding_problem(n_samples, steps=100, seed=None):
    r"""The adding problem (Hochreiter & Schmidhuber, 1997): sum two marked numbers.

    Each sequence has ``steps`` steps of two features: a number drawn from U(0, 1) and a
    marker, 1 at exactly two steps (one in each half of the sequence) and 0 elsewhere. The
    target is the sum of the two marked numbers. Predicting the mean, 1, scores a mean
    squared error of :math:`\operatorname{Var}(u_1 + u_2) = 1/6 \approx 0.167`; beating it
    takes remembering the first marked number for up to ``steps`` steps.

    Parameters
    ----------
    n_samples : int
    steps : int, default 100
        Sequence length T, at least 2.
    seed : int or None

    Returns
    -------
    X : ndarray, shape (n_samples, steps, 2), float32
    y : ndarray, shape (n_samples,), float32

    Examples
    --------
    >>> import numpy as np
    >>> from numrnn.datasets import adding_problem
    >>> X, y = adding_problem(3, steps=10, seed=0)
    >>> X.shape, y.shape
    ((3, 10, 2), (3,))
    >>> X[:, :, 1].sum(axis=1)                  # two marked steps per sequence
    array([2., 2., 2.], dtype=float32)
    >>> bool(np.allclose(y, (X[:, :, 0] * X[:, :, 1]).sum(axis=1)))
    True
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (n_samples, steps))
    markers = np.zeros((n_samples, steps))
    rows = np.arange(n_samples)
    markers[rows, rng.integers(0, steps // 2, n_samples)] = 1.0
    markers[rows, rng.integers(steps // 2, steps, n_samples)] = 1.0
    X = np.stack([values, markers], axis=-1).astype(np.float32)
    return X, (values * markers).sum(axis=1).astype(np.float32)
