"""numrnn ``backend="cuda"`` against ``torch.nn`` (cuDNN) on the same GPU.

Prints a markdown table: for every cell and shape (T, B, I, H), the time of
a forward pass without gradients and of a forward plus backward pass (input,
state and weight gradients), for numrnn and PyTorch, the ratio (numrnn time
/ torch time), and for numrnn the FLOP rate and the fraction of the GPU's
peak FLOP rate and memory bandwidth it reaches.  Inputs and outputs stay on
the GPU (device arrays in, device arrays out); every timing ends with a
device synchronisation; the median of the repetitions is reported, after a
warm-up call that compiles the kernels and a check that both libraries
agree.

Usage (from the repository root, or with numrnn installed)::

    python benchmarks/compare_cuda.py                     # the full table
    python benchmarks/compare_cuda.py --cells lstm --rows 100,64,128,256
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/compare_cuda.py --smoke

``--smoke`` runs tiny shapes once; it works on Numba's CUDA simulator,
where PyTorch has no GPU and its columns read "-".  Simulator times say
nothing about a GPU.

Models behind the derived columns (float32, G gates, H_out = H):

* FLOPs: those of the matrix products, forward 2·T·B·G·H·(I + H); forward +
  backward three times that.
* bytes: the least traffic to DRAM of the forward pass -- read x and the
  weights, write and re-read the input projection (T·B·G·H), write the
  output; forward + backward counted as three times that.  The recurrent
  weights are read from L2 on every step, which this does not count: see
  ``docs/cuda.rst``.
* peaks: FP32 lanes per SM (from the compute capability) · SMs · 2 · clock,
  and 2 · memory clock · bus width, from the device attributes.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

# From a checkout, measure the numrnn next to this script, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numrnn  # noqa: E402

#: (T, B, I, H) of the comparison; each also runs with B = 256 and B = 1024.
ROWS = [
    (100, 1, 32, 64),
    (100, 32, 32, 128),
    (100, 64, 128, 256),
    (50, 128, 256, 512),
    (1000, 8, 16, 32),
]
LARGE_BATCHES = (256, 1024)
SMOKE_ROWS = [(3, 2, 2, 3)]
CELLS = {"lstm": ("LSTM", 4), "gru": ("GRU", 3), "rnn": ("RNN", 1)}

#: FP32 lanes per SM by compute capability major version (minor where it differs).
FP32_LANES = {(6, 0): 64, 6: 128, 7: 64, (8, 0): 64, 8: 128, 9: 128, 10: 128, 12: 128}


def all_rows(rows, batches):
    """rows plus each with the batch sizes ``batches``, without duplicates."""
    out = []
    for T, B, I, H in rows:
        for b in (B, *batches):
            if (T, b, I, H) not in out:
                out.append((T, b, I, H))
    return out


def gpu_peaks():
    """(peak FP32 GFLOP/s, peak GB/s) of the current GPU, or (None, None)."""
    from numba import cuda

    try:
        dev = cuda.get_current_device()
        cc = tuple(dev.compute_capability)
        lanes = FP32_LANES.get(cc, FP32_LANES.get(cc[0]))
        flops = lanes * dev.MULTIPROCESSOR_COUNT * 2 * dev.CLOCK_RATE * 1e3 / 1e9
        bandwidth = 2 * dev.MEMORY_CLOCK_RATE * 1e3 * dev.GLOBAL_MEMORY_BUS_WIDTH / 8 / 1e9
        return flops, bandwidth
    except (AttributeError, TypeError):  # the simulator has no such attributes
        return None, None


def torch_cuda():
    """The torch module if it can use this GPU, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def make_case(torch, cell, T, B, I, H):
    """numrnn layer, torch module (or None), device input and output gradient."""
    from numba import cuda

    ours = getattr(numrnn, CELLS[cell][0])(I, H, dtype=np.float32, backend="cuda", seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    case = {"ours": ours, "x": cuda.to_device(x), "grad": cuda.to_device(grad), "torch": None}
    if torch is not None:
        theirs = getattr(torch.nn, CELLS[cell][0])(I, H).cuda()
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
        case.update(
            torch=theirs,
            tx=torch.from_numpy(x).cuda().requires_grad_(),
            tgrad=torch.from_numpy(grad).cuda(),
        )
    return case


def check_same(torch, case):
    """Both libraries agree (to float32 accuracy) before anything is timed."""
    with numrnn.no_grad():
        got = case["ours"](case["x"])[0].copy_to_host()
    if torch is None:
        return
    with torch.no_grad():
        want = case["torch"](case["tx"])[0].cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def timed(fn, sync, repeats):
    """Median seconds of ``fn`` over ``repeats`` runs, each ended by ``sync``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(torch, case, repeats):
    """{(library, pass): seconds} for one case."""
    from numba import cuda

    ours = case["ours"]

    def ours_forward():
        with numrnn.no_grad():
            ours(case["x"])

    def ours_both():
        ours(case["x"])
        ours.backward(case["grad"])

    results = {}
    for name, fn in (("forward", ours_forward), ("both", ours_both)):
        fn()  # compiles the kernels
        results["numrnn", name] = timed(fn, cuda.synchronize, repeats)
    if torch is not None:
        theirs = case["torch"]

        def torch_forward():
            with torch.no_grad():
                theirs(case["tx"])

        def torch_both():
            theirs.zero_grad()
            case["tx"].grad = None
            theirs(case["tx"])[0].backward(case["tgrad"])

        for name, fn in (("forward", torch_forward), ("both", torch_both)):
            fn()
            results["torch", name] = timed(fn, torch.cuda.synchronize, repeats)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    parser.add_argument("--rows", nargs="+", metavar="T,B,I,H",
                        help="shapes to run instead of the default table")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, one repetition")
    args = parser.parse_args(argv)
    if args.smoke:
        rows, repeats = SMOKE_ROWS, 1
    elif args.rows:
        rows, repeats = [tuple(int(v) for v in r.split(",")) for r in args.rows], args.repeats
    else:
        rows, repeats = all_rows(ROWS, LARGE_BATCHES), args.repeats

    torch = torch_cuda()
    peak_flops, peak_bandwidth = gpu_peaks()
    from numba.core import config

    if config.ENABLE_CUDASIM:
        print("On Numba's CUDA simulator: these times say nothing about a GPU.")
    peaks = (
        "-" if peak_flops is None else f"{peak_flops:.0f} GFLOP/s FP32, {peak_bandwidth:.0f} GB/s"
    )
    print(f"numrnn {numrnn.__version__}; torch: {'cuDNN on the GPU' if torch else 'none'}; "
          f"peaks: {peaks}")  # fmt: skip
    print()
    print("| cell | T | B | I | H | pass | numrnn ms | torch ms | numrnn/torch "
          "| GFLOP/s | of peak FLOP | of peak bandwidth |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in args.cells:
        gates = CELLS[cell][1]
        for T, B, I, H in rows:
            case = make_case(torch, cell, T, B, I, H)
            check_same(torch, case)
            results = measure(torch, case, repeats)
            flops = 2.0 * T * B * gates * H * (I + H)
            dram = 4.0 * (T * B * I + gates * H * (I + H) + 2 * T * B * gates * H + T * B * H)
            for name, factor in (("forward", 1), ("both", 3)):
                ours = results["numrnn", name]
                theirs = results.get(("torch", name))
                rate = factor * flops / ours / 1e9
                cols = [
                    cell, T, B, I, H, "fwd" if name == "forward" else "fwd+bwd",
                    f"{ours * 1e3:.3f}",
                    "-" if theirs is None else f"{theirs * 1e3:.3f}",
                    "-" if theirs is None else f"{ours / theirs:.2f}",
                    f"{rate:.1f}",
                    "-" if peak_flops is None else f"{rate / peak_flops:.1%}",
                    "-" if peak_bandwidth is None
                    else f"{factor * dram / ours / 1e9 / peak_bandwidth:.1%}",
                ]  # fmt: skip
                print("| " + " | ".join(str(c) for c in cols) + " |")


if __name__ == "__main__":
    main()
