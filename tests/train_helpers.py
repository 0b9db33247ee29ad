"""Helpers of the training-tool tests: finite differences, backends, small generated tasks."""

import os

import numpy as np

import numrnn


def numerical_gradient(f, x, eps=1e-6):
    """d f(x) / d x by central differences; ``f`` maps a float64 array to a float.

    ``x`` is perturbed in place and restored, so ``f`` may close over it (flattened in its
    own memory order: the layers' weight matrices are F-contiguous, and a C-order
    ``reshape(-1)`` of them would be a copy).
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_g = x.reshape(-1, order="A"), grad.reshape(-1, order="A")
    assert np.shares_memory(flat_x, x)
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        plus = f(x)
        flat_x[i] = saved - eps
        minus = f(x)
        flat_x[i] = saved
        flat_g[i] = (plus - minus) / (2 * eps)
    return grad


def check_model_gradient(model, x, y, lengths, loss_lengths=None):
    """A Sequential's analytic parameter gradients of its loss on time-major ``x`` against
    central differences (float64 models)."""
    states = [None] * len(model.recurrent)

    def objective(_):
        logits, _ = model._forward(x, lengths, states)
        return model.loss(logits, y, loss_lengths)

    objective(None)
    model._backward(model.loss.backward())
    analytic = {k: v.copy() for k, v in model.grads.items()}
    for name, param in model.parameters().items():
        np.testing.assert_allclose(analytic[name], numerical_gradient(objective, param),
                                   rtol=1e-5, atol=1e-8, err_msg=name)


def available_backends():
    """Backends that load here; CUDA only on a real GPU (the simulator is far too slow)."""
    names = []
    for name in ("numpy", "cpu", "cuda"):
        if name == "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            continue
        try:
            numrnn.resolve_backend(name)
        except (ImportError, RuntimeError):
            continue
        names.append(name)
    return names


BACKENDS = available_backends()


def running_sign_task(n=64, steps=8, seed=0):
    """Per step: is the running sum of feature 0 positive? (needs memory of the past)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 2)).astype(np.float32)
    return X, (X[:, :, 0].cumsum(axis=1) > 0).astype(np.int64)


def sum_task(n=48, steps=8, seed=1):
    """Per sequence: half the sum of its valid inputs; variable lengths, NaN padding (which
    must never reach an output or a gradient)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, steps + 1, size=n)
    X = rng.normal(size=(n, steps, 1)).astype(np.float32)
    X[np.arange(steps)[None, :] >= lengths[:, None]] = np.nan
    y = np.array([X[i, :lengths[i], 0].sum() / 2 for i in range(n)])[:, None]
    return X, y, lengths
