"""Top-k of x + g per row: threshold filtering against a size-k min-heap, parallel within
long rows."""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._numba import helper, kernel
from ._dtypes import _U, typed
from ._noise import CHUNK, _perturb_chunk


@helper
def _worse(va, ia, vb, ib):
    """Is (va, ia) ranked below (vb, ib)? Larger value first, then smaller index."""
    return va < vb or (va == vb and ia > ib)


@helper
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


@helper
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


@kernel
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


@kernel
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
