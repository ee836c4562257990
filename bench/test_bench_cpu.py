"""pytest-benchmark suite: ``python -m pytest bench --benchmark-only``.

Operation x size x dtype x thread count for fastgumbel, and the torch / NumPy peers where
installed, in the same session. ``python -m fastgumbel bench`` prints the ratio table.
"""
import importlib.util

import numba
import numpy as np
import pytest

import fastgumbel as fg

SIZES = [(4096, 1024), (256, 32768)]
THREADS = sorted({1, numba.config.NUMBA_NUM_THREADS})
HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(params=THREADS, ids=lambda t: f"threads{t}")
def threads(request):
    before = numba.get_num_threads()
    numba.set_num_threads(request.param)
    if HAVE_TORCH:
        import torch
        torch.set_num_threads(request.param)
    yield request.param
    numba.set_num_threads(before)


def data(shape, dtype):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["soft", "hard", "gumbel_max", "noise", "fwd_bwd"])
def test_fastgumbel(benchmark, threads, shape, dtype, op):
    x = data(shape, dtype)
    out = np.empty_like(x)
    key = fg.Key(1)
    f = {
        "soft": lambda: fg.gumbel_softmax(x, 1.0, rng=key, out=out),
        "hard": lambda: fg.gumbel_softmax(x, 1.0, hard=True, rng=key, out=out),
        "gumbel_max": lambda: fg.gumbel_max(x, rng=key),
        "noise": lambda: fg.gumbel(size=shape, dtype=dtype, rng=key, out=out),
        "fwd_bwd": lambda: fg.gumbel_softmax_backward(x, 1.0, logits=x, rng=key),
    }[op]
    benchmark.group = f"{op}-{shape[0]}x{shape[1]}-{np.dtype(dtype)}"
    benchmark(f)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")
@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["soft", "hard", "gumbel_max", "fwd_bwd"])
def test_torch(benchmark, threads, shape, dtype, op):
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(data(shape, dtype))
    xg = x.clone().requires_grad_(True)

    def fwd_bwd():
        F.gumbel_softmax(xg, 1.0).backward(x)
        xg.grad = None

    f = {
        "soft": lambda: F.gumbel_softmax(x, 1.0),
        "hard": lambda: F.gumbel_softmax(x, 1.0, hard=True),
        "gumbel_max": lambda: (x - torch.empty_like(x).exponential_().log()).argmax(-1),
        "fwd_bwd": fwd_bwd,
    }[op]
    benchmark.group = f"{op}-{shape[0]}x{shape[1]}-{np.dtype(dtype)}"
    benchmark(f)


@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_numpy_gumbel(benchmark, shape, dtype):
    benchmark.group = f"noise-{shape[0]}x{shape[1]}-{np.dtype(dtype)}"
    benchmark(lambda: np.random.default_rng(0).gumbel(size=shape).astype(dtype, copy=False))


HAVE_JAX = importlib.util.find_spec("jax") is not None


@pytest.mark.skipif(not HAVE_JAX, reason="jax not installed")
@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("op", ["soft", "gumbel_max", "noise"])
def test_jax(benchmark, shape, op):
    import jax
    import jax.numpy as jnp
    x = jnp.asarray(data(shape, np.float32))
    key = jax.random.key(0)
    f = {
        "soft": jax.jit(lambda k, v: jax.nn.softmax(v + jax.random.gumbel(k, v.shape), -1)),
        "gumbel_max": jax.jit(lambda k, v: jax.random.categorical(k, v, -1)),
        "noise": jax.jit(lambda k, v: jax.random.gumbel(k, v.shape)),
    }[op]
    benchmark.group = f"{op}-{shape[0]}x{shape[1]}-float32"
    benchmark(lambda: f(key, x).block_until_ready())


@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_numpy_softmax(benchmark, shape):
    from fastgumbel._bench import _numpy_soft
    x = data(shape, np.float32)
    benchmark.group = f"soft-{shape[0]}x{shape[1]}-float32"
    benchmark(lambda: _numpy_soft(x))
