"""fastgumbel.torch under every autograd mode: forward mode (forward_ad, torch.func.jvp,
jacfwd) against reverse-mode Jacobians and finite differences in float64, torch.func
grad/jacrev/vmap (randomness semantics), double backward (gradgradcheck), per-row tau."""
import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")
fgt = pytest.importorskip("fastgumbel.torch")
func = torch.func
fwAD = torch.autograd.forward_ad

# torch's forward-mode AD compiles decompositions with torch.jit.script (torch's own code)
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning")

KEY = fg.Key(31, stream=1)


def data(shape=(3, 5), seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape))


def sampler(hard=False, dim=-1):
    return lambda x, t: fgt.gumbel_softmax(x, t, hard=hard, dim=dim, generator=KEY)


def finite_difference_jacobian(f, x, tau, h=1e-6):
    """Central differences of f(x, tau) w.r.t. x (flattened) and tau (same noise)."""
    cols = []
    flat = x.reshape(-1)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = h
        cols.append((f((flat + e).reshape(x.shape), tau) - f((flat - e).reshape(x.shape), tau))
                    .reshape(-1) / (2 * h))
    jx = torch.stack(cols, -1).reshape(*x.shape, *x.shape)
    jt = (f(x, tau + h) - f(x, tau - h)) / (2 * h)
    return jx, jt


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dim", [-1, 0])
def test_forward_mode_equals_reverse_mode_and_finite_differences(hard, dim):
    x, tau = data(), torch.tensor(0.8, dtype=torch.float64)
    f = sampler(hard, dim)
    jf = func.jacfwd(f, argnums=(0, 1))(x, tau)
    jr = func.jacrev(f, argnums=(0, 1))(x, tau)
    jd = finite_difference_jacobian(sampler(False, dim), x, tau)   # straight-through: soft's
    for a, b, c in zip(jf, jr, jd):
        assert a.abs().max() > 1e-3                                # not a silent zero
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(a, c, rtol=1e-6, atol=1e-8)


def test_forward_ad_dual_tensors_and_jvp():
    x, tau = data(), torch.tensor(0.6, dtype=torch.float64)
    dx, dt = data(seed=3), torch.tensor(0.25, dtype=torch.float64)
    f = sampler()
    y, jvp = func.jvp(f, (x, tau), (dx, dt))
    with fwAD.dual_level():
        yd = f(fwAD.make_dual(x, dx), fwAD.make_dual(tau, dt))
        primal, tangent = fwAD.unpack_dual(yd)
    assert tangent is not None
    torch.testing.assert_close(primal, y, rtol=0, atol=0)
    torch.testing.assert_close(tangent, jvp, rtol=1e-13, atol=1e-15)
    jx, jt = func.jacrev(f, argnums=(0, 1))(x, tau)
    want = (jx * dx).sum((-2, -1)) + jt * dt
    torch.testing.assert_close(jvp, want, rtol=1e-12, atol=1e-14)
    # only the logits carry a tangent (tau a plain float)
    _, jx_only = func.jvp(lambda a: f(a, 0.6), (x,), (dx,))
    torch.testing.assert_close(jx_only, (jx * dx).sum((-2, -1)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("tau_shape", [(3, 1), (3,)])
def test_per_row_tau_gradients_forward_and_reverse(tau_shape):
    x = data().requires_grad_()
    tau = torch.tensor([0.4, 1.0, 2.2], dtype=torch.float64).reshape(tau_shape).requires_grad_()
    f = sampler()
    assert torch.autograd.gradcheck(f, (x, tau), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(f, (x, tau))
    y = f(x, tau)
    w = data(seed=5)
    gx, gt = torch.autograd.grad((y * w).sum(), (x, tau))
    assert gt.shape == tau.shape
    # the reference: autograd through softmax((x + g) / tau) with the same noise
    g = torch.from_numpy(fg.gumbel(size=(3, 5), dtype=np.float64, rng=KEY))
    y_ref = torch.softmax((x + g) / tau.reshape(3, 1), -1)
    rx, rt = torch.autograd.grad((y_ref * w).sum(), (x, tau))
    torch.testing.assert_close(gx, rx, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(gt, rt, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("hard", [False, True])
def test_double_backward(hard):
    x = data((2, 4)).requires_grad_()
    tau = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    f = sampler(hard)
    if not hard:    # the hard value is piecewise constant: finite differences see 0 there
        assert torch.autograd.gradcheck(f, (x, tau), check_forward_ad=True,
                                        check_batched_grad=True)
    assert torch.autograd.gradgradcheck(f, (x, tau), check_batched_grad=True)
    # a Hessian-vector product equals autograd's through softmax with the same noise
    w = data((2, 4), seed=4)
    g = torch.from_numpy(fg.gumbel(size=(2, 4), dtype=np.float64, rng=KEY))
    ref = torch.softmax((x + g) / tau, -1)
    if hard:        # torch's straight-through form
        idx = ref.argmax(-1, keepdim=True)
        ref = torch.zeros_like(ref).scatter_(-1, idx, 1.0) - ref.detach() + ref
    hvps = []
    for y in (f(x, tau), ref):
        (gx,) = torch.autograd.grad((y[:, 0] ** 2).sum(), x, create_graph=True)
        hvps.append(torch.autograd.grad((gx * w).sum(), (x, tau)))
    for a, b in zip(*hvps):
        assert b.abs().max() > 1e-3
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_func_grad_and_jacrev():
    x, tau = data(), torch.tensor(0.5, dtype=torch.float64)
    w = data(seed=9)
    f = sampler()
    gx, gt = func.grad(lambda a, t: (f(a, t) * w).sum(), argnums=(0, 1))(x, tau)
    xr, tr = x.clone().requires_grad_(), tau.clone().requires_grad_()
    rx, rt = torch.autograd.grad((f(xr, tr) * w).sum(), (xr, tr))
    torch.testing.assert_close(gx, rx, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(gt, rt, rtol=1e-13, atol=1e-15)


def test_vmap_randomness_semantics():
    xs = torch.zeros(4, 3, 5)
    f = lambda a: fgt.gumbel_softmax(a, 0.5)                            # noqa: E731
    with pytest.raises(RuntimeError, match="randomness"):
        func.vmap(f)(xs)                                                 # 'error'
    d = func.vmap(f, randomness="different")(xs)
    assert all(not torch.equal(d[0], d[i]) for i in (1, 2, 3))
    s = func.vmap(f, randomness="same")(xs)
    assert all(torch.equal(s[0], s[i]) for i in (1, 2, 3))
    torch.manual_seed(2)
    s1 = func.vmap(f, randomness="same")(xs)
    torch.manual_seed(2)
    assert torch.equal(s1, func.vmap(f, randomness="same")(xs))         # torch's RNG drives it


@pytest.mark.parametrize("hard", [False, True])
def test_vmap_with_a_key_is_the_loop(hard):
    xs = data((4, 3, 5))
    taus = torch.tensor([0.3, 0.7, 1.0, 2.0], dtype=torch.float64)
    v = func.vmap(sampler(hard))(xs, taus)
    for i in range(4):
        assert torch.equal(v[i], sampler(hard)(xs[i], taus[i]))
    v1 = func.vmap(sampler(hard, dim=0), in_dims=(1, None))(xs, 0.5)
    for i in range(3):
        assert torch.equal(v1[i], sampler(hard, dim=0)(xs[:, i], 0.5))
    g = func.vmap(lambda a: fgt.gumbel_max(a, generator=KEY))(xs)
    assert torch.equal(g, torch.stack([fgt.gumbel_max(a, generator=KEY) for a in xs]))


def test_vmap_of_grad_is_per_example_grads():
    xs = data((4, 3, 5))
    w = data(seed=2)
    f = sampler()
    per = func.vmap(func.grad(lambda a: (f(a, 0.6) * w).sum()))(xs)
    for i in range(4):
        xi = xs[i].clone().requires_grad_()
        (gi,) = torch.autograd.grad((f(xi, 0.6) * w).sum(), xi)
        torch.testing.assert_close(per[i], gi, rtol=1e-13, atol=1e-15)


def test_no_grad_and_inference_mode():
    x = data().requires_grad_()
    with torch.no_grad():
        y = fgt.gumbel_softmax(x, generator=KEY)
    assert not y.requires_grad
    with torch.inference_mode():
        y2 = fgt.gumbel_softmax(x, generator=KEY)
    assert torch.equal(y, y2)
    assert torch.equal(fgt.gumbel_softmax(x, generator=KEY).detach(), y)
