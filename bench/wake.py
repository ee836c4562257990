"""When does the second thread join a parallel kernel after the caller paused?

Right after another library's long call, fastgumbel's 3-4 ms kernels run slower
(bench/RESULTS.md, "Why the two regimes differ"). This script shows one of the causes on a
plain ``prange`` kernel of 128 equal items (about 0.7 ms of work in all): after the main
thread did nothing, spun in Python, or slept for ``--pause`` ms, it reports the call's time,
when the worker thread started its first item (from the cycle counter, relative to the
call), the share of items the worker ran, and the share of calls whose items all ran on one
CPU (the worker woken on the caller's CPU, taking turns with it). Run: ``python bench/wake.py`` (``NUMBA_THREADING_LAYER=omp`` to compare
layers; fastgumbel's own choice, TBB where available, is made first).
"""
import argparse
import ctypes
import time

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import get_thread_id

from fastgumbel.cpu import _threading

# fastgumbel picks its threading layer (TBB where available) before its first kernel; this
# script's own kernel must run on the same layer, so the choice is made here first
_threading.configure()


@intrinsic
def _cycles(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


@njit
def _now():
    return _cycles()


_libc = ctypes.CDLL(None)
_getcpu = _libc.sched_getcpu          # glibc; Linux only, as is this script's question
_getcpu.restype = ctypes.c_int
_getcpu.argtypes = []


@njit(parallel=True)
def _work(tid, start, cpu, n_inner):
    for i in prange(tid.shape[0]):
        start[i] = _cycles()
        tid[i] = get_thread_id()
        cpu[i] = _getcpu()
        s = 0.0
        for j in range(n_inner):
            s += np.sqrt(j + s)
        if s < 0.0:          # never: keeps the loop from being optimized away
            tid[i] = -1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pause", type=float, default=70.0, help="ms (default 70, a peer's call)")
    p.add_argument("--repeats", type=int, default=15)
    a = p.parse_args()
    import numba
    tid = np.zeros(128, np.int64)
    start = np.zeros(128, np.int64)
    cpu = np.zeros(128, np.int64)
    _work(tid, start, cpu, 2000)
    c0, t0 = _now(), time.perf_counter()
    time.sleep(0.05)
    hz = (_now() - c0) / (time.perf_counter() - t0)
    d = a.pause / 1e3

    def spin():
        t = time.perf_counter()
        while time.perf_counter() - t < d:
            pass

    print(f"threading layer {numba.threading_layer()}, {numba.get_num_threads()} threads, "
          f"pause {a.pause:g} ms, medians of {a.repeats}")
    print(f"{'before the call':>16} {'call':>9} {'worker starts':>14} {'worker share':>13} "
          f"{'on one CPU':>11}")
    for name, pause in (("nothing", lambda: None), ("spin", spin),
                        ("sleep", lambda: time.sleep(d))):
        calls, firsts, shares, one_cpu = [], [], [], []
        for _ in range(a.repeats):
            pause()
            c = _now()
            t = time.perf_counter()
            _work(tid, start, cpu, 2000)
            calls.append(time.perf_counter() - t)
            one_cpu.append(len(np.unique(cpu)) == 1)
            w = tid != 0
            firsts.append((start[w].min() - c) / hz if w.any() else np.nan)
            shares.append(w.mean())
        first = np.nanmedian(firsts) * 1e3 if not np.all(np.isnan(firsts)) else np.nan
        print(f"{name:>16} {np.median(calls) * 1e3:7.2f}ms {first:12.3f}ms {np.median(shares):13.2f} "
              f"{np.mean(one_cpu):11.2f}")


if __name__ == "__main__":
    main()
