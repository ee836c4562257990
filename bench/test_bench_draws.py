"""pytest-benchmark suite for many draws: ``python -m pytest bench/test_bench_draws.py
--benchmark-only``. ``python -m fastgumbel bench --suite draws`` prints the ratio table.

categorical (n = 10**4 draws per row over K = 10**3, and n = 10 over K = 10**5) against
torch.multinomial(replacement=True), NumPy Generator.choice per row and jax.random.categorical;
multinomial against NumPy Generator.multinomial; gumbel_topk against torch.topk of perturbed
logits.
"""
import importlib.util

import numpy as np
import pytest

import fastgumbel as fg

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_JAX = importlib.util.find_spec("jax") is not None
CAT = [(64, 1000, 10_000), (64, 100_000, 10)]
MULTI = [(64, 1000, 10_000), (64, 1000, 1_000_000)]
TOPK = [(8, 1 << 17, 64), (1, 1 << 20, 64), (8, 1 << 20, 1024)]


def ids(s):
    return f"{s[0]}x{s[1]}-{s[2]}"


def data(rows, K):
    return np.random.default_rng(0).standard_normal((rows, K)).astype(np.float32)


def probs(x):
    p = np.exp(x - x.max(-1, keepdims=True)).astype(np.float64)
    return p / p.sum(-1, keepdims=True)


@pytest.mark.parametrize("size", CAT, ids=ids)
@pytest.mark.parametrize("method", ["auto", "gumbel"])
def test_categorical_fastgumbel(benchmark, size, method):
    rows, K, n = size
    x = data(rows, K)
    benchmark.group = f"categorical-{ids(size)}"
    benchmark(lambda: fg.categorical(x, n, rng=fg.Key(1), method=method))


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
@pytest.mark.parametrize("size", CAT, ids=ids)
def test_categorical_torch(benchmark, size):
    import torch
    rows, K, n = size
    x = torch.from_numpy(data(rows, K))
    benchmark.group = f"categorical-{ids(size)}"
    benchmark(lambda: torch.multinomial(torch.softmax(x, -1), n, replacement=True))


@pytest.mark.parametrize("size", CAT, ids=ids)
def test_categorical_numpy_choice(benchmark, size):
    rows, K, n = size
    p = probs(data(rows, K))
    benchmark.group = f"categorical-{ids(size)}"
    g = np.random.default_rng(0)
    benchmark(lambda: [g.choice(K, n, p=pr) for pr in p])


@pytest.mark.skipif(not HAVE_JAX, reason="jax not installed")
@pytest.mark.parametrize("size", CAT, ids=ids)
def test_categorical_jax(benchmark, size):
    import jax
    rows, K, n = size
    x = jax.numpy.asarray(data(rows, K))
    piece = max(1, min(n, (1 << 25) // (rows * K)))   # bounded (piece, rows, K) noise
    f = jax.jit(lambda k, l: jax.random.categorical(k, l, axis=-1, shape=(piece, rows)))
    keys = jax.random.split(jax.random.key(0), -(-n // piece))
    benchmark.group = f"categorical-{ids(size)}"
    benchmark.pedantic(lambda: [f(k, x) for k in keys][-1].block_until_ready(), rounds=2,
                       warmup_rounds=1)


@pytest.mark.parametrize("size", MULTI, ids=ids)
def test_multinomial_fastgumbel(benchmark, size):
    rows, K, n = size
    x = data(rows, K)
    benchmark.group = f"multinomial-{ids(size)}"
    benchmark(lambda: fg.multinomial(x, n, rng=fg.Key(1), method="auto"))


@pytest.mark.parametrize("size", MULTI, ids=ids)
def test_multinomial_numpy(benchmark, size):
    rows, K, n = size
    p = probs(data(rows, K))
    benchmark.group = f"multinomial-{ids(size)}"
    benchmark(lambda: np.random.default_rng(0).multinomial(n, p))


@pytest.mark.parametrize("size", TOPK, ids=ids)
def test_topk_fastgumbel(benchmark, size):
    rows, K, k = size
    x = data(rows, K)
    benchmark.group = f"topk-{ids(size)}"
    benchmark(lambda: fg.gumbel_topk(x, k, rng=fg.Key(1)))


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
@pytest.mark.parametrize("size", TOPK, ids=ids)
def test_topk_torch(benchmark, size):
    import torch
    rows, K, k = size
    x = torch.from_numpy(data(rows, K))
    benchmark.group = f"topk-{ids(size)}"
    benchmark(lambda: torch.topk(x - torch.empty_like(x).exponential_().log(), k, dim=-1))
