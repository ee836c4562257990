"""Per-row temperature in fastgumbel.jax.gumbel_softmax: keepdims (B, 1) and batch-shape (B,)
tau, row r equal to the scalar call with tau[r], gradients with tau's shape (forward, reverse,
finite differences), trace-time shape errors, bad traced elements."""
import numpy as np
import pytest

import fastgumbel as fg

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fgj = pytest.importorskip("fastgumbel.jax")

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
TAU = np.array([0.3, 1.0, 2.5, 0.7], np.float32)


@pytest.mark.parametrize("form", ["keepdims", "batch"])
@pytest.mark.parametrize("hard", [False, True])
def test_row_r_equals_the_scalar_call_with_tau_r(form, hard):
    k = jax.random.key(2)
    tau = TAU[:, None] if form == "keepdims" else TAU
    y = np.asarray(jax.jit(lambda t: fgj.gumbel_softmax(k, X, t, hard=hard))(jnp.asarray(tau)))
    for r in range(4):
        one = fgj.gumbel_softmax(k, X, float(TAU[r]), hard=hard)
        np.testing.assert_array_equal(y[r], np.asarray(one)[r])
    np.testing.assert_array_equal(y, fg.gumbel_softmax(X, tau, hard=hard, rng=fg.Key(2)))


def test_axis_zero_and_broadcasting_tau():
    k = jax.random.key(3)
    tau = np.array([0.5, 2.0, 1.0, 0.25, 3.0, 1.5], np.float32)      # one per column
    y = np.asarray(fgj.gumbel_softmax(k, X, tau, axis=0))
    for c in range(6):
        np.testing.assert_array_equal(y[:, c], np.asarray(fgj.gumbel_softmax(k, X, float(tau[c]),
                                                                             axis=0))[:, c])
    x3 = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    t3 = np.array([0.5, 1.0, 2.0], np.float32)     # broadcast over the leading dimension
    y3 = np.asarray(fgj.gumbel_softmax(k, x3, t3))
    np.testing.assert_array_equal(y3, fg.gumbel_softmax(x3, t3, rng=fg.Key(3)))


@pytest.mark.parametrize("form", ["keepdims", "batch"])
def test_tau_gradient_has_tau_shape_and_matches_finite_differences(form):
    with jax.enable_x64(True):
        rs = np.random.default_rng(4)
        x = jnp.asarray(rs.standard_normal((4, 5)))
        w = jnp.asarray(rs.standard_normal((4, 5)))
        tau = jnp.asarray([0.4, 0.9, 1.7, 0.6])
        tau = tau[:, None] if form == "keepdims" else tau
        k = jax.random.key(5)
        f = lambda t: (fgj.gumbel_softmax(k, x, t) * w).sum()
        g = jax.grad(f)(tau)
        assert g.shape == tau.shape and g.dtype == jnp.float64
        h = 1e-6
        fd = np.empty(tau.shape)
        for i in np.ndindex(tau.shape):
            e = np.zeros(tau.shape)
            e[i] = h
            fd[i] = (float(f(tau + e)) - float(f(tau - e))) / (2 * h)
        np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6, atol=1e-9)
        yf = lambda t: fgj.gumbel_softmax(k, x, t)
        np.testing.assert_allclose(np.asarray(jax.jacfwd(yf)(tau)), np.asarray(jax.jacrev(yf)(tau)),
                                   rtol=1e-12, atol=1e-15)


def test_shared_tau_gradient_sums_over_the_rows_that_share_it():
    with jax.enable_x64(True):
        x3 = jnp.asarray(np.random.default_rng(6).standard_normal((2, 3, 5)))
        k = jax.random.key(7)
        t3 = jnp.asarray([0.5, 1.0, 2.0])
        g = jax.grad(lambda t: fgj.gumbel_softmax(k, x3, t)[..., 0].sum())(t3)
        parts = [jax.grad(lambda s: fgj.gumbel_softmax(k, x3, s)[:, i, 0].sum())(float(t3[i]))
                 for i in range(3)]
        np.testing.assert_allclose(np.asarray(g), np.asarray(parts), rtol=1e-12)


def test_per_row_tau_errors_and_bad_traced_elements(capfd):
    k = jax.random.key(0)
    with pytest.raises(ValueError, match="tau"):
        fgj.gumbel_softmax(k, X, np.ones((4, 6)))          # varies along the categories
    with pytest.raises(ValueError, match="tau"):
        jax.jit(lambda t: fgj.gumbel_softmax(k, X, t))(jnp.ones(3))     # shape, when traced
    with pytest.raises(ValueError, match="tau"):
        fgj.gumbel_softmax(k, X, np.array([1.0, 0.0, 1.0, 1.0]))
    y = np.asarray(jax.jit(lambda t: fgj.gumbel_softmax(k, X, t))(jnp.array([1.0, 0.0, 1.0, -1.0])))
    assert np.isnan(y[[1, 3]]).all() and np.isfinite(y[[0, 2]]).all()
    np.testing.assert_array_equal(y[0], np.asarray(fgj.gumbel_softmax(k, X, 1.0))[0])
    assert "Traceback" not in capfd.readouterr().err


def test_vmap_over_per_row_tau():
    k = jax.random.key(8)
    taus = jnp.asarray(np.stack([TAU, TAU[::-1]]))
    ys = jax.vmap(lambda t: fgj.gumbel_softmax(k, X, t))(taus)
    np.testing.assert_array_equal(np.asarray(ys[1]),
                                  np.asarray(fgj.gumbel_softmax(k, X, TAU[::-1])))
