"""Framework bridges against the frameworks' own Gumbel-Softmax, side by side in one run.

    python bench/bridges.py [--repeats 21] [--sizes 8x16,64x1024,4096x1024] [--threads 1,2]
                            [--peers torch,jax,jax-tau]

The torch table of bench/RESULTS.md (issue 18's sizes, 1 and 2 threads):

    python bench/bridges.py --peers torch --sizes 8x16,20x30x10,100x30x10,64x1024 --threads 1,2

torch: ``fastgumbel.torch.gumbel_softmax`` against ``torch.nn.functional.gumbel_softmax``,
forward only and forward + backward (autograd, gradient w.r.t. the logits; the logits
require grad in both), soft and hard, float32 (a size ``AxBxK`` samples along ``K``); JAX:
``fastgumbel.jax.gumbel_softmax`` (a ``buffer_callback`` into the kernel, tangent rule in
jnp) against a jitted pure-JAX ``softmax((x + jax.random.gumbel(key)) / tau)``, both under
``jax.jit``, forward and forward + backward (``jax.vjp``); ``jax-tau``: the same with a
per-row tau of shape (rows, 1), forward + backward into the logits and tau. Median of alternating runs (each implementation once per
round, in turn); "ratio" is peer time / fastgumbel time (> 1: fastgumbel is faster).
The small sizes show the per-call overhead of each bridge.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
# torch and Numba each bring an OpenMP thread pool; with the default (active) wait policy the
# idle pool spins and starves the other on a small machine (measured here on 2 cores: 8x16
# calls of either library took ~15 ms instead of ~0.1 ms). Passive waiting is the fair setup.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from fastgumbel._bench import median_alternating  # noqa: E402  (after the path and policy)


def torch_cases(shape, hard):
    import torch
    import torch.nn.functional as F

    import fastgumbel.torch as fgt

    rs = np.random.default_rng(0)
    x = torch.from_numpy(rs.standard_normal(shape).astype(np.float32))
    gy = torch.from_numpy(rs.standard_normal(shape).astype(np.float32))
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


def run(sizes, repeats, threads=None, peers=("torch", "jax")):
    import numba

    if threads is not None:
        numba.set_num_threads(threads)
        import torch
        torch.set_num_threads(threads)
    rows_out = []
    for shape in sizes:
        rows, K = int(np.prod(shape[:-1])), shape[-1]
        for hard in (False, True):
            groups = ([torch_cases(shape, hard)] if "torch" in peers else []) + (
                [jax_cases(rows, K, hard)] if "jax" in peers else []) + (
                [jax_cases(rows, K, hard, per_row=True)] if "jax-tau" in peers else [])
            for cases in groups:
                for case, impls in cases.items():
                    t = median_alternating(impls, repeats, warmup=2)
                    ours_name, peer_name = list(impls)
                    rows_out.append(("x".join(map(str, shape)), case, t[ours_name],
                                     peer_name, t[peer_name]))
    return rows_out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--sizes", default="8x16,64x1024,4096x1024")
    p.add_argument("--threads", default=None, help="comma-separated thread counts")
    p.add_argument("--peers", "--frameworks", dest="peers", default="torch,jax")
    a = p.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    peers = tuple(a.peers.split(","))
    import numba
    import torch
    versions = f"torch {torch.__version__}"
    if {"jax", "jax-tau"} & set(peers):
        import jax
        versions += f", jax {jax.__version__}"
    for threads in ([None] if a.threads is None else [int(t) for t in a.threads.split(",")]):
        table = run(sizes, a.repeats, threads, peers)
        taus = "tau=1" + (" (jax-tau: per-row tau in [0.3, 3])" if "jax-tau" in peers else "")
        print(f"float32, {taus}, numba threads={numba.get_num_threads()}, torch threads="
              f"{torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
              f"{versions}; median of {a.repeats} alternating runs")
        print("| size | case | fastgumbel ms | peer | peer ms | ratio (peer / ours) |")
        print("|---|---|---:|---|---:|---:|")
        for size, case, ours, peer, theirs in table:
            print(f"| {size} | {case} | {ours * 1e3:.4f} | {peer} | {theirs * 1e3:.4f} | "
                  f"{theirs / ours:.2f} |")
        print(flush=True)


if __name__ == "__main__":
    main()
