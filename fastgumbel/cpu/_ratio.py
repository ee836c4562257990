"""Samples with one log per element instead of two: soft and hard samples at tau == 1 (w =
exp(x - mc) / E, where E = -log(U) is the exponential variate whose -log is the Gumbel
noise), and the hard sample at any tau (x + g only where a bound read off E's bits allows
the maximum)."""
from __future__ import annotations

import numpy as np

from .._numba import helper, inline_always
from .._scalar import (exp_nonpos_any, exponential_bits32, exponential_bits64, gumbel_bits32,
                       gumbel_bits64)
from ._argmax import bound_chunk, bound_threshold
from ._dtypes import eps_of, typed
from ._noise import CHUNK, _exponential_chunk
from ._prefetch import _prefetch_span, prefetch_next_row
from ._reduce import LANES, _lanes_total, _max_nan, next_at_least
from ._softmax_steps import HARD, _finish_chunk, _sole_max, _special_row


@helper
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


@helper
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


@helper
def _ratio_w(xr, c, mc, bits64, wbuf, like):
    """w = exp(x - mc) / E of column c, computed as :func:`_ratio_chunk` computes it (the same
    operations in the same order, so the same bits)."""
    if bits64:
        e = typed(exponential_bits64(wbuf[2 * c], wbuf[2 * c + 1]), like)
    else:
        e = typed(exponential_bits32(wbuf[c]), like)
    return exp_nonpos_any(xr[c] - mc) / e


@helper
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


@helper
def _perturbed(xr, c, bits64, wbuf, like):
    """x + g of column c, computed as :func:`._noise._perturb_chunk` computes it (the same
    operations, so the same bits), from the words ``wbuf`` holds."""
    if bits64:
        return xr[c] + typed(gumbel_bits64(wbuf[2 * c], wbuf[2 * c + 1]), like)
    return xr[c] + typed(gumbel_bits32(wbuf[c]), like)


@helper
def _hard_any_tau(xr, K, k0, k1, stream, row, bits64, wbuf, t, o):
    """The hard sample's index at temperature t (>= 2**19 times the smallest normal) for a
    row of K <= CHUNK columns, with one log per element for almost all of them; -1 where the
    row takes the full computation of :func:`._softmax._softmax_row`.

    That computation returns the first j with s_j = x_j + g_j equal to M = max s when every
    other s_j - M is at most lim = -2**-19 t (:func:`_sole_max`). Here s is computed only
    for the entries whose bound u (:func:`bound_chunk`) reaches :func:`bound_threshold`
    lowered by 4 |lim|: the others lie more than 2 |lim| below M, so they are neither the
    max nor near it, and the same index comes out (or -1 for the same rows)."""
    _prefetch_span(xr, K)     # the logits load while the noise is computed
    _exponential_chunk(k0, k1, stream, row, 0, K, bits64, wbuf, o)
    top, nan, _ = bound_chunk(xr, K, o, False)
    if nan or not abs(top) < np.inf:
        return -1
    lim = -t * typed(2.0 ** -19, o)
    thr = bound_threshold(top, o) + typed(4, o) * lim
    best = typed(-np.inf, o)
    first = -1
    c = next_at_least(o, K, thr, 0)
    while c >= 0:
        v = _perturbed(xr, c, bits64, wbuf, o)
        if v > best:
            best = v
            first = c
        c = next_at_least(o, K, thr, c + 1)
    near = 0
    c = next_at_least(o, K, thr, 0)
    while c >= 0:
        near += 1 if _perturbed(xr, c, bits64, wbuf, o) - best > lim else 0
        c = next_at_least(o, K, thr, c + 1)
    return first if near == 1 else -1


@inline_always
def w_row_start(xr, o, row, k0, k1, stream, bits64, C, mode, wbuf):
    """The start of a row computed from w = exp(x - (max x - C)) / E (:func:`_ratio_row`:
    tau == 1, C > 0; :func:`._power.power_row`: tau = 1 / n, C = 0): a hard sample of at
    most CHUNK columns from :func:`_ratio_hard` (no softmax) when it finds the index; else
    E into ``o`` (rows of at most CHUNK columns), the logits' max and the special rows.
    Returns (row done, its max is +inf, max x)."""
    K = xr.shape[0]
    if mode == HARD and K <= CHUNK:
        first = _ratio_hard(xr, K, k0, k1, stream, row, bits64, wbuf, C, o)
        if first >= 0:
            o[:] = 0
            o[first] = 1
            return True, False, typed(0, o)
    if K <= CHUNK:
        # E first: the logits, prefetched, arrive while it is computed (E does not depend on
        # them), and the max pass then reads them from cache
        _prefetch_span(xr, K)
        _exponential_chunk(k0, k1, stream, row, 0, K, bits64, wbuf, o)
    m, nan = _max_nan(xr, K)
    done, inf = _special_row(o, m, nan, mode)
    return done, inf, m


@inline_always
def _ratio_row(xr, o, row, k0, k1, stream, bits64, C, mode, wbuf, acc, x, out, rn):
    """:func:`_softmax_row` for soft and hard samples at tau == 1: the row max of the
    logits, then w = exp(x - (max - C)) / E and its sum chunk by chunk
    (:func:`_ratio_chunk`), then w / S; chunk sums are added in chunk order, as in
    ``by_chunk``, so both kernels give the same bits. A hard sample of at most CHUNK columns
    first tries :func:`_ratio_hard` (no softmax). ``x``, ``out`` and ``rn``: the kernel's
    arrays and the row after this one, whose logits and output the ratio loop prefetches
    (none for rn < 0)."""
    K = xr.shape[0]
    done, inf, m = w_row_start(xr, o, row, k0, k1, stream, bits64, C, mode, wbuf)
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
