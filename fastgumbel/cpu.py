"""Numba CPU backend: fused kernels over a 2-D C-contiguous ``(rows, K)`` view.

Every kernel takes the global index of its first row (``row0``), the key words
``(k0, k1, stream)`` and ``bits64`` (64 random bits per element: float64, or
``precision="high"``), and regenerates the noise of each row chunk by chunk (``CHUNK``
columns at a time, in a per-thread buffer) from stream spec v1: nothing depends on the
thread count, and no input-sized temporary is allocated.

Rows are independent: the work is parallel over rows (and, for the noise fills, over row
chunks), which each thread claims in blocks from a shared counter (``_cpu_chunks._blocks``)
so that a thread that starts late does not hold the call up. Reductions inside a row run in
a fixed order, so results are bit-identical for any number of threads and any schedule.

Kernels compile on first use (``cache=True``), not at import.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from ._cpu_chunks import (CHUNK, LANES, _U, _blocks, _claim, _exponential_chunk, _first_equal,
                          _gumbel_chunk, _inline, _inline_always, _kernel, _lanes, _lanes_total,
                          _max_nan, _perturb_chunk, _prefetch_span, _row_argmax, prefetch_next_row, _uniform_chunk,
                          bound_chunk,
                          bound_threshold, chunk_argmax, eps_of, exp_shift, next_at_least,
                          tiny_of, typed)
from ._cpu_draws import (categorical_cdf, multinomial_binomial, multinomial_cdf,  # noqa: F401
                         multinomial_gumbel, multinomial_rows, topk_rows)
from ._scalar import exp_nonpos_any, exponential_bits32, exponential_bits64, log_any

__all__ = ["CHUNK", "fill_noise", "softmax_rows", "argmax_rows", "multinomial_rows", "topk_rows",
           "categorical_cdf", "multinomial_cdf", "multinomial_gumbel", "multinomial_binomial",
           "softmax_backward_rows", "softmax_backward_recompute", "concrete_rows"]

SOFT, LOG, HARD = 0, 1, 2


@_kernel
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

@_inline
def _exp_chunk(seg, n, M, t, mode, ebuf, acc):
    """exp((s - M) / t) over the chunk: in place (soft, hard) or into ebuf (log, which keeps
    s for step 3); returns the chunk's sum, added up in the same loop in the fixed lane order
    (``LANES``). Each destination has its own loop written on that array alone: a
    loop whose load and store go through two names of one array needs LLVM's runtime alias
    check, which then fails, and runs scalar (6x slower, measured). tau == 1 skips the
    division ((s - M) / 1 is exact)."""
    acc[:] = 0
    for b0 in range(0, n, LANES):
        m = min(LANES, n - b0)
        sb = seg[b0:b0 + m]
        if mode == LOG:
            eb = ebuf[b0:b0 + m]
            if t == 1:
                for j in range(m):
                    e = exp_nonpos_any(sb[j] - M)
                    eb[j] = e
                    acc[j] += e
            else:
                for j in range(m):
                    e = exp_nonpos_any((sb[j] - M) / t)
                    eb[j] = e
                    acc[j] += e
        elif t == 1:
            for j in range(m):
                e = exp_nonpos_any(sb[j] - M)
                sb[j] = e
                acc[j] += e
        else:
            for j in range(m):
                e = exp_nonpos_any((sb[j] - M) / t)
                sb[j] = e
                acc[j] += e
    return _lanes_total(acc)


@_inline
def _ratio_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, mc, seg, acc, x, out):
    """Steps 1 and 2 at tau == 1 over one chunk, with one log per element instead of two:
    seg[:n] = w = exp(x - mc) / E, where E = -log(U) is the exponential variate whose -log
    is the Gumbel noise (exp(x + g - M) = exp(x - M) / E); returns the chunk's sum, in the
    fixed lane order.

    mc = max(x) - C with C = :func:`exp_shift` (32 for float32, 64 for float64), the same
    for the whole row: every w is finite (E >= 2**-33 / 2**-65 bounds it by e**(C + 22.9) /
    e**(C + 45.1)) and the row's w at max(x) is at least e**C / 45.1, so an exp that
    underflows (x - mc below -87.3 / -708.4) belongs to a probability below the smallest
    normal number, which the spec returns as 0 anyway. (No log of E is taken, so the result
    is closer to the exact softmax of x + g than one that rounds x + g.)"""
    _exponential_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, seg)
    return _ratio_loop(xr[c0:c0 + n], n, mc, seg, acc, x, out, -1)


@_inline
def _ratio_loop(xs, n, mc, seg, acc, x, out, r):
    """The second half of :func:`_ratio_chunk`: seg[:n] = exp(x - mc) / E in place of E =
    seg[:n]; returns the sum, in the fixed lane order. Prefetches row r of x and out
    (:func:`prefetch_next_row`; none for r < 0)."""
    acc[:] = 0
    for b0 in range(0, n, LANES):
        m = min(LANES, n - b0)
        if r >= 0:
            prefetch_next_row(x, out, r, b0, LANES)
        sb = seg[b0:b0 + m]
        xb = xs[b0:b0 + m]
        for j in range(m):
            w = exp_nonpos_any(xb[j] - mc) / sb[j]
            sb[j] = w
            acc[j] += w
    return _lanes_total(acc)


@_inline
def _ratio_w(xr, c, mc, bits64, wbuf, like):
    """w = exp(x - mc) / E of column c, computed as :func:`_ratio_chunk` computes it (the same
    operations in the same order, so the same bits)."""
    if bits64:
        e = typed(exponential_bits64(wbuf[2 * c], wbuf[2 * c + 1]), like)
    else:
        e = typed(exponential_bits32(wbuf[c]), like)
    return exp_nonpos_any(xr[c] - mc) / e


@_inline
def _ratio_hard(xr, K, k0, k1, stream, row, bits64, wbuf, C, o):
    """The hard sample's index at tau == 1 for a row of K <= CHUNK columns, with one log per
    element and no exp for almost all of them; -1 where the row takes :func:`_ratio_row`'s
    full computation (two w within 4 eps of each other, a NaN or infinite x + g bound).

    The index is the first j whose w_j = exp(x_j - mc) / E_j (mc = max(x) - C) is the row's
    largest w, when no other w is within 4 eps of it (:func:`_sole_max`, which
    :func:`_ratio_row` applies to all w). w_j is exp(x_j + g_j - mc) to within two
    roundings, so every w within 4 eps of the largest belongs to an x + g that reaches the
    bound threshold of :func:`bound_chunk` (a few entries): w is computed for those alone,
    as :func:`_ratio_chunk` computes it. ``o`` holds E, then the bounds; the max of x comes
    out of the same loop."""
    _prefetch_span(xr, K)     # the logits load while the noise is computed
    _exponential_chunk(k0, k1, stream, row, 0, K, bits64, wbuf, o)
    top, nan, m = bound_chunk(xr, K, o, True)
    if nan or not abs(top) < np.inf:
        return -1
    mc = m - C
    thr = bound_threshold(top, o)
    best = typed(-1, o)
    first = -1
    c = next_at_least(o, K, thr, 0)
    while c >= 0:
        w = _ratio_w(xr, c, mc, bits64, wbuf, o)
        if w > best:
            best = w
            first = c
        c = next_at_least(o, K, thr, c + 1)
    lim = -typed(4, o) * eps_of(o) * best
    near = 0
    c = next_at_least(o, K, thr, 0)
    while c >= 0:
        near += 1 if _ratio_w(xr, c, mc, bits64, wbuf, o) - best > lim else 0
        c = next_at_least(o, K, thr, c + 1)
    return first if near == 1 else -1


@_inline
def _finish_chunk(seg, n, M, t, S, mode, search, top):
    """Step 3 over one chunk. The soft sample is e_j * (1 / S), except that an e_j equal to
    S (the others add nothing to it) gives exactly 1, as e_j / S does: a row with a single
    category, or one whose other categories are masked, is one-hot. Hard mode zeroes the
    chunk and returns the first j with e_j * (1 / S) == top * (1 / S) if ``search`` (else
    -1), where ``top`` is the row's largest e (1 after step 2, the max w after
    :func:`_ratio_chunk`); the caller sets the one."""
    if mode == SOFT:
        inv = typed(1, seg) / S
        one = typed(1, seg)
        for j in range(n):
            v = seg[j]
            seg[j] = one if v == S else v * inv
        return -1
    if mode == LOG:
        lse = log_any(S)
        for j in range(n):
            seg[j] = (seg[j] - M) / t - lse
        return -1
    inv = typed(1, seg) / S
    first = _first_equal(seg, n, top * inv, inv) if search else -1
    seg[:n] = 0
    return first


@_inline
def _sole_max(v, n, top, lim):
    """The first j with v[j] == top if every other v[j] - top is at most ``lim`` (< 0),
    else -1: the hard sample's index without normalizing, when the row allows it.

    With v = s = x + g, top = M and lim = -2**-19 t: such a j has (s[j] - M) / t <= -2**-19,
    so e_j = exp(...) < 1 - 2**-20 (exp is within 1 ulp) and RN(e_j * (1/S)) < 1/S, while
    the max has e = exp(0) = 1 exactly; the hard index is the first j with
    RN(e_j * (1/S)) == 1/S. (The caller requires t >= 2**19 tiny, so that lim is exact.)
    With v = w (tau == 1, :func:`_ratio_chunk`), top = max w and lim = -4 eps top:
    w_j <= top (1 - 4 eps), so the exact products differ by 4 eps top / S, more than the
    two half-ulps (at most eps top / S together) that rounding can take back, and
    RN(w_j / S) < RN(top / S) strictly. (v[j] - top is exact for v[j] >= top / 2.)"""
    near = np.int32(0)
    for j in range(n):
        near = np.int32(near + np.int32(v[j] - top > lim))   # int32 lanes: 16 per zmm
    if near != 1:
        return -1
    return _first_equal(v, n, top, typed(1, v))


@_inline
def _special_row(o, M, nan, mode):
    """Fill a NaN / +inf / all -inf row; returns (row handled, row max is +inf)."""
    if nan or M == np.inf:
        o[:] = np.nan
        return True, not nan
    if M == -np.inf:
        if mode == LOG:
            o[:] = -np.inf
        else:
            o[:] = 0
        return True, False
    return False, False


@_inline_always
def _softmax_row(xr, o, row, k0, k1, stream, bits64, t, mode, wbuf, ebuf, acc, x, out, rn):
    """One row of the softmax family into ``o`` (kept in cache through the three steps);
    returns True if the row's max(x + g) is +inf. A row of at most CHUNK columns skips the
    chunk loops (with them LLVM vectorizes the steps worse: measured 1.3x slower at
    K = 1024); the arithmetic is the same. Soft and hard samples at tau == 1 take
    :func:`_ratio_row` (one log per element instead of two), which prefetches row ``rn`` of
    the kernel's arrays ``x`` and ``out`` (rn < 0: none)."""
    C = exp_shift(o, bits64)
    if mode != LOG and t == 1 and C > 0:
        return _ratio_row(xr, o, row, k0, k1, stream, bits64, C, mode, wbuf, acc, x, out, rn)
    K = xr.shape[0]
    if K <= CHUNK:
        M, nan = _perturb_chunk(xr, 0, K, k0, k1, stream, row, bits64, wbuf, o)
    else:
        M = typed(-np.inf, o)
        nan = False
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            m, nn = _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, o[c0:c0 + n])
            M = m if m > M else M
            nan |= nn
    done, inf = _special_row(o, M, nan, mode)
    if done:
        return inf
    one = typed(1, o)
    if mode == HARD and t >= tiny_of(o) * typed(2.0 ** 19, o):
        first = _sole_max(o, K, M, -t * typed(2.0 ** -19, o))
        if first >= 0:
            o[:] = 0
            o[first] = 1
            return False
    if K <= CHUNK:
        S = _exp_chunk(o, K, M, t, mode, ebuf, acc)
        first = _finish_chunk(o, K, M, t, S, mode, True, one)
    else:
        S = typed(0, o)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            S += _exp_chunk(o[c0:c0 + n], n, M, t, mode, ebuf, acc)
        first = -1
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            f = _finish_chunk(o[c0:c0 + n], n, M, t, S, mode, first < 0, one)
            first = c0 + f if f >= 0 and first < 0 else first
    if mode == HARD:
        o[first] = 1
    return False


@_inline_always
def _ratio_row(xr, o, row, k0, k1, stream, bits64, C, mode, wbuf, acc, x, out, rn):
    """:func:`_softmax_row` for soft and hard samples at tau == 1: the row max of the
    logits, then w = exp(x - (max - C)) / E and its sum chunk by chunk
    (:func:`_ratio_chunk`), then w / S; chunk sums are added in chunk order, as in
    ``by_chunk``, so both kernels give the same bits. A hard sample of at most CHUNK columns
    first tries :func:`_ratio_hard` (no softmax). ``x``, ``out`` and ``rn``: the kernel's
    arrays and the row after this one, whose logits and output the ratio loop prefetches
    (none for rn < 0)."""
    K = xr.shape[0]
    if mode == HARD and K <= CHUNK:
        first = _ratio_hard(xr, K, k0, k1, stream, row, bits64, wbuf, C, o)
        if first >= 0:
            o[:] = 0
            o[first] = 1
            return False
    if K <= CHUNK:
        # E first: the logits, prefetched, arrive while it is computed (E does not depend on
        # them), and the max pass then reads them from cache
        _prefetch_span(xr, K)
        _exponential_chunk(k0, k1, stream, row, 0, K, bits64, wbuf, o)
    m, nan = _max_nan(xr, K)
    done, inf = _special_row(o, m, nan, mode)
    if done:
        return inf
    mc = m - C
    if K <= CHUNK:
        S = _ratio_loop(xr, K, mc, o, acc, x, out, rn)
    else:
        S = typed(0, o)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            S += _ratio_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, mc, o[c0:c0 + n],
                              acc, x, out)
    one = typed(1, o)
    top = one
    if mode == HARD:
        # the max of w in a pass of its own: tracked in _ratio_chunk's loop it cost the soft
        # sample 8 % (a horizontal max every 64 values)
        top = _max_nan(o, K)[0]
        first = _sole_max(o, K, top, -typed(4, o) * eps_of(o) * top)
        if first >= 0:
            o[:] = 0
        else:
            first = _finish_chunk(o, K, m, one, S, mode, True, top)
        o[first] = 1
    else:
        _finish_chunk(o, K, m, one, S, mode, True, top)
    return False


def _softmax_kernels(mode):
    """(by_row, by_chunk): the softmax-family kernels for one ``mode`` (SOFT, LOG, HARD).

    ``mode`` is a constant of each compiled kernel (a closure variable, which Numba freezes),
    so only the used mode's code is compiled, and the row function inlined into each kernel
    is specialized for it (measured 6-10 % faster than one kernel taking the mode as an
    argument). Numba's cache keys each closure by its constants.
    """

    @_kernel
    def by_row(x, out, row0, k0, k1, stream, bits64, tau):
        """Parallel over rows; each row stays in cache through the three steps."""
        rows, K = x.shape
        t = typed(tau, out)
        posinf = 0
        nw, rb, nb, counter = _blocks(rows, K)
        for w in prange(nw):
            wbuf = np.empty(2 * CHUNK, np.uint32)
            ebuf = np.empty(min(CHUNK, K) if mode == LOG else 0, out.dtype)
            acc = _lanes(out)
            found = 0
            b = _claim(counter)
            while b < nb:
                for r in range(b * rb, min(rows, (b + 1) * rb)):
                    inf = _softmax_row(x[r], out[r], _U(row0 + r), k0, k1, stream, bits64, t,
                                       mode, wbuf, ebuf, acc, x, out, r + 1)
                    found += 1 if inf else 0
                b = _claim(counter)
            posinf += found
        return posinf

    @_kernel
    def by_chunk(x, out, row0, k0, k1, stream, bits64, tau):
        """Parallel over (row, chunk) items in three passes. Same bits as ``by_row`` (at
        tau == 1 the soft and hard samples take the passes of :func:`_ratio_row`)."""
        rows, K = x.shape
        t = typed(tau, out)
        C = exp_shift(out, bits64)
        ratio = mode != LOG and t == 1 and C > 0
        nb = (K + CHUNK - 1) // CHUNK
        part = np.empty((rows, nb), out.dtype)      # chunk max, then chunk sum
        top = np.ones((rows, nb), out.dtype)        # chunk's largest e (ratio: max w)
        flag = np.zeros((rows, nb), np.int64)       # chunk has NaN, then chunk's first hard index
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            if ratio:
                m, nn = _max_nan(x[r][c0:c0 + n], n)
            else:
                wbuf = np.empty(2 * CHUNK, np.uint32)
                m, nn = _perturb_chunk(x[r], c0, n, k0, k1, stream, _U(row0 + r), bits64, wbuf,
                                       out[r][c0:c0 + n])
            part[r, item % nb] = m
            flag[r, item % nb] = 1 if nn else 0
        Ms = np.empty(rows, out.dtype)
        live = np.zeros(rows, np.bool_)
        posinf = 0
        for r in range(rows):
            M = typed(-np.inf, out)
            for b in range(nb):
                M = part[r, b] if part[r, b] > M else M
            Ms[r] = M
            done, inf = _special_row(out[r], M, flag[r].sum() > 0, mode)
            live[r] = not done
            posinf += 1 if inf else 0
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            if live[r]:
                seg = out[r][c0:c0 + n]
                if ratio:
                    wbuf = np.empty(2 * CHUNK, np.uint32)
                    part[r, item % nb] = _ratio_chunk(x[r], c0, n, k0, k1, stream,
                                                      _U(row0 + r), bits64, wbuf, Ms[r] - C, seg,
                                                      _lanes(seg), x, out)
                    if mode == HARD:
                        top[r, item % nb] = _max_nan(seg, n)[0]
                else:
                    ebuf = np.empty(n if mode == LOG else 0, out.dtype)
                    part[r, item % nb] = _exp_chunk(seg, n, Ms[r], t, mode, ebuf,
                                                    _lanes(seg))
        for r in range(rows):
            S = typed(0, out)
            w = top[r, 0]
            for b in range(nb):
                S += part[r, b]
                w = top[r, b] if top[r, b] > w else w
            part[r, 0] = S
            top[r, 0] = w
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            if live[r]:
                flag[r, item % nb] = _finish_chunk(out[r][c0:c0 + n], n, Ms[r], t, part[r, 0],
                                                   mode, True, top[r, 0])
        if mode == HARD:
            for r in range(rows):
                if live[r]:
                    for b in range(nb):
                        if flag[r, b] >= 0:
                            out[r, b * CHUNK + flag[r, b]] = 1
                            break
        return posinf

    return by_row, by_chunk


_SOFTMAX_KERNELS = {m: _softmax_kernels(m) for m in (SOFT, LOG, HARD)}


def softmax_by_row(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Fused Gumbel-softmax, parallel over rows: soft (mode 0), log-soft (1), hard (2).
    Each row stays in cache through the three steps. Returns the number of rows whose
    max(x + g) is +inf (the caller raises)."""
    return _SOFTMAX_KERNELS[mode][0](x, out, row0, k0, k1, stream, bits64, tau)


def softmax_by_chunk(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """The same function as :func:`softmax_by_row`, parallel over (row, chunk) items in three
    passes: for few long rows, so that every thread works on every row. Same bits."""
    return _SOFTMAX_KERNELS[mode][1](x, out, row0, k0, k1, stream, bits64, tau)


def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Gumbel-softmax of each row of ``x`` into ``out`` (see :func:`softmax_by_row`): rows
    in parallel, or (row, chunk) items for fewer long rows than twice the threads. Both
    kernels give the same bits, so the choice never shows in the result."""
    rows, K = x.shape
    long_rows = K > CHUNK and rows < 2 * numba.get_num_threads()
    kernel = softmax_by_chunk if long_rows else softmax_by_row
    return kernel(x, out, row0, k0, k1, stream, bits64, tau, mode)

@_kernel
def argmax_by_row(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, d] = first argmax of x[r] + g(noise row (row0 + r) * D + d); D = idx.shape[1].

    All -inf rows give -1. Returns (rows with NaN, rows whose max is +inf).
    """
    rows, K = x.shape
    D = idx.shape[1]
    nan_rows = 0
    inf_rows = 0
    nw, rb, nb, counter = _blocks(rows, K * D)
    for w in prange(nw):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        gbuf = np.empty(min(CHUNK, K), x.dtype)
        nans = 0
        infs = 0
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                row_nan = False
                row_inf = False
                for d in range(D):
                    bi, best, nan = _row_argmax(x[r], K, k0, k1, stream, _U((row0 + r) * D + d),
                                                bits64, wbuf, gbuf)
                    idx[r, d] = -1 if best == -np.inf else bi
                    row_nan |= nan
                    row_inf |= best == np.inf
                nans += 1 if row_nan else 0
                infs += 1 if row_inf else 0
            b = _claim(counter)
        nan_rows += nans
        inf_rows += infs
    return nan_rows, inf_rows


@_kernel
def argmax_by_chunk(x, idx, row0, k0, k1, stream, bits64):
    """The same function as :func:`argmax_by_row`, parallel over (draw, chunk) items: each
    chunk reports its max and the first index of it, and the first chunk holding the row's
    max wins, exactly as the row loop decides. For few long rows."""
    rows, K = x.shape
    D = idx.shape[1]
    nb = (K + CHUNK - 1) // CHUNK
    cmax = np.empty((rows * D, nb), x.dtype)
    cidx = np.empty((rows * D, nb), np.int64)
    cnan = np.zeros((rows * D, nb), np.bool_)
    for item in prange(rows * D * nb):
        q = item // nb
        b = item % nb
        c0 = b * CHUNK
        n = min(CHUNK, K - c0)
        wbuf = np.empty(2 * CHUNK, np.uint32)
        gbuf = np.empty(n, x.dtype)
        m, i, nn = chunk_argmax(x[q // D], c0, n, k0, k1, stream, _U(row0 * D + q), bits64,
                                wbuf, gbuf)
        cmax[q, b] = m
        cnan[q, b] = nn
        cidx[q, b] = i
    nan_rows = 0
    inf_rows = 0
    for r in range(rows):
        row_nan = False
        row_inf = False
        for d in range(D):
            q = r * D + d
            best = typed(-np.inf, x)
            bi = -1
            for b in range(nb):
                row_nan |= cnan[q, b]
                if cmax[q, b] > best:
                    best = cmax[q, b]
                    bi = cidx[q, b]
            idx[r, d] = bi
            row_inf |= best == np.inf
        nan_rows += 1 if row_nan else 0
        inf_rows += 1 if row_inf else 0
    return nan_rows, inf_rows


def argmax_rows(x, idx, row0, k0, k1, stream, bits64):
    """First argmax of each of the ``idx.shape[1]`` noise draws per row (see
    :func:`argmax_by_row`); (row, chunk)-parallel when the draws are fewer than twice the
    threads and rows are long. Same bits either way."""
    rows, K = x.shape
    long_rows = K > CHUNK and rows * idx.shape[1] < 2 * numba.get_num_threads()
    kernel = argmax_by_chunk if long_rows else argmax_by_row
    return kernel(x, idx, row0, k0, k1, stream, bits64)


@_inline
def _backward_row(Gr, yr, o, t, acc):
    """Gradients of one soft row y = softmax((x + g) / t) into ``o`` (never ``yr`` itself):
    gz = y * (G - <G, y>); o = gz / t; returns -(1/t) * sum(gz * log y). Both sums are
    added up in the loops that form their terms, in the fixed lane order (``LANES``)."""
    K = yr.shape[0]
    tiny = tiny_of(o)
    acc[:] = 0
    for b0 in range(0, K, LANES):
        m = min(LANES, K - b0)
        Gb = Gr[b0:b0 + m]
        yb = yr[b0:b0 + m]
        for j in range(m):
            acc[j] += Gb[j] * yb[j]
    dot = _lanes_total(acc)
    acc[:] = 0
    for b0 in range(0, K, LANES):
        m = min(LANES, K - b0)
        Gb = Gr[b0:b0 + m]
        yb = yr[b0:b0 + m]
        ob = o[b0:b0 + m]
        for j in range(m):
            yj = yb[j]
            gz = yj * (Gb[j] - dot)
            acc[j] += gz * log_any(yj if yj > tiny else tiny)
            ob[j] = gz / t
    return -_lanes_total(acc) / t


@_kernel
def softmax_backward_rows(G, y, gx, gtau, tau):
    """Gradients of saved soft Gumbel-softmax samples ``y`` (see :func:`_backward_row`);
    gtau[r] is row r's share of the tau gradient."""
    rows, K = y.shape
    t = typed(tau, gx)
    nw, rb, nb, counter = _blocks(rows, K)
    for w in prange(nw):
        acc = _lanes(gx)
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                gtau[r] = _backward_row(G[r], y[r], gx[r], t, acc)
            b = _claim(counter)


@_kernel
def softmax_backward_recompute(G, x, gx, gtau, row0, k0, k1, stream, bits64, tau):
    """Gradients with the soft sample regenerated row by row from the logits and the key
    (into a per-thread row buffer, so nothing input-sized is stored). Returns the number of
    rows whose max(x + g) is +inf (the caller raises)."""
    rows, K = x.shape
    t = typed(tau, gx)
    posinf = 0
    nw, rb, nb, counter = _blocks(rows, K)
    for w in prange(nw):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        ebuf = np.empty(0, gx.dtype)
        yrow = np.empty(K, gx.dtype)
        acc = _lanes(gx)
        found = 0
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                inf = _softmax_row(x[r], yrow, _U(row0 + r), k0, k1, stream, bits64, t, SOFT,
                                   wbuf, ebuf, acc, x, x, -1)
                found += 1 if inf else 0
                gtau[r] = _backward_row(G[r], yrow, gx[r], t, acc)
            b = _claim(counter)
        posinf += found
    return posinf


@_kernel
def concrete_rows(y, logits, out, tau):
    """Per-row part of the Concrete log-density, in float64:

    sum(l) - (tau + 1) * sum(log y) - K * logsumexp(l - tau * log y).
    Rows with any y <= 0, or whose logits are all -inf, give -inf; NaN propagates.
    (np.float64(v), not float(v): Numba types float() of a float32 as float32.)
    """
    rows, K = y.shape
    for r in prange(rows):
        yr = y[r]
        lr = logits[r]
        sum_l = 0.0
        sum_ly = 0.0
        M = -np.inf
        outside = False
        for j in range(K):
            yj = np.float64(yr[j])
            outside |= yj <= 0.0
            ly = 0.0 if yj <= 0.0 else math.log(yj)   # NaN propagates
            lj = np.float64(lr[j])
            sum_l += lj
            sum_ly += ly
            a = lj - tau * ly
            M = a if a > M else M
        if outside:
            out[r] = -np.inf
            continue
        if M == -np.inf:      # every logit is -inf (or K == 0): no distribution, density 0
            out[r] = -np.inf
            continue
        if M == np.inf:
            out[r] = sum_l - (tau + 1.0) * sum_ly - K * M
            continue
        S = 0.0
        for j in range(K):
            yj = np.float64(yr[j])
            S += math.exp(np.float64(lr[j]) - tau * math.log(yj) - M)
        out[r] = sum_l - (tau + 1.0) * sum_ly - K * (M + math.log(S))
