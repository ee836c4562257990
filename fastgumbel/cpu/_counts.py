"""Multinomial counts by Gumbel-max (the reference semantics): draw ``d`` of row ``r`` is the
first argmax of ``x[r] + g`` over noise row ``r * n + d``, exactly as ``argmax_rows`` with
D = n draws it. Cost ``n * K`` Gumbel variates per row."""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._numba import kernel
from .._scalar import MASK32, SH32, gumbel_bits32, gumbel_bits64, philox_block
from ._argmax import _row_argmax
from ._dtypes import _U, typed
from ._noise import CHUNK
from ._reduce import _max_nan


@kernel
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


@kernel
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
