"""Numba CPU kernels for many draws: categorical by inverse CDF, multinomial counts (fused
counting of draws, or sequential conditional binomials), top-k by partial selection.

Re-exported by :mod:`fastgumbel.cpu` (the backend's face). Every kernel takes the global
index of its first row (``row0``) and the key words; results depend only on the key and
the global row and draw indices (stream spec v1, ``docs/rng.md``), never on the thread count.

Two samplers:

- **Gumbel-max** (the reference semantics): draw ``d`` of row ``r`` is the first argmax of
  ``x[r] + g`` over noise row ``r * n + d``. Cost ``n * K`` Gumbel variates per row.
- **Inverse CDF**: one pass builds the row's normalized CDF in float64 and a guide table
  (Chen and Asau's indexed search); draw ``j`` of row ``r`` is the smallest ``i`` with
  ``U < cdf[i]``, where ``U`` is the float64 uniform of the *draw field*: the 64-bit
  element ``(r, 2**32 + j)`` of the row, i.e. Philox counter
  ``(2**31 + j // 2, stream, r_lo, r_hi)``, words ``2 (j % 2)`` (low) and ``2 (j % 2) + 1``
  (high). No noise field of fewer than ``2**32`` columns reaches those counters. Cost ``K``
  exponentials per row, then O(1) expected per draw.

Counts without draws: sequential conditional binomials, category ``i`` of row ``r`` using
the float64 uniform of the *binomial field* (counter ``(3 * 2**30 + i // 2, stream, r_lo,
r_hi)``), each binomial by inversion from its mode. All layouts are in ``docs/rng.md``.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ._cpu_chunks import (CHUNK, _U, _inline, _kernel, _max_nan, _perturb_chunk, _row_argmax,
                          typed)
from ._scalar import (MASK32, SH32, exp_nonpos_f64, gumbel_bits32, gumbel_bits64,
                      philox_block, uniform_bits64)

__all__ = ["DRAW_FIELD_C0", "MAX_DRAWS_PER_ROW", "cdf_tables", "cdf_draws", "cdf_counts",
           "categorical_cdf", "multinomial_cdf", "multinomial_gumbel", "multinomial_binomial",
           "multinomial_rows",
           "topk_rows"]

#: Counter word c0 of draw j of the draw field is DRAW_FIELD_C0 + j // 2.
DRAW_FIELD_C0 = 1 << 31
#: Draws per row the draw field holds (its c0 stays below 3 * 2**30, the binomial field).
MAX_DRAWS_PER_ROW = 1 << 31

#: Draws per draw chunk (a multiple of 2); noise chunks are CHUNK columns, as in cpu.py.
DCHUNK = 1024
#: Bytes of CDF + guide tables built at once.
TABLE_BYTES = 1 << 25
#: Most guide-table buckets per category (fewer fix-ups in the lookup: measured 7.2 ns per
#: draw with 2 buckets per category, 5.3 ns with 8, K = 1000, one thread).
GUIDE_FACTOR = 8

_always = njit(inline="always", cache=True, nogil=True, error_model="numpy")

OK, MASKED, HAS_NAN, HAS_POSINF = 0, 1, 2, 3


# ----------------------------------------------------------------------------------------
# inverse CDF


@_always
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


@_kernel
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


@_always
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


@_always
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


@_inline
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


@_kernel
def cdf_draws(cdf, guide, status, out, row0, k0, k1, stream):
    """out[r, j] = inverse-CDF draw j of row row0 + r (-1 for all-masked rows)."""
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
        _draw_uniforms(k0, k1, stream, _U(row0 + r), j0, m, wbuf, ubuf)
        _lookup_chunk(cdf[r], guide[r], K, M, ubuf, o[j0:j0 + m], m)


@_kernel
def cdf_counts(cdf, guide, status, counts, n, parts, row0, k0, k1, stream):
    """counts[r * parts + p, :] = histogram of part p of the n inverse-CDF draws of row r.

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
            _draw_uniforms(k0, k1, stream, _U(row0 + r), j0, m, wbuf, ubuf)
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


def categorical_cdf(x, out, row0, k0, k1, stream):
    """out[r, :] = the inverse-CDF draws of rows row0 + r of ``x`` (rows, K).

    Returns (rows with NaN, rows with +inf); those rows' draws are -1 (the caller raises).
    """
    rows, K = x.shape
    nan_rows = inf_rows = 0
    for b0, b1 in _table_blocks(rows, K, out.shape[1]):
        cdf, guide, status = _tables(x, b0, b1, out.shape[1])
        cdf_draws(cdf, guide, status, out[b0:b1], row0 + b0, k0, k1, stream)
        a, b = _bad_rows(status)
        nan_rows += a
        inf_rows += b
    return nan_rows, inf_rows


def multinomial_cdf(x, counts, n, row0, k0, k1, stream):
    """counts[r, :] = histogram of the n inverse-CDF draws of row row0 + r, not materialized.

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
            cdf_counts(cdf, guide, status, counts[b0:b1], n, 1, row0 + b0, k0, k1, stream)
        else:
            part = np.empty((br * parts, K), np.int64)
            cdf_counts(cdf, guide, status, part, n, parts, row0 + b0, k0, k1, stream)
            counts[b0:b1] = part.reshape(br, parts, K).sum(axis=1)
        a, b = _bad_rows(status)
        nan_rows += a
        inf_rows += b
    return nan_rows, inf_rows


# ----------------------------------------------------------------------------------------
# multinomial by sequential conditional binomials (cost independent of n per category)

#: Counter word c0 of category i of the binomial field is BINOMIAL_FIELD_C0 + i // 2.
BINOMIAL_FIELD_C0 = 3 << 30
#: stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n / e)**n) for n = 0 .. 15 (mpmath, 40 digits).
_STIRLERR = np.array([
    0.0, 0.08106146679532726, 0.0413406959554093, 0.02767792568499834,
    0.020790672103765093, 0.016644691189821193, 0.013876128823070748, 0.01189670994589177,
    0.010411265261972096, 0.009255462182712733, 0.00833056343336287, 0.007573675487951841,
    0.00694284010720953, 0.006408994188004207, 0.0059513701127588475, 0.005554733551962801])
_LN_2PI = 1.8378770664093453


@_always
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


@_always
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


@_always
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


@_always
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


@_kernel
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


# ----------------------------------------------------------------------------------------
# Gumbel noise chunks (the noise field of stream spec v1, as in fastgumbel.cpu)


@_kernel
def multinomial_rows(x, counts, n_draws, row0, k0, k1, stream, bits64):
    """counts[r, :] = histogram of the n_draws Gumbel-max draws of row row0 + r (noise rows
    (row0 + r) * n_draws + d), exactly those of ``argmax_rows`` with D = n_draws."""
    rows, K = x.shape
    nan_rows = 0
    inf_rows = 0
    for r in prange(rows):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        gbuf = np.empty(min(CHUNK, K), x.dtype)
        c = counts[r]
        c[:] = 0
        row_nan = False
        row_inf = False
        for d in range(n_draws):
            bi, best, nan = _row_argmax(x[r], K, k0, k1, stream, _U((row0 + r) * n_draws + d),
                                        bits64, wbuf, gbuf)
            row_nan |= nan
            row_inf |= best == np.inf
            if best == -np.inf or nan or best == np.inf:
                break  # all masked: counts stay 0; NaN / +inf: the caller raises
            c[bi] += 1
        nan_rows += 1 if row_nan else 0
        inf_rows += 1 if row_inf else 0
    return nan_rows, inf_rows


#: Largest K for which Gumbel-max draws are counted in batches across draws.
SMALL_K = 64
#: Draws per batch of the small-K Gumbel-max counter.
DBATCH = 256


@_kernel
def _gumbel_counts_small(x, counts, n, parts, row0, k0, k1, stream, bits64):
    """counts[r * parts + p, :] = histogram of part p (batches p, p + parts, ...) of the n
    Gumbel-max draws of row row0 + r (noise rows (row0 + r) * n + d), for small K.

    The noise of a batch of draws is generated column by column across the batch (the
    loops over draws vectorize); the first maximum wins, as in ``argmax_rows``.
    Returns per-item flags (any NaN, max is +inf).
    """
    rows, K = x.shape
    nb = (n + DBATCH - 1) // DBATCH
    flags = np.zeros((rows * parts, 2), np.int64)
    per = 2 if bits64 else 4
    nq = (K + per - 1) // per
    for item in prange(rows * parts):
        r = item // parts
        p = item % parts
        cnt = counts[item]
        cnt[:] = 0
        xr = x[r]
        mx, nan = _max_nan(xr, K)
        if nan or mx == np.inf:
            flags[item, 0] = 1 if nan else 0
            flags[item, 1] = 0 if nan else 1
            continue
        if mx == -np.inf:
            continue
        rlo = np.empty(DBATCH, np.uint64)
        rhi = np.empty(DBATCH, np.uint64)
        w = np.empty((4, DBATCH), np.uint32)
        sv = np.empty((K, DBATCH), x.dtype)
        best = np.empty(DBATCH, x.dtype)
        bi = np.empty(DBATCH, np.int64)
        base = (row0 + r) * n
        for bt in range(p, nb, parts):
            d0 = bt * DBATCH
            m = min(DBATCH, n - d0)
            for b in range(m):
                R = _U(base + d0 + b)
                rlo[b] = R & MASK32
                rhi[b] = R >> SH32
            for q in range(nq):
                for b in range(m):
                    a0, a1, a2, a3 = philox_block(_U(q), stream, rlo[b], rhi[b], k0, k1)
                    w[0, b] = a0
                    w[1, b] = a1
                    w[2, b] = a2
                    w[3, b] = a3
                for cc in range(per):
                    c = q * per + cc
                    if c >= K:
                        break
                    xc = xr[c]
                    s_ = sv[c]
                    if bits64:
                        lo = w[2 * cc]
                        hi = w[2 * cc + 1]
                        for b in range(m):
                            s_[b] = xc + typed(gumbel_bits64(lo[b], hi[b]), s_)
                    else:
                        wc = w[cc]
                        for b in range(m):
                            s_[b] = xc + typed(gumbel_bits32(wc[b]), s_)
            s0 = sv[0]
            for b in range(m):
                best[b] = s0[b]
                bi[b] = 0
            for c in range(1, K):
                s_ = sv[c]
                for b in range(m):
                    v = s_[b]
                    take = v > best[b]
                    best[b] = v if take else best[b]
                    bi[b] = c if take else bi[b]
            for b in range(m):
                cnt[bi[b]] += 1
    return flags


def multinomial_gumbel(x, counts, n, row0, k0, k1, stream, bits64):
    """counts[r, :] = histogram of the n Gumbel-max draws of row row0 + r: exactly those of
    ``argmax_rows`` with D = n. Small K: batched across draws and split over threads when
    rows are few; larger K: one fused argmax pass per draw. Returns (NaN rows, +inf rows)."""
    rows, K = x.shape
    if K > SMALL_K:
        return multinomial_rows(x, counts, n, row0, k0, k1, stream, bits64)
    threads = numba.get_num_threads()
    nb = (n + DBATCH - 1) // DBATCH
    parts = max(1, min(nb, -(-2 * threads // rows))) if rows < 2 * threads else 1
    target = counts if parts == 1 else np.empty((rows * parts, K), np.int64)
    flags = _gumbel_counts_small(x, target, n, parts, row0, k0, k1, stream, bits64)
    if parts > 1:
        counts[:] = target.reshape(rows, parts, K).sum(axis=1)
    per_row = flags.reshape(rows, parts, 2).max(axis=1)
    return int(per_row[:, 0].sum()), int(per_row[:, 1].sum())


# ----------------------------------------------------------------------------------------
# top-k: threshold filtering against a size-k min-heap, parallel within long rows


@_inline
def _worse(va, ia, vb, ib):
    """Is (va, ia) ranked below (vb, ib)? Larger value first, then smaller index."""
    return va < vb or (va == vb and ia > ib)


@_inline
def _sift_down(hv, hi, size, pos):
    while True:
        a = 2 * pos + 1
        if a >= size:
            return
        b = a + 1
        c = b if (b < size and _worse(hv[b], hi[b], hv[a], hi[a])) else a
        if _worse(hv[c], hi[c], hv[pos], hi[pos]):
            hv[pos], hv[c] = hv[c], hv[pos]
            hi[pos], hi[c] = hi[c], hi[pos]
            pos = c
        else:
            return


@_inline
def _heap_offer(hv, hi, size, k, v, i):
    """Offer (v, i) to the min-heap of the k best; returns the new size."""
    if size < k:
        pos = size
        hv[pos] = v
        hi[pos] = i
        size += 1
        while pos > 0:
            par = (pos - 1) // 2
            if _worse(hv[pos], hi[pos], hv[par], hi[par]):
                hv[pos], hv[par] = hv[par], hv[pos]
                hi[pos], hi[par] = hi[par], hi[pos]
                pos = par
            else:
                break
    elif _worse(hv[0], hi[0], v, i):
        hv[0] = v
        hi[0] = i
        _sift_down(hv, hi, size, 0)
    return size


@_kernel
def _topk_segments(x, cv, ci, nseg, row0, k0, k1, stream, bits64):
    """cv/ci[r * nseg + s, :k] = the k best (value, index) of segment s of row r (a run of
    whole chunks), best first; missing slots have index -1. Returns (NaN rows, +inf rows)
    as per-item flags summed."""
    rows, K = x.shape
    k = cv.shape[1]
    nch = (K + CHUNK - 1) // CHUNK
    per = (nch + nseg - 1) // nseg
    flags = np.zeros((rows * nseg, 2), np.int64)
    for item in prange(rows * nseg):
        r = item // nseg
        s = item % nseg
        wbuf = np.empty(2 * CHUNK, np.uint32)
        gbuf = np.empty(min(CHUNK, K), x.dtype)
        hv = np.empty(k, x.dtype)   # min-heap of the k best: root is the worst kept
        hi = np.empty(k, np.int64)
        size = 0
        nan = False
        top = typed(-np.inf, gbuf)
        for ch in range(s * per, min(nch, (s + 1) * per)):
            c0 = ch * CHUNK
            n = min(CHUNK, K - c0)
            m, nn = _perturb_chunk(x[r], c0, n, k0, k1, stream, _U(row0 + r), bits64, wbuf, gbuf)
            nan |= nn
            top = m if m > top else top
            if size == k and not m > hv[0]:
                continue   # nothing in this chunk beats the k-th best (ties lose: larger index)
            for j in range(n):
                v = gbuf[j]
                if not v > -np.inf:   # -inf (masked) or NaN: never chosen
                    continue
                if size < k or v > hv[0]:
                    size = _heap_offer(hv, hi, size, k, v, c0 + j)
        vo = cv[item]
        io = ci[item]
        io[:] = -1
        for p in range(size - 1, -1, -1):
            vo[p] = hv[0]
            io[p] = hi[0]
            last = size - 1
            hv[0] = hv[last]
            hi[0] = hi[last]
            size = last
            _sift_down(hv, hi, size, 0)
        flags[item, 0] = 1 if nan else 0
        flags[item, 1] = 1 if top == np.inf else 0
    return flags


@_kernel
def _topk_merge(cv, ci, nseg, idx):
    """idx[r, :] = the k best of the nseg candidate lists of row r, best first."""
    rows, k = idx.shape
    for r in prange(rows):
        hv = np.empty(k, cv.dtype)
        hi = np.empty(k, np.int64)
        size = 0
        for s in range(nseg):
            v_ = cv[r * nseg + s]
            i_ = ci[r * nseg + s]
            for j in range(k):
                if i_[j] < 0:
                    break
                size = _heap_offer(hv, hi, size, k, v_[j], i_[j])
        out = idx[r]
        out[:] = -1
        for p in range(size - 1, -1, -1):
            out[p] = hi[0]
            last = size - 1
            hv[0] = hv[last]
            hi[0] = hi[last]
            size = last
            _sift_down(hv, hi, size, 0)


def topk_rows(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, :k] = the k largest of x[r] + g, best first (ties: smaller index first).

    The noise is that of ``argmax_rows`` with D = 1, so idx[:, 0] is ``gumbel_max``.
    Categories with x + g = -inf are never chosen; missing slots are -1. A row is split
    into segments scanned in parallel when there are fewer rows than threads; the result
    is the same for any split (a total order). Returns (rows with NaN, rows with +inf).
    """
    rows, K = x.shape
    k = idx.shape[1]
    threads = numba.get_num_threads()
    nch = (K + CHUNK - 1) // CHUNK
    nseg = 1
    if rows < threads and nch >= 8 and k <= 4096:
        nseg = max(1, min(nch // 4, -(-2 * threads // rows)))
    cv = np.empty((rows * nseg, k), x.dtype)
    ci = idx if nseg == 1 else np.empty((rows * nseg, k), np.int64)
    flags = _topk_segments(x, cv, ci, nseg, row0, k0, k1, stream, bits64)
    if nseg > 1:
        _topk_merge(cv, ci, nseg, idx)
    per_row = flags.reshape(rows, nseg, 2).max(axis=1)
    return int(per_row[:, 0].sum()), int(per_row[:, 1].sum())
