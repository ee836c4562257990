"""Peak memory of a large call, measured as the growth of the process's peak resident set
(``VmHWM``, reset just before the call through ``/proc/self/clear_refs``) in a fresh
interpreter (tracemalloc does not see Numba's allocations).

The array is 2048 x 65536 float32 = 512 MiB. With ``out=`` the fused forward pass
allocates only per-thread chunk buffers; the backward pass allocates its result and
nothing else, and in recompute mode nothing but the Key is kept between the passes (the
saved mode keeps the 512 MiB soft sample alive).

Run ``python tests/test_memory.py`` to print the figures quoted in the README.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS, COLS = 2048, 65536
MIB = 1 << 20
SIZE = ROWS * COLS * 4 / MIB          # 512 MiB

PROBE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import fastgumbel as fg

    R, K = {rows}, {cols}
    op = sys.argv[1]
    s = np.random.default_rng(0).standard_normal((4, 300)).astype(np.float32)
    key = fg.Key(5)
    # load (or compile) every kernel and start the thread pool before measuring
    fg.gumbel_softmax(s, 0.5, rng=key, out=np.empty_like(s))
    fg.gumbel_max(s, rng=key, out=np.empty(4, np.int64))
    fg.gumbel_softmax_backward(s, 0.5, logits=s, rng=key)
    fg.gumbel_softmax_backward(s, 0.5, y_soft=fg.gumbel_softmax(s, 0.5, rng=key))
    fg.gumbel_rao_backward(s, s, 0.5, np.zeros(4, np.int64), samples=2, rng=key)

    def filled(seed):
        # filled in row blocks: no input-sized temporary raises the peak before we measure
        a = np.empty((R, K), np.float32)
        rs = np.random.default_rng(seed)
        for i in range(0, R, 64):
            a[i:i + 64] = rs.standard_normal((64, K), dtype=np.float32)
        return a

    def rss_kib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024

    def peak_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def reset_peak():
        # Linux: writing 5 resets the peak RSS to the current RSS, so compiling or loading
        # kernels before the measurement cannot hide what the call itself allocates
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    x = filled(1)
    if op == "soft_out":
        out = np.zeros_like(x)
        run = lambda: fg.gumbel_softmax(x, 0.5, rng=key, out=out)
    elif op == "log_out":
        out = np.zeros_like(x)
        run = lambda: fg.gumbel_log_softmax(x, 0.5, rng=key, out=out)
    elif op == "hard_out":
        out = np.zeros_like(x)
        run = lambda: fg.gumbel_softmax(x, 0.5, hard=True, rng=key, out=out)
    elif op == "max_out":
        out = np.zeros(R, np.int64)
        run = lambda: fg.gumbel_max(x, rng=key, out=out)
    elif op == "soft_new":
        run = lambda: fg.gumbel_softmax(x, 0.5, rng=key)
    elif op == "bwd_recompute":
        g = filled(2)
        run = lambda: fg.gumbel_softmax_backward(g, 0.5, logits=x, rng=key)
    elif op == "bwd_saved":
        g = filled(2)
        y = np.zeros_like(x)
        fg.gumbel_softmax(x, 0.5, rng=key, out=y)
        run = lambda: fg.gumbel_softmax_backward(g, 0.5, y_soft=y)
    elif op == "bwd_gumbel_rao":
        g = filled(2)
        idx = fg.gumbel_max(x, rng=key)
        run = lambda: fg.gumbel_rao_backward(g, x, 0.5, idx, samples=2, rng=key)
    reset_peak()
    before = peak_kib()
    now = rss_kib()
    res = run()
    after = peak_kib()
    print(json.dumps({{"op": op, "peak_before_kib": before, "rss_before_kib": now,
                      "peak_after_kib": after}}))
""").format(rows=ROWS, cols=COLS)


def probe(op):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", PROBE, op], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    # the measurement is valid only if nothing before it peaked above the current RSS
    if r["peak_before_kib"] - r["rss_before_kib"] >= 48 * 1024:
        pytest.skip(f"the peak RSS could not be reset before the call: {r}")
    return (r["peak_after_kib"] - r["peak_before_kib"]) / 1024          # MiB


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/statm")


def test_forward_with_out_allocates_no_input_sized_temporary():
    op = "soft_out"
    grew = probe(op)
    assert grew < 64, f"{op}: peak RSS grew by {grew:.0f} MiB for a {SIZE:.0f} MiB input"


def test_recompute_backward_allocates_only_its_result():
    grew = probe("bwd_recompute")
    # the result (512 MiB) and nothing else: no stored or recomputed copy of the sample
    assert SIZE - 1 < grew < SIZE + 64, f"backward grew the peak by {grew:.0f} MiB"


def test_gumbel_rao_backward_allocates_only_its_result():
    grew = probe("bwd_gumbel_rao")
    # K conditional samples per row are made and consumed in registers and row buffers
    assert SIZE - 1 < grew < SIZE + 64, f"Gumbel-Rao backward grew the peak by {grew:.0f} MiB"


def _figures():
    for op in ("soft_out", "log_out", "hard_out", "max_out", "soft_new", "bwd_recompute",
               "bwd_saved", "bwd_gumbel_rao"):
        print(f"{op:15s} peak RSS growth {probe(op):7.1f} MiB (input {SIZE:.0f} MiB)")


if __name__ == "__main__":
    _figures()
