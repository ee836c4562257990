"""The torch and JAX bridges on a real NVIDIA GPU: run by bench/gpu/device_check.sh with
FASTGUMBEL_GPU_TESTS=1 (tests/conftest.py ignores this directory otherwise). Fails, not
skips, without a GPU.

- a torch CUDA training step (soft, hard, learned tau) matches the CPU result of the key;
- forward and backward make no host synchronization (torch.cuda.set_sync_debug_mode);
- a CUDA graph of forward + backward replays with fresh noise of the right distribution;
- results on a non-default stream are right while that stream is busy;
- draws match the CPU exactly (float16, bfloat16, float32, float64);
- a jitted JAX GPU training step makes no host transfer (jax.transfer_guard) and matches.
Both GPU backends (CuPy, Numba CUDA) run the torch tests.
"""
import importlib.util
import os

import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")
import fastgumbel.torch as fgt  # noqa: E402
from fastgumbel.torch import _launch  # noqa: E402

if not torch.cuda.is_available():
    raise RuntimeError("tests/gpu needs a CUDA GPU (FASTGUMBEL_GPU_TESTS=1 was set)")

CUDA = torch.device("cuda")
BACKENDS = [b for b, lib in (("cupy", "cupy"), ("numba-cuda", "numba_cuda"))
            if importlib.util.find_spec(lib) is not None]


@pytest.fixture(params=BACKENDS, autouse=True)
def gpu_backend(request, monkeypatch):
    monkeypatch.setenv("FASTGUMBEL_TORCH_GPU_BACKEND", request.param)
    _launch._LAUNCHER.clear()
    yield request.param
    _launch._LAUNCHER.clear()


def _step(x, tau, hard, key, w):
    y = fgt.gumbel_softmax(x, tau, hard=hard, generator=key)
    loss = (y * w).sum()
    return (y, *torch.autograd.grad(loss, [x] + ([tau] if isinstance(tau, torch.Tensor)
                                                 and tau.requires_grad else [])))


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("learned_tau", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_training_step_matches_cpu(hard, learned_tau, dtype):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(64, 33, generator=gen, dtype=dtype)
    w0 = torch.randn(64, 33, generator=gen, dtype=dtype)
    key = fg.Key(2**35 + 17, stream=3)
    res = {}
    for dev in ("cpu", "cuda"):
        x = x0.to(dev).requires_grad_()
        tau = torch.tensor(0.7, dtype=dtype, device=dev, requires_grad=True) if learned_tau else 0.7
        res[dev] = [t.cpu() for t in _step(x, tau, hard, key, w0.to(dev))]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    for a, b in zip(res["cuda"], res["cpu"]):
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_draws_and_hard_samples_match_cpu_exactly(dtype):
    x = torch.randn(50, 17).to(dtype)
    key = fg.Key(99, stream=1)
    for dim in (-1, 0):
        assert torch.equal(fgt.gumbel_max(x.cuda(), dim, generator=key).cpu(),
                           fgt.gumbel_max(x, dim, generator=key))
        assert torch.equal(fgt.categorical(x.cuda(), 9, dim, generator=key).cpu(),
                           fgt.categorical(x, 9, dim, generator=key))
    y = fgt.gumbel_softmax(x.cuda(), 0.5, hard=True, generator=key).cpu()
    assert torch.equal(y, fgt.gumbel_softmax(x, 0.5, hard=True, generator=key))


def test_bf16_soft_is_float32_rounded_once():
    x = torch.randn(40, 21, device=CUDA)
    key = fg.Key(4)
    y16 = fgt.gumbel_softmax(x.bfloat16(), 0.5, generator=key)
    y32 = fgt.gumbel_softmax(x.bfloat16().float(), 0.5, generator=key)
    assert torch.equal(y16, y32.bfloat16())


def test_no_host_sync_in_forward_and_backward():
    x = torch.randn(128, 50, device=CUDA, requires_grad=True)
    tau = torch.tensor(0.5, device=CUDA, requires_grad=True)
    w = torch.randn(128, 50, device=CUDA)
    g = fgt.default_rng(1)
    for _ in range(2):      # warm-up: compiles the kernels, makes the Generator's counter
        _step(x, tau, True, g, w)
        _step(x, 0.5, False, None, w)
        fgt.categorical(x, 4, generator=g)
    gens = (None, g, fg.Key(3), fgt.key_tensor(5).cuda())    # the copy before the check
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for gen in gens:
            for hard in (False, True):
                _step(x, tau, hard, gen, w)
                _step(x, 0.5, hard, gen, w)
            fgt.categorical(x, 4, generator=gen)
            fgt.gumbel_max(x.detach().bfloat16(), generator=gen)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


@pytest.mark.parametrize("source", ["generator", "torch-rng"])
def test_cuda_graph_replays_fresh_noise_with_the_right_distribution(source):
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], device=CUDA)
    x = p.log().expand(256, 4).contiguous().requires_grad_()
    w = torch.arange(4.0, device=CUDA)
    gen = fgt.default_rng(7) if source == "generator" else None
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            y, gx = _step(x, 1.0, True, gen, w)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y, gx = _step(x, 1.0, True, gen, w)
    counts = torch.zeros(4, device=CUDA)
    firsts = []
    for i in range(200):
        graph.replay()
        counts += y.detach().sum(0)
        if i < 3:
            firsts.append(y.detach().clone())
    freq = (counts / counts.sum()).cpu()
    assert not torch.equal(firsts[0], firsts[1]) and not torch.equal(firsts[1], firsts[2])
    # 51200 draws: the standard error of each frequency is below 0.0022
    torch.testing.assert_close(freq, p.cpu(), atol=0.01, rtol=0)
    assert torch.isfinite(gx).all()


def test_non_default_stream_under_concurrent_work():
    a = torch.randn(4096, 4096, device=CUDA)
    key = fg.Key(12)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        busy = a
        for _ in range(8):
            busy = busy @ a / 64           # long work queued on s
        x = busy[:256, :100] * 0 + torch.arange(100.0, device=CUDA) / 10
        y = fgt.gumbel_softmax(x, 0.5, generator=key)
        d = fgt.categorical(x, 5, generator=key)
    torch.cuda.synchronize()
    x_ref = (torch.arange(100.0) / 10).expand(256, 100).contiguous()
    torch.testing.assert_close(y.cpu(), fgt.gumbel_softmax(x_ref, 0.5, generator=key),
                               rtol=1e-5, atol=1e-6)
    assert torch.equal(d.cpu(), fgt.categorical(x_ref, 5, generator=key))


def test_numpy_style_api_takes_cuda_tensors():
    x = torch.randn(30, 12, device=CUDA)
    key = fg.Key(8)
    d = fg.categorical(x, 3, rng=key)
    assert isinstance(d, torch.Tensor) and d.is_cuda
    assert np.array_equal(d.cpu().numpy(), fg.categorical(x.cpu().numpy(), 3, rng=key))
    y = fg.gumbel_softmax(x, 0.5, rng=key)
    assert y.is_cuda
    np.testing.assert_allclose(y.cpu().numpy(), fg.gumbel_softmax(x.cpu().numpy(), 0.5, rng=key),
                               rtol=1e-5, atol=1e-6)


def test_gpu_checks_raise_the_cpu_error():
    x = torch.tensor([[0.0, float("nan")], [1.0, 2.0]], device=CUDA)
    d = fgt.gumbel_max(x, generator=fg.Key(1))            # documented: the first NaN's index
    assert d.tolist()[0] == 1
    with fg.gpu_checks():
        with pytest.raises(ValueError, match="NaN in 1 row"):
            fgt.gumbel_max(x, generator=fg.Key(1))


def test_jax_gpu_training_step_has_no_host_transfer():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import fastgumbel.jax as fgj
    if jax.default_backend() != "gpu":
        pytest.fail("JAX sees no GPU")
    x0 = np.random.default_rng(0).normal(size=(64, 33)).astype(np.float32)
    x = jax.device_put(x0)
    tau = jax.device_put(np.float32(0.7))
    key = jax.random.key(3)
    w = jax.device_put(np.arange(33, dtype=np.float32))

    def loss(x, tau, key):
        return (fgj.gumbel_softmax(key, x, tau, hard=True) * w).sum()

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    step(x, tau, key)[0].block_until_ready()            # compile outside the guard
    with jax.transfer_guard("disallow"):
        val, (gx, gt) = step(x, tau, key)
        ys = jax.jit(jax.vmap(lambda k: fgj.gumbel_softmax(k, x, tau)))(jax.random.split(key, 4))
        d = jax.jit(lambda k: fgj.categorical(k, x, shape=(5, 64)))(key)
    ys.block_until_ready()
    y_host = np.asarray(jax.jit(lambda k: fgj.gumbel_softmax(k, x, tau))(key))
    np.testing.assert_allclose(np.asarray(ys[0]).sum(-1), 1, rtol=1e-5)
    assert np.isfinite(np.asarray(gx)).all() and np.isfinite(float(gt))
    assert np.asarray(d).shape == (5, 64)
    with jax.default_device(jax.devices("cpu")[0]):
        os.environ["FASTGUMBEL_JAX_GPU"] = "0"
        try:
            y_cpu = np.asarray(fgj.gumbel_softmax(key, jnp.asarray(x0), np.float32(0.7)))
        finally:
            del os.environ["FASTGUMBEL_JAX_GPU"]
    np.testing.assert_allclose(y_host, y_cpu, rtol=1e-5, atol=1e-6)
