"""Categorical draws and multinomial counts by inverse CDF.

One pass builds the row's normalized CDF in float64 and a guide table (Chen and Asau's
indexed search); draw ``j`` of row ``r`` is the smallest ``i`` with ``U < cdf[i]``, where
``U`` is the float64 uniform of the *draw field*: the 64-bit element ``(r, 2**32 + j)`` of
the row, i.e. Philox counter ``(2**31 + j // 2, stream, r_lo, r_hi)``, words ``2 (j % 2)``
(low) and ``2 (j % 2) + 1`` (high). No noise field of fewer than ``2**32`` columns reaches
those counters. Cost ``K`` exponentials per row, then O(1) expected per draw. Results depend
only on the key and the global row and draw indices (stream spec v1, ``docs/rng.md``), never
on the thread count.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._numba import helper, inline_always, kernel
from .._scalar import MASK32, SH32, exp_nonpos_f64, philox_block, uniform_bits64
from ._dtypes import _U
from ._reduce import _max_nan

#: Counter word c0 of draw j of the draw field is DRAW_FIELD_C0 + j // 2; the field holds
#: ``_checks.MAX_DRAWS_PER_ROW`` draws per row (its c0 stays below 3 * 2**30, the binomial
#: field), which the callers check before any kernel runs.
DRAW_FIELD_C0 = 1 << 31

#: Draws per draw chunk (a multiple of 2); noise chunks are CHUNK columns
#: (:mod:`._noise`).
DCHUNK = 1024
#: Bytes of CDF + guide tables built at once.
TABLE_BYTES = 1 << 25
#: Most guide-table buckets per category (fewer fix-ups in the lookup: bench/RESULTS.md).
GUIDE_FACTOR = 8


OK, MASKED, HAS_NAN, HAS_POSINF = 0, 1, 2, 3


@inline_always
def _row_status(xr, K):
    """(OK / MASKED / HAS_NAN / HAS_POSINF, the row's max) of one row of logits."""
    mx, nan = _max_nan(xr, K)
    if nan:
        return HAS_NAN, mx
    if mx == np.inf:
        return HAS_POSINF, mx
    if mx == -np.inf:
        return MASKED, mx
    return OK, mx


@kernel
def cdf_tables(x, cdf, guide, status):
    """Per row: float64 normalized CDF of softmax(x[r]) and its guide table.

    cdf[r, i] = sum_{c <= i} p_c with p = exp(x - max) / sum (float64), made exactly 1 from
    the last category with p > 0 on (masked and underflowed categories have width exactly 0,
    so they are never drawn). guide[r, m] (M = guide.shape[1] buckets, M may be 0: binary
    search) = #{i : cdf[r, i] * M <= m}, about the smallest i with cdf[r, i] > m / M; the
    lookup corrects it in both directions, so rounding here never changes a draw.
    status[r]: 0 ok, 1 all masked (-inf), 2 NaN, 3 +inf.
    """
    rows, K = x.shape
    M = guide.shape[1]
    for r in prange(rows):
        xr = x[r]
        c = cdf[r]
        st, mx = _row_status(xr, K)
        status[r] = st
        if st != OK:
            continue
        mx64 = np.float64(mx)
        for j in range(K):
            c[j] = exp_nonpos_f64(np.float64(xr[j]) - mx64)
        last = K - 1
        while not c[last] > 0.0:    # the maximum has p = 1, so this stops
            last -= 1
        # prefix sums as four interleaved chains over the row's quarters [lQ, (l+1)Q) (the
        # last one runs to K), each from 0, offset by the exact sum of the quarters before:
        # a fixed order (thread-independent), nondecreasing, four times the throughput
        Q = K // 4
        t0 = t1 = t2 = t3 = 0.0
        for j in range(Q):
            t0 += c[j]
            t1 += c[Q + j]
            t2 += c[2 * Q + j]
            t3 += c[3 * Q + j]
        for j in range(4 * Q, K):
            t3 += c[j]
        o1 = t0
        o2 = o1 + t1
        o3 = o2 + t2
        s0 = s1 = s2 = s3 = 0.0
        for j in range(Q):
            s0 += c[j]
            s1 += c[Q + j]
            s2 += c[2 * Q + j]
            s3 += c[3 * Q + j]
            c[j] = s0
            c[Q + j] = o1 + s1
            c[2 * Q + j] = o2 + s2
            c[3 * Q + j] = o3 + s3
        for j in range(4 * Q, K):
            s3 += c[j]
            c[j] = o3 + s3
        total = c[K - 1]            # the largest partial sum: every c[j] / total <= 1
        for j in range(last):
            c[j] = c[j] / total
        for j in range(last, K):
            c[j] = 1.0
        if M:
            g = guide[r]
            g[:] = 0
            for j in range(last):
                b = int(c[j] * M)
                if b < M:
                    g[b] += 1
            acc = 0
            for m in range(M):
                acc += g[m]
                g[m] = acc if acc < K else K - 1


@inline_always
def _lookup(c, g, K, M, u):
    """Smallest i with u < c[i] (c nondecreasing, c[K - 1] = 1 > u): from the guide table
    when there is one (O(1) expected), else by binary search."""
    if M:
        m = int(u * M)
        i = g[m if m < M else M - 1]
        while i > 0 and u < c[i - 1]:
            i -= 1
        while u >= c[i]:
            i += 1
        return i
    lo = 0
    hi = K - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < c[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@inline_always
def _lookup_chunk(c, g, K, M, ubuf, ibuf, n):
    """ibuf[j] = _lookup(c, g, K, M, ubuf[j]) for j < n.

    With a guide table: a branch-free pass (guide entry, then one conditional step; it
    vectorizes with gathers), then a fix-up pass that finishes the rare draws whose answer
    lies further away (or, after rounding, before the guide entry).
    """
    if M == 0:
        for j in range(n):
            ibuf[j] = _lookup(c, g, K, M, ubuf[j])
        return
    for j in range(n):
        u = ubuf[j]
        m = int(u * M)
        m = m if m < M else M - 1
        i = np.int64(g[m])
        i += 1 if u >= c[i] else 0
        ibuf[j] = i
    for j in range(n):
        i = ibuf[j]
        u = ubuf[j]
        if u >= c[i] or (i > 0 and u < c[i - 1]):
            ibuf[j] = _lookup(c, g, K, M, u)


@helper
def _draw_uniforms(k0, k1, stream, row, j0, n, wbuf, ubuf):
    """ubuf[:n] = float64 uniforms of draws j0 .. j0+n-1 (j0 even) of the draw field of row."""
    rlo = row & MASK32
    rhi = row >> SH32
    b0 = DRAW_FIELD_C0 + j0 // 2
    for q in range((n + 1) // 2):
        a0, a1, a2, a3 = philox_block(_U(b0 + q), stream, rlo, rhi, k0, k1)
        wbuf[4 * q] = a0
        wbuf[4 * q + 1] = a1
        wbuf[4 * q + 2] = a2
        wbuf[4 * q + 3] = a3
    for j in range(n):
        ubuf[j] = uniform_bits64(wbuf[2 * j], wbuf[2 * j + 1])


@kernel
def cdf_draws(cdf, guide, status, out, row0, k0, k1, stream, d0):
    """out[r, j] = inverse-CDF draw d0 + j (d0 even) of row row0 + r (-1 for all-masked
    rows)."""
    rows, K = cdf.shape
    M = guide.shape[1]
    n = out.shape[1]
    nch = (n + DCHUNK - 1) // DCHUNK
    for item in prange(rows * nch):
        r = item // nch
        j0 = (item % nch) * DCHUNK
        m = min(DCHUNK, n - j0)
        o = out[r]
        if status[r] != OK:
            for j in range(j0, j0 + m):
                o[j] = -1
            continue
        wbuf = np.empty(2 * DCHUNK + 4, np.uint32)
        ubuf = np.empty(DCHUNK + 1, np.float64)
        _draw_uniforms(k0, k1, stream, _U(row0 + r), d0 + j0, m, wbuf, ubuf)
        _lookup_chunk(cdf[r], guide[r], K, M, ubuf, o[j0:j0 + m], m)


@kernel
def cdf_counts(cdf, guide, status, counts, n, parts, row0, k0, k1, stream, d0):
    """counts[r * parts + p, :] = histogram of part p of the n inverse-CDF draws d0, d0 + 1,
    ... (d0 even) of row r.

    Part p holds the draw chunks p, p + parts, p + 2 parts, ... (the caller sums the parts).
    """
    rows, K = cdf.shape
    M = guide.shape[1]
    nch = (n + DCHUNK - 1) // DCHUNK
    for item in prange(rows * parts):
        r = item // parts
        p = item % parts
        cnt = counts[item]
        cnt[:] = 0
        if status[r] != OK:
            continue
        wbuf = np.empty(2 * DCHUNK + 4, np.uint32)
        ubuf = np.empty(DCHUNK + 1, np.float64)
        ibuf = np.empty(DCHUNK, np.int64)
        c = cdf[r]
        g = guide[r]
        for ch in range(p, nch, parts):
            j0 = ch * DCHUNK
            m = min(DCHUNK, n - j0)
            _draw_uniforms(k0, k1, stream, _U(row0 + r), d0 + j0, m, wbuf, ubuf)
            _lookup_chunk(c, g, K, M, ubuf, ibuf, m)
            for j in range(m):
                cnt[ibuf[j]] += 1


def guide_size(n, K):
    """Guide-table buckets for n draws per row over K categories: none (binary search)
    when the draws are few against K, else between K and GUIDE_FACTOR * K, growing with
    n / K (a finer table costs its size once and saves work on every draw). The table
    never changes a draw, only how fast it is found."""
    if 8 * n < K:
        return 0
    return max(1, min(GUIDE_FACTOR, n // max(K, 1))) * K


def _tables(x, b0, b1, n):
    K = x.shape[1]
    cdf = np.empty((b1 - b0, K), np.float64)
    guide = np.empty((b1 - b0, guide_size(n, K)), np.int32)
    status = np.empty(b1 - b0, np.int8)
    cdf_tables(x[b0:b1], cdf, guide, status)
    return cdf, guide, status


def _table_blocks(rows, K, n):
    per = max(1, TABLE_BYTES // max(1, 8 * K + 4 * guide_size(n, K)))
    for b0 in range(0, rows, per):
        yield b0, min(rows, b0 + per)


def _bad_rows(status):
    return int(np.count_nonzero(status == HAS_NAN)), int(np.count_nonzero(status == HAS_POSINF))


def categorical_cdf(x, out, row0, k0, k1, stream, d0=0):
    """out[r, :] = the inverse-CDF draws d0, d0 + 1, ... (d0 even) of rows row0 + r of ``x``
    (rows, K): a draw depends only on its row and index, so draws split into ranges agree.

    Returns (rows with NaN, rows with +inf); those rows' draws are -1 (the caller raises).
    """
    rows, K = x.shape
    nan_rows = inf_rows = 0
    for b0, b1 in _table_blocks(rows, K, out.shape[1]):
        cdf, guide, status = _tables(x, b0, b1, out.shape[1])
        cdf_draws(cdf, guide, status, out[b0:b1], row0 + b0, k0, k1, stream, d0)
        a, b = _bad_rows(status)
        nan_rows += a
        inf_rows += b
    return nan_rows, inf_rows


def multinomial_cdf(x, counts, n, row0, k0, k1, stream, d0=0):
    """counts[r, :] = histogram of the n inverse-CDF draws d0 .. d0 + n - 1 (d0 even) of row
    row0 + r, not materialized.

    Rows are split into draw parts when there are fewer rows than threads; integer sums
    make the result independent of that split. Returns (rows with NaN, rows with +inf).
    """
    rows, K = x.shape
    threads = numba.get_num_threads()
    nch = (n + DCHUNK - 1) // DCHUNK
    nan_rows = inf_rows = 0
    for b0, b1 in _table_blocks(rows, K, n):
        br = b1 - b0
        cdf, guide, status = _tables(x, b0, b1, n)
        parts = max(1, min(nch, -(-2 * threads // br))) if br < 2 * threads else 1
        if parts == 1:
            cdf_counts(cdf, guide, status, counts[b0:b1], n, 1, row0 + b0, k0, k1, stream, d0)
        else:
            part = np.empty((br * parts, K), np.int64)
            cdf_counts(cdf, guide, status, part, n, parts, row0 + b0, k0, k1, stream, d0)
            counts[b0:b1] = part.reshape(br, parts, K).sum(axis=1)
        a, b = _bad_rows(status)
        nan_rows += a
        inf_rows += b
    return nan_rows, inf_rows
