"""Partial results of a column block of longer rows (the Dask category chunks): the block
holds columns ``col0 .. col0 + C - 1`` of rows ``row0 ..`` of the global ``(rows, K)``
view, and every element reads the noise of its global ``(row, column)`` (stream spec v1).

The noise of a column comes from the Philox block holding it, so a block is walked in
*windows* of ``CHUNK`` columns that start at the Philox block holding ``col0``: the first
window's leading ``col0 % per`` slots (columns before the block) take logits of -inf, which
never win a maximum and add nothing to a sum. Windows are independent (parallel over
(row, window) items) and their results are combined in column order, so the result does
not depend on the thread count.

- :func:`argmax_cols`: the first maximum of x + g and its global column, per row and draw
  (one log per element for almost all elements, as :func:`._argmax.chunk_argmax`).
- :func:`softmax_cols`: the maximum M of x + g and S = sum of exp((x + g - M) / tau) per
  row (each window's sum formed as the row kernels form a chunk's, the windows' sums
  combined in float64).
- :func:`softmax_cols_finish`: the soft sample (or its log) of the block from (M, S), the
  noise generated again.
- :func:`topk_cols`: the k largest x + g per row and their global columns, best first (ties:
  the smaller column first), each window's k best kept by insertion and the windows merged
  in column order.
x + g is computed exactly as the row kernels compute it (the same bits), so indices agree
with the NumPy call; the soft values are computed from those x + g with the row kernels'
general formula, so they agree with the NumPy call's to rounding (S is summed in another
order, and at tau == 1 the row kernels use another formula).
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import gumbel_bits32, gumbel_bits64
from ._argmax import bound_chunk, bound_threshold
from ._dtypes import _U, key_value, order_key, typed
from ._noise import CHUNK, _exponential_chunk, _gumbel_chunk
from ._reduce import LANES
from ._schedule import _blocks, _claim
from ._softmax_steps import SOFT, _exp_chunk


@helper
def _x_window(xr, s, m, off, xb):
    """xb[:m] = the logits of window ``s``: block columns s - off .. s - off + m - 1, -inf
    for the slots before the block (only the first window has them)."""
    lead = max(0, off - s)
    for j in range(lead):
        xb[j] = typed(-np.inf, xb)
    base = s - off
    for j in range(lead, m):
        xb[j] = xr[base + j]


@helper
def _span(C, col0, bits64):
    """(off, span, windows) of a block of C columns from global column col0: its first
    window starts ``off`` slots before it, at the Philox block holding col0."""
    off = col0 % (2 if bits64 else 4)
    span = C + off
    return off, span, (span + CHUNK - 1) // CHUNK


@helper
def _window_buffers(span, x):
    """A worker's (Philox words, noise, logits) buffers of one window."""
    n = min(span, CHUNK)
    return np.empty(2 * CHUNK, np.uint32), np.empty(n, x.dtype), np.empty(n, x.dtype)


@helper
def _load_window(xr, w, span, off, col0, xb):
    """Window w of a block row into xb (:func:`_x_window`): (its length, the global column
    of its first slot)."""
    s = w * CHUNK
    m = min(CHUNK, span - s)
    _x_window(xr, s, m, off, xb)
    return m, col0 - off + s


@helper
def _g(wbuf, j, bits64, like):
    """The Gumbel noise of slot j of the words ``wbuf`` (as the row kernels compute it)."""
    if bits64:
        return typed(gumbel_bits64(wbuf[2 * j], wbuf[2 * j + 1]), like)
    return typed(gumbel_bits32(wbuf[j]), like)


@helper
def _window_argmax(xb, m, k0, k1, stream, row, c, bits64, wbuf, gbuf):
    """(max, first slot of it or -1, any NaN) of xb[:m] + g over global columns c .. (c a
    Philox block start): the bound of :func:`._argmax.bound_chunk`, x + g only where it
    reaches :func:`._argmax.bound_threshold`; a +inf bound computes every x + g."""
    _exponential_chunk(k0, k1, stream, row, c, m, bits64, wbuf, gbuf)
    top, nan, _ = bound_chunk(xb, m, gbuf, False)
    if nan:
        return top, -1, True
    if top == -np.inf:
        return top, -1, False
    thr = bound_threshold(top, gbuf) if top < np.inf else typed(-np.inf, gbuf)
    best = typed(-np.inf, gbuf)
    bi = -1
    for j in range(m):
        if gbuf[j] >= thr:
            s = xb[j] + _g(wbuf, j, bits64, gbuf)
            if s > best:
                best = s
                bi = j
    return best, bi, False


@kernel
def argmax_cols(x, vals, idx, row0, n, d0, col0, k0, k1, stream, bits64):
    """vals[r, d], idx[r, d] = the first max of x[r] + g over this block's columns and its
    global column (-1 where the max is -inf; value NaN for a row with NaN), g of noise row
    (row0 + r) * n + d0 + d, global columns col0 ..; D = vals.shape[1] draws per row.
    Returns (rows with NaN, rows whose max is +inf)."""
    R, C = x.shape
    D = vals.shape[1]
    off, span, nw = _span(C, col0, bits64)
    Q = R * D
    wm = np.empty((Q, nw), x.dtype)
    wi = np.empty((Q, nw), np.int64)
    wn = np.zeros((Q, nw), np.bool_)
    nwk, ib, nb, counter = _blocks(Q * nw, min(span, CHUNK))
    for wk in prange(nwk):
        wbuf, gbuf, xb = _window_buffers(span, x)
        b = _claim(counter)
        while b < nb:
            for item in range(b * ib, min(Q * nw, (b + 1) * ib)):
                q = item // nw
                w = item % nw
                m, c = _load_window(x[q // D], w, span, off, col0, xb)
                best, bi, nan = _window_argmax(xb, m, k0, k1, stream,
                                               _U((row0 + q // D) * n + d0 + q % D), c,
                                               bits64, wbuf, gbuf)
                wm[q, w] = best
                wi[q, w] = c + bi if bi >= 0 else -1
                wn[q, w] = nan
            b = _claim(counter)
    return _fold_windows(wm, wi, wn, vals, idx)


@helper
def _fold_windows(wm, wi, wn, vals, idx):
    """The first max over the windows of each (row, draw), in column order."""
    R, D = vals.shape
    nan_rows = 0
    inf_rows = 0
    for r in range(R):
        row_nan = False
        row_inf = False
        for d in range(D):
            q = r * D + d
            best = typed(-np.inf, wm)
            bi = -1
            nan = False
            for w in range(wm.shape[1]):
                nan |= wn[q, w]
                if wm[q, w] > best:
                    best = wm[q, w]
                    bi = wi[q, w]
            vals[r, d] = typed(np.nan, wm) if nan else best
            idx[r, d] = bi
            row_nan |= nan
            row_inf |= best == np.inf and not nan
        nan_rows += 1 if row_nan else 0
        inf_rows += 1 if row_inf else 0
    return nan_rows, inf_rows


@helper
def _window_perturb(xb, m, k0, k1, stream, row, c, bits64, wbuf, gbuf):
    """gbuf[:m] = xb[:m] + g (global columns c ..); returns (max, any NaN), the max
    meaningful only without NaN: :func:`._noise._perturb_chunk` with the logits in a window
    buffer (its max and NaN test on order keys, which vectorize)."""
    _gumbel_chunk(k0, k1, stream, row, c, m, bits64, wbuf, gbuf)
    kinf = order_key(typed(np.inf, gbuf))
    kninf = order_key(typed(-np.inf, gbuf))
    kmax = kninf
    kmin = kinf
    for j in range(m):
        v = xb[j] + gbuf[j]
        gbuf[j] = v
        kv = order_key(v)
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
    return key_value(kmax), kmax > kinf or kmin < kninf


def softmax_cols(x, M, S, row0, col0, tau, k0, k1, stream, bits64):
    """M[r] = max of x[r] + g over this block's columns, S[r] = sum of
    exp((x + g - M) / tau) (float64; M = -inf, S = 0 for an all -inf block; NaN for a row
    with NaN), by windows (each its own max, and its sum by the row kernels' exp step),
    combined in column order. Returns the rows whose max is +inf."""
    nw = _windows(x.shape[1], col0, bits64)
    wm = np.empty((x.shape[0], nw), np.float64)
    ws = np.empty((x.shape[0], nw), np.float64)
    _softmax_windows(x, x, wm, ws, M, S, row0, col0, tau, False, False, k0, k1, stream, bits64)
    return _fold_sums(wm, ws, M, S, tau)


def softmax_cols_finish(x, out, row0, col0, tau, M, S, log, k0, k1, stream, bits64):
    """out = the soft sample exp((x + g - M) / tau) / S of this block (``log``: its log,
    (x + g - M) / tau - log S), rows' (M, S) from :func:`softmax_cols`; an all -inf row
    gives 0 (log: -inf), a NaN row NaN."""
    w = np.empty((0, 0), np.float64)
    _softmax_windows(x, out, w, w, M, S, row0, col0, tau, log, True, k0, k1, stream, bits64)


def _windows(C, col0, bits64):
    return (C + col0 % (2 if bits64 else 4) + CHUNK - 1) // CHUNK


@kernel
def _softmax_windows(x, out, wm, ws, M, S, row0, col0, tau, log, finish, k0, k1, stream,
                     bits64):
    """The windows of the softmax partial (``finish`` False: each window's max and sum
    into wm, ws) or of the normalize pass (``finish``: out from the rows' M, S)."""
    R, C = x.shape
    off = col0 % (2 if bits64 else 4)
    span = C + off
    nw = (span + CHUNK - 1) // CHUNK
    t = typed(tau, x)
    nwk, ib, nb, counter = _blocks(R * nw, min(span, CHUNK))
    for wk in prange(nwk):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        gbuf = np.empty(min(span, CHUNK), x.dtype)
        xb = np.empty(min(span, CHUNK), x.dtype)
        acc = np.empty(LANES, x.dtype)
        b = _claim(counter)
        while b < nb:
            for item in range(b * ib, min(R * nw, (b + 1) * ib)):
                r = item // nw
                s = (item % nw) * CHUNK
                m = min(CHUNK, span - s)
                _x_window(x[r], s, m, off, xb)
                best, nan = _window_perturb(xb, m, k0, k1, stream, _U(row0 + r),
                                            col0 - off + s, bits64, wbuf, gbuf)
                if finish:
                    lead = max(0, off - s)
                    _finish_window(gbuf, m, lead, out[r][s - off + lead:], typed(M[r], x),
                                   S[r], t, log, acc, x)
                    continue
                total = 0.0
                if nan:
                    total = np.nan
                elif best > -np.inf:     # the row kernels' exp step and fixed-order sum
                    total = np.float64(_exp_chunk(gbuf, m, best, t, SOFT, gbuf, acc, x, x, -1))
                wm[r, item % nw] = np.nan if nan else np.float64(best)
                ws[r, item % nw] = total
            b = _claim(counter)


@helper
def _fold_sums(wm, ws, M, S, tau):
    """(M, S) of each row from its windows' (max, sum), in column order; the rows whose
    max is +inf."""
    inf_rows = 0
    for r in range(wm.shape[0]):
        top = -np.inf
        nan = False
        for w in range(wm.shape[1]):
            nan |= wm[r, w] != wm[r, w]
            top = max(top, wm[r, w])
        total = 0.0
        if not nan and top > -np.inf:
            for w in range(wm.shape[1]):
                if wm[r, w] > -np.inf:
                    total += ws[r, w] * math.exp((wm[r, w] - top) / tau)
        M[r] = np.nan if nan else top
        S[r] = np.nan if nan else total
        inf_rows += 1 if top == np.inf and not nan else 0
    return inf_rows


@helper
def _finish_window(v, m, lead, o, top, total, t, log, acc, x):
    """o[: m - lead] = the soft sample (or its log) of v[lead:m] = x + g, in the compute
    dtype as the row kernels compute it: exp((v - M) / t) * (1 / S), or (v - M) / t - log S
    (M = -inf: 0, or -inf)."""
    if top == -np.inf:
        for j in range(lead, m):
            o[j - lead] = typed(-np.inf if log else 0.0, o)
    elif log:
        ls = typed(math.log(total), o)
        for j in range(lead, m):
            o[j - lead] = (v[j] - top) / t - ls
    else:
        inv = typed(1.0 / total, o)
        _exp_chunk(v, m, top, t, SOFT, v, acc, x, x, -1)   # x: no prefetch (row -1)
        for j in range(lead, m):
            o[j - lead] = v[j] * inv


@kernel
def topk_cols(x, vals, idx, row0, col0, k0, k1, stream, bits64):
    """vals[r], idx[r] = the k = vals.shape[1] largest x[r] + g over this block's columns and
    their global columns, best first, the smaller column first among equal values; -inf
    entries are never taken (the slots left: (-inf, -1)). Returns (rows with NaN, rows whose
    max is +inf); a NaN row's slots are left unspecified."""
    R, C = x.shape
    k = vals.shape[1]
    off, span, nw = _span(C, col0, bits64)
    wv = np.empty((R, nw, k), x.dtype)
    wi = np.empty((R, nw, k), np.int64)
    wn = np.zeros((R, nw), np.bool_)
    nwk, ib, nb, counter = _blocks(R * nw, min(span, CHUNK))
    for wk in prange(nwk):
        wbuf, gbuf, xb = _window_buffers(span, x)
        b = _claim(counter)
        while b < nb:
            for item in range(b * ib, min(R * nw, (b + 1) * ib)):
                r = item // nw
                w = item % nw
                m, c = _load_window(x[r], w, span, off, col0, xb)
                _, nan = _window_perturb(xb, m, k0, k1, stream, _U(row0 + r), c, bits64,
                                         wbuf, gbuf)
                wn[r, w] = nan
                _window_topk(gbuf, m, c, wv[r, w], wi[r, w])
            b = _claim(counter)
    return _merge_topk(wv, wi, wn, vals, idx)


@helper
def _window_topk(v, m, c, tv, ti):
    """tv, ti = the k best of v[:m] (global columns c ..), best first, by insertion: an entry
    goes in only above the current k-th, and after every entry equal to it (an earlier
    column)."""
    k = tv.shape[0]
    for j in range(k):
        tv[j] = typed(-np.inf, tv)
        ti[j] = -1
    for j in range(m):
        e = v[j]
        if e > tv[k - 1]:
            p = k - 1
            while p > 0 and tv[p - 1] < e:
                tv[p] = tv[p - 1]
                ti[p] = ti[p - 1]
                p -= 1
            tv[p] = e
            ti[p] = c + j


@helper
def _merge_topk(wv, wi, wn, vals, idx):
    """The k best of each row over its windows' lists, merged in column order (an earlier
    window first among equal values); (rows with NaN, rows whose max is +inf)."""
    R, nw, k = wv.shape
    tv = np.empty(k, wv.dtype)
    ti = np.empty(k, np.int64)
    nan_rows = 0
    inf_rows = 0
    for r in range(R):
        nan = False
        for w in range(nw):
            nan |= wn[r, w]
        vals[r, :] = wv[r, 0]
        idx[r, :] = wi[r, 0]
        for w in range(1, nw):
            a = 0
            b = 0
            for o in range(k):
                if vals[r, a] >= wv[r, w, b]:     # a + b = o < k: both in range
                    tv[o] = vals[r, a]
                    ti[o] = idx[r, a]
                    a += 1
                else:
                    tv[o] = wv[r, w, b]
                    ti[o] = wi[r, w, b]
                    b += 1
            vals[r, :] = tv
            idx[r, :] = ti
        nan_rows += 1 if nan else 0
        inf_rows += 1 if vals[r, 0] == np.inf and not nan else 0
    return nan_rows, inf_rows
