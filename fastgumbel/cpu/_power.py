"""The soft sample at tau = 1 / n (n an integer, 2 .. POWER_MAX: tau = 0.5, 0.25, 1/3, 0.1,
...) with one log per element instead of two: p = v**n / sum(v**n) with v = w s, where
w = exp(x - max x) / E (E = -log(U), the exponential variate whose -log is the Gumbel noise:
w = exp(x + g - max x)) and s a power of two. The general formula exp((x + g - M) / tau)
takes a second log (g = -log E) and rounds x + g; this takes n - 1 or fewer products per
element instead (a fixed sequence for each n, so the same bits in every kernel).

No shift: w is at most 2**33 (float32; 2**65 float64) and the row's w at max x at least
1 / 45.07, so w**2 (float32) and w**n for n <= POWER_MAX (float64) stay finite; float32 rows
at n >= 3 first scale w by s = 2**(1 - e), e the binade of the row's largest w (exact), so
that the largest v lies in [1, 2). A v below :func:`power_floor` (whose v**n / sum is below
the smallest normal number) is taken as 0, which the spec allows for such probabilities,
so that the products never run on subnormal numbers (slow on x86). Measured accuracy and
speed: bench/RESULTS.md, issue 18 (branch tau18q)."""
from __future__ import annotations

import math

import numpy as np

from .._numba import helper, inline_always
from .._scalar import exp_nonpos_any
from ._dtypes import eps_of, tiny_of, typed
from ._noise import CHUNK, _exponential_chunk
from ._prefetch import prefetch_next_row
from ._ratio import w_row_start
from ._reduce import LANES, _first_equal, _lanes, _lanes_total, _max_nan
from ._softmax_steps import HARD, SOFT

#: the largest n = 1 / tau that takes the powers (n <= 15: four squarings at most)
POWER_MAX = 15


@helper
def power_of(t, like):
    """n if 1 / t, rounded in the dtype of ``like``, is an integer in 2 .. POWER_MAX (then
    the soft sample at t is computed as w**n / sum(w**n)); else 0. (At t = RN32(0.1) the
    exponent 10 differs from 1 / t by 1.5e-8 relative, less than the rounding of t itself.)"""
    inv = typed(1, like) / t
    if inv >= 2 and inv <= POWER_MAX and inv == math.floor(inv):
        return int(inv)
    return 0


@helper
def power_scaled(n, like):
    """True if the row's w are scaled by the binade of their largest (a pass of its own)
    before the n-th power: n >= 3. At n = 2, s = 2**8 (:data:`POWER_S2`) for every row."""
    return n >= 3


@helper
def power_scale(top, like):
    """2**(1 - e) for the row's largest w = top in [2**(e-1), 2**e): top s in [1, 2)."""
    return typed(math.ldexp(1.0, 1 - math.frexp(top)[1]), like)


#: s at n = 2: the row's largest w is at least 1 / 45.07 > 2**-6 and at most 2**65
#: (float64; 2**33 float32), so the largest v = w s lies in [2**2, 2**73]: the sum of the
#: squares is at least 1 (so no probability above the smallest normal number comes from a
#: subnormal square) and stays finite
POWER_S2 = 2.0 ** 8


@helper
def power_floor(n, like):
    """The v below which v**n / sum(v**n) is below the smallest normal number, as the sum
    is at least 1: 2**-(ceil(B / n)) with B = 126 (float32) / 1022 (float64)."""
    b = 126 if eps_of(like) > 1e-10 else 1022
    k = (b + n - 1) // n
    return typed(math.ldexp(1.0, -k), like)


@helper
def _pow_n(v, n, one):
    """v**n for 2 <= n <= 15: the squarings v**2, v**4, v**8 and the product of those that
    n's bits select, in that order (exact products by ``one`` where a bit is 0)."""
    p = v if n & 1 else one
    q = v * v
    p = p * q if n & 2 else p
    if n >= 4:
        q = q * q
        p = p * q if n & 4 else p
    if n >= 8:
        q = q * q
        p = p * q
    return p


@helper
def _pow_floor(v, k, floor, one, zero):
    """v**k (:func:`_pow_n`), or 0 for v below ``floor`` (:func:`power_floor`)."""
    return _pow_n(v if v >= floor else zero, k, one)


@helper
def power_loop(xs, n, m, seg, acc, x, out, r, k, s, floor):
    """seg[:n] = (w s)**k in place of E = seg[:n] (w = exp(x - m) / E), and the sum in the
    fixed lane order (``LANES``): the rows at n = 2 in one pass (s = POWER_S2). Prefetches
    row r of x and out (:func:`prefetch_next_row`; none for r < 0)."""
    acc[:] = 0
    one = typed(1, seg)
    zero = typed(0, seg)
    for b0 in range(0, n, LANES):
        mm = min(LANES, n - b0)
        if r >= 0:
            prefetch_next_row(x, out, r, b0, LANES)
        sb = seg[b0:b0 + mm]
        xb = xs[b0:b0 + mm]
        if k == 2:
            for j in range(mm):
                v = exp_nonpos_any(xb[j] - m) / sb[j] * s
                v = v if v >= floor else zero
                p = v * v
                sb[j] = p
                acc[j] += p
        else:
            for j in range(mm):
                p = _pow_floor(exp_nonpos_any(xb[j] - m) / sb[j] * s, k, floor, one, zero)
                sb[j] = p
                acc[j] += p
    return _lanes_total(acc)


@helper
def power_pass(seg, n, acc, k, s, floor):
    """seg[:n] = (w s)**k in place of w = seg[:n], and the sum in the fixed lane order: the
    scaled rows' second pass (the same operations on w as :func:`power_loop`, so the same
    bits)."""
    acc[:] = 0
    one = typed(1, seg)
    zero = typed(0, seg)
    for b0 in range(0, n, LANES):
        mm = min(LANES, n - b0)
        sb = seg[b0:b0 + mm]
        for j in range(mm):
            p = _pow_floor(sb[j] * s, k, floor, one, zero)
            sb[j] = p
            acc[j] += p
    return _lanes_total(acc)


@inline_always
def power_row(xr, o, row, k0, k1, stream, bits64, k, mode, wbuf, acc, x, out, rn):
    """The soft (``mode`` SOFT) or hard (HARD) sample of one row at tau = 1 / k
    (``power_of``) into ``o``: E chunk by chunk, the max of the logits, then (unscaled)
    (w s)**k and its sum in one pass per chunk, or (scaled) w per chunk, the row's largest
    w, and (w s)**k per chunk; chunk sums added in chunk order, as ``by_chunk`` adds them,
    so both kernels give the same bits. The hard sample is the one-hot of the soft sample's
    first maximum; a row of at most CHUNK columns first tries :func:`._ratio._ratio_hard`
    with the shift 0 (so on this w): when no other w lies within 4 eps of the largest, the
    largest v = w s is ahead of every other by a factor (1 - 4 eps), its k-th power by about
    (1 - 4 k eps), more than the roundings of the squarings and products (at most about
    7 eps each at k = 15) and of the final product by 1 / S can take back, so the soft
    sample's first maximum is at that index. Returns True if the row's max is +inf. ``x``,
    ``out``, ``rn``: as :func:`._ratio._ratio_row`."""
    K = xr.shape[0]
    done, inf, m = w_row_start(xr, o, row, k0, k1, stream, bits64, typed(0, o), mode, wbuf)
    if done:
        return inf
    one = typed(1, o)
    scaled = power_scaled(k, o)
    floor = power_floor(k, o)
    s2 = typed(POWER_S2, o)
    S = typed(0, o)
    if not scaled:
        if K <= CHUNK:
            S = power_loop(xr, K, m, o, acc, x, out, rn, k, s2, floor)
        else:
            for c0 in range(0, K, CHUNK):
                n = min(CHUNK, K - c0)
                _exponential_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, o[c0:c0 + n])
                S += power_loop(xr[c0:c0 + n], n, m, o[c0:c0 + n], acc, x, out, -1, k, s2,
                                floor)
    else:
        top = typed(0, o)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            if K > CHUNK:
                _exponential_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, o[c0:c0 + n])
            t = power_w(xr[c0:c0 + n], n, m, o[c0:c0 + n], acc, x, out,
                        rn if K <= CHUNK else -1)
            top = t if t > top else top
        s = power_scale(top, o)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            S += power_pass(o[c0:c0 + n], n, acc, k, s, floor)
    power_finish(o, K, S)
    if mode == HARD:
        first = _first_equal(o, K, _max_nan(o, K)[0], one)
        o[:] = 0
        o[first] = 1
    return False


@helper
def power_w(xs, n, m, seg, acc, x, out, r):
    """seg[:n] = w = exp(x - m) / E in place of E = seg[:n] (the w of :func:`power_loop`,
    the same bits); returns the largest w, from lane maxima in ``acc`` (no pass of its own;
    w is never NaN: E > 0, and x - m <= 0 once the rows with a NaN or +inf have been taken
    out). Prefetches row r of x and out (none for r < 0)."""
    acc[:] = 0
    for b0 in range(0, n, LANES):
        mm = min(LANES, n - b0)
        if r >= 0:
            prefetch_next_row(x, out, r, b0, LANES)
        sb = seg[b0:b0 + mm]
        xb = xs[b0:b0 + mm]
        for j in range(mm):
            w = exp_nonpos_any(xb[j] - m) / sb[j]
            sb[j] = w
            acc[j] = w if w > acc[j] else acc[j]
    return _max_nan(acc, LANES)[0]


@helper
def power_finish(seg, n, S):
    """seg[:n] = p / S, as :func:`._softmax_steps._finish_chunk` (exactly 1 where p == S),
    except that a p below S times the smallest normal number gives 0 (a probability below
    it, which the spec returns as 0) and is never multiplied: subnormal outputs made the
    backward at tau = 0.1 1.3x slower (bench/RESULTS.md)."""
    inv = typed(1, seg) / S
    one = typed(1, seg)
    zero = typed(0, seg)
    lo = S * tiny_of(seg)
    for j in range(n):
        v = seg[j]
        v = v if v >= lo else zero
        seg[j] = one if v == S else v * inv


# by_chunk's steps for the rows at tau = 1 / k (one (row, chunk) item each; ``part``, ``top``
# and ``ptop`` are the row's entries of by_chunk's arrays, ``b`` the chunk's index)

@helper
def power_chunk_first(xs, n, m, seg, k0, k1, stream, row, c0, bits64, k, mode, part, top, ptop,
                      b, x, out):
    """power_row's first pass over one chunk: E, then w (scaled rows: the chunk's largest
    into ``top``) or (w s)**k and its sum into ``part`` (hard: the largest into ``ptop``).
    ``x``, ``out``: the kernel's arrays (nothing prefetched)."""
    wbuf = np.empty(2 * CHUNK, np.uint32)
    _exponential_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, seg)
    if power_scaled(k, seg):
        top[b] = power_w(xs, n, m, seg, _lanes(seg), x, out, -1)
    else:
        part[b] = power_loop(xs, n, m, seg, _lanes(seg), x, out, -1, k,
                             typed(POWER_S2, seg), power_floor(k, seg))
        if mode == HARD:
            ptop[b] = _max_nan(seg, n)[0]


@helper
def power_chunk_second(seg, k, mode, part, top, ptop, b):
    """power_row's second pass over one chunk of a scaled row: (w s)**k with s from the row's
    largest w (the max of ``top``), its sum into ``part`` (hard: the largest into ``ptop``)."""
    n = seg.shape[0]
    w = _max_nan(top, top.shape[0])[0]
    part[b] = power_pass(seg, n, _lanes(seg), k, power_scale(w, seg), power_floor(k, seg))
    if mode == HARD:
        ptop[b] = _max_nan(seg, n)[0]


@helper
def power_chunk_last(seg, mode, S, ptop):
    """The last pass over one chunk: the soft sample (:func:`power_finish`; returns -1), or,
    hard, the chunk zeroed and the first j whose p_j = (w s)**k / S equals the row's largest
    (the max of ``ptop``), what power_row's one-hot of the soft sample's first maximum finds
    (-1 if not in this chunk)."""
    n = seg.shape[0]
    if mode != HARD:
        power_finish(seg, n, S)
        return -1
    pt = _max_nan(ptop, ptop.shape[0])[0]
    inv = typed(1, seg) / S
    first = _first_equal(seg, n, pt * inv, inv)
    seg[:] = 0
    return first
