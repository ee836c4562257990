"""The JAX bridge's Gumbel-Rao gradient against the NumPy-level calls it wraps, side by side
in one process: ``jax.jit(jax.grad(...))`` of ``gumbel_softmax(..., estimator="gumbel-rao",
samples=K)`` vs ``fg.gumbel_softmax(hard=True)`` + ``fg.gumbel_max`` +
``fg.gumbel_rao_backward`` in NumPy, and vs the JAX straight-through gradient. Interleaved
repeats, medians. ``python bench/jax_rao.py [rows] [K] [samples] [repeats]``."""
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import fastgumbel as fg
import fastgumbel.jax as fgj


def main(rows=1024, K=1024, S=8, reps=7):
    rs = np.random.default_rng(0)
    x = rs.standard_normal((rows, K)).astype(np.float32)
    G = rs.standard_normal((rows, K)).astype(np.float32)
    xj, Gj, key = jnp.asarray(x), jnp.asarray(G), jax.random.key(1)
    rao = jax.jit(jax.grad(lambda v: (fgj.gumbel_softmax(
        key, v, 0.5, hard=True, estimator="gumbel-rao", samples=S) * Gj).sum()))
    st = jax.jit(jax.grad(lambda v: (fgj.gumbel_softmax(key, v, 0.5, hard=True) * Gj).sum()))

    def numpy_rao():
        fg.gumbel_softmax(x, 0.5, hard=True, rng=fg.Key(1))
        i = fg.gumbel_max(x, rng=fg.Key(1))
        return fg.gumbel_rao_backward(G, x, 0.5, i, samples=S, rng=fg.Key(1))
    cases = {"jax rao": lambda: rao(xj).block_until_ready(), "numpy rao": numpy_rao,
             "jax straight-through": lambda: st(xj).block_until_ready()}
    times = {n: [] for n in cases}
    for f in cases.values():
        f()
    for _ in range(reps):
        for n, f in cases.items():
            t = time.perf_counter()
            f()
            times[n].append(time.perf_counter() - t)
    med = {n: statistics.median(v) for n, v in times.items()}
    for n, v in med.items():
        print(f"{n:22s} {v * 1e3:8.1f} ms  ratio to numpy rao {v / med['numpy rao']:.2f}")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
