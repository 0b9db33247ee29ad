"""Dense head: forward against the formula, gradients by finite differences, state dicts."""

import os
import subprocess
import sys

import numpy as np
import pytest
from parity import import_torch
from train_helpers import numerical_gradient

from numrnn.heads import Dense

T, B, F, OUT = 4, 3, 5, 2
LENGTHS = np.array([2, 4, 1])


def grad_check(head, h, lengths):
    """Compare analytic d(sum(z * g))/d(h, weight, bias) with finite differences."""
    g = np.random.default_rng(1).normal(size=head(h, lengths).shape)
    grad_h = head.backward(g)
    params = head.state_dict()

    def objective(_):
        head.load_state_dict(params)
        return float(np.sum(head(h, lengths) * g))

    np.testing.assert_allclose(grad_h, numerical_gradient(objective, h), rtol=1e-7, atol=1e-9)
    for name, value in params.items():
        np.testing.assert_allclose(head.grads[name], numerical_gradient(objective, value),
                                   rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("last_step", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients(last_step, batch_first, lengths, bias):
    head = Dense(F, OUT, last_step=last_step, batch_first=batch_first, bias=bias,
                 dtype=np.float64, seed=3)
    shape = (B, T, F) if batch_first else (T, B, F)
    grad_check(head, np.random.default_rng(0).normal(size=shape), lengths)


@pytest.mark.parametrize("last_step", [False, True])
def test_unbatched(last_step):
    head = Dense(F, OUT, last_step=last_step, dtype=np.float64, seed=3)
    h = np.random.default_rng(0).normal(size=(T, F))
    z = head(h)
    assert z.shape == ((OUT,) if last_step else (T, OUT))
    grad_check(head, h, None)


def test_forward_formula_and_padding():
    head = Dense(F, OUT, seed=0)
    h = np.random.default_rng(0).normal(size=(T, B, F)).astype(np.float32)
    z = head(h, LENGTHS)
    sd = head.state_dict()
    expected = h @ sd["weight"].T + sd["bias"]
    valid = np.arange(T)[:, None] < LENGTHS[None, :]
    np.testing.assert_allclose(z[valid], expected[valid], rtol=1e-6)
    assert np.all(z[~valid] == 0)
    assert z.dtype == np.float32


def test_last_step_picks_last_valid_step():
    head = Dense(F, OUT, last_step=True, batch_first=True, seed=0)
    h = np.random.default_rng(0).normal(size=(B, T, F))
    z = head(h, LENGTHS)
    per_step = Dense(F, OUT, batch_first=True, seed=0)(h)
    np.testing.assert_allclose(z, per_step[np.arange(B), LENGTHS - 1], rtol=1e-6)


def test_init_matches_torch_linear_bounds_and_seed():
    a, b = Dense(100, 7, seed=5), Dense(100, 7, seed=5)
    for key in ("weight", "bias"):
        np.testing.assert_array_equal(a.state_dict()[key], b.state_dict()[key])
        assert np.abs(a.state_dict()[key]).max() <= 0.1
    assert not np.array_equal(Dense(100, 7, seed=6).state_dict()["weight"],
                              a.state_dict()["weight"])


def test_state_dict_names_match_torch_linear():
    torch = import_torch()
    linear = torch.nn.Linear(F, OUT).double()
    head = Dense(F, OUT, dtype=np.float64)
    head.load_state_dict({k: v.detach().numpy() for k, v in linear.state_dict().items()})
    h = np.random.default_rng(0).normal(size=(T, B, F))
    np.testing.assert_allclose(head(h), linear(torch.from_numpy(h)).detach().numpy(),
                               rtol=1e-12)


def test_activate():
    z = np.array([[0.0, 0.0], [1000.0, -1000.0]])
    np.testing.assert_allclose(Dense(1, 2, activation="softmax").activate(z),
                               [[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(Dense(1, 2, activation="sigmoid").activate(z),
                               [[0.5, 0.5], [1.0, 0.0]])
    assert Dense(1, 2).activate(z) is z


def test_load_state_dict_is_strict_and_atomic():
    head = Dense(F, OUT, seed=0)
    before = head.state_dict()
    with pytest.raises(ValueError, match=r"missing keys \['bias'\]"):
        head.load_state_dict({"weight": before["weight"]})
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        head.load_state_dict({**before, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"state_dict\['bias'\] must have shape \(2,\)"):
        head.load_state_dict({"weight": before["weight"] + 1, "bias": np.zeros(3)})
    for key, value in head.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: Dense(0, 2), ValueError, "in_features must be >= 1, got 0"),
        (lambda: Dense(2.5, 2), TypeError, "in_features must be an integer, got float 2.5"),
        (lambda: Dense(2, 2, activation="tanh"), ValueError, "activation must be one of"),
        (lambda: Dense(2, 2, dtype=np.int32), ValueError, "dtype must be float32 or float64"),
        (lambda: Dense(2, 2)(np.zeros((3, 1, 4))), ValueError,
         r"h must have last axis of size 2 \(in_features\), got shape \(3, 1, 4\)"),
        (lambda: Dense(2, 2, last_step=True)(np.zeros(2)), ValueError,
         "h must have 2 or 3 dimensions"),
        (lambda: Dense(2, 2)(np.zeros((3, 2)), lengths=[1]), ValueError,
         "lengths must be None for unbatched"),
        (lambda: Dense(2, 2).backward(np.zeros(2)), RuntimeError, "before forward"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_backward_checks_grad_shape():
    head = Dense(F, OUT)
    head(np.zeros((T, B, F)))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(4, 3, 2\)"):
        head.backward(np.zeros((T, B, OUT + 1)))


def test_head_and_loss_take_device_arrays_on_the_cuda_simulator():
    """A CUDA layer's output may stay on the device; run where the simulator is active."""
    pytest.importorskip("numba.cuda")
    code = (
        "import numpy as np; from numba import cuda\n"
        "from numrnn.heads import Dense; from numrnn.losses import MSELoss\n"
        "h = np.arange(24.0).reshape(3, 2, 4)\n"
        "head = Dense(4, 2, dtype=np.float64, seed=0)\n"
        "z = head(cuda.to_device(h))\n"
        "assert np.array_equal(z, head(h))\n"
        "loss = MSELoss()\n"
        "assert loss(cuda.to_device(z), np.zeros_like(z)) == loss(z, np.zeros_like(z))\n"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
