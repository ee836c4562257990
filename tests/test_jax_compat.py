"""fastgumbel.jax as a drop-in for jax.random: keys of every PRNG impl, categorical's shapes
and layout, gumbel, mode, bfloat16, bool/integer-like arguments, trace-time errors, and the
defined results of values only known at run time (no error inside the host call)."""
import numpy as np
import pytest

import fastgumbel as fg

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fgj = pytest.importorskip("fastgumbel.jax")

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


# ----------------------------------------------------------------------------------------
# keys


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
def test_fresh_keys_of_every_impl_draw_the_noise_of_fastgumbel_key_s(impl):
    want = fg.gumbel_softmax(X, 0.5, rng=fg.Key(7))
    for key in (jax.random.key(7, impl=impl), jax.random.PRNGKey(7, impl=impl)):
        typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        d = np.asarray(jax.random.key_data(key) if typed else key)
        y = fgj.gumbel_softmax(key, X, 0.5)
        if impl == "unsafe_rbg":    # its seeding does not repeat the two words
            w = [int(v) for v in d]
            want_k = fg.Key((w[0] << 32) | w[1], w[0] ^ w[1] ^ w[2] ^ w[3])
            np.testing.assert_array_equal(np.asarray(y),
                                          fg.gumbel_softmax(X, 0.5, rng=want_k))
        else:
            np.testing.assert_array_equal(np.asarray(y), want)


@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg"])
def test_four_word_keys_map_as_documented_and_work_under_vmap_and_jit(impl):
    keys = jax.random.split(jax.random.key(3, impl=impl), 4)
    ys = jax.jit(jax.vmap(lambda k: fgj.gumbel_softmax(k, X, 0.5)))(keys)
    for i in range(4):
        w = [int(v) for v in np.asarray(jax.random.key_data(keys[i]))]
        k = fg.Key((w[0] << 32) | w[1], w[0] ^ w[1] ^ w[2] ^ w[3])
        np.testing.assert_array_equal(np.asarray(ys[i]), fg.gumbel_softmax(X, 0.5, rng=k))
        assert fgj.key_words(keys[i]).tolist() == [w[0], w[1], w[0] ^ w[1] ^ w[2] ^ w[3]]


def test_raw_four_word_key_and_bad_keys():
    raw = jnp.array([0, 9, 0, 9], jnp.uint32)
    np.testing.assert_array_equal(np.asarray(fgj.gumbel_softmax(raw, X)),
                                  fg.gumbel_softmax(X, rng=fg.Key(9)))
    with pytest.raises(ValueError, match=r"2 \(threefry2x32\) or 4 \(rbg, unsafe_rbg\) uint32"):
        fgj.gumbel(jnp.zeros(3, jnp.uint32))
    with pytest.raises(ValueError, match="one JAX PRNG key; got a batch of keys"):
        fgj.categorical(jax.random.split(jax.random.key(0), 3), X)
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        fgj.gumbel(5)


# ----------------------------------------------------------------------------------------
# categorical: JAX's shapes, layout and errors


def test_categorical_shapes_equal_jax_random_categorical():
    k = jax.random.key(1)
    x3 = jnp.asarray(np.random.default_rng(2).standard_normal((3, 4, 5)), jnp.float32)
    cases = [dict(), dict(axis=0), dict(axis=1), dict(shape=(7, 3, 4)), dict(shape=(2, 3, 3, 4)),
             dict(axis=jnp.int32(1), shape=(2, 3, 5)), dict(shape=(4, 3, 4), replace=False),
             dict(axis=np.int64(-2), shape=(4, 3, 5), replace=False, mode="high")]
    for kw in cases:
        ours, theirs = fgj.categorical(k, x3, **kw), jax.random.categorical(k, x3, **kw)
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), kw
        jit_ours = jax.jit(lambda k, x: fgj.categorical(k, x, **kw))(k, x3)
        np.testing.assert_array_equal(np.asarray(jit_ours), np.asarray(ours))


def test_sample_dimensions_come_first():
    k = jax.random.key(2)
    d = fgj.categorical(k, X, shape=(5, 4))
    np.testing.assert_array_equal(np.asarray(d),
                                  fg.categorical(X, 5, rng=fg.Key(2)).T)
    # the n= form keeps fastgumbel's layout (draws last)
    np.testing.assert_array_equal(np.asarray(fgj.categorical(k, X, n=5)),
                                  fg.categorical(X, 5, rng=fg.Key(2)))
    t = fgj.categorical(k, X, shape=(3, 4), replace=False)
    np.testing.assert_array_equal(np.asarray(t), fg.gumbel_topk(X, 3, rng=fg.Key(2)).T)
    np.testing.assert_array_equal(np.asarray(fgj.categorical(k, X)),
                                  fg.gumbel_max(X, rng=fg.Key(2)))


def test_batch_dimensions_of_size_one_broadcast_as_in_jax():
    k = jax.random.key(3)
    row = jnp.log(jnp.array([[0.7, 0.2, 0.1]]))
    d = fgj.categorical(k, row, shape=(20000, 4))
    assert d.shape == (20000, 4) == jax.random.categorical(k, row, shape=(20000, 4)).shape
    freq = np.bincount(np.asarray(d).ravel(), minlength=3) / d.size
    np.testing.assert_allclose(freq, [0.7, 0.2, 0.1], atol=0.01)
    assert not np.array_equal(np.asarray(d[:, 0]), np.asarray(d[:, 1]))   # independent


def test_categorical_errors_as_jax():
    k = jax.random.key(0)
    for kw, exc, msg in [
            (dict(shape=(3,)), ValueError, r"shape=\(3,\) must be broadcast-compatible"),
            (dict(shape=(2, 5)), ValueError, "broadcast-compatible with the batch shape"),
            (dict(shape=(7, 4), replace=False), ValueError,
             r"Number of samples without replacement \(7\) cannot exceed number of categories "
             r"\(6\)"),
            (dict(shape=(2, -4)), ValueError, "shape must not contain negative dimensions"),
            (dict(mode="fast"), ValueError, "mode must be None, 'low', 'high' or 'highest'; "
                                            "got 'fast'"),
            (dict(axis=2), np.exceptions.AxisError, "axis=2 is out of range"),
            (dict(axis=1.0), TypeError, "axis must be an integer; got 1.0"),
            (dict(replace="no"), TypeError, "replace must be True or False; got 'no'"),
            (dict(n=3, shape=(3, 4)), ValueError, "does not combine with shape"),
    ]:
        with pytest.raises(exc, match=msg):
            fgj.categorical(k, X, **kw)
        with pytest.raises(exc, match=msg):
            jax.jit(lambda k, x: fgj.categorical(k, x, **kw))(k, X)
    with pytest.raises(ValueError, match="has no categories"):
        fgj.categorical(k, jnp.zeros((3, 0)))
    with pytest.raises(TypeError, match="logits must be a bfloat16, float16, float32 or float64"):
        fgj.categorical(k, jnp.zeros((3, 2), jnp.int32))


# ----------------------------------------------------------------------------------------
# gumbel, mode, dtypes


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("mode,precision", [(None, "default"), ("low", "default"),
                                            ("high", "high"), ("highest", "high")])
def test_gumbel_is_the_stream_of_fastgumbel(dtype, mode, precision):
    with jax.enable_x64(dtype == "float64"):
        g = fgj.gumbel(jax.random.key(4), (3, 5), dtype, mode)
        assert g.shape == (3, 5) and g.dtype == jnp.dtype(dtype)
        want = fg.gumbel(size=(3, 5), dtype=dtype, rng=fg.Key(4), precision=precision)
        np.testing.assert_array_equal(np.asarray(g), want)
        np.testing.assert_array_equal(np.asarray(jax.jit(fgj.gumbel, static_argnums=(1, 2, 3))(
            jax.random.key(4), (3, 5), dtype, mode)), want)


def test_gumbel_defaults_and_errors():
    g = fgj.gumbel(jax.random.key(0))
    assert g.shape == () and g.dtype == jnp.float32
    with jax.enable_x64(True):
        assert fgj.gumbel(jax.random.key(0), (2,)).dtype == jnp.float64
    with pytest.raises(ValueError, match="dtype must be a float dtype .* got int32"):
        fgj.gumbel(jax.random.key(0), (2,), jnp.int32)
    with pytest.raises(ValueError, match="mode must be None, 'low', 'high' or 'highest'"):
        fgj.gumbel(jax.random.key(0), (2,), mode="medium")
    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints"):
        fgj.gumbel(jax.random.key(0), (2.5,))


def test_bfloat16_is_float32_math_rounded():
    xb = jnp.asarray(X, jnp.bfloat16)
    x32 = np.asarray(xb).astype(np.float32)
    k = jax.random.key(5)
    y = fgj.gumbel_softmax(k, xb, 0.5)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(y),
                                  fg.gumbel_softmax(x32, 0.5, rng=fg.Key(5)).astype(jnp.bfloat16))
    h = jax.jit(lambda k, x: fgj.gumbel_softmax(k, x, 0.5, hard=True))(k, xb)
    np.testing.assert_array_equal(np.asarray(h).astype(np.float32),
                                  fg.gumbel_softmax(x32, 0.5, hard=True, rng=fg.Key(5)))
    gx, gt = jax.grad(lambda x, t: (fgj.gumbel_softmax(k, x, t) * xb).sum().astype(jnp.float32),
                      argnums=(0, 1))(xb, 0.5)
    assert gx.dtype == jnp.bfloat16 and gx.shape == X.shape and np.isfinite(float(gt))
    np.testing.assert_array_equal(np.asarray(fgj.categorical(k, xb)),
                                  fg.gumbel_max(x32, rng=fg.Key(5)))
    gb = fgj.gumbel(k, (4,), jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(gb), fg.gumbel(size=4, rng=fg.Key(5))
                                  .astype(jnp.bfloat16))


def test_bool_like_hard_and_integer_like_axis():
    k = jax.random.key(6)
    ref = fgj.gumbel_softmax(k, X, 0.5, hard=True, axis=0)
    for hard in (jnp.bool_(True), np.bool_(True), jnp.array(True)):
        for axis in (jnp.int32(0), np.int64(0), jnp.array(-2)):
            np.testing.assert_array_equal(
                np.asarray(fgj.gumbel_softmax(k, X, 0.5, hard=hard, axis=axis)), np.asarray(ref))
    with pytest.raises(TypeError, match="hard must be a static .* not a traced array"):
        jax.jit(lambda h: fgj.gumbel_softmax(k, X, 0.5, hard=h))(True)
    with pytest.raises(TypeError, match="hard must be True or False; got 1"):
        fgj.gumbel_softmax(k, X, hard=1)
    with pytest.raises(ValueError, match="logits has no categories"):
        jax.jit(fgj.gumbel_softmax)(k, jnp.zeros((3, 0)))
    assert fgj.gumbel_softmax(k, jnp.zeros((0, 4))).shape == (0, 4)


# ----------------------------------------------------------------------------------------
# errors at trace time; run-time values give defined results without a callback error


def test_bad_tau_raises_when_traced_with_a_known_value():
    k = jax.random.key(0)
    for tau, exc in [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                     (jnp.float32(0), ValueError), (np.float64(1e-300), ValueError),
                     (True, TypeError), (jnp.ones(2), ValueError)]:
        with pytest.raises(exc, match="tau"):
            fgj.gumbel_softmax(k, X, tau)
        with pytest.raises(exc, match="tau"):
            jax.jit(lambda x: fgj.gumbel_softmax(k, x, tau))(X)     # a constant of the trace


def test_traced_bad_tau_gives_nan_and_no_host_error(capfd):
    k = jax.random.key(0)
    f = jax.jit(lambda t: fgj.gumbel_softmax(k, X, t))
    assert np.isnan(np.asarray(f(0.0))).all()
    assert np.isnan(np.asarray(f(-2.0))).all()
    assert np.isfinite(np.asarray(f(0.5))).all()
    g = jax.grad(lambda t: fgj.gumbel_softmax(k, X, t).sum())(0.0)   # traced under grad
    assert np.isnan(float(g))
    err = capfd.readouterr().err
    assert "Traceback" not in err and "CpuCallback" not in err


def test_nan_and_inf_logits_under_jit_follow_jax(capfd):
    k = jax.random.key(1)
    x = np.array([[0.0, np.nan, 1.0, np.nan], [0.0, np.inf, 1.0, np.inf],
                  [0.0, 1.0, 2.0, 3.0], [-np.inf] * 4], np.float32)
    for f in (fgj.categorical, jax.jit(fgj.categorical)):
        d = np.asarray(f(k, x))
        assert d[:2].tolist() == [1, 1] and d[3] == -1
        clean = np.where((np.isnan(x) | np.isposinf(x)).any(-1, keepdims=True), 0.0, x)
        assert d[2] == fg.gumbel_max(clean, rng=fg.Key(1))[2]
        np.testing.assert_array_equal(np.asarray(jnp.argmax(x[:2] + 1.0, -1)), d[:2])
    many = np.asarray(jax.jit(lambda k, x: fgj.categorical(k, x, shape=(5, 4)))(k, x))
    assert (many[:, 0] == 1).all() and (many[:, 1] == 1).all() and (many[:, 3] == -1).all()
    top = np.asarray(fgj.categorical(k, x, shape=(2, 4), replace=False))
    assert (top[:, :2] == -1).all()
    y = np.asarray(jax.jit(fgj.gumbel_softmax)(k, x))
    assert np.isnan(y[:2]).all() and np.isfinite(y[2]).all() and (y[3] == 0).all()
    # the good rows keep their bits
    np.testing.assert_array_equal(y[2], fg.gumbel_softmax(clean, rng=fg.Key(1))[2])
    err = capfd.readouterr().err
    assert "Traceback" not in err and "CpuCallback" not in err


def test_pure_callback_fallback_gives_the_same_results(monkeypatch):
    """Off the CPU backend (or without buffer_callback) the host call copies through
    pure_callback: same values, vmap and derivatives."""
    from fastgumbel.jax import _call
    keys = jax.random.split(jax.random.key(9), 3)
    run = lambda: (jax.jit(jax.vmap(lambda k: fgj.gumbel_softmax(k, X, 0.5, hard=True)))(keys),
                   jax.grad(lambda x: fgj.gumbel_softmax(keys[0], x, 0.5)[0, 0])(X),
                   fgj.categorical(keys[1], X, shape=(3, 4)), fgj.gumbel(keys[2], (5,)))
    want = run()
    monkeypatch.setattr(_call, "buffer_callback", None)
    got = run()
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_vmap_of_gumbel_and_categorical_over_keys():
    keys = jax.random.split(jax.random.key(10), 3)
    g = jax.vmap(lambda k: fgj.gumbel(k, (2, 3), jnp.bfloat16))(keys)
    d = jax.jit(jax.vmap(lambda k: fgj.categorical(k, X, shape=(5, 4))))(keys)
    t = jax.vmap(lambda k: fgj.categorical(k, X, shape=(6, 4), replace=False))(keys)
    assert g.shape == (3, 2, 3) and d.shape == (3, 5, 4) and t.shape == (3, 6, 4)
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(g[i]), np.asarray(fgj.gumbel(keys[i], (2, 3),
                                                                              jnp.bfloat16)))
        np.testing.assert_array_equal(np.asarray(d[i]),
                                      np.asarray(fgj.categorical(keys[i], X, shape=(5, 4))))
        assert sorted(np.asarray(t[i])[:, 0].tolist()) == list(range(6))
