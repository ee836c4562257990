"""fastgumbel.jax: key derivation, values, jit, vmap, gradients (finite differences and the
autograd oracle with the same noise), straight-through."""
import numpy as np
import pytest

import fastgumbel as fg

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fgj = pytest.importorskip("fastgumbel.jax")

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


@pytest.mark.parametrize("seed,x64", [(0, False), (7, False), (2**32 - 1, False),
                                      (2**32 + 3, True), (2**63 - 1, True)])
def test_jax_key_s_draws_the_noise_of_fastgumbel_key_s(seed, x64):
    want = fg.gumbel_softmax(X, 0.5, rng=fg.Key(seed))
    with jax.enable_x64(x64):   # JAX keeps seeds >= 2**32 only with x64
        typed = jax.random.key(seed)
        raw = jax.random.PRNGKey(seed)
        np.testing.assert_array_equal(np.asarray(fgj.gumbel_softmax(typed, X, 0.5)), want)
        np.testing.assert_array_equal(np.asarray(fgj.gumbel_softmax(raw, X, 0.5)), want)


def test_split_keys_map_to_their_data_words():
    k = jax.random.split(jax.random.key(1))[1]
    d0, d1 = (int(v) for v in np.asarray(jax.random.key_data(k)))
    np.testing.assert_array_equal(np.asarray(fgj.gumbel_softmax(k, X)),
                                  fg.gumbel_softmax(X, rng=fg.Key((d0 << 32) | d1)))


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("axis", [-1, 0])
def test_jit_equals_eager(hard, axis):
    k = jax.random.key(3)
    f = jax.jit(fgj.gumbel_softmax, static_argnames=("hard", "axis"))
    a = fgj.gumbel_softmax(k, X, 0.7, hard=hard, axis=axis)
    b = f(k, X, 0.7, hard=hard, axis=axis)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(a),
                                  fg.gumbel_softmax(X, 0.7, hard=hard, axis=axis, rng=fg.Key(3)))
    c = jax.jit(lambda k, x: fgj.categorical(k, x, axis=axis, n=5))(k, X)
    np.testing.assert_array_equal(np.asarray(c), fg.categorical(X, 5, axis=axis, rng=fg.Key(3)))


def test_hard_samples_are_one_hot_of_the_soft_argmax():
    k = jax.random.key(11)
    x = np.random.default_rng(1).standard_normal((50, 9)).astype(np.float32)
    h = np.asarray(fgj.gumbel_softmax(k, x, 0.3, hard=True))
    s = np.asarray(fgj.gumbel_softmax(k, x, 0.3))
    assert set(np.unique(h)) <= {0.0, 1.0}
    np.testing.assert_array_equal(h.sum(-1), np.ones(50))
    np.testing.assert_array_equal(h.argmax(-1), s.argmax(-1))


def test_vmap_over_keys():
    keys = jax.random.split(jax.random.key(0), 5)
    ys = jax.vmap(lambda k: fgj.gumbel_softmax(k, X, 0.5))(keys)
    assert ys.shape == (5,) + X.shape
    for i in range(5):
        np.testing.assert_array_equal(np.asarray(ys[i]),
                                      np.asarray(fgj.gumbel_softmax(keys[i], X, 0.5)))
    assert not np.array_equal(np.asarray(ys[0]), np.asarray(ys[1]))
    d = jax.jit(jax.vmap(lambda k: fgj.gumbel_max(k, X)))(keys)
    np.testing.assert_array_equal(np.asarray(d[2]), np.asarray(fgj.gumbel_max(keys[2], X)))
    assert jax.vmap(lambda k: fgj.gumbel_softmax(k, X))(keys[:0]).shape == (0,) + X.shape


def test_nested_vmap_and_vmap_over_logits_with_one_key():
    keys = jax.random.split(jax.random.key(1), 6).reshape(2, 3)
    ys = jax.vmap(jax.vmap(lambda k: fgj.gumbel_softmax(k, X, 0.5, hard=True)))(keys)
    assert ys.shape == (2, 3) + X.shape
    np.testing.assert_array_equal(np.asarray(ys[1, 2]),
                                  np.asarray(fgj.gumbel_softmax(keys[1, 2], X, 0.5, hard=True)))
    xs = jnp.stack([jnp.asarray(X), jnp.asarray(X) + 1.0])
    k = jax.random.key(3)
    yl = jax.vmap(lambda x: fgj.gumbel_softmax(k, x, 0.5), in_axes=0)(xs)
    np.testing.assert_array_equal(np.asarray(yl[1]), np.asarray(fgj.gumbel_softmax(k, xs[1], 0.5)))
    taus = jnp.array([0.5, 2.0])
    yt = jax.vmap(lambda t: fgj.gumbel_softmax(k, X, t))(taus)
    np.testing.assert_array_equal(np.asarray(yt[1]), np.asarray(fgj.gumbel_softmax(k, X, 2.0)))


def _loss(key, w, hard=False):
    return lambda x, t: (fgj.gumbel_softmax(key, x, t, hard=hard) * w).sum()


def test_grad_matches_float64_finite_differences():
    with jax.enable_x64(True):
        rs = np.random.default_rng(2)
        x = rs.standard_normal((3, 5))
        w = rs.standard_normal((3, 5))
        f = _loss(jax.random.key(5), w)
        gx, gt = jax.grad(f, argnums=(0, 1))(jnp.asarray(x), 0.8)
        assert gx.dtype == jnp.float64
        h = 1e-6
        fd = np.empty_like(x)
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = h
            fd[i] = (float(f(x + e, 0.8)) - float(f(x - e, 0.8))) / (2 * h)
        np.testing.assert_allclose(np.asarray(gx), fd, rtol=1e-6, atol=1e-8)
        fd_t = (float(f(x, 0.8 + h)) - float(f(x, 0.8 - h))) / (2 * h)
        np.testing.assert_allclose(float(gt), fd_t, rtol=1e-6, atol=1e-8)


def test_grad_equals_autodiff_through_softmax_with_the_same_noise():
    with jax.enable_x64(True):
        rs = np.random.default_rng(3)
        x = jnp.asarray(rs.standard_normal((4, 6)))
        w = jnp.asarray(rs.standard_normal((4, 6)))
        g = jnp.asarray(fg.gumbel(size=(4, 6), dtype=np.float64, rng=fg.Key(9)))
        ours = jax.jit(jax.grad(_loss(jax.random.key(9), w), argnums=(0, 1)))(x, 0.6)
        ref = jax.grad(lambda x, t: (jax.nn.softmax((x + g) / t, -1) * w).sum(),
                       argnums=(0, 1))(x, 0.6)
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
        hard = jax.grad(_loss(jax.random.key(9), w, hard=True), argnums=(0, 1))(x, 0.6)
        for a, b in zip(hard, ours):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)


def test_float32_grad_and_vmap_of_grad():
    w = jnp.asarray(np.random.default_rng(4).standard_normal(X.shape), jnp.float32)
    keys = jax.random.split(jax.random.key(2), 3)
    grads = jax.vmap(lambda k: jax.grad(_loss(k, w), argnums=(0, 1))(jnp.asarray(X), 0.5))(keys)
    assert grads[0].shape == (3,) + X.shape and grads[0].dtype == jnp.float32
    assert grads[1].shape == (3,)
    one = jax.grad(_loss(keys[1], w), argnums=(0, 1))(jnp.asarray(X), 0.5)
    np.testing.assert_allclose(np.asarray(grads[0][1]), np.asarray(one[0]), rtol=1e-6)
    np.testing.assert_allclose(float(grads[1][1]), float(one[1]), rtol=1e-6)


def test_categorical_equals_the_numpy_api():
    k = jax.random.key(4)
    d = fgj.categorical(k, X)
    assert d.dtype == jnp.int32 and d.shape == (4,)
    np.testing.assert_array_equal(np.asarray(d), fg.gumbel_max(X, rng=fg.Key(4)))
    np.testing.assert_array_equal(np.asarray(fgj.categorical(k, X, n=7)),
                                  fg.categorical(X, 7, rng=fg.Key(4)))
    masked = jnp.array([[-jnp.inf, -jnp.inf], [0.0, -jnp.inf]])
    assert np.asarray(fgj.gumbel_max(k, masked)).tolist() == [-1, 0]


def test_errors():
    k = jax.random.key(0)
    with pytest.raises(TypeError, match="logits must be a bfloat16, float16, float32 or float64 array; got dtype int32"):
        fgj.gumbel_softmax(k, jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match=r"key must be one JAX PRNG key; got a batch of keys of shape \(2,\)"):
        fgj.gumbel_softmax(jax.random.split(k, 2), X)
    with pytest.raises(ValueError, match="key must be one JAX PRNG key"):
        fgj.gumbel_softmax(jnp.zeros(2, jnp.float32), X)
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        fgj.gumbel_softmax(3, X)
    with pytest.raises(np.exceptions.AxisError, match="axis=2 is out of range"):
        fgj.gumbel_softmax(k, X, axis=2)
    with pytest.raises(ValueError, match=r"tau of shape \(2,\) does not broadcast to the rows"):
        fgj.gumbel_softmax(k, X, jnp.ones(2))
    with pytest.raises(ValueError, match="n must be >= 0; got -2"):
        fgj.categorical(k, X, n=-2)
