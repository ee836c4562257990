"""Side-by-side timing against peers, measured alternately in one run (``python -m fastgumbel
bench``). Peers that are not installed are left out; nothing here imports them otherwise."""
from __future__ import annotations

import importlib.util
import time

import numpy as np


def median_alternating(fns, repeats, warmup=1):
    """Median seconds of each callable: ``warmup`` calls each (compiles), then ``repeats``
    rounds of one call each, in turn, so that all see the same machine state."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def cases(rows, K, dtype):
    """{case: {impl: callable}}; the first impl of each case is fastgumbel."""
    import fastgumbel as fg

    rs = np.random.default_rng(0)
    x = rs.standard_normal((rows, K)).astype(dtype)
    out = np.empty_like(x)
    g = rs.standard_normal((rows, K)).astype(dtype)
    key = fg.Key(1)
    c = {
        "gumbel_softmax soft": {"fastgumbel": lambda: fg.gumbel_softmax(x, 1.0, rng=key, out=out)},
        "gumbel_softmax hard": {"fastgumbel": lambda: fg.gumbel_softmax(x, 1.0, hard=True, rng=key,
                                                                        out=out)},
        "gumbel_max": {"fastgumbel": lambda: fg.gumbel_max(x, rng=key)},
        "gumbel noise": {"fastgumbel": lambda: fg.gumbel(x.shape, dtype=dtype, rng=key, out=out),
                         "numpy Generator.gumbel": lambda: np.random.default_rng(0).gumbel(
                             size=x.shape).astype(dtype, copy=False)},
        "forward + backward": {"fastgumbel": lambda: fg.gumbel_softmax_backward(
            g, 1.0, y_soft=fg.gumbel_softmax(x, 1.0, rng=key, out=out))},
    }
    if importlib.util.find_spec("torch") is not None:
        import torch
        import torch.nn.functional as F

        xt = torch.from_numpy(x)
        gt = torch.from_numpy(g)
        xg = xt.clone().requires_grad_(True)

        def torch_fwd_bwd():
            y = F.gumbel_softmax(xg, 1.0)
            y.backward(gt)
            xg.grad = None

        c["gumbel_softmax soft"]["torch F.gumbel_softmax"] = lambda: F.gumbel_softmax(xt, 1.0)
        c["gumbel_softmax hard"]["torch F.gumbel_softmax(hard)"] = lambda: F.gumbel_softmax(
            xt, 1.0, hard=True)
        c["gumbel_max"]["torch (x - exponential_().log()).argmax"] = lambda: (
            xt - torch.empty_like(xt).exponential_().log()).argmax(-1)
        c["forward + backward"]["torch autograd"] = torch_fwd_bwd
        c["gumbel_max"]["torch.multinomial(softmax(x), 1)"] = lambda: torch.multinomial(
            torch.softmax(xt, -1), 1)
    if importlib.util.find_spec("jax") is not None:
        _add_jax(c, x, dtype)
    c["gumbel_softmax soft"]["numpy gumbel + softmax"] = lambda: _numpy_soft(x)
    c["memory floor"] = {"np.copyto": lambda: np.copyto(out, x)}
    return c


def _numpy_soft(x):
    z = x + np.random.default_rng(0).gumbel(size=x.shape).astype(x.dtype, copy=False)
    z -= z.max(-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(-1, keepdims=True)
    return z


def _add_jax(c, x, dtype):
    import jax
    import jax.numpy as jnp

    if np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        return  # JAX computes in float32 unless x64 is switched on for the whole process
    xj = jnp.asarray(x)
    key = jax.random.key(0)
    noise = jax.jit(lambda k: jax.random.gumbel(k, x.shape, dtype))
    soft = jax.jit(lambda k, v: jax.nn.softmax(v + jax.random.gumbel(k, v.shape, v.dtype), -1))
    cat = jax.jit(lambda k, v: jax.random.categorical(k, v, -1))
    c["gumbel noise"]["jax.random.gumbel (jit)"] = lambda: noise(key).block_until_ready()
    c["gumbel_softmax soft"]["jax softmax(x + gumbel) (jit)"] = (
        lambda: soft(key, xj).block_until_ready())
    c["gumbel_max"]["jax.random.categorical (jit)"] = lambda: cat(key, xj).block_until_ready()


def run(rows=4096, K=1024, dtype=np.float32, repeats=7, threads=None):
    import numba

    if threads is not None:
        numba.set_num_threads(threads)
        if importlib.util.find_spec("torch") is not None:
            import torch
            torch.set_num_threads(threads)
    table = []
    allcases = cases(rows, K, dtype)
    floor = median_alternating(allcases.pop("memory floor"), repeats)["np.copyto"]
    for case, impls in allcases.items():
        t = median_alternating(impls, repeats)
        ours = t["fastgumbel"]
        for name, secs in t.items():
            table.append((case, name, secs, secs / ours, floor / secs))
    return table, floor


def main(rows, K, dtype, repeats, threads):
    import numba

    table, floor = run(rows, K, dtype, repeats, threads)
    import os

    print(f"{rows}x{K} {np.dtype(dtype)}, threads={numba.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, "
          f"median of {repeats} alternating runs; np.copyto {floor * 1e3:.2f} ms")
    print(f"{'case':<22} {'implementation':<42} {'ms':>9} {'vs ours':>9} {'copy/this':>10}")
    for case, name, secs, ratio, frac in table:
        shown = "1.0" if name == "fastgumbel" else f"{ratio:.1f}x"
        print(f"{case:<22} {name:<42} {secs * 1e3:>9.2f} {shown:>9} {frac:>10.3f}")


_FIRST_CALLS = """
import time, numpy as np
t0 = time.perf_counter()
import fastgumbel as fg
t1 = time.perf_counter()
x = np.zeros((64, 256), np.float32)
out = {"import": t1 - t0}
for name, f in [("gumbel", lambda: fg.gumbel((64, 256), rng=1)),
                ("gumbel_softmax", lambda: fg.gumbel_softmax(x, rng=1)),
                ("gumbel_max", lambda: fg.gumbel_max(x, rng=1)),
                ("backward", lambda: fg.gumbel_softmax_backward(x, 1.0, logits=x, rng=1))]:
    t = time.perf_counter()
    f()
    out[name] = time.perf_counter() - t
print(repr(out))
"""


def cold_start():
    """First-call times (import, then each operation's first float32 call) in fresh
    processes: with an empty Numba cache, then with the cache that run left behind."""
    import ast
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = [ast.literal_eval(subprocess.run([sys.executable, "-c", _FIRST_CALLS], env=env,
                                                capture_output=True, text=True,
                                                check=True).stdout)
                for _ in range(2)]
    print(f"{'first call':<16} {'empty cache s':>14} {'warm cache s':>13}")
    for name in runs[0]:
        print(f"{name:<16} {runs[0][name]:>14.2f} {runs[1][name]:>13.3f}")
