"""Latency of one streaming step: numrnn ``layer.step`` against torch's cells.

For each cell, ``layer.step(x_t, state)`` of a numrnn layer
(``backend="cpu"``, float32) fed back its own state, as a streaming loop
does, against ``torch.nn.{LSTM,GRU,RNN}Cell`` under ``torch.no_grad()``
with the same weights.  Blocks of calls of the two alternate, so that both
see the same machine load; the table gives the best block's µs per call
and the ratio torch / numrnn (above 1: numrnn is faster).

Usage (from the repository root, or with numrnn installed)::

    python benchmarks/step_latency.py                       # B=1, I=32, H=64; 2 and 1 threads
    python benchmarks/step_latency.py --shape 8,32,64 --threads 1
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

CELLS = {
    "lstm": (numrnn.LSTM, torch.nn.LSTMCell),
    "gru": (numrnn.GRU, torch.nn.GRUCell),
    "rnn": (numrnn.RNN, torch.nn.RNNCell),
}


def make_pair(cell, B, I, H):
    """numrnn and torch step functions over the same weights and inputs.

    Each function advances its own state by one step per call.
    """
    ours_cls, torch_cls = CELLS[cell]
    ours = ours_cls(I, H, dtype=np.float32, backend="cpu", seed=0)
    theirs = torch_cls(I, H)
    theirs.load_state_dict(
        {k[:-3]: torch.from_numpy(v) for k, v in ours.state_dict().items()}  # drop "_l0"
    )
    x = np.random.default_rng(1).standard_normal((B, I), dtype=np.float32)
    x_t = torch.from_numpy(x)
    lstm = cell == "lstm"
    state = [ours.step(x)[1]]
    torch_state = [theirs(x_t)]

    def ours_step():
        state[0] = ours.step(x, state[0])[1]

    def torch_step():
        with torch.no_grad():
            torch_state[0] = theirs(x_t, torch_state[0])

    # Same weights, same answer (to float32 accuracy), before anything is timed.
    ours_h = ours.step(x, state[0])[1]
    with torch.no_grad():
        torch_h = theirs(x_t, torch_state[0])
    got = ours_h[0][0] if lstm else ours_h[0]
    want = torch_h[0] if lstm else torch_h
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)
    return ours_step, torch_step


def best_per_call(fns, calls, budget):
    """Best µs per call of each function, over alternating blocks of ``calls``."""
    best = [np.inf] * len(fns)
    start = time.perf_counter()
    rounds = 0
    while rounds < 5 or time.perf_counter() - start < budget:
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / calls * 1e6)
        rounds += 1
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="1,32,64", metavar="B,I,H")
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    parser.add_argument("--threads", nargs="+", type=int, default=[2, 1])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed block")
    args = parser.parse_args(argv)
    B, I, H = (int(v) for v in args.shape.split(","))
    print(
        f"B={B}, I={I}, H={H}, float32; torch {torch.__version__}, numrnn {numrnn.__version__}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print("| cell | threads | numrnn step µs | torch cell µs | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for cell in args.cells:
                fns = make_pair(cell, B, I, H)
                ours, theirs = best_per_call(fns, args.calls, args.budget)
                print(
                    f"| {cell} | {threads} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
