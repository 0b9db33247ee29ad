"""Small public-domain data sets shipped with numrnn (see ``README.md`` in this folder).

Examples
--------
>>> from numrnn.datasets import load_sunspots, load_jargon
>>> years, sunspots = load_sunspots()
>>> int(years[0]), int(years[-1]), sunspots.shape
(1700, 2008, (309,))
>>> load_jargon()[:42]
'Chapter 1. Hacker Slang and Hacker Culture'
"""

from importlib import resources

import numpy as np

__all__ = ["load_jargon", "load_sunspots"]


def _path(name):
    return resources.files(__name__).joinpath(name)


def load_sunspots():
    """Yearly mean sunspot numbers, 1700--2008 (NOAA NGDC; public domain).

    Returns
    -------
    years : ndarray of int, shape (309,)
    sunspots : ndarray of float, shape (309,)
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
    """
    return _path("jargon_intro.txt").read_text(encoding="ascii")
