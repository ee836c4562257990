"""Many draws: categorical by every method, multinomial counts, top-k.

Exactness against a NumPy oracle written from docs/rng.md (the draw field), goodness of fit
with pooled small cells (expected counts >= 5), thread-count independence, masking."""
import numba
import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg
from conftest import fold
from fastgumbel._api import choose_method
from fastgumbel._demo import pooled_chi_square

METHODS = ["gumbel", "inverse_cdf", "auto"]


def draw_field_uniforms(key, rows, n):
    """Float64 uniforms U[r, j] of the inverse-CDF draw field, from the spec."""
    k0, k1, stream = key.words
    r = np.arange(rows, dtype=np.uint64)[:, None]
    j = np.arange(n, dtype=np.uint64)[None, :]
    ctr = np.stack(np.broadcast_arrays(np.uint64(2**31) + j // np.uint64(2), np.uint64(stream),
                                       r & np.uint64(0xFFFFFFFF), r >> np.uint64(32)), axis=-1)
    w = fg.random.philox4x32_10(ctr, np.array([k0, k1], np.uint32)).astype(np.uint64)
    h = (2 * (j % np.uint64(2))).astype(np.int64)
    lo = np.take_along_axis(w, np.broadcast_to(h, (rows, n))[..., None], -1)[..., 0]
    hi = np.take_along_axis(w, np.broadcast_to(h + 1, (rows, n))[..., None], -1)[..., 0]
    s, t = fold(lo | (hi << np.uint64(32)), True)
    t = t.astype(np.float64)                         # RN64 of the exact long-double value
    return np.where(s, np.minimum(1.0 - t, 1.0 - 2.0**-53), t)


def ref_inverse_cdf(x, key, n):
    x = x.astype(np.float64)
    p = np.exp(x - x.max(axis=-1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    last = x.shape[1] - 1 - np.argmax((p > 0)[:, ::-1], axis=-1)
    cdf[np.arange(x.shape[1])[None, :] >= last[:, None]] = 1.0
    U = draw_field_uniforms(key, x.shape[0], n)
    return np.stack([np.searchsorted(cdf[r], U[r], side="right") for r in range(len(x))])


def test_inverse_cdf_is_the_spec(fresh_logits):
    # many draws (guide table) and few draws over many categories (binary search)
    for shape, n in [((5, 40), 3000), ((3, 5000), 20)]:
        x = fresh_logits(shape, np.float64)
        x[0, ::3] = -np.inf
        x[1, -7:] = -np.inf
        key = fg.Key(np.random.default_rng().integers(2**63), 3)
        d = fg.categorical(x, n, rng=key, method="inverse_cdf")
        ref = ref_inverse_cdf(x, key, n)
        # the oracle's CDF rounds differently: a draw may differ only within ~1e-15 of a
        # category boundary, which none of these draws come near
        assert np.array_equal(d, ref)


@pytest.mark.parametrize("method", ["gumbel", "inverse_cdf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_draws_do_not_depend_on_thread_count(method, dtype):
    x = np.random.default_rng(1).standard_normal((3, 37)).astype(dtype)
    before = numba.get_num_threads()
    res = []
    try:
        for t in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(t)
            res.append((fg.categorical(x, 2000, rng=4, method=method),
                        fg.multinomial(x, 20_000, rng=4, method=method),
                        fg.multinomial(x[:1], 20_000, rng=4, method=method),
                        fg.gumbel_topk(np.tile(x, (1, 3000)), 9, rng=4)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(res[0], res[-1]):
        assert np.array_equal(a, b)


def test_auto_cost_model_and_errors():
    assert choose_method("auto", None, 10**6) == "gumbel"
    assert choose_method("auto", 1, 10) == "gumbel"
    assert choose_method("auto", 10, 10**5) == "inverse_cdf"
    assert choose_method("auto", 10**4, 10**3) == "inverse_cdf"
    x = np.zeros((2, 50))
    assert np.array_equal(fg.categorical(x, 100, rng=1, method="auto"),
                          fg.categorical(x, 100, rng=1, method="inverse_cdf"))
    assert np.array_equal(fg.categorical(x, rng=1, method="auto"), fg.gumbel_max(x, rng=1))
    d = fg.categorical(x, rng=1, method="inverse_cdf")
    assert d.shape == (2,) and np.array_equal(
        d, fg.categorical(x, 1, rng=1, method="inverse_cdf")[:, 0])
    with pytest.raises(ValueError, match="method must be one of"):
        fg.categorical(x, 3, method="alias")
    with pytest.raises(ValueError, match="method must be one of"):
        fg.multinomial(x, 3, method=None)
    with pytest.raises(ValueError, match="draws per row"):
        fg.multinomial(x, 2**32 + 1, method="inverse_cdf")
    with pytest.raises(ValueError, match="n must be >= 0"):
        fg.categorical(x, -1, method="inverse_cdf")
    for method in METHODS:
        with pytest.raises(ValueError, match="NaN"):
            fg.categorical(np.array([0.0, np.nan]), 10, method=method)
        with pytest.raises(ValueError, match=r"\+inf"):
            fg.multinomial(np.array([0.0, np.inf]), 10, method=method)


@pytest.mark.parametrize("method", METHODS)
def test_masked_categories_never_drawn(method):
    x = np.full(6, -np.inf)
    x[[1, 3, 4]] = np.log([0.3, 0.5, 0.2])
    x = np.vstack([x, np.full(6, -np.inf), x[::-1]])        # row 1: all masked
    d = fg.categorical(x, 20_000, rng=7, method=method)
    assert (d[1] == -1).all()
    for r in (0, 2):
        assert np.isin(d[r], np.flatnonzero(np.isfinite(x[r]))).all()
    c = fg.multinomial(x, 20_000, rng=7, method=method)
    assert (c[np.isinf(x)] == 0).all() and (c[1] == 0).all()
    assert (c[[0, 2]].sum(-1) == 20_000).all()
    t = fg.gumbel_topk(x, 5, rng=7)
    assert (t[1] == -1).all() and (t[0, 3:] == -1).all()
    assert set(t[0, :3]) == {1, 3, 4}


# ------------------------------------------------------------------ distributions (fixed seeds)

P = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.03, 0.015, 0.005])


@pytest.mark.parametrize("method", METHODS)
def test_categorical_chi_square_every_method(method):
    d = fg.categorical(np.tile(np.log(P), (4, 1)), 100_000, rng=fg.Key(5100), method=method)
    counts = np.bincount(d.ravel(), minlength=10)
    stat, dof = pooled_chi_square(counts, P)
    assert stats.chi2.sf(stat, dof) > 1e-3


def test_inverse_cdf_chi_square_with_2_20_categories():
    K = 1 << 20
    x = np.random.default_rng(6).standard_normal(K).astype(np.float32) * 2
    x[::97] = -np.inf
    p = np.exp(x.astype(np.float64) - x.max())
    p /= p.sum()
    c = fg.multinomial(x, 1 << 24, rng=fg.Key(5200), method="inverse_cdf")
    assert c.sum() == 1 << 24 and (c[::97] == 0).all()
    stat, dof = pooled_chi_square(c, p)
    assert dof > 100_000
    assert stats.chi2.sf(stat, dof) > 1e-3
    # and the draws themselves, per category, by the same pooling
    d = fg.categorical(x, 1 << 22, rng=fg.Key(5201), method="inverse_cdf")
    stat, dof = pooled_chi_square(np.bincount(d, minlength=K), p)
    assert stats.chi2.sf(stat, dof) > 1e-3


def test_gumbel_chi_square_pooled_small_cells():
    # a long tail of small categories: most expected counts are below 5 and get pooled
    x = -np.arange(200) * 0.05
    p = np.exp(x) / np.exp(x).sum()
    c = fg.multinomial(np.tile(x, (20, 1)), 500, rng=fg.Key(5300), method="gumbel")
    stat, dof = pooled_chi_square(c.sum(0), p)
    assert stats.chi2.sf(stat, dof) > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_multinomial_counts_mean_and_variance(method):
    p = np.array([0.5, 0.3, 0.15, 0.05])
    n, rows = 400, 4000
    c = fg.multinomial(np.tile(np.log(p), (rows, 1)), n, rng=fg.Key(5400), method=method)
    assert (c.sum(-1) == n).all()
    mean, var = c.mean(0), c.var(0, ddof=1)
    # mean: z-test; variance: ~N(n p (1-p), 2 sigma^4 / rows) for large n
    sd_mean = np.sqrt(n * p * (1 - p) / rows)
    assert np.all(np.abs(mean - n * p) < 4.5 * sd_mean)
    v = n * p * (1 - p)
    assert np.all(np.abs(var - v) < 4.5 * v * np.sqrt(2 / rows))
    cov = np.cov(c[:, 0], c[:, 1])[0, 1]
    assert abs(cov + n * p[0] * p[1]) < 4.5 * n * np.sqrt(p[0] * p[1] * 2 / rows)


def test_topk_large_rows_match_full_sort_and_gumbel_max():
    for K, k in [(1 << 17, 1), (1 << 17, 100), (300_001, 17)]:
        x = np.random.default_rng(K).standard_normal((1, K)).astype(np.float32)
        key = fg.Key(K)
        s = x + fg.gumbel(x.shape, rng=key)
        t = fg.gumbel_topk(x, k, rng=key)
        assert np.array_equal(t, np.argsort(-s, axis=-1, kind="stable")[:, :k])
        assert t[0, 0] == fg.gumbel_max(x, rng=key)[0]
