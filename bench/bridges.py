"""Framework bridges against the frameworks' own Gumbel-Softmax, side by side in one run.

    python bench/bridges.py [--repeats 21] [--sizes 8x16,64x1024,4096x1024] [--threads N]
                            [--frameworks torch,jax,jax-tau]

torch: ``fastgumbel.torch.gumbel_softmax`` against ``torch.nn.functional.gumbel_softmax``,
forward only and forward + backward (autograd, gradient w.r.t. the logits); JAX:
``fastgumbel.jax.gumbel_softmax`` (a ``buffer_callback`` into the kernel, tangent rule in
jnp) against a jitted pure-JAX ``softmax((x + jax.random.gumbel(key)) / tau)``, both under
``jax.jit``, forward and forward + backward (``jax.vjp``, gradient w.r.t. the logits); ``jax-tau``: the same with a
per-row tau of shape (rows, 1), forward + backward into the logits and tau. Median of alternating runs (each implementation once per
round, in turn); "ratio" is peer time / fastgumbel time (> 1: fastgumbel is faster).
The small sizes show the per-call overhead of each bridge.
"""
import argparse
import functools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
# torch and Numba each bring an OpenMP thread pool; with the default (active) wait policy the
# idle pool spins and starves the other on a small machine (measured here on 2 cores: 8x16
# calls of either library took ~15 ms instead of ~0.1 ms). Passive waiting is the fair setup.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from fastgumbel._bench import median_alternating  # noqa: E402  (after the path and policy)


def torch_cases(rows, K, hard):
    import torch
    import torch.nn.functional as F

    import fastgumbel.torch as fgt

    rs = np.random.default_rng(0)
    x = torch.from_numpy(rs.standard_normal((rows, K)).astype(np.float32))
    gy = torch.from_numpy(rs.standard_normal((rows, K)).astype(np.float32))
    xg = x.clone().requires_grad_(True)

    def fwd_bwd(fn):
        def run():
            fn(xg, 1.0, hard=hard).backward(gy)
            xg.grad = None
        return run

    tag = "hard" if hard else "soft"
    return {
        f"torch {tag} forward": {
            "fastgumbel.torch": lambda: fgt.gumbel_softmax(x, 1.0, hard=hard),
            "F.gumbel_softmax": lambda: F.gumbel_softmax(x, 1.0, hard=hard)},
        f"torch {tag} fwd+bwd": {
            "fastgumbel.torch": fwd_bwd(fgt.gumbel_softmax),
            "F.gumbel_softmax": fwd_bwd(F.gumbel_softmax)},
    }


def jax_cases(rows, K, hard, per_row=False):
    """JAX cases at tau = 1; ``per_row``: a (rows, 1) tau in [0.3, 3], fwd+bwd into the
    logits and tau."""
    import jax
    import jax.numpy as jnp

    import fastgumbel.jax as fgj

    def pure(key, x, tau):
        y = jax.nn.softmax((x + jax.random.gumbel(key, x.shape, x.dtype)) / tau, axis=-1)
        if hard:
            y_hard = jax.nn.one_hot(jnp.argmax(y, -1), x.shape[-1], dtype=x.dtype)
            y = y_hard - jax.lax.stop_gradient(y) + y
        return y

    def ours(key, x, tau):
        return fgj.gumbel_softmax(key, x, tau, hard=hard)

    rs = np.random.default_rng(0)
    x = jnp.asarray(rs.standard_normal((rows, K)).astype(np.float32))
    gy = jnp.asarray(rs.standard_normal((rows, K)).astype(np.float32))
    tau = jnp.asarray(rs.uniform(0.3, 3.0, (rows, 1)).astype(np.float32)) if per_row else 1.0
    key = jax.random.key(1)

    def fwd(fn):
        f = jax.jit(lambda k, x, t: fn(k, x, t))
        return lambda: f(key, x, tau).block_until_ready()

    def fwd_bwd(fn):
        def g(k, x, t):
            if per_row:
                y, vjp = jax.vjp(lambda x, t: fn(k, x, t), x, t)
                return y, vjp(gy)
            y, vjp = jax.vjp(lambda x: fn(k, x, t), x)
            return y, vjp(gy)[0]
        f = jax.jit(g)
        return lambda: jax.block_until_ready(f(key, x, tau))

    tag = ("hard" if hard else "soft") + (", per-row tau" if per_row else "")
    return {
        f"jax {tag} forward (jit)": {"fastgumbel.jax": fwd(ours), "pure JAX": fwd(pure)},
        f"jax {tag} fwd+bwd (jit)": {"fastgumbel.jax": fwd_bwd(ours), "pure JAX": fwd_bwd(pure)},
    }


def run(sizes, repeats, threads=None, frameworks=("torch", "jax")):
    import numba

    if threads is not None:
        numba.set_num_threads(threads)
        if "torch" in frameworks:
            import torch
            torch.set_num_threads(threads)
    per_row = functools.partial(jax_cases, per_row=True)
    builders = [b for f, b in (("torch", torch_cases), ("jax", jax_cases),
                               ("jax-tau", per_row)) if f in frameworks]
    rows_out = []
    for rows, K in sizes:
        for hard in (False, True):
            for cases in (b(rows, K, hard) for b in builders):
                for case, impls in cases.items():
                    t = median_alternating(impls, repeats, warmup=2)
                    ours_name, peer_name = list(impls)
                    rows_out.append((f"{rows}x{K}", case, t[ours_name], peer_name, t[peer_name]))
    return rows_out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--sizes", default="8x16,64x1024,4096x1024")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--frameworks", default="torch,jax")
    a = p.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    frameworks = tuple(a.frameworks.split(","))
    import numba

    table = run(sizes, a.repeats, a.threads, frameworks)
    versions = []
    for name in dict.fromkeys(f.split("-")[0] for f in frameworks):
        mod = __import__(name)
        versions.append(f"{name} {mod.__version__}")
        if name == "torch":
            versions.append(f"torch threads={mod.get_num_threads()}")
    taus = "tau=1" + (" (jax-tau: per-row tau in [0.3, 3])" if "jax-tau" in frameworks else "")
    print(f"float32, {taus}, numba threads={numba.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {', '.join(versions)}; "
          f"median of {a.repeats} alternating runs")
    print(f"| size | case | fastgumbel ms | peer | peer ms | ratio (peer / ours) |")
    print("|---|---|---:|---|---:|---:|")
    for size, case, ours, peer, theirs in table:
        print(f"| {size} | {case} | {ours * 1e3:.4f} | {peer} | {theirs * 1e3:.4f} | "
              f"{theirs / ours:.2f} |")


if __name__ == "__main__":
    main()
