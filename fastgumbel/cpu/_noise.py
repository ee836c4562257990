"""The noise of stream spec v1, one chunk of a row at a time: Philox words, and the Gumbel,
exponential or uniform variates made from them; x + g over a chunk; the noise fill kernel."""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import (MASK32, SH32, exponential_bits32, exponential_bits64, gumbel_bits32,
                       gumbel_bits64, philox_block, uniform_bits32, uniform_bits64)
from ._dtypes import _U, key_value, order_key, typed
from ._prefetch import _prefetch_span
from ._schedule import _blocks, _claim

#: Columns per chunk: a multiple of 4 (one Philox block gives 4 words).
CHUNK = 2048


@helper
def _words(k0, k1, stream, row, col0, n, bits64, wbuf):
    """Fill the uint32 buffer ``wbuf`` with the Philox blocks covering columns col0 .. col0+n-1
    of ``row`` (col0 % 4 == 0), four words per block in order.

    32-bit mode: column c is word c % 4 of counter (c // 4, stream, row_lo, row_hi), so
    column col0 + j is wbuf[j]. 64-bit mode: column c is words 2(c % 2) (low half) and
    2(c % 2) + 1 (high half) of counter (c // 2, stream, row_lo, row_hi), so column col0 + j
    is wbuf[2j] (low) and wbuf[2j + 1] (high).
    """
    rlo = row & MASK32
    rhi = row >> SH32
    per = 2 if bits64 else 4
    b0 = col0 // per
    for q in range((n + per - 1) // per):
        a0, a1, a2, a3 = philox_block(_U(b0 + q), stream, rlo, rhi, k0, k1)
        wbuf[4 * q] = a0
        wbuf[4 * q + 1] = a1
        wbuf[4 * q + 2] = a2
        wbuf[4 * q + 3] = a3


@helper
def _gumbel_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, g):
    """g[:n] = standard Gumbel noise of columns col0 .. col0+n-1 of ``row``."""
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            g[j] = gumbel_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            g[j] = gumbel_bits32(wbuf[j])


@helper
def _exponential_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, e):
    """e[:n] = E = -log(U) of columns col0 .. col0+n-1 of ``row``: the exponential variates
    whose -log is the Gumbel noise of :func:`_gumbel_chunk`."""
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            e[j] = exponential_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            e[j] = exponential_bits32(wbuf[j])


@helper
def _uniform_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, g):
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            g[j] = uniform_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            g[j] = uniform_bits32(wbuf[j])


@helper
def _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, seg):
    """seg[:n] = x[c0:c0+n] + Gumbel noise; returns (max, any NaN); the max is meaningful
    only without NaN.

    Two loops, each vectorized: the noise, then the sum with the max and min of its order
    keys, all in 32-bit lanes for float32 (a NaN has a key above +inf's or below -inf's, so
    no separate NaN count, whose wider lanes had narrowed the whole loop to 128-bit vectors;
    measured: one fused loop with the noise does not vectorize and is slower).
    """
    xs = xr[c0:c0 + n]
    _prefetch_span(xs, n)     # the logits load while the noise is computed
    _gumbel_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, seg)
    kinf = order_key(typed(np.inf, seg))
    kninf = order_key(typed(-np.inf, seg))
    kmax = kninf
    kmin = kinf
    for j in range(n):
        v = xs[j] + seg[j]
        seg[j] = v
        kv = order_key(v)
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
    return key_value(kmax), kmax > kinf or kmin < kninf



@kernel
def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale):
    """out[r, c] = loc + scale * Gumbel (or a uniform) of element (row0 + r, c)."""
    rows, K = out.shape
    nch = (K + CHUNK - 1) // CHUNK
    affine = not uniform and (loc != 0 or scale != 1)
    lo = typed(loc, out)
    sc = typed(scale, out)
    items = rows * nch
    nw, ib, nb, counter = _blocks(items, min(K, CHUNK))
    for w in prange(nw):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        b = _claim(counter)
        while b < nb:
            for item in range(b * ib, min(items, (b + 1) * ib)):
                r = item // nch
                c0 = (item % nch) * CHUNK
                n = min(CHUNK, K - c0)
                seg = out[r][c0:c0 + n]
                if uniform:
                    _uniform_chunk(k0, k1, stream, _U(row0 + r), c0, n, bits64, wbuf, seg)
                else:
                    _gumbel_chunk(k0, k1, stream, _U(row0 + r), c0, n, bits64, wbuf, seg)
                    if affine:
                        for j in range(n):
                            seg[j] = lo + sc * seg[j]
            b = _claim(counter)


@kernel
def fill_noise_at(out, row0, col0, k0, k1, stream, bits64, uniform):
    """out[r, j] = Gumbel noise (or a uniform) of element (row0 + r, col0 + j), for any
    col0: a column block of a longer noise row (the Dask category chunks), the same bits as
    column col0 + j of :func:`fill_noise`. The chunks start at the Philox block holding
    col0 and the words before col0 are dropped."""
    rows, n = out.shape
    per = 2 if bits64 else 4
    off = col0 % per
    span = n + off
    nch = (span + CHUNK - 1) // CHUNK
    for item in prange(rows * nch):
        r = item // nch
        s = (item % nch) * CHUNK
        m = min(CHUNK, span - s)
        wbuf = np.empty(2 * CHUNK, np.uint32)
        g = np.empty(CHUNK, out.dtype)
        c = col0 - off + s
        if uniform:
            _uniform_chunk(k0, k1, stream, _U(row0 + r), c, m, bits64, wbuf, g)
        else:
            _gumbel_chunk(k0, k1, stream, _U(row0 + r), c, m, bits64, wbuf, g)
        o = out[r]
        for j in range(max(s, off), s + m):
            o[j - off] = g[j - s]
