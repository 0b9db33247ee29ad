"""Optimizers, clipping and schedules against the published rules and against torch.optim."""

import copy
import math

import numpy as np
import pytest
from parity import import_torch

from numrnn.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    LinearWarmup,
    ReduceLROnPlateau,
    RMSprop,
    StepLR,
    clip_grad_norm,
    clip_grad_value,
)

SHAPES = {"weight": (3, 4), "bias": (3,)}
STEPS = 6


def problem(dtype=np.float64, seed=0):
    """Starting parameters and a sequence of gradients, the same for every optimizer."""
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}
    grads = [{k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}
             for _ in range(STEPS)]
    return params, grads


def run(optimizer, params, grads):
    params = copy.deepcopy(params)
    for g in grads:
        optimizer.step(params, g)
    return params


CONFIGS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (Adam, {"lr": 0.01}),
    (Adam, {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
    (Adam, {"lr": 0.01, "amsgrad": True}),
    (AdamW, {"lr": 0.01}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
    (RMSprop, {"lr": 0.01}),
    (RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
]
IDS = [f"{cls.__name__}-{kw}" for cls, kw in CONFIGS]


class TestAgainstTorch:
    torch = import_torch()

    @pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_same_trajectory(self, cls, kwargs, dtype):
        params, grads = problem(dtype)
        ours = run(cls(**kwargs), params, grads)
        tensors = {k: self.torch.tensor(v) for k, v in params.items()}
        theirs = getattr(self.torch.optim, cls.__name__)(list(tensors.values()), **kwargs)
        for g in grads:
            for k, t in tensors.items():
                t.grad = self.torch.tensor(g[k])
            theirs.step()
        rtol = 1e-12 if dtype == np.float64 else 2e-6
        for k, t in tensors.items():
            np.testing.assert_allclose(ours[k], t.numpy(), rtol=rtol, atol=rtol, err_msg=k)
            assert ours[k].dtype == dtype

    def test_clip_grad_norm(self):
        for norm_type in (2.0, 1.0, np.inf):
            _, (grads, *_) = problem()
            tensors = [self.torch.tensor(v, requires_grad=True) for v in grads.values()]
            for t, g in zip(tensors, grads.values(), strict=True):
                t.grad = self.torch.tensor(g)
            expected = self.torch.nn.utils.clip_grad_norm_(tensors, 0.5, norm_type=norm_type)
            total = clip_grad_norm(grads, 0.5, norm_type=norm_type)
            assert total == pytest.approx(expected.item(), rel=1e-12)
            for t, g in zip(tensors, grads.values(), strict=True):
                np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)

    @pytest.mark.parametrize(
        ("ours", "theirs"),
        [
            (lambda o: StepLR(o, 3, gamma=0.5), lambda o, s: s.StepLR(o, 3, gamma=0.5)),
            (lambda o: CosineAnnealingLR(o, 5, eta_min=0.01),
             lambda o, s: s.CosineAnnealingLR(o, 5, eta_min=0.01)),
            (lambda o: LinearWarmup(o, 4, start_factor=0.1),
             lambda o, s: s.LinearLR(o, start_factor=0.1, total_iters=4)),
        ],
        ids=["step", "cosine", "warmup"],
    )
    def test_schedules(self, ours, theirs):
        opt = SGD(lr=0.2)
        schedule = ours(opt)
        torch_opt = self.torch.optim.SGD([self.torch.zeros(1, requires_grad=True)], lr=0.2)
        torch_schedule = theirs(torch_opt, self.torch.optim.lr_scheduler)
        rates, expected = [opt.lr], [torch_opt.param_groups[0]["lr"]]
        for _ in range(12):
            torch_opt.step()
            torch_schedule.step()
            rates.append(schedule.step())
            expected.append(torch_opt.param_groups[0]["lr"])
        np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=1e-15)

    @pytest.mark.parametrize("mode, threshold", [("rel", 1e-4), ("abs", 0.05)])
    def test_plateau(self, mode, threshold):
        losses = [5.0, 4.0, 4.0, 3.9999, 4.0, 4.1, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0,
                  1.96, 1.9, 1.88, 1.87, 1.86]
        opt = SGD(lr=0.2)
        schedule = ReduceLROnPlateau(opt, factor=0.5, patience=2, min_lr=0.03,
                                     threshold=threshold, threshold_mode=mode)
        torch_opt = self.torch.optim.SGD([self.torch.zeros(1, requires_grad=True)], lr=0.2)
        torch_schedule = self.torch.optim.lr_scheduler.ReduceLROnPlateau(
            torch_opt, factor=0.5, patience=2, min_lr=0.03, threshold=threshold,
            threshold_mode=mode)
        rates, expected = [], []
        for loss in losses:
            torch_opt.step()
            torch_schedule.step(loss)
            rates.append(schedule.step(loss))
            expected.append(torch_opt.param_groups[0]["lr"])
        np.testing.assert_allclose(rates, expected, rtol=1e-12)
        assert min(rates) == 0.03


def test_plateau_needs_the_loss_and_resumes():
    opt = SGD(lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=0)
    with pytest.raises(ValueError, match="metric"):
        sched.step()
    for loss in (2.0, 2.0, 1.0):
        sched.step(loss)
    other = ReduceLROnPlateau(SGD(lr=1.0), factor=0.5, patience=0)
    other.load_state_dict(sched.state_dict())
    assert other.optimizer.lr == 0.5 and other.step(1.0) == sched.step(1.0) == 0.25
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(opt, factor=1.0)


def test_adam_matches_kingma_ba_algorithm_1():
    params, grads = problem()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    expected = copy.deepcopy(params)
    m = {k: np.zeros(s) for k, s in SHAPES.items()}
    v = {k: np.zeros(s) for k, s in SHAPES.items()}
    for t, g in enumerate(grads, start=1):
        for k in SHAPES:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            expected[k] = expected[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    ours = run(Adam(lr=lr, betas=(b1, b2), eps=eps), params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], expected[k], rtol=1e-12)


def numpy_adam(param, grads, lr, wd, amsgrad, decoupled, betas=(0.9, 0.999), eps=1e-8):
    """torch.optim.Adam(W)'s operations, one NumPy operation each, in the param's dtype."""
    param, m, v, v_max = param.copy(), *(np.zeros_like(param) for _ in range(3))
    for step, grad in enumerate(grads, start=1):
        if decoupled:
            param *= 1 - lr * wd
        elif wd:
            grad = grad + wd * param
        m += (1 - betas[0]) * (grad - m)
        v *= betas[1]
        v += (1 - betas[1]) * grad * grad
        np.maximum(v_max, v, out=v_max)
        denom = np.sqrt(v_max if amsgrad else v) / math.sqrt(1 - betas[1] ** step) + eps
        param -= (lr / (1 - betas[0] ** step)) * m / denom
    return param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "scalar"])
@pytest.mark.parametrize(("cls", "kwargs"), [c for c in CONFIGS if issubclass(c[0], Adam)],
                         ids=[i for c, i in zip(CONFIGS, IDS, strict=True)
                              if issubclass(c[0], Adam)])
def test_adam_equals_numpy_operations_bitwise(cls, kwargs, layout, dtype):
    """The compiled step does NumPy's arithmetic exactly, on parameters in any memory
    layout (the layers' weights are F-ordered; a strided view is updated in place), with
    gradients in another layout."""
    rng = np.random.default_rng(7)
    shape = () if layout == "scalar" else (5, 3)
    start = np.array(rng.normal(size=shape), dtype)
    grads = [np.array(rng.normal(size=shape), dtype, order="F") for _ in range(STEPS)]
    if layout == "F":
        param = np.asfortranarray(start)
    elif layout == "strided":
        holder = np.full(shape[:1] + (2 * shape[1],), np.nan, dtype)
        param = holder[:, ::2]
        param[...] = start
    else:
        param = start.copy()
    opt = cls(**kwargs)
    for g in grads:
        opt.step({"w": param}, {"w": g})
    lr, wd = opt.lr, opt.weight_decay
    want = numpy_adam(start, grads, lr, wd, opt.hyper["amsgrad"], cls.decoupled,
                      tuple(opt.hyper["betas"]), opt.hyper["eps"])
    np.testing.assert_array_equal(param, want)
    if layout == "strided":  # the entries between the view's are untouched
        assert np.isnan(holder[:, 1::2]).all()


def test_adam_state_survives_a_layout_change():
    """A state restored from state_dict (C-ordered copies) serves an F-ordered parameter."""
    params, grads = problem()
    params = {k: np.asfortranarray(v) for k, v in params.items()}
    straight = run(Adam(lr=0.01, amsgrad=True), params, grads)
    first = Adam(lr=0.01, amsgrad=True)
    halfway = run(first, params, grads[:3])
    resumed = Adam()
    resumed.load_state_dict({"config": first.get_config(), "state": {
        k: {n: (np.ascontiguousarray(a) if n != "step" else a) for n, a in e.items()}
        for k, e in first.state_dict()["state"].items()}})
    final = run(resumed, {k: np.asfortranarray(v) for k, v in halfway.items()}, grads[3:])
    for k in SHAPES:
        np.testing.assert_array_equal(final[k], straight[k])


def test_sgd_nesterov_matches_sutskever_form():
    params, grads = problem()
    lr, mu = 0.1, 0.9
    expected, buf = copy.deepcopy(params), {k: np.zeros(s) for k, s in SHAPES.items()}
    for g in grads:
        for k in SHAPES:
            buf[k] = mu * buf[k] + g[k]
            expected[k] = expected[k] - lr * (g[k] + mu * buf[k])
    ours = run(SGD(lr=lr, momentum=mu, nesterov=True), params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], expected[k], rtol=1e-12)


def test_rmsprop_matches_published_rule():
    params, grads = problem()
    lr, alpha, eps = 0.01, 0.9, 1e-8
    expected, sq = copy.deepcopy(params), {k: np.zeros(s) for k, s in SHAPES.items()}
    for g in grads:
        for k in SHAPES:
            sq[k] = alpha * sq[k] + (1 - alpha) * g[k] ** 2
            expected[k] = expected[k] - lr * g[k] / (np.sqrt(sq[k]) + eps)
    ours = run(RMSprop(lr=lr, alpha=alpha, eps=eps), params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(ours[k], expected[k], rtol=1e-12)


@pytest.mark.parametrize(("cls", "kwargs"), CONFIGS, ids=IDS)
def test_state_dict_resumes_exactly(cls, kwargs):
    params, grads = problem()
    straight = run(cls(**kwargs), params, grads)
    first = cls(**kwargs)
    halfway = run(first, params, grads[:3])
    saved = first.state_dict()
    resumed = cls()
    resumed.load_state_dict(copy.deepcopy(saved))
    assert resumed.get_config() == first.get_config()
    final = run(resumed, halfway, grads[3:])
    for k in SHAPES:
        np.testing.assert_array_equal(final[k], straight[k])


def test_load_state_dict_rejects_foreign_state():
    adam = Adam()
    run(adam, *problem())
    with pytest.raises(ValueError, match="SGD expects"):
        SGD().load_state_dict(adam.state_dict())


WITH_STATE = [(c, i) for c, i in zip(CONFIGS, IDS, strict=True)
              if c[0] is not SGD or c[1].get("momentum")]  # plain SGD keeps no arrays


@pytest.mark.parametrize(("cls", "kwargs"), [c for c, _ in WITH_STATE],
                         ids=[i for _, i in WITH_STATE])
def test_state_of_other_shapes_is_refused_before_any_update(cls, kwargs):
    """State made for parameters of other shapes (a loaded state_dict, or the same optimizer
    on a model whose layer grew) is refused with a ValueError naming it, and no parameter
    changes; the compiled Adam step would otherwise read and write past its moments."""
    params, grads = problem()
    opt = cls(**kwargs)
    run(opt, params, grads[:2])
    saved = opt.state_dict()
    for key in saved["state"]["weight"]:
        if key != "step":
            saved["state"]["weight"][key] = saved["state"]["weight"][key][:1]
    resumed = cls()
    resumed.load_state_dict(saved)
    before = copy.deepcopy(params)
    with pytest.raises(ValueError, match=r"for 'weight' has shape \(1, 4\), but "
                                         r"params\['weight'\] has shape \(3, 4\)"):
        resumed.step(params, grads[2])
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], before[k])
    grown = {"weight": np.zeros((5, 4)), "bias": np.zeros(3)}
    with pytest.raises(ValueError, match=r"params\['weight'\] has shape \(5, 4\)"):
        opt.step(grown, {k: np.ones_like(v) for k, v in grown.items()})


@pytest.mark.parametrize(("state_dict", "error", "match"), [
    (None, ValueError, "state_dict must be a dict with the keys 'config' and 'state'"),
    ({"state": {}}, ValueError, r"with the keys 'config' and 'state' .*got \['state'\]"),
    ({"config": "CONFIG", "state": []}, TypeError, "must be dicts, got dict and list"),
    ({"config": "CONFIG", "state": {"w": None}}, ValueError,
     "optimizer state for 'w' has keys None"),
    ({"config": "CONFIG", "state": {"w": {"step": -1}}}, ValueError,
     "the optimizer state's step of 'w' must be >= 0, got -1"),
    ({"config": "CONFIG", "state": {"w": {"step": "abc"}}}, TypeError,
     "step of 'w' must be an integer, got str"),
    ({"config": "CONFIG", "state": {"w": {"step": 1, "exp_avg": "x"}}}, TypeError,
     "the optimizer state's 'exp_avg' of 'w' must hold real numbers"),
])
def test_load_state_dict_refuses_malformed_state_and_keeps_its_own(state_dict, error, match):
    adam = Adam(lr=0.01)
    run(adam, *problem())
    before = adam.state_dict()
    if isinstance(state_dict, dict) and state_dict.get("config") == "CONFIG":
        state_dict = {**state_dict, "config": adam.get_config()}
    with pytest.raises(error, match=match):
        adam.load_state_dict(state_dict)
    after = adam.state_dict()
    assert after["config"] == before["config"] and after["state"].keys() == before["state"].keys()
    for name, entry in before["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][name][key], value)


def test_step_refuses_params_or_grads_that_are_not_dicts():
    with pytest.raises(TypeError, match="params and grads must be dicts of arrays, got dict "
                                        "and list"):
        Adam().step({"w": np.ones(2)}, [np.ones(2)])


def test_schedule_state_dict_resumes():
    opt = SGD(lr=1.0)
    sched = CosineAnnealingLR(opt, t_max=10)
    for _ in range(4):
        sched.step()
    other = CosineAnnealingLR(SGD(lr=1.0), t_max=10)
    other.load_state_dict(sched.state_dict())
    assert other.step() == sched.step()


def test_clip_grad_norm_returns_norm_and_scales():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.sqrt(sum(np.sum(g**2) for g in grads.values())) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, np.inf])
def test_clip_grad_norm_of_float32_gradients_that_overflow_float32(norm_type):
    """Exploding float32 gradients (entries 1e20: their sum of squares overflows float32)
    are scaled to max_norm, not zeroed, and the true norm is returned."""
    g = {"a": np.full(4, 1e20, np.float32), "b": np.ones(3, np.float32)}
    want = float(np.linalg.norm([np.linalg.norm(v.astype(np.float64), ord=norm_type)
                                 for v in g.values()], ord=norm_type))
    total = clip_grad_norm(g, 1.0, norm_type)
    np.testing.assert_allclose(total, want, rtol=1e-6)
    np.testing.assert_allclose(g["a"], 1e20 / want, rtol=1e-5)
    assert g["a"].dtype == np.float32


def test_clip_grad_norm_can_refuse_nonfinite_gradients():
    g = {"a": np.array([1.0, np.nan]), "b": np.array([np.inf]), "c": np.ones(2)}
    with pytest.raises(ValueError, match=r"norm is nan: \['a', 'b'\] hold NaN or infinity"):
        clip_grad_norm(g, 1.0, error_if_nonfinite=True)
    assert g["c"].tolist() == [1.0, 1.0]


def test_clip_grad_value():
    grads = {"a": np.array([-2.0, 0.1, 3.0])}
    clip_grad_value(grads, 0.5)
    np.testing.assert_array_equal(grads["a"], [-0.5, 0.1, 0.5])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: SGD(lr=-1), ValueError, r"lr must be a finite number in \[0.0, inf\], got -1"),
        (lambda: SGD(lr="0.1"), TypeError, "lr must be a real number, got str"),
        (lambda: SGD(nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
        (lambda: Adam(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be"),
        (lambda: Adam(betas=0.9), ValueError, "betas must be a pair"),
        (lambda: SGD().step({"w": np.zeros(2)}, {"v": np.zeros(2)}), ValueError,
         r"missing \['w'\], unexpected \['v'\]"),
        (lambda: SGD().step({"w": np.zeros(2)}, {"w": np.zeros(3)}), ValueError,
         r"grads\['w'\] must have shape \(2,\), got \(3,\)"),
        (lambda: SGD().step({"w": [0.0]}, {"w": [0.0]}), ValueError,
         r"params\['w'\] must be a float32/float64 ndarray, got list"),
        (lambda: Adam().step({"w": np.broadcast_to(np.zeros(1), (2,))}, {"w": np.zeros(2)}),
         ValueError, r"params\['w'\] must be writeable"),
        (lambda: clip_grad_norm({"w": np.zeros(2)}, 0), ValueError, "max_norm"),
        (lambda: clip_grad_value({"w": [1.0]}, 1.0), ValueError, r"grads\['w'\] must be"),
        (lambda: StepLR("opt", 1), TypeError, "optimizer must be a numrnn Optimizer, got str"),
        (lambda: StepLR(SGD(), 0), ValueError, "step_size must be >= 1, got 0"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
