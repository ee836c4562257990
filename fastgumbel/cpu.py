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

from ._cpu_chunks import (CHUNK, LANES, _U, _blocks, _claim, _first_equal, _gumbel_chunk, _inline,
                          _inline_always, _kernel, _lanes, _lanes_total,
                          _perturb_chunk, _row_argmax, _uniform_chunk, chunk_argmax, tiny_of,
                          typed)
from ._cpu_draws import (categorical_cdf, multinomial_binomial, multinomial_cdf,  # noqa: F401
                         multinomial_gumbel, multinomial_rows, topk_rows)
from ._scalar import exp_nonpos_any, log_any

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
def _exp_chunk(seg, n, M, t, mode, ebuf):
    """exp((s - M) / t) over the chunk: in place (soft, hard) or into ebuf (log, which keeps
    s for step 3); returns the chunk's sum, added up in the same loop in the fixed lane order
    (``LANES``). Each destination has its own loop written on that array alone: a
    loop whose load and store go through two names of one array needs LLVM's runtime alias
    check, which then fails, and runs scalar (6x slower, measured). tau == 1 skips the
    division ((s - M) / 1 is exact)."""
    acc = _lanes(seg)
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
def _finish_chunk(seg, n, M, t, S, mode, search):
    """Step 3 over one chunk. Hard mode zeroes the chunk and returns the first j with
    e_j / S == 1 / S if ``search`` (else -1); the caller sets the one."""
    if mode == SOFT:
        inv = typed(1, seg) / S
        for j in range(n):
            seg[j] = seg[j] * inv
        return -1
    if mode == LOG:
        lse = log_any(S)
        for j in range(n):
            seg[j] = (seg[j] - M) / t - lse
        return -1
    inv = typed(1, seg) / S
    first = _first_equal(seg, n, inv, inv) if search else -1
    seg[:n] = 0
    return first


@_inline
def _sole_max(s, n, M, t):
    """The hard sample's index without the softmax, when the row allows it: the first j with
    s[j] == M if every other s[j] - M is at most -2**-19 t, else -1 (then the caller computes
    the softmax). Why it is the same index: such a j has (s[j] - M) / t <= -2**-19, so
    e_j = exp(...) < 1 - 2**-20 (exp is within 1 ulp) and RN(e_j * (1/S)) < 1/S, while the
    max has e = exp(0) = 1 exactly; the hard index is the first j with e_j / S == 1 / S.
    (The bound -2**-19 t is exact unless t is tiny; then -1.)"""
    if not t >= tiny_of(s) * typed(2.0 ** 19, s):
        return -1
    lim = -t * typed(2.0 ** -19, s)
    near = np.int32(0)
    for j in range(n):
        near = np.int32(near + np.int32(s[j] - M > lim))   # int32 lanes: 16 per zmm
    if near != 1:
        return -1
    return _first_equal(s, n, M, typed(1, s))


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
def _softmax_row(xr, o, row, k0, k1, stream, bits64, t, mode, wbuf, ebuf):
    """One row of the softmax family into ``o`` (kept in cache through the three steps);
    returns True if the row's max(x + g) is +inf. A row of at most CHUNK columns skips the
    chunk loops (with them LLVM vectorizes the steps worse: measured 1.3x slower at
    K = 1024); the arithmetic is the same."""
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
    if mode == HARD:
        first = _sole_max(o, K, M, t)
        if first >= 0:
            o[:] = 0
            o[first] = 1
            return False
    if K <= CHUNK:
        S = _exp_chunk(o, K, M, t, mode, ebuf)
        first = _finish_chunk(o, K, M, t, S, mode, True)
    else:
        S = typed(0, o)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            S += _exp_chunk(o[c0:c0 + n], n, M, t, mode, ebuf)
        first = -1
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            f = _finish_chunk(o[c0:c0 + n], n, M, t, S, mode, first < 0)
            first = c0 + f if f >= 0 and first < 0 else first
    if mode == HARD:
        o[first] = 1
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
            found = 0
            b = _claim(counter)
            while b < nb:
                for r in range(b * rb, min(rows, (b + 1) * rb)):
                    inf = _softmax_row(x[r], out[r], _U(row0 + r), k0, k1, stream, bits64, t,
                                       mode, wbuf, ebuf)
                    found += 1 if inf else 0
                b = _claim(counter)
            posinf += found
        return posinf

    @_kernel
    def by_chunk(x, out, row0, k0, k1, stream, bits64, tau):
        """Parallel over (row, chunk) items in three passes. Same bits as ``by_row``."""
        rows, K = x.shape
        t = typed(tau, out)
        nb = (K + CHUNK - 1) // CHUNK
        part = np.empty((rows, nb), out.dtype)      # chunk max, then chunk sum
        flag = np.zeros((rows, nb), np.int64)       # chunk has NaN, then chunk's first hard index
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
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
                ebuf = np.empty(n if mode == LOG else 0, out.dtype)
                part[r, item % nb] = _exp_chunk(out[r][c0:c0 + n], n, Ms[r], t, mode, ebuf)
        for r in range(rows):
            S = typed(0, out)
            for b in range(nb):
                S += part[r, b]
            part[r, 0] = S
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            if live[r]:
                flag[r, item % nb] = _finish_chunk(out[r][c0:c0 + n], n, Ms[r], t, part[r, 0],
                                                   mode, True)
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
def _backward_row(Gr, yr, o, t):
    """Gradients of one soft row y = softmax((x + g) / t) into ``o`` (never ``yr`` itself):
    gz = y * (G - <G, y>); o = gz / t; returns -(1/t) * sum(gz * log y). Both sums are
    added up in the loops that form their terms, in the fixed lane order (``LANES``)."""
    K = yr.shape[0]
    tiny = tiny_of(o)
    acc = _lanes(o)
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
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                gtau[r] = _backward_row(G[r], y[r], gx[r], t)
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
        found = 0
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                inf = _softmax_row(x[r], yrow, _U(row0 + r), k0, k1, stream, bits64, t, SOFT,
                                   wbuf, ebuf)
                found += 1 if inf else 0
                gtau[r] = _backward_row(G[r], yrow, gx[r], t)
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
