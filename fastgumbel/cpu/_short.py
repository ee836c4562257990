"""Soft and hard samples at tau == 1 for short rows (at most SHORT_K columns), a group of
rows at a time with the columns as the outer loop: every step is a loop over the group's
rows, which vectorizes, where the row kernel's loops over 10 columns ran scalar. The
buffers hold one row of the group's width per column, so the elementwise steps (the Philox
blocks, the exps, the sum tree's halvings) run as flat loops over the group's elements:
a group of 8 rows (an 8x16 call) vectorizes too, where its loops of 8 ran scalar (issue
18, branch small18e: the 8x16 kernel 1.88 -> 1.22 us).

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
    K > SHORT_K), flat: laid out by :func:`short_group` with rows of the group's width, one
    row per column: the Philox words and their counters (:func:`_group_words`); w, the sum
    tree and per-row rows (:func:`_float_rows`); then flags."""
    k = K if K <= SHORT_K else 0
    n = min(GROUP, rows) if k else 0
    nw = 2 * CHUNK
    nd = 6 * ((k + 1) // 2)
    words = np.empty(nw + nd * n + 2 * n, np.uint32)      # nw, nd * n even: flags 8-aligned
    nf = _float_rows(k) if k else 0
    fl = np.empty(LANES + nf * n + (min(CHUNK, K) if log else 0), like.dtype)
    bufs = (words[nw:nw + nd * n], fl[LANES:LANES + nf * n], words[nw + nd * n:].view(np.int64))
    return words[:nw], fl[LANES + nf * n:], fl[:LANES], bufs


@helper
def _float_rows(K):
    """Rows of the group's float buffer: w (K rounded up to 4: :func:`_w_row`), the sum
    tree (at most SHORT_K / 2 lanes), then three per-row rows (sum, max or 1 / sum,
    count)."""
    return 4 * ((K + 3) >> 2) + min(K, SHORT_K // 2) + 3


@helper
def _w_row(c, K, bits64):
    """The row of the group's w (and of each run of its words) that holds column c: the
    columns in the order of their words in the Philox blocks, c = per * q + k (per: elements
    per block) at row k * nq + q, so that word k of every block of the group is one run
    (:func:`_group_words`) and the exps are one flat loop (:func:`_group_w`)."""
    if bits64:
        return (c & 1) * ((K + 1) >> 1) + (c >> 1)
    return (c & 3) * ((K + 3) >> 2) + (c >> 2)


@helper
def _group_words(nr, K, row0, k0, k1, stream, bits64, wd):
    """Word k of block q of row row0 + i (the blocks :func:`._noise._words` makes) at
    wd[k * nb + q * nr + i], nb = nq * nr: four runs of the group's blocks, each laid out as
    the group's w (:func:`_w_row`), made in one flat loop over the nb blocks, which
    vectorizes (loops of nr over the rows per block ran scalar at 8 rows). The blocks'
    counters q and i are read from wd[4 nb:6 nb], filled first (a division by nr in the loop
    would not vectorize). ``wd``: the flat word buffer."""
    per = 2 if bits64 else 4
    nq = (K + per - 1) // per
    nb = nq * nr
    qs = wd[4 * nb:5 * nb]
    ids = wd[5 * nb:6 * nb]
    for q in range(nq):
        for i in range(nr):
            qs[q * nr + i] = q
            ids[q * nr + i] = i
    base = _U(row0)
    for b in range(nb):
        row = base + _U(ids[b])
        a0, a1, a2, a3 = philox_block(_U(qs[b]), stream, row & MASK32, row >> SH32, k0, k1)
        wd[b] = a0
        wd[nb + b] = a1
        wd[2 * nb + b] = a2
        wd[3 * nb + b] = a3


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
    """w[_w_row(c), i] = exp(x - (max - C)) / E of row i, column c, as
    :func:`._ratio._ratio_w` computes it. x - (max - C) is formed first in a loop of its own
    (the strided reads of x's column kept the exp loop from vectorizing: 10x slower,
    measured). ``wd`` and ``w`` (flat) have rows of nr (the group's width,
    :func:`short_group`) in the words' order, so the exps run as one loop over the group's
    elements: LLVM vectorizes a loop of 128, not the loops of 8 over a group of 8 rows.
    The rows of w that hold no column (K not a multiple of the block's elements) are
    skipped, but for at most three inside the loop's span (values no step reads)."""
    for i in range(nr):
        top[i] = top[i] - C
    for c in range(K):
        xc = xg[:, c]
        p = _w_row(c, K, bits64) * nr
        wc = w[p:p + nr]
        for i in range(nr):
            wc[i] = xc[i] - top[i]
    if bits64:
        nb = ((K + 1) >> 1) * nr
        for e in range(2):
            wf = w[e * nb:(e + 1) * nb]
            lo = wd[2 * e * nb:(2 * e + 1) * nb]
            hi = wd[(2 * e + 1) * nb:(2 * e + 2) * nb]
            for j in range(((K + 1 - e) >> 1) * nr):    # columns 2q + e < K
                wf[j] = exp_nonpos_any(wf[j]) / typed(exponential_bits64(lo[j], hi[j]), w)
    else:
        last = min(K, 4) - 1            # the last run that holds a column, and its length
        n = (last * ((K + 3) >> 2) + ((K - last + 3) >> 2)) * nr
        wf = w[:n]
        for j in range(n):
            wf[j] = exp_nonpos_any(wf[j]) / typed(exponential_bits32(wd[j]), w)


@helper
def _group_sums(w, nr, K, bits64, tree, S):
    """S[i] = the sum of row i's w in :func:`._reduce._lanes_total`'s order: lane j holds
    w_j (w's row :func:`_w_row` (j)), and each halving adds lane j + h to lane j; adds of
    empty lanes (+0) are skipped. The first halving gathers the lanes from w's rows; then
    ``tree`` (flat) has rows of nr, so the lanes j < m of a halving are its first m * nr elements,
    added in one flat loop (which vectorizes; a loop of nr per lane does not)."""
    n = K
    h = LANES // 2
    first = True                        # the lanes are still w's rows
    tf = tree
    while h >= 1:
        if n > h:
            if first:
                for j in range(h):
                    tj = tree[j * nr:(j + 1) * nr]
                    pa = _w_row(j, K, bits64) * nr
                    a = w[pa:pa + nr]
                    if j + h < n:
                        pb = _w_row(j + h, K, bits64) * nr
                        b = w[pb:pb + nr]
                        for i in range(nr):
                            tj[i] = a[i] + b[i]
                    else:
                        for i in range(nr):
                            tj[i] = a[i]
            else:
                for j in range((n - h) * nr):   # lanes j < n - h have a partner j + h
                    tf[j] = tf[j] + tf[h * nr + j]
            first = False
            n = h
        h //= 2
    t0 = w if first else tree           # first: K == 1, and column 0 is w's row 0
    for i in range(nr):
        S[i] = t0[i]


@helper
def short_group(x, out, r0, nr, row0, k0, k1, stream, bits64, C, mode, bufs):
    """Rows r0 .. r0+nr-1 (nr <= GROUP) of the soft or hard sample at tau == 1 into
    ``out``; returns ``bad``: 1 for the rows left to the row function (out untouched
    there). ``row0``: the global index of x's first row; ``C``: :func:`exp_shift`. The flat
    buffers are laid out with rows of nr (the group's width), so a column's run of the group
    is contiguous: the elementwise steps run as flat loops over K * nr elements. (1-d slices,
    not 2-d reshapes: Numba's reshape calls out of line; five of them cost an 8x1 call
    ~0.1 us, measured.)"""
    wd, f0, bad = bufs
    K = x.shape[1]
    kp = 4 * ((K + 3) >> 2)
    nf = _float_rows(K)
    w = f0[:kp * nr]
    tree = f0[kp * nr:(nf - 3) * nr]
    S = f0[(nf - 3) * nr:(nf - 2) * nr]
    top = f0[(nf - 2) * nr:(nf - 1) * nr]
    xg = x[r0:r0 + nr]
    og = out[r0:r0 + nr]
    _group_words(nr, K, row0 + r0, k0, k1, stream, bits64, wd)
    _group_max(xg, nr, K, top, bad)
    _group_w(xg, nr, K, bits64, C, wd, w, top)
    if mode == HARD:
        _group_hard(w, og, nr, K, bits64, bad, S, f0[(nf - 1) * nr:nf * nr])
        return bad
    _group_sums(w, nr, K, bits64, tree, S)
    one = typed(1, out)
    for i in range(nr):
        top[i] = one / S[i]
    _store_rows(w, og, nr, K, bits64, S, top, one)
    return bad


@helper
def _store_rows(w, og, nr, K, bits64, S, inv, one):
    """og[i, c] = w_c / S[i] as w_c * (1 / S[i]), exactly 1 where w_c == S[i] (w_c: w[_w_row(c), i])
    (a loop of its own: a strided store in the loop that computes w keeps it from
    vectorizing)."""
    for i in range(nr):
        o = og[i]
        s = S[i]
        t = inv[i]
        for c in range(K):
            v = w[_w_row(c, K, bits64) * nr + i]
            o[c] = one if v == s else v * t


@helper
def _group_hard(w, og, nr, K, bits64, bad, best, near):
    """The hard sample of rows whose largest w is alone (no other w within 4 eps of it):
    the one-hot of its first index; other rows get bad[i] = 1."""
    for i in range(nr):
        best[i] = w[i]                  # column 0 is w's row 0 (_w_row)
    for c in range(1, K):
        p = _w_row(c, K, bits64) * nr
        wc = w[p:p + nr]
        for i in range(nr):
            best[i] = wc[i] if wc[i] > best[i] else best[i]
    near[:nr] = 0
    lim = typed(4, w) * eps_of(w)
    for c in range(K):
        p = _w_row(c, K, bits64) * nr
        wc = w[p:p + nr]
        for i in range(nr):
            near[i] += typed(wc[i] - best[i] > -lim * best[i], w)
    for i in range(nr):
        if bad[i] == 0 and near[i] == 1:
            o = og[i]
            o[:] = 0
            for c in range(K):
                if w[_w_row(c, K, bits64) * nr + i] == best[i]:
                    o[c] = 1
                    break
        else:
            bad[i] = 1
