"""Multinomial counts without draws, by sequential conditional binomials (cost independent
of n per category): category ``i`` of row ``r`` uses the float64 uniform of the *binomial
field* (counter ``(3 * 2**30 + i // 2, stream, r_lo, r_hi)``), each binomial by inversion
from its mode. All layouts are in ``docs/rng.md``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._numba import inline_always, kernel
from .._scalar import MASK32, SH32, exp_nonpos_f64, philox_block, uniform_bits64
from ._cdf import OK, _bad_rows, _row_status
from ._dtypes import _U

#: Counter word c0 of category i of the binomial field is BINOMIAL_FIELD_C0 + i // 2.
BINOMIAL_FIELD_C0 = 3 << 30
#: stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n / e)**n) for n = 0 .. 15 (mpmath, 40 digits).
_STIRLERR = np.array([
    0.0, 0.08106146679532726, 0.0413406959554093, 0.02767792568499834,
    0.020790672103765093, 0.016644691189821193, 0.013876128823070748, 0.01189670994589177,
    0.010411265261972096, 0.009255462182712733, 0.00833056343336287, 0.007573675487951841,
    0.00694284010720953, 0.006408994188004207, 0.0059513701127588475, 0.005554733551962801])
_LN_2PI = 1.8378770664093453



@inline_always
def _stirlerr(n):
    if n <= 15.0:
        return _STIRLERR[int(n)]
    nn = n * n
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    if n > 500.0:
        return (s0 - s1 / nn) / n
    if n > 80.0:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35.0:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


@inline_always
def _bd0(x, np_):
    """x log(x / np) + np - x, accurate when x is close to np (Loader 2000)."""
    if abs(x - np_) < 0.1 * (x + np_):
        v = (x - np_) / (x + np_)
        s = (x - np_) * v
        ej = 2.0 * x * v
        v = v * v
        for j in range(1, 1000):
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
        return s
    return x * math.log(x / np_) + np_ - x


@inline_always
def _binom_pmf(x, n, p, q):
    """P(X = x) for X ~ Binomial(n, p), q = 1 - p, by Loader's saddle-point expansion
    (relative accuracy near float64 rounding for every n)."""
    if x == 0.0:
        return math.exp(-_bd0(n, n * q) - n * p if p < 0.1 else n * math.log(q))
    if x == n:
        return math.exp(-_bd0(n, n * p) - n * q if q < 0.1 else n * math.log(p))
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(x, n * p) - _bd0(n - x, n * q)
    lf = _LN_2PI + math.log(x) + math.log1p(-x / n)
    return math.exp(lc - 0.5 * lf)


@inline_always
def _binomial_inverse(n, p, q, u):
    """Binomial(n, p) by inversion in the fixed order mode, mode + 1, mode - 1, mode + 2, ...

    A fixed enumeration of the support and one uniform u: exact in distribution up to the
    float64 rounding of the probabilities; expected steps about 1.6 standard deviations.
    """
    if n == 0 or p <= 0.0:
        return 0
    if q <= 0.0:
        return n
    nf = float(n)
    m = int((nf + 1.0) * p)
    m = n if m > n else m
    pm = _binom_pmf(float(m), nf, p, q)
    cum = pm
    if u < cum:
        return m
    up = p / q
    lo = m
    hi = m
    plo = pm
    phi = pm
    while True:
        moved = False
        if hi < n and phi > 0.0:
            phi *= (nf - hi) / (hi + 1.0) * up
            hi += 1
            cum += phi
            if u < cum:
                return hi
            moved = True
        if lo > 0 and plo > 0.0:
            plo *= (lo * q) / ((nf - lo + 1.0) * p)
            lo -= 1
            cum += plo
            if u < cum:
                return lo
            moved = True
        if not moved:
            return m   # u beyond the rounded total mass (probability ~1e-15)


@kernel
def binomial_counts(x, counts, n, row0, k0, k1, stream):
    """counts[r, :] = Multinomial(n, softmax(x[r])) by sequential conditional binomials:
    c_i ~ Binomial(n - sum_{j<i} c_j, p_i / sum_{j>=i} p_j) (suffix sums from the end, in
    float64), c_i drawn by inversion with the float64 uniform of category i of the row's
    binomial field. Returns the per-row status (0 ok, 1 all masked, 2 NaN, 3 +inf).
    """
    rows, K = x.shape
    status = np.zeros(rows, np.int8)
    for r in prange(rows):
        xr = x[r]
        c = counts[r]
        c[:] = 0
        st, mx = _row_status(xr, K)
        status[r] = st
        if st != OK:
            continue
        mx64 = np.float64(mx)
        pr = np.empty(K, np.float64)
        suf = np.empty(K + 1, np.float64)
        for j in range(K):
            pr[j] = exp_nonpos_f64(np.float64(xr[j]) - mx64)
        suf[K] = 0.0
        for j in range(K - 1, -1, -1):
            suf[j] = suf[j + 1] + pr[j]
        row = _U(row0 + r)
        rlo = row & MASK32
        rhi = row >> SH32
        left = n
        a0 = a1 = a2 = a3 = _U(0)
        for i in range(K):
            if left == 0:
                break
            if i % 2 == 0:
                a0, a1, a2, a3 = philox_block(_U(BINOMIAL_FIELD_C0 + i // 2), stream, rlo, rhi,
                                              k0, k1)
            if pr[i] == 0.0:
                continue
            if pr[i] >= suf[i]:          # the last category with mass: all that is left
                c[i] = left
                break
            u = uniform_bits64(a0, a1) if i % 2 == 0 else uniform_bits64(a2, a3)
            pi = pr[i] / suf[i]
            k = _binomial_inverse(left, pi, suf[i + 1] / suf[i], u)
            c[i] = k
            left -= k
    return status


def multinomial_binomial(x, counts, n, row0, k0, k1, stream):
    """counts[r, :] by sequential conditional binomials (method "binomial").
    Returns (rows with NaN, rows with +inf)."""
    return _bad_rows(binomial_counts(x, counts, n, row0, k0, k1, stream))
