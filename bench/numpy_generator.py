"""``fg.default_rng(s)`` against ``np.random.default_rng(s)``, the same call side by side.

    python bench/numpy_generator.py [--repeats 15] [--n 1000000] [--threads N]

Each row calls one ``Generator`` method with the same arguments on both generators (float64,
NumPy's defaults). Median of alternating runs (``fastgumbel._bench.median_alternating``);
"ratio" is NumPy's time / fastgumbel's (> 1: fastgumbel is faster).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import fastgumbel as fg  # noqa: E402
from fastgumbel._bench import median_alternating  # noqa: E402


def cases(n):
    p = np.random.default_rng(1).random(1000)
    p /= p.sum()
    return {
        f"random({n})": ("random", (n,), {}),
        f"random({n}, float32)": ("random", (n,), {"dtype": np.float32}),
        f"uniform(-1, 1, {n})": ("uniform", (-1.0, 1.0, n), {}),
        f"gumbel(0, 1, {n})": ("gumbel", (0.0, 1.0, n), {}),
        f"gumbel(loc[1000], 2, ({n // 1000}, 1000))": (
            "gumbel", (np.arange(1000.0), 2.0, (n // 1000, 1000)), {}),
        f"exponential(2, {n})": ("exponential", (2.0, n), {}),
        f"standard_exponential({n}, float32)": ("standard_exponential", (n,),
                                                  {"dtype": np.float32}),
        f"choice(1000, {n})": ("choice", (1000, n), {}),
        f"choice(1000, {n}, p)": ("choice", (1000, n), {"p": p}),
        f"choice({n}, 1000, replace=False)": ("choice", (n, 1000), {"replace": False}),
        f"choice(1000, 100, replace=False, p)": ("choice", (1000, 100),
                                                 {"replace": False, "p": p}),
    }


def run(n, repeats):
    ours, theirs = fg.default_rng(0), np.random.default_rng(0)
    rows = []
    for name, (method, args, kwargs) in cases(n).items():
        impls = {"fastgumbel": lambda m=method, a=args, k=kwargs: getattr(ours, m)(*a, **k),
                 "numpy": lambda m=method, a=args, k=kwargs: getattr(theirs, m)(*a, **k)}
        t = median_alternating(impls, repeats, warmup=2)
        rows.append((name, t["fastgumbel"], t["numpy"]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    import numba

    if a.threads is not None:
        numba.set_num_threads(a.threads)
    table = run(a.n, a.repeats)
    print(f"numba threads={numba.get_num_threads()}, numpy {np.__version__}; median of "
          f"{a.repeats} alternating runs")
    print("| call | fastgumbel ms | numpy ms | ratio (numpy / ours) |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in table:
        print(f"| `{name}` | {ours * 1e3:.3f} | {theirs * 1e3:.3f} | {theirs / ours:.2f} |")


if __name__ == "__main__":
    main()
