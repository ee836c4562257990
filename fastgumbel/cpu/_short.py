"""Soft and hard samples at tau == 1 for short rows (at most SHORT_K columns), a group of
rows at a time with the columns as the outer loop: every step is a loop over the group's
rows, which vectorizes, where the row kernel's loops over 10 columns ran scalar.

Measured (bench/RESULTS.md, issue 18, branch speed18): a 3000x10 float32 soft sample took
about 250 ns per row of 10 in the row kernel (25 ns per element against 2.3 at 1000
columns): three Philox blocks and ten logs and exps per row in scalar code, the lane
accumulator zeroed and summed, the calls. Here they run over the rows of a group.

Same bits as :func:`._ratio._ratio_row`: the same noise words, the same E, the same
w = exp(x - mc) / E, and the row's sum in the order of :func:`._reduce._lanes_total` (at
most LANES columns: lane j holds w_j alone; the tree's adds of empty lanes add +0, which
changes nothing, and are skipped). Rows that need more than the common case (a NaN, an
infinite max, all -inf, a hard sample with two w within 4 eps of the largest) are left to
the row function, which the caller runs on them.
"""
from __future__ import annotations

import numpy as np

from .._numba import helper
from .._scalar import (MASK32, SH32, exp_nonpos_any, exponential_bits32, exponential_bits64,
                       philox_block)
from ._dtypes import _U, eps_of, typed
from ._noise import CHUNK
from ._reduce import LANES
from ._softmax_steps import HARD

#: Rows of at most this many columns take the group path (the lane tree covers LANES).
SHORT_K = LANES
#: Rows per group: the group's buffers (words, w, sums) stay in L1.
GROUP = 128


@helper
def row_buffers(like, K, rows, log):
    """A worker's buffers for the softmax-family row functions, from two allocations (six
    before; each showed in an 8x16 call): ``wbuf`` (a chunk's Philox words), ``ebuf`` (the
    exps of a log-softmax chunk; ``log``: that mode), ``acc`` (a :func:`._reduce._lanes`
    accumulator) and ``bufs``, those of :func:`short_group` for rows of K columns (empty for
    K > SHORT_K): one row of a buffer per column, one column per row of the group: the
    Philox words; w, the sum tree, and per-row rows (sum, max or 1 / sum, count) in one
    array; then flags."""
    k = K if K <= SHORT_K else 0
    n = min(GROUP, rows) if k else 0
    nw = 2 * CHUNK
    nd = 4 * ((k + 1) // 2)
    words = np.empty(nw + nd * n + 2 * n, np.uint32)      # nw, nd * n even: flags 8-aligned
    nf = k + min(k, SHORT_K // 2) + 3
    fl = np.empty(LANES + nf * n + (min(CHUNK, K) if log else 0), like.dtype)
    bufs = (words[nw:nw + nd * n].reshape(nd, n), fl[LANES:LANES + nf * n].reshape(nf, n),
            words[nw + nd * n:].view(np.int64))
    return words[:nw], fl[LANES + nf * n:], fl[:LANES], bufs


@helper
def _group_words(nr, K, row0, k0, k1, stream, bits64, wd):
    """wd[c, i] = word c of row row0 + i's Philox blocks, the blocks :func:`._noise._words`
    makes, in a loop over the rows. 64-bit words: element c's low word (word 2c) in
    wd[c, i], its high word (2c + 1) in wd[_hi_row(K) + c, i], so that each half is laid out
    like the group's w and the exps run as one flat loop (:func:`_group_w`)."""
    per = 2 if bits64 else 4
    hi = _hi_row(K)
    for q in range((K + per - 1) // per):
        w0 = wd[2 * q] if bits64 else wd[4 * q]
        w1 = wd[hi + 2 * q] if bits64 else wd[4 * q + 1]
        w2 = wd[2 * q + 1] if bits64 else wd[4 * q + 2]
        w3 = wd[hi + 2 * q + 1] if bits64 else wd[4 * q + 3]
        for i in range(nr):
            row = _U(row0 + i)
            a0, a1, a2, a3 = philox_block(_U(q), stream, row & MASK32, row >> SH32, k0, k1)
            w0[i] = a0
            w1[i] = a1
            w2[i] = a2
            w3[i] = a3


@helper
def _hi_row(K):
    """The first row of the high words of 64-bit elements in the group's word buffer: K
    rounded up to even (the last block of an odd K writes element K)."""
    return K + (K & 1)


@helper
def _group_max(xg, nr, K, top, bad):
    """top[i] = max of row i of xg; bad[i] = 1 if it has a NaN or its max is not finite
    (the row function fills those rows)."""
    for i in range(nr):
        top[i] = typed(-np.inf, xg)
        bad[i] = 0
    for c in range(K):
        xc = xg[:, c]
        for i in range(nr):
            v = xc[i]
            bad[i] |= np.int64(v != v)
            top[i] = v if v > top[i] else top[i]
    for i in range(nr):
        bad[i] |= np.int64(not abs(top[i]) < np.inf)


@helper
def _group_w(xg, nr, K, bits64, C, wd, w, top):
    """w[c, i] = exp(x - (max - C)) / E of row i, column c, as :func:`._ratio._ratio_w`
    computes it. x - (max - C) is formed first in a loop of its own (the strided reads of
    x's column kept the exp loop from vectorizing: 10x slower, measured). ``wd`` and ``w``
    have rows of nr (the group's width, :func:`short_group`), so the exps run as one loop
    over the K * nr elements: LLVM vectorizes a loop of 128, not the loops of 8 over a
    group of 8 rows."""
    for i in range(nr):
        top[i] = top[i] - C
    for c in range(K):
        xc = xg[:, c]
        wc = w[c]
        for i in range(nr):
            wc[i] = xc[i] - top[i]
    n = K * nr
    wf = w.reshape(n)
    if bits64:
        lo = wd[:K].reshape(n)
        hi = wd[_hi_row(K):_hi_row(K) + K].reshape(n)
        for j in range(n):
            wf[j] = exp_nonpos_any(wf[j]) / typed(exponential_bits64(lo[j], hi[j]), w)
    else:
        wl = wd[:K].reshape(n)
        for j in range(n):
            wf[j] = exp_nonpos_any(wf[j]) / typed(exponential_bits32(wl[j]), w)


@helper
def _group_sums(w, nr, K, tree, S):
    """S[i] = the sum of w[:K, i] in :func:`._reduce._lanes_total`'s order: lane j holds
    w_j, and each halving adds lane j + h to lane j; adds of empty lanes (+0) are skipped.
    ``w`` and ``tree`` have rows of nr, so the lanes j < m of a halving are the first m * nr
    elements, added in one flat loop (which vectorizes; a loop of nr per lane does not)."""
    n = K
    h = LANES // 2
    first = True                        # the lanes are still w's rows
    wf = w.reshape(K * nr)
    tf = tree.reshape(tree.shape[0] * nr)
    while h >= 1:
        if n > h:
            m = (n - h) * nr            # lanes j < n - h have a partner j + h
            a = wf if first else tf
            for j in range(m):
                tf[j] = a[j] + a[h * nr + j]
            if first:
                for j in range(m, h * nr):
                    tf[j] = wf[j]
            first = False
            n = h
        h //= 2
    t0 = wf if first else tf
    for i in range(nr):
        S[i] = t0[i]


@helper
def short_group(x, out, r0, nr, row0, k0, k1, stream, bits64, C, mode, bufs):
    """Rows r0 .. r0+nr-1 (nr <= GROUP) of the soft or hard sample at tau == 1 into
    ``out``; returns ``bad``: 1 for the rows left to the row function (out untouched
    there). ``row0``: the global index of x's first row; ``C``: :func:`exp_shift`. The
    buffers are viewed with rows of nr (the group's width), so a column's run of the group
    is contiguous: the elementwise steps run as flat loops over K * nr elements."""
    wd0, f0, bad = bufs
    K = x.shape[1]
    wd = wd0.reshape(wd0.size)[:wd0.shape[0] * nr].reshape(wd0.shape[0], nr)
    f = f0.reshape(f0.size)[:f0.shape[0] * nr].reshape(f0.shape[0], nr)
    nf = f.shape[0]
    w = f[:K]
    tree = f[K:nf - 3]
    S = f[nf - 3]
    top = f[nf - 2]
    xg = x[r0:r0 + nr]
    og = out[r0:r0 + nr]
    _group_words(nr, K, row0 + r0, k0, k1, stream, bits64, wd)
    _group_max(xg, nr, K, top, bad)
    _group_w(xg, nr, K, bits64, C, wd, w, top)
    if mode == HARD:
        _group_hard(w, og, nr, K, bad, S, f[nf - 1])
        return bad
    _group_sums(w, nr, K, tree, S)
    one = typed(1, out)
    for i in range(nr):
        top[i] = one / S[i]
    _store_rows(w, og, nr, K, S, top, one)
    return bad


@helper
def _store_rows(w, og, nr, K, S, inv, one):
    """og[i, c] = w[c, i] / S[i] as w[c, i] * (1 / S[i]), exactly 1 where w[c, i] == S[i]
    (a loop of its own: a strided store in the loop that computes w keeps it from
    vectorizing)."""
    for i in range(nr):
        o = og[i]
        s = S[i]
        t = inv[i]
        for c in range(K):
            v = w[c, i]
            o[c] = one if v == s else v * t


@helper
def _group_hard(w, og, nr, K, bad, best, near):
    """The hard sample of rows whose largest w is alone (no other w within 4 eps of it):
    the one-hot of its first index; other rows get bad[i] = 1."""
    for i in range(nr):
        best[i] = w[0][i]
    for c in range(1, K):
        wc = w[c]
        for i in range(nr):
            best[i] = wc[i] if wc[i] > best[i] else best[i]
    near[:nr] = 0
    lim = typed(4, w) * eps_of(w)
    for c in range(K):
        wc = w[c]
        for i in range(nr):
            near[i] += typed(wc[i] - best[i] > -lim * best[i], w)
    for i in range(nr):
        if bad[i] == 0 and near[i] == 1:
            o = og[i]
            o[:] = 0
            for c in range(K):
                if w[c][i] == best[i]:
                    o[c] = 1
                    break
        else:
            bad[i] = 1
