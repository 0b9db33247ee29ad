"""The ``"cpu"`` backend and the shared gate maths.

* The scalar gate functions of :mod:`numrnn.backends.gates` against NumPy
  transcriptions of the equations (float64 exact path ~1e-12; float32 fast
  path ~1e-6, extreme inputs included) and against finite differences.  They
  are also what the CUDA kernels call, so these are the main tests of the
  maths the GPU runs.
* ``forward``/``backward`` of every cell against the NumPy reference backend,
  with and without lengths, in both directions, with projection.
* Workspace reuse (poisoned buffers), bitwise determinism, untouched inputs,
  the stepper, warmup and the compile-cache fallback.
"""

import gc
import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import weakref

import numba
import numpy as np
import pytest

import numrnn
from numrnn.backends import CellSpec, Masks, cpu, gates
from numrnn.backends import reference as ref
from numrnn.backends.cpu import _blas, _jit, _panels, _threads

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
#: (kind, proj_size) of every cell variant.
VARIANTS = [(k, 0) for k in KINDS] + [("lstm", 2)]
TOL = {np.float64: 1e-10, np.float32: 1e-5}


# ---------------------------------------------------------------------------
# Gate maths, per unit
# ---------------------------------------------------------------------------


@numba.njit
def _activations(x, fast, t, s):
    for i in range(x.shape[0]):
        t[i] = gates.tanh(x[i], fast)
        s[i] = gates.sigmoid(x[i], fast)


def _np_sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


@pytest.mark.parametrize(
    ("dtype", "fast", "tol"),
    [(np.float64, False, 1e-15), (np.float32, False, 2e-7), (np.float32, True, 4e-7)],
)
def test_activations_against_numpy(dtype, fast, tol):
    x = np.concatenate([np.linspace(-100, 100, 200_001), [-1e30, 1e30, 0.0, -0.0]]).astype(dtype)
    t, s = np.empty_like(x), np.empty_like(x)
    _activations(x, fast, t, s)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(t, np.tanh(x64), rtol=0, atol=tol)
    np.testing.assert_allclose(s, _np_sigmoid(x64), rtol=0, atol=tol)
    # Saturation is exact, and tanh is exactly odd.
    assert t[-4] == -1 and t[-3] == 1 and s[-4] == 0 and s[-3] == 1
    assert t[-2] == 0 and s[-2] == 0.5
    t_neg = np.empty_like(x)
    _activations(-x, fast, t_neg, s)
    np.testing.assert_array_equal(t_neg, -t)


@pytest.mark.parametrize("fast", [False, True])
def test_activations_special_values(fast):
    x = np.array([np.nan, np.inf, -np.inf], np.float32)
    t, s = np.empty_like(x), np.empty_like(x)
    _activations(x, fast, t, s)
    assert np.isnan(t[0]) and np.isnan(s[0])
    np.testing.assert_array_equal(t[1:], [1, -1])
    np.testing.assert_array_equal(s[1:], [1, 0])


def test_float64_activations_within_2_ulp_of_libm(rng):
    """The float64 tanh and sigmoid are plain arithmetic (they vectorise): within 2 ulp of
    libm's everywhere (the sigmoid against an extended-precision one), signed zeros and
    subnormals kept, NaN and infinities as libm; the sigmoid is 0 below -85 (where the
    true value is under 1.2e-37) and 1 above 85."""
    tiny = np.logspace(-310, 0, 5001)
    x = np.concatenate([np.linspace(-25, 25, 200_001), tiny, -tiny, [0.625, -0.625, 20.0],
                        rng.standard_normal(100_000) * rng.uniform(0, 10, 100_000)])
    t, s = np.empty_like(x), np.empty_like(x)
    _activations(x, False, t, s)
    want = np.tanh(x)
    ulps = np.abs(t - want) / np.spacing(np.abs(want))
    assert ulps.max() <= 2, x[np.argmax(ulps)]
    x = np.concatenate([x, np.linspace(-85, 85, 100_001)])
    s = np.empty_like(x)
    _activations(x, False, np.empty_like(x), s)
    want = (1 / (1 + np.exp(-x.astype(np.longdouble)))).astype(np.float64)
    ulps = np.abs(s - want) / np.spacing(want)
    assert ulps.max() <= 2, x[np.argmax(ulps)]
    special = np.array([0.0, -0.0, 5e-324, -5e-324, np.inf, -np.inf, 86.0, -86.0, -700.0,
                        -1e300, 1e300, np.nan])
    t, s = np.empty_like(special), np.empty_like(special)
    _activations(special, False, t, s)
    np.testing.assert_array_equal(t[:6], np.tanh(special[:6]))
    assert np.signbit(t[1]) and np.signbit(t[3]) and not np.signbit(t[0])
    np.testing.assert_array_equal(s[:-1], [0.5, 0.5, 0.5, 0.5, 1, 0, 1, 0, 0, 0, 1])
    assert np.isnan(t[-1]) and np.isnan(s[-1])


def test_rnn_act_relu_keeps_nan_and_zeroes_negatives():
    a = np.array([np.nan, -3.0, -0.0, 0.0, 2.5])
    h = np.array([gates.rnn_act(v, 1, False) for v in a])
    assert np.isnan(h[0])
    np.testing.assert_array_equal(h[1:], [0, 0, 0, 2.5])
    dh = np.array([gates.rnn_act_backward(v, 7.0, 1) for v in h[1:]])
    np.testing.assert_array_equal(dh, [0, 0, 0, 7])


def _return_types(func, *args):
    func(*args)
    sig = [s for s in func.nopython_signatures if s.args == tuple(map(numba.typeof, args))][0]
    rt = sig.return_type
    return list(rt.types) if isinstance(rt, numba.types.BaseTuple) else [rt]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gate_functions_preserve_dtype(dtype):
    v = dtype(0.3)
    expected = numba.from_dtype(np.dtype(dtype))
    calls = [
        (gates.tanh, (v, True)),
        (gates.tanh, (v, False)),
        (gates.sigmoid, (v, True)),
        (gates.sigmoid, (v, False)),
        (gates.rnn_act, (v, 0, True)),
        (gates.rnn_act, (v, 1, False)),
        (gates.rnn_act_backward, (v, v, 0)),
        (gates.rnn_act_backward, (v, v, 1)),
        (gates.lstm_gates, (v,) * 5 + (True,)),
        (gates.lstm_gates, (v,) * 5 + (False,)),
        (gates.lstm_gates_backward, (v,) * 8),
        (gates.gru_gates, (v,) * 7 + (True,)),
        (gates.gru_gates, (v,) * 7 + (False,)),
        (gates.gru_gates_backward, (v,) * 6),
    ]
    for func, args in calls:
        assert _return_types(func, *args) == [expected] * len(_return_types(func, *args))


# NumPy transcriptions of the equations in DESIGN.md, vectorised over units.
def _np_lstm(ai, af, ag, ao, c_prev):
    i, f, g, o = _np_sigmoid(ai), _np_sigmoid(af), np.tanh(ag), _np_sigmoid(ao)
    c = f * c_prev + i * g
    return i, f, g, o, c, np.tanh(c)


def _np_gru(xr, xz, xn, hr, hz, hn, h_prev):
    r = _np_sigmoid(xr + hr)
    z = _np_sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return r, z, n, (1 - z) * n + z * h_prev


def _np_rnn(a, relu):
    return np.maximum(a, 0) if relu else np.tanh(a)


def _unit_loss_grad(f, args, weights, eps=1e-6):
    """Central differences of sum(weights * f(args)) in each argument."""
    grads = []
    for k in range(len(args)):
        up = [a.copy() for a in args]
        down = [a.copy() for a in args]
        up[k] += eps
        down[k] -= eps
        plus = sum(w * o for w, o in zip(weights, f(*up), strict=True))
        minus = sum(w * o for w, o in zip(weights, f(*down), strict=True))
        grads.append((plus - minus) / (2 * eps))
    return grads


def _apply(func, args, extra=()):
    """Call a scalar gate function on every unit; stack each returned value."""
    rows = [func(*(a[u] for a in args), *extra) for u in range(args[0].shape[0])]
    rows = [r if isinstance(r, tuple) else (r,) for r in rows]
    return [np.array(col, dtype=args[0].dtype) for col in zip(*rows, strict=True)]


# (dtype, fast, atol): the exact path in float64, the fast one in float32.
PRECISIONS = [(np.float64, False, 1e-12), (np.float32, True, 2e-6)]


@numba.njit(cache=False)
def _through_blocks(a, G, H):
    view = _jit.blocks(a, (a.shape[0], G, H))
    total = 0.0
    for i in range(view.shape[0]):
        for g in range(G):
            for j in range(H):
                total += view[i, g, j] * (g + 1)
    view[a.shape[0] - 1, G - 1, H - 1] = -1.0
    return total, view


@pytest.mark.parametrize("G, H", [(1, 1), (3, 5), (4, 2)])
def test_blocks_views_the_array_with_the_new_shape(rng, G, H):
    a = rng.standard_normal((3, G * H))
    expected = (a.reshape(3, G, H) * np.arange(1, G + 1)[:, None]).sum()
    total, view = _through_blocks(a, G, H)
    np.testing.assert_allclose(total, expected, rtol=1e-12)
    assert view.shape == (3, G, H) and view.strides == a.reshape(3, G, H).strides
    assert a[-1, -1] == -1.0  # a view: the write reached the array itself
    with pytest.raises(numba.TypingError, match="C-contiguous"):
        _through_blocks(rng.standard_normal((3, 2 * G * H))[:, ::2], G, H)


@pytest.mark.parametrize(("dtype", "fast", "atol"), PRECISIONS)
def test_lstm_gates_against_numpy(rng, dtype, fast, atol):
    args = [rng.normal(0, 3, 64).astype(dtype) for _ in range(5)]
    got = _apply(gates.lstm_gates, args, (fast,))
    want = _np_lstm(*[a.astype(np.float64) for a in args])
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=0, atol=atol)


@pytest.mark.parametrize(("dtype", "fast", "atol"), PRECISIONS)
def test_gru_gates_against_numpy(rng, dtype, fast, atol):
    args = [rng.normal(0, 3, 64).astype(dtype) for _ in range(7)]
    got = _apply(gates.gru_gates, args, (fast,))
    want = _np_gru(*[a.astype(np.float64) for a in args])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=atol * 10)


@pytest.mark.parametrize(("dtype", "fast", "atol"), PRECISIONS)
@pytest.mark.parametrize("relu", [0, 1])
def test_rnn_act_against_numpy(rng, dtype, fast, atol, relu):
    a = rng.normal(0, 3, 64).astype(dtype)
    (got,) = _apply(gates.rnn_act, [a], (relu, fast))
    np.testing.assert_allclose(got, _np_rnn(a.astype(np.float64), relu), rtol=0, atol=atol)


def test_lstm_gates_backward_against_finite_differences(rng):
    args = [rng.normal(0, 1.5, 32) for _ in range(5)]
    w_h, w_c = rng.standard_normal(32), rng.standard_normal(32)

    def outputs(ai, af, ag, ao, c_prev):
        i, f, g, o, c, tanh_c = _np_lstm(ai, af, ag, ao, c_prev)
        return o * tanh_c, c

    want = _unit_loss_grad(outputs, args, (w_h, w_c))
    i, f, g, o, c, tanh_c = _np_lstm(*args)
    got = _apply(gates.lstm_gates_backward, [i, f, g, o, args[4], tanh_c, w_h, w_c])
    for g_, w_ in zip(got, want, strict=True):
        np.testing.assert_allclose(g_, w_, rtol=1e-7, atol=1e-8)


def test_gru_gates_backward_against_finite_differences(rng):
    args = [rng.normal(0, 1.5, 32) for _ in range(7)]
    w_h = rng.standard_normal(32)
    want = _unit_loss_grad(lambda *a: (_np_gru(*a)[3],), args, (w_h,))
    r, z, n, _ = _np_gru(*args)
    hn, h_prev = args[5], args[6]
    dar, daz, dxn, dhn, dh_direct = _apply(gates.gru_gates_backward, [r, z, n, hn, h_prev, w_h])
    # want: d/dxr, d/dxz, d/dxn, d/dhr, d/dhz, d/dhn, d/dh_prev
    for g_, w_ in zip([dar, daz, dxn, dar, daz, dhn, dh_direct], want, strict=True):
        np.testing.assert_allclose(g_, w_, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("relu", [0, 1])
def test_rnn_act_backward_against_finite_differences(rng, relu):
    a = rng.normal(0, 1.5, 32)
    a = a[np.abs(a) > 1e-3]  # away from the ReLU kink
    w = rng.standard_normal(a.shape[0])
    (want,) = _unit_loss_grad(lambda x: (_np_rnn(x, relu),), [a], (w,))
    h = _np_rnn(a, relu)
    (got,) = _apply(gates.rnn_act_backward, [h, w], (relu,))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8)


# ---------------------------------------------------------------------------
# forward / backward against the reference
# ---------------------------------------------------------------------------


def make_case(rng, kind, P, T, B, I, H, dtype, with_lengths):
    """Random parameters, inputs, states and output gradients of one call."""
    G, H_out = CellSpec(kind, H, P).cell.n_gates, P or H
    shapes = {
        "weight_ih": (G * H, I),
        "weight_hh": (G * H, H_out),
        "bias_ih": (G * H,),
        "bias_hh": (G * H,),
    }
    if P:
        shapes["weight_hr"] = (P, H)
    params = {k: rng.uniform(-0.6, 0.6, s).astype(dtype) for k, s in shapes.items()}
    lstm = kind == "lstm"
    case = {
        "cell": CellSpec(kind, H, P),
        "params": params,
        "x": rng.standard_normal((T, B, I)).astype(dtype),
        "h0": rng.standard_normal((B, H_out)).astype(dtype),
        "c0": rng.standard_normal((B, H)).astype(dtype) if lstm else None,
        "lengths": rng.integers(1, T + 1, B).astype(np.int64) if with_lengths else None,
        "grad_output": rng.standard_normal((T, B, H_out)).astype(dtype),
        "grad_h_n": rng.standard_normal((B, H_out)).astype(dtype),
        "grad_c_n": rng.standard_normal((B, H)).astype(dtype) if lstm else None,
    }
    if with_lengths:
        case["lengths"][rng.integers(B)] = T
    return case


def run(backend, case, reverse):
    """forward then backward; every result as a flat dict of arrays."""
    out, h_n, c_n, tape = backend.forward(
        case["cell"], case["params"], case["x"], case["h0"], case["c0"], case["lengths"],
        reverse, True,
    )  # fmt: skip
    gx, gh0, gc0, grads = backend.backward(
        case["cell"], case["params"], tape, case["grad_output"], case["grad_h_n"],
        case["grad_c_n"],
    )  # fmt: skip
    result = {"output": out, "h_n": h_n, "c_n": c_n, "grad_x": gx, "grad_h0": gh0}
    result["grad_c0"] = gc0
    result.update({"grad_" + k: v for k, v in grads.items()})
    return {k: v for k, v in result.items() if v is not None}


def run_cpu(case, reverse):
    """:func:`run` on the cpu backend (a picklable callable)."""
    return run(cpu, case, reverse)


def _relative_error(got, want):
    """Largest error relative to the largest |value| of ``want``."""
    return np.abs(got.astype(np.float64) - want).max() / (np.abs(want).max() + 1e-30)


def assert_close(got, want, rtol, what):
    assert got.keys() == want.keys(), what
    for name in want:
        g, w = got[name], want[name]
        assert g.shape == w.shape, (what, name)
        err = _relative_error(g, w)
        assert err <= rtol, f"{what} {name}: max error {err:.3g} relative to max |value|"


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference(rng, kind, P, with_lengths, reverse, dtype):
    case = make_case(rng, kind, P, 9, 6, 5, 7, dtype, with_lengths)
    got = run(cpu, case, reverse)
    for value in got.values():
        assert value.dtype == dtype and value.flags.c_contiguous
    case64 = {k: v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == dtype else v
              for k, v in case.items()}  # fmt: skip
    case64["params"] = {k: v.astype(np.float64) for k, v in case["params"].items()}
    want = run(ref, case64, reverse)
    assert_close(got, want, TOL[dtype], f"{kind} P={P} lengths={with_lengths} reverse={reverse}")
    if with_lengths:
        for b, L in enumerate(case["lengths"]):
            assert np.all(got["output"][L:, b] == 0) and np.all(got["grad_x"][L:, b] == 0)


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_batch_split_between_threads(rng, monkeypatch, kind, P, with_lengths, reverse):
    """Shares of the batch run in separate threads: same results as one thread."""
    case = make_case(rng, kind, P, 6, 7, 3, 5, np.float64, with_lengths)
    whole = run(cpu, case, reverse)
    monkeypatch.setattr(cpu, "MIN_SPLIT_FLOPS", 0)
    monkeypatch.setattr(cpu, "max_threads", lambda: 3)
    split = run(cpu, case, reverse)
    assert_close(split, whole, 1e-13, f"{kind} split")
    assert_close(split, run(ref, case, reverse), 1e-10, f"{kind} split vs reference")
    for name, value in run(cpu, case, reverse).items():
        np.testing.assert_array_equal(value, split[name], err_msg=name)


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
def test_joint_weight_gradient_product(rng, monkeypatch, kind, P, with_lengths, dropout):
    """dW_ih and dW_hh as one product dGᵀ [X, H_prev] (the rows of each thread past
    JOINT_MIN_ROWS) equal the two separate products, and the reference; with recurrent
    dropout the product reads the masked H_prev.  Poisoned padding stays out."""
    T, B, I, H = 7, 9, 3, 5
    case = make_case(rng, kind, P, T, B, I, H, np.float64, with_lengths)
    if with_lengths:
        for b, L in enumerate(case["lengths"]):
            case["x"][L:, b] = np.nan
    masks = None
    if dropout:
        keep = rng.random((B, P or H)) < 0.7
        masks = Masks(np.where(keep, 1 / 0.7, 0.0), None, None)

    def call(backend):
        out, h_n, c_n, tape = backend.forward(
            case["cell"], case["params"], case["x"], case["h0"], case["c0"], case["lengths"],
            False, True, masks,
        )  # fmt: skip
        gx, gh0, gc0, grads = backend.backward(
            case["cell"], case["params"], tape, case["grad_output"], case["grad_h_n"],
            case["grad_c_n"],
        )  # fmt: skip
        return {"output": out, "grad_x": gx, "grad_h0": gh0,
                **{"grad_" + k: v for k, v in grads.items()}}

    want = call(ref)
    results = []
    for joint_rows, threads in [(10**9, 1), (1, 1), (1, 2), (T * B // 2, 2)]:
        monkeypatch.setattr(cpu, "JOINT_MIN_ROWS", joint_rows)
        monkeypatch.setattr(cpu, "MIN_SPLIT_FLOPS", 0 if threads > 1 else np.inf)
        monkeypatch.setattr(cpu, "max_threads", lambda threads=threads: threads)
        _poison_workspaces()
        got = call(cpu)
        for name, value in got.items():
            assert value.flags.c_contiguous and np.all(np.isfinite(value)), name
        assert_close(got, want, 1e-10, f"{kind} P={P} rows={joint_rows} threads={threads}")
        results.append(got)
    for other in results[1:]:
        assert_close(other, results[0], 1e-13, f"{kind} joint against separate")


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_packed_panel_products_match_reference(rng, monkeypatch, kind, P, with_lengths, dtype):
    """The per-step products on packed weights (forced at every size) match the reference.

    Odd sizes: row blocks and panels cut short (B not a multiple of MR, G*H or
    P not of NR), a batch split between threads, poisoned workspaces.
    """
    packed = []  # the names of the products that ran on panels
    inner = []  # the forward products' inner sizes (I + P: the input's part fused in)
    real = cpu._packed

    def recording(w, rows, name):
        panels = real(w, rows, name)
        packed.extend([name] * bool(panels.size))
        if name == "panels_f":
            inner.append(w.shape[0])
        return panels

    monkeypatch.setattr(cpu, "_packed", recording)
    monkeypatch.setattr(cpu, "PANEL_MIN_ROWS", 1)
    monkeypatch.setattr(cpu, "PANEL_MIN_K", 1)
    monkeypatch.setattr(cpu, "FUSE_MIN_BYTES", 0)
    # (float32 at H = 1: the fast activations' error, amplified, is over its tolerance
    # with BLAS too)
    shapes = [(5, 1, 2, 1, 1)] * (dtype == np.float64)
    shapes += [(4, 6, 3, 9, 1), (3, 11, 4, 37, 2), (40, 22, 3, 19, 2)]
    for T, B, I, H, threads in shapes:
        monkeypatch.setattr(cpu, "MIN_SPLIT_FLOPS", 0 if threads > 1 else np.inf)
        monkeypatch.setattr(cpu, "max_threads", lambda threads=threads: threads)
        for reverse in (False, True):
            case = make_case(rng, kind, min(P, H - 1), T, B, I, H, dtype, with_lengths)
            _poison_workspaces()
            got = run(cpu, case, reverse)
            case64 = {k: v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == dtype
                      else v for k, v in case.items()}  # fmt: skip
            case64["params"] = {k: v.astype(np.float64) for k, v in case["params"].items()}
            want = run(ref, case64, reverse)
            rtol = TOL[dtype]
            if dtype == np.float32:
                # With W_hh ~ U(-0.6, 0.6) the recurrence expands: over 40 steps the float32
                # rounding (and the fast tanh's 3e-7) grows past 1e-5 in 3% of the draws.
                # Allowed: 20 times the reference's own float32 error (at most 11.4 times in
                # 300 draws of the RNN's).
                own = run(ref, case, reverse)
                rtol = max(rtol, 20 * max(_relative_error(own[n], want[n]) for n in want))
            assert_close(got, want, rtol, f"{kind} P={P} {(T, B, I, H)} reverse={reverse}")
            # The cells whose gates sum both parts take x_t into each step's product.
            fused = kind != "gru"
            assert inner[-1] == (I if fused else 0) + (min(P, H - 1) or H)
    # Forward and backward of each call ran their recurrent products on panels; with
    # lengths, the GRU's input projection's products of the steps that some sequences no
    # longer run did too (the other cells project in the steps).
    assert packed.count("panels_f") == packed.count("panels_b") == 2 * len(shapes)
    assert ("panels_ih" in packed) == (with_lengths and kind == "gru")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_panel_product_in_blocks_of_k(rng, dtype):
    """The panel product with k in several blocks (K past 32 KB of a panel) equals the product
    in float64 to round-off: odd sizes cut the row blocks and panels short (edge tiles that
    go on from their sums so far), and the rows past nb are left as they were."""
    _panels.compile_kernels(dtype)
    block = 1024 // np.dtype(dtype).itemsize  # the most rows of k in one block
    shapes = [(1, block + 1, 7), (6, 2 * block + 3, 45), (13, 3 * block, 96), (4, block, 33)]
    for nb, K, N in shapes:
        a = rng.standard_normal((_panels.rows_padded(nb), K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        panels = np.full((-(-N // _panels.NR), K, _panels.NR), np.nan, dtype)
        _panels.pack(b, panels)
        out = np.full((nb + 2, N), np.nan, dtype)
        tail = np.full((_panels.MR, _panels.NR), np.nan, dtype)
        _panels.panel_product(a, nb, panels, out, tail)
        want = a[:nb].astype(np.float64) @ b.astype(np.float64)
        rtol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out[:nb], want, rtol=rtol, atol=rtol * np.sqrt(K))
        assert np.isnan(out[nb:]).all()


@pytest.mark.parametrize("layer_class", [numrnn.LSTM, numrnn.GRU])
def test_layer_on_panels_in_blocks_of_k_matches_reference(rng, monkeypatch, layer_class):
    """A float64 layer whose per-step products run k in several blocks (inner sizes past 128:
    I + H forward for the LSTM, H for the GRU, G·H backward) equals the reference layer, with
    lengths, outputs and every gradient (rtol 1e-10)."""
    monkeypatch.setattr(cpu, "FUSE_MIN_BYTES", 0)
    T, B, I, H = 4, 2 * cpu.PANEL_MIN_ROWS + 3, 7, 131
    layer = layer_class(I, H, dtype=np.float64, backend="cpu", seed=int(rng.integers(1 << 30)))
    reference = layer_class(I, H, dtype=np.float64, backend="numpy")
    reference.load_state_dict(layer.state_dict())
    x = rng.standard_normal((T, B, I))
    lengths = rng.integers(1, T + 1, B)
    got, want = layer(x, lengths=lengths)[0], reference(x, lengths=lengths)[0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    grad = rng.standard_normal(got.shape)
    np.testing.assert_allclose(layer.backward(grad)[0], reference.backward(grad)[0],
                               rtol=1e-10, atol=1e-12)
    for name, value in reference.grads.items():
        np.testing.assert_allclose(layer.grads[name], value, rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("layer_class", [numrnn.LSTM, numrnn.GRU])
def test_packed_path_reads_live_parameters(rng, monkeypatch, layer_class):
    """A layer on the packed path (shares of >= 8 rows, inner size >= 32) sees its parameters
    changed in place, replaced by load_state_dict, and after pickling, in train and eval
    mode: it equals the reference layer with the same parameters (float64).
    """
    packed = []
    pack = _panels.pack
    monkeypatch.setattr(_panels, "pack", lambda w, out: packed.append(w.shape) or pack(w, out))
    monkeypatch.setattr(cpu, "FUSE_MIN_BYTES", 0)  # the LSTM's steps take x_t in
    T, B, I, H = 3, 2 * cpu.PANEL_MIN_ROWS, 5, max(cpu.PANEL_MIN_K, 33)
    layer = layer_class(I, H, dtype=np.float64, backend="cpu", seed=int(rng.integers(1 << 30)))
    x = rng.standard_normal((T, B, I))

    def check(model):
        reference = layer_class(I, H, dtype=np.float64, backend="numpy")
        reference.load_state_dict(model.state_dict())
        for mode in ("train", "eval"):
            getattr(model, mode)()
            getattr(reference, mode)()
            got, want = model(x)[0], reference(x)[0]
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
            gx, gw = model.backward(np.ones_like(got))[0], model.grads["weight_hh_l0"]
            np.testing.assert_allclose(gx, reference.backward(np.ones_like(want))[0],
                                       rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(gw, reference.grads["weight_hh_l0"], rtol=1e-10,
                                       atol=1e-12)

    check(layer)
    layer.parameters()["weight_hh_l0"][...] *= -0.5  # in place
    layer.parameters()["weight_ih_l0"][...] *= 0.7
    check(layer)
    state = {k: rng.standard_normal(v.shape) * 0.3 for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    check(layer)
    check(pickle.loads(pickle.dumps(layer)))
    assert len(packed) == 4 * 2 * 2  # 4 checks x 2 modes, forward and backward on panels
    fused = layer_class is numrnn.LSTM  # its forward's panels hold [W_ih; W_hh]ᵀ
    assert packed[0] == ((I if fused else 0) + H, 4 * H if fused else 3 * H)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_batch_split_works_in_a_forked_child(rng, monkeypatch):
    monkeypatch.setattr(cpu, "MIN_SPLIT_FLOPS", 0)
    monkeypatch.setattr(cpu, "max_threads", lambda: 2)
    case = make_case(rng, "gru", 0, 4, 4, 3, 5, np.float64, False)
    want = run(cpu, case, False)  # starts the thread pool in this process
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(run_cpu, (case, False)).get(timeout=120)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 3, 2, 1), (4, 1, 1, 2), (2, 2, 3, 3)])
def test_tiny_shapes(rng, kind, P, shape):
    T, B, I, H = shape
    P = min(P, H - 1)
    for reverse in (False, True):
        case = make_case(rng, kind, P, T, B, I, H, np.float64, B > 1)
        assert_close(run(cpu, case, reverse), run(ref, case, reverse), 1e-10, f"{kind} {shape}")


def test_lengths_all_shorter_than_T(rng):
    """No sequence runs the full T steps: the loop stops early, padding is zero."""
    case = make_case(rng, "gru", 0, 6, 3, 2, 4, np.float64, False)
    case["lengths"] = np.array([2, 4, 1])
    for reverse in (False, True):
        assert_close(run(cpu, case, reverse), run(ref, case, reverse), 1e-10, "short")


# ---------------------------------------------------------------------------
# Workspaces, determinism, inputs
# ---------------------------------------------------------------------------


def _poison_workspaces():
    for buf in _threads.workspaces.buffers.values():
        buf.fill(np.nan)


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_poisoned_workspaces_and_padding_do_not_leak(rng, kind, P, dtype):
    case = make_case(rng, kind, P, 6, 4, 3, 5, dtype, True)
    reverse = bool(rng.integers(2))
    clean = run(cpu, case, reverse)
    _poison_workspaces()
    # Values at padded steps must be ignored too.
    for b, L in enumerate(case["lengths"]):
        case["x"][L:, b] = np.nan
        case["grad_output"][L:, b] = np.nan
    poisoned = run(cpu, case, reverse)
    for name in clean:
        np.testing.assert_array_equal(poisoned[name], clean[name], err_msg=name)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("reverse", [False, True])
def test_input_projection_skips_padded_steps(rng, monkeypatch, threads, reverse):
    """With lengths, the input projection multiplies the rows of running sequences only:
    the padded rows of its workspace keep their NaN poison, and nothing reads them (the
    results equal the reference's)."""
    monkeypatch.setattr(cpu, "MIN_SPLIT_FLOPS", 0 if threads > 1 else np.inf)
    monkeypatch.setattr(cpu, "max_threads", lambda: threads)
    T, B, I, H = 9, 7, 5, 6
    case = make_case(rng, "lstm", 0, T, B, I, H, np.float64, True)
    case["lengths"] = rng.permutation([9, 2, 5, 9, 1, 7, 4])
    xw = _threads.workspaces.get("xw", (T, B, 4 * H), np.dtype(np.float64))
    xw.fill(np.nan)
    args = (case["cell"], case["params"], case["x"], case["h0"], case["c0"], case["lengths"],
            reverse, False)
    got, want = cpu.forward(*args)[:3], ref.forward(*args)[:3]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    running = np.arange(T)[:, None] < case["lengths"][None, :]
    assert np.isnan(xw[~running]).all() and not np.isnan(xw[running]).any()


@pytest.mark.parametrize("training", [True, False])
def test_skipped_padding_follows_parameter_changes(rng, training):
    """The input projection of running sequences (on W_ih packed for the panels, B = 16,
    I = 40) reads the live weights: it equals the NumPy reference after an in-place update,
    after load_state_dict and after pickling, in training and evaluation mode."""
    T, B, I, H = 12, 16, 40, 24
    layer = numrnn.LSTM(I, H, backend="cpu", dtype=np.float64, seed=int(rng.integers(2**31)))
    layer.train(training)
    x = rng.standard_normal((T, B, I))
    lengths = rng.integers(1, T + 1, B)
    lengths[0] = T

    def check(layer):
        ref = numrnn.LSTM(I, H, backend="numpy", dtype=np.float64)
        ref.load_state_dict(layer.state_dict())
        for got, want in zip(layer(x, lengths=lengths), ref(x, lengths=lengths), strict=True):
            for g, w in zip(*(v if isinstance(v, tuple) else (v,) for v in (got, want)),
                            strict=True):
                np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)

    check(layer)
    layer.parameters()["weight_ih_l0"][:] *= -0.5
    check(layer)
    layer.load_state_dict(numrnn.LSTM(I, H, dtype=np.float64, seed=1).state_dict())
    check(layer)
    check(pickle.loads(pickle.dumps(layer)))


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
def test_bitwise_deterministic(rng, kind, P):
    case = make_case(rng, kind, P, 12, 5, 6, 8, np.float32, True)
    first = run(cpu, case, True)
    run(cpu, make_case(rng, kind, P, 3, 9, 2, 4, np.float32, False), False)  # other shapes between
    second = run(cpu, case, True)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
def test_inputs_untouched_and_backward_repeatable(rng, kind, P):
    case = make_case(rng, kind, P, 5, 3, 4, 6, np.float64, True)
    saved = {k: v.copy() for k, v in case.items() if isinstance(v, np.ndarray)}
    saved_params = {k: v.copy() for k, v in case["params"].items()}
    out, h_n, c_n, tape = cpu.forward(
        case["cell"], case["params"], case["x"], case["h0"], case["c0"], case["lengths"],
        False, True,
    )  # fmt: skip
    args = (case["grad_output"], case["grad_h_n"], case["grad_c_n"])
    first = cpu.backward(case["cell"], case["params"], tape, *args)
    second = cpu.backward(case["cell"], case["params"], tape, *args)
    np.testing.assert_array_equal(first[0], second[0])
    for name in first[3]:
        np.testing.assert_array_equal(first[3][name], second[3][name])
    for k, v in saved.items():
        np.testing.assert_array_equal(case[k], v, err_msg=k)
    for k, v in saved_params.items():
        np.testing.assert_array_equal(case["params"][k], v, err_msg=k)


def test_forward_without_tape_matches(rng):
    case = make_case(rng, "lstm", 2, 5, 3, 4, 6, np.float32, True)
    args = (case["cell"], case["params"], case["x"], case["h0"], case["c0"], case["lengths"])
    with_tape = cpu.forward(*args, True, True)
    without = cpu.forward(*args, True, False)
    assert without[3] is None
    for a, b in zip(with_tape[:3], without[:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_blas_thread_counts_restored():
    libs = _blas._blas_controllers()
    before = [lib.get_num_threads() for lib in libs]
    with _blas.blas_threads(_blas.OPENBLAS_SINGLE_THREAD_FLOPS):
        assert all(lib.get_num_threads() == 1 for lib in libs)
    assert [lib.get_num_threads() for lib in libs] == before


_OVERLAPPING_BLOCKS = """
import json, threading, time
from numrnn.backends.cpu import _blas
libs = _blas._blas_controllers()
before, inside = [lib.get_num_threads() for lib in libs], []

def work(pause):
    for _ in range(50):
        with _blas.single_threaded():
            time.sleep(pause)
            inside.append(max(lib.get_num_threads() for lib in libs))

threads = [threading.Thread(target=work, args=(p,)) for p in (1e-4, 1.7e-4, 2.3e-4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps([before, [lib.get_num_threads() for lib in libs], inside]))
"""


def test_blas_thread_counts_restored_after_overlapping_threads():
    """Single-threaded blocks of several threads that overlap (each entering while another
    is inside) run on one thread and leave the thread counts as they found them.

    In a fresh interpreter: OpenBLAS ignores the counts that other threads set once the
    main thread has set one, as earlier tests of this process do.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", _OVERLAPPING_BLOCKS], env=env, cwd=root,
                          capture_output=True, text=True, timeout=120, check=True)
    before, after, inside = json.loads(done.stdout)
    assert set(before) == {2}
    assert after == before
    assert inside == [1] * 150


# ---------------------------------------------------------------------------
# Stepper, warmup, cache fallback
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "P"), VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stepper_matches_reference(rng, kind, P, dtype):
    L, B, I, H = 3, 2, 4, 5
    layers = [make_case(rng, kind, P, 1, B, I if k == 0 else (P or H), H, dtype, False)
              for k in range(L)]  # fmt: skip
    stepper = cpu.make_stepper(layers[0]["cell"], [c["params"] for c in layers], dtype)
    x = layers[0]["x"][0]
    h0 = np.stack([c["h0"] for c in layers])
    c0 = np.stack([c["c0"] for c in layers]) if kind == "lstm" else None
    x_before, h0_before = x.copy(), h0.copy()
    step, start = stepper(x.shape)
    assert step(x, h0 if c0 is None else (h0, c0)) is None  # not the state it returned
    out, state = start(x, h0 if c0 is None else (h0, c0))
    h_n, c_n = (state, None) if c0 is None else state
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(h0, h0_before)
    layer_in = x[None]
    for k, case in enumerate(layers):
        o, h, c, _ = ref.forward(
            case["cell"], case["params"], layer_in, h0[k], None if c0 is None else c0[k], None,
            False, False,
        )  # fmt: skip
        np.testing.assert_allclose(h_n[k], h, rtol=TOL[dtype], atol=TOL[dtype])
        if c0 is not None:
            np.testing.assert_allclose(c_n[k], c, rtol=TOL[dtype], atol=TOL[dtype])
        layer_in = o
    np.testing.assert_array_equal(out, h_n[-1])
    assert out.dtype == dtype and (c_n is None) == (kind != "lstm")
    assert not np.shares_memory(out, h_n)
    # An input it was not made for is declined, untouched, for the caller to convert.
    for bad in (x.astype(np.float16), x[:1], x.tolist()):
        assert step(bad, state) is None
    # Strided and read-only inputs are read in place.
    strided = np.repeat(x, 2, axis=1)[:, ::2]
    strided.flags.writeable = False
    out_s, state_s = start(strided, h0 if c0 is None else (h0, c0))
    np.testing.assert_array_equal(out_s, out)
    # Streaming from the returned state: the same as starting from a copy of it.
    copied = tuple(s.copy() for s in state_s) if c0 is not None else state_s.copy()
    out_1, _ = step(x, state_s)
    out_2, _ = start(x, copied)
    np.testing.assert_array_equal(out_1, out_2)
    assert step(x, state_s) is None  # no longer the latest state


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stepper_keeps_what_it_reads_alive(rng, kind):
    """step and start hold the packed weights and the records they read: nothing else must."""
    case = make_case(rng, kind, 0, 3, 2, 3, 4, np.float64, False)
    step, start = cpu.make_stepper(case["cell"], [case["params"]], np.float64)((2, 3))
    x, h0, c0 = case["x"], case["h0"], case["c0"]
    want, _, _, _ = ref.forward(case["cell"], case["params"], x, h0, c0, None, False, False)
    state = (h0[None], c0[None]) if kind == "lstm" else h0[None]
    for t in range(3):
        gc.collect()
        junk = [np.full(4096, np.nan) for _ in range(64)]  # reuse any memory freed too early
        out, state = start(x[t], state) if t == 0 else step(x[t], state)
        del junk
        np.testing.assert_allclose(out, want[t], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reuse", [True, False])
def test_stepper_reuses_only_where_it_may(rng, monkeypatch, reuse):
    """Where reference counts are not trusted (CPython >= 3.14, no GIL), results are all new."""
    monkeypatch.setattr(cpu._stepper, "_REUSE", reuse)
    case = make_case(rng, "gru", 0, 4, 1, 3, 4, np.float64, False)
    step, start = cpu.make_stepper(case["cell"], [case["params"]], np.float64)((1, 3))
    want, _, _, _ = ref.forward(case["cell"], case["params"], case["x"], case["h0"], None, None,
                                False, False)  # fmt: skip
    earlier = []  # weak references: they do not count as holding the arrays
    out, state = start(case["x"][0], case["h0"][None])
    for t in range(1, 4):
        earlier.append(weakref.ref(out))
        out, state = step(case["x"][t], state)  # the previous out is dropped here
        np.testing.assert_allclose(out, want[t], rtol=1e-12, atol=1e-12)
    assert any(r() is out for r in earlier) == reuse


def test_stepper_arrays_it_may_reuse_cannot_be_resized(rng):
    """numpy must not move the memory of an array whose address a record keeps."""
    case = make_case(rng, "gru", 0, 1, 2, 3, 4, np.float64, False)
    step, start = cpu.make_stepper(case["cell"], [case["params"]], np.float64)((2, 3))
    out, state = start(case["x"][0], case["h0"][None])
    kept = [out, state]  # of a call that is not the latest: its record will be reused
    del out
    step(case["x"][0], state)
    del state
    with pytest.raises(ValueError, match="resize"):
        kept.pop().resize(1 << 16)  # the state
    with pytest.raises(ValueError, match="resize"):
        kept.pop().resize(1 << 16)  # the output


def test_stepper_checks_what_it_is_given(rng):
    case = make_case(rng, "lstm", 0, 1, 2, 3, 4, np.float32, False)
    # A dtype equal to float32 but not numpy's own object (as after unpickling): still fast.
    dtype = pickle.loads(pickle.dumps(np.dtype(np.float32)))
    stepper = cpu.make_stepper(case["cell"], [case["params"]], dtype)
    step, start = stepper((2, 3))
    x, h0, c0 = case["x"][0], case["h0"][None], case["c0"][None]
    _, state = start(x, (h0, c0))
    assert step(x, state) is not None
    with pytest.raises(ValueError, match=r"x_shape must be \(B, 3\) or \(3,\), got \(2, 4\)"):
        stepper((2, 4))
    with pytest.raises(ValueError, match="state must have shape"):
        start(x, (h0, c0[:, :1]))
    gru = make_case(rng, "gru", 0, 1, 2, 3, 4, np.float32, False)
    with pytest.raises(ValueError, match="proj_size is for LSTM only"):
        cpu.make_stepper(CellSpec("gru", 4, 2), [gru["params"]], np.float32)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_relu"])
def test_stepper_unbatched_equals_batch_of_one(rng, kind):
    case = make_case(rng, kind, 0, 1, 1, 3, 4, np.float64, False)
    stepper = cpu.make_stepper(case["cell"], [case["params"]], np.float64)
    x = case["x"][0]  # (1, I)
    states = [case["h0"][None]] + ([case["c0"][None]] if kind == "lstm" else [])  # (L, 1, n)
    pack, unpack = (tuple, list) if kind == "lstm" else (lambda s: s[0], lambda s: [s])
    out_b, state_b = stepper(x.shape)[1](x, pack(states))
    out_u, state_u = stepper(x[0].shape)[1](x[0], pack([s[:, 0] for s in states]))
    np.testing.assert_array_equal(out_u, out_b[0])
    for got, want in zip(unpack(state_u), unpack(state_b), strict=True):
        np.testing.assert_array_equal(got, want[:, 0])


def test_warmup_compiles_everything():
    cpu.warmup(dtypes=(np.float32,), kinds=("gru",))


def test_jit_falls_back_when_caching_is_impossible(monkeypatch):
    def no_locator(self):
        raise RuntimeError("cannot cache function: no locator available for file")

    monkeypatch.setattr(numba.core.dispatcher.Dispatcher, "enable_caching", no_locator)

    def double(x):
        return 2 * x

    compiled = _jit.jit(double)
    assert compiled(21) == 42
    assert compiled._cache.__class__.__name__ == "NullCache"


@pytest.mark.parametrize("edited", ["gates/lstm.py", "gates/_common.py", "cpu/_panels.py"])
def test_cache_names_change_with_the_code_specialisations_inline(monkeypatch, edited):
    """Numba's disk cache checks only the skeleton's file: a specialisation's name carries a
    digest of the files whose code it inlines or links, so editing one compiles anew."""
    from pathlib import Path

    before = _jit.sources_digest.__wrapped__()
    read_bytes = Path.read_bytes

    def edit(path):
        data = read_bytes(path)
        return data + b"\n# edited\n" if path.as_posix().endswith(edited) else data

    monkeypatch.setattr(Path, "read_bytes", edit)
    assert _jit.sources_digest.__wrapped__() != before
    name = _jit.specialise(lambda: None, "cell_", lambda f: f).__qualname__
    assert name.endswith(_jit.sources_digest())
