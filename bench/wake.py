"""How long the first parallel call takes after the main thread paused (spin or sleep).

On small virtual machines an idle vCPU can take milliseconds to wake, which weighs on a
5 ms kernel timed right after another library's call (bench/RESULTS.md, "Waking an idle
vCPU"). Run: ``python bench/wake.py``.
"""
import time

import numpy as np
from numba import njit, prange

import fastgumbel  # noqa: F401  (its threading-layer setup: TBB where available)


@njit(parallel=True)
def _touch(a):
    for i in prange(a.shape[0]):
        a[i] += 1.0


def _spin(d):
    t = time.perf_counter()
    while time.perf_counter() - t < d:
        pass


def main(repeats=15):
    a = np.zeros(2)
    _touch(a)
    print(f"{'pause':>8} {'after spin':>12} {'after sleep':>12}   (median of {repeats})")
    for d in (0.0, 0.001, 0.005, 0.02, 0.08):
        row = []
        for pause in (_spin, time.sleep):
            ts = []
            for _ in range(repeats):
                pause(d)
                t = time.perf_counter()
                _touch(a)
                ts.append(time.perf_counter() - t)
            row.append(np.median(ts) * 1e6)
        print(f"{d * 1e3:>6.0f}ms {row[0]:>10.1f}us {row[1]:>10.1f}us")


if __name__ == "__main__":
    main()
