"""Command line entry point: ``python -m numrnn demo``.

The demo trains a small LSTM, followed by a linear read-out, to predict the next value of
noisy sine waves of random frequency and phase, and prints the loss as it goes down.
"""

import argparse
import sys
import time

import numpy as np

import numrnn


def sine_batch(rng, steps, batch, dtype):
    """Return ``(inputs, targets)``, each (steps, batch, 1): a noisy sine and its next value."""
    frequency = rng.uniform(0.1, 0.5, size=(1, batch, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(1, batch, 1))
    t = np.arange(steps + 1).reshape(-1, 1, 1)
    wave = np.sin(frequency * t + phase) + 0.05 * rng.standard_normal((steps + 1, batch, 1))
    return wave[:-1].astype(dtype), wave[1:].astype(dtype)


class Adam:
    """Adam (Kingma & Ba, 2015) over a dict of arrays, updated in place."""

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.count = 0
        self.mean = {}
        self.second_moment = {}

    def step(self, params, grads):
        """Move every ``params[name]`` against ``grads[name]``."""
        self.count += 1
        for name, grad in grads.items():
            mean = self.mean.setdefault(name, np.zeros_like(grad))
            second_moment = self.second_moment.setdefault(name, np.zeros_like(grad))
            mean += (1 - self.beta1) * (grad - mean)
            second_moment += (1 - self.beta2) * (grad * grad - second_moment)
            mean_hat = mean / (1 - self.beta1**self.count)
            second_moment_hat = second_moment / (1 - self.beta2**self.count)
            params[name] -= self.learning_rate * mean_hat / (np.sqrt(second_moment_hat) + self.eps)


def demo(backend, steps, seed):
    """Train the LSTM for ``steps`` batches; return the first and the last loss."""
    rng = np.random.default_rng(seed)
    hidden_size, seq_len, batch = 32, 40, 32
    lstm = numrnn.LSTM(1, hidden_size, backend=backend, dtype=np.float32, seed=seed)
    readout = {
        "weight": rng.uniform(-1, 1, (1, hidden_size)).astype(np.float32) / np.sqrt(hidden_size),
        "bias": np.zeros(1, dtype=np.float32),
    }
    lstm_optimizer, readout_optimizer = Adam(0.01), Adam(0.01)
    print(f"numrnn {numrnn.__version__}: {lstm!r}")
    print(f"task: predict the next value of noisy sines, {batch} sequences of {seq_len} steps")
    start = time.perf_counter()
    losses = []
    for step in range(steps):
        x, target = sine_batch(rng, seq_len, batch, np.float32)
        output, _ = lstm(x)
        prediction = output @ readout["weight"].T + readout["bias"]
        error = prediction - target
        losses.append(float(np.mean(error**2)))

        grad_prediction = 2.0 * error / error.size
        readout_grads = {
            "weight": grad_prediction.reshape(-1, 1).T @ output.reshape(-1, hidden_size),
            "bias": grad_prediction.sum(axis=(0, 1)),
        }
        lstm.backward(grad_prediction @ readout["weight"])
        lstm_optimizer.step(lstm.parameters(), lstm.grads)
        readout_optimizer.step(readout, readout_grads)

        if step % 25 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {losses[-1]:.4f}")
    print(f"{steps} steps in {time.perf_counter() - start:.1f} s (including compilation)")
    return losses[0], losses[-1]


def main(argv=None):
    """Parse the command line and run the chosen command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m numrnn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train a small LSTM and print the loss")
    demo_parser.add_argument("--backend", default="auto", help='"auto", "numpy", "cpu" or "cuda"')
    demo_parser.add_argument("--steps", type=int, default=200, help="training batches")
    demo_parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    first_loss, last_loss = demo(args.backend, args.steps, args.seed)
    if not last_loss < 0.5 * first_loss:
        print(f"error: the loss did not go down ({first_loss:.4f} -> {last_loss:.4f})")
        return 1
    print(f"loss went down from {first_loss:.4f} to {last_loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
