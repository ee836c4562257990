"""fastgumbel.jax's GPU path (jax/_gpu.py) without a GPU: the buffer_callback bodies run on
JAX's CPU with a fake launcher that reads the buffers through their addresses and runs the
CPU kernels, so layout, batching (vmap), key pointers, the int32 index pairs, tau handling
and the transforms (jit, grad, vmap) are exercised; plus bfloat16 on the host path."""
import ctypes

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import fastgumbel as fg  # noqa: E402
import fastgumbel.jax as fgj  # noqa: E402
from fastgumbel import _backends  # noqa: E402
from fastgumbel.jax import _gpu  # noqa: E402


def _array(cai):
    """A NumPy view of an ``__array_interface__``-style dict (host memory)."""
    dt = np.dtype(cai["typestr"])
    n = int(np.prod(cai["shape"])) * dt.itemsize
    raw = (ctypes.c_char * max(n, 1)).from_address(cai["data"][0])
    return np.frombuffer(raw, np.uint8, count=n).view(dt).reshape(cai["shape"])


class FakeLaunch:
    def __init__(self):
        self.calls = []

    def __call__(self, ctx, name, arrays, *args, key_ptr, dtype_bf16=False):
        self.calls.append((name, dtype_bf16))
        views = [_array(a.__cuda_array_interface__) for a in arrays]
        key = tuple(np.uint64(w) for w in (ctypes.c_uint32 * 3).from_address(key_ptr))
        cpu = _backends.cpu()
        if name == "fill_noise":
            row0, _, _, _, bits64, uniform, loc, scale = args
            cpu.fill_noise(views[0], row0, *key, bits64, uniform, loc, scale)
            return
        x, out = views
        if dtype_bf16:
            x = (x.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        x = np.ascontiguousarray(x, np.float64 if x.dtype == np.float64 else np.float32)
        row0, _, _, _, bits64 = args
        getattr(cpu, name)(x, out, row0, *key, bits64)


@pytest.fixture
def fake(monkeypatch):
    f = FakeLaunch()
    monkeypatch.setattr(_gpu, "_launch", f)
    monkeypatch.setattr(_gpu, "_cai", lambda buf: np.asarray(buf).__array_interface__)
    monkeypatch.setattr(_gpu, "active", lambda: True)
    return f


def _host(f, *args, **kw):
    """The same call on the host path (the CPU kernels in a host callback)."""
    return f(*args, **kw)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_draws_equal_the_host_path(monkeypatch, dtype):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3, 9)), dtype)
    key = jax.random.key(5)
    want = [fgj.gumbel_max(key, x, axis=1), fgj.categorical(key, x, shape=(6, 4, 9), axis=1)]
    f = FakeLaunch()
    monkeypatch.setattr(_gpu, "_launch", f)
    monkeypatch.setattr(_gpu, "_cai", lambda buf: np.asarray(buf).__array_interface__)
    monkeypatch.setattr(_gpu, "active", lambda: True)
    got = [fgj.gumbel_max(key, x, axis=1), fgj.categorical(key, x, shape=(6, 4, 9), axis=1)]
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.array_equal(np.asarray(g), np.asarray(w))
    assert {c[0] for c in f.calls} == {"argmax_rows"}
    assert all(c[1] == (dtype == jnp.bfloat16) for c in f.calls)


def test_noise_equals_the_host_path(fake):
    for dt in (jnp.float32, jnp.bfloat16):
        g = fgj.gumbel(jax.random.key(2), (3, 5), dt)
        want = fg.gumbel(size=(3, 5), rng=2).astype(np.float32)
        assert np.array_equal(np.asarray(g, np.float32),
                              np.asarray(jnp.asarray(want).astype(dt), np.float32))


def test_softmax_jit_grad_vmap(fake):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(5, 7)), jnp.float32)
    key = jax.random.key(3)
    y = jax.jit(lambda k, x, t: fgj.gumbel_softmax(k, x, t))(key, x, 0.5)
    g = fg.gumbel(size=(5, 7), rng=fg.Key(0)) * 0     # shape only
    assert y.shape == g.shape
    np.testing.assert_allclose(np.asarray(y).sum(-1), 1, rtol=1e-6)
    hard = fgj.gumbel_softmax(key, x, 0.5, hard=True)
    assert np.array_equal(np.asarray(hard).argmax(-1), np.asarray(y).argmax(-1))

    def loss(x, t):
        return (fgj.gumbel_softmax(key, x, t, hard=True) * jnp.arange(7.0)).sum()
    gx, gt = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, 0.7)
    assert gx.shape == x.shape and np.isfinite(gt)
    keys = jax.random.split(key, 3)
    ys = jax.vmap(lambda k: fgj.gumbel_softmax(k, x, 0.5))(keys)
    for i in range(3):
        np.testing.assert_allclose(ys[i], fgj.gumbel_softmax(keys[i], x, 0.5), rtol=0, atol=0)
    assert not np.allclose(ys[0], ys[1])
    ds = jax.vmap(lambda k: fgj.gumbel_max(k, x))(keys)
    assert np.array_equal(ds[2], fgj.gumbel_max(keys[2], x))


def test_softmax_matches_the_host_kernel_and_bad_tau_is_nan(monkeypatch):
    x = jnp.asarray(np.random.default_rng(4).normal(size=(3, 6)), jnp.float32)
    key = jax.random.key(8)
    want = fgj.gumbel_softmax(key, x, 0.8, axis=0)
    monkeypatch.setattr(_gpu, "_launch", FakeLaunch())
    monkeypatch.setattr(_gpu, "_cai", lambda buf: np.asarray(buf).__array_interface__)
    monkeypatch.setattr(_gpu, "active", lambda: True)
    got = fgj.gumbel_softmax(key, x, 0.8, axis=0)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    bad = jax.jit(lambda t: fgj.gumbel_softmax(key, x, t))(-1.0)
    assert np.isnan(np.asarray(bad)).all()


def test_bfloat16_host_path_is_float32_rounded_once():
    x = jnp.asarray(np.random.default_rng(6).normal(size=(4, 8)), jnp.bfloat16)
    key = jax.random.key(9)
    y16 = fgj.gumbel_softmax(key, x, 0.5)
    y32 = fgj.gumbel_softmax(key, x.astype(jnp.float32), 0.5)
    assert y16.dtype == jnp.bfloat16
    assert np.array_equal(np.asarray(y16, np.float32),
                          np.asarray(y32.astype(jnp.bfloat16), np.float32))
