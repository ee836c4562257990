"""The GPU backends against the CPU backend, one test body per operation.

Run by tests/test_cuda.py in a separate process under the Numba CUDA simulator, and on a
real GPU with FASTGUMBEL_GPU_TESTS=1 (see conftest.py). The contract (stream spec v1):
random words and uniforms are bit-identical to the CPU's; Gumbel noise and float outputs
agree within float rounding (the simulator runs the CPU-compiled scalar functions, so there
they are equal; on a GPU, Numba CUDA may contract FMAs); indices agree except at exact ties
(none occur with continuous noise at these sizes).
"""
import os
import warnings

import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel import _arrays, _backends, _route

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


# (rows, K) shapes: K = 1, not a multiple of 4, and long enough for teams of 64 threads
# in the simulator (BLOCK = 64 there) / 256 on a GPU.
SHAPES = [(3, 1), (5, 13), (2, 1030)]
DTYPES = [(np.float32, "default"), (np.float32, "high"), (np.float64, "default")]


def ulps(a, b, dtype):
    """Largest difference in units of the dtype's eps, relative to max(|a|, 1)."""
    eps = np.finfo(dtype).eps
    scale = np.maximum(np.abs(a.astype(np.float64)), 1.0)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)) / scale) / eps)


def logits(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)


@pytest.mark.parametrize("dtype,precision", DTYPES)
def test_noise_equals_cpu(backend, dtype, precision):
    k = fg.Key(123456789123, 5)
    u_cpu = fg.uniform(size=(4, 9), dtype=dtype, rng=k, precision=precision)
    u_gpu = fg.uniform(size=(4, 9), dtype=dtype, rng=k, precision=precision, backend=backend)
    assert u_gpu.dtype == dtype
    assert np.array_equal(u_cpu.view(np.uint8), u_gpu.view(np.uint8))   # bit for bit
    g_cpu = fg.gumbel(0.5, 2.0, (3, 7), dtype=dtype, rng=k, precision=precision)
    g_gpu = fg.gumbel(0.5, 2.0, (3, 7), dtype=dtype, rng=k, precision=precision, backend=backend)
    assert ulps(g_cpu, g_gpu, dtype) <= 4


@pytest.mark.parametrize("dtype,precision", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_family_matches_cpu(backend, dtype, precision, shape):
    x = logits(shape, dtype)
    k = fg.Key(99, 2)
    for tau in (0.25, 1.0):
        for fn in (fg.gumbel_softmax, fg.gumbel_log_softmax):
            a = fn(x, tau, rng=k, precision=precision)
            b = fn(x, tau, rng=k, precision=precision, backend=backend)
            assert b.dtype == dtype and b.shape == shape
            assert ulps(a, b, dtype) <= 64 / tau, (fn.__name__, tau)
        h_cpu = fg.gumbel_softmax(x, tau, hard=True, rng=k, precision=precision)
        h_gpu = fg.gumbel_softmax(x, tau, hard=True, rng=k, precision=precision, backend=backend)
        assert np.array_equal(h_cpu, h_gpu)


def test_softmax_special_rows(backend):
    x = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [0.0, np.nan, 1.0],
                  [-np.inf, 3.0, -np.inf]], np.float32)
    for fn in (fg.gumbel_softmax, fg.gumbel_log_softmax):
        a = fn(x, 0.5, rng=4)
        b = fn(x, 0.5, rng=4, backend=backend)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        m = ~np.isnan(a)
        assert np.allclose(a[m], b[m], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\+inf in 1 row"):
        fg.gumbel_softmax(np.array([[0.0, np.inf]]), backend=backend, rng=0)


@pytest.mark.parametrize("dtype,precision", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_draws_match_cpu(backend, dtype, precision, shape):
    x = logits(shape, dtype, seed=1)
    k = fg.Key(2024, 7)
    kw = dict(rng=k, precision=precision)
    assert np.array_equal(fg.gumbel_max(x, **kw), fg.gumbel_max(x, backend=backend, **kw))
    assert np.array_equal(fg.categorical(x, 3, **kw), fg.categorical(x, 3, backend=backend, **kw))
    assert np.array_equal(fg.multinomial(x, 5, **kw), fg.multinomial(x, 5, backend=backend, **kw))
    kk = min(3, shape[1])
    assert np.array_equal(fg.gumbel_topk(x, kk, **kw), fg.gumbel_topk(x, kk, backend=backend, **kw))


def test_draws_special_rows(backend):
    x = np.array([[-np.inf, -np.inf, -np.inf, -np.inf], [-np.inf, 0.0, -np.inf, 1.0]])
    assert np.array_equal(fg.gumbel_max(x, rng=1, backend=backend), fg.gumbel_max(x, rng=1))
    assert np.array_equal(fg.gumbel_topk(x, 3, rng=1, backend=backend), fg.gumbel_topk(x, 3, rng=1))
    assert np.array_equal(fg.multinomial(x, 4, rng=1, backend=backend), fg.multinomial(x, 4, rng=1))
    bad = np.array([[0.0, 1.0], [np.nan, 0.0], [np.nan, 1.0]])
    for f in (lambda: fg.gumbel_max(bad, rng=0, backend=backend),
              lambda: fg.categorical(bad, 2, rng=0, backend=backend),
              lambda: fg.multinomial(bad, 2, rng=0, backend=backend),
              lambda: fg.gumbel_topk(bad, 1, rng=0, backend=backend)):
        with pytest.raises(ValueError, match="NaN in 2 row"):
            f()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0])
def test_backward_matches_cpu(backend, dtype, axis):
    x = logits((4, 6), dtype, seed=2)
    G = logits((4, 6), dtype, seed=3)
    k = fg.Key(5)
    y = fg.gumbel_softmax(x, 0.7, rng=k, axis=axis)
    for kw in (dict(y_soft=y), dict(logits=x, rng=k)):
        ga, ta = fg.gumbel_softmax_backward(G, 0.7, axis=axis, **kw)
        gb, tb = fg.gumbel_softmax_backward(G, 0.7, axis=axis, backend=backend, **kw)
        assert gb.dtype == dtype and tb.dtype == dtype
        eps = np.finfo(dtype).eps
        assert np.allclose(ga, gb, rtol=64 * eps, atol=64 * eps * np.abs(ga).max())
        assert abs(float(ta) - float(tb)) <= 64 * eps * max(1.0, abs(float(ta)))


def test_concrete_matches_cpu(backend):
    y = np.random.default_rng(4).dirichlet(np.ones(7), 5)
    x = logits((5, 7), np.float64, seed=5)
    a = fg.concrete_log_prob(y, x, 0.8)
    b = fg.concrete_log_prob(y, x, 0.8, backend=backend)
    assert np.allclose(a, b, rtol=1e-12, atol=1e-10)
    y[1, 2] = 0.0
    assert fg.concrete_log_prob(y, x, 0.8, backend=backend)[1] == -np.inf


def test_row_offset_and_teams(backend):
    """Kernel-level: row0 shifts the noise rows; every team size gives the CPU's result."""
    from fastgumbel import cpu
    mod = _backends.load(backend)
    x = logits((3, 300), np.float32, seed=6)
    a = np.empty_like(x)
    b = np.empty_like(x)
    cpu.softmax_rows(x, a, 17, np.uint64(1), np.uint64(2), np.uint64(3), False, 0.9, 0)
    mod.softmax_rows(x, b, 17, np.uint64(1), np.uint64(2), np.uint64(3), False, 0.9, 0)
    assert ulps(a, b, np.float32) <= 64
    ia = np.empty((3, 2), np.int64)
    ib = np.empty((3, 2), np.int64)
    kw = (np.uint64(1), np.uint64(2), np.uint64(3), True)
    assert cpu.argmax_rows(x, ia, 40, *kw) == mod.argmax_rows(x, ib, 40, *kw)
    assert np.array_equal(ia, ib)


def test_numba_device_arrays_in_and_out():
    """Numba device arrays go to the GPU backend and come back as device arrays."""
    from numba import cuda
    x = logits((4, 10), np.float32, seed=7)
    dx = cuda.to_device(x)
    assert _arrays.device_kind(dx) == "numba-cuda"
    y = fg.gumbel_softmax(dx, 0.5, rng=3)
    assert hasattr(y, "copy_to_host")
    assert ulps(y.copy_to_host(), fg.gumbel_softmax(x, 0.5, rng=3), np.float32) <= 64
    i = fg.gumbel_max(dx, rng=3)
    assert np.array_equal(i.copy_to_host(), fg.gumbel_max(x, rng=3))
    out = cuda.device_array((2, 5), np.float32)
    assert fg.uniform(out=out, rng=8) is out
    assert np.array_equal(out.copy_to_host(), fg.uniform(size=(2, 5), rng=8))
    with pytest.raises(ValueError, match="backend='cpu' cannot take CUDA device arrays"):
        fg.gumbel_max(dx, backend="cpu")


def test_numba_device_arrays_every_function(monkeypatch):
    """Direct (no host copy) and staged paths give the CPU's results, as device arrays."""
    from numba import cuda
    x = logits((3, 2, 9), np.float32, seed=10)
    dx = cuda.to_device(x)
    k = fg.Key(21)
    host = lambda a: a.copy_to_host()  # noqa: E731
    staged = _route.to_host

    def no_host_copy(a):
        raise AssertionError("the direct path copied an input to the host")

    # direct: the kernels read and write device memory
    monkeypatch.setattr(_route, "to_host", no_host_copy)
    for hard in (False, True):
        assert ulps(host(fg.gumbel_softmax(dx, 0.3, hard=hard, rng=k)),
                    fg.gumbel_softmax(x, 0.3, hard=hard, rng=k), np.float32) <= 64
    assert ulps(host(fg.gumbel_log_softmax(dx, 0.3, rng=k)),
                fg.gumbel_log_softmax(x, 0.3, rng=k), np.float32) <= 64
    assert np.array_equal(host(fg.gumbel_max(dx, rng=k)), fg.gumbel_max(x, rng=k))
    assert np.array_equal(host(fg.categorical(dx, 4, rng=k)), fg.categorical(x, 4, rng=k))
    assert np.array_equal(host(fg.multinomial(dx, 6, rng=k)), fg.multinomial(x, 6, rng=k))
    assert np.array_equal(host(fg.gumbel_topk(dx, 3, rng=k)), fg.gumbel_topk(x, 3, rng=k))
    g = fg.gumbel(0.5, 3.0, (2, 7), rng=k, like=dx)
    assert ulps(host(g), fg.gumbel(0.5, 3.0, (2, 7), rng=k), np.float32) <= 4
    u = fg.uniform(size=(5, 3), dtype=np.float64, rng=k, like=dx)
    assert np.array_equal(host(u), fg.uniform(size=(5, 3), dtype=np.float64, rng=k))
    # bounds and array parameters: computed on the host, returned as a device array
    lo = [0.0, 10.0, 20.0]
    u = fg.uniform(lo, 30.0, (5, 3), dtype=np.float64, rng=k, like=dx)
    assert np.array_equal(host(u), fg.uniform(lo, 30.0, (5, 3), dtype=np.float64, rng=k))
    g = fg.gumbel(lo, 2.0, (5, 3), rng=k, like=dx)
    assert np.array_equal(host(g), fg.gumbel(lo, 2.0, (5, 3), rng=k))
    x16 = x.astype(np.float16)   # float16 in and out, float32 math: the CPU's values
    d16 = cuda.to_device(x16)
    for hard in (False, True):
        y16 = host(fg.gumbel_softmax(d16, 0.5, hard=hard, rng=k))
        assert y16.dtype == np.float16
        # equal in the simulator; on a GPU a float32 ulp may move a float16 rounding
        assert ulps(y16, fg.gumbel_softmax(x16, 0.5, hard=hard, rng=k), np.float16) <= (
            0 if SIM else 1)
    assert np.array_equal(host(fg.gumbel_max(d16, rng=k)), fg.gumbel_max(x16, rng=k))
    assert np.array_equal(host(fg.gumbel_topk(d16, 2, rng=k)), fg.gumbel_topk(x16, 2, rng=k))
    assert np.array_equal(host(fg.uniform(size=(3, 5), dtype=np.float16, rng=k, like=dx)),
                          fg.uniform(size=(3, 5), dtype=np.float16, rng=k))
    with pytest.raises(ValueError, match="tau must be a finite number > 0; got 0"):
        fg.gumbel_softmax(dx, 0)
    with pytest.raises(ValueError, match=r"k=10 exceeds the number of categories \(9\)"):
        fg.gumbel_topk(dx, 10)
    bad = cuda.to_device(np.array([[0.0, np.nan], [0.0, 1.0]]))
    # device arrays: no host read by default (docs/gpu.md: the NaN entry's index) ...
    assert host(fg.gumbel_max(bad, rng=0))[0] == 1
    with fg.gpu_checks():    # ... and the CPU's exception when asked for
        with pytest.raises(ValueError, match=r"NaN in 1 row"):
            fg.gumbel_max(bad, rng=0)
    # staged through the host: another axis, one row, the backward
    monkeypatch.setattr(_route, "to_host", staged)
    for axis in (0, 1):
        assert ulps(host(fg.gumbel_softmax(dx, 0.3, axis=axis, rng=k)),
                    fg.gumbel_softmax(x, 0.3, axis=axis, rng=k), np.float32) <= 64
    x1 = x[0, 0]
    assert fg.gumbel_max(cuda.to_device(x1), rng=k) == fg.gumbel_max(x1, rng=k)
    gy = fg.gumbel_softmax(x, 0.5, rng=k)
    gb, tb = fg.gumbel_softmax_backward(cuda.to_device(x), 0.5, y_soft=cuda.to_device(gy))
    ga, ta = fg.gumbel_softmax_backward(x, 0.5, y_soft=gy)
    assert np.allclose(host(gb), ga, rtol=1e-5, atol=1e-6) and np.isclose(tb, ta, rtol=1e-5)


@pytest.mark.gpu
def test_cupy_arrays_in_and_out():
    import cupy
    x = logits((4, 10), np.float32, seed=8)
    cx = cupy.asarray(x)
    y = fg.gumbel_softmax(cx, 0.5, rng=3)
    assert isinstance(y, cupy.ndarray)
    assert ulps(y.get(), fg.gumbel_softmax(x, 0.5, rng=3), np.float32) <= 64
    assert isinstance(fg.gumbel_max(cx, rng=3), cupy.ndarray)


@pytest.mark.gpu
def test_large_rows_on_gpu(backend):
    """Long rows (block teams, noise recomputed past the register cache)."""
    x = logits((4, 70000), np.float32, seed=9)
    k = fg.Key(1)
    assert ulps(fg.gumbel_softmax(x, 1.0, rng=k),
                fg.gumbel_softmax(x, 1.0, rng=k, backend=backend), np.float32) <= 64
    assert np.array_equal(fg.gumbel_max(x, rng=k), fg.gumbel_max(x, rng=k, backend=backend))


def test_launch_hides_only_the_small_grid_warning():
    """Numba warns on every launch of fewer than 128 blocks; a small input needs a small grid,
    so cuda._host._launch drops that one warning and lets any other through."""
    from fastgumbel import cuda as fgc
    from fastgumbel.cuda import _host

    class Kernel:
        def __getitem__(self, config):
            warnings.warn("Grid size 1 will likely result in GPU under-utilization due to low "
                          "occupancy.", RuntimeWarning)
            # as Numba sends it: highlighted with ANSI codes
            warnings.warn("\x1b[1mGrid size 16 will likely result in GPU under-utilization due "
                          "to low occupancy.\x1b[0m", RuntimeWarning)
            warnings.warn("another warning", RuntimeWarning)
            return config

    with pytest.warns(RuntimeWarning) as seen:
        assert _host._launch(Kernel(), 3) == (3, fgc.BLOCK)
    assert [str(w.message) for w in seen] == ["another warning"]


def test_small_inputs_launch_without_warnings(backend):
    """One block of work (a few short rows) reaches the caller with no warning at all."""
    x = logits((2, 5), np.float32, seed=11)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fg.gumbel_max(x, rng=1, backend=backend)
        fg.gumbel_softmax(x, 0.5, hard=True, rng=1, backend=backend)
        fg.gumbel(size=(2, 3), rng=1, backend=backend)
        fg.multinomial(x, 3, rng=1, backend=backend)
    assert [str(w.message) for w in seen] == []
