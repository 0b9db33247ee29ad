"""The extended cells against the built-in cell of the same gate count, side by side.

Prints a markdown table: for every extended cell and shape (T, B, I, H), the median time of a
forward pass without gradients and of a forward plus backward pass, for the cell
(``numrnn.Recurrent``) and for its built-in counterpart (``lstm_peephole`` and ``lstm_cifg``
against :class:`numrnn.LSTM`, ``ligru`` against :class:`numrnn.GRU`, ``indrnn`` against the
ReLU :class:`numrnn.RNN`), the ratio cell / built-in (median of the per-repeat ratios, and
their interquartile range), and, with ``--torch-loop``, the same cell written as a PyTorch
Python loop over time steps (what users write today) and numrnn's speed-up over it (median of
the per-repeat ratios, timed against the cell in a run of their own).  With
``--regularisers``, a second table: each cell in training mode with ``recurrent_dropout=0.25``
or ``zoneout=0.1`` against the same cell without them.
``backend="cpu"``, float32, 2 threads by default; the repetitions are interleaved, so every
contender sees the same machine load.

Usage (from the repository root)::

    python benchmarks/extended_cells.py                 # the table
    python benchmarks/extended_cells.py --torch-loop    # and the PyTorch loops
    python benchmarks/extended_cells.py --regularisers  # and recurrent dropout, zoneout
    python benchmarks/extended_cells.py --quick         # tiny smoke run
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

# From a checkout, measure the numrnn next to this script, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numrnn  # noqa: E402

#: (T, B, I, H) of the comparison.
ROWS = [(100, 32, 32, 128), (100, 1, 32, 64)]
QUICK_ROWS = [(5, 2, 3, 4)]
#: Each extended cell and the built-in layer it is compared with (same number of gates, or
#: the same maths for IndRNN).
BASELINES = {
    "lstm_peephole": ("LSTM", lambda I, H: numrnn.LSTM(I, H, backend="cpu", seed=0)),
    "lstm_cifg": ("LSTM", lambda I, H: numrnn.LSTM(I, H, backend="cpu", seed=0)),
    "ligru": ("GRU", lambda I, H: numrnn.GRU(I, H, backend="cpu", seed=0)),
    "indrnn": ("RNN relu", lambda I, H: numrnn.RNN(I, H, nonlinearity="relu", backend="cpu",
                                                   seed=0)),
}


def torch_step(cell, p, x, h, c):
    """One step of ``cell`` in PyTorch, batched: the equations of DESIGN.md."""
    recurrent = h * p["weight_hh"] if cell == "indrnn" else h @ p["weight_hh"].T
    a = x @ p["weight_ih"].T + p["bias_ih"] + recurrent + p["bias_hh"]
    if cell == "lstm_peephole":
        a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
        p_i, p_f, p_o = p["weight_ch"].chunk(3)
        i, f = torch.sigmoid(a_i + p_i * c), torch.sigmoid(a_f + p_f * c)
        c = f * c + i * torch.tanh(a_g)
        return torch.sigmoid(a_o + p_o * c) * torch.tanh(c), c
    if cell == "lstm_cifg":
        a_f, a_g, a_o = a.chunk(3, dim=1)
        f = torch.sigmoid(a_f)
        c = f * c + (1 - f) * torch.tanh(a_g)
        return torch.sigmoid(a_o) * torch.tanh(c), c
    if cell == "ligru":
        a_z, a_n = a.chunk(2, dim=1)
        z = torch.sigmoid(a_z)
        return z * h + (1 - z) * torch.relu(a_n), c
    return torch.relu(a), c


def torch_loop(cell, state_dict, x):
    """The PyTorch Python loop's forward (no-grad) and forward + backward callables."""
    params = {k.removesuffix("_l0"): torch.tensor(v, requires_grad=True)
              for k, v in state_dict.items()}  # fmt: skip
    x = torch.from_numpy(x)
    T, B, _ = x.shape
    H = params["bias_ih"].shape[0] // {"lstm_peephole": 4, "lstm_cifg": 3, "ligru": 2}.get(cell, 1)

    def run():
        h = c = torch.zeros(B, H)
        outputs = []
        for t in range(T):
            h, c = torch_step(cell, params, x[t], h, c)
            outputs.append(h)
        return torch.stack(outputs)

    def forward():
        with torch.no_grad():
            run()

    def train():
        for p in params.values():
            p.grad = None
        run().sum().backward()

    return forward, train


def passes(layer, x, grad):
    """The (forward, forward + backward) callables of a numrnn layer."""

    def forward():
        with numrnn.no_grad():
            layer(x)

    def train():
        layer(x)
        layer.backward(grad)

    return forward, train


def contenders(cell, T, B, I, H, with_torch):
    """Name -> (forward, forward + backward) callables; the cell's output checked first."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    layers = {cell: numrnn.Recurrent(cell, I, H, backend="cpu", seed=0),
              "built-in": BASELINES[cell][1](I, H)}  # fmt: skip
    reference = numrnn.Recurrent(cell, I, H, backend="numpy", dtype=np.float64, seed=0)
    with numrnn.no_grad():
        np.testing.assert_allclose(layers[cell](x)[0], reference(x)[0], rtol=1e-4, atol=1e-5)
    result = {name: passes(layer, x, grad) for name, layer in layers.items()}
    if with_torch:
        result["torch loop"] = torch_loop(cell, layers[cell].state_dict(), x)
    return result


#: The regularised variants of the second table.
REGULARISED = {"recurrent dropout": {"recurrent_dropout": 0.25}, "zoneout": {"zoneout": 0.1}}


def regularised(cell, T, B, I, H):
    """Name -> (forward, forward + backward) of the cell plain and with each regulariser."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    return {name: passes(numrnn.Recurrent(cell, I, H, backend="cpu", seed=0, **options), x, grad)
            for name, options in {"plain": {}, **REGULARISED}.items()}


def measure(fns, repeats):
    """Times (s) of each callable over ``repeats`` interleaved rounds, after a warm-up.

    Each round starts with the next contender: whoever runs first after another's run
    finds the caches filled by it (at the smallest sizes that alone cost 2x).
    """
    for fn in fns.values():
        fn()
        fn()
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: np.array(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--cells", nargs="+", choices=list(BASELINES), default=list(BASELINES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--torch-loop", action="store_true",
                        help="also time the cell written as a PyTorch Python loop")
    parser.add_argument("--regularisers", action="store_true",
                        help="also time recurrent dropout and zoneout against the plain cell")
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else ROWS
    repeats = 3 if args.quick else args.repeats

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        print(f"numrnn {numrnn.__version__}, torch {torch.__version__}, float32, {args.threads} "
              f"threads, {repeats} interleaved repeats, medians; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
        loop = " | torch loop ms | speed-up over the loop" if args.torch_loop else ""
        print(f"| cell | built-in | T, B, I, H | pass | cell ms | built-in ms | cell / built-in "
              f"(IQR){loop} |")
        print("|---|---|---|---|---:|---:|---:|" + ("---:|---:|" if args.torch_loop else ""))
        for cell in args.cells:
            for T, B, I, H in rows:
                fns = contenders(cell, T, B, I, H, args.torch_loop)
                for k, name in enumerate(("forward", "fwd+bwd")):
                    # The PyTorch loop is timed against the cell on its own: PyTorch's
                    # OpenMP threads keep spinning after its calls and slowed whatever ran
                    # next by up to 2x.
                    t = measure({who: fns[who][k] for who in (cell, "built-in")}, repeats)
                    ratio = t[cell] / t["built-in"]
                    q1, q3 = np.percentile(ratio, [25, 75])
                    line = (f"| {cell} | {BASELINES[cell][0]} | {T}, {B}, {I}, {H} | {name} "
                            f"| {np.median(t[cell]) * 1e3:.3f} "
                            f"| {np.median(t['built-in']) * 1e3:.3f} "
                            f"| {np.median(ratio):.2f}x ({q1:.2f}-{q3:.2f}) |")
                    if args.torch_loop:
                        t = measure({who: fns[who][k] for who in (cell, "torch loop")}, repeats)
                        speedup = t["torch loop"] / t[cell]
                        line += (f" {np.median(t['torch loop']) * 1e3:.3f} "
                                 f"| {np.median(speedup):.1f}x |")
                    print(line, flush=True)
        if args.regularisers:
            print("\n| cell | T, B, I, H | pass (training mode) | plain ms | "
                  + " | ".join(f"{name} ms | {name} / plain (IQR)" for name in REGULARISED)
                  + " |")
            print("|---|---|---|---:|" + "---:|---:|" * len(REGULARISED))
            for cell in args.cells:
                for T, B, I, H in rows:
                    fns = regularised(cell, T, B, I, H)
                    for k, name in enumerate(("forward", "fwd+bwd")):
                        t = measure({who: pair[k] for who, pair in fns.items()}, repeats)
                        line = (f"| {cell} | {T}, {B}, {I}, {H} | {name} "
                                f"| {np.median(t['plain']) * 1e3:.3f} |")
                        for who in REGULARISED:
                            ratio = t[who] / t["plain"]
                            q1, q3 = np.percentile(ratio, [25, 75])
                            line += (f" {np.median(t[who]) * 1e3:.3f} | {np.median(ratio):.2f}x "
                                     f"({q1:.2f}-{q3:.2f}) |")
                        print(line, flush=True)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
