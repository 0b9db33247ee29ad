"""numrnn on a Dask LocalCluster: warm workers, and data-parallel training against 1 process.

Starts a LocalCluster of 2 worker processes (1 thread each) and measures, in one run:

1. warm workers: the seconds of a worker's first fit of a small SequenceClassifier before any
   warm-up (kernels loaded from Numba's cache or compiled), and after
   ``numrnn.distributed.warm_workers``, against its later fits;
2. the exchange: round trips of a dask actor call, a task (future) and ``Client.run``, with
   no payload and with the model's gradients (P float32 numbers) each way;
3. throughput: ``Sequential.fit`` of an LSTM in this process (1 and 2 BLAS threads) against
   ``DataParallel(model, client).fit`` on the 2 workers, same global batch, alternated and
   repeated; samples per second, median and spread.

Usage (from the repository root)::

    python benchmarks/dask_scaleout.py                    # H=256, I=32, T=50, batch 256
    python benchmarks/dask_scaleout.py --quick
"""

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

# From a checkout, measure the numrnn next to this script, not an installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numrnn  # noqa: E402
from numrnn.distributed import DataParallel, warm_workers  # noqa: E402
from numrnn.heads import Dense  # noqa: E402
from numrnn.model import Sequential  # noqa: E402


def timed_fit(seed):
    """Fit a small classifier in this process; returns its seconds."""
    import warnings

    from numrnn.estimators import SequenceClassifier

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((128, 20, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SequenceClassifier(cell="lstm", hidden_size=16, epochs=10, backend="cpu",
                           seed=seed).fit(X, y)
    return time.perf_counter() - start


def echoed(payload):
    """What a task sends back: its argument."""
    return payload


class Echo:
    """A dask actor that sends back what it gets."""

    def echo(self, payload):
        return payload


def model(hidden, features, classes=10):
    return Sequential([numrnn.LSTM(features, hidden, batch_first=True, backend="cpu", seed=0),
                       Dense(hidden, classes, activation="softmax", last_step=True,
                                            batch_first=True, seed=0)],
                      loss="cross_entropy", optimizer=numrnn.optim.SGD(lr=0.01, momentum=0.9))


def fits_on(client, worker, count):
    return [client.submit(timed_fit, i, workers=[worker], pure=False).result()
            for i in range(count)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=256, help="global batch")
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.steps, args.batch, args.samples, args.repeats = 16, 5, 32, 64, 1
    from distributed import Client, LocalCluster

    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        cold_worker, warm_worker = sorted(client.scheduler_info()["workers"])
        cold = fits_on(client, cold_worker, 3)
        print(f"| worker without warm-up | first fit {cold[0]:.2f} s | later "
              f"{np.median(cold[1:]):.2f} s | {cold[0] / np.median(cold[1:]):.1f} x |")
        seconds = warm_workers(client, cells=("lstm",), backend="cpu")
        warmed = fits_on(client, warm_worker, 3)
        print(f"| worker after warm-up ({seconds[warm_worker]['lstm']:.2f} s) | first fit "
              f"{warmed[0]:.2f} s | later {np.median(warmed[1:]):.2f} s | "
              f"{warmed[0] / np.median(warmed[1:]):.1f} x |")

        net = model(args.hidden, args.features)
        grads = {k: np.zeros_like(v) for k, v in net.parameters().items()}
        n_params = sum(v.size for v in grads.values())
        echo = client.submit(Echo, actor=True, workers=[cold_worker]).result()
        ways = {"actor": lambda payload: echo.echo(payload).result(),
                "future": lambda payload: client.submit(
                    echoed, payload, workers=[cold_worker], pure=False).result(),
                "Client.run": lambda payload: client.run(
                    echoed, payload, workers=[cold_worker])}
        for payload, what in ((None, "empty"), (grads, f"{n_params} float32")):
            for way, call in ways.items():
                call(payload)
                times = []
                for _ in range(20):
                    start = time.perf_counter()
                    call(payload)
                    times.append(time.perf_counter() - start)
                print(f"| {way} round trip, {what} each way | {1e3 * np.median(times):.2f} ms "
                      f"(min {1e3 * min(times):.2f}, max {1e3 * max(times):.2f}) |")

        rng = np.random.default_rng(0)
        X = rng.standard_normal((args.samples, args.steps, args.features)).astype(np.float32)
        y = rng.integers(0, 10, args.samples)
        options = {"epochs": 1, "batch_size": args.batch, "seed": 0, "progress": False}
        runs = {"1 process, 1 BLAS thread": [], "1 process, 2 BLAS threads": [],
                "2 workers, DataParallel": []}
        for repeat in range(args.repeats + 1):  # the first round, untimed, compiles
            for name, threads in (("1 process, 1 BLAS thread", 1),
                                  ("1 process, 2 BLAS threads", 2)):
                with threadpool_limits(limits=threads, user_api="blas"):
                    start = time.perf_counter()
                    model(args.hidden, args.features).fit(X, y, **options)
                    if repeat:
                        runs[name].append(args.samples / (time.perf_counter() - start))
            with threadpool_limits(limits=1, user_api="blas"):
                start = time.perf_counter()
                DataParallel(model(args.hidden, args.features), client).fit(X, y, **options)
                if repeat:
                    runs["2 workers, DataParallel"].append(
                        args.samples / (time.perf_counter() - start))
        base = np.median(runs["1 process, 1 BLAS thread"])
        print(f"\nLSTM H={args.hidden}, I={args.features}, T={args.steps}, P={n_params}, "
              f"global batch {args.batch}, {args.samples} samples per epoch")
        print("| training | samples/s (median) | min-max | vs 1 process, 1 thread |")
        print("|---|---|---|---|")
        for name, values in runs.items():
            print(f"| {name} | {np.median(values):.0f} | {min(values):.0f}-{max(values):.0f}"
                  f" | {np.median(values) / base:.2f} x |")
    print(f"load average at end: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
