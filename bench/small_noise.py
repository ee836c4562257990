"""Is a slow 8x16 call the code or the machine? The small NumPy call beside a pure-Python
reference, in rounds, in one process (issue 18).

    PYTHONPATH=. python bench/small_noise.py [--rounds 8] [--series SECONDS]

Each round times ``fg.gumbel_softmax(x, 1.0, rng=fg.Key(1))`` on an 8x16 float32 array by
the issue's measure (``timeit``, min of 7 repeats of 2000 calls), then a reference that
runs no fastgumbel code (40 dict lookups and a small ``numpy.empty``) the same way, and
prints both and their ratio. Both moving together (a steady ratio) says the machine
changed speed, not the call. ``--series``: the reference alone, the min of each ~0.1 s
window for SECONDS seconds: periods of a slower machine show as runs of high values.
"""
import argparse
import os
import time
import timeit

import numpy as np

import fastgumbel as fg

_TABLE = {i: i for i in range(40)}


def reference():
    """Interpreter work of the small call's scale that touches no fastgumbel code."""
    s = 0
    for i in range(40):
        s += _TABLE[i]
    np.empty((8, 16), np.float32)
    return s


def issue_measure(f):
    """us per call: min of 7 repeats of 2000 calls."""
    return min(timeit.repeat(f, number=2000, repeat=7)) / 2000 * 1e6


def series(seconds):
    """The reference's min per ~0.1 s window (us per call) over ``seconds`` seconds."""
    mins, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        stop, best = time.perf_counter() + 0.1, float("inf")
        while time.perf_counter() < stop:
            t = time.perf_counter()
            for _ in range(200):
                reference()
            best = min(best, (time.perf_counter() - t) / 200 * 1e6)
        mins.append(best)
    return mins


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--series", type=float, metavar="SECONDS")
    args = ap.parse_args()
    if args.series:
        print(" ".join(f"{v:.2f}" for v in series(args.series)))
        return
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)

    def call():
        return fg.gumbel_softmax(x, 1.0, rng=fg.Key(1))

    for _ in range(3000):
        call()
        reference()
    print(f"PYTHONHASHSEED={os.environ.get('PYTHONHASHSEED')}; us per call (min of 7 x 2000)")
    for r in range(args.rounds):
        a, b = issue_measure(call), issue_measure(reference)
        print(f"round {r}: call {a:5.2f}  reference {b:5.2f}  ratio {a / b:4.2f}", flush=True)


if __name__ == "__main__":
    main()
