"""The bits -> Gumbel transform word by word around every boundary where rounding changes:
the ends of the word range, the powers of two of the folded distance t (the exponent
boundaries of the uniform), the word halves of the 64-bit variant, and the points where the
result g or the intermediate E = -log U cross a power of two.

In each window every word is checked: finite, non-decreasing in the word (the uniform
U increases with the word W over the whole range, docs/rng.md), and within the documented
error of the exact (long double) transform: 2.5 ulp where |g| >= 1, and 2.5e-7 (float32) /
5e-16 (float64) absolute where |g| < 1. (An exhaustive scan of all 2**32 words found them
all finite and non-decreasing too; it takes minutes, so it is not part of the suite.)
"""
import numpy as np
import pytest
from numba import njit

from fastgumbel import _scalar as S
from conftest import ref_gumbel, ref_uniform32


@njit(cache=True)
def _g32_words(w, out):
    for i in range(w.size):
        out[i] = S.gumbel_bits32(np.uint32(w[i]))


@njit(cache=True)
def _u32_words(w, out):
    for i in range(w.size):
        out[i] = S.uniform_bits32(np.uint32(w[i]))


@njit(cache=True)
def _g64_words(w, out):
    for i in range(w.size):
        out[i] = S.gumbel_bits64(np.uint32(w[i] & np.uint64(0xFFFFFFFF)),
                                 np.uint32(w[i] >> np.uint64(32)))


@njit(cache=True)
def _first32(c):
    """Smallest word W with g(W) >= c (g is non-decreasing in W)."""
    lo, hi = np.int64(0), np.int64(1) << 32
    while lo < hi:
        mid = (lo + hi) // 2
        if S.gumbel_bits32(np.uint32(mid)) >= c:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def _first64(c):
    lo, hi = np.uint64(0), np.uint64(0xFFFFFFFFFFFFFFFF)
    while lo < hi:
        mid = lo + (hi - lo) // np.uint64(2)
        if S.gumbel_bits64(np.uint32(mid & np.uint64(0xFFFFFFFF)),
                           np.uint32(mid >> np.uint64(32))) >= c:
            hi = mid
        else:
            lo = mid + np.uint64(1)
    return lo


def g32(w):
    out = np.empty(w.size, np.float32)
    _g32_words(w, out)
    return out


def g64(w):
    out = np.empty(w.size, np.float64)
    _g64_words(w, out)
    return out


def windows(centers, half, top):
    parts = []
    for v in sorted({int(v) for v in centers}):
        lo, hi = max(0, v - half), min(top, v + half)
        parts.append(np.uint64(lo) + np.arange(hi - lo + 1, dtype=np.uint64))
    return np.unique(np.concatenate(parts))


def crossings(first, top):
    """Words where g crosses +-2**k and where E = exp(-g) crosses 2**k."""
    levels = [2.0**k for k in range(-24, 6)] + [-(2.0**k) for k in range(-24, 2)]
    levels += [-k * np.log(2.0) for k in range(-34, 5)]
    return [min(int(first(v)), top) for v in levels]


def check(w, g, ref, ulp_bound, abs_bound, ftype):
    assert np.isfinite(g).all()
    # w is sorted: g must be non-decreasing word by word
    d = np.diff(g.astype(np.float64))
    assert (d >= 0).all(), w[1:][d < 0][:5]
    big = np.abs(ref) >= 1
    ulps = (np.abs(g.astype(np.longdouble) - ref)
            / np.spacing(np.abs(ref).astype(ftype)).astype(np.longdouble))
    assert float(ulps[big].max()) <= ulp_bound, float(ulps[big].max())
    if (~big).any():
        assert float(np.abs(g - ref)[~big].max()) <= abs_bound


def test_32_bit_words_at_every_boundary():
    top = 2**32 - 1
    centers = [0, top, 2**31 - 1, 2**31]
    centers += [2**j for j in range(32)] + [top - 2**j for j in range(32)]   # t = 2**-k
    centers += crossings(_first32, top)
    w = windows(centers, 2**10, top)
    # every one of the 2**16 lowest and highest words, too
    w = np.unique(np.concatenate([w, np.arange(2**16, dtype=np.uint64),
                                  top - np.arange(2**16, dtype=np.uint64)]))
    g = g32(w)
    check(w, g, ref_gumbel(w, False), 2.5, 2.5e-7, np.float32)
    u = np.empty(w.size, np.float32)
    _u32_words(w, u)
    assert np.array_equal(u.view(np.uint32), ref_uniform32(w).view(np.uint32))
    assert (np.diff(u) >= 0).all() and u.min() > 0 and u.max() < 1


def test_64_bit_words_at_every_boundary():
    top = 2**64 - 1
    centers = [0, top, 2**63 - 1, 2**63]
    centers += [2**j for j in range(64)] + [top - 2**j for j in range(64)]
    # the low word wraps into the high word: the two halves are combined in _fold64
    his = [0, 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1]
    his += list(np.random.default_rng().integers(0, 2**32, 8))
    centers += [int(h) << 32 for h in his] + [(int(h) << 32) - 1 for h in his if h]
    centers += crossings(_first64, top)
    w = windows(centers, 2**8, top)
    g = g64(w)
    check(w, g, ref_gumbel(w, True), 2.5, 5e-16, np.float64)


@pytest.mark.parametrize("bits", [32, 64])
def test_extreme_values(bits):
    if bits == 32:
        g = g32(np.array([0, 2**32 - 1], np.uint64))
        lo, hi = -np.log(33 * np.log(2.0)), 33 * np.log(2.0)
        assert g[0] == pytest.approx(lo, rel=2e-7) and g[1] == pytest.approx(hi, rel=2e-7)
    else:
        g = g64(np.array([0, 2**64 - 1], np.uint64))
        lo, hi = -np.log(65 * np.log(2.0)), 65 * np.log(2.0)
        assert g[0] == pytest.approx(lo, rel=1e-15) and g[1] == pytest.approx(hi, rel=1e-15)
