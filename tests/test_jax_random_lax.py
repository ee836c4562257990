"""JAX's own tests of ``jax.random.categorical`` / ``gumbel`` (tests/random_lax_test.py:
testCategorical, testCategoricalWithoutReplacement, testGumbel, testLowProbabilityGumbel),
rewritten against ``fastgumbel.jax`` with their shapes, parameters and assertions kept (the
chi-square and Kolmogorov-Smirnov statistics at JAX's significance levels)."""
import math
from functools import partial

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
fgj = pytest.importorskip("fastgumbel.jax")
scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

FLOATS = ["bfloat16", "float16", "float32", "float64"]


def make_key(seed):
    return jax.random.PRNGKey(seed, impl="threefry2x32")


def check_ks(samples, cdf, pval=None):
    samples = np.asarray(samples)
    fail_prob = pval or (0.003 if samples.dtype == jnp.bfloat16 else 0.01)
    if samples.dtype == jnp.bfloat16:     # kstest does not understand bfloat16
        samples = samples.astype("float32")
    assert scipy_stats.kstest(samples, cdf).pvalue > fail_prob


def check_chi_squared(samples, pmf, pval=None):
    samples = np.asarray(samples)
    alpha = pval or 0.01
    actual = np.bincount(samples, minlength=samples.max() + 100)
    expected = pmf(np.arange(len(actual))) * samples.size
    valid = expected > 0
    _, p_value = scipy_stats.chisquare(actual[valid], expected[valid])
    assert p_value > alpha, f"chi-squared p={p_value}: {expected[valid]} vs {actual[valid]}"


def x64_for(dtype):
    return jax.enable_x64(dtype == "float64")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", [None, "low", "high", "highest"])
@pytest.mark.parametrize("sample_shape", [(10000,), (5000, 2)])
@pytest.mark.parametrize("p,axis", [([.25] * 4, -1), ([.1, .2, .3, .4], -1),
                                    ([[.5, .5], [.1, .9]], 1), ([[.5, .1], [.5, .9]], 0)])
def test_categorical(p, axis, dtype, sample_shape, mode):
    with x64_for(dtype):
        p = np.array(p, dtype=np.float64)
        logits = jnp.asarray(np.log(p) - 42, dtype)     # unnormalized
        out_shape = tuple(np.delete(logits.shape, axis))
        shape = sample_shape + out_shape
        rand = partial(fgj.categorical, shape=shape, axis=axis, mode=mode)
        crand = jax.jit(rand)
        uncompiled = rand(make_key(0), logits)
        compiled = crand(make_key(0), logits)
        np.testing.assert_array_equal(np.asarray(uncompiled), np.asarray(compiled))
        if axis < 0:
            axis += logits.ndim
        # JAX runs this for float32 (float64 with x64); for the 16-bit dtypes the expected
        # probabilities are those of the rounded logits (log(p) - 42 keeps ~3 digits there)
        p = scipy_special.softmax(np.asarray(logits, np.float64), axis=axis)
        for samples in [uncompiled, compiled]:
            assert samples.shape == shape
            samples = np.asarray(samples).reshape((10000,) + out_shape)
            if len(p.shape[:-1]) > 0:
                ps = np.transpose(p, (1, 0)) if axis == 0 else p
                for cat_samples, cat_p in zip(samples.transpose(), ps):
                    pmf = lambda x, c=cat_p: np.where(x < len(c), c[np.minimum(len(c) - 1, x)], 0)
                    check_chi_squared(cat_samples, pmf)
            else:
                pmf = lambda x: np.where(x < len(p), p[np.minimum(len(p) - 1, x)], 0.0)
                check_chi_squared(samples, pmf)


@pytest.mark.parametrize("logits_shape", [(7,), (8, 9), (10, 11, 12)])
@pytest.mark.parametrize("prefix_shape", [(2,), (3, 4), (5, 6)])
def test_categorical_without_replacement(logits_shape, prefix_shape):
    key = jax.random.key(0)
    key, subkey = jax.random.split(key)
    logits = jax.random.normal(subkey, logits_shape)
    key, subkey = jax.random.split(key)
    axis = int(jax.random.randint(subkey, (), -len(logits_shape), len(logits_shape)))
    dists_shape = tuple(np.delete(logits_shape, axis))
    n_categories = logits_shape[axis]
    shape = prefix_shape + dists_shape
    prefix_size = math.prod(prefix_shape)
    if n_categories < prefix_size:
        with pytest.raises(ValueError, match="Number of samples without replacement"):
            fgj.categorical(key, logits, axis=axis, shape=shape, replace=False)
    else:
        output = fgj.categorical(key, logits, axis=axis, shape=shape, replace=False)
        assert output.shape == shape
        assert (0 <= output).all()
        assert (output < n_categories).all()
        flat = output.reshape((prefix_size, math.prod(dists_shape)))
        counts = jax.vmap(partial(jnp.bincount, length=n_categories), 1)(flat)
        assert (counts <= 1).all()


@pytest.mark.parametrize("dtype", FLOATS)
def test_gumbel(dtype):
    with x64_for(dtype):
        rand = lambda key: fgj.gumbel(key, (10000,), dtype)
        crand = jax.jit(rand)
        uncompiled = rand(make_key(0))
        compiled = crand(make_key(0))
        assert uncompiled.dtype == jnp.dtype(dtype)
        for samples in [uncompiled, compiled]:
            check_ks(samples, scipy_stats.gumbel_r().cdf)


def test_low_probability_gumbel():
    """JAX's bfloat16 tail test (mode="high"); 32 key groups instead of 128."""
    dtype = jnp.bfloat16
    nmant = jnp.finfo(dtype).nmant
    probs = [x * 2 ** -nmant for x in [0.125, 0.75, 1.25, 2.125]]
    num_samples = 1024 * 128
    num_groups = 32

    def compute_counts(key):
        v = fgj.gumbel(key, (num_samples, 1), dtype=dtype, mode="high")
        thresholds = np.array([[-np.log(-np.log(1 - x)) for x in probs]], dtype=dtype)
        return (v > thresholds).sum(axis=0)
    pts = [float(x) for x in jax.lax.map(
        compute_counts, jax.random.split(jax.random.key(0), num_groups)).sum(axis=0)]
    cdf_probs = [x / (num_samples * num_groups) for x in pts]
    np.testing.assert_allclose(cdf_probs, probs, rtol=0.25, atol=0)
