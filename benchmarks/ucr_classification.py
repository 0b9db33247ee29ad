"""The default ``SequenceClassifier`` on UCR/UEA data sets next to ROCKET and 1-NN Euclidean.

Each data set is aeon's bundled copy with its own train/test split, the raw series (no
preprocessing besides what the estimators do themselves). In one process, one data set
after another: ``numrnn.SequenceClassifier(seed=s)`` with its defaults, aeon's
``RocketClassifier(random_state=s)`` and a 1-NN classifier on the Euclidean distance
(written here: the nearest training series, all steps and channels). Both learners are
warmed up (compiled) on a tiny problem first, so fit times leave compilation out. Prints a
markdown table of test accuracies and fit times and the load average (the machine may be
shared), optionally a JSON file and a plot of accuracy against ROCKET's.

aeon is optional (``pip install numrnn[ucr]``; aeon 1.6 pins numba < 0.64, so install it
into a separate environment if that clashes). Without aeon, ``--synthetic`` runs the same
table on a generated two-class problem (the smoke test uses it).

Usage (from the repository root)::

    python benchmarks/ucr_classification.py                       # the three of the issue
    python benchmarks/ucr_classification.py --datasets ArrowHead UnitTest --seeds 0 1 2
    python benchmarks/ucr_classification.py --json out.json --plot docs/_static/ucr.png
    python benchmarks/ucr_classification.py --params '{"readout": "last"}'   # try settings
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

# From a checkout, measure the numrnn next to this script, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numrnn.estimators import SequenceClassifier  # noqa: E402

#: The data sets of the issue, then the other classification sets aeon ships (equal length).
MAIN = ["GunPoint", "ItalyPowerDemand", "BasicMotions"]
OTHERS = ["ArrowHead", "UnitTest", "OSULeaf", "ACSF1", "JapaneseVowels"]


def load(name):
    """(X_train, y_train, X_test, y_test), X as (n, T, channels) or a list of (T_i, channels)."""
    if name == "synthetic":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((80, 40, 2))
        y = (X[:, :20, 0].mean(axis=1) > X[:, 20:, 0].mean(axis=1)).astype(int)
        return X[:40], y[:40], X[40:], y[40:]
    from aeon.datasets import load_classification

    parts = [load_classification(name, split=split) for split in ("train", "test")]
    (X_train, y_train), (X_test, y_test) = parts
    return _time_major(X_train), y_train, _time_major(X_test), y_test


def _time_major(X):
    """aeon's (n, channels, T) (or a list of (channels, T_i)) as numrnn's (n, T, channels)."""
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(np.swapaxes(X, 1, 2))
    return [np.ascontiguousarray(x.T) for x in X]


def one_nn_euclidean(X_train, y_train, X_test):
    """Labels of the nearest training series (Euclidean, all steps and channels)."""
    a = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
    b = np.asarray(X_test, dtype=np.float64).reshape(len(X_test), -1)
    distances = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None, :]
    return np.asarray(y_train)[np.argmin(distances, axis=1)]


def rocket(seed):
    from aeon.classification.convolution_based import RocketClassifier

    return RocketClassifier(random_state=seed, n_jobs=1)


def to_aeon(X):
    return np.swapaxes(X, 1, 2) if isinstance(X, np.ndarray) else [x.T for x in X]


def timed_fit(make, X, y):
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make().fit(X, y)
    return model, time.perf_counter() - started, [str(w.message) for w in caught]


def run(datasets, seeds, params, with_rocket):
    # Warm-up: compile numrnn's kernels (and ROCKET's) outside the timed fits.
    Xw, yw, _, _ = load("synthetic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # two epochs do not converge, and need not
        SequenceClassifier(**{**params, "epochs": 2}).fit(Xw[:8], yw[:8])
    if with_rocket:
        rocket(0).fit(to_aeon(Xw[:8]), yw[:8])
    rows = []
    for name in datasets:
        X_train, y_train, X_test, y_test = load(name)
        row = {"dataset": name, "n_train": len(X_train), "n_test": len(X_test),
               "numrnn": [], "numrnn_fit_s": [], "rocket": [], "rocket_fit_s": [],
               "warnings": []}
        if not isinstance(X_train, list):
            row["1nn"] = float(np.mean(one_nn_euclidean(X_train, y_train, X_test) == y_test))
        for seed in seeds:
            model, seconds, caught = timed_fit(
                lambda seed=seed: SequenceClassifier(seed=seed, **params), X_train, y_train)
            row["numrnn"].append(float(model.score(X_test, y_test)))
            row["numrnn_fit_s"].append(seconds)
            row["warnings"] += caught
            if with_rocket and not isinstance(X_train, list):   # aeon's ROCKET: equal lengths
                model, seconds, _ = timed_fit(lambda seed=seed: rocket(seed),
                                              to_aeon(X_train), y_train)
                row["rocket"].append(float(np.mean(model.predict(to_aeon(X_test)) == y_test)))
                row["rocket_fit_s"].append(seconds)
        row["loadavg"] = os.getloadavg()[0]
        rows.append(row)
        print_row(row, header=len(rows) == 1)
    return rows


def print_row(row, header):
    if header:
        print("| data set | train/test | numrnn | ROCKET | 1-NN ED | numrnn fit s | "
              "ROCKET fit s | load |")
        print("|---|---|---|---|---|---|---|---|")

    def acc(values):
        if not values:
            return "-"
        spread = f" ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else ""
        return f"{np.mean(values):.3f}{spread}"

    def seconds(values):
        return f"{np.median(values):.1f}" if values else "-"

    one_nn = f"{row['1nn']:.3f}" if "1nn" in row else "-"
    print(f"| {row['dataset']} | {row['n_train']}/{row['n_test']} | {acc(row['numrnn'])} | "
          f"{acc(row['rocket'])} | {one_nn} | {seconds(row['numrnn_fit_s'])} | "
          f"{seconds(row['rocket_fit_s'])} | {row['loadavg']:.1f} |", flush=True)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], color="0.7", lw=1)
    rows = [row for row in rows if row["rocket"]]
    for row in rows:
        x, y = np.mean(row["rocket"]), np.mean(row["numrnn"])
        ax.scatter(x, y, color="C0" if row["dataset"] in MAIN else "C1", zorder=3)
        ax.annotate(row["dataset"], (x, y), fontsize=7, xytext=(3, -9),
                    textcoords="offset points")
    low = min(min(np.mean(r["rocket"]), np.mean(r["numrnn"])) for r in rows) - 0.05
    ax.fill_between([0, 1], [-0.03, 0.97], [0, 1], color="C0", alpha=0.12, lw=0,
                    label="within 3 points of ROCKET")
    ax.set(xlim=(low, 1.08), ylim=(low, 1.02), xlabel="ROCKET test accuracy",
           ylabel="SequenceClassifier() test accuracy", aspect="equal")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.set_title("aeon's UCR/UEA copies, own splits (blue: the\nthree target sets; "
                 "mean over seeds)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=MAIN,
                        help=f"aeon names, 'others' for {OTHERS}, or 'synthetic'")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--params", default="{}", help="JSON: SequenceClassifier arguments")
    parser.add_argument("--no-rocket", action="store_true")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", help="write a plot of accuracy against ROCKET here")
    args = parser.parse_args(argv)
    datasets = [d for name in args.datasets for d in (OTHERS if name == "others" else [name])]
    rows = run(datasets, args.seeds, json.loads(args.params), not args.no_rocket)
    for row in rows:
        for message in sorted(set(row["warnings"])):
            print(f"{row['dataset']}: {message}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
