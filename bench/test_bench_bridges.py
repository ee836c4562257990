"""pytest-benchmark suite for the framework bridges: ``python -m pytest bench/test_bench_bridges.py
--benchmark-only``. Groups pair fastgumbel's bridge with the framework's own implementation
(``bench/bridges.py`` prints the same comparison as a ratio table)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import torch.nn.functional as F  # noqa: E402

import fastgumbel.jax as fgj  # noqa: E402
import fastgumbel.torch as fgt  # noqa: E402

SIZES = [(8, 16), (64, 1024), (4096, 1024)]
ids = [f"{r}x{k}" for r, k in SIZES]


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("shape", SIZES, ids=ids)
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("impl", ["fastgumbel.torch", "F.gumbel_softmax"])
def test_torch_fwd_bwd(benchmark, shape, hard, impl):
    fn = fgt.gumbel_softmax if impl == "fastgumbel.torch" else F.gumbel_softmax
    x = torch.from_numpy(data(shape)).requires_grad_(True)
    gy = torch.from_numpy(data(shape, 1))

    def step():
        fn(x, 1.0, hard=hard).backward(gy)
        x.grad = None

    benchmark.group = f"torch fwd+bwd {'hard' if hard else 'soft'} {shape[0]}x{shape[1]}"
    benchmark(step)


def _pure_jax(key, x, tau):
    return jax.nn.softmax((x + jax.random.gumbel(key, x.shape, x.dtype)) / tau, axis=-1)


@pytest.mark.parametrize("shape", SIZES, ids=ids)
@pytest.mark.parametrize("op", ["forward", "fwd_bwd"])
@pytest.mark.parametrize("impl", ["fastgumbel.jax", "pure JAX"])
def test_jax(benchmark, shape, op, impl):
    fn = fgj.gumbel_softmax if impl == "fastgumbel.jax" else _pure_jax
    x = jnp.asarray(data(shape))
    gy = jnp.asarray(data(shape, 1))
    key = jax.random.key(1)
    if op == "forward":
        f = jax.jit(lambda k, x: fn(k, x, 1.0))
    else:
        def g(k, x):
            y, vjp = jax.vjp(lambda x: fn(k, x, 1.0), x)
            return y, vjp(gy)[0]
        f = jax.jit(g)
    jax.block_until_ready(f(key, x))
    benchmark.group = f"jax {op} {shape[0]}x{shape[1]}"
    benchmark(lambda: jax.block_until_ready(f(key, x)))
