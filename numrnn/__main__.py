"""Command line entry point: ``python -m numrnn demo``.

The demo trains an LSTM on the adding problem (Hochreiter & Schmidhuber, 1997): each
sequence holds random numbers and two markers, and the target is the sum of the two marked
numbers, so the network must remember the first one for up to T steps. Always answering the
mean scores a mean squared error of 1/6 = 0.167. It compiles (or loads from Numba's cache) the
kernels first, then shows a progress bar over the training, prints the test error against that
baseline and writes a plot, into a new temporary folder unless told where.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import numrnn
from numrnn.datasets import adding_problem
from numrnn.estimators import SequenceRegressor

BASELINE = 1 / 6


def demo(backend="auto", steps=40, epochs=10, seed=0, out=None):
    """Train, score and plot; return the test mean squared error.

    Parameters
    ----------
    backend : str, default "auto"
    steps : int, default 40
        Sequence length T of the adding problem.
    epochs : int, default 10
    seed : int, default 0
        Seeds the data, the weights and the batch order.
    out : path, optional
        Where the plot goes (skipped, with a note, when matplotlib is missing); by default
        ``numrnn_demo.png`` in a new temporary folder, so that nothing lands where the user
        stands (from a clone, the repository).

    Returns
    -------
    float
    """
    X, y = adding_problem(2000, steps, seed=seed)
    X_test, y_test = adding_problem(500, steps, seed=seed + 1)
    settings = {"cell": "lstm", "hidden_size": 32, "batch_size": 32, "learning_rate": 0.01,
                "backend": backend, "seed": seed}
    print(f"numrnn {numrnn.__version__}: adding problem, {len(X)} sequences of {steps} steps")
    start = time.perf_counter()
    # The same network on two sequences: compiles (or loads) the kernels the fit and the
    # prediction run, so that the progress bar times training alone.
    SequenceRegressor(**settings, epochs=1).fit(X[:2], y[:2]).predict(X_test[:2])
    print(f"kernels compiled, or loaded from Numba's cache, in {time.perf_counter() - start:.1f} s")
    print("(the progress bar shows the training loss on standardised targets: 1 = the baseline)")
    model = SequenceRegressor(**settings, epochs=epochs, verbose=True)
    start = time.perf_counter()
    model.fit(X, y)
    print(f"{model.model_.layers[0]!r} trained in {time.perf_counter() - start:.1f} s")
    prediction = model.predict(X_test)
    mse = float(np.mean((prediction - y_test) ** 2))
    print(f"test MSE {mse:.4f}, baseline (always answer 1) {BASELINE:.4f}")
    _plot(model, y_test, prediction, mse, steps, out)
    return mse


def _plot(model, y_test, prediction, mse, steps, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(install matplotlib for the plot)")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    curve = np.array(model.loss_curve_) * model.y_scale_[0] ** 2  # back to the target's units
    left.plot(np.arange(1, len(curve) + 1), curve, marker="o", label="LSTM, training")
    left.axhline(BASELINE, color="gray", linestyle="--", label="baseline 1/6")
    left.set(xlabel="epoch", ylabel="mean squared error", yscale="log",
             title=f"adding problem, T = {steps}")
    left.legend()
    right.scatter(y_test, prediction, s=4)
    right.plot([0, 2], [0, 2], color="gray", linewidth=0.8)
    right.set(xlabel="true sum", ylabel="predicted sum", title=f"test MSE {mse:.4f}")
    fig.tight_layout()
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="numrnn_demo_")) / "numrnn_demo.png"
    fig.savefig(out, dpi=90)
    print(f"plot: {Path(out).resolve()}")


def main(argv=None):
    """Parse the command line and run the chosen command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m numrnn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="train an LSTM on the adding problem and plot the result")
    demo_parser.add_argument("--backend", default="auto", help='"auto", "numpy", "cpu" or "cuda"')
    demo_parser.add_argument("--steps", type=int, default=40, help="sequence length T")
    demo_parser.add_argument("--epochs", type=int, default=10)
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.add_argument("--out", type=Path, default=None,
                             help="where to write the plot (default: numrnn_demo.png in a new "
                                  "temporary folder; the path is printed)")
    args = parser.parse_args(argv)

    mse = demo(args.backend, args.steps, args.epochs, args.seed, args.out)
    if not mse < BASELINE / 2:
        print(f"error: the LSTM did not beat the baseline ({mse:.4f} vs {BASELINE:.4f})")
        return 1
    print(f"the LSTM beat the baseline by {BASELINE / mse:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
