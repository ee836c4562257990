"""Side-by-side timing against peers, measured alternately in one run (``python -m fastgumbel
bench``). Peers that are not installed are left out; nothing here imports them otherwise."""
from __future__ import annotations

import importlib.util
import time

import numpy as np


def median_alternating(fns, repeats, warmup=1, prime=0):
    """Median seconds of each callable: ``warmup`` calls each (compiles), then ``repeats``
    rounds of one timed call each, in turn, so that all see the same machine state. The
    order within a round is shuffled (a fixed seed, so runs are comparable): a call slows
    down after some peers more than after others (a library whose threads keep spinning
    after its call returns holds the CPUs), and with a fixed order every round would put
    the same implementation right after the same peer.

    ``prime`` untimed calls of the same callable come right before each timed call: the
    timed call then finds its own thread pool awake and its working set in cache, as in a
    loop that calls it repeatedly. With ``prime=0`` a call almost always follows another
    library's (on a small virtual machine, waking idle worker threads costs milliseconds:
    see bench/RESULTS.md)."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    times = {name: [] for name in fns}
    names = list(fns)
    rs = np.random.default_rng(0)
    for _ in range(repeats):
        for i in rs.permutation(len(names)):
            name = names[i]
            f = fns[name]
            for _ in range(prime):
                f()
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
        "gumbel noise": {"fastgumbel": lambda: fg.gumbel(size=x.shape, dtype=dtype, rng=key,
                                                         out=out),
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


def run(rows=4096, K=1024, dtype=np.float32, repeats=7, threads=None, prime=0):
    import numba

    if threads is not None:
        numba.set_num_threads(threads)
        if importlib.util.find_spec("torch") is not None:
            import torch
            torch.set_num_threads(threads)
    table = []
    allcases = cases(rows, K, dtype)
    floor = median_alternating(allcases.pop("memory floor"), repeats, prime=prime)["np.copyto"]
    for case, impls in allcases.items():
        t = median_alternating(impls, repeats, prime=prime)
        ours = t["fastgumbel"]
        for name, secs in t.items():
            table.append((case, name, secs, secs / ours, floor / secs))
    return table, floor


def main(rows, K, dtype, repeats, threads, prime=0):
    import numba

    table, floor = run(rows, K, dtype, repeats, threads, prime)
    import os

    primed = f", each after {prime} untimed call(s) of itself" if prime else ""
    print(f"{rows}x{K} {np.dtype(dtype)}, threads={numba.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, "
          f"median of {repeats} alternating runs{primed}; np.copyto {floor * 1e3:.2f} ms")
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
for name, f in [("gumbel", lambda: fg.gumbel(size=(64, 256), rng=1)),
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


# ----------------------------------------------------------------------------------------
# many draws: categorical, multinomial, top-k (python -m fastgumbel bench --suite draws)

#: (case, rows, K, n or k); rows of logits, each with n draws (or the top k).
DRAW_SIZES = [("categorical", 64, 1000, 10_000), ("categorical", 64, 100_000, 10),
              ("multinomial", 64, 1000, 10_000), ("multinomial", 64, 1000, 1_000_000),
              ("gumbel_topk", 8, 1 << 17, 64), ("gumbel_topk", 1, 1 << 20, 64),
              ("gumbel_topk", 8, 1 << 20, 1024)]


def draws_cases(sizes=DRAW_SIZES, dtype=np.float32):
    """{case label: {impl: callable}}; the first impl of each case is fastgumbel."""
    import fastgumbel as fg

    have_torch = importlib.util.find_spec("torch") is not None
    have_jax = importlib.util.find_spec("jax") is not None
    out = {}
    for case, rows, K, n in sizes:
        x = np.random.default_rng(0).standard_normal((rows, K)).astype(dtype)
        p = np.exp(x - x.max(-1, keepdims=True)).astype(np.float64)
        p /= p.sum(-1, keepdims=True)
        key = fg.Key(1)
        label = f"{case} {rows}x{K} {'k' if case == 'gumbel_topk' else 'n'}={n:,}"
        c = out[label] = {}
        if case == "categorical":
            c["fastgumbel auto"] = lambda x=x, n=n: fg.categorical(x, n, rng=key, method="auto")
            c["fastgumbel gumbel"] = lambda x=x, n=n: fg.categorical(x, n, rng=key)

            def np_choice(p=p, n=n, K=K):
                g = np.random.default_rng(0)
                return np.stack([g.choice(K, n, p=pr) for pr in p])

            c["numpy Generator.choice per row"] = np_choice
        elif case == "multinomial":
            c["fastgumbel auto"] = lambda x=x, n=n: fg.multinomial(x, n, rng=key, method="auto")
            c["numpy Generator.multinomial"] = (
                lambda p=p, n=n: np.random.default_rng(0).multinomial(n, p))
        else:
            c["fastgumbel"] = lambda x=x, n=n: fg.gumbel_topk(x, n, rng=key)
        if have_torch:
            import torch

            xt = torch.from_numpy(x)
            if case == "categorical":
                c["torch.multinomial(replacement=True)"] = (
                    lambda xt=xt, n=n: torch.multinomial(torch.softmax(xt, -1), n,
                                                         replacement=True))
            elif case == "gumbel_topk":
                c["torch.topk(x - log(Exp))"] = lambda xt=xt, n=n: torch.topk(
                    xt - torch.empty_like(xt).exponential_().log(), n, dim=-1)
        if have_jax and case == "categorical":
            import jax

            xj = jax.numpy.asarray(x)
            # jax materializes an (n, rows, K) noise array: draw in pieces of bounded size
            piece = max(1, min(n, (1 << 25) // (rows * K)))
            f = jax.jit(lambda k, l, m=piece, rows=rows: jax.random.categorical(
                k, l, axis=-1, shape=(m, rows)))
            keys = jax.random.split(jax.random.key(0), -(-n // piece))

            def jax_cat(f=f, keys=keys, xj=xj):
                return [f(k, xj) for k in keys][-1].block_until_ready()

            c[f"jax.random.categorical (jit, {len(keys)} pieces)"] = jax_cat
    return out


def _median_blocks(fns, repeats, budget=3.0):
    """Each callable in turn: one warm-up call, a pause (other libraries' spinning worker
    threads go idle), then up to ``repeats`` timed calls (fewer past ``budget`` seconds)."""
    res = {}
    for name, f in fns.items():
        f()
        time.sleep(0.2)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
            if sum(ts) > budget:
                break
        res[name] = float(np.median(ts))
    return res


def run_draws(repeats=5, threads=None, sizes=DRAW_SIZES):
    """[(case, impl, seconds, seconds / fastgumbel's)]"""
    import numba

    if threads is not None:
        numba.set_num_threads(threads)
        if importlib.util.find_spec("torch") is not None:
            import torch
            torch.set_num_threads(threads)
    table = []
    for case, impls in draws_cases(sizes).items():
        t = _median_blocks(impls, repeats)
        ours = next(iter(t.values()))
        for name, secs in t.items():
            table.append((case, name, secs, secs / ours))
    return table


def main_draws(repeats=5, threads=None, sizes=DRAW_SIZES):
    import numba

    table = run_draws(repeats, threads, sizes)
    print(f"many draws, float32 logits, threads={numba.get_num_threads()}, median of up to "
          f"{repeats} runs per implementation (fewer past 3 s)")
    print(f"{'case':<38} {'implementation':<38} {'ms':>10} {'vs ours':>9}")
    first = None
    for case, name, secs, ratio in table:
        shown = "1.0" if case != first else f"{ratio:.1f}x"
        first = case
        print(f"{case:<38} {name:<38} {secs * 1e3:>10.2f} {shown:>9}")
