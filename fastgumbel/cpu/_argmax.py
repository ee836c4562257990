"""The first argmax of x + g per noise row (Gumbel-max sampling), with one log per element
for almost all elements: the kernels ``argmax_by_row`` / ``argmax_by_chunk`` and the host
function :func:`argmax_rows`."""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import BOUND_BAND, BOUND_REL, LN2, gumbel_bits32, gumbel_bits64, wide_vectors
from ._dtypes import _U, key_value, log2_bound, order_key, typed
from ._noise import CHUNK, _exponential_chunk, _perturb_chunk
from ._prefetch import _prefetch_span
from ._reduce import _first_equal
from ._schedule import _blocks, _claim

_LN2 = LN2


@helper
def bound_chunk(xs, n, u, want_xmax):
    """u[:n] = x - ln 2 log2_bound(E) in place of E = u[:n]: an upper bound of x + g,
    g = -log(E), at most 0.0598 above it; returns (max u, any NaN, max x), the maxima
    meaningful only without NaN.

    (In place: a loop that loads through one name of an array and stores through another
    needs LLVM's runtime alias check, which fails when they are the same, and runs scalar.)
    g = -log(E) lies within 0.0861 ln 2 below -ln 2 (e + f) read off E's bits
    (E = 2**e (1 + f); log2(1 + f) is between f and f + 0.0861), so only entries whose u is
    at least :func:`bound_threshold` of the max u can hold the max of x + g: about one or
    two per row."""
    wide_vectors()
    kinf = order_key(typed(np.inf, u))
    kninf = order_key(typed(-np.inf, u))
    kmax = kninf
    kmin = kinf
    xmax = kninf
    for j in range(n):
        xj = xs[j]
        v = xj - log2_bound(u[j]) * typed(_LN2, u)
        u[j] = v
        kv = order_key(v)
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
        if want_xmax:
            kx = order_key(xj)
            xmax = kx if kx > xmax else xmax
    return key_value(kmax), kmax > kinf or kmin < kninf, key_value(xmax)


@helper
def bound_threshold(top, u):
    """The least u (of :func:`bound_chunk`) whose x + g can reach the max of x + g, for a
    finite max u ``top``, with x + g and everything derived from it (exp(x + g - c)) computed
    to within a few ulps. 0.0598 is the band 0.0861 ln 2 = 0.05968 rounded up by 1.2e-4,
    which covers the errors of g, of log2_bound's conversion and of RN(ln 2) (under 3e-5
    together); |top| 2**-20 covers the roundings of u and of x + g (half an ulp of about
    |top| each)."""
    return top - (typed(BOUND_BAND, u) + abs(top) * typed(BOUND_REL, u))


@helper
def chunk_argmax(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf):
    """(max, first index of it or -1 if the max is -inf, any NaN) of x[c0:c0+n] + g over
    one chunk of a noise row, with one log per element for almost all of them: the bound u
    of :func:`bound_chunk`, and x + g only where u reaches :func:`bound_threshold`, computed
    exactly as :func:`_perturb_chunk` computes it (the same operations, so the same bits);
    the first max among them is the first max of the chunk. A row with +inf falls back to
    the full computation."""
    xs = xr[c0:c0 + n]
    _prefetch_span(xs, n)     # the logits load while the noise is computed
    _exponential_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, gbuf)
    top, nan, _ = bound_chunk(xs, n, gbuf, False)
    if nan:
        return top, -1, True
    if top == -np.inf:
        return top, -1, False
    if top == np.inf:
        m, nn = _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf)
        return m, c0 + _first_equal(gbuf, n, m, typed(1, gbuf)), nn
    thr = bound_threshold(top, gbuf)
    best = typed(-np.inf, gbuf)
    bi = -1
    # the scan of next_at_least, inlined: restarting it after each candidate made
    # gumbel_max 2-3 % slower
    for b0 in range(0, n, 64):
        ub = gbuf[b0:min(b0 + 64, n)]
        hit = False
        for j in range(ub.shape[0]):
            hit |= ub[j] >= thr
        if hit:
            for j in range(ub.shape[0]):
                if ub[j] >= thr:
                    c = b0 + j
                    if bits64:
                        s = xs[c] + typed(gumbel_bits64(wbuf[2 * c], wbuf[2 * c + 1]), gbuf)
                    else:
                        s = xs[c] + typed(gumbel_bits32(wbuf[c]), gbuf)
                    if s > best:
                        best = s
                        bi = c
    return best, c0 + bi, False


@helper
def _row_argmax(xr, K, k0, k1, stream, row, bits64, wbuf, gbuf):
    """First argmax over columns of x + g for one noise row: (index, max, any NaN)."""
    if K <= CHUNK:
        # the common short row without the chunk loop around it: with the loop, LLVM
        # vectorizes the chunk worse (measured 1.5x slower at K = 1024)
        m, i, nn = chunk_argmax(xr, 0, K, k0, k1, stream, row, bits64, wbuf, gbuf)
        return (i if m > -np.inf else -1), m, nn
    best = typed(-np.inf, gbuf)
    bi = -1
    nan = False
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        m, i, nn = chunk_argmax(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf)
        nan |= nn
        if m > best:
            best = m
            bi = i
    return bi, best, nan


@kernel
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


@kernel
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
