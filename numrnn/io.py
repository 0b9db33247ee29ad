"""Saving and loading models, and converting state dicts to and from PyTorch.

A saved model is one ``.npz`` file readable with ``np.load(path, allow_pickle=False)``:

==================================  ================================================
entry                               content
==================================  ================================================
``__numrnn__``                      JSON text (uint8 bytes): format tag and version,
                                    the layers with their constructor arguments,
                                    the loss, the optimizer and its hyperparameters
``param/{i}.{name}``                the model's parameters (:meth:`numrnn.Sequential.state_dict`)
``optimizer/{i}.{name}/{key}``      the optimizer's per-parameter state (moments, steps)
==================================  ================================================

No pickles anywhere, so loading a file never runs code from it. A file that is not a numrnn
model, is truncated or corrupted, or whose contents do not fit together raises ValueError
naming the file and the problem, and nothing is returned half-built.

Examples
--------
>>> import os, tempfile
>>> import numpy as np, numrnn
>>> from numrnn.heads import Dense
>>> from numrnn.model import Sequential
>>> from numrnn.io import load, save
>>> model = Sequential([numrnn.GRU(3, 4, backend="numpy", seed=0), Dense(4, 2, seed=0)])
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> save(path, model)
>>> x = np.ones((1, 5, 3))
>>> np.array_equal(load(path).predict(x), model.predict(x))
True
"""

import json
import os
import zipfile
import zlib

import numpy as np

from numrnn._recurrent import GRU, LSTM, RNN, Recurrent
from numrnn._validation import to_numpy
from numrnn.heads import Dense
from numrnn.losses import LOSSES
from numrnn.model import Dropout, Sequential
from numrnn.optim import OPTIMIZERS
from numrnn.seq2seq import Seq2Seq

FORMAT = "numrnn.Sequential"
SEQ2SEQ_FORMAT = "numrnn.Seq2Seq"
VERSION = 1
_CONFIG_KEY = "__numrnn__"
_LAYERS = {cls.__name__: cls for cls in (RNN, LSTM, GRU, Recurrent, Dense, Dropout)}
_LOSS_CLASSES = {cls.__name__: cls for cls in LOSSES.values()}
_OPTIMIZER_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}


def _layer_entry(layer, where):
    """A layer's class and constructor arguments; a user-defined cell has no name to store."""
    config = layer.get_config()
    cell = config.get("cell")
    if cell is not None and not isinstance(cell, str):
        raise TypeError(f"{where} runs the user-defined cell {cell.name!r}, which numrnn.io "
                        "cannot store (it stores cells by name): pickle the model instead, "
                        "which keeps the cell's definition")
    return {"class": type(layer).__name__, "config": config}


def model_config(model):
    """The architecture, loss and optimizer settings of ``model`` as a JSON-compatible dict.

    Parameters
    ----------
    model : Sequential or Seq2Seq

    Returns
    -------
    dict

    Examples
    --------
    >>> from numrnn import GRU, Dense, Sequential
    >>> from numrnn.io import model_config
    >>> config = model_config(Sequential([GRU(3, 4, seed=0), Dense(4, 2, seed=0)]))
    >>> [layer["class"] for layer in config["layers"]], config["loss"]["class"]
    (['GRU', 'Dense'], 'MSELoss')
    """
    if isinstance(model, Seq2Seq):
        return {"format": SEQ2SEQ_FORMAT, "version": VERSION,
                **{name: _layer_entry(layer, f"the {name}")
                   for name, layer in (("encoder", model.encoder), ("decoder", model.decoder))},
                "model": model.get_config(),
                "optimizer": {"class": type(model.optimizer).__name__,
                              "config": model.optimizer.get_config()}}
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a numrnn Sequential or Seq2Seq, got "
                        f"{type(model).__name__}")
    return {
        "format": FORMAT,
        "version": VERSION,
        "layers": [_layer_entry(layer, f"layers[{i}]") for i, layer in enumerate(model.layers)],
        "loss": {"class": type(model.loss).__name__, "config": model.loss.get_config()},
        "optimizer": {"class": type(model.optimizer).__name__,
                      "config": model.optimizer.get_config()},
    }


def build_model(config, backend=None):
    """A fresh Sequential or Seq2Seq from :func:`model_config` output.

    Parameters
    ----------
    config : dict
    backend : str, optional
        Backend of every recurrent layer instead of the one saved (e.g. ``"auto"`` to load
        a model saved on a GPU machine on one without).

    Returns
    -------
    Sequential or Seq2Seq

    Raises
    ------
    ValueError
        If the config is not a numrnn model's or names unknown classes.

    Examples
    --------
    >>> from numrnn import RNN, Dense, Sequential
    >>> from numrnn.io import build_model, model_config
    >>> model = Sequential([RNN(2, 3, nonlinearity="relu", seed=0), Dense(3, 1, seed=0)])
    >>> copy = build_model(model_config(model))     # the same architecture, new weights
    >>> copy.layers[0].nonlinearity
    'relu'
    """
    if isinstance(config, dict) and config.get("format") == SEQ2SEQ_FORMAT:
        return _build_seq2seq(config, backend)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"not a numrnn model description (format tag {FORMAT!r} missing)")
    if config.get("version") != VERSION:
        raise ValueError(f"unsupported format version {config.get('version')!r}; this numrnn "
                         f"reads version {VERSION}")
    layers = []
    for entry in config["layers"]:
        name, kwargs = entry["class"], dict(entry["config"])
        cls = _known(_LAYERS, name, "layer")
        if "backend" in kwargs and backend is not None:
            kwargs["backend"] = backend
        try:
            layers.append(cls(**kwargs))
        except (ImportError, RuntimeError) as exc:
            raise ValueError(f"layer {len(layers)} ({name}) uses backend "
                             f"{kwargs['backend']!r}, which is not usable here ({exc}); "
                             "pass backend='auto' (or another) to load it") from exc
    loss_cls = _known(_LOSS_CLASSES, config["loss"]["class"], "loss")
    optimizer_cls = _known(_OPTIMIZER_CLASSES, config["optimizer"]["class"], "optimizer")
    return Sequential(layers, loss=loss_cls(**config["loss"]["config"]),
                      optimizer=optimizer_cls(**config["optimizer"]["config"]))


def _build_seq2seq(config, backend):
    """A fresh :class:`~numrnn.seq2seq.Seq2Seq` from :func:`model_config` output."""
    if config.get("version") != VERSION:
        raise ValueError(f"unsupported format version {config.get('version')!r}; this numrnn "
                         f"reads version {VERSION}")
    layers = {}
    for name in ("encoder", "decoder"):
        kwargs = dict(config[name]["config"])
        if backend is not None:
            kwargs["backend"] = backend
        layers[name] = _known(_LAYERS, config[name]["class"], name)(**kwargs)
    optimizer_cls = _known(_OPTIMIZER_CLASSES, config["optimizer"]["class"], "optimizer")
    return Seq2Seq(**layers, **config["model"],
                   optimizer=optimizer_cls(**config["optimizer"]["config"]))


def _known(classes, name, what):
    if name not in classes:
        raise ValueError(f"unknown {what} class {name!r}")
    return classes[name]


def save(path, model):
    """Write ``model`` (architecture, weights, optimizer state) to one ``.npz`` file.

    Parameters
    ----------
    path : str or os.PathLike
        Written as given (NumPy adds ``.npz`` if the name lacks it).
    model : Sequential or Seq2Seq

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`~numrnn.model.Sequential` or
        :class:`~numrnn.seq2seq.Seq2Seq`, or a layer runs a user-defined cell (stored by
        name, it would not load: pickle such a model).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from numrnn import RNN, Dense, Sequential, save
    >>> path = os.path.join(tempfile.mkdtemp(), "rnn.npz")
    >>> save(path, Sequential([RNN(2, 3, seed=0), Dense(3, 1, seed=0)]))
    >>> sorted(np.load(path).files)[:3]
    ['__numrnn__', 'param/0.bias_hh_l0', 'param/0.bias_ih_l0']
    """
    config = model_config(model)
    arrays = {_CONFIG_KEY: np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)}
    arrays.update({f"param/{k}": v for k, v in model.state_dict().items()})
    for name, entry in model.optimizer.state_dict()["state"].items():
        for key, value in entry.items():
            arrays[f"optimizer/{name}/{key}"] = np.asarray(value)
    np.savez(path, **arrays)


def load(path, *, backend=None):
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
    backend : str, optional
        Backend for the recurrent layers instead of the saved one.

    Returns
    -------
    Sequential or Seq2Seq
        In evaluation mode, with its optimizer's state restored (training can resume).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file and the problem if it is not a numrnn model file, is truncated or
        corrupted, or its entries do not match its architecture.

    Examples
    --------
    >>> import os, tempfile
    >>> from numrnn import LSTM, Dense, Sequential, load, save
    >>> path = os.path.join(tempfile.mkdtemp(), "lstm.npz")
    >>> save(path, Sequential([LSTM(2, 3, seed=0), Dense(3, 1, seed=0)]))
    >>> model = load(path, backend="numpy")         # whatever backend it was saved with
    >>> type(model.layers[0]).__name__, model.layers[0].backend, model.layers[0].training
    ('LSTM', 'numpy', False)
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
        if magic.startswith(b"\x93NUMPY"):
            raise ValueError("holds a single array (.npy), not a model (.npz)")
        if not magic.startswith(b"PK"):
            # np.load would take any other content for a pickle and say so, misleadingly.
            raise ValueError("is not an .npz file (no zip signature)")
        with zipfile.ZipFile(path) as zipped:
            # np.load reads arrays without reaching the end of each entry, where zipfile
            # checks the CRC, so a flipped byte in the weights would load silently.
            damaged = zipped.testzip()
        if damaged is not None:
            raise zipfile.BadZipFile(f"entry {damaged!r} fails its CRC check")
        with np.load(path, allow_pickle=False) as archive:
            if _CONFIG_KEY not in archive.files:
                raise ValueError(f"has no {_CONFIG_KEY!r} entry: not a numrnn model file")
            arrays = {name: archive[name] for name in archive.files}
        raw = arrays.pop(_CONFIG_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"entry {_CONFIG_KEY!r} is not JSON text")
        config = json.loads(raw.tobytes().decode())
        model = build_model(config, backend)
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        state = {}
        for key, value in arrays.items():
            if key.startswith("optimizer/"):
                name, _, field = key[len("optimizer/"):].rpartition("/")
                state.setdefault(name, {})[field] = int(value) if field == "step" else value
        unknown = [k for k in arrays if not k.startswith(("param/", "optimizer/"))]
        if unknown:
            raise ValueError(f"has unexpected entries {unknown}")
        for name, entry in state.items():
            if name not in params:
                raise ValueError(f"has optimizer state for unknown parameter {name!r}")
            for field, value in entry.items():
                if field != "step" and value.shape != params[name].shape:
                    raise ValueError(f"optimizer state {name}/{field} has shape {value.shape}, "
                                     f"the parameter {params[name].shape}")
        model.load_state_dict(params)
        model.optimizer.load_state_dict({"config": model.optimizer.get_config(),
                                         "state": state})
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"cannot load numrnn model from {path!r}: truncated or corrupted "
                         f".npz file ({exc})") from exc
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        # json.JSONDecodeError is a ValueError; KeyError/TypeError mean a config whose
        # structure is wrong.
        raise ValueError(f"cannot load numrnn model from {path!r}: {exc}") from exc
    return model.eval()


def from_torch(state_dict):
    """A PyTorch state dict as a plain dict of NumPy arrays (torch itself is not imported).

    Parameters
    ----------
    state_dict : mapping of str to tensor or array_like
        E.g. ``torch_module.state_dict()``; tensors on any device, with or without grad.
        For a whole :class:`~numrnn.model.Sequential`, the keys are ``"{index}.{name}"`` as
        produced by ``torch.nn.ModuleList``/``nn.Sequential`` holding an ``nn.LSTM`` (or RNN,
        GRU), ``nn.Dropout`` and ``nn.Linear`` at the same positions.

    Returns
    -------
    dict of str to ndarray

    Examples
    --------
    >>> from numrnn.io import from_torch
    >>> from_torch({"weight": [[1.0, 2.0]]})["weight"]
    array([[1., 2.]])
    """
    return {str(k): np.array(to_numpy(v)) for k, v in dict(state_dict).items()}


def to_torch(state_dict):
    """A state dict of arrays as ``torch`` tensors, for ``torch_module.load_state_dict``.

    Parameters
    ----------
    state_dict : mapping of str to array_like

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    ImportError
        If PyTorch is not installed (numrnn never needs it otherwise).

    Examples
    --------
    >>> import numrnn, torch
    >>> from numrnn.io import to_torch
    >>> gru = numrnn.GRU(3, 4, backend="numpy", seed=0)
    >>> torch.nn.GRU(3, 4).load_state_dict(to_torch(gru.state_dict()))
    <All keys matched successfully>
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError("to_torch needs PyTorch (pip install torch); everything else in "
                          "numrnn works without it") from exc
    return {k: torch.from_numpy(np.array(to_numpy(v))) for k, v in dict(state_dict).items()}

