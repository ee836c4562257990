"""Gumbel-Rao backward (issue 23): time per backward against K, peak memory at K = 100,
and the variance of the gradient over seeds against straight-through.

    python bench/gumbel_rao.py time      # 4096x1024 float32, K = 1..16, ST backward beside
    python bench/gumbel_rao.py time --old REV   # ... and REV's backward at K = 1 and 16
    python bench/gumbel_rao.py memory    # peak RSS growth of one K = 100 backward
    python bench/gumbel_rao.py variance  # variance over seeds, ST vs GR, tau 0.5 and 1

Timings are medians of interleaved rounds (every K and the straight-through backward in
turn, in one process); figures go into bench/RESULTS.md.
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import fastgumbel as fg  # noqa: E402  (this checkout's, not an installed one)

ROWS, COLS = 4096, 1024


def bench_time(rounds=7, ks=(1, 2, 4, 8, 16), old=None):
    """``old``: a git revision whose Gumbel-Rao backward is timed in the same rounds (K = 1
    and the largest K; exported beside this checkout as ab_versions.py does)."""
    rs = np.random.default_rng(0)
    x = rs.standard_normal((ROWS, COLS), dtype=np.float32)
    G = rs.standard_normal((ROWS, COLS), dtype=np.float32)
    key = fg.Key(3)
    idx = fg.gumbel_max(x, rng=key)
    calls = {"ST (recompute)": lambda: fg.gumbel_softmax_backward(G, 0.5, logits=x, rng=key)}
    for k in ks:
        calls[f"GR K={k}"] = (lambda k=k: fg.gumbel_rao_backward(G, x, 0.5, idx, samples=k,
                                                                 rng=key))
    if old is not None:
        import pathlib
        from ab_versions import export_old
        tmp = tempfile.mkdtemp()
        export_old(old, pathlib.Path(tmp))
        sys.path.insert(0, tmp)
        import fastgumbel_old as fo
        for k in (ks[0], ks[-1]):
            calls[f"{old} GR K={k}"] = (lambda k=k: fo.gumbel_rao_backward(
                G, x, 0.5, idx, samples=k, rng=fo.Key(3)))
    for f in calls.values():
        f()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, f in calls.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    base = np.median(times["GR K=1"])
    print(f"{ROWS}x{COLS} float32, tau 0.5, median of {rounds} interleaved rounds")
    print("| call | ms | / GR K=1 | per sample, ms |")
    print("|---|---:|---:|---:|")
    for name, ts in times.items():
        med = np.median(ts)
        k = int(name.split("=")[-1]) if "=" in name else 1
        print(f"| {name} | {med * 1e3:.1f} | {med / base:.2f} | {med * 1e3 / k:.1f} |")


PROBE = textwrap.dedent("""
    import json, sys, tracemalloc
    import numpy as np
    import fastgumbel as fg
    R, K, S = {rows}, {cols}, int(sys.argv[1])
    s = np.zeros((4, 300), np.float32)
    fg.gumbel_rao_backward(s, s, 0.5, np.zeros(4, np.int64), samples=2, rng=1)
    rs = np.random.default_rng(0)
    x = rs.standard_normal((R, K), dtype=np.float32)
    G = rs.standard_normal((R, K), dtype=np.float32)
    idx = fg.gumbel_max(x, rng=5)
    def peak_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    def one_call():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = peak_kib()
        tracemalloc.start()
        gx, gt = fg.gumbel_rao_backward(G, x, 0.5, idx, samples=S, rng=5)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_kib() - before, traced / 1024, gx.nbytes / 1024
    first = one_call()
    second = one_call()
    print(json.dumps(dict(first=first, second=second)))
""").format(rows=ROWS, cols=COLS)


def bench_memory(samples=100):
    """Peak RSS growth (VmHWM, reset just before) and the peak of tracemalloc's traced
    allocations (NumPy's; Numba's per-thread buffers are not traced) of one call, for the
    first call at this size in the process and a second one."""
    import os
    t0 = time.perf_counter()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
    p = subprocess.run([sys.executable, "-c", PROBE, str(samples)], capture_output=True,
                       text=True, check=True, cwd=root)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    for name in ("first", "second"):
        rss, traced, out = r[name]
        print(f"K={samples} at {ROWS}x{COLS} float32, {name} call: peak RSS grew {rss:.0f} KiB "
              f"(output {out:.0f} KiB, extra {rss - out:+.0f} KiB); traced peak "
              f"{traced:.0f} KiB (extra {traced - out:+.0f} KiB)")
    print(f"(probe took {time.perf_counter() - t0:.0f} s)")


def gradients(x, G, tau, key, samples):
    """(straight-through, Gumbel-Rao) gradients w.r.t. the logits for one key."""
    st = fg.gumbel_softmax_backward(G, tau, logits=x, rng=key)[0]
    idx = fg.gumbel_max(x, rng=key)
    return st, fg.gumbel_rao_backward(G, x, tau, idx, samples=samples, rng=key)[0]


def bench_variance(seeds=400, rows=32, cats=10, ks=(1, 4, 16, 64)):
    rs = np.random.default_rng(1)
    x = rs.standard_normal((rows, cats)) * 2
    G = rs.standard_normal((rows, cats))
    print(f"{rows} rows x {cats} categories, logits N(0, 4), upstream gradient N(0, 1), "
          f"float64, {seeds} seeds; mean over elements of the variance over seeds")
    print("| tau | ST | " + " | ".join(f"GR K={k}" for k in ks) + " | ST / GR K=" + str(ks[-1])
          + " |")
    print("|---" * (len(ks) + 3) + "|")
    for tau in (0.5, 1.0):
        res = {}
        for k in ks:
            st, gr = zip(*(gradients(x, G, tau, fg.Key(s, 7), k) for s in range(seeds)))
            res["ST"] = np.var(np.array(st), axis=0).mean()
            res[k] = np.var(np.array(gr), axis=0).mean()
        cells = " | ".join(f"{res[k]:.4g}" for k in ks)
        print(f"| {tau} | {res['ST']:.4g} | {cells} | {res['ST'] / res[ks[-1]]:.1f}x |")


if __name__ == "__main__":
    args = sys.argv[1:]
    rev = None
    if "--old" in args:         # python bench/gumbel_rao.py time --old REV
        i = args.index("--old")
        rev = args[i + 1]
        del args[i:i + 2]
    for w in args or ["time", "memory", "variance"]:
        if w == "time":
            bench_time(old=rev)
        else:
            {"memory": bench_memory, "variance": bench_variance}[w]()
