"""Many draws: categorical by every method, multinomial counts, top-k.

Exactness against a NumPy oracle written from docs/rng.md (the draw field), goodness of fit
with pooled small cells (expected counts >= 5), thread-count independence, masking."""
import numba
import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg
from conftest import fold
from fastgumbel._discrete import choose_method
from fastgumbel.cpu import _binomial
from fastgumbel._demo import pooled_chi_square

METHODS = ["gumbel", "inverse_cdf", "auto"]
COUNT_METHODS = METHODS + ["binomial"]


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
    assert choose_method("auto", 10**4, 10**3, counts=True) == "inverse_cdf"
    assert choose_method("auto", 10**6, 10**3, counts=True) == "binomial"
    assert choose_method("auto", 3, 10**3, counts=True) == "gumbel"
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
    with pytest.raises(ValueError, match="method must be one of 'gumbel', 'inverse_cdf', 'auto'"):
        fg.categorical(x, 3, method="binomial")
    with pytest.raises(ValueError, match="draws per row"):
        fg.multinomial(x, 2**32 + 1, method="inverse_cdf")
    with pytest.raises(ValueError, match="n must be >= 0"):
        fg.categorical(x, -1, method="inverse_cdf")
    for method in COUNT_METHODS:
        with pytest.raises(ValueError, match="NaN"):
            fg.multinomial(np.array([0.0, np.nan]), 10, method=method)
        with pytest.raises(ValueError, match=r"\+inf"):
            fg.multinomial(np.array([0.0, np.inf]), 10, method=method)
    for method in METHODS:
        with pytest.raises(ValueError, match="NaN"):
            fg.categorical(np.array([0.0, np.nan]), 10, method=method)


@pytest.mark.parametrize("method", COUNT_METHODS)
def test_masked_categories_never_drawn(method):
    x = np.full(6, -np.inf)
    x[[1, 3, 4]] = np.log([0.3, 0.5, 0.2])
    x = np.vstack([x, np.full(6, -np.inf), x[::-1]])        # row 1: all masked
    if method != "binomial":
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
    # counts drawn directly by conditional binomials
    c = fg.multinomial(x, 1 << 24, rng=fg.Key(5202), method="binomial")
    assert c.sum() == 1 << 24 and (c[::97] == 0).all()
    stat, dof = pooled_chi_square(c, p)
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


@pytest.mark.parametrize("method", COUNT_METHODS)
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
        s = x + fg.gumbel(size=x.shape, rng=key)
        t = fg.gumbel_topk(x, k, rng=key)
        assert np.array_equal(t, np.argsort(-s, axis=-1, kind="stable")[:, :k])
        assert t[0, 0] == fg.gumbel_max(x, rng=key)[0]


# ------------------------------------------------------------------ conditional binomials


@pytest.mark.parametrize("n,p", [(1, 0.3), (10, 0.3), (1000, 0.01), (50, 0.999),
                                 (10**6, 0.5), (10**9, 2e-7), (2**40, 1e-7)])
def test_binomial_inversion_chi_square(n, p):
    u = np.random.default_rng(n).random(100_000)
    k = _binomial_sample(n, p, u)
    assert k.min() >= 0 and k.max() <= n
    lo, hi = int(k.min()), int(k.max())
    support = np.arange(lo, hi + 1)
    counts = np.bincount(k - lo, minlength=hi - lo + 1)
    pm = stats.binom.pmf(support, n, p)
    # cells beyond the observed range go into the end cells
    pm[0] += stats.binom.cdf(lo - 1, n, p)
    pm[-1] += stats.binom.sf(hi, n, p)
    stat, dof = pooled_chi_square(counts, pm / pm.sum())
    assert dof == 0 or stats.chi2.sf(stat, dof) > 1e-3


def _binomial_sample(n, p, u):
    out = np.empty(u.size, np.int64)
    _binomial_many(n, p, 1 - p, u, out)
    return out


@numba.njit
def _binomial_many(n, p, q, u, out):
    for j in range(u.size):
        out[j] = _binomial._binomial_inverse(n, p, q, u[j])


def binomial_field_uniforms(key, r, K):
    k0, k1, stream = key.words
    i = np.arange(K, dtype=np.uint64)
    ctr = np.stack(np.broadcast_arrays(np.uint64(3 << 30) + i // np.uint64(2),
                                       np.uint64(stream), np.uint64(r), np.uint64(0)), -1)
    w = fg.random.philox4x32_10(ctr, np.array([k0, k1], np.uint32)).astype(np.uint64)
    h = (2 * (i % np.uint64(2))).astype(np.int64)
    lo = np.take_along_axis(w, h[:, None], -1)[:, 0]
    hi = np.take_along_axis(w, h[:, None] + 1, -1)[:, 0]
    s, t = fold(lo | (hi << np.uint64(32)), True)
    t = t.astype(np.float64)
    return np.where(s, np.minimum(1.0 - t, 1.0 - 2.0**-53), t)


def ref_binomial_counts(x, n, key, r):
    """The binomial field of docs/rng.md, with SciPy's binomial pmf."""
    p = np.exp(x - x.max())
    suf = np.cumsum(p[::-1])[::-1]
    V = binomial_field_uniforms(key, r, len(x))
    c = np.zeros(len(x), np.int64)
    left = n
    for i in range(len(x)):
        if left == 0:
            break
        if p[i] == 0:
            continue
        if p[i] >= suf[i]:
            c[i] = left
            break
        q = p[i] / suf[i]
        m = min(int((left + 1) * q), left)
        order = [m] + [v for d in range(1, left + 1) for v in (m + d, m - d) if 0 <= v <= left]
        cum = np.cumsum(stats.binom.pmf(order, left, q))
        c[i] = order[int(np.searchsorted(cum, V[i], side="right"))]
        left -= c[i]
    return c


def test_binomial_counts_are_the_spec():
    x = np.random.default_rng(2).standard_normal((6, 12))
    x[2, [0, 5, 11]] = -np.inf
    key = fg.Key(77, 5)
    c = fg.multinomial(x, 300, rng=key, method="binomial")
    for r in range(len(x)):
        assert np.array_equal(c[r], ref_binomial_counts(x[r], 300, key, r))
