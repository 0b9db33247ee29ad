"""Saving and loading models; corrupted and foreign files; PyTorch state-dict converters."""

import io
import json
import struct
import sys
import zipfile

import numpy as np
import pytest
from parity import import_torch
from train_helpers import BACKENDS, running_sign_task

import numrnn
from numrnn.heads import Dense
from numrnn.io import from_torch, load, model_config, save, to_torch
from numrnn.model import Dropout, Sequential
from numrnn.optim import AdamW


def rich_model(backend="numpy"):
    """Every kind of layer and setting the format must carry."""
    return Sequential(
        [numrnn.LSTM(2, 6, num_layers=2, proj_size=3, dropout=0.2, backend=backend, seed=0),
         Dropout(0.3, seed=1),
         numrnn.GRU(3, 4, bidirectional=True, batch_first=True, backend=backend, seed=2),
         numrnn.RNN(8, 5, nonlinearity="relu", backend=backend, dtype=np.float64, seed=3),
         Dense(5, 3, activation="softmax", last_step=True, seed=4)],
        loss=numrnn.losses.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=0.1),
        optimizer=AdamW(lr=0.01, betas=(0.8, 0.95), amsgrad=True))


def data(n=12, steps=5):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, steps, 2)), rng.integers(0, 3, size=n),
            rng.integers(1, steps + 1, size=n))


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_load_reproduces_predictions_bit_for_bit(tmp_path, backend):
    X, y, lengths = data()
    model = rich_model(backend).fit(X, y, lengths=lengths, epochs=2, batch_size=4, seed=0,
                                    progress=False)
    save(tmp_path / "m.npz", model)
    loaded = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X, lengths), model.predict(X, lengths))
    assert model_config(loaded) == model_config(model)
    for key, value in model.optimizer.state_dict()["state"].items():
        for field, array in value.items():
            np.testing.assert_array_equal(loaded.optimizer.state[key][field], array)
    assert not any(layer.training for layer in loaded.layers)


def test_training_resumes_exactly_after_load(tmp_path):
    X, y = running_sign_task(n=16)

    def make():
        return Sequential([numrnn.GRU(2, 5, batch_first=True, backend="numpy", seed=0),
                           Dense(5, 2, activation="softmax", batch_first=True, seed=1)],
                          loss="cross_entropy", optimizer=AdamW(lr=0.02))

    model = make().fit(X, y, epochs=2, batch_size=8, seed=0, progress=False)
    save(tmp_path / "m.npz", model)
    resumed = load(tmp_path / "m.npz")
    model.fit(X, y, epochs=2, batch_size=8, seed=1, progress=False)
    resumed.fit(X, y, epochs=2, batch_size=8, seed=1, progress=False)
    assert resumed.history_ == model.history_
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def test_file_holds_no_pickles_and_json_architecture(tmp_path):
    save(tmp_path / "m.npz", rich_model())
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        config = json.loads(archive["__numrnn__"].tobytes().decode())
        assert all(archive[k].dtype != object for k in archive.files)
    assert [layer["class"] for layer in config["layers"]] == [
        "LSTM", "Dropout", "GRU", "RNN", "Dense"]
    assert config["layers"][0]["config"]["proj_size"] == 3


def test_load_with_other_backend(tmp_path):
    save(tmp_path / "m.npz", rich_model())
    loaded = load(tmp_path / "m.npz", backend="numpy")
    assert loaded.layers[0].backend == "numpy"


def test_unusable_saved_backend_is_explained(tmp_path, monkeypatch):
    save(tmp_path / "m.npz", rich_model())

    def unusable(name="auto"):
        raise RuntimeError(f"backend {name!r} needs a GPU")

    monkeypatch.setattr(numrnn._recurrent.base, "resolve_backend", unusable)
    with pytest.raises(ValueError, match=r"layer 0 \(LSTM\) uses backend 'numpy', which is "
                                         r"not usable here .*pass backend='auto'"):
        load(tmp_path / "m.npz")


# -- bad files -----------------------------------------------------------------------------

def saved_bytes(tmp_path):
    save(tmp_path / "good.npz", rich_model())
    return (tmp_path / "good.npz").read_bytes()


def rewrite(tmp_path, change):
    """The good file with its arrays passed through ``change(dict) -> dict``."""
    with np.load(tmp_path / "good.npz") as archive:
        arrays = change({k: archive[k] for k in archive.files})
    np.savez(tmp_path / "bad.npz", **arrays)


def with_config(arrays, edit):
    config = json.loads(arrays["__numrnn__"].tobytes().decode())
    edit(config)
    arrays["__numrnn__"] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    return arrays


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def flip_byte(content):
    """Damage one byte in the middle of the data of the largest stored array."""
    with zipfile.ZipFile(io.BytesIO(content)) as zipped:
        entry = max(zipped.infolist(), key=lambda info: info.compress_size)
    local = entry.header_offset
    name_length, extra_length = struct.unpack("<HH", content[local + 26:local + 30])
    middle = local + 30 + name_length + extra_length + entry.compress_size // 2
    return content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1:]


BAD_FILES = {
    "random bytes": (lambda p, good: (p / "bad.npz").write_bytes(b"\x00garbage" * 50),
                     "is not an .npz file"),
    "empty": (lambda p, good: (p / "bad.npz").write_bytes(b""), "is not an .npz file"),
    "truncated": (lambda p, good: (p / "bad.npz").write_bytes(good[: len(good) // 2]),
                  "truncated or corrupted .npz file"),
    "corrupted byte": (lambda p, good: (p / "bad.npz").write_bytes(flip_byte(good)),
                       "truncated or corrupted .npz file"),
    "foreign npz": (lambda p, good: np.savez(p / "bad.npz", a=np.arange(3)),
                    "not a numrnn model file"),
    "single npy": (lambda p, good: (p / "bad.npz").write_bytes(npy_bytes(np.arange(3))),
                   "not a model"),
    "pickled object array": (
        lambda p, good: np.savez(p / "bad.npz", __numrnn__=np.array([{"x": 1}], dtype=object)),
        "allow_pickle"),
    "bad json": (lambda p, good: rewrite(p, lambda a: {
        **a, "__numrnn__": np.frombuffer(b"{not json", dtype=np.uint8)}), "Expecting"),
    "wrong version": (lambda p, good: rewrite(p, lambda a: with_config(
        a, lambda c: c.update(version=99))), "unsupported format version 99"),
    "unknown layer": (lambda p, good: rewrite(p, lambda a: with_config(
        a, lambda c: c["layers"][1].update({"class": "Conv1d"}))),
        "unknown layer class 'Conv1d'"),
    "missing weight": (lambda p, good: rewrite(p, lambda a: {
        k: v for k, v in a.items() if k != "param/4.bias"}), r"missing keys \['4.bias'\]"),
    "mis-shaped weight": (lambda p, good: rewrite(p, lambda a: {
        **a, "param/4.weight": np.zeros((2, 2))}), r"state_dict\['4.weight'\] must have shape"),
    "extra entry": (lambda p, good: rewrite(p, lambda a: {**a, "junk": np.zeros(1)}),
                    r"unexpected entries \['junk'\]"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gives_clear_value_error(tmp_path, case):
    make, problem = BAD_FILES[case]
    make(tmp_path, saved_bytes(tmp_path))
    with pytest.raises(ValueError, match=problem) as info:
        load(tmp_path / "bad.npz")
    assert str(tmp_path / "bad.npz") in str(info.value)


def test_optimizer_state_of_wrong_shape_is_refused(tmp_path):
    X, y, lengths = data()
    model = rich_model().fit(X, y, lengths=lengths, epochs=1, batch_size=6, progress=False)
    save(tmp_path / "good.npz", model)
    rewrite(tmp_path, lambda a: {**a, "optimizer/4.bias/exp_avg": np.zeros(7)})
    with pytest.raises(ValueError, match=r"optimizer state 4.bias/exp_avg has shape \(7,\)"):
        load(tmp_path / "bad.npz")


def test_missing_file_and_wrong_model_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")
    with pytest.raises(TypeError, match="model must be a numrnn Sequential or Seq2Seq, got LSTM"):
        save(tmp_path / "x.npz", numrnn.LSTM(2, 3, backend="numpy"))


# -- PyTorch -------------------------------------------------------------------------------

def test_torch_weights_in_and_out():
    torch = import_torch()
    torch.manual_seed(0)
    modules = torch.nn.ModuleList([torch.nn.LSTM(2, 6, proj_size=3, batch_first=True),
                                   torch.nn.Dropout(0.5), torch.nn.Linear(3, 4)]).double()
    model = Sequential([numrnn.LSTM(2, 6, proj_size=3, batch_first=True, backend="numpy",
                                    dtype=np.float64),
                        Dropout(0.5), Dense(3, 4, dtype=np.float64)])
    model.load_state_dict(from_torch(modules.state_dict()))
    X = np.random.default_rng(0).normal(size=(3, 5, 2))
    with torch.no_grad():
        out, _ = modules[0](torch.from_numpy(X))
        expected = modules[2](out).numpy()
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10, atol=1e-12)

    other = torch.nn.ModuleList([torch.nn.LSTM(2, 6, proj_size=3, batch_first=True),
                                 torch.nn.Dropout(0.5), torch.nn.Linear(3, 4)]).double()
    other.load_state_dict(to_torch(model.state_dict()))
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), model.state_dict()[key])


def test_to_torch_without_torch_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="to_torch needs PyTorch"):
        to_torch({"w": np.zeros(1)})
    assert from_torch({"w": [1.0]})["w"].dtype == np.float64
