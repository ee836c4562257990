"""Command line: ``python -m fastgumbel info | demo | bench``."""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import sys
import time

import numpy as np


def _chi2_sf(x, dof):
    """Upper tail of the chi-square distribution: Q(dof/2, x/2), regularized gamma."""
    a, z = dof / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    lg = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # series for P, then 1 - P
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - total * math.exp(lg))
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(lg) * h


def info(_args):
    import numba

    import fastgumbel as fg
    from fastgumbel._dispatch import KNOWN_BACKENDS, backend_status

    fg.gumbel(8, rng=0)  # start the thread pool so the layer is known
    print(f"fastgumbel          {fg.__version__} (random stream spec v{fg.random.STREAM_SPEC_VERSION})")
    print(f"python              {platform.python_version()} ({platform.machine()})")
    print(f"numpy               {np.__version__}")
    print(f"numba               {numba.__version__}")
    print(f"threads             {numba.get_num_threads()} (layer: {numba.threading_layer()})")
    from fastgumbel import _threading
    print(f"thread setup        {_threading.status}")
    print(f"cpu                 {_vector_note()}")
    for b in KNOWN_BACKENDS[1:]:
        state = backend_status(b) if b != "cpu" else "available"
        print(f"{'backend ' + b:<20}{state}")
    for lib in ("scipy", "torch", "jax", "dask", "cupy", "matplotlib"):
        found = importlib.util.find_spec(lib) is not None
        print(f"{lib:<20}{'installed' if found else '-'}")
    return 0


def _vector_note():
    """The CPU LLVM compiles for, its widest vector ISA, and the 512-bit opt-in (README)."""
    import llvmlite.binding as llvm
    from numba.core import config

    name = config.CPU_NAME or llvm.get_host_cpu_name()
    feats = (config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()).split(",")
    if "+avx512f" not in feats:
        isa = "avx2" if "+avx2" in feats else "no avx2"
        return f"{name} ({isa})"
    if "-prefer-256-bit" in feats:
        return f"{name} (avx512, 512-bit vectors enabled by NUMBA_CPU_FEATURES)"
    return f"{name} (avx512; LLVM may keep 256-bit vectors: see README, Performance)"


def demo(args):
    import fastgumbel as fg

    K, N = args.categories, args.draws
    if K < 2 or N < 1:
        print("demo: --categories must be >= 2 and --draws >= 1", file=sys.stderr)
        return 2
    logits = np.linspace(2.0, -2.0, K)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    rng = fg.default_rng(args.seed)
    print(f"Gumbel-max trick: {N:,} draws of argmax(logits + Gumbel noise) over {K} categories "
          f"(seed {args.seed}, {args.backend} backend)")
    rows = 256                                 # one batch: rows x per_row draws, in parallel
    counts = np.zeros(K, np.int64)
    done = 0
    tiled = np.tile(logits, (rows, 1))
    fg.multinomial(tiled[:1], 1, rng=0, backend=args.backend)   # compile outside the timing
    t0 = time.perf_counter()
    while done < N:
        per_row = max(1, min(4096, (N - done) // rows))
        batch = min(N - done, rows * per_row)
        r = max(1, batch // per_row)
        c = fg.multinomial(tiled[:r], per_row, rng=rng, backend=args.backend)
        counts += c.sum(0)
        done += r * per_row
        if sys.stderr.isatty():
            print(f"\r  {done / N:6.1%} of draws", end="", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    if sys.stderr.isatty():
        print("\r" + " " * 30 + "\r", end="", file=sys.stderr)
    freq = counts / done
    expected = p * done
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    pval = _chi2_sf(chi2, K - 1)
    print(f"\n{'category':>8} {'logit':>8} {'softmax p':>12} {'empirical':>12} {'count':>12}")
    for i in range(K):
        print(f"{i:>8} {logits[i]:>8.3f} {p[i]:>12.6f} {freq[i]:>12.6f} {counts[i]:>12,}")
    print(f"\nchi-square = {chi2:.2f} on {K - 1} degrees of freedom, p-value = {pval:.4f} "
          f"({'consistent with' if pval > 1e-3 else 'NOT consistent with'} softmax(logits))")
    print(f"throughput: {done / elapsed / 1e6:.1f} M draws/s "
          f"({done * K / elapsed / 1e6:.0f} M noise values/s) in {elapsed:.2f} s")
    return 0 if pval > 1e-6 else 1


def bench(args):
    # torch's and Numba's OpenMP pools spin-wait by default and then fight over the cores
    # when they alternate in one process; passive waiting keeps the comparison fair (set
    # before either runtime starts its threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from fastgumbel import _bench

    if args.cold:
        _bench.cold_start()
        return 0
    dtype = {"float32": np.float32, "float64": np.float64}[args.dtype]
    _bench.main(args.rows, args.categories, dtype, args.repeats, args.threads)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastgumbel",
                                     description="fast, exact Gumbel sampling")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, backends and threads").set_defaults(func=info)
    d = sub.add_parser("demo", help="check the Gumbel-max trick by Monte Carlo")
    d.add_argument("--draws", type=int, default=10_000_000, help="number of draws (10,000,000)")
    d.add_argument("--categories", type=int, default=10, help="number of categories (10)")
    d.add_argument("--seed", type=int, default=2024, help="random seed (2024)")
    d.add_argument("--backend", default="auto", help="auto or cpu")
    d.set_defaults(func=demo)
    b = sub.add_parser("bench", help="time fastgumbel against installed peers, side by side")
    b.add_argument("--rows", type=int, default=4096)
    b.add_argument("--categories", type=int, default=1024)
    b.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    b.add_argument("--repeats", type=int, default=7)
    b.add_argument("--threads", type=int, default=None, help="thread count (default: all)")
    b.add_argument("--cold", action="store_true",
                   help="instead: first-call times with an empty and a warm Numba cache")
    b.set_defaults(func=bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
