"""Threads and processes: no stream handed out twice, forked workers reseeded and alive,
spawned generators independent, concurrent kernel calls correct."""
import importlib.metadata
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numba
import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _has_tbb():
    try:
        importlib.metadata.version("tbb")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def run_script(code, timeout=120, env=None):
    """Run ``code`` in a fresh interpreter that imports this checkout's fastgumbel."""
    e = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    e.update(env or {})
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)                    # the script and its workers
        stdout, stderr = p.communicate()
        pytest.fail(f"subprocess hung for {timeout} s (a forked worker killed?): {stderr}")
    assert p.returncode == 0, stderr
    return stdout


def test_16_threads_never_receive_the_same_key():
    g = fg.Generator(12345)
    n_threads, per = 16, 1000
    got = [None] * n_threads
    start = threading.Barrier(n_threads)

    def work(i):
        start.wait()
        got[i] = [g.next_key() for _ in range(per)]

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    keys = [k for part in got for k in part]
    assert len(keys) == n_threads * per
    assert len(set(keys)) == len(keys)                       # no key twice
    assert sorted(k.stream for k in keys) == list(range(n_threads * per))
    for part in got:                                        # each thread sees increasing streams
        s = [k.stream for k in part]
        assert s == sorted(s)
    assert g.streams_used == n_threads * per


def test_threads_sharing_a_generator_get_distinct_reproducible_samples():
    # concurrent kernel launches from several threads (unsafe with Numba's workqueue layer)
    g = fg.Generator(99)
    x = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
    n_threads, per = 8, 6
    res = [None] * n_threads
    start = threading.Barrier(n_threads)

    def work(i):
        start.wait()
        mine = []
        for _ in range(per):
            key = g.next_key()
            mine.append((key, fg.gumbel_softmax(x, 0.7, rng=key), fg.gumbel_max(x, rng=key)))
        res[i] = mine

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    flat = [r for part in res for r in part]
    assert len({k for k, _, _ in flat}) == n_threads * per
    for key, y, idx in flat:                                 # equal to a serial replay
        assert np.array_equal(y, fg.gumbel_softmax(x, 0.7, rng=key))
        assert np.array_equal(idx, fg.gumbel_max(x, rng=key))
    firsts = {y.tobytes() for _, y, _ in flat}
    assert len(firsts) == len(flat)


@pytest.mark.skipif(not _has_tbb(), reason="the tbb package is not installed")
def test_tbb_threading_layer_is_selected():
    fg.gumbel(size=4, rng=0)                                     # the CPU backend is loaded
    numba.get_num_threads()                                 # the thread pool is started
    from fastgumbel.cpu import _threading
    if os.environ.get("NUMBA_THREADING_LAYER"):
        pytest.skip("the user chose NUMBA_THREADING_LAYER")
    assert numba.threading_layer() == "tbb", _threading.status


FORK_SCRIPT = """
    import multiprocessing as mp, os, sys
    import numpy as np, numba, fastgumbel as fg

    def init(b):
        global barrier
        barrier = b

    def work(i):
        if i < 4:
            barrier.wait(120)            # the first four tasks run in four different workers
        x = np.zeros((256, 512), np.float32)
        y = fg.gumbel_softmax(x, 1.0)        # a parallel kernel, default generator
        return os.getpid(), fg.gumbel(size=8).tolist(), float(y[0, 0])

    if __name__ == "__main__":
        # the parent runs parallel kernels first (GNU OpenMP would kill the children now)
        fg.gumbel_softmax(np.zeros((256, 512), np.float32), 1.0)
        parent = fg.gumbel(size=8).tolist()
        ctx = mp.get_context("fork")
        with ctx.Pool(4, initializer=init, initargs=(ctx.Barrier(4),)) as pool:
            out = pool.map(work, range(8), chunksize=1)
        # a bare os.fork, too
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, repr(fg.gumbel(size=8).tolist()).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        bare = eval(os.read(r, 1 << 16).decode())
        numba.get_num_threads()          # starts the pool even if the kernels are serial
        print(repr((numba.threading_layer(), parent, out, bare)))
"""


@pytest.mark.skipif(sys.platform.startswith("linux") and not _has_tbb(),
                    reason="on Linux fork safety needs the TBB layer (pip install tbb)")
def test_forked_workers_run_kernels_and_draw_different_noise():
    layer, parent, out, bare = eval(run_script(FORK_SCRIPT))
    pids = {pid for pid, _, _ in out}
    assert len(pids) == 4                                   # really several processes
    # each worker process has its own default generator: no two processes share noise
    per_pid = {}
    for pid, noise, y0 in out:
        per_pid.setdefault(pid, []).append((tuple(noise), y0))
    firsts = [tuple(v[0][0]) for v in per_pid.values()] + [tuple(parent), tuple(bare)]
    assert len(set(firsts)) == len(firsts), layer
    every = [n for v in per_pid.values() for n, _ in v] + [tuple(parent), tuple(bare)]
    assert len(set(every)) == len(every)


def test_spawned_generators_are_independent():
    parent = fg.Generator(2026)
    kids = parent.spawn(6)
    seeds = [k.seed for k in kids]
    assert len(set(seeds)) == 6 and parent.seed not in seeds
    assert [k.seed for k in fg.Generator(2026).spawn(6)] == seeds          # reproducible
    assert parent.streams_used == 0                                        # spawn uses no key
    n = 200_000
    fields = [fg.uniform(size=n, dtype=np.float64, rng=k.next_key()) for k in kids]
    fields.append(fg.uniform(size=n, dtype=np.float64, rng=parent.next_key()))
    a = np.array(fields)
    # each stream is uniform
    for f in a:
        assert stats.kstest(f, "uniform").pvalue > 1e-4
    # pairwise: no correlation, and the joint 8x8 histogram of (u_i, u_j) is uniform
    corr = np.corrcoef(a)
    off = corr[~np.eye(len(a), dtype=bool)]
    assert np.abs(off).max() < 5.5 / np.sqrt(n)
    pvals = []
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            h, _, _ = np.histogram2d(a[i], a[j], bins=8, range=[[0, 1], [0, 1]])
            pvals.append(stats.chisquare(h.ravel()).pvalue)
    # 21 pairs: with a Bonferroni bound, none should fall below 1e-3 / 21 by chance
    assert min(pvals) > 1e-3 / len(pvals), min(pvals)
    # children's children are new streams too
    grand = kids[0].spawn(3)
    assert not {g.seed for g in grand} & set(seeds + [parent.seed])


def test_keys_from_a_generator_give_uncorrelated_fields():
    g = fg.Generator(7)
    a = np.array([fg.gumbel(size=100_000, dtype=np.float64, rng=g) for _ in range(4)])
    corr = np.corrcoef(a)
    assert np.abs(corr[~np.eye(4, dtype=bool)]).max() < 5.5 / np.sqrt(a.shape[1])


def test_a_user_chosen_threading_layer_is_respected():
    out = run_script("""
        import numba, fastgumbel as fg
        from fastgumbel.cpu import _threading
        fg.gumbel(size=4, rng=0)
        numba.get_num_threads()
        print(numba.threading_layer(), "|", _threading.status)
    """, env={"NUMBA_THREADING_LAYER": "workqueue"})
    layer, status = (p.strip() for p in out.split("|"))
    assert layer == "workqueue" and "chosen by the user" in status


def test_an_already_started_pool_is_left_alone():
    out = run_script("""
        import numba, numpy as np
        from numba import njit, prange

        @njit(parallel=True)
        def f(a):
            for i in prange(a.size):
                a[i] = i
        f(np.zeros(4))                     # the user's own parallel code ran first
        layer = numba.threading_layer()
        import fastgumbel as fg
        from fastgumbel.cpu import _threading
        fg.gumbel(size=4, rng=0)
        print(layer, "|", numba.threading_layer(), "|", _threading.status)
    """)
    before, after, status = (p.strip() for p in out.split("|"))
    assert before == after and "already started" in status
