"""gradient_flow against PyTorch autograd (retain_grad on every step's state); the plot."""

import numpy as np
import pytest
from apps_backends import FASTEST, HOST_BACKENDS
from parity import import_torch

import numrnn
from numrnn.diagnostics import gradient_flow, plot_gradient_flow
from numrnn.estimators import SequenceClassifier, SequenceRegressor
from numrnn.heads import Dense
from numrnn.model import Dropout, Sequential


def torch_states(layers, X):
    """Run the recurrent layers step by step in PyTorch, keeping every step's state.

    Returns the last layer's outputs (B, T, F) and, per internal layer, the list of
    per-direction lists of per-step state tensors (with retain_grad).
    """
    torch = import_torch()
    h = torch.tensor(X, dtype=torch.float64)
    states = []
    for layer in layers:
        sd = layer.state_dict()
        module_class = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU,
                        "RNN": torch.nn.RNN}[type(layer).__name__]
        extra = {"nonlinearity": layer.nonlinearity} if type(layer) is numrnn.RNN else {}
        if type(layer) is numrnn.LSTM and layer.proj_size:
            extra["proj_size"] = layer.proj_size
        for k in range(layer.num_layers):
            outputs, per_direction = [], []
            for d in range(2 if layer.bidirectional else 1):
                suffix = f"_l{k}" + ("_reverse" if d else "")
                module = module_class(h.shape[2], layer.hidden_size, batch_first=True,
                                      **extra).double()
                module.load_state_dict({name.replace(suffix, "_l0"): torch.tensor(v)
                                        for name, v in sd.items() if name.endswith(suffix)})
                steps = range(h.shape[1] - 1, -1, -1) if d else range(h.shape[1])
                hs, state = [None] * h.shape[1], None
                for t in steps:
                    out, new_state = module(h[:, t:t + 1], state)
                    hs[t] = out[:, 0]
                    hs[t].retain_grad()
                    # The next step must start from the very tensor whose gradient we read.
                    state = ((hs[t][None], new_state[1]) if isinstance(new_state, tuple)
                             else hs[t][None])
                outputs.append(torch.stack(hs, dim=1))
                per_direction.append(hs)
            states.append(per_direction)
            h = torch.cat(outputs, dim=2)
    return h, states


def norms_of(states):
    return np.array([[np.sqrt(sum(float((hs[t].grad ** 2).sum()) for hs in per_direction))
                      for t in range(len(per_direction[0]))] for per_direction in states])


@pytest.mark.parametrize("backend", HOST_BACKENDS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_estimator_matches_torch(backend, cell, bidirectional):
    torch = import_torch()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 7, 3)), rng.standard_normal(5)
    reg = SequenceRegressor(cell=cell, hidden_size=4, num_layers=2,
                            bidirectional=bidirectional, readout="last", standardize=False,
                            epochs=1, backend=backend, seed=0).fit(X, y)
    norms = gradient_flow(reg, X, y)
    assert norms.shape == (2, 7)
    h, states = torch_states([reg.model_.layers[0]], X)
    head = reg.model_.head.state_dict()
    if bidirectional:  # each direction's output after the whole sequence
        h = torch.cat([h[:, -1:, :4], h[:, :1, 4:]], dim=2)
    prediction = h[:, -1] @ torch.tensor(head["weight"]).T.double() + torch.tensor(head["bias"])
    target = torch.tensor((y[:, None] - reg.y_mean_) / reg.y_scale_)
    ((prediction - target) ** 2).mean().backward()
    np.testing.assert_allclose(norms, norms_of(states), rtol=1e-4)


def test_sequential_per_step_head_matches_torch():
    torch = import_torch()
    # Two recurrent layers (one with projections) with dropout between them, a time-major
    # per-step softmax head: every layout the function has to get right.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 6, 2))
    y = rng.integers(0, 3, (3, 6))
    layers = [numrnn.LSTM(2, 5, proj_size=3, batch_first=True, backend=FASTEST, seed=0),
              Dropout(0.5, seed=0),
              numrnn.GRU(3, 4, backend=FASTEST, seed=1),
              Dense(4, 3, activation="softmax", seed=2)]
    model = Sequential(layers, loss="cross_entropy")
    norms = gradient_flow(model, X, y)
    h, states = torch_states([layers[0], layers[2]], X)
    head = layers[3].state_dict()
    logits = h @ torch.tensor(head["weight"]).T.double() + torch.tensor(head["bias"])
    torch.nn.functional.cross_entropy(logits.reshape(-1, 3),
                                      torch.tensor(y).reshape(-1)).backward()
    np.testing.assert_allclose(norms, norms_of(states), rtol=1e-4)


def test_vanishing_gradient_is_visible():
    # A tanh RNN with small weights forgets: the gradient at step 0 is far below the last's.
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((8, 30, 1)), rng.integers(0, 2, 8)
    # A unidirectional last-step readout on unpatched steps: the set-up where it shows.
    clf = SequenceClassifier(cell="rnn", hidden_size=8, bidirectional=False, readout="last",
                             patch=1, epochs=1, backend=FASTEST, seed=0).fit(X, y)
    norms = gradient_flow(clf, X, y)[0]
    assert norms[0] < 1e-3 * norms[-1]


def test_bad_input():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((4, 5, 2)), rng.integers(0, 2, 4)
    with pytest.raises(TypeError, match="model"):
        gradient_flow(SequenceClassifier(), X, y)
    clf = SequenceClassifier(hidden_size=3, epochs=1, backend=FASTEST, seed=0).fit(X, y)
    with pytest.raises(ValueError, match="one length"):
        gradient_flow(clf, [X[0], X[1][:3]], y[:2])
    with pytest.raises(ValueError, match="labels not seen"):
        gradient_flow(clf, X, y + 5)
    with pytest.raises(ValueError, match="features"):
        gradient_flow(clf, X[:, :, :1], y)


def test_plot_gradient_flow():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flows = {"LSTM": np.ones((2, 10)), "RNN": np.exp(-np.arange(10.0))[None]}
    ax = plot_gradient_flow(flows, title="demo")
    assert ax.get_yscale() == "log" and ax.get_title() == "demo"
    assert [line.get_label() for line in ax.get_lines()] == ["LSTM layer 0", "LSTM layer 1",
                                                            "RNN"]
    _, own = plt.subplots()
    assert plot_gradient_flow(np.ones((1, 4)), ax=own) is own
    with pytest.raises(ValueError, match="2-D"):
        plot_gradient_flow(np.ones(4))
    plt.close("all")
