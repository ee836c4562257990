"""fastgumbel.jax.gumbel_softmax under forward and reverse mode: jvp, jacfwd, jacrev and
finite differences agree in float64; straight-through; vmap and jit of the derivatives;
second order."""
import numpy as np
import pytest

import fastgumbel as fg

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fgj = pytest.importorskip("fastgumbel.jax")


def _inputs(seed, shape=(3, 5)):
    rs = np.random.default_rng(seed)
    return jnp.asarray(rs.standard_normal(shape)), jnp.asarray(rs.standard_normal(shape))


def _fd_jacobian(f, x, h=1e-6):
    """Central differences of f at x, shape f(x).shape + x.shape."""
    x = np.asarray(x, np.float64)
    cols = []
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, -1).reshape(np.shape(f(x)) + x.shape)


@pytest.mark.parametrize("axis", [-1, 0])
def test_jacobians_forward_reverse_and_finite_differences_agree(x64, axis):
    x, _ = _inputs(0)
    key = jax.random.key(3)
    f = lambda v: fgj.gumbel_softmax(key, v, 0.7, axis=axis)
    jf, jr = jax.jacfwd(f)(x), jax.jacrev(f)(x)
    assert jf.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(jf), np.asarray(jr), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(jf), _fd_jacobian(f, x), rtol=1e-6, atol=1e-9)
    # jit of both modes
    np.testing.assert_allclose(np.asarray(jax.jit(jax.jacfwd(f))(x)), np.asarray(jf),
                               rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.jacrev(f))(x)), np.asarray(jr),
                               rtol=1e-14, atol=1e-16)


def test_tau_derivative_forward_reverse_and_finite_differences(x64):
    x, _ = _inputs(1)
    key = jax.random.key(4)
    f = lambda t: fgj.gumbel_softmax(key, x, t)
    t0, h = 0.6, 1e-6
    _, dy = jax.jvp(f, (t0,), (1.0,))
    jr = jax.jacrev(f)(t0)
    fd = (np.asarray(f(t0 + h)) - np.asarray(f(t0 - h))) / (2 * h)
    np.testing.assert_allclose(np.asarray(dy), np.asarray(jr), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(dy), fd, rtol=1e-6, atol=1e-9)


def test_jvp_equals_autodiff_of_softmax_with_the_same_noise(x64):
    x, dx = _inputs(2)
    g = jnp.asarray(fg.gumbel(size=(3, 5), dtype=np.float64, rng=fg.Key(9)))
    ours = jax.jvp(lambda v, t: fgj.gumbel_softmax(jax.random.key(9), v, t), (x, 0.8), (dx, 0.3))
    ref = jax.jvp(lambda v, t: jax.nn.softmax((v + g) / t, -1), (x, 0.8), (dx, 0.3))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)


def test_hard_is_straight_through_in_both_modes(x64):
    x, dx = _inputs(3)
    key = jax.random.key(5)
    ys, ts = jax.jvp(lambda v: fgj.gumbel_softmax(key, v, 0.5), (x,), (dx,))
    yh, th = jax.jvp(lambda v: fgj.gumbel_softmax(key, v, 0.5, hard=True), (x,), (dx,))
    np.testing.assert_array_equal(np.asarray(yh), fg.gumbel_softmax(np.asarray(x), 0.5, hard=True,
                                                                    rng=fg.Key(5)))
    np.testing.assert_array_equal(np.asarray(th), np.asarray(ts))
    w = jnp.asarray(np.random.default_rng(6).standard_normal(x.shape))
    gh = jax.grad(lambda v: (fgj.gumbel_softmax(key, v, 0.5, hard=True) * w).sum())(x)
    gs = jax.grad(lambda v: (fgj.gumbel_softmax(key, v, 0.5) * w).sum())(x)
    np.testing.assert_allclose(np.asarray(gh), np.asarray(gs), rtol=1e-14, atol=1e-16)


def test_vmap_of_jvp_and_of_grad_over_keys_and_tau():
    x, dx = _inputs(4)
    x, dx = x.astype(jnp.float32), dx.astype(jnp.float32)
    keys = jax.random.split(jax.random.key(6), 3)
    taus = jnp.array([0.3, 1.0, 2.5], jnp.float32)
    jv = jax.jit(jax.vmap(lambda k, t: jax.jvp(lambda v, s: fgj.gumbel_softmax(k, v, s),
                                                (x, t), (dx, 1.0))))
    ys, ts = jv(keys, taus)
    for i in range(3):
        y1, t1 = jax.jvp(lambda v, s: fgj.gumbel_softmax(keys[i], v, s), (x, taus[i]), (dx, 1.0))
        np.testing.assert_array_equal(np.asarray(ys[i]), np.asarray(y1))
        np.testing.assert_allclose(np.asarray(ts[i]), np.asarray(t1), rtol=1e-6, atol=1e-7)
    gr = jax.vmap(jax.grad(lambda t, k: fgj.gumbel_softmax(k, x, t)[0, 0]))(taus, keys)
    assert gr.shape == (3,) and np.isfinite(np.asarray(gr)).all()


def test_second_order(x64):
    x, w = _inputs(7, (2, 4))
    key = jax.random.key(8)
    f = lambda v: (fgj.gumbel_softmax(key, v, 0.9) * w).sum()
    hess = jax.hessian(f)(x)
    fd = _fd_jacobian(jax.grad(f), x)
    np.testing.assert_allclose(np.asarray(hess), fd, rtol=1e-5, atol=1e-8)
    # straight-through: the hard sample's derivatives of every order are the soft sample's
    fh = lambda v: (fgj.gumbel_softmax(key, v, 0.9, hard=True) * w).sum()
    np.testing.assert_allclose(np.asarray(jax.hessian(fh)(x)), np.asarray(hess), rtol=1e-13,
                               atol=1e-15)
    t3 = jax.jvp(jax.grad(lambda t: fgj.gumbel_softmax(key, x, t, hard=True)[0, 0]), (0.9,),
                 (1.0,))[1]
    assert np.isfinite(float(t3))


def test_zero_probabilities_have_finite_zero_derivatives(x64):
    x = jnp.array([[0.0, -jnp.inf, 1.0], [-jnp.inf] * 3])
    key = jax.random.key(1)
    y, t = jax.jvp(lambda v, s: fgj.gumbel_softmax(key, v, s), (x, 0.5),
                   (jnp.ones_like(x), 1.0))
    assert np.isfinite(np.asarray(t)).all()
    assert (np.asarray(t)[0, 1] == 0) and (np.asarray(t)[1] == 0).all()
    g = jax.grad(lambda s: fgj.gumbel_softmax(key, x, s)[0, 0])(0.5)
    assert np.isfinite(float(g))
