"""Command line: ``python -m fastgumbel info | demo | bench``."""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys

import numpy as np


def _chi2_sf(x, dof):
    """Upper tail of the chi-square distribution (see :func:`fastgumbel._demo.chi2_sf`)."""
    from ._demo import chi2_sf

    return chi2_sf(x, dof)


def info(_args):
    import numba

    import fastgumbel as fg
    from fastgumbel._backends import BACKENDS, backend_status

    fg.gumbel(size=8, rng=0)  # start the thread pool so the layer is known
    print(f"fastgumbel          {fg.__version__} (random stream spec v{fg.random.STREAM_SPEC_VERSION})")
    print(f"python              {platform.python_version()} ({platform.machine()})")
    print(f"numpy               {np.__version__}")
    print(f"numba               {numba.__version__}")
    print(f"threads             {numba.get_num_threads()} (layer: {numba.threading_layer()})")
    from fastgumbel.cpu import _threading
    print(f"thread setup        {_threading.status}")
    print(f"cpu                 {_vector_note()}")
    for b in BACKENDS[1:]:
        state = backend_status(b) if b != "cpu" else "available"
        print(f"{'backend ' + b:<20}{state}")
    for lib in ("scipy", "torch", "jax", "dask", "cupy", "matplotlib"):
        found = importlib.util.find_spec(lib) is not None
        print(f"{lib:<20}{'installed' if found else '-'}")
    return 0


def _vector_note():
    """The CPU LLVM compiles for, its widest vector ISA, and the vector width of fastgumbel's
    polynomial loops (512-bit on AVX-512 CPUs: _scalar.wide_vectors)."""
    import llvmlite.binding as llvm
    from numba.core import config

    name = config.CPU_NAME or llvm.get_host_cpu_name()
    feats = set((config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()).split(","))
    if not {"+avx512f", "+avx512vl", "+avx512bw", "+avx512dq"} <= feats:
        isa = "avx2" if "+avx2" in feats else "no avx2"
        return f"{name} ({isa})"
    return f"{name} (avx512: fastgumbel's polynomial loops use 512-bit vectors)"


def demo(args):
    from . import _demo

    if args.categories < 2 or args.draws < 1:
        print("demo: --categories must be >= 2 and --draws >= 1", file=sys.stderr)
        return 2
    return _demo.run(args.draws, args.categories, args.seed, args.backend, args.method,
                     args.figure)


def bench(args):
    # torch's and Numba's OpenMP pools spin-wait by default and then fight over the cores
    # when they alternate in one process; passive waiting keeps the comparison fair (set
    # before either runtime starts its threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from fastgumbel import _bench

    if args.suite == "draws":
        _bench.main_draws(args.repeats, args.threads)
        return 0
    if args.cold:
        _bench.cold_start()
        return 0
    dtype = {"float32": np.float32, "float64": np.float64}[args.dtype]
    _bench.main(args.rows, args.categories, dtype, args.repeats, args.threads, args.prime)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastgumbel",
                                     description="fast, exact Gumbel sampling")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, backends and threads").set_defaults(func=info)
    d = sub.add_parser("demo", help="check the Gumbel-max trick by Monte Carlo, at scale")
    d.add_argument("--draws", type=int, default=100_000_000,
                   help="number of draws (100,000,000)")
    d.add_argument("--categories", type=int, default=10, help="number of categories (10)")
    d.add_argument("--seed", type=int, default=2024, help="random seed (2024)")
    d.add_argument("--backend", default="auto", help="auto or cpu")
    d.add_argument("--method", choices=["gumbel", "inverse_cdf", "auto"], default="gumbel",
                   help="sampler: gumbel (the Gumbel-max trick, default), inverse_cdf, auto")
    d.add_argument("--figure", default="fastgumbel-demo.png", metavar="PATH",
                   help="PNG of Gumbel-Softmax samples across temperatures "
                        "(fastgumbel-demo.png; '' for none; needs matplotlib)")
    d.set_defaults(func=demo)
    b = sub.add_parser("bench", help="time fastgumbel against installed peers, side by side")
    b.add_argument("--rows", type=int, default=4096)
    b.add_argument("--categories", type=int, default=1024)
    b.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    b.add_argument("--repeats", type=int, default=7)
    b.add_argument("--threads", type=int, default=None, help="thread count (default: all)")
    b.add_argument("--suite", choices=["kernels", "draws"], default="kernels",
                   help="kernels (default): the fused kernels at --rows x --categories; "
                        "draws: categorical / multinomial / top-k at fixed sizes")
    b.add_argument("--prime", type=int, default=0, metavar="N",
                   help="N untimed calls of each implementation right before each of its "
                        "timed calls (steady state, as in a loop; default 0: every timed "
                        "call follows another library's)")
    b.add_argument("--cold", action="store_true",
                   help="instead: first-call times with an empty and a warm Numba cache")
    b.set_defaults(func=bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
