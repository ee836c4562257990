"""Honest tails: how often a rare category is drawn, computed exactly from the noise
transform's discrete distribution, compared with the true probability.

Two categories, common (logit 0, index 0) and rare (logit log p, index 1). The Gumbel-max
sampler draws the rare one when fl(x_r + g_r) > fl(x_c + g_c) (float32 sums, the first
maximum wins a tie), with g_r, g_c the noise of two independent 32-bit words. The noise
g(W) is non-decreasing in the word W (tested in test_transform.py), so the number of
common words the rare word W beats is one binary search over the 2**32 words, and the
rare words that can win at all are the few hundred at the top of the range. Summing gives
P(draw rare) exactly, as a ratio of integers over 2**64: what 10**9 (or any number of)
real draws estimate, without making them.

Run ``python tests/test_tails.py`` for the table in docs/rng.md ("Tail bias").
"""
import functools
import math

import numpy as np
import pytest
from numba import njit
from scipy import stats

import fastgumbel as fg
from fastgumbel import _scalar as S

W32 = 1 << 32


@njit(cache=True)
def _g32(w):
    return S.gumbel_bits32(np.uint32(w))


@njit(cache=True)
def _words_below(xc, thr, ties_to_rare):
    """How many words W give fl32(xc + g(W)) < thr (<= thr when ties go to the rare one)."""
    lo = np.int64(0)
    hi = np.int64(1) << 32
    while lo < hi:
        mid = (lo + hi) // 2
        v = xc + _g32(mid)
        if (v > thr) if ties_to_rare else (v >= thr):
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def _rare_wins(xr, xc, ties_to_rare):
    """(number of (rare word, common word) pairs where the rare one wins, rare words used)."""
    total = np.int64(0)
    w = (np.int64(1) << 32) - 1
    used = 0
    while w >= 0:
        c = _words_below(xc, xr + _g32(w), ties_to_rare)
        if c == 0:          # lower rare words have smaller noise: none of them wins either
            break
        total += c
        w -= 1
        used += 1
    return total, used


def exact_rate_32bit(p, ties_to_rare=False):
    """Exact P(draw the rare category) with the default float32 precision; and the truth."""
    xc, xr = np.float32(0.0), np.float32(np.log(p))
    pairs, used = _rare_wins(xr, xc, ties_to_rare)
    true = 1.0 / (1.0 + np.exp(float(xc) - float(xr)))    # of the float32 logits
    return pairs / 2.0**64, true, used


@njit(cache=True)
def _g64w(w):
    return S.gumbel_bits64(np.uint32(w & np.uint64(0xFFFFFFFF)), np.uint32(w >> np.uint64(32)))


@njit(cache=True)
def _words_below64(xc, thr):
    """How many 64-bit words W give xc + g(W) < thr (float64 sums), as a float."""
    top = np.uint64(0xFFFFFFFFFFFFFFFF)
    if xc + _g64w(top) < thr:
        return 2.0**64
    lo, hi = np.uint64(0), top
    while lo < hi:
        mid = lo + (hi - lo) // np.uint64(2)
        if xc + _g64w(mid) >= thr:
            hi = mid
        else:
            lo = mid + np.uint64(1)
    return float(lo)


@njit(cache=True)
def _rare_wins64(xr, xc):
    total = 0.0
    w = np.uint64(0xFFFFFFFFFFFFFFFF)
    used = 0
    while True:
        c = _words_below64(xc, xr + _g64w(w))
        if c == 0.0:
            break
        total += c
        used += 1
        if w == 0:
            break
        w -= np.uint64(1)
    return total / 2.0**128, used


def exact_rate_64bit(p):
    """Exact P(draw rare) for float64 logits (64 random bits per element); and the truth.
    The rare words that can win number about 2**64 exp(-(log(1/p) - 3.8)): cheap for
    p <= 1e-15."""
    xc, xr = 0.0, float(np.log(p))
    pairs, used = _rare_wins64(xr, xc)
    return pairs, 1.0 / (1.0 + np.exp(-xr)), used


def _rate_from_values(g, mass, p):
    """Exact P(draw rare) for i.i.d. noise taking sorted float32 values g with masses mass."""
    xc, xr = np.float32(0.0), np.float32(np.log(p))
    vc, vr = xc + g, xr + g
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    return float(np.dot(mass, cdf[np.searchsorted(vc, vr, side="left")]))


@functools.lru_cache(maxsize=1)
def _naive_values(bits):
    u = np.arange(1, 2**bits, dtype=np.float64) * 2.0**-bits
    g = (-np.log(-np.log(u))).astype(np.float32)
    return g, np.full(g.size, 1.0 / g.size)


def naive_rate(p, bits=24):
    """The naive transform -log(-log(u)) on u = k 2**-bits, k = 1 .. 2**bits - 1, computed
    in float64 and rounded once (more accurate than a float32 evaluation)."""
    return _rate_from_values(*_naive_values(bits), p)


def jax_low_rate(p):
    """JAX ``gumbel(mode="low")`` float32, emulated: -log(-log(u)) in float32 on the 23-bit
    uniform u = k 2**-23 clipped below at float32 tiny (k = 0 gives tiny)."""
    u = np.arange(2**23, dtype=np.float64).astype(np.float32) * np.float32(2.0**-23)
    u[0] = np.finfo(np.float32).tiny
    g = -np.log(-np.log(u))
    return _rate_from_values(g, np.full(g.size, 2.0**-23), p)


_F23 = np.float32(2.0**-23)
_TINY32 = np.float32(np.finfo(np.float32).tiny)
_N46 = 1 << 46


@njit(cache=True)
def _jax_high_g(i):
    """JAX ``gumbel(mode="high")`` float32, emulated for the index i = kh 2**23 + kl of its
    two 23-bit uniforms (high = kh 2**-23, low = kl 2**-23): x = high if high >= 0.5 else
    high + 2**-23 low + tiny; g = -log(-log1p(-x)). g does not increase with i."""
    kh = i >> 23
    kl = i & ((np.int64(1) << 23) - 1)
    high = np.float32(kh) * _F23
    x = high if high >= np.float32(0.5) else (high + _F23 * (np.float32(kl) * _F23)) + _TINY32
    return -np.float32(math.log(-np.float32(math.log1p(-x))))


@njit(cache=True)
def _jax_high_wins(xr, xc):
    total = 0.0
    n46 = np.int64(1) << 46
    i = np.int64(0)
    last_t = np.float32(np.nan)
    last_c = 0.0
    while i < n46:
        t = xr + _jax_high_g(i)
        if t == last_t:
            c = last_c
        else:
            lo, hi = np.int64(0), n46            # first common index j with value < t
            while lo < hi:
                mid = (lo + hi) // 2
                if xc + _jax_high_g(mid) < t:
                    hi = mid
                else:
                    lo = mid + 1
            c = float(n46 - lo)
            last_t, last_c = t, c
        if c == 0.0:
            break
        total += c
        i += 1
    return total / 2.0**92


def jax_high_rate(p):
    """Exact P(draw rare) under the emulated JAX high mode (slow above p = 1e-7)."""
    return _jax_high_wins(np.float32(np.log(p)), np.float32(0.0))


# ----------------------------------------------------------------------------------------


def test_rare_category_1e8_is_drawn_at_the_right_rate_default_precision():
    rate, true, used = exact_rate_32bit(1e-8)
    # expected count in 10**9 draws: 9.99977 (truth 9.99999); relative bias -2.3e-5
    assert abs(rate / true - 1) < 1e-4, (rate, true)
    assert 1e9 * rate == pytest.approx(10.0, rel=1e-4)
    assert 900 < used < 1100            # about 2**32 P(g > 18.42 - 3.13) rare words can win
    # who wins a tie does not matter at this level
    assert abs(exact_rate_32bit(1e-8, ties_to_rare=True)[0] / rate - 1) < 1e-6


@pytest.mark.parametrize("p,bound", [(1e-6, 1e-6), (1e-7, 1e-6), (1e-9, 5e-3)])
def test_exact_rates_down_to_1e9(p, bound):
    rate, true, _ = exact_rate_32bit(p)
    assert abs(rate / true - 1) < bound, rate / true - 1


def test_the_documented_limit_of_the_32_bit_transform():
    # docs/rng.md: biased below about 1e-10 (the noise stops at 22.87, 2**32 words)
    rate, true, _ = exact_rate_32bit(1e-10)
    assert -0.25 < rate / true - 1 < -0.1
    assert exact_rate_32bit(1e-11)[0] < 1e-3 * 1e-11


def test_the_naive_24_bit_transform_undersamples():
    r8 = naive_rate(1e-8)
    # expected count in 10**9 draws: 0.15 instead of 10
    assert 1e9 * r8 < 0.2
    assert naive_rate(1e-9) == 0.0                      # never drawn
    # and it is already 3 % low at p = 1e-6, where the 32-bit transform is exact to 1e-7
    assert naive_rate(1e-6) / 1e-6 < 0.98


def test_real_draws_poisson():
    # a real sampling run: 2e7 draws of a 5e-6 category (expect 100), and 64-bit noise too
    p, n = 5e-6, 20_000_000
    x = np.array([0.0, np.log(p)], np.float32)
    true = 1 / (1 + np.exp(-float(x[1])))
    for prec, seed in (("default", 20261125), ("high", 20261126)):
        c = fg.multinomial(x, n, rng=seed, precision=prec)
        assert c.sum() == n
        mu = n * true
        # two-sided Poisson test at 1e-3
        lo, hi = stats.poisson.ppf(5e-4, mu), stats.poisson.ppf(1 - 5e-4, mu)
        assert lo <= c[1] <= hi, (prec, c[1], mu)


# ---------------------------------------------------------------------------------------
# precision="high": 64 random bits per element


@njit(cache=True)
def _g64(lo, hi):
    return S.gumbel_bits64(np.uint32(lo), np.uint32(hi))


def test_64_bit_rates_exact_down_to_1e18():
    # float64 logits (64 bits per element): exact count as for the 32-bit transform
    for p, bound in ((1e-17, 1e-5), (1e-18, 1e-3)):
        rate, true, _ = exact_rate_64bit(p)
        assert abs(rate / true - 1) < bound, (p, rate / true - 1)
    # the documented limit: about 1 % low at 1e-19, most of it lost at 1e-20
    assert -0.02 < exact_rate_64bit(1e-19)[0] / 1e-19 - 1 < -0.005
    assert exact_rate_64bit(1e-20)[0] / 1e-20 - 1 < -0.5


def test_high_precision_reaches_past_40():
    top = _g64(0xFFFFFFFF, 0xFFFFFFFF)                  # the largest 64-bit word
    assert top == pytest.approx(65 * np.log(2), rel=1e-14)   # 45.05
    assert np.float32(top) > 45                          # float32 "high" rounds it once
    # g > 40 for exactly the 78 largest words: P(g > 40) = 78 / 2**64 = exp(-40.0)
    w = 2**64 - 1 - np.arange(80, dtype=np.uint64)
    g = np.array([_g64(int(v) & 0xFFFFFFFF, int(v) >> 32) for v in w])
    assert (g[:78] > 40).all() and (g[78:] < 40).all()
    assert 78 / 2**64 == pytest.approx(np.exp(-40), rel=0.02)
    # and the bottom: -log(65 log 2) = -3.808
    assert _g64(0, 0) == pytest.approx(-np.log(65 * np.log(2)), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_high_precision_is_accepted_everywhere_and_reads_one_noise_field(dtype):
    x = np.random.default_rng(4).standard_normal((6, 9)).astype(dtype)
    key = fg.Key(77, 5)
    g = fg.gumbel(size=x.shape, dtype=dtype, rng=key, precision="high")
    z = x + g
    assert np.array_equal(fg.gumbel_max(x, rng=key, precision="high"), z.argmax(-1))
    assert np.array_equal(fg.categorical(x, rng=key, precision="high"), z.argmax(-1))
    soft = fg.gumbel_softmax(x, 0.3, rng=key, precision="high")
    ref = np.exp((z - z.max(-1, keepdims=True)).astype(np.float64) / 0.3)
    ref /= ref.sum(-1, keepdims=True)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(soft, ref, atol=tol, rtol=tol * 10)
    hard = fg.gumbel_softmax(x, 0.3, hard=True, rng=key, precision="high")
    assert np.array_equal(hard.argmax(-1), z.argmax(-1)) and (hard.sum(-1) == 1).all()
    ly = fg.gumbel_log_softmax(x, 0.3, rng=key, precision="high")
    np.testing.assert_allclose(np.exp(ly.astype(np.float64)), ref, atol=tol, rtol=tol * 10)
    top = fg.gumbel_topk(x, 3, rng=key, precision="high")
    assert np.array_equal(top[:, 0], z.argmax(-1))
    draws = fg.categorical(x, 4, rng=key, precision="high")
    counts = fg.multinomial(x, 4, rng=key, precision="high")
    assert np.array_equal(counts, np.apply_along_axis(np.bincount, 1, draws, minlength=9))
    if dtype == np.float32:       # 64 bits: a different field from the 32-bit default
        assert not np.array_equal(g, fg.gumbel(size=x.shape, dtype=dtype, rng=key))
    else:                         # float64 always uses 64 bits
        assert np.array_equal(g, fg.gumbel(size=x.shape, dtype=dtype, rng=key))


def test_high_precision_float32_is_the_rounded_float64_noise():
    key = fg.Key(3, 1)
    a = fg.gumbel(size=(5, 1000), rng=key, precision="high")
    b = fg.gumbel(size=(5, 1000), dtype=np.float64, rng=key)
    assert np.array_equal(a, b.astype(np.float32))


def _table():
    print("| p | fastgumbel 32-bit | naive 24-bit | JAX `mode=\"low\"` | JAX `mode=\"high\"` |")
    print("|---|---|---|---|---|")
    for p in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14):
        rate, true, _ = exact_rate_32bit(p)
        cols = [rate, naive_rate(p), jax_low_rate(p), jax_high_rate(p)]
        print(f"| {p:g} | " + " | ".join(f"{c / true - 1:+.1e}" for c in cols) + " |",
              flush=True)
    print("\n| p | fastgumbel 64-bit (float64, or float32 precision='high') |\n|---|---|")
    for p in (1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20):
        rate, true, _ = exact_rate_64bit(p)
        print(f"| {p:g} | {rate / true - 1:+.1e} |", flush=True)


if __name__ == "__main__":
    _table()
