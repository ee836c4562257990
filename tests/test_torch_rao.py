"""fastgumbel.torch.gumbel_softmax(..., estimator="gumbel-rao"): the forward is hard=True's,
the gradients are fg.gumbel_rao_backward's with the same key (bit for bit), per-row tau,
the torch.compile path, bad values, argument errors."""
import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")
fgt = pytest.importorskip("fastgumbel.torch")


def _rao(x, tau, key, samples=4, dim=-1):
    return fgt.gumbel_softmax(x, tau, hard=True, dim=dim, generator=key,
                              estimator="gumbel-rao", samples=samples)


def _reference(x, G, tau, key, samples, dim=-1):
    hot = fgt.gumbel_softmax(x.detach(), tau, hard=True, dim=dim, generator=key)
    idx = hot.argmax(dim).numpy()
    t = tau.detach().numpy() if isinstance(tau, torch.Tensor) else tau
    return fg.gumbel_rao_backward(G.numpy(), x.detach().numpy(), t, idx, samples=samples,
                                  axis=dim, rng=key)


@pytest.mark.parametrize("dim", [-1, 0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grad_equals_numpy_backward(dim, dtype):
    rs = np.random.default_rng()
    x = torch.tensor(rs.standard_normal((5, 7)), dtype=dtype, requires_grad=True)
    G = torch.tensor(rs.standard_normal((5, 7)), dtype=dtype)
    key = fg.Key(int(rs.integers(2**63)))
    tau = torch.tensor(float(rs.uniform(0.3, 2)), dtype=dtype, requires_grad=True)
    y = _rao(x, tau, key, 6, dim)
    assert torch.equal(y, fgt.gumbel_softmax(x.detach(), tau.detach(), hard=True, dim=dim,
                                             generator=key))
    (y * G).sum().backward()
    rx, rt = _reference(x, G, tau, key, 6, dim)
    assert x.grad.dtype == dtype and np.array_equal(x.grad.numpy(), rx)
    assert tau.grad.shape == () and float(tau.grad) == float(rt)


def test_per_row_tau_and_float_tau():
    rs = np.random.default_rng()
    x = torch.tensor(rs.standard_normal((4, 6)), requires_grad=True)
    G = torch.tensor(rs.standard_normal((4, 6)))
    key = fg.Key(3)
    for shape in ((4,), (4, 1)):
        tau = torch.tensor(rs.uniform(0.3, 2, shape), requires_grad=True)
        x.grad = None
        (_rao(x, tau, key) * G).sum().backward()
        rx, rt = _reference(x, G, tau.reshape(4, 1), key, 4)
        assert np.array_equal(x.grad.numpy(), rx)
        assert tau.grad.shape == shape
        np.testing.assert_allclose(tau.grad.numpy().reshape(-1), rt.reshape(-1), rtol=1e-13)
    x.grad = None
    (_rao(x, 0.7, key) * G).sum().backward()
    assert np.array_equal(x.grad.numpy(), _reference(x, G, 0.7, key, 4)[0])


def test_bad_rows_give_nan_or_zero():
    x = torch.tensor([[0.0, 1.0, 2.0], [float("nan"), 0.0, 1.0], [-float("inf")] * 3],
                     dtype=torch.float64, requires_grad=True)
    (_rao(x, 0.7, fg.Key(2)) * torch.ones(3, 3)).sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g[0]).all() and np.isnan(g[1]).all() and (g[2] == 0).all()


def test_compile_matches_eager():
    rs = np.random.default_rng()
    x = torch.tensor(rs.standard_normal((3, 5)), requires_grad=True)
    G = torch.tensor(rs.standard_normal((3, 5)))
    key = fgt.key_tensor(fg.Key(8))
    tau = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    f = lambda v, t: (_rao(v, t, key) * G).sum()
    f(x, tau).backward()
    ex, et = x.grad.clone(), tau.grad.clone()
    x.grad = tau.grad = None
    torch.compile(f, backend="aot_eager", fullgraph=True)(x, tau).backward()
    assert torch.equal(x.grad, ex) and torch.equal(tau.grad, et)


@pytest.mark.parametrize("kw, err, match", [
    (dict(estimator="rao", samples=2), ValueError, "estimator must be"),
    (dict(estimator="gumbel-rao"), TypeError, "needs samples=K"),
    (dict(estimator="gumbel-rao", samples=0), ValueError, r"samples must be in \[1"),
    (dict(estimator="gumbel-rao", samples=2, hard=False), ValueError, "needs hard=True"),
    (dict(samples=2), ValueError, "samples is for estimator='gumbel-rao'"),
])
def test_argument_errors(kw, err, match):
    kw.setdefault("hard", True)
    with pytest.raises(err, match=match):
        fgt.gumbel_softmax(torch.zeros(2, 3), 1.0, generator=0, **kw)


def test_torch_func_transforms_raise_and_autograd_grad_works():
    x = torch.randn(3, 5, dtype=torch.float64)
    G = torch.randn(3, 5, dtype=torch.float64)
    f = lambda v: (_rao(v, 0.5, fg.Key(3)) * G).sum()
    with pytest.raises(TypeError, match="torch.func transforms"):
        torch.func.grad(f)(x)
    xx = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(f(xx), xx)
    assert np.array_equal(g.numpy(), _reference(x, G, 0.5, fg.Key(3), 4)[0])
