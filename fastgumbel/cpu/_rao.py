"""The Gumbel-Rao backward (Paulus, Maddison and Krause 2020) of a hard sample: the mean, over
``S`` samples of the noise conditioned on the sampled index (:mod:`._conditional`), of the
vector-Jacobian product of ``y = softmax((x + g) / tau)``, and tau's gradient. Each sample
costs one Philox word and one log per element for its exponentials, the soft sample (an
exp, or at ``1 / tau`` = 1 or 2 a division) and, for tau's gradient, a second log; what the
samples share is made once per row, and nothing sample-sized outlives its row.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import exp_nonpos_any, log_any
from ._conditional import _cond_word, _exp_lanes, _row_prep, _sample_top
from ._dtypes import tau_at, typed
from ._exactsum import SLOTS, exact_add, exact_merge
from ._noise import CHUNK, _exponential_chunk
from ._reduce import LANES, _lanes, _lanes_total, _max_nan
from ._schedule import _blocks, _claim

#: Where the backward's ``lr`` stands in for ``-inf`` (a masked logit), so that its product
#: with a zero soft-sample entry is 0, not NaN: the lowest float32, finite in both dtypes.
LOWEST = float(-np.finfo(np.float32).max)
#: Rows a worker of :func:`gumbel_rao_rows` holds back as scratch (p, y, lr, Philox words)
HELD = 4
#: Columns per step where :func:`gumbel_rao_rows` makes a row without row buffers (a
#: multiple of LANES and of 4, so that every lane sums its columns in the row passes' order)
TAIL = 64


@helper
def _sample_chunk(xs, ps, ys, ls, M, sM, it, lo):
    """The elements of one conditional sample, in place: from the exponentials ``E`` in
    ``ls``, ``ls = lr = (x - M) - log(E + q)`` (``-inf`` made finite, :data:`LOWEST`) and
    ``ys = exp(lr / tau)`` with ``q = p exp(m - M)``, where ``ps`` holds ``p = exp(x - m)``.
    At ``1 / tau`` = 1 or 2, ``exp(lr / tau)`` is ``r`` or ``r * r`` with ``r = q / (E + q)``
    (one division instead of an exp; where ``p`` underflows, ``x - m < -87`` in float32,
    such an entry is 0 where the exp could give up to ``e**-61`` at tau = 1, and 0 either
    way at tau = 0.5)."""
    n = xs.shape[0]
    if it == 2:
        for i in range(n):
            q = ps[i] * sM
            w = ls[i] + q
            lr = (xs[i] - M) - log_any(w)
            r = q / w
            ys[i] = r * r
            ls[i] = lr if lr > lo else lo
    elif it == 1:
        for i in range(n):
            q = ps[i] * sM
            w = ls[i] + q
            lr = (xs[i] - M) - log_any(w)
            ys[i] = q / w
            ls[i] = lr if lr > lo else lo
    else:
        for i in range(n):
            lr = (xs[i] - M) - log_any(ls[i] + ps[i] * sM)
            ys[i] = exp_nonpos_any(lr * it)
            ls[i] = lr if lr > lo else lo


@helper
def _soft_chunk(xs, ps, ys, M, sM, it):
    """:func:`_sample_chunk` without ``lr``: ``ys`` from the exponentials in ``ys``, the
    same bits. At ``1 / tau`` = 1 or 2 an element costs the division alone: the second log,
    ``log(E + q)``, is the tau gradient's only."""
    n = xs.shape[0]
    if it == 2:
        for i in range(n):
            q = ps[i] * sM
            r = q / (ys[i] + q)
            ys[i] = r * r
    elif it == 1:
        for i in range(n):
            q = ps[i] * sM
            ys[i] = q / (ys[i] + q)
    else:
        for i in range(n):
            ys[i] = exp_nonpos_any(((xs[i] - M) - log_any(ys[i] + ps[i] * sM)) * it)


@helper
def _rao_sample(xr, p, j, M, sM, it, crow, k0, k1, stream, bits64, wbuf, yb, lb):
    """First pass of one conditional sample: ``lb = lr = x + g - M`` (0 at ``j``) and
    ``yb = exp(lr / tau)``, the soft sample times ``exp(-max z)`` (so ``yb[j] = 1``): one
    Philox word and two logs per element (docs/rng.md; :func:`_sample_chunk`). The loops
    write two arrays and keep no sums: LLVM vectorizes a loop only while its runtime overlap
    checks between the arrays it writes and reads stay few (the sums are
    :func:`_rao_sums`)."""
    K = xr.shape[0]
    lo = typed(LOWEST, yb)
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        _exponential_chunk(k0, k1, stream, crow, c0, n, bits64, wbuf, lb[c0:c0 + n])
        _sample_chunk(xr[c0:c0 + n], p[c0:c0 + n], yb[c0:c0 + n], lb[c0:c0 + n], M, sM, it,
                      lo)
    yb[j] = typed(1.0, yb)
    lb[j] = typed(0.0, yb)


@helper
def _sum_lanes(Gs, ys, a2):
    """Adds ``ys`` and ``Gs * ys`` into ``a2``'s two sets of LANES partial sums (column c
    into lane c % LANES: the slices start at a multiple of LANES in their row)."""
    K = Gs.shape[0]
    for b0 in range(0, K, LANES):
        w = min(LANES, K - b0)
        Gb = Gs[b0:b0 + w]
        yw = ys[b0:b0 + w]
        for i in range(w):
            y = yw[i]
            a2[i] += y
            a2[LANES + i] += Gb[i] * y


@helper
def _rao_sums(Gr, yb, a2):
    """(sum yb, sum G * yb) in the fixed lane order; ``a2`` holds both sums' LANES partial
    sums (one array written: LLVM's overlap checks stay few, 25 % faster than two)."""
    a2[:] = 0
    _sum_lanes(Gr, yb, a2)
    return _lanes_total(a2[:LANES]), _lanes_total(a2[LANES:])


@helper
def _add_lanes(Gs, ys, ls, os, a, b, acc):
    """``os += gz`` with ``gz = ys * (a G - b)``, and ``gz * ls`` added into the LANES partial
    sums ``acc`` (lanes as in :func:`_sum_lanes`)."""
    K = Gs.shape[0]
    for b0 in range(0, K, LANES):
        w = min(LANES, K - b0)
        Gb = Gs[b0:b0 + w]
        yw = ys[b0:b0 + w]
        lw = ls[b0:b0 + w]
        ow = os[b0:b0 + w]
        for i in range(w):
            gz = yw[i] * (a * Gb[i] - b)
            ow[i] += gz
            acc[i] += gz * lw[i]


@helper
def _rao_add(Gr, yb, lb, o, a, b, acc):
    """Second pass of one sample: ``o += gz`` with ``gz = yb * (a G - b)`` (the soft
    sample's VJP times tau); returns ``sum(gz * lb)``."""
    acc[:] = 0
    _add_lanes(Gr, yb, lb, o, a, b, acc)
    return _lanes_total(acc)


@helper
def _rao_soft(xr, p, j, M, sM, it, crow, k0, k1, stream, bits64, wbuf, yb):
    """:func:`_rao_sample` without ``lb`` (no tau gradient): ``yb`` alone, the same bits."""
    K = xr.shape[0]
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        ys = yb[c0:c0 + n]
        _exponential_chunk(k0, k1, stream, crow, c0, n, bits64, wbuf, ys)
        _soft_chunk(xr[c0:c0 + n], p[c0:c0 + n], ys, M, sM, it)
    yb[j] = typed(1.0, yb)


@helper
def _rao_add_soft(Gr, yb, o, a, b):
    """:func:`_rao_add` without the tau term."""
    K = Gr.shape[0]
    for c in range(K):
        o[c] += yb[c] * (a * Gr[c] - b)


@helper
def _tail_chunk(xr, c0, n, j, m, M, sM, it, crow, k0, k1, stream, bits64, want_lr, wbuf, pc,
                yc, lc):
    """Columns c0 .. c0+n-1 of one conditional sample made afresh (:func:`_rao_tail`):
    ``pc = exp(x - m)``, ``yc`` and, with ``want_lr``, ``lc``, as the row passes make them."""
    xs = xr[c0:c0 + n]
    ps = pc[:n]
    ys = yc[:n]
    for i in range(n):
        ps[i] = exp_nonpos_any(xs[i] - m)
    if want_lr:
        ls = lc[:n]
        _exponential_chunk(k0, k1, stream, crow, c0, n, bits64, wbuf, ls)
        _sample_chunk(xs, ps, ys, ls, M, sM, it, typed(LOWEST, yc))
        if c0 <= j < c0 + n:
            ls[j - c0] = typed(0.0, yc)
    else:
        _exponential_chunk(k0, k1, stream, crow, c0, n, bits64, wbuf, ys)
        _soft_chunk(xs, ps, ys, M, sM, it)
    if c0 <= j < c0 + n:
        ys[j - c0] = typed(1.0, yc)


@helper
def _rao_tail(Gr, xr, j, o, m, M, sM, it, crow, k0, k1, stream, bits64, want_tau, wbuf, pc,
              yc, lc, acc, a2):
    """One conditional sample added into ``o`` without row buffers: its elements are made
    twice, :data:`TAIL` columns at a time, once for the sums and once for the add (twice
    the work of the row passes, the same bits: the same scalar steps, and chunks that start
    at multiples of LANES keep every lane's order). Returns the tau term."""
    K = xr.shape[0]
    a2[:] = 0
    for c0 in range(0, K, TAIL):
        n = min(TAIL, K - c0)
        _tail_chunk(xr, c0, n, j, m, M, sM, it, crow, k0, k1, stream, bits64, False, wbuf,
                    pc, yc, lc)
        _sum_lanes(Gr[c0:c0 + n], yc[:n], a2)
    one = typed(1.0, o)
    a = one / _lanes_total(a2[:LANES])
    b = _lanes_total(a2[LANES:]) * a * a
    acc[:] = 0
    for c0 in range(0, K, TAIL):
        n = min(TAIL, K - c0)
        _tail_chunk(xr, c0, n, j, m, M, sM, it, crow, k0, k1, stream, bits64, want_tau,
                    wbuf, pc, yc, lc)
        if want_tau:
            _add_lanes(Gr[c0:c0 + n], yc[:n], lc[:n], o[c0:c0 + n], a, b, acc)
        else:
            _rao_add_soft(Gr[c0:c0 + n], yc[:n], o[c0:c0 + n], a, b)
    return _lanes_total(acc) if want_tau else typed(0.0, o)


@helper
def _gumbel_rao_row(Gr, xr, j, o, samples, row, k0, k1, stream, bits64, t, want_tau, wbuf, e4,
                    p, yb, lb, acc, a2, tail):
    """One row of :func:`gumbel_rao_rows`; returns the row's tau gradient. What the samples
    share (the loads, ``exp(x - m)``, the row's logsumexp) is made once per row. ``tail``:
    ``p``, ``yb``, ``lb`` and ``wbuf`` hold :data:`TAIL` columns, not a row, and each sample
    is made by :func:`_rao_tail` (the same bits)."""
    K = xr.shape[0]
    if tail:
        m = _max_nan(xr, K)[0]
        acc[:] = 0
        for c0 in range(0, K, TAIL):
            n = min(TAIL, K - c0)
            _exp_lanes(xr[c0:c0 + n], m, p[:n], acc)
        lse = log_any(_lanes_total(acc))
    else:
        m, lse = _row_prep(xr, p, acc)
    zero = typed(0.0, o)
    for c in range(K):
        o[c] = zero
    one = typed(1.0, o)
    it = one / t
    tsum = zero
    for s in range(samples):
        crow = _cond_word(row, s)
        M, sM = _sample_top(xr, j, m, lse, crow, k0, k1, stream, bits64, wbuf, e4)
        if tail:
            tsum += _rao_tail(Gr, xr, j, o, m, M, sM, it, crow, k0, k1, stream, bits64,
                              want_tau, wbuf, p, yb, lb, acc, a2)
            continue
        if want_tau:
            _rao_sample(xr, p, j, M, sM, it, crow, k0, k1, stream, bits64, wbuf, yb, lb)
        else:
            _rao_soft(xr, p, j, M, sM, it, crow, k0, k1, stream, bits64, wbuf, yb)
        Y, A = _rao_sums(Gr, yb, a2)
        a = one / Y                     # Y >= 1: the term at j is exp(0)
        if want_tau:
            tsum += _rao_add(Gr, yb, lb, o, a, A * a * a, acc)
        else:
            _rao_add_soft(Gr, yb, o, a, A * a * a)
    scale = it / typed(samples, o)
    for c in range(K):
        o[c] *= scale
    return -tsum * scale * it


@helper
def _keep_tau(tau_out, gtau, wsum, r, v):
    """Row r's tau gradient ``v``: per row (1), or added exactly into the worker's sum (2)."""
    if tau_out == 1:
        gtau[r] = v
    elif tau_out == 2:
        exact_add(wsum, v)


@kernel
def gumbel_rao_rows(G, x, idx, gx, gtau, gsum, samples, row0, k0, k1, stream, bits64, tau,
                    tau_out):
    """Gumbel-Rao gradients: gx[r] = mean over ``samples`` conditional samples of
    ``y * (G - <G, y>) / tau``, and the tau gradient, that mean of
    ``-sum(y * (G - <G, y>) * z) / tau`` with ``z = (x + g) / tau`` (any shift of z gives
    the same: the terms sum to 0), by ``tau_out``: 0 none (less work: no ``log(E + q)`` at
    ``1 / tau`` = 1 or 2), 1 per row in ``gtau[r]``, 2 summed over the rows, exactly, into
    the accumulator ``gsum`` (:mod:`._exactsum`: no per-row array, the same bits for any
    schedule). ``tau``: a float, or one float64 per row
    (:func:`~fastgumbel.cpu._dtypes.tau_at`). ``gx`` is C-contiguous, of ``x``'s dtype.

    Memory: no row buffers. A worker holds back the last :data:`HELD` rows it has claimed
    and uses their output rows (pages the call writes anyway) for a row's ``exp(x - m)``,
    its soft sample, its ``lr`` and its Philox words; when no block is left, the rows it
    still holds are made by :func:`_rao_tail` in :data:`TAIL`-column buffers (at most
    HELD rows a worker at twice the work of a row). Besides the output, a call allocates
    only those few KiB a worker (the first call at a new K took about 16 KiB a thread of
    fresh row buffers before: bench/RESULTS.md)."""
    rows, K = x.shape
    nw, rb, nb, counter = _blocks(rows, K * samples)
    nwb = 4 * ((min(K, CHUNK) + 3) // 4)
    words = (2 if bits64 else 1) * nwb
    fits = 4 * words <= K * gx.itemsize     # the Philox words fit in an output row
    tc = min(K, TAIL)
    sums = np.zeros((nw, SLOTS), np.int64)
    for w in prange(nw):
        e4 = np.empty(4, x.dtype)
        acc = _lanes(x)
        a2 = np.empty(2 * LANES, x.dtype)
        own = np.empty(0 if fits else words, np.uint32)
        held = np.empty(rb + HELD, np.int64)
        nh = 0
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                held[nh] = r
                nh += 1
            if nh > HELD:
                s0 = nh - HELD
                p = gx[held[s0]]
                yb = gx[held[s0 + 1]]
                lb = gx[held[s0 + 2]]
                wbuf = gx[held[s0 + 3]].view(np.uint32)[:words] if fits else own
                for i in range(s0):
                    r = held[i]
                    t = typed(tau_at(tau, r), gx)
                    v = _gumbel_rao_row(G[r], x[r], idx[r], gx[r], samples, row0 + r, k0, k1,
                                        stream, bits64, t, tau_out != 0, wbuf, e4, p, yb, lb,
                                        acc, a2, False)
                    _keep_tau(tau_out, gtau, sums[w], r, v)
                for i in range(HELD):
                    held[i] = held[s0 + i]
                nh = HELD
            b = _claim(counter)
        if nh:
            tw = np.empty((2 if bits64 else 1) * 4 * ((tc + 3) // 4), np.uint32)
            pc = np.empty(tc, x.dtype)
            yc = np.empty(tc, x.dtype)
            lc = np.empty(tc if tau_out else 0, x.dtype)
            for i in range(nh):
                r = held[i]
                t = typed(tau_at(tau, r), gx)
                v = _gumbel_rao_row(G[r], x[r], idx[r], gx[r], samples, row0 + r, k0, k1,
                                    stream, bits64, t, tau_out != 0, tw, e4, pc, yc, lc, acc,
                                    a2, True)
                _keep_tau(tau_out, gtau, sums[w], r, v)
    exact_merge(sums, gsum)
