"""numrnn ``backend="cpu"`` against ``torch.nn`` on the CPU, side by side.

Prints a markdown table: for every cell and shape (T, B, I, H), the time of
a forward pass without gradients and of a forward plus backward pass (input,
state and weight gradients), for numrnn and PyTorch, the speed-up
(torch time / numrnn time), and the fraction of the measured GEMM ceiling
(of the same dtype) each reaches.  Both run with the same number of threads
(default 2) and dtype (default float32), in one process, their repetitions
interleaved so that they see the same machine load (each timed call after an
untimed one of the same library, so that neither runs while the other's
threads still spin).

With ``--lengths`` every row is also run with variable lengths, drawn
uniformly from [T/2, T] (fixed seed, the same for both): numrnn's
``lengths=`` against ``pack_padded_sequence(enforce_sorted=False)`` and
``pad_packed_sequence``.  With ``--epoch`` a second table compares one
training epoch of an LSTM classifier (``numrnn.model.Sequential`` of an LSTM
and a Dense last-step head, ``fit`` with Adam) with the same network and
mini-batch loop written in PyTorch: same data, batch size and threads.

Usage (from the repository root, or with numrnn installed)::

    python benchmarks/compare_torch.py              # the full table
    python benchmarks/compare_torch.py --quick      # tiny smoke run
    python benchmarks/compare_torch.py --cells gru rnn --rows 100,32,32,128
    python benchmarks/compare_torch.py --dtype float64 --lengths --epoch
    python benchmarks/compare_torch.py --runs 5     # medians and ranges over 5 tables

FLOPs are counted as those of the matrix products over the valid steps:
forward 2·(Σ lengths)·G·H·(I + H_out); forward + backward three times that.
"""

import argparse
import os
import sys
import time
from functools import partial

import numpy as np
import torch
from threadpoolctl import threadpool_limits

# From a checkout, measure the numrnn next to this script, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numrnn  # noqa: E402

#: (T, B, I, H) of the comparison.
ROWS = [
    (100, 1, 32, 64),
    (100, 32, 32, 128),
    (100, 64, 128, 256),
    (50, 128, 256, 512),
    (1000, 8, 16, 32),
]
QUICK_ROWS = [(10, 2, 4, 8)]
CELLS = {
    "lstm": (numrnn.LSTM, torch.nn.LSTM, 4),
    "gru": (numrnn.GRU, torch.nn.GRU, 3),
    "rnn": (numrnn.RNN, torch.nn.RNN, 1),
}


#: The training-epoch comparison: samples, (T, I, H), classes, batch size.
EPOCH = (4096, (50, 32, 128), 10, 64)
QUICK_EPOCH = (64, (6, 3, 8), 3, 16)


def gemm_ceiling(n, repeats, dtype, seconds=0.0):
    """Best GEMM rate (GFLOP/s) of an n×n×n product of ``dtype`` with NumPy, over
    ``repeats`` products and at least ``seconds`` (one run's first products once came out at
    half the rate: the second core busy elsewhere for a moment)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times, end = [], time.perf_counter() + seconds
    while len(times) < repeats or time.perf_counter() < end:
        times.append(_timed(lambda: np.matmul(a, b, out=out)))
    return 2.0 * n**3 / min(times) / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_pair(cell, T, B, I, H, dtype):
    """A numrnn layer and a torch module with the same weights, and their inputs."""
    ours_cls, torch_cls, _ = CELLS[cell]
    ours = ours_cls(I, H, dtype=dtype, backend="cpu", seed=0)
    theirs = torch_cls(I, H).to(getattr(torch, np.dtype(dtype).name))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    grad = rng.standard_normal((T, B, H)).astype(dtype)
    return ours, theirs, x, grad


def draw_lengths(T, B):
    """Lengths uniform in [T/2, T] (the same for every run: a fixed seed)."""
    return np.random.default_rng(2).integers(max(1, T // 2), T + 1, size=B)


def torch_runner(theirs, x, lengths):
    """``x`` (a tensor) through the torch module; the padded output (T, B, H)."""
    if lengths is None:
        return lambda x: theirs(x)[0]
    pack = torch.nn.utils.rnn.pack_padded_sequence
    unpack = torch.nn.utils.rnn.pad_packed_sequence
    lengths_t = torch.from_numpy(lengths)
    T = x.shape[0]
    return lambda x: unpack(theirs(pack(x, lengths_t, enforce_sorted=False))[0],
                            total_length=T)[0]


def interleaved_best(pairs, budget):
    """Best time (s) of each function of each pair, the pair's runs interleaved."""
    results = []
    for fns in pairs:
        for fn in fns:
            fn()  # warm up (compilation, allocator)
        best = [np.inf, np.inf]
        start = time.perf_counter()
        repeats = 0
        while repeats < 3 or (time.perf_counter() - start < budget and repeats < 200):
            for k, fn in enumerate(fns):  # interleaved: both see the same load
                # Untimed calls first, for at least 20 ms: torch's OpenMP threads spin for
                # a while after each call, on the cores the next call needs (numrnn's LSTM
                # forward at (100, 32, 32, 128) measured 6.6 ms right after a torch call,
                # 3.6 ms after one of its own; after one untimed call a GRU's fwd+bwd at
                # (1000, 8, 16, 32) came out 4.3 or 7.7 ms from one process to the next).
                # Calls, not a sleep: an idle core is slower to the next short call.
                warm = time.perf_counter() + 0.02
                fn()
                while time.perf_counter() < warm:
                    fn()
                best[k] = min(best[k], _timed(fn))
            repeats += 1
        results.append(best)
    return results


def bench_row(cell, T, B, I, H, budget, dtype, lengths=None):
    """Best times (s) of numrnn and torch: forward, forward + backward."""
    ours, theirs, x, grad = make_pair(cell, T, B, I, H, dtype)
    x_t = torch.from_numpy(x)
    grad_t = torch.from_numpy(grad)
    run_torch = torch_runner(theirs, x_t, lengths)
    with torch.no_grad():  # the two agree before anything is timed
        want = run_torch(x_t).numpy()
    with numrnn.no_grad():
        got = ours(x, lengths=lengths)[0]
    tol = 1e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol / 10)

    def ours_forward():
        with numrnn.no_grad():
            ours(x, lengths=lengths)

    def ours_train():
        ours(x, lengths=lengths)
        ours.backward(grad)

    def torch_forward():
        with torch.no_grad():
            run_torch(x_t)

    def torch_train():
        xg = x_t.clone().requires_grad_(True)
        theirs.zero_grad(set_to_none=True)
        run_torch(xg).backward(grad_t)

    return interleaved_best([(ours_forward, torch_forward), (ours_train, torch_train)], budget)


def flops(cell, T, B, I, H, lengths=None):
    """FLOPs of the matrix products of one forward pass (valid steps only)."""
    G = CELLS[cell][2]
    steps = T * B if lengths is None else int(np.sum(lengths))
    return 2.0 * steps * G * H * (I + H)


class TorchClassifier(torch.nn.Module):
    """An LSTM (batch first) and a linear head on its last output, as the numrnn model."""

    def __init__(self, I, H, classes):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.LSTM(I, H, batch_first=True),
                                           torch.nn.Linear(H, classes)])

    def forward(self, x):
        return self.layers[1](self.layers[0](x)[0][:, -1])


def bench_epoch(quick, dtype, repeats):
    """Seconds per training epoch of numrnn and torch, ``repeats`` times each, interleaved."""
    from numrnn.heads import Dense
    from numrnn.model import Sequential

    N, (T, I, H), classes, batch = QUICK_EPOCH if quick else EPOCH
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N, T, I)).astype(dtype)
    y = rng.integers(0, classes, N)
    model = Sequential(
        [numrnn.LSTM(I, H, batch_first=True, dtype=dtype, backend="cpu", seed=0),
         Dense(H, classes, activation="softmax", last_step=True, batch_first=True, dtype=dtype,
               seed=0)],
        loss="cross_entropy", optimizer=numrnn.optim.Adam(lr=1e-3))
    net = TorchClassifier(I, H, classes).to(getattr(torch, np.dtype(dtype).name))
    net.load_state_dict({f"layers.{k}": torch.from_numpy(v)
                         for k, v in model.state_dict().items()})
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    with torch.no_grad():  # the same network before anything is timed
        want = torch.softmax(net(X_t[:8]), dim=-1).numpy()
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(model.predict(X[:8]), want, rtol=tol, atol=tol)

    def ours(seed):
        model.fit(X, y, epochs=1, batch_size=batch, seed=seed, progress=False)

    def theirs(seed):
        perm = torch.from_numpy(np.random.default_rng(seed).permutation(N))
        for start in range(0, N, batch):
            idx = perm[start:start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(X_t[idx]), y_t[idx])
            loss.backward()
            optimizer.step()

    ours(0)  # compile and warm up both
    theirs(0)
    times = {"numrnn": [], "torch": []}
    for seed in range(1, repeats + 1):
        for name, fn in (("numrnn", ours), ("torch", theirs)):
            times[name].append(_timed(partial(fn, seed)))
    return (N, T, I, H, classes, batch), times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    parser.add_argument(
        "--rows", nargs="+", metavar="T,B,I,H", help="shapes to run instead of the default table"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--budget", type=float, default=2.0, help="seconds of repetitions per measurement"
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--lengths", action="store_true",
                        help="also run every row with lengths uniform in [T/2, T]")
    parser.add_argument("--epoch", action="store_true",
                        help="also compare a training epoch of an LSTM classifier")
    parser.add_argument("--epoch-repeats", type=int, default=5,
                        help="interleaved epochs of each library (default 5)")
    parser.add_argument("--no-table", action="store_true",
                        help="skip the per-layer table (e.g. with --epoch alone)")
    parser.add_argument("--runs", type=int, default=1,
                        help="measure the whole table this many times and print each row's "
                             "median and range over the runs (default 1: one table)")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype).type
    rows = (
        [tuple(int(v) for v in r.split(",")) for r in args.rows]
        if args.rows
        else (QUICK_ROWS if args.quick else ROWS)
    )
    budget = 0.05 if args.quick else args.budget

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        n = 256 if args.quick else 2048
        ceiling = gemm_ceiling(n, 3 if args.quick else 5, dtype, 0 if args.quick else 3.0)
        print(
            f"{args.dtype} GEMM ceiling, {args.threads} threads: {ceiling:.1f} GFLOP/s "
            f"(NumPy, {n}³); torch {torch.__version__}, numrnn {numrnn.__version__}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
        )
        if not args.no_table and args.runs > 1:
            print_runs(args.cells, rows, budget, dtype, args.lengths, ceiling, args.runs)
        elif not args.no_table:
            print_table(args.cells, rows, budget, dtype, args.lengths, ceiling)
        if args.epoch:
            print_epoch(args.quick, dtype, 2 if args.quick else args.epoch_repeats)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


def print_table(cells, rows, budget, dtype, with_lengths, ceiling):
    """The per-layer table: forward and fwd+bwd of every cell and row."""
    print(
        "| cell | T, B, I, H | pass | numrnn ms | torch ms | speed-up "
        "| numrnn % ceiling | torch % ceiling |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for cell in cells:
        for T, B, I, H in rows:
            for lengths in [None, draw_lengths(T, B)] if with_lengths else [None]:
                fwd, train = bench_row(cell, T, B, I, H, budget, dtype, lengths)
                suffix = "" if lengths is None else ", lengths"
                for name, (ours_s, torch_s), mult in (("forward", fwd, 1), ("fwd+bwd", train, 3)):
                    rate = mult * flops(cell, T, B, I, H, lengths) / 1e9 / ceiling
                    print(
                        f"| {cell} | {T}, {B}, {I}, {H} | {name}{suffix} | {ours_s * 1e3:.3f} "
                        f"| {torch_s * 1e3:.3f} | {torch_s / ours_s:.2f}x "
                        f"| {100 * rate / ours_s:.0f}% | {100 * rate / torch_s:.0f}% |",
                        flush=True,
                    )


def print_runs(cells, rows, budget, dtype, with_lengths, ceiling, runs):
    """The per-layer table measured ``runs`` times over (the whole grid each time, so that each
    row's runs are spread over the session): each row's median times, and its speed-up's
    median and range over the runs."""
    cases = [(cell, row, lengths) for cell in cells for row in rows
             for lengths in ([None, draw_lengths(*row[:2])] if with_lengths else [None])]
    times = [([], []) for _ in cases]  # per case: (forward, fwd+bwd) pairs of times
    for run in range(runs):
        for case, (cell, (T, B, I, H), lengths) in zip(times, cases, strict=True):
            for pairs, pair in zip(case, bench_row(cell, T, B, I, H, budget, dtype, lengths),
                                   strict=True):
                pairs.append(pair)
        print(f"run {run + 1} of {runs} done", file=sys.stderr, flush=True)
    print(f"{runs} runs of the table; medians, and the speed-up's range over the runs\n")
    print("| cell | T, B, I, H | pass | numrnn ms | torch ms | speed-up (range) "
          "| numrnn % ceiling |")
    print("|---|---|---|---:|---:|---:|---:|")
    for (cell, (T, B, I, H), lengths), case in zip(cases, times, strict=True):
        suffix = "" if lengths is None else ", lengths"
        for name, mult, pairs in zip(("forward", "fwd+bwd"), (1, 3), case, strict=True):
            ours, theirs = np.array(pairs).T
            ratios = theirs / ours
            share = 100 * mult * flops(cell, T, B, I, H, lengths) / 1e9 / ceiling / np.median(ours)
            print(f"| {cell} | {T}, {B}, {I}, {H} | {name}{suffix} | {np.median(ours) * 1e3:.3f} "
                  f"| {np.median(theirs) * 1e3:.3f} | {np.median(ratios):.2f}x "
                  f"({ratios.min():.2f}-{ratios.max():.2f}) | {share:.0f}% |", flush=True)


def print_epoch(quick, dtype, repeats):
    """The training-epoch table: medians and ranges of interleaved epochs."""
    (N, T, I, H, classes, batch), times = bench_epoch(quick, dtype, repeats)
    ours, theirs = np.array(times["numrnn"]), np.array(times["torch"])
    ratios = theirs / ours
    print(f"\nOne training epoch of an LSTM classifier: N={N}, T={T}, I={I}, H={H}, "
          f"{classes} classes, batch {batch}, Adam; {repeats} epochs each, interleaved\n")
    print("| model | numrnn s (median, range) | torch s (median, range) "
          "| speed-up (median, range) |")
    print("|---|---:|---:|---:|")
    print(f"| LSTM classifier | {np.median(ours):.3f} ({ours.min():.3f}-{ours.max():.3f}) "
          f"| {np.median(theirs):.3f} ({theirs.min():.3f}-{theirs.max():.3f}) "
          f"| {np.median(ratios):.2f}x ({ratios.min():.2f}-{ratios.max():.2f}) |", flush=True)


if __name__ == "__main__":
    main()
