"""Forecasting sunspots
====================

The yearly mean sunspot numbers 1700--2008 (NOAA's National Geophysical Data Center, public
domain; :func:`numrnn.datasets.load_sunspots`) follow the roughly 11-year solar cycle. A
:class:`~numrnn.forecasting.Forecaster` (LSTM reading the last 22 years) is fitted on
1700--1969 and forecasts each year 1970--2008 one year ahead from the observed years before
it. The baseline is persistence: next year equals this year. Errors are root mean squared
errors in sunspots.

=========================================  =========================  ==================
mode                                       LSTM, RMSE (sunspots)      persistence, RMSE
=========================================  =========================  ==================
full (32 hidden units, 150 epochs)         **12.8**                   30.3
fast (16 hidden units, 30 epochs)          13.2 (checked: < 0.6 ×)    30.3
=========================================  =========================  ==================

.. image:: /_static/sunspots.png
   :alt: Observed sunspot numbers 1910-2008 with the one-year-ahead forecasts of the LSTM
         and of persistence over 1970-2008.

Run ``python sunspots.py`` (full, about 15 s) or ``python sunspots.py --fast``.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402

from numrnn.datasets import load_sunspots  # noqa: E402
from numrnn.forecasting import Forecaster  # noqa: E402

TEST_FROM = 1970


def main(argv=None):
    """Fit on the years before 1970; return the forecast and persistence errors."""
    args = parse_args(__doc__.splitlines()[0], argv)
    hidden, epochs = (16, 30) if args.fast else (32, 150)
    years, sunspots = load_sunspots()
    split = int(np.searchsorted(years, TEST_FROM))
    model = Forecaster(window=22, cell="lstm", hidden_size=hidden, epochs=epochs,
                       batch_size=16, learning_rate=0.005, backend=args.backend, seed=0)
    model.fit(sunspots[:split])
    forecast = np.array([model.predict(1, y=sunspots[:t])[0]
                         for t in range(split, len(sunspots))])
    truth = sunspots[split:]
    rmse = float(np.sqrt(np.mean((forecast - truth) ** 2)))
    persistence = float(np.sqrt(np.mean((sunspots[split - 1:-1] - truth) ** 2)))
    print(f"one-year-ahead RMSE {years[split]}-{years[-1]}: LSTM {rmse:.1f}, "
          f"persistence {persistence:.1f} ({rmse / persistence:.0%} of the baseline's)")

    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(years[split - 60:], sunspots[split - 60:], color="black", label="observed")
    ax.plot(years[split:], forecast, marker="o", markersize=3,
            label=f"LSTM, one year ahead (RMSE {rmse:.1f})")
    ax.plot(years[split:], sunspots[split - 1:-1], linestyle="--",
            label=f"persistence (RMSE {persistence:.1f})")
    ax.axvline(TEST_FROM - 0.5, color="gray", linewidth=0.8)
    ax.set(xlabel="year", ylabel="sunspot number", title="yearly sunspots: test years 1970-2008")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save(fig, {"rmse": rmse, "persistence": persistence}, args.out, "sunspots")


if __name__ == "__main__":
    main()

# sphinx_gallery_thumbnail_path = "_static/sunspots.png"
