"""The training tools on the CUDA backend (GPU or simulator): same results as the NumPy spec."""

import numpy as np

import numrnn
from numrnn.heads import Dense
from numrnn.io import load, save
from numrnn.model import Sequential
from numrnn.optim import Adam


def train(backend, X, y, lengths):
    model = Sequential(
        [numrnn.LSTM(2, 3, batch_first=True, backend=backend, dtype=np.float64, seed=0),
         Dense(3, 2, activation="softmax", batch_first=True, dtype=np.float64, seed=1)],
        loss="cross_entropy", optimizer=Adam(lr=0.1))
    return model.fit(X, y, lengths=lengths, epochs=2, batch_size=4, seed=0, progress=False)


def test_fit_predict_stream_save_load_match_numpy(tmp_path):
    rng = np.random.default_rng(0)
    X, y, lengths = rng.normal(size=(4, 3, 2)), rng.integers(0, 2, (4, 3)), np.array([3, 1, 2, 3])
    reference, model = train("numpy", X, y, lengths), train("cuda", X, y, lengths)
    np.testing.assert_allclose(model.history_["loss"], reference.history_["loss"], rtol=1e-12)
    for key, value in reference.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[key], value, rtol=1e-12, atol=1e-14)
    predicted = model.predict(X, lengths)
    np.testing.assert_allclose(predicted, reference.predict(X, lengths), rtol=1e-12)

    model.reset_stream()
    chunks = [model.stream(X[:, :2]), model.stream(X[:, 2:])]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), model.predict(X), rtol=1e-12)

    save(tmp_path / "m.npz", model)
    np.testing.assert_array_equal(load(tmp_path / "m.npz").predict(X, lengths), predicted)
