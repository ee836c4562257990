"""Gumbel-Rao backward (issue 23): time per backward against K, peak memory at K = 100,
and the variance of the gradient over seeds against straight-through.

    python bench/gumbel_rao.py time      # 4096x1024 float32, K = 1..16, tau 0.5 and 1,
                                         # with and without tau's gradient
    python bench/gumbel_rao.py time --old REV   # ... and REV's backward at K = 1 and 16
    python bench/gumbel_rao.py time --ks 1,16 --rounds 15   # fewer K, more rounds
    python bench/gumbel_rao.py memory    # peak RSS and traced growth of one K = 100 backward
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


def bench_time(rounds=5, ks=tuple(range(1, 17)), old=None):
    """T(K) at tau 0.5 and 1, with and without tau's gradient (without: what the torch and
    JAX bridges run for a tau that is a plain number; ``_rao.gumbel_rao_backward`` with
    ``want_tau=False``), every call in turn in each round; the fit ``T = S + K P`` per
    column. ``old``: a git revision whose Gumbel-Rao backward is timed in the same rounds
    (tau 0.5 with its gradient, K = 1 and the largest K; exported beside this checkout as
    ab_versions.py does)."""
    from fastgumbel import _rao
    rs = np.random.default_rng(0)
    x = rs.standard_normal((ROWS, COLS), dtype=np.float32)
    G = rs.standard_normal((ROWS, COLS), dtype=np.float32)
    key = fg.Key(3)
    idx = fg.gumbel_max(x, rng=key)
    calls = {"ST": lambda: fg.gumbel_softmax_backward(G, 0.5, logits=x, rng=key)}
    cols = [(tau, want) for tau in (0.5, 1.0) for want in (True, False)]
    for tau, want in cols:
        for k in ks:
            calls[(tau, want, k)] = (lambda tau=tau, want=want, k=k: _rao.gumbel_rao_backward(
                G, x, tau, idx, k, -1, key, "default", "cpu", want))
    if old is not None:
        import pathlib
        from ab_versions import export_old
        tmp = tempfile.mkdtemp()
        export_old(old, pathlib.Path(tmp))
        sys.path.insert(0, tmp)
        import fastgumbel_old as fo
        for k in (ks[0], ks[-1]):
            calls[(old, k)] = (lambda k=k: fo.gumbel_rao_backward(G, x, 0.5, idx, samples=k,
                                                                  rng=fo.Key(3)))
    for f in calls.values():
        f()
    load0 = os.getloadavg()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, f in calls.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    med = {name: np.median(ts) * 1e3 for name, ts in times.items()}
    print(f"{ROWS}x{COLS} float32, median of {rounds} interleaved rounds, ms; load average "
          f"{load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after; ST (the straight-through "
          f"backward, tau 0.5, recompute) {med['ST']:.1f} ms")
    heads = [f"tau {t}{'' if w else ', no tau grad'}" for t, w in cols]
    print("| K | " + " | ".join(heads) + " |")
    print("|---:" * (len(cols) + 1) + "|")
    for k in ks:
        print(f"| {k} | " + " | ".join(f"{med[(t, w, k)]:.1f}" for t, w in cols) + " |")
    fits = [np.polyfit(ks, [med[(t, w, k)] for k in ks], 1) for t, w in cols]
    print("| S (fit) | " + " | ".join(f"{b:.1f}" for _, b in fits) + " |")
    print("| P (fit) | " + " | ".join(f"{a:.2f}" for a, _ in fits) + " |")
    print(f"| T({ks[-1]})/T({ks[0]}) | " + " | ".join(
        f"{med[(t, w, ks[-1])] / med[(t, w, ks[0])]:.2f}" for t, w in cols) + " |")
    for name in calls:
        if isinstance(name, tuple) and len(name) == 2:
            print(f"{name[0]} (tau 0.5 with its gradient) K={name[1]}: {med[name]:.1f} ms")


PROBE = textwrap.dedent("""
    import json, sys, tracemalloc
    import numpy as np
    import fastgumbel as fg
    R, K, S = {rows}, {cols}, int(sys.argv[1])
    W = int(sys.argv[2])        # warm-up rows: 4 runs one worker thread, 256 all of them
    s = np.zeros((W, 300), np.float32)
    fg.gumbel_rao_backward(s, s, 0.5, np.zeros(W, np.int64), samples=2, rng=1)
    rs = np.random.default_rng(0)
    x = rs.standard_normal((R, K), dtype=np.float32)
    G = rs.standard_normal((R, K), dtype=np.float32)
    idx = fg.gumbel_max(x, rng=5)
    def status(name):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    def rss_call():             # no tracemalloc here: its own tables would count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before, file0 = status("VmHWM"), status("RssFile")
        gx, gt = fg.gumbel_rao_backward(G, x, 0.5, idx, samples=S, rng=5)
        return status("VmHWM") - before, gx.nbytes / 1024, status("RssFile") - file0
    def traced_call():
        tracemalloc.start()
        gx, gt = fg.gumbel_rao_backward(G, x, 0.5, idx, samples=S, rng=5)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return traced / 1024
    first = rss_call()
    second = rss_call()
    print(json.dumps(dict(first=first, second=second, traced=traced_call())))
""").format(rows=ROWS, cols=COLS)


def bench_memory(samples=100, warm=256):
    """Peak RSS growth of one backward call (VmHWM, reset just before) and the peak of
    tracemalloc's traced allocations during it (NumPy's, and Numba's NRT allocations: the
    kernel's per-thread buffers), each against the output's size; for the first call at
    this size in the process and a second one; the RssFile growth says how much of it is
    pages of shared libraries (NumPy's, Numba's) mapped in on their first use, not
    allocations. A warm-up call of ``warm`` rows first (compiles, and with 256 rows runs
    every worker thread once and NumPy's row max on more than a few thousand elements:
    with 4 rows the logits check's ``max(axis=1)`` first reaches NumPy's vector code in the
    measured call, 64 KiB of file-backed pages)."""
    t0 = time.perf_counter()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
    p = subprocess.run([sys.executable, "-c", PROBE, str(samples), str(warm)],
                       capture_output=True, text=True, check=True, cwd=root)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    for name in ("first", "second"):
        rss, out, file = r[name]
        print(f"K={samples} at {ROWS}x{COLS} float32 ({warm}-row warm-up), {name} call: "
              f"peak RSS grew {rss:.0f} KiB = {rss / out:.4f} x the {out:.0f} KiB output "
              f"(extra {rss - out:+.0f} KiB, of which {file} KiB file-backed: pages of "
              f"shared libraries' code and constants used for the first time)")
    traced = r["traced"]
    print(f"  third call, traced peak {traced:.0f} KiB = {traced / out:.4f} x the output "
          f"(extra {traced - out:+.0f} KiB)")
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
    opts = {}
    for flag in ("--old", "--ks", "--rounds"):  # time --old REV --ks 1,16 --rounds 15
        if flag in args:
            i = args.index(flag)
            opts[flag] = args[i + 1]
            del args[i:i + 2]
    for w in args or ["time", "memory", "variance"]:
        if w == "time":
            ks = tuple(int(k) for k in opts.get("--ks", "").split(",") if k)
            bench_time(int(opts.get("--rounds", 5)), ks or tuple(range(1, 17)),
                       opts.get("--old"))
        elif w == "memory":
            bench_memory(warm=4)
            bench_memory(warm=256)
        else:
            {"memory": bench_memory, "variance": bench_variance}[w]()
