"""The CuPy wrappers' GPU contract (docs/gpu.md): bfloat16 as uint16 views, a key read from
the device (``key_dev``), no host read with ``check=False``, the documented NaN / +inf row
results, launches on CuPy's current stream. Real GPU only (FASTGUMBEL_GPU_TESTS=1)."""
import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel import cpu

pytestmark = pytest.mark.gpu

KEY = (12345, 678, 9)


@pytest.fixture(scope="module")
def cp():
    return pytest.importorskip("cupy")


@pytest.fixture(scope="module")
def fcp(cp):
    import fastgumbel.cupy as m
    return m


def _bf16_bits(a32):
    """float32 -> bfloat16 bits, round to nearest even, NaN -> 0x7FC0 (torch's rule)."""
    u = a32.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(a32), np.uint16(0x7FC0), r)


def _bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _logits(rows, K, seed=0):
    return (np.random.default_rng(seed).standard_normal((rows, K)) * 3).astype(np.float32)


@pytest.mark.parametrize("K", [7, 1030, 5000])
def test_bf16_sampler_and_noise(cp, fcp, K):
    x32 = _bf16_to_f32(_bf16_bits(_logits(6, K)))       # logits exactly representable
    xb = cp.asarray(_bf16_bits(x32))
    out = cp.empty(xb.shape, cp.uint16)
    fcp.softmax_rows(xb, out, 0, *KEY, 0, 1.0, 0, check=False, bf16=True)
    ref = np.empty_like(x32)
    cpu.softmax_rows(x32, ref, 0, *KEY, 0, 1.0, 0)
    got = _bf16_to_f32(cp.asnumpy(out))
    assert np.allclose(got, ref, rtol=2 ** -7, atol=1e-6)
    idx = cp.empty((6, 1), cp.int64)
    fcp.argmax_rows(xb, idx, 0, *KEY, 0, check=False, bf16=True)
    ref_i = np.empty((6, 1), np.int64)
    cpu.argmax_rows(x32, ref_i, 0, *KEY, 0)
    assert np.array_equal(cp.asnumpy(idx), ref_i)
    g = cp.empty((3, K), cp.uint16)
    fcp.fill_noise(g, 0, *KEY, 0, 0, 0.0, 1.0, bf16=True)
    g32 = np.empty((3, K), np.float32)
    cpu.fill_noise(g32, 0, *KEY, 0, 0, 0.0, 1.0)
    assert np.array_equal(cp.asnumpy(g), _bf16_bits(g32))   # float32 noise rounded once


def test_key_from_device(cp, fcp):
    x = cp.asarray(_logits(4, 300))
    a, b = cp.empty((4, 1), cp.int64), cp.empty((4, 1), cp.int64)
    fcp.argmax_rows(x, a, 0, *KEY, 0, check=False)
    kd = cp.asarray(np.array(KEY, np.uint32))
    fcp.argmax_rows(x, b, 0, 1, 2, 3, 0, check=False, key_dev=kd)
    assert cp.array_equal(a, b)
    ya, yb = cp.empty(x.shape, cp.float32), cp.empty(x.shape, cp.float32)
    fcp.softmax_rows(x, ya, 0, *KEY, 0, 0.5, 0, check=False)
    fcp.softmax_rows(x, yb, 0, 0, 0, 0, 0, 0.5, 0, check=False, key_dev=int(kd.data.ptr))
    assert cp.array_equal(ya, yb)


def test_check_false_returns_none_and_check_true_counts(cp, fcp):
    x = _logits(3, 40)
    x[1, 5] = np.nan
    x[2, 7] = np.inf
    dx = cp.asarray(x)
    idx = cp.empty((3, 1), cp.int64)
    assert fcp.argmax_rows(dx, idx, 0, *KEY, 0, check=False) is None
    assert fcp.argmax_rows(dx, idx, 0, *KEY, 0, check=True) == (1, 1)
    out = cp.empty(dx.shape, cp.float32)
    assert fcp.softmax_rows(dx, out, 0, *KEY, 0, 1.0, 0, check=False) is None
    assert fcp.softmax_rows(dx, out, 0, *KEY, 0, 1.0, 0, check=True) == 1


@pytest.mark.parametrize("K", [40, 1030])
def test_nan_and_inf_rows(cp, fcp, K):
    x = _logits(4, K)
    x[0, [9, 3]] = np.nan        # first NaN: 3
    x[0, 1] = np.inf
    x[1, [11, 6]] = np.inf       # first +inf: 6
    x[3, :] = -np.inf
    dx = cp.asarray(x)
    idx = cp.empty((4, 1), cp.int64)
    fcp.argmax_rows(dx, idx, 0, *KEY, 0, check=False)
    got = cp.asnumpy(idx)[:, 0]
    assert got[0] == 3 and got[1] == 6 and got[3] == -1
    for mode in (0, 1, 2):
        for tau in (1.0, 0.5):
            out = cp.empty(dx.shape, cp.float32)
            fcp.softmax_rows(dx, out, 0, *KEY, 0, tau, mode, check=False)
            y = cp.asnumpy(out)
            assert np.isnan(y[0]).all() and np.isnan(y[1]).all()
            assert np.isfinite(y[2]).all()
            assert (y[3] == (-np.inf if mode == 1 else 0)).all()
    top = cp.empty((4, 3), cp.int64)
    fcp.topk_rows(dx, top, 0, *KEY, 0, check=False)
    t = cp.asnumpy(top)
    assert list(t[0]) == [3, 9, 1] and list(t[1][:2]) == [6, 11] and (t[3] == -1).all()


def test_hard_index_is_the_cpu_argmax(cp, fcp):
    x = _logits(64, 2000, seed=4)
    dx = cp.asarray(x)
    for tau in (1.0, 0.3):
        out = cp.empty(dx.shape, cp.float32)
        fcp.softmax_rows(dx, out, 5, *KEY, 0, tau, 2, check=False)
        ref = np.empty((64, 1), np.int64)
        cpu.argmax_rows(x, ref, 5, *KEY, 0)
        assert np.array_equal(cp.asnumpy(out).argmax(axis=1), ref[:, 0])


def test_runs_on_the_current_stream(cp, fcp):
    x = cp.asarray(_logits(512, 4096))
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        out = cp.empty(x.shape, cp.float32)
        fcp.softmax_rows(x, out, 0, *KEY, 0, 1.0, 0, check=False)
    s.synchronize()
    ref = np.empty(x.shape, np.float32)
    cpu.softmax_rows(cp.asnumpy(x), ref, 0, *KEY, 0, 1.0, 0)
    assert np.allclose(cp.asnumpy(out), ref, rtol=1e-5, atol=1e-7)
    assert fg  # the package imports with CuPy present
