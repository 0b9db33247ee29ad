"""Losses: values against PyTorch and closed forms, gradients by finite differences."""

import numpy as np
import pytest
from parity import import_torch
from train_helpers import numerical_gradient

from numrnn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

RNG = np.random.default_rng(7)
T, B, C = 4, 3, 5
LENGTHS = np.array([4, 1, 3])


def make_case(loss, batch_first=False):
    """Logits and targets of shape (T, B, ...) or (B, T, ...), float64."""
    shape = (B, T) if batch_first else (T, B)
    z = RNG.normal(size=shape + (C,))
    if isinstance(loss, CrossEntropyLoss):
        y = RNG.integers(0, C, size=shape)
    elif isinstance(loss, BCEWithLogitsLoss):
        y = RNG.uniform(size=shape + (C,))
    else:
        y = RNG.normal(size=shape + (C,))
    return z, y


LOSSES = [
    MSELoss(),
    MSELoss(reduction="sum"),
    BCEWithLogitsLoss(),
    BCEWithLogitsLoss(pos_weight=np.linspace(0.5, 3, C), reduction="sum"),
    CrossEntropyLoss(),
    CrossEntropyLoss(weight=np.linspace(0.2, 2, C), label_smoothing=0.2),
    CrossEntropyLoss(label_smoothing=0.1, reduction="sum"),
]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: repr(loss.get_config()))
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_gradient_matches_finite_differences(loss, lengths, batch_first):
    loss = type(loss)(**{**loss.get_config(), "batch_first": batch_first})
    z, y = make_case(loss, batch_first)
    loss(z, y, lengths)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda zz: loss(zz, y, lengths), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", LOSSES[2:], ids=lambda loss: repr(loss.get_config()))
def test_padded_steps_never_count(loss):
    z, y = make_case(loss)
    value = loss(z, y, LENGTHS)
    mask = np.arange(T)[:, None] >= LENGTHS[None, :]
    z2, y2 = z.copy(), y.astype(np.float64 if y.dtype.kind == "f" else y.dtype)
    z2[mask] = 1e3
    y2[mask] = -1
    assert loss(z2, y2, LENGTHS) == pytest.approx(value, rel=1e-12)
    assert np.all(loss.backward()[mask] == 0)


def test_mse_closed_form_mean_over_valid_elements():
    z, y = make_case(MSELoss())
    valid = np.arange(T)[:, None] < LENGTHS[None, :]
    expected = np.mean((z - y)[valid] ** 2)
    assert MSELoss()(z, y, LENGTHS) == pytest.approx(expected, rel=1e-12)


def test_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0]])
    assert np.isfinite(CrossEntropyLoss()(z, np.array([1])))
    assert CrossEntropyLoss()(z, np.array([1])) == pytest.approx(2e4)
    bce = BCEWithLogitsLoss()
    assert bce(np.array([-1e4, 1e4]), np.array([1.0, 0.0])) == pytest.approx(1e4)
    assert np.all(np.isfinite(bce.backward()))


def test_float32_pred_gives_float32_gradient():
    z = np.zeros((2, 3), dtype=np.float32)
    loss = CrossEntropyLoss()
    loss(z, np.array([0, 2]))
    assert loss.backward().dtype == np.float32


class TestAgainstTorch:
    torch = import_torch()

    def flat_valid(self, z, y):
        valid = np.arange(T)[:, None] < LENGTHS[None, :]
        return self.torch.from_numpy(z[valid]), self.torch.from_numpy(y[valid])

    @pytest.mark.parametrize("weighted", [False, True])
    @pytest.mark.parametrize("smoothing", [0.0, 0.3])
    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    def test_cross_entropy(self, weighted, smoothing, reduction):
        weight = np.linspace(0.2, 2, C) if weighted else None
        ours = CrossEntropyLoss(weight=weight, label_smoothing=smoothing, reduction=reduction)
        z, y = make_case(ours)
        theirs = self.torch.nn.CrossEntropyLoss(
            weight=None if weight is None else self.torch.from_numpy(weight),
            label_smoothing=smoothing, reduction=reduction)
        zt, yt = self.flat_valid(z, y)
        zt.requires_grad_(True)
        expected = theirs(zt, yt)
        expected.backward()
        assert ours(z, y, LENGTHS) == pytest.approx(expected.item(), rel=1e-12)
        valid = np.arange(T)[:, None] < LENGTHS[None, :]
        np.testing.assert_allclose(ours.backward()[valid], zt.grad.numpy(), rtol=1e-10)

    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    def test_bce_with_logits(self, reduction):
        pos_weight = np.linspace(0.5, 3, C)
        ours = BCEWithLogitsLoss(pos_weight=pos_weight, reduction=reduction)
        z, y = make_case(ours)
        theirs = self.torch.nn.BCEWithLogitsLoss(
            pos_weight=self.torch.from_numpy(pos_weight), reduction=reduction)
        zt, yt = self.flat_valid(z, y)
        assert ours(z, y, LENGTHS) == pytest.approx(theirs(zt, yt).item(), rel=1e-12)

    def test_mse(self):
        z, y = make_case(MSELoss())
        zt, yt = self.flat_valid(z, y)
        expected = self.torch.nn.MSELoss()(zt, yt).item()
        assert MSELoss()(z, y, LENGTHS) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: MSELoss(reduction="avg"), ValueError, "reduction must be one of"),
        (lambda: CrossEntropyLoss(label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: CrossEntropyLoss(weight=[-1.0, 1.0]), ValueError, "weight"),
        (lambda: CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError,
         "target must hold integer"),
        (lambda: CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3])), ValueError,
         r"target must lie in \[0, 2\]"),
        (lambda: CrossEntropyLoss()(np.zeros((2, 3)), np.array([0])), ValueError,
         r"target must have shape \(2,\)"),
        (lambda: CrossEntropyLoss(weight=[1.0, 1.0])(np.zeros((2, 3)), np.array([0, 1])),
         ValueError, r"weight must have shape \(3,\)"),
        (lambda: MSELoss()(np.zeros((2, 3)), np.zeros((2, 3)), lengths=[1, 2]), ValueError,
         r"lengths must have shape \(3,\)"),
        (lambda: MSELoss()(np.zeros((2, 3)), np.zeros((2, 3)), lengths=np.array([1, 2, 3])),
         ValueError, r"lengths must lie in \[1, 2\]"),
        (lambda: BCEWithLogitsLoss()(np.zeros(2), np.array([0.0, 2.0])), ValueError,
         r"target must lie in \[0, 1\]"),
        (lambda: MSELoss().backward(), RuntimeError, "before the loss"),
        (lambda: MSELoss()("abc", np.zeros(1)), TypeError, "pred must hold real numbers"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
