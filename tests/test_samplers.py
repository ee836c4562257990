"""Every sampler against float64 / long-double NumPy references computed from the same
noise field, and against its distribution (KS and chi-square with fixed seeds)."""
import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg
from conftest import ref_noise

DTYPES = [(np.float32, "default"), (np.float64, "default"), (np.float32, "high")]


def ref_log_softmax(x, g, tau):
    s = (x.astype(np.longdouble) + g) / tau
    s = s - s.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def tolerance(x, tau, dtype):
    """Absolute error budget of log-softmax: rounding of x + g, scaled by 1 / tau."""
    eps = np.finfo(dtype).eps
    return 16 * eps * (np.abs(x).max() + 25) / tau + 8 * eps


@pytest.mark.parametrize("dtype,precision", DTYPES)
@pytest.mark.parametrize("tau", [1e-2, 0.1, 0.3, 0.5, 1.0, 7.0])
@pytest.mark.parametrize("shape", [(4, 1), (33, 10), (3, 5000)])
def test_soft_and_log_match_reference(fresh_logits, dtype, precision, tau, shape):
    x = fresh_logits(shape, dtype)
    k = fg.Key(np.random.default_rng().integers(2**63))
    ref = ref_log_softmax(x, ref_noise(k, shape, dtype, precision), tau)
    tol = tolerance(x, tau, dtype)
    ly = fg.gumbel_log_softmax(x, tau, rng=k, precision=precision)
    assert ly.dtype == dtype
    assert np.abs(ly - ref).max() <= tol
    y = fg.gumbel_softmax(x, tau, rng=k, precision=precision)
    assert y.dtype == dtype
    yr = np.exp(ref)
    assert np.all(np.abs(y - yr) <= yr * (2 * tol) + np.finfo(dtype).tiny)
    assert np.allclose(y.sum(-1, dtype=np.float64), 1, atol=shape[1] * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype,span", [(np.float32, 130.0), (np.float64, 800.0)])
def test_tau_one_keeps_every_probability_above_the_smallest_normal(dtype, span):
    # At tau == 1 the soft sample is computed as exp(x - (max x - C)) / E with E = -log U
    # (one log per element, cpu._ratio._ratio_chunk). Logits spread past the whole exp range:
    # every probability from 1 down to the smallest normal number comes back with a small
    # relative error (no underflow from the shift), and those below it are 0 or subnormal.
    rs = np.random.default_rng(5)
    x = (-rs.uniform(0, span, (100, 1000))).astype(dtype)
    x[:, 0] = 0
    k = fg.Key(11)
    s = x.astype(np.longdouble) + ref_noise(k, x.shape, dtype, "default")
    ref = np.exp(s - s.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    y = fg.gumbel_softmax(x, 1.0, rng=k)
    info = np.finfo(dtype)
    big = ref >= info.tiny
    assert big.mean() > 0.05 and (~big).mean() > 0.05
    # measured 15.7 eps (float32) and 32 eps (float64); rounding x - (max - C) alone may
    # cost |x - max + C| / 2 ulps
    assert np.abs(y[big] / ref[big] - 1).max() <= (span / 2 + 64) * info.eps
    assert np.all(y[~big] <= 2 * info.tiny)


@pytest.mark.parametrize("tau", [1e-4, 0.1, 1.0, 1e2, 1e4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hard_is_one_hot_of_soft_argmax(fresh_logits, tau, dtype):
    x = fresh_logits((2000, 17), dtype)
    k = fg.Key(3)
    y = fg.gumbel_softmax(x, tau, rng=k)
    h = fg.gumbel_softmax(x, tau, hard=True, rng=k)
    assert h.dtype == dtype
    assert np.array_equal(h, np.eye(17, dtype=dtype)[np.argmax(y, axis=-1)])


@pytest.mark.parametrize("dtype,precision", DTYPES)
def test_gumbel_max_is_argmax_of_logits_plus_noise(fresh_logits, dtype, precision):
    x = fresh_logits((300, 7, 40), dtype)
    k = fg.Key(77, 1)
    for axis in (0, 1, 2, -1):
        moved = np.moveaxis(x, axis, -1)
        g = fg.gumbel(size=moved.shape, dtype=dtype, rng=k, precision=precision)
        assert np.array_equal(fg.gumbel_max(x, axis=axis, rng=k, precision=precision),
                              np.argmax(moved + g, axis=-1))
    # and the exact-math reference agrees except at float ties
    exact = np.argmax(x + ref_noise(k, x.shape, dtype, precision), axis=-1)
    assert np.mean(exact == fg.gumbel_max(x, rng=k, precision=precision)) > 0.999


@pytest.mark.parametrize("dtype,precision", DTYPES)
@pytest.mark.parametrize("T", [3.0, 1e4])
def test_gumbel_max_near_ties_and_the_bound_band(dtype, precision, T):
    # gumbel_max computes x + g in full only for entries whose cheap upper bound (read off
    # the bits of E = -log U) is within about 0.06 of the row's largest bound
    # (cpu._argmax.chunk_argmax). Rows built from the noise put the runner-up at gaps
    # across that band, within ulps (T = 1e4: where x + g rounds coarsely) and at exact
    # ties: the index is still the first argmax of x + g with the noise of fg.gumbel.
    rows, K = 500, 300
    seed = np.random.SeedSequence().entropy      # fresh each run; in the message to replay
    rs = np.random.default_rng(seed)
    k = fg.Key(int(rs.integers(2**63)))
    g = fg.gumbel(size=(rows, K), dtype=dtype, rng=k, precision=precision)
    x = (T - 50 - rs.uniform(0, 10, (rows, K))).astype(dtype)
    ulp = np.spacing(dtype(T))
    gap = np.concatenate([np.zeros(100), rs.integers(-3, 4, 100) * ulp,
                          rs.uniform(0.03, 0.09, 200), rs.uniform(-1, 1, 100)])
    for r in range(rows):
        a, b = rs.choice(K, 2, replace=False)
        x[r, a] = dtype(T) - g[r, a]
        x[r, b] = dtype(T - gap[r]) - g[r, b]
    s = x + g
    assert np.array_equal(fg.gumbel_max(x, rng=k, precision=precision), np.argmax(s, -1)), seed
    assert (np.sum(s == s.max(-1, keepdims=True), -1) > 1).any(), seed   # exact ties occur


def test_categorical_single_draw_is_gumbel_max_and_draws_use_rows_r_times_n(fresh_logits):
    x = fresh_logits((6, 9))
    k = fg.Key(8)
    assert np.array_equal(fg.categorical(x, rng=k), fg.gumbel_max(x, rng=k))
    n = 5
    d = fg.categorical(x, n, rng=k)
    # draw j of row r reads noise row r * n + j
    g = fg.gumbel(size=(6 * n, 9), rng=k).reshape(6, n, 9)
    assert np.array_equal(d, np.argmax(x[:, None, :] + g, axis=-1))


@pytest.mark.parametrize("method", ["gumbel", "inverse_cdf"])
def test_multinomial_is_histogram_of_categorical(fresh_logits, method):
    x = fresh_logits((4, 3, 6))
    k = fg.Key(21)
    for axis in (1, -1):
        c = fg.multinomial(x, 250, axis=axis, rng=k, method=method)
        d = fg.categorical(x, 250, axis=axis, rng=k, method=method)
        expect = np.apply_along_axis(np.bincount, -1, d, minlength=x.shape[axis])
        assert np.array_equal(np.moveaxis(c, axis, -1), expect)
        assert c.shape == x.shape and c.dtype == np.int64


def test_topk_is_sorted_top_of_perturbed_logits(fresh_logits):
    x = fresh_logits((50, 300))
    k = fg.Key(4)
    s = x + fg.gumbel(size=x.shape, rng=k)
    t = fg.gumbel_topk(x, 20, rng=k)
    expect = np.argsort(-s, axis=-1, kind="stable")[:, :20]
    assert np.array_equal(t, expect)
    assert np.array_equal(t[:, 0], fg.gumbel_max(x, rng=k))
    assert np.array_equal(fg.gumbel_topk(x, 300, rng=k), np.argsort(-s, axis=-1, kind="stable"))


# ---------------------------------------------------------------- distributions (fixed seeds)

@pytest.mark.parametrize("dtype,precision", DTYPES)
def test_gumbel_ks(dtype, precision):
    g = fg.gumbel(size=200_000, dtype=dtype, rng=fg.Key(1000), precision=precision)
    assert stats.kstest(g.astype(np.float64), stats.gumbel_r.cdf).pvalue > 1e-3
    g = fg.gumbel(size=(400, 500), loc=2.0, scale=0.5, dtype=dtype, rng=1001, precision=precision)
    assert stats.kstest(g.ravel().astype(np.float64), stats.gumbel_r(2.0, 0.5).cdf).pvalue > 1e-3


@pytest.mark.parametrize("dtype,precision", DTYPES)
def test_uniform_ks(dtype, precision):
    u = fg.uniform(size=(300, 700), dtype=dtype, rng=fg.Key(2000), precision=precision)
    assert stats.kstest(u.ravel().astype(np.float64), stats.uniform.cdf).pvalue > 1e-3
    assert u.min() > 0 and u.max() < 1


P = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.03, 0.015, 0.005])


@pytest.mark.parametrize("dtype,precision", DTYPES)
def test_gumbel_max_chi_square(dtype, precision):
    x = np.tile(np.log(P).astype(dtype) + 3.0, (200_000, 1))   # shift: logits need not be normalized
    d = fg.gumbel_max(x, rng=fg.Key(3000), precision=precision)
    counts = np.bincount(d, minlength=10)
    assert stats.chisquare(counts, P * len(d)).pvalue > 1e-3


def test_categorical_chi_square_and_masked_never_drawn():
    x = np.append(np.log(P), -np.inf)          # last category masked
    d = fg.categorical(x, 300_000, rng=fg.Key(3100))
    counts = np.bincount(d, minlength=11)
    assert counts[-1] == 0
    assert stats.chisquare(counts[:-1], P * d.size).pvalue > 1e-3


def test_multinomial_chi_square():
    c = fg.multinomial(np.tile(np.log(P), (50, 1)), 4000, rng=fg.Key(3200))
    assert (c.sum(-1) == 4000).all()
    assert stats.chisquare(c.sum(0), P * c.sum()).pvalue > 1e-3


def test_topk_second_draw_follows_renormalized_probabilities():
    p = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    t = fg.gumbel_topk(np.tile(np.log(p), (200_000, 1)), 2, rng=fg.Key(3300))
    pairs = t[:, 0] * 5 + t[:, 1]
    counts = np.bincount(pairs, minlength=25).reshape(5, 5)
    expect = p[:, None] * p[None, :] / (1 - p[:, None])
    np.fill_diagonal(expect, 0)
    assert np.all(np.diag(counts) == 0)
    mask = ~np.eye(5, dtype=bool)
    assert stats.chisquare(counts[mask], expect[mask] * len(t)).pvalue > 1e-3


def test_soft_sample_expectation_at_low_temperature():
    # as tau -> 0 the soft sample is nearly one-hot with P(argmax = i) = p_i
    x = np.tile(np.log(P[:4] / P[:4].sum()), (100_000, 1))
    y = fg.gumbel_softmax(x, 0.01, rng=fg.Key(3400))
    counts = np.bincount(y.argmax(-1), minlength=4)
    assert stats.chisquare(counts, P[:4] / P[:4].sum() * len(y)).pvalue > 1e-3


@pytest.mark.parametrize("tau", [1e-30, 1e-3, 0.1, 0.5, 1.0, 50.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", [9, 3000])
def test_hard_near_ties_follow_the_soft_sample(tau, dtype, K):
    # Rows built from the noise itself so that x + g has exact and near ties at the top
    # (within a few ulps, and around the 2**-19 tau window where the row kernel stops
    # taking the max of x + g as the index and computes the softmax instead): the hard
    # sample is still the one-hot of the first argmax of the soft sample.
    rows = 600
    seed = np.random.SeedSequence().entropy      # fresh each run; in the message to replay
    rs = np.random.default_rng(seed)
    k = fg.Key(int(rs.integers(2**63)))
    g = fg.gumbel(size=(rows, K), dtype=dtype, rng=k)
    x = (rs.standard_normal((rows, K)) - 30).astype(dtype)
    eps = np.finfo(dtype).eps
    gap = np.concatenate([np.zeros(100), rs.integers(-4, 5, 200) * eps * 8,
                          rs.uniform(0.2, 8, 200) * 2.0 ** -19 * tau,
                          rs.uniform(-2, 2, 100)])
    for r in range(rows):
        a, b = sorted(rs.choice(K, 2, replace=False))
        # s_a = 8 exactly (or within an ulp); s_b = 8 - gap (rounded)
        x[r, a] = dtype(8) - g[r, a]
        x[r, b] = dtype(8 - gap[r]) - g[r, b]
    y = fg.gumbel_softmax(x, tau, rng=k)
    h = fg.gumbel_softmax(x, tau, hard=True, rng=k)
    assert np.array_equal(h, np.eye(K, dtype=dtype)[np.argmax(y, axis=-1)]), seed
    # the rows exercise both branches: ties (soft has two maxima) and clear winners. At
    # tau == 1 the soft sample is exp(x - max + C) / E, which rounds tied x + g apart, so
    # there the ties counted are top two within one eps (relative): that puts the top two
    # w within 4 eps, the window where cpu._softmax_steps._sole_max gives way to the normalized search
    # (at tau = 1 / n, the n-th power of the same w: within n eps)
    if tau in (1, 0.5, 0.1):
        ys = np.sort(y, axis=-1)
        tied = ys[:, -2] >= ys[:, -1] * (1 - eps / tau)
    else:
        tied = np.sum(y == y.max(-1, keepdims=True), axis=-1) > 1
    assert 0 < tied.sum() < rows, seed
