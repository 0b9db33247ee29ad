"""The layers on ``backend="cuda"`` agree with ``backend="numpy"``.

Everything above the backend (stacking, directions, ``batch_first``,
lengths) runs through the CUDA helpers here; host arrays in give host arrays
out, device arrays in give device arrays out.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import numrnn
import numrnn.backends.cuda as cuda_backend

LAYERS = {
    "rnn_relu": (numrnn.RNN, {"nonlinearity": "relu"}),
    "gru": (numrnn.GRU, {}),
    "lstm_proj": (numrnn.LSTM, {"proj_size": 2}),
}


def assert_close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_numpy_backend(rng, name):
    from numba import cuda

    cls, kwargs = LAYERS[name]
    common = dict(num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, seed=1)
    spec = cls(2, 3, backend="numpy", **common, **kwargs)
    layer = cls(2, 3, backend="cuda", **common, **kwargs)
    x = rng.standard_normal((2, 3, 2))
    lengths = np.array([3, 1])

    want_out, want_h = spec(x, lengths=lengths)
    got_out, got_h = layer(x, lengths=lengths)
    assert isinstance(got_out, np.ndarray)
    assert_close(got_out, want_out)
    if isinstance(want_h, tuple):
        assert_close(got_h[1], want_h[1])
        got_h, want_h = got_h[0], want_h[0]
    assert_close(got_h, want_h)
    g = rng.standard_normal(want_out.shape)
    want_gx, _ = spec.backward(g)
    got_gx, _ = layer.backward(g)
    assert_close(got_gx, want_gx)
    for key, want in spec.grads.items():
        assert_close(layer.grads[key], want)

    dev_out, _ = layer(cuda.to_device(x), lengths=lengths)
    assert cuda_backend.is_device_array(dev_out)
    assert_close(dev_out.copy_to_host(), want_out)
    dev_gx, _ = layer.backward(cuda.to_device(g))
    assert cuda_backend.is_device_array(dev_gx)
    assert_close(dev_gx.copy_to_host(), want_gx)


def test_benchmark_smoke_run():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, os.path.join(root, "benchmarks", "compare_cuda.py"), "--smoke",
         "--cells", "gru"],
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| gru | 3 | 2 | 2 | 3 | fwd+bwd |" in result.stdout


def test_padding_never_reaches_gradients():
    """NaN in padded steps changes neither outputs nor any gradient."""
    rng = np.random.default_rng()
    layer = numrnn.GRU(3, 4, backend="cuda", dtype=np.float64, seed=0)
    lengths = np.array([2, 5, 3])
    x = rng.standard_normal((5, 3, 3))
    poisoned = x.copy()
    for b, length in enumerate(lengths):
        poisoned[length:, b] = np.nan
    results = []
    for inputs in (x, poisoned):
        out, h_n = layer(inputs, None, lengths)
        grad_x, grad_h = layer.backward(np.ones_like(out))
        results.append((out, h_n, grad_x, grad_h, *layer.grads.values()))
    for clean, dirty in zip(*results, strict=True):
        np.testing.assert_array_equal(clean, dirty)
