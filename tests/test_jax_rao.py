"""fastgumbel.jax.gumbel_softmax(..., estimator="gumbel-rao"): the forward is hard=True's,
the reverse-mode gradients are fg.gumbel_rao_backward's with the same key (bit for bit);
jit, vmap over keys, per-row tau, run-time bad values, argument errors."""
import numpy as np
import pytest

import fastgumbel as fg

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fgj = pytest.importorskip("fastgumbel.jax")
from fastgumbel.jax._keys import fg_key  # noqa: E402


def _rao(key, x, tau, samples=4, axis=-1):
    return fgj.gumbel_softmax(key, x, tau, hard=True, axis=axis, estimator="gumbel-rao",
                              samples=samples)


def _reference(key, x, G, tau, samples, axis=-1):
    """fg.gumbel_rao_backward on the hard sample's argmax with the same key."""
    hot = np.asarray(fgj.gumbel_softmax(key, x, tau, hard=True, axis=axis))
    idx = np.argmax(hot, axis)
    return fg.gumbel_rao_backward(G, np.asarray(x), np.asarray(tau), idx, samples=samples,
                                  axis=axis, rng=fg_key(fgj.key_words(key)))


@pytest.mark.parametrize("axis", [-1, 0])
def test_grad_equals_numpy_backward(x64, axis):
    rs = np.random.default_rng()
    x = jnp.asarray(rs.standard_normal((5, 7)))
    G = rs.standard_normal((5, 7))
    key = jax.random.key(int(rs.integers(2**31)))
    tau = float(rs.uniform(0.3, 2))
    f = lambda v, t: (_rao(key, v, t, 6, axis) * G).sum()
    gx, gt = jax.grad(f, argnums=(0, 1))(x, tau)
    rx, rt = _reference(key, x, G, tau, 6, axis)
    assert gx.dtype == jnp.float64 and np.array_equal(np.asarray(gx), rx)
    assert float(gt) == float(rt)
    jx, jt = jax.jit(jax.grad(f, argnums=(0, 1)))(x, tau)
    assert np.array_equal(np.asarray(jx), rx) and float(jt) == float(rt)
    # the forward is hard=True's one-hot
    y = _rao(key, x, tau, 6, axis)
    assert np.array_equal(np.asarray(y), np.asarray(
        fgj.gumbel_softmax(key, x, tau, hard=True, axis=axis)))


def test_float32_and_grad_is_not_straight_through():
    rs = np.random.default_rng()
    x = jnp.asarray(rs.standard_normal((3, 9)), jnp.float32)
    G = rs.standard_normal((3, 9)).astype(np.float32)
    key = jax.random.key(5)
    gx = jax.grad(lambda v: (_rao(key, v, 0.5, 3) * G).sum())(x)
    rx, _ = _reference(key, x, G, np.float32(0.5), 3)
    assert gx.dtype == jnp.float32 and np.array_equal(np.asarray(gx), rx)
    st = jax.grad(lambda v: (fgj.gumbel_softmax(key, v, 0.5, hard=True) * G).sum())(x)
    assert not np.allclose(np.asarray(st), np.asarray(gx))


def test_vmap_over_keys(x64):
    rs = np.random.default_rng()
    x = jnp.asarray(rs.standard_normal((2, 5)))
    G = rs.standard_normal((2, 5))
    keys = jax.random.split(jax.random.key(11), 3)
    f = lambda k, v, t: (_rao(k, v, t, 3) * G).sum()
    gx, gt = jax.jit(jax.vmap(jax.grad(f, argnums=(1, 2)), in_axes=(0, None, None)))(
        keys, x, 0.8)
    assert gx.shape == (3, 2, 5) and gt.shape == (3,)
    for i in range(3):
        rx, rt = _reference(keys[i], x, G, 0.8, 3)
        assert np.array_equal(np.asarray(gx[i]), rx) and float(gt[i]) == float(rt)


def test_per_row_tau(x64):
    rs = np.random.default_rng()
    x = jnp.asarray(rs.standard_normal((4, 6)))
    G = rs.standard_normal((4, 6))
    key = jax.random.key(3)
    tau = jnp.asarray(rs.uniform(0.3, 2, 4))
    for t in (tau, tau[:, None]):
        gx, gt = jax.grad(lambda v, s: (_rao(key, v, s) * G).sum(), argnums=(0, 1))(x, t)
        assert gt.shape == t.shape
        rx, rt = _reference(key, x, G, t, 4)
        assert np.array_equal(np.asarray(gx), rx)
        np.testing.assert_allclose(np.asarray(gt), rt, rtol=1e-13, atol=1e-15)


def test_run_time_bad_values_give_nan_or_zero(x64):
    x = jnp.asarray([[0.0, 1.0, 2.0], [np.nan, 0.0, 1.0], [-np.inf] * 3])
    key = jax.random.key(2)
    gx, gt = jax.grad(lambda v, t: _rao(key, v, t).sum() + (_rao(key, v, t) * v).sum(),
                      argnums=(0, 1))(jnp.where(jnp.isinf(x), -jnp.inf, x), 0.7)
    gx = np.asarray(gx)
    assert np.isfinite(gx[0]).all() and np.isnan(gx[1]).all() and (gx[2] == 0).all()
    assert np.isnan(float(gt))
    # a bad traced tau: NaN gradients
    g = jax.jit(jax.grad(lambda v, t: (_rao(key, v, t) * v).sum()))(x[:1], -1.0)
    assert np.isnan(np.asarray(g)).all()


@pytest.mark.parametrize("kw, err, match", [
    (dict(estimator="rao", samples=2), ValueError, "estimator must be"),
    (dict(estimator="gumbel-rao"), TypeError, "needs samples=K"),
    (dict(estimator="gumbel-rao", samples=0), ValueError, r"samples must be in \[1"),
    (dict(estimator="gumbel-rao", samples=2.0), TypeError, "samples must be a positive"),
    (dict(estimator="gumbel-rao", samples=2, hard=False), ValueError, "needs hard=True"),
    (dict(samples=2), ValueError, "samples is for estimator='gumbel-rao'"),
])
def test_argument_errors(kw, err, match):
    kw.setdefault("hard", True)
    with pytest.raises(err, match=match):
        fgj.gumbel_softmax(jax.random.key(0), jnp.zeros((2, 3)), 1.0, **kw)


def test_forward_mode_raises_type_error():
    x = jnp.zeros((2, 3))
    with pytest.raises(TypeError):
        jax.jvp(lambda v: _rao(jax.random.key(0), v, 1.0), (x,), (x,))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_narrow_dtypes(dtype):
    """bfloat16 runs in float32 (as its forward), float16 in its own dtype; grads finite,
    rows of a softmax vector-Jacobian product sum to about 0."""
    x = jnp.asarray(np.random.default_rng().standard_normal((3, 5)), dtype)
    G = jnp.arange(5.0).astype(dtype)
    gx, gt = jax.grad(lambda v, t: (_rao(jax.random.key(1), v, t) * G).sum(),
                      argnums=(0, 1))(x, 0.5)
    assert gx.dtype == x.dtype and np.isfinite(float(gt))
    s = np.asarray(gx.astype(jnp.float32))
    assert np.isfinite(s).all() and np.abs(s.sum(-1)).max() < 0.05


def test_nan_row_with_per_row_tau(x64):
    """Only the tau element of the NaN row gets a NaN gradient; an all -inf row gets 0."""
    x = jnp.asarray([[0.0, 1.0, 2.0], [np.nan, 0.0, 1.0], [-np.inf] * 3, [1.0, 0.0, 0.0]])
    tau = jnp.asarray([0.5, 0.7, 0.9, 1.1])
    G = jnp.asarray(np.random.default_rng().standard_normal(x.shape))
    gx, gt = jax.grad(lambda v, t: (_rao(jax.random.key(4), v, t) * G).sum(),
                      argnums=(0, 1))(x, tau)
    gx, gt = np.asarray(gx), np.asarray(gt)
    keep = jnp.asarray([True, False, False, True])[:, None]    # the good rows keep their
    rx, rt = _reference(jax.random.key(4), jnp.where(keep, x, 0.0),    # row numbers (streams)
                        np.where(keep, G, 0.0), tau, 4)
    assert np.array_equal(gx[::3], rx[::3]) and np.array_equal(gt[::3], rt[::3])

    assert np.isnan(gx[1]).all() and (gx[2] == 0).all() and np.isfinite(gx[[0, 3]]).all()
    assert np.isnan(gt[1]) and gt[2] == 0 and np.isfinite(gt[[0, 3]]).all()


def test_pure_callback_path(x64, monkeypatch):
    """The copy path (pure_callback, what a GPU backend uses) gives the same gradients."""
    import fastgumbel.jax._call as call
    rs = np.random.default_rng()
    x = jnp.asarray(rs.standard_normal((3, 4)))
    G = rs.standard_normal((3, 4))
    key = jax.random.key(9)
    f = jax.grad(lambda v, t: (_rao(key, v, t) * G).sum(), argnums=(0, 1))
    a = f(x, jnp.asarray([0.5, 1.0, 2.0]))
    monkeypatch.setattr(call, "buffer_callback", None)
    b = jax.vmap(f, in_axes=(None, 0))(x, jnp.asarray([[0.5, 1.0, 2.0]] * 2))
    for u, v in zip(a, b):
        assert np.array_equal(np.asarray(u), np.asarray(v[1]))


def test_tau_gradient_survives_interleaved_zero_patterns(x64):
    """Whether tau takes a gradient reaches the backward as data: a vjp taken with tau
    differentiated, then a grad of the same jitted function with tau fixed, then the first
    vjp's pullback still gives tau's gradient (a flag in the residuals' tree structure read
    the later trace's tree and gave 0)."""
    rs = np.random.default_rng(3)
    x = jnp.asarray(rs.standard_normal((4, 6)))
    G = jnp.asarray(rs.standard_normal((4, 6)))
    key = jax.random.key(11)
    f = jax.jit(lambda v, t: (_rao(key, v, t, 5) * G).sum())
    tau = jnp.asarray(0.7)
    _, pull = jax.vjp(f, x, tau)
    gx_only = jax.grad(f, argnums=0)(x, tau)
    gx, gt = pull(jnp.asarray(1.0))
    rx, rt = _reference(key, x, np.asarray(G), 0.7, 5)
    assert np.array_equal(np.asarray(gx), rx) and np.array_equal(np.asarray(gx_only), rx)
    assert float(gt) == float(rt) and float(gt) != 0.0
