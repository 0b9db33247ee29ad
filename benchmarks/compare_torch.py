"""numrnn ``backend="cpu"`` against ``torch.nn`` on the CPU, side by side.

Prints a markdown table: for every cell and shape (T, B, I, H), the time of
a forward pass without gradients and of a forward plus backward pass (input,
state and weight gradients), for numrnn and PyTorch, the speed-up
(torch time / numrnn time), and the fraction of the measured float32 GEMM
ceiling each reaches.  Both run with the same number of threads (default
2), float32, in one process, their repetitions interleaved so that they see
the same machine load.

Usage (from the repository root, or with numrnn installed)::

    python benchmarks/compare_torch.py              # the full table
    python benchmarks/compare_torch.py --quick      # tiny smoke run
    python benchmarks/compare_torch.py --cells gru rnn --rows 100,32,32,128

FLOPs are counted as those of the matrix products: forward
2·T·B·G·H·(I + H_out); forward + backward three times that.
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


def gemm_ceiling(n, repeats):
    """Best float32 GEMM rate (GFLOP/s) of an n×n×n product with NumPy."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_pair(cell, T, B, I, H):
    """A numrnn layer and a torch module with the same weights, and their inputs."""
    ours_cls, torch_cls, _ = CELLS[cell]
    ours = ours_cls(I, H, dtype=np.float32, backend="cpu", seed=0)
    theirs = torch_cls(I, H)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    return ours, theirs, x, grad


def check_same(ours, theirs, x):
    """The two agree (to float32 accuracy) before anything is timed."""
    with torch.no_grad():
        want = theirs(torch.from_numpy(x))[0].numpy()
    with numrnn.no_grad():
        got = ours(x)[0]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def bench_row(cell, T, B, I, H, budget):
    """Best times (s) of numrnn and torch: forward, forward + backward."""
    ours, theirs, x, grad = make_pair(cell, T, B, I, H)
    check_same(ours, theirs, x)
    x_t = torch.from_numpy(x)
    grad_t = torch.from_numpy(grad)

    def ours_forward():
        with numrnn.no_grad():
            ours(x)

    def ours_train():
        ours(x)
        ours.backward(grad)

    def torch_forward():
        with torch.no_grad():
            theirs(x_t)

    def torch_train():
        xg = x_t.clone().requires_grad_(True)
        theirs.zero_grad(set_to_none=True)
        theirs(xg)[0].backward(grad_t)

    pairs = [(ours_forward, torch_forward), (ours_train, torch_train)]
    results = []
    for fns in pairs:
        for fn in fns:
            fn()  # warm up (compilation, allocator)
        best = [np.inf, np.inf]
        start = time.perf_counter()
        repeats = 0
        while repeats < 3 or (time.perf_counter() - start < budget and repeats < 200):
            for k, fn in enumerate(fns):  # interleaved: both see the same load
                best[k] = min(best[k], _timed(fn))
            repeats += 1
        results.append(best)
    return results


def flops(cell, T, B, I, H):
    """FLOPs of the matrix products of one forward pass."""
    G = CELLS[cell][2]
    return 2.0 * T * B * G * H * (I + H)


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
    args = parser.parse_args(argv)
    rows = (
        [tuple(int(v) for v in r.split(",")) for r in args.rows]
        if args.rows
        else (QUICK_ROWS if args.quick else ROWS)
    )
    budget = 0.05 if args.quick else args.budget

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        n = 256 if args.quick else 2048
        ceiling = gemm_ceiling(n, 3 if args.quick else 5)
        print(
            f"float32 GEMM ceiling, {args.threads} threads: {ceiling:.1f} GFLOP/s (NumPy, {n}³); "
            f"torch {torch.__version__}, numrnn {numrnn.__version__}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
        )
        print(
            "| cell | T, B, I, H | pass | numrnn ms | torch ms | speed-up "
            "| numrnn % ceiling | torch % ceiling |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for cell in args.cells:
            for T, B, I, H in rows:
                fwd, train = bench_row(cell, T, B, I, H, budget)
                for name, (ours_s, torch_s), mult in (("forward", fwd, 1), ("fwd+bwd", train, 3)):
                    rate = mult * flops(cell, T, B, I, H) / 1e9 / ceiling
                    print(
                        f"| {cell} | {T}, {B}, {I}, {H} | {name} | {ours_s * 1e3:.3f} "
                        f"| {torch_s * 1e3:.3f} | {torch_s / ours_s:.2f}x "
                        f"| {100 * rate / ours_s:.0f}% | {100 * rate / torch_s:.0f}% |",
                        flush=True,
                    )
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
