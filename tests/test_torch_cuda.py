"""The torch bridge's CUDA side, without a GPU: op registration, fake implementations on
fake CUDA tensors, opcheck on CPU inputs, and the kernels' host plumbing (layout, dtypes,
keys, streams, checks) against a fake backend that runs the CPU kernels on CPU tensors.

What needs a GPU is in tests/gpu/test_bridges_gpu.py (bench/gpu/device_check.sh)."""
import ctypes

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastgumbel as fg  # noqa: E402
import fastgumbel.torch as fgt  # noqa: E402
from fastgumbel import _backends  # noqa: E402
from fastgumbel.torch import _cuda, _cuda_keys, _launch, _ops  # noqa: E402

OPS = ("gumbel_softmax", "gumbel_softmax_st", "categorical")


def test_ops_have_cuda_kernels():
    for name in OPS:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"fastgumbel::{name}", "CUDA")


def test_opcheck_on_cpu_inputs():
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    tau = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    key = fgt.key_tensor(fg.Key(3))
    torch.library.opcheck(_ops.gumbel_softmax, (x, tau, key, False, 1))
    torch.library.opcheck(_ops.gumbel_softmax, (x, tau, key, True, 0))
    torch.library.opcheck(_ops.gumbel_softmax_st, (x, tau, key, 1))
    torch.library.opcheck(_ops.categorical, (x.detach(), key, -1, 1))
    torch.library.opcheck(_ops.categorical, (x.detach(), key, 4, 0))


def _fake_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode
    return FakeTensorMode()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_fake_cuda_tensors_through_the_public_functions(dtype):
    # (autograd nodes on fake CUDA tensors need a torch built with CUDA: no grad here; the
    # gradient formulas are torch ops, run on CPU tensors by test_torch_compile.py)
    with _fake_mode():
        x = torch.empty(4, 6, dtype=dtype, device="cuda")
        tau = torch.empty((), device="cuda")
        for hard in (False, True):
            y = fgt.gumbel_softmax(x, tau, hard=hard, generator=fgt.default_rng(3))
            assert y.shape == x.shape and y.dtype == dtype and y.is_cuda
        y = fgt.gumbel_softmax(x.detach(), 0.5, dim=0, generator=fg.Key(1))
        assert y.shape == x.shape and y.is_cuda
        d = fgt.categorical(x, 7, generator=fgt.key_tensor(1))
        assert d.shape == (4, 7) and d.dtype == torch.int64 and d.is_cuda
        assert fgt.gumbel_max(x, dim=0).shape == (6,)


def test_export_traces_the_ops_on_fake_cuda_tensors():
    class M(torch.nn.Module):
        def forward(self, x, key):
            return fgt.gumbel_softmax(x, 0.5, hard=True, generator=key)

    with _fake_mode():
        x = torch.empty(4, 6, device="cuda")
        key = torch.zeros(3, dtype=torch.int64, device="cuda")
        ep = torch.export.export(M(), (x, key))
    assert "fastgumbel.gumbel_softmax" in str(ep.graph)


# ----------------------------------------------------------------------------------------
# the CUDA kernels' host side on a fake backend (CPU kernels on CPU tensors)


def _np(t):
    return t.numpy()


class FakeBackend:
    """The contract's wrapper signatures over the CPU kernels; records the GPU keywords.
    float16 / bfloat16 arrays are computed in float32 and rounded once, as on the GPU."""

    def __init__(self):
        self.calls = []

    def _key(self, name, key_dev, check, bf16, words):
        self.calls.append(dict(name=name, key_dev=key_dev, check=check, bf16=bf16))
        if key_dev is not None:
            words = tuple((ctypes.c_uint32 * 3).from_address(key_dev))
        return tuple(np.uint64(w) for w in words)

    def softmax_rows(self, x, out, row0, k0, k1, stream, bits64, tau, mode, *, key_dev=None,
                     check=False, bf16=False):
        key = self._key("softmax_rows", key_dev, check, bf16, (k0, k1, stream))
        assert (x.dtype == torch.bfloat16) == bf16
        cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
        o = torch.empty(out.shape, dtype=cdt)
        posinf = _backends.cpu().softmax_rows(_np(x.to(cdt)), _np(o), row0, *key, bits64, tau,
                                              mode)
        out.copy_(o)
        return posinf if check else None

    def argmax_rows(self, x, idx, row0, k0, k1, stream, bits64, *, key_dev=None, check=False,
                    bf16=False):
        key = self._key("argmax_rows", key_dev, check, bf16, (k0, k1, stream))
        cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
        bad = _backends.cpu().argmax_rows(_np(x.to(cdt)), _np(idx), row0, *key, bits64)
        return bad if check else None

    def fill_noise(self, out, row0, k0, k1, stream, bits64, uniform, loc, scale, *,
                   key_dev=None):
        key = self._key("fill_noise", key_dev, None, False, (k0, k1, stream))
        _backends.cpu().fill_noise(_np(out), row0, *key, bits64, uniform, loc, scale)


class FakeLauncher:
    name = "fake"

    def __init__(self):
        self.mod = FakeBackend()
        self.devices = []

    def wrap(self, t):
        assert t.is_contiguous()
        return t

    def run(self, fn, device, args, kw):
        self.devices.append(device)
        return fn(*args, **kw)


@pytest.fixture
def fake(monkeypatch):
    """CPU tensors marked ``fake_cuda`` count as device tensors; kernels run on the CPU."""
    ln = FakeLauncher()
    monkeypatch.setattr(_launch, "_LAUNCHER", [ln])
    monkeypatch.setattr(_launch, "on_device", lambda t: getattr(t, "fake_cuda", False))
    return ln


def _dev(t):
    t.fake_cuda = True
    return t


def _cpu_op(op, *args):
    return op(*args)     # dispatched on CPU tensors: the CPU implementation


DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [-1, 0])
@pytest.mark.parametrize("hard", [False, True])
def test_fused_kernels_equal_the_cpu_ops(fake, dtype, dim, hard):
    x = torch.randn(5, 7, dtype=torch.float64).to(dtype)
    tau = torch.tensor(0.6, dtype=torch.float64)
    key = fgt.key_tensor(fg.Key(2**33 + 5, stream=4))
    d = dim % 2
    want = _cpu_op(_ops.gumbel_softmax, x, tau, key, hard, d)
    got = _cuda.gumbel_softmax(x, tau, key, hard, d)
    assert got.dtype == dtype and got.shape == x.shape and got.is_contiguous()
    if dtype == torch.float16 and not hard:
        torch.testing.assert_close(got, want, atol=1e-3, rtol=0)
    else:
        assert torch.equal(got, want)
    calls = fake.mod.calls
    assert calls and all(c["key_dev"] is None and c["check"] is False for c in calls)
    assert all(c["bf16"] == (dtype == torch.bfloat16) for c in calls)


def test_bfloat16_is_float32_rounded_once(fake):
    x = torch.randn(6, 9)
    tau = torch.tensor(0.8, dtype=torch.float64)
    key = fgt.key_tensor(7)
    got = _cuda.gumbel_softmax(x.to(torch.bfloat16), tau, key, False, 1)
    want = _cuda.gumbel_softmax(x.to(torch.bfloat16).float(), tau, key, False, 1)
    assert torch.equal(got, want.to(torch.bfloat16))


@pytest.mark.parametrize("dtype", DTYPES)
def test_straight_through_kernel(fake, dtype):
    x = torch.randn(4, 3, 6, dtype=torch.float64).to(dtype)
    tau = torch.tensor(1.3, dtype=torch.float64)
    key = fgt.key_tensor(11)
    hot, y = _cuda.gumbel_softmax_st(x, tau, key, 1)
    hot_c, y_c = _cpu_op(_ops.gumbel_softmax_st, x, tau, key, 1)
    assert y.dtype == y_c.dtype and hot.dtype == dtype
    assert torch.equal(y, y_c) and torch.equal(hot, hot_c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [-1, 0, 5])
def test_draws_equal_the_cpu_op(fake, dtype, n):
    x = torch.randn(3, 4, 8, dtype=torch.float64).to(dtype)
    key = fgt.key_tensor(fg.Key(9, stream=2))
    for dim in (2, 1):
        want = _cpu_op(_ops.categorical, x, key, n, dim)
        got = _cuda.categorical(x, key, n, dim)
        assert got.shape == want.shape and torch.equal(got, want)
    zero_d = _cuda.categorical(torch.tensor(1.5, dtype=dtype), key, -1, 0)
    assert zero_d.shape == () and int(zero_d) == 0


def test_device_key_goes_as_key_dev(fake):
    x = torch.randn(4, 5)
    words = fgt.key_tensor(fg.Key(2**40 + 2**31 + 3, stream=2**32 - 1))
    want = _cpu_op(_ops.gumbel_softmax, x, torch.tensor(0.5), words, False, 1)
    got = _cuda.gumbel_softmax(x, torch.tensor(0.5), _dev(words.clone()), False, 1)
    assert torch.equal(got, want)
    call = fake.mod.calls[-1]
    assert call["key_dev"] is not None
    d_want = _cpu_op(_ops.categorical, x, words, 3, 1)
    assert torch.equal(_cuda.categorical(x, _dev(words.clone()), 3, 1), d_want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_device_tau_uses_the_noise_kernel_and_torch_softmax(fake, dtype):
    x = torch.randn(5, 6, dtype=torch.float64).to(dtype)
    key = fgt.key_tensor(4)
    for tau in (_dev(torch.tensor(0.7)), _dev(torch.tensor([0.5, 1, 2, 3, 0.25]).reshape(5, 1))):
        want = _cpu_op(_ops.gumbel_softmax, x, tau, key, False, 1)
        got = _cuda.gumbel_softmax(x, tau, key, False, 1)
        tol = 1e-2 if dtype == torch.bfloat16 else 1e-5
        torch.testing.assert_close(got, want, atol=tol, rtol=0)
        hot = _cuda.gumbel_softmax(x, tau, key, True, 1)
        assert torch.equal(hot.sum(1), torch.ones(5, dtype=dtype))
    assert any(c["name"] == "fill_noise" for c in fake.mod.calls)
    bad = _dev(torch.tensor([0.5, -1, float("nan"), 1, float("inf")]).reshape(5, 1))
    y = _cuda.gumbel_softmax(x, bad, key, False, 1)
    assert torch.isnan(y[[1, 2, 4]]).all() and not torch.isnan(y[[0, 3]]).any()


def test_tau_on_dim_zero_per_column(fake):
    x = torch.randn(6, 4, dtype=torch.float64)
    tau = _dev(torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64))
    key = fgt.key_tensor(5)
    want = _cpu_op(_ops.gumbel_softmax, x, tau.reshape(1, 4), key, False, 0)
    got = _cuda.gumbel_softmax(x, tau.reshape(1, 4), key, False, 0)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_checks_are_opt_in(fake):
    x = torch.tensor([[0.0, float("nan"), 1.0], [0.0, 1.0, 2.0]])
    key = fgt.key_tensor(1)
    d = _cuda.categorical(x, key, -1, 1)            # unchecked: no host read, no error
    assert d.shape == (2,)
    assert fake.mod.calls[-1]["check"] is False
    with fg.gpu_checks():
        with pytest.raises(ValueError, match="NaN in 1 row"):
            _cuda.categorical(x, key, -1, 1)
        assert fake.mod.calls[-1]["check"] is True
        inf = torch.tensor([[0.0, float("inf")]])
        with pytest.raises(ValueError, match=r"\+inf in 1 row"):
            _cuda.gumbel_softmax(inf, torch.tensor(1.0), key, False, 1)
    assert not fg.gpu_checks_enabled()


def test_one_hot_without_branches():
    y = torch.tensor([[0.1, 0.7, 0.2], [0.0, 0.0, 0.0], [0.3, float("nan"), 0.1]])
    h = _cuda.one_hot(y, torch.float32)
    assert h[0].tolist() == [0, 1, 0] and h[1].tolist() == [0, 0, 0]
    assert torch.isnan(h[2]).all()


def test_generator_device_counter_advances_with_device_ops():
    g = fgt.default_rng(12)
    child = fg.default_rng(12).spawn(1)[0]
    dev = torch.device("cpu")
    keys = [_cuda_keys.next_device_key(g, dev) for _ in range(3)]
    k0, k1, _ = child.next_key().words
    for i, k in enumerate(keys):
        assert k.dtype == torch.int32
        assert [w & 0xFFFFFFFF for w in k.tolist()] == [k0, k1, i]
    assert g.next_key().stream == 0          # the host counter is the host's own


def test_gumbel_rao_on_cuda_is_refused_clearly():
    with _fake_mode():
        x = torch.empty(2, 3, device="cuda", requires_grad=True)
        with pytest.raises(TypeError, match="gumbel-rao"):
            fgt.gumbel_softmax(x, 1.0, hard=True, estimator="gumbel-rao", samples=4)


def test_launch_refuses_key_dev_for_an_old_wrapper(monkeypatch):
    class Old:
        @staticmethod
        def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale):
            pass

    ln = FakeLauncher()
    ln.mod = Old()
    monkeypatch.setattr(_launch, "_LAUNCHER", [ln])
    with pytest.raises(RuntimeError, match="key_dev"):
        _launch.launch("fill_noise", None, None, 0, 0, 0, 0, False, False, 0.0, 1.0,
                       key_dev=torch.zeros(3, dtype=torch.int32))


def test_device_view_describes_the_memory():
    t = torch.zeros(3, 4, dtype=torch.bfloat16)
    cai = _launch.DeviceView(t).__cuda_array_interface__
    assert cai["typestr"] == "<u2" and cai["shape"] == (3, 4) and cai["stream"] is None
    assert cai["data"] == (t.data_ptr(), False)
