"""A user-defined cell's speed: numrnn against the same cell as a PyTorch Python loop.

JANET (van der Westhuizen & Lasenby 2018), defined with :func:`numrnn.cells.define_cell`,
runs on numrnn's ``"cpu"`` backend; the same cell written as PyTorch users write it today
(``nn.Linear`` for the input and hidden products, a Python loop over time, autograd for
backward) runs with the same weights.  For the speed of a defined cell against a built-in
one, the LSTM defined by its equations runs next to the built-in ``numrnn.LSTM``, and the
built-in LSTM next to JANET.

All run in one process, float32, with the same number of threads (default 2), interleaved:
each round times every candidate (best of a few calls).  The first table gives each
candidate's median time over the rounds; the second each ratio's median over the rounds and
its spread (min-max), the ratio being taken within a round.  Forward is without a tape
(``numrnn.no_grad`` / ``torch.no_grad``); fwd+bwd is forward with the tape plus backward (the
input, state and weight gradients).

Usage (from the repository root, or with numrnn installed)::

    python benchmarks/custom_cell.py                 # (100, 32, 32, 128) and (100, 1, 32, 64)
    python benchmarks/custom_cell.py --quick         # tiny smoke run
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
from numrnn.cells import define_cell  # noqa: E402

ROWS = [(100, 32, 32, 128), (100, 1, 32, 64)]
QUICK_ROWS = [(6, 2, 3, 4)]
BETA = 1.0
JANET = {"gates": ("f", "g"),
         "equations": {"h": f"sigmoid(a_f) * h_prev + (1 - sigmoid(a_f - {BETA})) * tanh(a_g)"}}
LSTM = {"gates": ("i", "f", "g", "o"), "states": ("h", "c"),
        "equations": {"i": "sigmoid(a_i)", "f": "sigmoid(a_f)", "g": "tanh(a_g)",
                      "o": "sigmoid(a_o)", "c": "f * c_prev + i * g", "h": "o * tanh(c)"}}


class TorchJANET(torch.nn.Module):
    """JANET as a PyTorch user writes it: two ``nn.Linear`` and a loop over time."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.ih = torch.nn.Linear(input_size, 2 * hidden_size)
        self.hh = torch.nn.Linear(hidden_size, 2 * hidden_size)

    def forward(self, x):
        h = x.new_zeros(x.shape[1], self.hh.in_features)
        projected = self.ih(x)  # the input product of every step at once
        outputs = []
        for t in range(x.shape[0]):
            a_f, a_g = (projected[t] + self.hh(h)).chunk(2, dim=1)
            h = torch.sigmoid(a_f) * h + (1 - torch.sigmoid(a_f - BETA)) * torch.tanh(a_g)
            outputs.append(h)
        return torch.stack(outputs), h


def _timed(fn, calls):
    best = np.inf
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def candidates(T, B, I, H):
    """Forward and fwd+bwd functions of every candidate, checked against each other first."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    layers = {
        "janet": numrnn.Recurrent(define_cell("janet", **JANET), I, H, dtype=np.float32,
                                  backend="cpu", seed=0),
        "lstm (defined)": numrnn.Recurrent(define_cell("lstm_by_equations", **LSTM), I, H,
                                           dtype=np.float32, backend="cpu", seed=0),
        "lstm (built-in)": numrnn.LSTM(I, H, dtype=np.float32, backend="cpu", seed=0),
    }
    theirs = TorchJANET(I, H)
    sd = layers["janet"].state_dict()
    theirs.load_state_dict({"ih.weight": torch.from_numpy(sd["weight_ih_l0"]),
                            "ih.bias": torch.from_numpy(sd["bias_ih_l0"]),
                            "hh.weight": torch.from_numpy(sd["weight_hh_l0"]),
                            "hh.bias": torch.from_numpy(sd["bias_hh_l0"])})
    x_t, grad_t = torch.from_numpy(x), torch.from_numpy(grad)
    with torch.no_grad():
        want = theirs(x_t)[0].numpy()
    with numrnn.no_grad():
        np.testing.assert_allclose(layers["janet"](x)[0], want, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(layers["lstm (defined)"](x)[0],
                                   layers["lstm (built-in)"](x)[0], rtol=1e-5, atol=1e-6)

    def forward(layer):
        def run():
            with numrnn.no_grad():
                layer(x)
        return run

    def train(layer):
        def run():
            layer(x)
            layer.backward(grad)
        return run

    def torch_forward():
        with torch.no_grad():
            theirs(x_t)

    def torch_train():
        theirs.zero_grad(set_to_none=True)
        theirs(x_t.clone().requires_grad_(True))[0].backward(grad_t)

    fns = {"forward": {name: forward(layer) for name, layer in layers.items()},
           "fwd+bwd": {name: train(layer) for name, layer in layers.items()}}
    fns["forward"]["janet (PyTorch loop)"] = torch_forward
    fns["fwd+bwd"]["janet (PyTorch loop)"] = torch_train
    return fns


#: The ratios of the table: (numerator, denominator, what it says).
RATIOS = [
    ("janet (PyTorch loop)", "janet", "numrnn JANET speed-up over the PyTorch loop"),
    ("lstm (defined)", "lstm (built-in)", "defined LSTM time / built-in LSTM time"),
    ("janet", "lstm (built-in)", "JANET time / built-in LSTM time"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=5, help="calls per candidate per round")
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else ROWS
    rounds, calls = (2, 2) if args.quick else (args.rounds, args.calls)

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        print(f"float32, {args.threads} threads, {rounds} rounds of best-of-{calls}; torch "
              f"{torch.__version__}, numrnn {numrnn.__version__}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
        names = ["janet", "janet (PyTorch loop)", "lstm (defined)", "lstm (built-in)"]
        timing_rows, ratio_rows = [], []
        for T, B, I, H in rows:
            for pass_, fns in candidates(T, B, I, H).items():
                for fn in fns.values():
                    fn()  # warm up: compilation, allocator
                times = {name: [] for name in fns}
                for _ in range(rounds):
                    for name, fn in fns.items():
                        times[name].append(_timed(fn, calls))
                shape = f"{T}, {B}, {I}, {H}"
                timing_rows.append(f"| {shape} | {pass_} | " + " | ".join(
                    f"{1e3 * np.median(times[n]):.3f}" for n in names) + " |")
                for num, den, what in RATIOS:
                    ratio = np.array(times[num]) / np.array(times[den])
                    ratio_rows.append(f"| {shape} | {pass_} | {what} | {np.median(ratio):.2f}x "
                                      f"| {ratio.min():.2f}x-{ratio.max():.2f}x |")
        print("| T, B, I, H | pass | " + " | ".join(f"{n} ms" for n in names) + " |")
        print("|---|---|" + "---:|" * len(names))
        print("\n".join(timing_rows) + "\n")
        print("| T, B, I, H | pass | ratio | median | min-max |")
        print("|---|---|---|---:|---|")
        print("\n".join(ratio_rows), flush=True)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
