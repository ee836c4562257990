"""Numba CPU backend: fused kernels over a 2-D C-contiguous ``(rows, K)`` view.

Every kernel takes the global index of its first row (``row0``), the key words
``(k0, k1, stream)`` and ``bits64`` (64 random bits per element: float64, or
``precision="high"``), and regenerates the noise of each row chunk by chunk (``CHUNK``
columns at a time, in a per-thread buffer) from stream spec v1: nothing depends on the
thread count, and no input-sized temporary is allocated.

Rows are independent: the work is parallel over rows (and, for the noise fills, over row
chunks). Reductions inside a row run in a fixed order, so results are bit-identical for
any number of threads.

Kernels compile on first use (``cache=True``), not at import.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numba.extending import overload

from ._scalar import (MASK32, SH32, exp_any, gumbel_bits32, gumbel_bits64, log_any, philox_block,
                      uniform_bits32, uniform_bits64)
from ._cpu_draws import (categorical_cdf, multinomial_binomial, multinomial_cdf,  # noqa: F401
                         multinomial_gumbel, multinomial_rows, topk_rows)

__all__ = ["CHUNK", "fill_noise", "softmax_rows", "argmax_rows", "multinomial_rows", "topk_rows",
           "categorical_cdf", "multinomial_cdf", "multinomial_gumbel", "multinomial_binomial",
           "softmax_backward_rows", "concrete_rows"]

#: Columns per chunk: a multiple of 4 (one Philox block gives 4 words).
CHUNK = 2048

_inline = njit(cache=True, nogil=True, error_model="numpy")
_kernel = njit(parallel=True, cache=True, nogil=True, error_model="numpy")

_U = np.uint64
SOFT, LOG, HARD = 0, 1, 2


def typed(value, arr):
    """``value`` cast to the dtype of ``arr`` (compiled code only)."""
    raise NotImplementedError


def tiny_of(arr):
    """Smallest positive normal number of ``arr``'s dtype (compiled code only)."""
    raise NotImplementedError


@overload(typed)
def _typed(value, arr):
    dt = arr.dtype
    return lambda value, arr: dt(value)


@overload(tiny_of)
def _tiny_of(arr):
    dt = arr.dtype
    tiny = float(np.finfo(np.dtype(str(dt))).tiny)
    return lambda arr: dt(tiny)


@_inline
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


@_inline
def _gumbel_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, g):
    """g[:n] = standard Gumbel noise of columns col0 .. col0+n-1 of ``row``."""
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            g[j] = gumbel_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            g[j] = gumbel_bits32(wbuf[j])


@_inline
def _uniform_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, g):
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            g[j] = uniform_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            g[j] = uniform_bits32(wbuf[j])


@_kernel
def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale):
    """out[r, c] = loc + scale * Gumbel (or a uniform) of element (row0 + r, c)."""
    rows, K = out.shape
    nch = (K + CHUNK - 1) // CHUNK
    affine = not uniform and (loc != 0 or scale != 1)
    lo = typed(loc, out)
    sc = typed(scale, out)
    for item in prange(rows * nch):
        r = item // nch
        c0 = (item % nch) * CHUNK
        n = min(CHUNK, K - c0)
        wbuf = np.empty(2 * CHUNK, np.uint32)
        seg = out[r, c0:c0 + n]
        if uniform:
            _uniform_chunk(k0, k1, stream, _U(row0 + r), c0, n, bits64, wbuf, seg)
        else:
            _gumbel_chunk(k0, k1, stream, _U(row0 + r), c0, n, bits64, wbuf, seg)
            if affine:
                for j in range(n):
                    seg[j] = lo + sc * seg[j]


@_inline
def _lane_sum(v, n):
    """sum(v[:n]) in a fixed order (8 interleaved partial sums, then a tree): vectorizable
    and independent of threads."""
    z = typed(0, v)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
    n8 = n - n % 8
    for j in range(0, n8, 8):
        a0 += v[j]
        a1 += v[j + 1]
        a2 += v[j + 2]
        a3 += v[j + 3]
        a4 += v[j + 4]
        a5 += v[j + 5]
        a6 += v[j + 6]
        a7 += v[j + 7]
    for j in range(n8, n):
        a0 += v[j]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@_inline
def _max8(a0, a1, a2, a3, a4, a5, a6, a7):
    a0 = a1 if a1 > a0 else a0
    a2 = a3 if a3 > a2 else a2
    a4 = a5 if a5 > a4 else a4
    a6 = a7 if a7 > a6 else a6
    a0 = a2 if a2 > a0 else a0
    a4 = a6 if a6 > a4 else a4
    return a4 if a4 > a0 else a0


@_inline
def _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, seg):
    """seg[:n] = x[c0:c0+n] + Gumbel noise; returns (max ignoring NaN, any NaN)."""
    _gumbel_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, seg)
    z = typed(-np.inf, seg)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
    nan = 0
    n8 = n - n % 8
    for j in range(0, n8, 8):
        x0 = xr[c0 + j] + seg[j]
        x1 = xr[c0 + j + 1] + seg[j + 1]
        x2 = xr[c0 + j + 2] + seg[j + 2]
        x3 = xr[c0 + j + 3] + seg[j + 3]
        x4 = xr[c0 + j + 4] + seg[j + 4]
        x5 = xr[c0 + j + 5] + seg[j + 5]
        x6 = xr[c0 + j + 6] + seg[j + 6]
        x7 = xr[c0 + j + 7] + seg[j + 7]
        seg[j], seg[j + 1], seg[j + 2], seg[j + 3] = x0, x1, x2, x3
        seg[j + 4], seg[j + 5], seg[j + 6], seg[j + 7] = x4, x5, x6, x7
        a0 = x0 if x0 > a0 else a0
        a1 = x1 if x1 > a1 else a1
        a2 = x2 if x2 > a2 else a2
        a3 = x3 if x3 > a3 else a3
        a4 = x4 if x4 > a4 else a4
        a5 = x5 if x5 > a5 else a5
        a6 = x6 if x6 > a6 else a6
        a7 = x7 if x7 > a7 else a7
        nan |= ((x0 != x0) | (x1 != x1) | (x2 != x2) | (x3 != x3) | (x4 != x4) | (x5 != x5)
                | (x6 != x6) | (x7 != x7))
    for j in range(n8, n):
        x0 = xr[c0 + j] + seg[j]
        seg[j] = x0
        a0 = x0 if x0 > a0 else a0
        nan |= x0 != x0
    return _max8(a0, a1, a2, a3, a4, a5, a6, a7), nan != 0


@_kernel
def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Fused Gumbel-softmax of each row: soft (mode 0), log-soft (1) or hard one-hot (2).

    With s = x + g and M = max(s): z = (s - M) / tau, e = exp(z), S = sum(e);
    soft = e * (1 / S), log = z - log(S), hard = one-hot of the first argmax of soft.
    Rows with a NaN give NaN; rows whose logits are all -inf give 0 (soft, hard) or -inf
    (log). Returns the number of rows where max(s) is +inf (the caller raises).
    """
    rows, K = x.shape
    t = typed(tau, out)
    one = typed(1, out)
    posinf = 0
    for r in prange(rows):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        ebuf = np.empty(min(CHUNK, K) if mode == LOG else 0, out.dtype)
        xr = x[r]
        o = out[r]
        row = _U(row0 + r)
        M = typed(-np.inf, out)
        nan = False
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            m, nn = _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, o[c0:c0 + n])
            M = m if m > M else M
            nan |= nn
        if nan or M == np.inf:
            if not nan:
                posinf += 1
            o[:] = np.nan
            continue
        if M == -np.inf:
            if mode == LOG:
                o[:] = -np.inf
            else:
                o[:] = 0
            continue
        if mode == LOG:
            # exponentials go through a chunk buffer: the row keeps s for the final pass
            S = typed(0, out)
            for c0 in range(0, K, CHUNK):
                n = min(CHUNK, K - c0)
                for j in range(n):
                    ebuf[j] = exp_any((o[c0 + j] - M) / t)
                S += _lane_sum(ebuf, n)
            lse = log_any(S)
            for j in range(K):
                o[j] = (o[j] - M) / t - lse
            continue
        for j in range(K):
            o[j] = exp_any((o[j] - M) / t)
        S = _lane_sum(o, K)
        inv = one / S
        if mode == SOFT:
            for j in range(K):
                o[j] = o[j] * inv
        else:
            first = 0
            for j in range(K):
                if o[j] * inv == inv:
                    first = j
                    break
            o[:] = 0
            o[first] = 1
    return posinf


@_inline
def _row_argmax(xr, K, k0, k1, stream, row, bits64, wbuf, gbuf):
    """First argmax over columns of x + g for one noise row: (index, max, any NaN)."""
    best = typed(-np.inf, gbuf)
    bi = -1
    nan = False
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        m, nn = _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf)
        nan |= nn
        if m > best:
            best = m
            for j in range(n):
                if gbuf[j] == m:
                    bi = c0 + j
                    break
    return bi, best, nan


@_kernel
def argmax_rows(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, d] = first argmax of x[r] + g(noise row (row0 + r) * D + d); D = idx.shape[1].

    All -inf rows give -1. Returns (rows with NaN, rows whose max is +inf).
    """
    rows, K = x.shape
    D = idx.shape[1]
    nan_rows = 0
    inf_rows = 0
    for r in prange(rows):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        gbuf = np.empty(min(CHUNK, K), x.dtype)
        row_nan = False
        row_inf = False
        for d in range(D):
            bi, best, nan = _row_argmax(x[r], K, k0, k1, stream, _U((row0 + r) * D + d), bits64,
                                        wbuf, gbuf)
            idx[r, d] = -1 if best == -np.inf else bi
            row_nan |= nan
            row_inf |= best == np.inf
        nan_rows += 1 if row_nan else 0
        inf_rows += 1 if row_inf else 0
    return nan_rows, inf_rows


@_kernel
def softmax_backward_rows(G, y, gx, gtau, tau):
    """Gradients of a soft Gumbel-softmax sample y = softmax((x + g) / tau).

    gz = y * (G - <G, y>); gx = gz / tau; gtau[r] = -(1/tau) * sum(gz * log y).
    ``gx`` may be ``y`` itself (each element is read before it is written).
    """
    rows, K = y.shape
    t = typed(tau, gx)
    tiny = tiny_of(gx)
    for r in prange(rows):
        Gr = G[r]
        yr = y[r]
        o = gx[r]
        buf = np.empty(min(CHUNK, K), gx.dtype)
        dot = typed(0, gx)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            for j in range(n):
                buf[j] = Gr[c0 + j] * yr[c0 + j]
            dot += _lane_sum(buf, n)
        acc = typed(0, gx)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            for j in range(n):
                yj = yr[c0 + j]
                gz = yj * (Gr[c0 + j] - dot)
                buf[j] = gz * log_any(yj if yj > tiny else tiny)
                o[c0 + j] = gz / t
            acc += _lane_sum(buf, n)
        gtau[r] = -acc / t


@_kernel
def concrete_rows(y, logits, out, tau):
    """Per-row part of the Concrete log-density, in float64:

    sum(l) - (tau + 1) * sum(log y) - K * logsumexp(l - tau * log y).
    Rows with any y <= 0 give -inf; NaN propagates.
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
            yj = float(yr[j])
            outside |= yj <= 0.0
            ly = 0.0 if yj <= 0.0 else math.log(yj)   # NaN propagates
            lj = float(lr[j])
            sum_l += lj
            sum_ly += ly
            a = lj - tau * ly
            M = a if a > M else M
        if outside:
            out[r] = -np.inf
            continue
        if M == -np.inf or M == np.inf:
            out[r] = sum_l - (tau + 1.0) * sum_ly - K * M
            continue
        S = 0.0
        for j in range(K):
            yj = float(yr[j])
            S += math.exp(float(lr[j]) - tau * math.log(yj) - M)
        out[r] = sum_l - (tau + 1.0) * sum_ly - K * (M + math.log(S))
