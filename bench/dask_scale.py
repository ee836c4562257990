"""Dask at scale (issue 21): ``python bench/dask_scale.py [throughput|rows|fixed|draws|all]``.

throughput: a 4096 x 1024 float32 array in 8 row chunks through Dask (threads scheduler)
against the NumPy call on the same array, interleaved, medians of the repeats (per round,
then the median of 3 rounds); also the category axis in 4 chunks (the column-chunked
graphs). A third column runs the same graph with every pool task's kernel on T // pool
threads (``fastgumbel._dask_graph.task_threads`` as under a non-TBB threading layer; with
TBB the tasks keep all T threads).

fixed: where the Dask call's time goes beyond the kernels, per case of the row chunks: CPU
time per call (process time, one kernel thread, synchronous scheduler, so nothing waits on
another thread) of the NumPy call, of the 8 blocks called directly, of a Dask graph of the
same shape whose tasks do no work (each returns a block result made before: Dask's fixed
cost, the final concatenation included) and of the Dask call; and the page faults per call.

draws: multinomial of 2**27 inverse-CDF draws over 1000 categories in tasks of 2**23 draws,
and categorical of 2**16 Gumbel-max draws over 1000 categories in tasks of 2**12 (16 tasks
each), on a LocalCluster of 1 and of 2 worker processes (1 thread each, Numba limited to 1
thread per worker) and on the threads scheduler: the time and the speed-up over 1 worker.
"""
import os
import statistics
import sys
import time

import numpy as np

import fastgumbel as fg


def _load():
    return os.getloadavg()[0]


def _cases(k):
    import dask.array as da
    soft = [("gumbel_softmax(tau=0.5)", lambda a: fg.gumbel_softmax(a, 0.5, rng=k)),
            ("gumbel_softmax(tau=1)", lambda a: fg.gumbel_softmax(a, rng=k)),
            ("gumbel_softmax(tau=0.5, hard=True)",
             lambda a: fg.gumbel_softmax(a, 0.5, hard=True, rng=k))]
    draws = [("gumbel_max", lambda a: fg.gumbel_max(a, rng=k)),
             ("categorical(n=4)", lambda a: fg.categorical(a, 4, rng=k))]
    noise = [("gumbel(size, like=)", lambda a: fg.gumbel(size=a.shape, rng=k,
                                                         like=a if isinstance(a, da.Array)
                                                         else None))]
    return soft + draws + noise


def throughput(reps=15, rounds=3, chunkings=((512, 1024), (512, 256))):
    """Per case: NumPy call, Dask (threads scheduler) with the task thread policy, and Dask
    with every pool task's kernel on T // pool threads, interleaved; medians."""
    import dask.array as da

    from fastgumbel import _dask_graph
    x = np.random.default_rng(0).standard_normal((4096, 1024)).astype(np.float32)
    k = fg.Key(1)
    policy = _dask_graph._shared_pool
    print(f"load average at start: {_load():.1f}")
    print("| call | chunks | NumPy ms | Dask ms | Dask / NumPy | T // pool threads per task / "
          "NumPy | CPU time: Dask / NumPy | CPU: T // pool / NumPy | load |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for chunks in chunkings:
        dx = da.from_array(x, chunks=chunks)
        for name, f in _cases(k):
            lazy = f(dx)

            def old():
                _dask_graph._shared_pool = lambda: False
                try:
                    return lazy.compute(scheduler="threads")
                finally:
                    _dask_graph._shared_pool = policy
            fns = [lambda: f(x), lambda: lazy.compute(scheduler="threads"), old]
            for fn in fns:
                fn()                                  # warm: kernels loaded
            ratios, cpu = [], []
            for _ in range(rounds):
                times = [[] for _ in fns]
                cpus = [[] for _ in fns]
                for _ in range(reps):                 # interleaved: the load hits all alike
                    for t, c, fn in zip(times, cpus, fns):
                        t0, c0 = time.perf_counter(), time.process_time()
                        fn()
                        t.append(time.perf_counter() - t0)
                        c.append(time.process_time() - c0)
                ratios.append([statistics.median(t) for t in times])
                cpu.append([statistics.median(c) for c in cpus])
            tn, td, to = (statistics.median(r[i] for r in ratios) for i in range(3))
            cn, cd, co = (statistics.median(r[i] for r in cpu) for i in range(3))
            print(f"| {name} | {chunks} | {tn * 1e3:.1f} | {td * 1e3:.1f} | {td / tn:.2f} | "
                  f"{to / tn:.2f} | {cd / cn:.2f} | {co / cn:.2f} | {_load():.1f} |", flush=True)


def _cpu_faults(fn, reps):
    """(median process time, mean minor page faults) per call of ``fn``."""
    import resource
    ts, faults = [], 0
    for _ in range(reps):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        fn()
        ts.append(time.process_time() - t0)
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return statistics.median(ts), faults / reps


def fixed(reps=15, rounds=3):
    """The CPU time of a Dask call split into its kernels and Dask's fixed cost (docstring)."""
    import dask.array as da

    from fastgumbel import _dask_graph
    x = np.random.default_rng(0).standard_normal((4096, 1024)).astype(np.float32)
    dx = da.from_array(x, chunks=(512, 1024))
    grid = _dask_graph.Grid(dx, -1)
    k = fg.Key(1)
    print(f"load average at start: {_load():.1f}")
    print("| call | NumPy ms | 8 blocks ms | no-work graph ms | Dask ms | Dask - blocks | "
          "page faults: NumPy / Dask / no-work | load |\n|---|---|---|---|---|---|---|---|")
    for name, f in _cases(k):
        lazy = f(dx)
        made = [b.compute(scheduler="sync") for b in lazy.blocks]
        blocks = [x[r:r + 512] for r in range(0, 4096, 512)]
        last = made[0].shape[-1] if made[0].ndim == 2 else None
        empty = _dask_graph.rows_map(grid, lambda b, row0: made[row0 // 512], made[0].dtype, last)
        fns = [lambda: f(x), lambda: [f(b) for b in blocks],
               lambda: empty.compute(scheduler="sync"), lambda: lazy.compute(scheduler="sync")]
        with fg.threads(1):
            for fn in fns:
                fn()
            res = [[_cpu_faults(fn, reps) for fn in fns] for _ in range(rounds)]
        t = [statistics.median(r[i][0] for r in res) * 1e3 for i in range(4)]
        pf = [statistics.median(r[i][1] for r in res) for i in range(4)]
        print(f"| {name} | {t[0]:.2f} | {t[1]:.2f} | {t[2]:.2f} | {t[3]:.2f} | {t[3] - t[1]:.2f} | "
              f"{pf[0]:.0f} / {pf[3]:.0f} / {pf[2]:.0f} | {_load():.1f} |", flush=True)


def _warm():
    fg.multinomial(np.zeros(1000), 2**20, rng=1, method="inverse_cdf")
    fg.categorical(np.zeros((1, 1000)), 2**10, rng=1, method="gumbel")


def _draw_cases(x):
    """(name, lazy result, expected, draws) of the many-draws cases: 16 tasks each."""
    n_cdf, n_gum = 2**27, 2**16
    return [
        ("multinomial inverse_cdf, n = 2**27, tasks of 2**23",
         fg.multinomial(x, n_cdf, rng=fg.Key(5), method="inverse_cdf", draw_chunks=2**23),
         lambda r: int(r.sum()) == n_cdf, n_cdf),
        ("categorical gumbel, n = 2**16, tasks of 2**12 (index sum)",
         fg.categorical(x, n_gum, rng=fg.Key(6), method="gumbel", draw_chunks=2**12).sum(),
         lambda r: 0 <= int(r) <= n_gum * 999, n_gum),
    ]


def _timed(compute, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        r = compute()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), r, sum(ts)


def _busy(records):
    """(seconds of task compute over all workers, tasks per worker) of a task stream."""
    busy, per = 0.0, {}
    for r in records:
        per[r["worker"]] = per.get(r["worker"], 0) + 1
        busy += sum(s["stop"] - s["start"] for s in r["startstops"] if s["action"] == "compute")
    return busy, "/".join(str(v) for v in sorted(per.values(), reverse=True))


def draws():
    """The many-draws cases on a LocalCluster of 1 and 2 worker processes (1 thread each,
    NUMBA_NUM_THREADS=1) and on the threads scheduler; medians of 3."""
    import dask.array as da
    import distributed
    p = np.random.default_rng(21).dirichlet(np.ones(1000))
    x = da.from_array(np.log(p)[None, :], chunks=(1, 1000))
    print(f"load average at start: {_load():.1f}")
    print("| case | where | time s | draws/s | speed-up over 1 worker | tasks running at once "
          "(mean) | tasks per worker | load |\n|---|---|---|---|---|---|---|---|")
    for name, lazy, ok, n in _draw_cases(x):
        times = {}
        for workers in (1, 2):
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                          processes=True, dashboard_address=":0",
                                          silence_logs=40,
                                          env={"NUMBA_NUM_THREADS": "1"}) as cluster:
                with distributed.Client(cluster) as c:
                    c.run(_warm)                          # every worker loads the kernels
                    with distributed.get_task_stream(c) as ts:
                        t, r, total = _timed(lambda: c.compute(lazy, sync=True))
                    busy, tasks = _busy(ts.data)
            assert ok(r)
            times[workers] = t
            print(f"| {name} | {workers} worker(s) | {t:.2f} | {n / t:.3g} | {times[1] / t:.2f} | "
                  f"{busy / total:.2f} | {tasks} | {_load():.1f} |", flush=True)
        t, r, _ = _timed(lambda: lazy.compute(scheduler="threads"))
        assert ok(r)
        print(f"| {name} | threads scheduler ({os.cpu_count()} threads) | {t:.2f} | {n / t:.3g} | "
              f"{times[1] / t:.2f} | | | {_load():.1f} |", flush=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    print(f"machine: {os.cpu_count()} cores (shared, contended)")
    if what in ("throughput", "all"):
        throughput()
    if what == "rows":
        throughput(chunkings=((512, 1024),))
    if what == "fixed":
        fixed()
    if what in ("draws", "all"):
        draws()
