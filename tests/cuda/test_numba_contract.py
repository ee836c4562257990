"""The GPU contract (docs/gpu.md) on the Numba CUDA host functions: bfloat16 storage,
``key_dev``, ``check=False`` (no host read, returns None), ``cuda_stream``, and the documented
results of rows whose logits hold a NaN or +inf. Kernel-level calls (fastgumbel.cuda), so
that they run in the simulator as on a GPU."""
import numpy as np
import pytest

from fastgumbel import cpu

torch = pytest.importorskip("torch")
cuda = pytest.importorskip("numba.cuda")
fgc = pytest.importorskip("fastgumbel.cuda")

K0, K1, ST = np.uint64(12345), np.uint64(678), np.uint64(9)


def to_bf16_bits(a):
    """float32 -> bfloat16 bits (uint16), rounded to nearest even by torch."""
    return torch.tensor(np.asarray(a, np.float32)).to(torch.bfloat16).view(torch.int16).numpy(
    ).view(np.uint16)


def from_bf16_bits(b):
    return (np.asarray(b, np.uint16).astype(np.uint32) << 16).view(np.float32)


def bf16_ulps(a_bits, b_bits):
    """Distance in bfloat16 ulps (same sign assumed; NaN positions must agree)."""
    a = a_bits.astype(np.int32)
    b = b_bits.astype(np.int32)
    return int(np.max(np.abs(a - b))) if a.size else 0


def logits(shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(np.float32)


@pytest.mark.parametrize("tau,mode", [(1.0, 0), (0.5, 0), (0.5, 1), (1.0, 2)])
def test_bf16_softmax_is_float32_math_rounded_once(tau, mode):
    xb = to_bf16_bits(logits((5, 70)))
    x32 = from_bf16_bits(xb)
    ref = np.empty_like(x32)
    cpu.softmax_rows(x32, ref, 3, K0, K1, ST, False, tau, mode)
    out = np.empty_like(xb)
    fgc.softmax_rows(xb, out, 3, K0, K1, ST, False, tau, mode, bf16=True)
    assert bf16_ulps(out, to_bf16_bits(ref)) <= 1


def test_bf16_noise_and_draws():
    g32 = np.empty((3, 10), np.float32)
    cpu.fill_noise(g32, 0, K0, K1, ST, False, False, 0.5, 2.0)
    gb = np.empty((3, 10), np.uint16)
    fgc.fill_noise(gb, 0, K0, K1, ST, False, False, 0.5, 2.0, bf16=True)
    assert bf16_ulps(gb, to_bf16_bits(g32)) <= 1
    xb = to_bf16_bits(logits((4, 33), seed=1))
    ia = np.empty((4, 2), np.int64)
    ib = np.empty((4, 2), np.int64)
    assert cpu.argmax_rows(from_bf16_bits(xb), ia, 0, K0, K1, ST, False) == fgc.argmax_rows(
        xb, ib, 0, K0, K1, ST, False, bf16=True, check=True)
    assert np.array_equal(ia, ib)
    ta = np.empty((4, 3), np.int64)
    tb = np.empty((4, 3), np.int64)
    cpu.topk_rows(from_bf16_bits(xb), ta, 0, K0, K1, ST, False)
    fgc.topk_rows(xb, tb, 0, K0, K1, ST, False, bf16=True)
    assert np.array_equal(ta, tb)


def test_key_dev_replaces_the_scalar_key():
    x = logits((3, 40), seed=2)
    key = cuda.to_device(np.array([12345, 678, 9], np.uint32))
    a = np.empty_like(x)
    b = np.empty_like(x)
    fgc.softmax_rows(x, a, 0, K0, K1, ST, False, 1.0, 0)
    fgc.softmax_rows(x, b, 0, np.uint64(1), np.uint64(2), np.uint64(3), False, 1.0, 0,
                     key_dev=key)
    assert np.array_equal(a, b)
    ga = np.empty((2, 9), np.float32)
    gb = np.empty((2, 9), np.float32)
    fgc.fill_noise(ga, 0, K0, K1, ST, False, False, 0.0, 1.0)
    fgc.fill_noise(gb, 0, np.uint64(0), np.uint64(0), np.uint64(0), False, False, 0.0, 1.0,
                   key_dev=cuda.to_device(np.array([12345, 678, 9], np.int32)))
    assert np.array_equal(ga, gb)
    with pytest.raises(ValueError, match="key_dev must be a device array of 3 uint32"):
        fgc.fill_noise(gb, 0, K0, K1, ST, False, False, 0.0, 1.0,
                       key_dev=cuda.to_device(np.zeros(2, np.uint32)))


def test_check_false_returns_none_without_reading_back(monkeypatch):
    x = logits((4, 20), seed=3)
    x[1, 3] = np.nan
    dx = cuda.to_device(x)
    out = cuda.device_array(x.shape, np.float32)
    idx = cuda.device_array((4, 2), np.int64)
    cnt = cuda.device_array((4, 20), np.int64)
    stream = cuda.stream()

    def no_read(*a, **k):
        raise AssertionError("a host read with check=False")

    monkeypatch.setattr(type(dx), "copy_to_host", no_read)
    kw = dict(check=False, cuda_stream=stream)
    assert fgc.softmax_rows(dx, out, 0, K0, K1, ST, False, 1.0, 0, **kw) is None
    assert fgc.softmax_rows(dx, out, 0, K0, K1, ST, False, 1.0, 2, **kw) is None
    assert fgc.argmax_rows(dx, idx, 0, K0, K1, ST, False, **kw) is None
    assert fgc.multinomial_rows(dx, cnt, 3, 0, K0, K1, ST, False, **kw) is None
    assert fgc.topk_rows(dx, idx, 0, K0, K1, ST, False, **kw) is None
    monkeypatch.undo()
    stream.synchronize()
    assert np.isnan(out.copy_to_host()[1]).all()
    assert fgc.argmax_rows(dx, idx, 0, K0, K1, ST, False, check=True) == (1, 0)


def _bad_rows():
    x = logits((5, 11), seed=4).astype(np.float64)
    x[0, [4, 7]] = np.nan          # NaN wins, first one
    x[1, [2, 9]] = np.inf          # first +inf
    x[2, 8] = np.nan
    x[2, 1] = np.inf               # NaN ranks above +inf
    x[3, :] = -np.inf              # all -inf: as before
    return x                       # row 4 finite


def test_nan_and_inf_rows_have_documented_results():
    x = _bad_rows()
    for mode in (0, 1, 2):
        for tau in (1.0, 0.7):
            out = np.empty_like(x)
            fgc.softmax_rows(x, out, 0, K0, K1, ST, False, tau, mode, check=False)
            assert np.isnan(out[:3]).all()
            assert not np.isnan(out[3:]).any()
            assert (out[3] == (-np.inf if mode == 1 else 0.0)).all()
    idx = np.empty((5, 3), np.int64)
    assert fgc.argmax_rows(x, idx, 0, K0, K1, ST, False, check=True) == (2, 1)
    assert (idx[:4] == np.array([[4], [2], [8], [-1]])).all()
    ref = np.empty((1, 3), np.int64)
    cpu.argmax_rows(x[4:], ref, 4, K0, K1, ST, False)
    assert np.array_equal(idx[4:], ref)
    cnt = np.empty((5, 11), np.int64)
    fgc.multinomial_rows(x, cnt, 6, 0, K0, K1, ST, False, check=False)
    assert cnt[0, 4] == cnt[1, 2] == cnt[2, 8] == 6 and cnt[3].sum() == 0
    top = np.empty((5, 4), np.int64)
    fgc.topk_rows(x, top, 0, K0, K1, ST, False, check=False)
    fin = x.copy()
    fin[~np.isfinite(fin)] = -np.inf
    rest = np.empty((5, 4), np.int64)
    cpu.topk_rows(fin, rest, 0, K0, K1, ST, False)
    assert list(top[0, :2]) == [4, 7] and list(top[0, 2:]) == list(rest[0, :2])
    assert list(top[1, :2]) == [2, 9] and list(top[1, 2:]) == list(rest[1, :2])
    assert list(top[2, :2]) == [8, 1] and list(top[2, 2:]) == list(rest[2, :2])
    assert list(top[3]) == [-1] * 4 and np.array_equal(top[4], rest[4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_tau1_finds_bad_rows_by_the_sum(dtype):
    """The tau == 1 soft kernel finds NaN / +inf rows by the team sum of the weights (the
    team max ignores NaN): a NaN next to -inf only, +inf counted only without NaN, all -inf
    gives 0, finite rows (in the same blocks) as the CPU."""
    x = np.concatenate([_bad_rows(), _bad_rows()[4:]]).astype(dtype)
    x[5, :] = -np.inf
    x[5, 3] = np.nan                # the max of the others is -inf: still a NaN row
    out = np.empty_like(x)
    assert fgc.softmax_rows(x, out, 0, K0, K1, ST, False, 1.0, 0, check=True) == 1
    assert np.isnan(out[[0, 1, 2, 5]]).all() and (out[3] == 0).all()
    ref = np.empty_like(x)
    cpu.softmax_rows(x[4:5], ref[4:5], 4, K0, K1, ST, False, 1.0, 0)
    assert np.allclose(out[4], ref[4], rtol=64 * np.finfo(dtype).eps, atol=0)
    # rows whose team is a whole block (no bar.red.or; long rows past the register cache in
    # the simulator, whose blocks are 64 threads)
    y = logits((3, 1100), seed=7).astype(dtype)
    y[0, 1050] = np.inf
    y[1, 3] = np.nan
    out = np.empty_like(y)
    assert fgc.softmax_rows(y, out, 0, K0, K1, ST, False, 1.0, 0, check=True) == 1
    assert np.isnan(out[:2]).all()
    ref = np.empty_like(y)
    cpu.softmax_rows(y, ref, 0, K0, K1, ST, False, 1.0, 0)
    assert np.allclose(out[2], ref[2], rtol=64 * np.finfo(dtype).eps, atol=0)


def test_backward_of_a_bad_row_is_nan():
    x = _bad_rows()
    G = logits(x.shape, seed=5).astype(np.float64)
    gx = np.empty_like(x)
    gt = np.empty(5)
    assert fgc.softmax_backward_recompute(G, x, gx, gt, 0, K0, K1, ST, False, 0.8,
                                          check=False) is None
    assert np.isnan(gx[:3]).all() and np.isnan(gt[:3]).all()
    assert np.isfinite(gx[3:]).all()
