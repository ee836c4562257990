"""Dask at scale (issue 21): ``python bench/dask_scale.py [throughput|draws|all]``.

throughput: a 4096 x 1024 float32 array in 8 row chunks through Dask (threads scheduler)
against the NumPy call on the same array, interleaved, medians of the repeats; also the
category axis in 4 chunks (the column-chunked graphs).

draws: multinomial of n inverse-CDF draws over 1000 categories (2**29) split into tasks of 2**25
draws, on a LocalCluster of 1 and of 2 worker processes (1 thread each, Numba limited to 1
thread per worker): the time and the speed-up from the second worker.
"""
import os
import statistics
import sys
import time

import numpy as np

import fastgumbel as fg


def _median_pair(f_np, f_dask, reps=9):
    a, b = [], []
    for _ in range(reps):          # interleaved: the machine's load hits both alike
        t = time.perf_counter()
        f_np()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        f_dask()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def throughput():
    import dask.array as da
    x = np.random.default_rng(0).standard_normal((4096, 1024)).astype(np.float32)
    k = fg.Key(1)
    print("| call | chunks | NumPy ms | Dask ms | Dask / NumPy |\n|---|---|---|---|---|")
    for chunks in [(512, 1024), (512, 256)]:
        dx = da.from_array(x, chunks=chunks)
        for name, f in [("gumbel_softmax(tau=0.5)", lambda a: fg.gumbel_softmax(a, 0.5, rng=k)),
                        ("gumbel_softmax(tau=1)", lambda a: fg.gumbel_softmax(a, rng=k)),
                        ("gumbel_max", lambda a: fg.gumbel_max(a, rng=k)),
                        ("gumbel_topk(k=16)", lambda a: fg.gumbel_topk(a, 16, rng=k))]:
            lazy = f(dx)
            lazy.compute(scheduler="threads")         # warm: kernels loaded
            f(x)
            tn, td = _median_pair(lambda: f(x), lambda: lazy.compute(scheduler="threads"))
            print(f"| {name} | {chunks} | {tn * 1e3:.1f} | {td * 1e3:.1f} | {td / tn:.2f} |")


def _warm():
    fg.multinomial(np.zeros(1000), 2**20, rng=1, method="inverse_cdf")


def draws(n=2**29, per_task=2**25):
    import dask.array as da
    import distributed
    p = np.random.default_rng(21).dirichlet(np.ones(1000))
    x = da.from_array(np.log(p), chunks=1000)
    lazy = fg.multinomial(x, n, rng=fg.Key(5), method="inverse_cdf", draw_chunks=per_task)
    print(f"multinomial inverse_cdf, n = {n} over 1000 categories, {n // per_task} tasks")
    times = {}
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=40,
                                      env={"NUMBA_NUM_THREADS": "1"}) as cluster:
            with distributed.Client(cluster) as c:
                c.run(_warm)                          # every worker loads the kernels
                c.compute(fg.multinomial(x, 2**20, rng=1, method="inverse_cdf"), sync=True)
                t = time.perf_counter()
                counts = c.compute(lazy, sync=True)
                times[workers] = time.perf_counter() - t
        assert int(counts.sum()) == n
        print(f"{workers} worker(s): {times[workers]:.2f} s "
              f"({n / times[workers] / 1e6:.0f} M draws/s)")
    print(f"speed-up from the second worker: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    print(f"machine: {os.cpu_count()} cores (shared, contended)")
    if what in ("throughput", "all"):
        throughput()
    if what in ("draws", "all"):
        draws()
