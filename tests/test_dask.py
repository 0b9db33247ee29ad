"""numrnn on Dask: lazy prediction, partial_fit, data-parallel training, warm workers.

One LocalCluster of 2 worker processes serves the whole module. Skipped when dask or
distributed is not installed (``pip install numrnn[dask]``).
"""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
db = pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")

import numrnn  # noqa: E402
from numrnn.distributed import DataParallel, map_samples, warm_workers  # noqa: E402
from numrnn.estimators import SequenceClassifier, SequenceRegressor  # noqa: E402
from numrnn.heads import Dense  # noqa: E402
from numrnn.model import Sequential  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """2 worker processes of 1 thread each, warmed by numrnn's plugin."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        seconds = warm_workers(client, cells=("gru",), backend="numpy")
        assert len(seconds) == 2
        yield client


def _labelled(rng, n, steps=6, features=2):
    X = rng.standard_normal((n, steps, features))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def _quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        return estimator.fit(X, y)


def test_lazy_prediction_equals_in_memory(client, rng):
    X, y = _labelled(rng, 37)
    clf = _quiet_fit(SequenceClassifier(hidden_size=6, epochs=3, backend="numpy", seed=0), X, y)
    lazy_X = da.from_array(X, chunks=(10, 3, 2))          # steps chunked too: merged
    proba = clf.predict_proba(lazy_X)
    assert isinstance(proba, da.Array) and proba.chunks == ((10, 10, 10, 7), (2,))
    np.testing.assert_allclose(proba.compute(), clf.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(lazy_X).compute(), clf.predict(X))

    reg = _quiet_fit(SequenceRegressor(hidden_size=6, epochs=3, backend="numpy", seed=0),
                     X, X[:, :2, 1])
    np.testing.assert_allclose(reg.predict(lazy_X).compute(), reg.predict(X), rtol=1e-6)

    # Ragged sequences as a dask bag: one prediction per sequence.
    seqs = [X[i, : 1 + i % 6] for i in range(len(X))]
    bag = db.from_sequence(seqs, npartitions=4)
    np.testing.assert_allclose(np.array(clf.predict_proba(bag).compute()),
                               clf.predict_proba(seqs), rtol=1e-6)

    # Sequential: a per-step head, with lengths given as a dask array.
    model = Sequential([numrnn.LSTM(2, 5, batch_first=True, backend="numpy", seed=1),
                        Dense(5, 3, batch_first=True, seed=1)])
    lengths = rng.integers(1, 7, len(X))
    lazy = model.predict(lazy_X, da.from_array(lengths, chunks=9))
    assert lazy.shape == (37, 6, 3)
    np.testing.assert_allclose(lazy.compute(), model.predict(X, lengths), rtol=1e-6)


def test_map_samples_chunks_over_samples_only():
    X = da.ones((5, 4, 3), chunks=(2, 2, 1))
    out = map_samples(lambda x: x.sum(axis=(1, 2)), X, (), np.float64)
    assert out.chunks == ((2, 2, 1),)
    np.testing.assert_array_equal(out.compute(scheduler="sync"), np.full(5, 12.0))


def test_partial_fit_over_blocks_lowers_the_loss(client, rng):
    X, y = _labelled(rng, 96)
    lazy_X, lazy_y = da.from_array(X, chunks=(24, 6, 2)), da.from_array(y, chunks=24)
    clf = SequenceClassifier(hidden_size=8, backend="numpy", seed=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X[:4], y[:4])
    for _ in range(6):          # the documented loop over a dask array's blocks
        for i in range(lazy_X.numblocks[0]):
            clf.partial_fit(*client.compute([lazy_X.blocks[i], lazy_y.blocks[i]], sync=True),
                            classes=[0, 1])
    assert clf.n_iter_ == 24
    first, last = np.mean(clf.loss_curve_[:4]), np.mean(clf.loss_curve_[-4:])
    assert last < 0.8 * first
    assert clf.predict(lazy_X).compute().shape == (96,)
    assert clf.score(X, y) > 0.7
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X[:4], y[:4], classes=[0, 1, 2])


def test_partial_fit_under_dask_ml_incremental(client, rng):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = _labelled(rng, 64, features=1)
    # dask-ml's Incremental hands over 2-D blocks only: (n_samples, T), one feature.
    inc = wrappers.Incremental(SequenceRegressor(hidden_size=6, backend="numpy", seed=0))
    inc.fit(da.from_array(X[:, :, 0], chunks=(16, 6)), da.from_array(X.sum(axis=(1, 2)),
                                                                    chunks=16))
    assert inc.estimator_.n_iter_ == 4
    assert inc.predict(da.from_array(X[:, :, 0], chunks=(16, 6))).compute().shape == (64,)


def test_sequential_partial_fit_keeps_the_optimizer_state(rng):
    X = rng.standard_normal((16, 4, 2))
    y = X.sum(axis=1)

    def model():
        return Sequential([numrnn.GRU(2, 4, batch_first=True, backend="numpy", seed=0),
                           Dense(4, 2, last_step=True, batch_first=True, seed=0)])

    whole = model().fit(X, y, epochs=1, batch_size=8, shuffle=False, progress=False)
    parts = model().partial_fit(X[:8], y[:8], batch_size=8).partial_fit(X[8:], y[8:],
                                                                          batch_size=8)
    for name, value in whole.state_dict().items():
        np.testing.assert_allclose(parts.state_dict()[name], value, rtol=1e-6)
    assert len(parts.history_["loss"]) == 2


def _float64_model(optimizer=None, last_step=True):
    return Sequential(
        [numrnn.GRU(3, 16, batch_first=True, backend="numpy", seed=0, dtype=np.float64),
         Dense(16, 2, last_step=last_step, batch_first=True, seed=0, dtype=np.float64)],
        optimizer=optimizer or numrnn.optim.Adam(lr=0.01))


@pytest.mark.parametrize("last_step", [True, False])
def test_data_parallel_equals_single_process(client, rng, last_step):
    X = rng.standard_normal((192, 7, 3))
    y = rng.standard_normal((192, 2) if last_step else (192, 7, 2))
    lengths = rng.integers(1, 8, 192)
    options = {"lengths": lengths, "epochs": 1, "batch_size": 64, "seed": 3,
               "clip_norm": 0.5, "progress": False}
    # SGD with momentum: state kept from step to step, and no division that would magnify
    # round-off in near-zero gradients (Adam's first steps are sign-like).
    single = _float64_model(numrnn.optim.SGD(lr=0.1, momentum=0.9), last_step).fit(X, y,
                                                                                   **options)
    model = _float64_model(numrnn.optim.SGD(lr=0.1, momentum=0.9), last_step)
    trainer = DataParallel(model, client)
    assert len(trainer.workers) == 2
    trainer.fit(X, y, **options)
    for name, value in single.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name], value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.history_["loss"], single.history_["loss"], rtol=1e-12)
    for replica in trainer.replica_states():           # every replica took the same steps
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(replica[name], value)


def test_data_parallel_early_stopping_and_history_agree(client, rng):
    X = rng.standard_normal((40, 5, 3))
    y = rng.standard_normal((40, 2))
    options = {"epochs": 4, "batch_size": 16, "seed": 0, "validation_split": 0.25,
               "early_stopping": 1, "metrics": ("mae",), "progress": False}
    single = _float64_model().fit(X, y, **options)
    model = DataParallel(_float64_model(), client).fit(X, y, **options)
    assert model.history_.keys() == single.history_.keys()
    for key, values in single.history_.items():
        np.testing.assert_allclose(model.history_[key], values, rtol=1e-9)
    assert model.best_epoch_ == single.best_epoch_
    with pytest.raises(ValueError, match="tbptt"):
        DataParallel(_float64_model(), client).fit(X, y, tbptt=2)
    summed = Sequential([numrnn.GRU(3, 4, batch_first=True, backend="numpy"),
                         Dense(4, 2, last_step=True, batch_first=True)],
                        loss=numrnn.MSELoss(reduction="sum"))
    with pytest.raises(ValueError, match="reduction='mean'"):
        DataParallel(summed, client)


def test_grid_search_on_the_cluster_equals_n_jobs_1(client, rng):
    joblib = pytest.importorskip("joblib")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = _labelled(rng, 40)
    grid = {"hidden_size": [4, 8], "cell": ["gru", "rnn"]}

    def search(n_jobs):
        estimator = SequenceClassifier(epochs=3, backend="numpy", seed=0)
        return model_selection.GridSearchCV(estimator, grid, cv=2, n_jobs=n_jobs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = search(1).fit(X, y)
        with joblib.parallel_backend("dask"):
            remote = search(-1).fit(X, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])


def test_warm_workers_caps_blas_threads(client):
    def blas_threads():
        from threadpoolctl import threadpool_info

        return {info["num_threads"] for info in threadpool_info()
                if info["user_api"] == "blas"}

    for threads in client.run(blas_threads).values():
        assert threads == {1}
    with pytest.raises(ValueError, match="threads"):
        warm_workers(client, threads=0)


def test_lazy_prediction_of_an_unfitted_estimator_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SequenceClassifier().predict_proba(da.zeros((4, 3, 1), chunks=2))
    with pytest.raises(ValueError, match="finite"):
        SequenceRegressor(hidden_size=4, backend="numpy").partial_fit(
            np.zeros((4, 3, 1)), np.zeros(4)).partial_fit(np.zeros((4, 3, 1)),
                                                          np.full(4, np.nan))
