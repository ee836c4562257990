"""fastgumbel.torch: values, gradients (gradcheck, autograd oracle), straight-through,
generator semantics, torch.compile, zero-copy."""
import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")
fgt = pytest.importorskip("fastgumbel.torch")

KEY = fg.Key(123, stream=4)


def logits(shape=(5, 7), dtype=torch.float64, seed=0):
    rs = np.random.default_rng(seed)
    return torch.from_numpy(rs.standard_normal(shape)).to(dtype)


def noise(shape, dtype, key, dim=-1):
    """The noise field of ``key`` for ``shape`` with ``dim`` as the category axis."""
    moved = list(shape)
    moved.append(moved.pop(dim))
    np_dt = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    g = torch.from_numpy(fg.gumbel(size=tuple(moved), dtype=np_dt, rng=key))
    return torch.movedim(g, -1, dim)


@pytest.mark.parametrize("dim", [-1, 0])
def test_gradcheck_float64(dim):
    x = logits((4, 5)).requires_grad_()
    tau = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, t: fgt.gumbel_softmax(a, t, dim=dim, generator=KEY), (x, tau))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("dim", [-1, 1, 0])
def test_grads_equal_autograd_through_softmax_with_the_same_noise(dtype, tol, dim):
    shape = (3, 6, 4)
    x = logits(shape, dtype).requires_grad_()
    tau = torch.tensor(0.6, dtype=dtype, requires_grad=True)
    w = logits(shape, dtype, seed=1)
    y = fgt.gumbel_softmax(x, tau, dim=dim, generator=KEY)
    g = noise(shape, dtype, KEY, dim)
    y_ref = torch.softmax((x + g) / tau, dim)
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    got = torch.autograd.grad((y * w).sum(), (x, tau))
    want = torch.autograd.grad((y_ref * w).sum(), (x, tau))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("dim", [-1, 0])
def test_hard_is_one_hot_of_soft_and_has_the_soft_gradient(dim):
    x = logits((6, 5)).requires_grad_()
    tau = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    w = logits((6, 5), seed=2)
    soft = fgt.gumbel_softmax(x, tau, dim=dim, generator=KEY)
    hard = fgt.gumbel_softmax(x, tau, hard=True, dim=dim, generator=KEY)
    idx = soft.detach().argmax(dim, keepdim=True)
    assert torch.equal(hard.detach(), torch.zeros_like(hard).scatter_(dim, idx, 1.0))
    gs = torch.autograd.grad((soft * w).sum(), (x, tau))
    gh = torch.autograd.grad((hard * w).sum(), (x, tau))
    for a, b in zip(gs, gh):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_float_tau_and_float16_and_no_grad():
    x = logits((3, 4), torch.float32)
    y = fgt.gumbel_softmax(x, 0.5, generator=KEY)
    assert y.dtype == torch.float32 and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), fg.gumbel_softmax(x.numpy(), 0.5, rng=KEY))
    h = fgt.gumbel_softmax(x.half(), 0.5, generator=KEY)
    assert h.dtype == torch.float16
    np.testing.assert_array_equal(h.numpy(), fg.gumbel_softmax(x.half().numpy(), 0.5, rng=KEY))
    xg = x.clone().requires_grad_()
    fgt.gumbel_softmax(xg, 0.5, generator=KEY).sum().backward()   # tau is not a leaf
    assert xg.grad.shape == x.shape


def test_drop_in_distribution_matches_torch():
    """Hard samples are one-hot draws of softmax(logits): frequencies within 5 sigma."""
    p = torch.tensor([0.5, 0.25, 0.15, 0.1], dtype=torch.float64)
    n = 20000
    x = p.log().expand(n, 4).contiguous()
    h = fgt.gumbel_softmax(x, 0.3, hard=True, generator=fg.Key(1))
    freq = h.mean(0)
    sigma = (p * (1 - p) / n).sqrt()
    assert bool(((freq - p).abs() < 5 * sigma).all())
    assert h.shape == torch.nn.functional.gumbel_softmax(x, 0.3, hard=True).shape


def test_discrete_draws_equal_the_numpy_api():
    x = logits((5, 8)).requires_grad_()
    xn = x.detach().numpy()
    gm = fgt.gumbel_max(x, generator=KEY)
    assert gm.dtype == torch.int64 and gm.shape == (5,)
    np.testing.assert_array_equal(gm.numpy(), fg.gumbel_max(xn, rng=KEY))
    np.testing.assert_array_equal(fgt.gumbel_max(x, dim=0, generator=KEY).numpy(),
                                  fg.gumbel_max(xn, axis=0, rng=KEY))
    c = fgt.categorical(x, 9, generator=KEY)
    assert c.shape == (5, 9)
    np.testing.assert_array_equal(c.numpy(), fg.categorical(xn, 9, rng=KEY))
    np.testing.assert_array_equal(fgt.categorical(x, generator=KEY).numpy(), gm.numpy())


def test_generator_semantics():
    x = logits((3, 4))
    first = fgt.gumbel_softmax(x, generator=fg.Key(5))
    assert torch.equal(first, fgt.gumbel_softmax(x, generator=5))               # int seed
    assert torch.equal(first, fgt.gumbel_softmax(x, generator=fgt.key_tensor(5)))
    g = fg.default_rng(5)                                                         # advances
    assert torch.equal(fgt.gumbel_softmax(x, generator=g), first)
    assert torch.equal(fgt.gumbel_softmax(x, generator=g),
                       fgt.gumbel_softmax(x, generator=fg.Key(5, 1)))
    assert g.streams_used == 2
    tg = fgt.default_rng(5)
    assert isinstance(tg, fg.Generator)
    assert torch.equal(fgt.gumbel_softmax(x, generator=tg), first)
    assert tg.streams_used == 1
    torch.manual_seed(3)                                                          # None
    a = fgt.gumbel_softmax(x)
    b = fgt.gumbel_softmax(x)
    torch.manual_seed(3)
    assert torch.equal(fgt.gumbel_softmax(x), a) and not torch.equal(a, b)


def test_errors():
    x = logits((3, 4))
    with pytest.raises(TypeError, match="generator is a torch.Generator, which cannot drive"):
        fgt.gumbel_softmax(x, generator=torch.Generator())
    with pytest.raises(TypeError, match="generator must be None"):
        fgt.gumbel_softmax(x, generator="seed")
    with pytest.raises(ValueError, match="a key tensor must be int64"):
        fgt.gumbel_softmax(x, generator=torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="logits must be a float16, bfloat16, float32 or float64 "
                                        "tensor; got dtype torch.int64"):
        fgt.gumbel_softmax(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        fgt.gumbel_softmax(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"tau of shape \(2,\) does not broadcast against "
                                         r"logits \(3, 4\) without their category axis 1"):
        fgt.gumbel_softmax(x, torch.ones(2))
    with pytest.raises(ValueError, match=r"tau of shape \(3, 4\) varies along the category"):
        fgt.gumbel_softmax(x, torch.ones(3, 4))
    with pytest.raises(ValueError, match="tau must be a finite number > 0; got 0.0"):
        fgt.gumbel_softmax(x, 0.0)
    with pytest.raises(ValueError, match="hard must be True or False"):
        fgt.gumbel_softmax(x, hard=2)
    with pytest.raises(TypeError, match="hard must be True or False; got 'yes'"):
        fgt.gumbel_softmax(x, hard="yes")
    with pytest.raises(ValueError, match="num_samples must be >= 0"):
        fgt.categorical(x, -1)
    with pytest.raises(ValueError, match="NaN"):
        fgt.gumbel_max(torch.full((2, 3), float("nan")))


def test_zero_copy_in_and_out(monkeypatch):
    seen = {}
    cpu = fg._backends.cpu()
    real = cpu.softmax_rows_c

    def spy(x, out, *rest):
        seen["in"] = x.__array_interface__["data"][0]
        seen["out"] = out.__array_interface__["data"][0]
        return real(x, out, *rest)

    monkeypatch.setattr(cpu, "softmax_rows_c", spy)
    for shape in ((4, 6), (2, 3, 5)):
        x = logits(shape, torch.float32)
        y = fgt.gumbel_softmax(x, generator=KEY)
        assert seen["in"] == x.data_ptr() and seen["out"] == y.data_ptr()
        seen.clear()


# importing Inductor runs torch.jit.script_method, which warns (torch's own code)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compile_fullgraph_equals_eager():
    torch._dynamo.reset()
    w = logits((4, 6), seed=5)

    def step(x, tau, gen, hard):
        y = fgt.gumbel_softmax(x, tau, hard=hard, generator=gen)
        return (y * w).sum(), y

    compiled = torch.compile(step, fullgraph=True)
    x = logits((4, 6)).requires_grad_()
    tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    for hard in (False, True):
        le, ye = step(x, tau, KEY, hard)
        lc, yc = compiled(x, tau, KEY, hard)
        assert torch.equal(ye, yc)
        for a, b in zip(torch.autograd.grad(le, (x, tau)), torch.autograd.grad(lc, (x, tau))):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # a fastgumbel.torch.Generator advances once per call of the compiled function
    ge, gc = fgt.default_rng(8), fgt.default_rng(8)
    for _ in range(2):
        assert torch.equal(step(x, tau, ge, False)[1], compiled(x, tau, gc, False)[1])
    assert gc.streams_used == 2
    # generator=None draws a fresh key from torch's RNG on every compiled call
    y1 = compiled(x, tau, None, False)[1]
    y2 = compiled(x, tau, None, False)[1]
    assert not torch.equal(y1, y2)
    torch.testing.assert_close(y1.sum(-1), torch.ones(4, dtype=torch.float64))
    # a plain fastgumbel.Generator cannot live in a full graph: the error names the fix
    plain = fg.default_rng(8)
    with pytest.raises(Exception, match="use fastgumbel.torch.Generator"):
        compiled(x, tau, plain, False)
    assert plain.streams_used == 0


FALLBACK = """
import sys, warnings
warnings.simplefilter("ignore")
import types, torch, torch._dynamo, fastgumbel as fg
real = sys.modules["torch._library.opaque_object"]      # hidden while the bridge imports,
sys.modules["torch._library.opaque_object"] = types.ModuleType("empty")   # as on older torch
import fastgumbel.torch as fgt
sys.modules["torch._library.opaque_object"] = real
from fastgumbel.torch import _autograd, _keys
assert not _keys.OPAQUE
_autograd._C_APPLY = None                               # the public Function.apply only
x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
y = fgt.gumbel_softmax(x, 0.5, generator=fg.Key(1))
assert torch.autograd.gradcheck(lambda a: fgt.gumbel_softmax(a, 0.5, generator=fg.Key(1)), (x,))
gen, ref = fgt.default_rng(3), fgt.default_rng(3)
f = torch.compile(lambda a: fgt.gumbel_softmax(a, 0.5, generator=gen), backend="aot_eager")
for _ in range(2):
    assert torch.equal(f(x.detach()), fgt.gumbel_softmax(x.detach(), 0.5, generator=ref))
assert gen.streams_used == 2
print("ok")
"""


def test_fallbacks_for_older_torch():
    """Without torch's opaque objects and autograd's C++ entry point the bridge still works:
    a fastgumbel.torch.Generator advances once per compiled call (through a graph break)."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", FALLBACK], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(8, 16), (3, 5, 7), (2, 1), (40, 600)])
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau", [1.0, 0.5, 2])
def test_common_eager_call_equals_the_general_path(dtype, shape, hard, tau):
    """The common eager call (``_eager``: last dim, number tau, contiguous CPU float32/64)
    gives the general path's values, gradients and double-backward gradients (a NumPy
    integer dim takes the general path)."""
    x = logits(shape, dtype, seed=7)
    x[0, ..., 0] = -np.inf                        # a masked category
    gy = logits(shape, dtype, seed=8)
    runs = []
    for dim in (-1, np.int64(-1)):
        a = x.clone().requires_grad_(True)
        y = fgt.gumbel_softmax(a, tau, hard=hard, dim=dim, generator=KEY)
        g, = torch.autograd.grad((y * gy).sum(), a, create_graph=True)
        gg, = torch.autograd.grad((g * g).sum(), a)
        plain = fgt.gumbel_softmax(x, tau, hard=hard, dim=dim, generator=KEY)
        runs.append((y.detach(), plain, g.detach(), gg))
    (y0, p0, g0, gg0), (y1, p1, g1, gg1) = runs
    assert torch.equal(y0, y1) and torch.equal(p0, p1)
    assert torch.equal(y0, p0) or not hard        # a hard sample is the soft sample's one-hot
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(g0, g1, rtol=rtol, atol=rtol)
    torch.testing.assert_close(gg0, gg1, rtol=10 * rtol, atol=10 * rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(8, 16), (3, 5, 7), (1, 1)])
@pytest.mark.parametrize("tau", [1.0, 0.37])
def test_small_soft_sample_with_torch_nodes_equals_the_function(monkeypatch, dtype, shape,
                                                                tau):
    """A small soft sample with grad (``_eager._native_soft``: torch's softmax node, the
    kernel's sample written over its output) gives the bits of values and gradients of
    the autograd Function (``_eager.Sample``), masked and NaN rows too; under saved-tensor
    hooks (``save_on_cpu`` copies the softmax's output when it is saved) it takes the
    Function; writing into the sample in place makes backward raise, as there."""
    from fastgumbel.torch import _eager
    x = logits(shape, dtype, seed=3)
    x[0, ..., 0] = -np.inf
    if shape[0] > 1:
        x[-1, ..., -1] = np.nan
    gy = logits(shape, dtype, seed=4)

    def run():
        a = x.clone().requires_grad_(True)
        y = fgt.gumbel_softmax(a, tau, generator=KEY)
        y.backward(gy)
        return y.grad_fn.name(), y.detach(), a.grad

    native = run()
    monkeypatch.setattr(_eager, "NATIVE_ELEMS", 0)
    function = run()
    monkeypatch.undo()
    assert native[0] == "SoftmaxBackward0" and function[0] != native[0]
    for u, v in zip(native[1:], function[1:]):
        assert torch.equal(u.isnan(), v.isnan())
        assert torch.equal(u.nan_to_num().view(torch.uint8), v.nan_to_num().view(torch.uint8))
    with torch.autograd.graph.save_on_cpu():
        hooked = run()
    assert hooked[0] == function[0] and torch.equal(hooked[2].nan_to_num(),
                                                    function[2].nan_to_num())
    a = x.clone().requires_grad_(True)
    y = fgt.gumbel_softmax(a, tau, generator=KEY)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_common_eager_call_special_rows_and_key():
    """The one-hot of a straight-through sample (a kernel of its own on the common call):
    a NaN row is NaN, an all -inf row is 0, as the general path; the key from torch's RNG
    is torch.randint(0, 2**32, (3,)) after the same seed."""
    x = logits((4, 6), torch.float32)
    x[1] = -np.inf
    x[2, 3] = np.nan
    a = fgt.gumbel_softmax(x.clone().requires_grad_(True), 0.5, hard=True, generator=KEY)
    b = fgt.gumbel_softmax(x.clone().requires_grad_(True), 0.5, hard=True, dim=np.int64(1),
                           generator=KEY)
    assert torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
    assert a[2].isnan().all() and (a[1] == 0).all() and (a[[0, 3]].sum(-1) == 1).all()
    torch.manual_seed(11)
    k0, k1, stream = torch.randint(0, 1 << 32, (3,), dtype=torch.int64).tolist()
    torch.manual_seed(11)
    y = fgt.gumbel_softmax(x[[0, 3]])
    assert torch.equal(y, fgt.gumbel_softmax(x[[0, 3]], generator=fg.Key(k0 | k1 << 32, stream)))
