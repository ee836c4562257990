"""Dask arrays in, lazy Dask arrays out: the NumPy results for any chunking of the rows, the
category axis and the draws, computed on a real ``dask.distributed.LocalCluster`` with two
worker processes. Bit-identical except the soft samples of a chunked category axis, which
agree to rounding (docs/dask.md)."""
import os

import numpy as np
import pytest

import fastgumbel as fg
from conftest import new_specializations

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

CHUNKINGS = [(9, 4, 33), (2, 4, 33), (4, 3, 10), (1, 1, 5), (9, 4, 7), (3, 2, 32)]
#: Soft results of a chunked category axis: rounding of the (max, sum) combine (float32).
SOFT = {"soft", "log"}


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
        if name in SOFT and chunks[axis] < x.shape[axis]:
            assert np.array_equal(np.isneginf(g), np.isneginf(e)), (name, axis)
            fin = np.isfinite(e)
            atol = 2e-6 if name == "soft" else 1e-5 * float(np.abs(e[fin]).max())
            np.testing.assert_allclose(g[fin], e[fin], rtol=1e-5, atol=atol, err_msg=name)
        else:
            assert np.array_equal(g, e, equal_nan=True), (name, axis)


def test_work_runs_in_worker_processes(client):
    pids = client.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    x = da.zeros((8, 16), chunks=(2, 16), dtype=np.float64)
    # one task per block, spread over the workers; results as in NumPy
    d = client.compute(fg.categorical(x, 50, rng=3, method="inverse_cdf"), sync=True)
    assert np.array_equal(d, fg.categorical(np.zeros((8, 16)), 50, rng=3, method="inverse_cdf"))


def test_chunked_category_axis_is_kept_and_key_fixed_at_build_time():
    x = np.random.default_rng(1).standard_normal((6, 50))
    dx = da.from_array(x, chunks=(4, 7))                    # the category axis in 8 chunks
    rng = fg.default_rng(9)
    y = fg.gumbel_softmax(dx, 2.0, rng=rng)
    assert rng.streams_used == 1                            # resolved once, when built
    assert y.chunks[1] == (7,) * 7 + (1,)
    a = y.compute(scheduler="sync")
    assert np.array_equal(a, y.compute(scheduler="sync"))
    np.testing.assert_allclose(a, fg.gumbel_softmax(x, 2.0, rng=fg.Key(9, 0)), rtol=1e-13)
    assert fg.gumbel_max(dx, rng=rng).chunks == ((4, 2),)  # no task holds a whole row


def test_read_only_chunks_share_the_writeable_kernels(compiled_kernels):
    # read-only chunks (here np.broadcast_to views) reach the column-block kernels through
    # the writeable view of _arrays.kernel_view: the same results, nothing compiled again
    # (one row: the chunks are contiguous, so no copy makes them writeable on the way)
    x = np.random.default_rng(2).standard_normal((1, 50)).astype(np.float32)
    dx = da.from_array(x, chunks=(1, 7))
    ro = dx.map_blocks(lambda b: np.broadcast_to(b, b.shape))
    calls = (lambda a: fg.gumbel_max(a, rng=4), lambda a: fg.gumbel_topk(a, 3, rng=4),
             lambda a: fg.gumbel_softmax(a, 0.5, rng=4), lambda a: fg.categorical(a, 3, rng=4))
    ref = [f(dx).compute(scheduler="sync") for f in calls]
    before = compiled_kernels()
    for f, r in zip(calls, ref):
        assert np.array_equal(f(ro).compute(scheduler="sync"), r)
    assert new_specializations(before, compiled_kernels()) == set()


@pytest.mark.parametrize("draw_chunks", [1, 3, 64, 1000, None])
def test_draws_split_over_tasks(client, draw_chunks):
    x = np.random.default_rng(3).standard_normal((5, 40)).astype(np.float32)
    x[2, :30] = -np.inf
    k = fg.Key(77, 1)
    calls = [("categorical", 37, "gumbel"), ("categorical", 300, "inverse_cdf"),
             ("multinomial", 37, "gumbel"), ("multinomial", 2001, "inverse_cdf"),
             ("multinomial", 10**10, "binomial"), ("multinomial", 5000, "auto")]
    lazy, expect = [], []
    for chunks in [(5, 40), (2, 40), (2, 9)]:
        dx = da.from_array(x, chunks=chunks)
        for fname, n, method in calls:
            f = getattr(fg, fname)
            lazy.append(f(dx, n, rng=k, method=method, draw_chunks=draw_chunks))
            expect.append(((fname, n, method, chunks), f(x, n, rng=k, method=method)))
    got = client.compute(lazy, sync=True)
    for (what, e), g in zip(expect, got):
        assert g.dtype == e.dtype and np.array_equal(g, e), what
    d = fg.categorical(da.from_array(x, chunks=(2, 9)), 37, rng=k, draw_chunks=draw_chunks)
    if draw_chunks == 3:
        assert d.chunks == ((2, 2, 1), (3,) * 12 + (1,))


def test_category_chunk_topk_windows_and_masked_rows():
    """The fused top-k partial (``cpu.topk_cols``): blocks of several windows, a column
    offset, rows with fewer finite entries than k: the NumPy call's indices."""
    x = np.full((3, 5000), -np.inf, np.float32)
    x[0] = np.random.default_rng(8).standard_normal(5000)
    x[1, ::500] = 0.0                        # 10 finite entries: k = 12 leaves two -1 slots
    x[2, 4990:] = 1.0
    for chunks in ((2, 5000), (1, 333), (3, 2100)):
        dx = da.from_array(x, chunks=chunks)
        for k in (1, 12):
            assert np.array_equal(fg.gumbel_topk(dx, k, rng=fg.Key(2)).compute(),
                                  fg.gumbel_topk(x, k, rng=fg.Key(2)))


def test_category_chunks_float16_float64_high_precision_and_noise_offsets():
    rng = np.random.default_rng(4)
    k = fg.Key(5, 3)
    for dt, prec in [(np.float16, "default"), (np.float64, "default"), (np.float32, "high")]:
        x = rng.standard_normal((3, 4101)).astype(dt)
        dx = da.from_array(x, chunks=(2, 1023))
        for f in (lambda a: fg.gumbel_max(a, rng=k, precision=prec),
                  lambda a: fg.gumbel_topk(a, 9, rng=k, precision=prec),
                  lambda a: fg.gumbel_softmax(a, 0.5, hard=True, rng=k, precision=prec),
                  lambda a: fg.categorical(a, 5, rng=k, precision=prec)):
            assert np.array_equal(f(dx).compute(scheduler="sync"), f(x))
        for tau in (1.0, 0.3):            # fused column-offset kernels: rounding only
            for f, log in ((fg.gumbel_softmax, False), (fg.gumbel_log_softmax, True)):
                e = f(x, tau, rng=k, precision=prec).astype(np.float64)
                g = f(dx, tau, rng=k, precision=prec).compute(scheduler="threads")
                tol = 4 * float(np.finfo(dt).eps) * (np.abs(e).max() if log else 1.0)
                np.testing.assert_allclose(g, e, rtol=4 * float(np.finfo(dt).eps), atol=tol)
        for f in (fg.gumbel, fg.uniform):
            e = f(size=(3, 4101), dtype=dt, rng=k, precision=prec)
            g = f(size=(3, 4101), dtype=dt, rng=k, precision=prec, like=dx)
            assert g.chunks == dx.chunks and np.array_equal(g.compute(scheduler="sync"), e)


def test_category_chunks_edge_rows():
    x = np.zeros((4, 12))
    x[0] = -np.inf                      # all masked
    x[1, 7] = np.nan
    x[2, :11] = -np.inf                 # one live category, in the last chunk
    dx = da.from_array(x, chunks=(4, 5))
    soft = fg.gumbel_softmax(dx, rng=1).compute(scheduler="sync")
    e = fg.gumbel_softmax(x, rng=1)
    assert np.array_equal(np.isnan(soft), np.isnan(e)) and np.array_equal(soft[[0, 2]], e[[0, 2]])
    hard = fg.gumbel_softmax(dx, hard=True, rng=1).compute(scheduler="sync")
    assert np.array_equal(hard, fg.gumbel_softmax(x, hard=True, rng=1), equal_nan=True)
    log = fg.gumbel_log_softmax(dx, rng=1).compute(scheduler="sync")
    assert np.array_equal(np.isneginf(log), np.isneginf(fg.gumbel_log_softmax(x, rng=1)))
    ok = x[[0, 2, 3]]
    dok = da.from_array(ok, chunks=(2, 5))
    assert np.array_equal(fg.gumbel_max(dok, rng=1).compute(), fg.gumbel_max(ok, rng=1))
    assert np.array_equal(fg.gumbel_topk(dok, 3, rng=1).compute(), fg.gumbel_topk(ok, 3, rng=1))
    assert np.array_equal(fg.multinomial(dok, 9, rng=1).compute(), fg.multinomial(ok, 9, rng=1))
    for f in (fg.gumbel_max, lambda a, rng: fg.gumbel_topk(a, 2, rng=rng)):
        with pytest.raises(ValueError, match="NaN"):
            f(dx, rng=1).compute(scheduler="sync")
    with pytest.raises(ValueError, match=r"\+inf"):
        fg.gumbel_softmax(da.from_array(np.array([[0.0, np.inf, 1.0]]), chunks=(1, 2)),
                          rng=1).compute(scheduler="sync")
    # a per-row tau merges the category axis: whole rows, the NumPy call's bits
    xf = np.random.default_rng(5).standard_normal((4, 12))
    t = np.linspace(0.5, 2.0, 4)
    assert np.array_equal(fg.gumbel_softmax(da.from_array(xf, chunks=(4, 5)), t, rng=1)
                          .compute(scheduler="sync"), fg.gumbel_softmax(xf, t, rng=1))
    with pytest.raises(ValueError, match="draw_chunks"):
        fg.categorical(dx, 3, draw_chunks=0)
    with pytest.raises(TypeError, match="draw_chunks"):
        fg.multinomial(x, 3, draw_chunks=1.5)


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


def test_task_kernel_threads(client, monkeypatch):
    """Tasks run their kernels on their share of the threads (docs/dask.md): all of them on
    the calling thread and, under the TBB layer, on a pool thread; else T // pool on a pool
    thread; T // nthreads in a worker."""
    import threading

    import dask

    from fastgumbel import _dask_graph
    from fastgumbel._dask_graph import task_threads
    from dask.system import CPU_COUNT
    T = fg.get_num_threads()
    assert task_threads() is None
    seen = {}

    def probe(name):
        seen[name] = task_threads()
        with dask.config.set(num_workers=1):
            seen[name + "1"] = task_threads()
    for shared in (True, False):
        monkeypatch.setattr(_dask_graph, "_shared_pool", lambda: shared)
        t = threading.Thread(target=probe, args=(str(shared),))
        t.start()
        t.join()
    monkeypatch.undo()
    assert seen == {"True": None, "True1": None, "False": max(1, T // CPU_COUNT), "False1": T}
    fg.gumbel_max(np.zeros((512, 4096), np.float32), rng=0)   # a parallel kernel has run
    import numba
    assert _dask_graph._shared_pool() == (numba.threading_layer() == "tbb")
    # a worker with 1 thread: its whole Numba pool
    n = client.compute(dask.delayed(task_threads)(), sync=True)
    assert n == client.compute(dask.delayed(fg.get_num_threads)(), sync=True)
    x = np.random.default_rng(2).standard_normal((64, 300)).astype(np.float32)
    dx = da.from_array(x, chunks=(8, 300))
    for f in (lambda a: fg.gumbel_softmax(a, 0.5, rng=3), lambda a: fg.gumbel_max(a, rng=3)):
        assert np.array_equal(f(dx).compute(scheduler="threads"), f(x))
