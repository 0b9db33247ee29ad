"""The CUDA backend's array helpers, and how the backend is found and selected."""

import os
import subprocess
import sys

import numpy as np
import pytest


def test_asarray_host_to_device_and_back(backend, rng):
    a = rng.standard_normal((2, 3, 4))
    d = backend.asarray(a, np.float32)
    assert backend.is_device_array(d) and not backend.is_device_array(a)
    assert d.dtype == np.float32 and d.shape == a.shape
    np.testing.assert_array_equal(backend.to_numpy(d), a.astype(np.float32))
    np.testing.assert_array_equal(backend.to_numpy(a), a)


def test_asarray_of_strided_device_array_copies_and_casts(backend, rng):
    from numba import cuda

    a = rng.standard_normal((3, 5))
    d = cuda.to_device(a)
    for view, expected in ((d.T, a.T), (d[:, 1:4], a[:, 1:4]), (d[::2], a[::2])):
        out = backend.asarray(view, np.float32)
        assert out.is_c_contiguous() and out.dtype == np.float32
        np.testing.assert_array_equal(out.copy_to_host(), expected.astype(np.float32))


def test_asarray_aliases_a_fitting_device_array(backend, rng):
    from numba import cuda

    d = cuda.to_device(rng.standard_normal((2, 3)))
    assert backend.asarray(d, np.float64) is d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zeros(backend, dtype):
    z = backend.zeros((2, 3, 4), dtype)
    assert backend.is_device_array(z) and z.dtype == dtype
    np.testing.assert_array_equal(backend.to_numpy(z), np.zeros((2, 3, 4)))


def test_concat_and_split_features(backend, rng):
    parts = [rng.standard_normal((2, 3, w)) for w in (4, 1, 2)]
    joined = backend.concat_features([backend.asarray(p, np.float64) for p in parts])
    assert backend.is_device_array(joined)
    np.testing.assert_array_equal(backend.to_numpy(joined), np.concatenate(parts, axis=-1))
    back = backend.split_features(joined, [4, 1, 2])
    for got, want in zip(back, parts, strict=True):
        assert got.is_c_contiguous()
        np.testing.assert_array_equal(backend.to_numpy(got), want)


def test_stack(backend, rng):
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    out = backend.stack([backend.asarray(a, np.float64) for a in arrays])
    np.testing.assert_array_equal(backend.to_numpy(out), np.stack(arrays))


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4)])
def test_transpose01(backend, rng, shape):
    a = rng.standard_normal(shape)
    out = backend.transpose01(backend.asarray(a, np.float64))
    assert out.is_c_contiguous()
    np.testing.assert_array_equal(backend.to_numpy(out), a.swapaxes(0, 1))


def test_add_and_multiply(backend, rng):
    a, b = rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 2, 3))
    da, db = backend.asarray(a, np.float64), backend.asarray(b, np.float64)
    np.testing.assert_array_equal(backend.to_numpy(backend.add(da, db)), a + b)
    np.testing.assert_array_equal(backend.to_numpy(backend.multiply(da, db)), a * b)
    with pytest.raises(ValueError, match="shapes differ"):
        backend.add(da, backend.asarray(a[0], np.float64))


def test_is_usable_is_false_on_the_simulator():
    from numba.core import config

    import numrnn.backends.cuda as cuda_backend

    if config.ENABLE_CUDASIM:
        assert cuda_backend.is_usable() is False


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter (Numba reads its config at import)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environ = {**os.environ, "PYTHONPATH": root, **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )


def test_importing_numrnn_does_not_import_numba_cuda():
    result = run_python(
        "import sys, numrnn, numrnn.backends.cuda\n"
        "assert 'numba.cuda' not in sys.modules, 'numba.cuda was imported'\n",
        NUMBA_ENABLE_CUDASIM="0",
    )
    assert result.returncode == 0, result.stderr


def test_no_gpu_and_no_simulator_raises_a_clear_error():
    result = run_python(
        "import numrnn.backends.cuda as c\n"
        "if c.is_usable():\n"
        "    raise SystemExit(3)\n"
        "try:\n"
        "    c.forward\n"
        "except RuntimeError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('no error')\n",
        NUMBA_ENABLE_CUDASIM="0",
    )
    if result.returncode == 3:
        pytest.skip("a GPU is usable here")
    assert result.returncode == 0, result.stderr
    assert 'backend="cuda" needs a CUDA GPU' in result.stdout
    assert "NUMBA_ENABLE_CUDASIM=1" in result.stdout


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_matmul_all_transpositions(backend, rng, trans_a, trans_b):
    from numba import cuda

    # Sizes off the tile multiples in every dimension, with more tiles than blocks.
    m, n, depth = rng.integers(9, 19, 3)
    a = rng.standard_normal((depth, m) if trans_a else (m, depth))
    b = rng.standard_normal((n, depth) if trans_b else (depth, n))
    bias = rng.standard_normal(n)
    out = cuda.device_array((m, n))
    backend._matmul(cuda.to_device(a), cuda.to_device(b), out, cuda.to_device(bias), trans_a,
                    trans_b)  # fmt: skip
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b) + bias
    np.testing.assert_allclose(out.copy_to_host(), expected, rtol=1e-12, atol=1e-12)
