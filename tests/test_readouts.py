"""Readouts of many-to-one heads: formulas, padding, float64 finite-difference gradients."""

import numpy as np
import pytest
from parity import import_torch
from test_heads import grad_check
from train_helpers import check_model_gradient

import numrnn
from numrnn.heads import Dense
from numrnn.model import Sequential
from numrnn.readouts import READOUTS, readout_backward, readout_forward

POOLED = ["mean", "max", "mean_max"]


def torch_readout(h, lengths, kind):
    """The readout written with PyTorch's masked reductions, (T, B, F) -> (B, width * F)."""
    torch = import_torch()
    h = torch.as_tensor(h)
    steps = h.shape[0]
    lengths = torch.as_tensor(lengths if lengths is not None else [steps] * h.shape[1])
    valid = (torch.arange(steps)[:, None] < lengths[None, :])[..., None]
    mean = torch.where(valid, h, 0).sum(0) / lengths[:, None]
    peak = torch.where(valid, h, -torch.inf).amax(0)
    last = h[lengths - 1, torch.arange(h.shape[1])]
    parts = {"last": [last], "mean": [mean], "max": [peak], "mean_max": [mean, peak]}[kind]
    return torch.cat(parts, dim=1).numpy()


@pytest.mark.parametrize("kind", list(READOUTS))
@pytest.mark.parametrize("shape, lengths", [((5, 3, 4), [5, 2, 1]), ((5, 3, 4), None),
                                            ((1, 1, 1), [1]), ((3, 1, 2), None)])
def test_forward_matches_torch_and_ignores_padding(kind, shape, lengths):
    rng = np.random.default_rng(0)
    h = rng.normal(size=shape)
    lengths = None if lengths is None else np.array(lengths)
    rows, _ = readout_forward(h, lengths, kind)
    np.testing.assert_allclose(rows, torch_readout(h, lengths, kind), rtol=1e-12)
    assert rows.shape == (shape[1], READOUTS[kind] * shape[2])
    if lengths is not None:
        garbage = h.copy()
        garbage[np.arange(shape[0])[:, None] >= lengths[None, :]] = 1e6
        np.testing.assert_array_equal(readout_forward(garbage, lengths, kind)[0], rows)


@pytest.mark.parametrize("kind", list(READOUTS))
def test_backward_matches_torch_autograd(kind):
    torch = import_torch()
    rng = np.random.default_rng(1)
    h, lengths = rng.normal(size=(6, 4, 3)), np.array([6, 1, 3, 4])
    rows, tape = readout_forward(h, lengths, kind)
    g = rng.normal(size=rows.shape)
    ht = torch.tensor(h, requires_grad=True)
    steps = torch.arange(6)[:, None] < torch.as_tensor(lengths)[None, :]
    mean = torch.where(steps[..., None], ht, 0).sum(0) / torch.as_tensor(lengths)[:, None]
    peak = torch.where(steps[..., None], ht, -torch.inf).amax(0)
    last = ht[torch.as_tensor(lengths) - 1, torch.arange(4)]
    out = torch.cat({"last": [last], "mean": [mean], "max": [peak],
                     "mean_max": [mean, peak]}[kind], dim=1)
    (out * torch.as_tensor(g)).sum().backward()
    np.testing.assert_allclose(readout_backward(g, tape), ht.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", POOLED)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, np.array([2, 4, 1])], ids=["full", "lengths"])
def test_head_gradients_by_finite_differences(kind, batch_first, lengths):
    head = Dense(5, 2, last_step=True, readout=kind, batch_first=batch_first,
                 dtype=np.float64, seed=3)
    shape = (3, 4, 5) if batch_first else (4, 3, 5)
    grad_check(head, np.random.default_rng(0).normal(size=shape), lengths)


@pytest.mark.parametrize("kind", POOLED)
def test_unbatched_and_single_step(kind):
    head = Dense(2, 3, last_step=True, readout=kind, dtype=np.float64, seed=0)
    for h in (np.random.default_rng(0).normal(size=(4, 2)), np.ones((1, 2))):
        assert head(h).shape == (3,)
        grad_check(head, h, None)


@pytest.mark.parametrize("kind", POOLED)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_model_gradient_by_finite_differences(kind, bidirectional):
    """Through a (bidirectional) GRU, the readout and the loss, with lengths."""
    rng = np.random.default_rng(0)
    lengths = np.array([4, 2, 3])
    directions = 2 if bidirectional else 1
    model = Sequential([
        numrnn.GRU(2, 3, bidirectional=bidirectional, backend="numpy", dtype=np.float64, seed=1),
        Dense(3 * directions, 4, activation="softmax", last_step=True, readout=kind,
              dtype=np.float64, seed=2)], loss="cross_entropy")
    check_model_gradient(model, rng.normal(size=(4, 3, 2)), rng.integers(0, 4, size=3),
                         lengths)


def test_mean_max_weight_and_state_dict_round_trip():
    head = Dense(4, 3, last_step=True, readout="mean_max", seed=0)
    assert head.state_dict()["weight"].shape == (3, 8)
    twin = Dense(**head.get_config())
    twin.load_state_dict(head.state_dict())
    h = np.random.default_rng(0).normal(size=(5, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(twin(h), head(h))
    assert "readout='mean_max'" in repr(head)


@pytest.mark.parametrize("kwargs, match", [
    ({"readout": "median", "last_step": True}, "readout"),
    ({"readout": "mean"}, "last_step"),
])
def test_bad_readout_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dense(3, 2, **kwargs)


def test_saved_model_keeps_its_readout(tmp_path):
    model = Sequential([numrnn.GRU(2, 3, batch_first=True, backend="numpy", seed=0),
                        Dense(3, 2, last_step=True, readout="mean_max", batch_first=True,
                              seed=1)])
    x = np.random.default_rng(0).normal(size=(4, 5, 2))
    numrnn.save(tmp_path / "m.npz", model)
    loaded = numrnn.load(tmp_path / "m.npz")
    assert loaded.head.readout == "mean_max"
    np.testing.assert_array_equal(loaded.predict(x, [5, 1, 3, 2]), model.predict(x, [5, 1, 3, 2]))
