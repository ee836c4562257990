"""Per-call time of this checkout against an earlier commit, in one process, alternating.

    python bench/ab_versions.py REV [--rounds 15]

The package at ``REV`` is exported to a temporary folder as ``fastgumbel_old`` (its
absolute module names rewritten), imported beside the working tree's ``fastgumbel``, and
both time the same calls in alternating rounds (A B A B ...), so that machine noise and
cache state fall on both alike. Prints the median per-call time of each and their ratio.
Meant for restructurings that must not slow the common calls down (issue 16).
"""
import argparse
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
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        export_old(args.rev, pathlib.Path(tmp))
        sys.path.insert(0, tmp)
        import fastgumbel as new
        import fastgumbel_old as old
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
                times = {k: [] for k in fs}
                for r in range(args.rounds):
                    for k in (("new", "old") if r % 2 else ("old", "new")):
                        times[k].append(per_call(fs[k], calls[name]))
                med = {k: statistics.median(v) for k, v in times.items()}
                print(f"{name:>10} tau={tau}: new {med['new'] * 1e6:9.1f} us   "
                      f"old {med['old'] * 1e6:9.1f} us   new/old {med['new'] / med['old']:.3f}")


if __name__ == "__main__":
    main()
