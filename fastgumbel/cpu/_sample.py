"""Token sampling from logits rows (:func:`fastgumbel.sample_logits`): temperature, top-k,
top-p, min-p, per-row keys and noise rows, without sorting a row.

Per row: one pass scales the logits (``y = x / t``, in the input's dtype, as ``x / t`` in
NumPy) into a per-thread buffer with their max; the filters become one threshold ``T``
(keep ``y >= T``; :mod:`._threshold`); the draw is the first argmax of ``y + g`` over the
kept tokens, ``g`` the noise of the row's key and noise row (stream spec v1), so with no
filter it is :func:`._argmax._row_argmax` on ``y``: ``gumbel_max(x / t)`` bit for bit.
When few tokens are kept (top-k), only their noise is computed, each word from its own
Philox block, to the same bits.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import MASK32, SH32, exp_nonpos_any, gumbel_bits32, gumbel_bits64, philox_block
from ._argmax import _row_argmax
from ._dtypes import _U, key_value, order_key, typed
from ._noise import CHUNK
from ._reduce import LANES, _first_equal, _max_nan, next_at_least
from ._schedule import _blocks, _claim
from ._threshold import CAP, search, tally

#: A kept set this small (and at most 1/8 of the row) draws its noise token by token.
FEW = 256


@helper
def _scale(xr, K, t, y):
    """y[:K] = x / t (a copy at t == 1); returns (max, smallest finite value, any NaN)."""
    tt = typed(t, y)
    if t == 1.0:
        for j in range(K):
            y[j] = xr[j]
    else:
        for j in range(K):
            y[j] = xr[j] / tt
    m, nan = _max_nan(y, K)
    kinf = order_key(typed(np.inf, y))
    kninf = order_key(typed(-np.inf, y))
    kmin = kinf
    for j in range(K):              # on order keys: an integer min vectorizes
        kv = order_key(y[j])
        kv = kv if kv > kninf else kinf
        kmin = kv if kv < kmin else kmin
    return m, key_value(kmin), nan


@helper
def _noise_at(k0, k1, stream, row, c, bits64, like):
    """The Gumbel variate of column c of noise row ``row``, as the chunk loops make it."""
    rlo = row & MASK32
    rhi = row >> SH32
    if bits64:
        w = philox_block(_U(c // 2), stream, rlo, rhi, k0, k1)
        h = 2 * (c % 2)
        return typed(gumbel_bits64(np.uint32(w[h]), np.uint32(w[h + 1])), like)
    w = philox_block(_U(c // 4), stream, rlo, rhi, k0, k1)
    return typed(gumbel_bits32(np.uint32(w[c % 4])), like)


@helper
def _draw(y, K, T, kept, k0, k1, stream, row, bits64, wbuf, gbuf):
    """First argmax of y + g over the entries y >= T (``kept`` of them)."""
    if kept <= FEW and 8 * kept <= K:
        best = typed(-np.inf, y)
        bi = -1
        j = next_at_least(y, K, T, 0)
        while j >= 0:
            s = y[j] + _noise_at(k0, k1, stream, row, j, bits64, y)
            if s > best:
                best = s
                bi = j
            j = next_at_least(y, K, T, j + 1)
        return bi
    ninf = typed(-np.inf, y)
    for j in range(K):
        y[j] = y[j] if y[j] >= T else ninf
    bi, _, _ = _row_argmax(y, K, k0, k1, stream, row, bits64, wbuf, gbuf)
    return bi


@helper
def _min_p_value(m, mp, y):
    """The smallest value v of y's dtype with v >= m + log(min_p) (float64)."""
    target = np.float64(m) + math.log(mp)
    v = typed(target, y)
    return v if np.float64(v) >= target else np.nextafter(v, typed(np.inf, y))


@helper
def _threshold(y, e, K, m, ylo, k, tp, mp, acc, cv, cw, zy, ze):
    """(T, kept, Z): the filters' threshold, the entries at or above it, their mass
    sum exp(y - m) (float64; the count when e is not filled, tp == 1)."""
    mass = tp < 1.0
    T = ylo
    c_T = K                                  # -inf entries never count: y >= ylo
    if 0 < k < K:
        c_m, _ = tally(y, e, K, m, False, acc)
        if c_m >= k:
            T = m
        else:
            c_T, _ = tally(y, e, K, ylo, False, acc)
            if c_T > k:
                T = search(y, e, K, ylo, m, c_T, c_m, float(c_m), float(k), False, acc, cv, cw,
                           zy, ze)
    if mp > 0.0:
        Tm = _min_p_value(m, mp, y)
    else:
        Tm = ylo
    if mass:
        _, Zk = tally(y, e, K, T, True, acc)
        P = tp * Zk
        start = T if T > Tm else Tm
        c_s, w_s = tally(y, e, K, start, True, acc)
        c_m, w_m = tally(y, e, K, m, True, acc)
        if w_m >= P:
            T = m
        elif w_s >= P:
            T = search(y, e, K, start, m, c_s, c_m, w_m, P, True, acc, cv, cw, zy, ze)
        else:
            T = Tm
    elif Tm > T:
        T = Tm
    kept, Z = tally(y, e, K, T, mass, acc)
    return T, kept, Z


@helper
def _greedy(xr, K):
    """(first argmax of x or -1 for an all -inf row, any NaN)."""
    m, nan = _max_nan(xr, K)
    if nan:
        return -1, True
    return (-1 if m == -np.inf else _first_equal(xr, K, m, typed(1, xr))), False


@helper
def _sample_row(xr, K, t, k, tp, mp, logp, k0, k1, stream, row, bits64, bufs):
    """(token, log-probability, NaN, +inf) of one row; ``bufs``: the thread's buffers."""
    y, e, acc, cv, cw, wbuf, gbuf, zy, ze = bufs
    if t == 0.0:
        i, nan = _greedy(xr, K)
        return i, (0.0 if i >= 0 else -np.inf), nan, False
    m, ylo, nan = _scale(xr, K, t, y)
    if nan or m == np.inf or m == -np.inf:
        return -1, -np.inf, nan, m == np.inf
    filtered = (0 < k < K) or tp < 1.0 or mp > 0.0
    if tp < 1.0 or logp:
        for j in range(K):
            e[j] = exp_nonpos_any(y[j] - m)
    if filtered:
        T, kept, Z = _threshold(y, e, K, m, ylo, k, tp, mp, acc, cv, cw, zy, ze)
        if logp and tp == 1.0:
            _, Z = tally(y, e, K, T, True, acc)
        i = _draw(y, K, T, kept, k0, k1, stream, row, bits64, wbuf, gbuf)
    else:
        if logp:
            _, Z = tally(y, e, K, ylo, True, acc)
        i, _, _ = _row_argmax(y, K, k0, k1, stream, row, bits64, wbuf, gbuf)
    lp = 0.0
    if logp:
        yi = xr[i] if t == 1.0 else xr[i] / typed(t, y)
        lp = (np.float64(yi) - np.float64(m)) - math.log(Z)
    return i, lp, False, False


@kernel
def sample_rows(x, temp, topk, topp, minp, k0s, k1s, streams, nrows, bits64, idx, logp):
    """idx[r] = token of row r (noise row nrows[r] of key (k0s[r], k1s[r], streams[r]));
    logp[r] its log-probability when logp has rows (else it is not written).
    Returns (rows with NaN, rows with +inf)."""
    rows, K = x.shape
    want = logp.shape[0] > 0
    nan_rows = 0
    inf_rows = 0
    nw, rb, nb, counter = _blocks(rows, K)
    for w in prange(nw):
        bufs = (np.empty(K, x.dtype), np.empty(K, x.dtype), np.empty(LANES, np.float64),
                np.empty(CAP, x.dtype), np.empty(CAP, np.float64),
                np.empty(2 * CHUNK, np.uint32), np.empty(min(CHUNK, K), x.dtype),
                np.empty(K // 8 + 1, x.dtype), np.empty(K // 8 + 1, x.dtype))
        nans = 0
        infs = 0
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                i, lp, nan, inf = _sample_row(x[r], K, temp[r], topk[r], topp[r], minp[r],
                                              want, k0s[r], k1s[r], streams[r], nrows[r],
                                              bits64, bufs)
                idx[r] = i
                if want:
                    logp[r] = lp
                nans += 1 if nan else 0
                infs += 1 if inf else 0
            b = _claim(counter)
        nan_rows += nans
        inf_rows += infs
    return nan_rows, inf_rows
