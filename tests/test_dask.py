"""Dask arrays in, lazy Dask arrays out: bit-identical to the NumPy results for any chunking,
computed on a real ``dask.distributed.LocalCluster`` with two worker processes."""
import os

import numpy as np
import pytest

import fastgumbel as fg

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

CHUNKINGS = [(9, 4, 33), (2, 4, 33), (4, 3, 10), (1, 1, 5)]


@pytest.fixture(scope="module")
def client():
    # worker processes are spawned (distributed's default), so Numba's OpenMP pool in this
    # process is never forked into a worker
    import dask
    assert dask.config.get("distributed.worker.multiprocessing-method") == "spawn"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def cases(x, k):
    """(name, function of an array) pairs covering every dask-aware function."""
    return [
        ("soft", lambda a, ax: fg.gumbel_softmax(a, 0.7, axis=ax, rng=k)),
        ("hard", lambda a, ax: fg.gumbel_softmax(a, 0.7, hard=True, axis=ax, rng=k)),
        ("log", lambda a, ax: fg.gumbel_log_softmax(a, 0.3, axis=ax, rng=k)),
        ("max", lambda a, ax: fg.gumbel_max(a, axis=ax, rng=k)),
        ("cat1", lambda a, ax: fg.categorical(a, axis=ax, rng=k)),
        ("cat_gumbel", lambda a, ax: fg.categorical(a, 7, axis=ax, rng=k)),
        ("cat_cdf", lambda a, ax: fg.categorical(a, 300, axis=ax, rng=k, method="inverse_cdf")),
        ("multi_auto", lambda a, ax: fg.multinomial(a, 1000, axis=ax, rng=k, method="auto")),
        ("multi_binomial", lambda a, ax: fg.multinomial(a, 10**9, axis=ax, rng=k,
                                                        method="binomial")),
        ("multi_gumbel", lambda a, ax: fg.multinomial(a, 6, axis=ax, rng=k, method="gumbel")),
        ("topk", lambda a, ax: fg.gumbel_topk(a, 4, axis=ax, rng=k)),
    ]


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=lambda c: "x".join(map(str, c)))
def test_bit_identical_to_numpy_on_local_cluster(client, chunks):
    x = np.random.default_rng(5).standard_normal((9, 4, 33)).astype(np.float32)
    x[1, 2, 5:] = -np.inf                                   # a row with masked categories
    dx = da.from_array(x, chunks=chunks)
    k = fg.Key(1234, 7)
    lazy, expect = [], []
    for axis in (-1, 0):
        for name, f in cases(x, k):
            r = f(dx, axis)
            assert isinstance(r, da.Array), name
            lazy.append(r)
            expect.append((name, axis, f(x, axis)))
    lazy.append(fg.gumbel(size=(9, 4, 33), rng=k, like=dx))
    expect.append(("gumbel", None, fg.gumbel(size=(9, 4, 33), rng=k)))
    lazy.append(fg.uniform(size=(9, 4, 33), dtype=np.float64, rng=k, like=dx))
    expect.append(("uniform", None, fg.uniform(size=(9, 4, 33), dtype=np.float64, rng=k)))
    got = client.compute(lazy, sync=True)
    for (name, axis, e), g in zip(expect, got):
        assert g.dtype == e.dtype and g.shape == e.shape, (name, axis)
        assert np.array_equal(g, e, equal_nan=True), (name, axis)


def test_work_runs_in_worker_processes(client):
    pids = client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    x = da.zeros((8, 16), chunks=(2, 16), dtype=np.float64)
    # one task per block, spread over the workers; results as in NumPy
    d = client.compute(fg.categorical(x, 50, rng=3, method="inverse_cdf"), sync=True)
    assert np.array_equal(d, fg.categorical(np.zeros((8, 16)), 50, rng=3, method="inverse_cdf"))


def test_chunked_category_axis_is_merged_and_key_fixed_at_build_time():
    x = np.random.default_rng(1).standard_normal((6, 50))
    dx = da.from_array(x, chunks=(4, 7))                    # the category axis in 8 chunks
    rng = fg.default_rng(9)
    y = fg.gumbel_softmax(dx, 2.0, rng=rng)
    assert rng.streams_used == 1                            # resolved once, when built
    assert y.chunks[1] == (50,)
    a = y.compute(scheduler="sync")
    assert np.array_equal(a, y.compute(scheduler="sync"))
    assert np.array_equal(a, fg.gumbel_softmax(x, 2.0, rng=fg.Key(9, 0)))


def test_one_dimensional_and_errors():
    x = np.log(np.array([0.1, 0.2, 0.7]))
    dx = da.from_array(x, chunks=2)
    assert fg.gumbel_max(dx, rng=2).compute() == fg.gumbel_max(x, rng=2)
    assert np.array_equal(fg.multinomial(dx, 100, rng=2).compute(), fg.multinomial(x, 100, rng=2))
    with pytest.raises(TypeError, match="out="):
        fg.gumbel_softmax(dx, rng=1, out=np.empty(3))
    with pytest.raises(ValueError, match="k=4 exceeds"):
        fg.gumbel_topk(dx, 4)
    with pytest.raises(ValueError, match="tau"):
        fg.gumbel_softmax(dx, 0.0)
    with pytest.raises(ValueError, match="method"):
        fg.categorical(dx, 3, method="alias")
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        fg.gumbel_max(da.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="NaN"):
        fg.gumbel_max(da.from_array(np.array([0.0, np.nan]))).compute(scheduler="sync")
