"""Per-call time of this checkout against an earlier commit, in one process, alternating.

    python bench/ab_versions.py REV [--rounds 15] [--small | --torch THREADS]

The package at ``REV`` is exported to a temporary folder as ``fastgumbel_old`` (its
absolute module names rewritten), imported beside the working tree's ``fastgumbel``, and
both time the same calls in alternating rounds (A B A B ...), so that machine noise and
cache state fall on both alike. Prints the median per-call time of each and their ratio.
Meant for restructurings that must not slow the common calls down (issue 16).
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def export_old(rev, dest):
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "fastgumbel"],
                         check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    old = dest / "fastgumbel_old"
    (dest / "fastgumbel").rename(old)
    for p in old.rglob("*.py"):
        p.write_text(re.sub(r"\bfastgumbel\.(?=[A-Za-z_])", "fastgumbel_old.", p.read_text()))
    return old


def per_call(f, calls):
    t = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - t) / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--small", action="store_true",
                    help="issue 18's small calls (8x16: Key, Generator, seed, hard, tau 0.5)")
    ap.add_argument("--torch", type=int, metavar="THREADS",
                    help="fastgumbel.torch at 8x16 against the old one and F.gumbel_softmax")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        export_old(args.rev, pathlib.Path(tmp))
        sys.path.insert(0, tmp)
        import fastgumbel as new
        import fastgumbel_old as old
        if args.small:
            small_calls(new, old, args)
            return
        if args.torch:
            torch_calls(args)
            return
        rng = np.random.default_rng(0)
        cases = {"8x16": rng.standard_normal((8, 16)).astype(np.float32),
                 "4096x1024": rng.standard_normal((4096, 1024)).astype(np.float32)}
        calls = {"8x16": 2000, "4096x1024": 5}
        print(f"gumbel_softmax float32, key rng, {args.rounds} alternating rounds; "
              f"new = working tree, old = {args.rev}")
        for name, x in cases.items():
            for tau in (1.0, 0.5):
                fs = {"new": lambda m=new: m.gumbel_softmax(x, tau, rng=m.Key(1)),
                      "old": lambda m=old: m.gumbel_softmax(x, tau, rng=m.Key(1))}
                assert np.array_equal(fs["new"](), fs["old"]())
                med = alternate(fs, calls[name], args.rounds)[0]
                print(f"{name:>10} tau={tau}: new {med['new'] * 1e6:9.1f} us   "
                      f"old {med['old'] * 1e6:9.1f} us   new/old {med['new'] / med['old']:.3f}")


def alternate(fs, calls, rounds):
    """Median and min per-call time of each of ``fs`` over ``rounds`` alternating rounds."""
    times = {k: [] for k in fs}
    for r in range(rounds):
        for k in (tuple(fs) if r % 2 else tuple(fs)[::-1]):
            times[k].append(per_call(fs[k], calls))
    return ({k: statistics.median(v) for k, v in times.items()},
            {k: min(v) for k, v in times.items()})


def small_calls(new, old, args):
    """Issue 18's small NumPy calls (8x16 float32): a Key, a Generator, an int seed, hard,
    tau 0.5; 2000 calls a round (the target: under 5 us a call)."""
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    gens = {"new": new.default_rng(0), "old": old.default_rng(0)}
    cases = {"Key": lambda m, g: m.gumbel_softmax(x, 1.0, rng=m.Key(1)),
             "Generator": lambda m, g: m.gumbel_softmax(x, 1.0, rng=g),
             "int seed": lambda m, g: m.gumbel_softmax(x, 1.0, rng=1),
             "hard": lambda m, g: m.gumbel_softmax(x, 1.0, hard=True, rng=m.Key(1)),
             "tau 0.5": lambda m, g: m.gumbel_softmax(x, 0.5, rng=m.Key(1))}
    mods = {"new": new, "old": old}
    print(f"gumbel_softmax 8x16 float32, {args.rounds} alternating rounds of 2000 calls; "
          f"new = working tree, old = {args.rev}; median (min) us per call")
    for name, case in cases.items():
        fs = {k: (lambda c=case, m=m, g=gens[k]: c(m, g)) for k, m in mods.items()}
        assert np.array_equal(fs["new"](), fs["old"]()) or name == "Generator"
        med, low = alternate(fs, 2000, args.rounds)
        print(f"{name:>10}: new {med['new'] * 1e6:6.2f} ({low['new'] * 1e6:5.2f})   "
              f"old {med['old'] * 1e6:6.2f} ({low['old'] * 1e6:5.2f})   "
              f"old/new {med['old'] / med['new']:.2f}")


def torch_calls(args):
    """``fastgumbel.torch.gumbel_softmax`` at 8x16 float32, tau 1, new and old against
    ``F.gumbel_softmax``, soft and hard, forward and forward + backward: single calls in
    turn (``fastgumbel._bench.median_alternating``, as bench/bridges.py), THREADS threads."""
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import numba
    import torch
    import torch.nn.functional as F

    import fastgumbel.torch as new
    import fastgumbel_old.torch as old
    from fastgumbel._bench import median_alternating
    torch.set_num_threads(args.torch)
    numba.set_num_threads(args.torch)
    rs = np.random.default_rng(0)
    x = torch.from_numpy(rs.standard_normal((8, 16)).astype(np.float32))
    gy = torch.from_numpy(rs.standard_normal((8, 16)).astype(np.float32))
    xg = x.clone().requires_grad_(True)

    def fwd_bwd(fn, hard):
        def run():
            fn(xg, 1.0, hard=hard).backward(gy)
            xg.grad = None
        return run

    print(f"8x16 float32, tau 1, {args.torch} thread(s), median of {args.rounds} single calls in "
          f"turn (us); new = working tree, old = {args.rev}")
    for hard in (False, True):
        for case in ("forward", "fwd+bwd"):
            fs = {k: (fwd_bwd(fn, hard) if case == "fwd+bwd" else
                      (lambda fn=fn: fn(x, 1.0, hard=hard)))
                  for k, fn in (("new", new.gumbel_softmax), ("old", old.gumbel_softmax),
                                ("F", F.gumbel_softmax))}
            t = median_alternating(fs, args.rounds, warmup=3)
            print(f"{'hard' if hard else 'soft'} {case:8s} new {t['new'] * 1e6:7.1f}  old "
                  f"{t['old'] * 1e6:7.1f}  F {t['F'] * 1e6:7.1f}   F/new {t['F'] / t['new']:.2f}"
                  f"  F/old {t['F'] / t['old']:.2f}", flush=True)


if __name__ == "__main__":
    main()
