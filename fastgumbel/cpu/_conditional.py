"""Gumbel noise conditioned on the argmax, and the Gumbel-Rao backward built on it.

Given a row of logits ``x`` and an index ``j``, the noise ``g`` conditioned on
``argmax(x + g) == j`` is made from the standard exponentials ``E_c`` of the conditional
field (``docs/rng.md``) as

- ``g_j = (Z - x_j) - log(E_j)`` with ``Z = logsumexp(x)``: the maximum ``M = x_j + g_j`` is
  Gumbel(Z);
- ``g_c = -log(E_c + exp(x_c - M))`` for ``c != j``: ``x_c + g_c`` is Gumbel(x_c) truncated
  above at ``M`` (``-log(exp(-M) + exp(-G_c))`` with ``G_c = x_c - log E_c`` written
  without overflow). A ``-inf`` logit gets ``g_c = -log(E_c)``, its unconditional noise.

``exp(x_c - M) = p_c * exp(m - M)`` with ``p_c = exp(x_c - m)`` (``m`` the row max) made once
per row, so each sample costs one Philox word, two logs and (in the backward) one exp per
element. The Gumbel-Rao backward averages, over ``S`` conditional samples, the vector-Jacobian
product of ``y = softmax((x + g) / tau)``; nothing sample-sized outlives its row.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import exp_nonpos_any, log_any
from ._dtypes import _U, tau_at, typed
from ._exactsum import SLOTS, exact_add, exact_merge
from ._noise import CHUNK, _exponential_chunk
from ._reduce import LANES, _lanes, _lanes_total, _max_nan
from ._schedule import _blocks, _claim

#: The conditional field's row word: bit 63 set, sample number in bits 40..62, row below.
COND_BIT = 1 << 63
SAMPLE_SHIFT = 40
#: Where the backward's ``lr`` stands in for ``-inf`` (a masked logit), so that its product
#: with a zero soft-sample entry is 0, not NaN: the lowest float32, finite in both dtypes.
LOWEST = float(-np.finfo(np.float32).max)


@helper
def _row_prep(xr, p, acc):
    """p[:K] = exp(x - max x); returns (max x, log sum p). The row has a finite max."""
    K = xr.shape[0]
    m = _max_nan(xr, K)[0]
    acc[:] = 0
    for b0 in range(0, K, LANES):
        n = min(LANES, K - b0)
        xs = xr[b0:b0 + n]
        ps = p[b0:b0 + n]
        for j in range(n):
            v = exp_nonpos_any(xs[j] - m)
            ps[j] = v
            acc[j] += v
    return m, log_any(_lanes_total(acc))


@helper
def _below(xc, g, M):
    """g lowered until x + g < M in floating point (rare: rounding at the truncation point)."""
    step = np.spacing(max(abs(xc), abs(M), abs(g)))
    while xc + g >= M:
        g -= step
        step += step
    return g


@helper
def _conditional_row(xr, p, j, m, lse, crow, k0, k1, stream, bits64, wbuf, g):
    """g[:K] = the conditional noise of row word ``crow`` given argmax index ``j``; returns
    the maximum ``x_j + g_j``."""
    K = xr.shape[0]
    for c0 in range(0, K, CHUNK):
        _exponential_chunk(k0, k1, stream, crow, c0, min(CHUNK, K - c0), bits64, wbuf,
                           g[c0:c0 + CHUNK])
    gj = ((m - xr[j]) + lse) - log_any(g[j])
    M = xr[j] + gj
    s = exp_nonpos_any(m - M)           # m - M <= 3.8: Z - M is minus a Gumbel variate
    for c in range(K):
        g[c] = -log_any(g[c] + p[c] * s)
    g[j] = gj
    ties = 0                            # x_j + g_j == M itself counts once
    for c in range(K):
        ties += 1 if xr[c] + g[c] >= M else 0
    if ties > 1:                        # keep the argmax at j (first index wins ties)
        for c in range(K):
            if c != j and xr[c] + g[c] >= M:
                g[c] = _below(xr[c], g[c], M)
    return M


@helper
def _cond_word(row, s):
    return _U(COND_BIT) | (_U(s) << _U(SAMPLE_SHIFT)) | _U(row)


@kernel
def conditional_rows(x, idx, out, row0, k0, k1, stream, bits64):
    """out[s, r] = conditional noise sample ``s`` of row ``r`` given ``argmax == idx[r]``."""
    S, rows, K = out.shape
    nw, rb, nb, counter = _blocks(rows, K * S)
    for w in prange(nw):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        p = np.empty(K, x.dtype)
        acc = _lanes(x)
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                m, lse = _row_prep(x[r], p, acc)
                for s in range(S):
                    _conditional_row(x[r], p, idx[r], m, lse, _cond_word(row0 + r, s),
                                     k0, k1, stream, bits64, wbuf, out[s, r])
            b = _claim(counter)


@helper
def _sample_top(xr, j, m, lse, crow, k0, k1, stream, bits64, wbuf, e4):
    """(M, exp(m - M)) of one conditional sample: the maximum ``M = x_j + g_j`` as
    :func:`_conditional_row` makes it, from the Philox block of column ``j`` alone."""
    c0 = j - j % 4
    _exponential_chunk(k0, k1, stream, crow, c0, j - c0 + 1, bits64, wbuf, e4)
    M = xr[j] + (((m - xr[j]) + lse) - log_any(e4[j - c0]))
    return M, exp_nonpos_any(m - M)


@helper
def _rao_sample(xr, p, j, M, sM, it, crow, k0, k1, stream, bits64, wbuf, yb, lb):
    """First pass of one conditional sample: ``lb = lr = x + g - M`` (0 at ``j``; ``-inf``
    made finite, :data:`LOWEST`) and ``yb = exp(lr / tau)``, the soft sample times
    ``exp(-max z)`` (so ``yb[j] = 1``).

    With ``E`` the sample's exponentials (through ``lb``), ``p = exp(x - m)`` made once per
    row and ``q = p exp(m - M)``, ``lr = (x - M) - log(E + q)`` for ``c != j``
    (docs/rng.md): one Philox word and two logs per element, and ``exp(lr / tau)``, which
    at ``1 / tau`` = 1 or 2 is ``r`` or ``r * r`` with ``r = q / (E + q)`` (one division
    instead of an exp; where ``p`` underflows, ``x - m < -87`` in float32, such an entry
    is 0 where the exp could give up to ``e**-61`` at tau = 1, and 0 either way at
    tau = 0.5). The loops write two arrays and keep no sums: LLVM vectorizes a loop only
    while its runtime overlap checks between the arrays it writes and reads stay few (the
    sums are :func:`_rao_sums`)."""
    K = xr.shape[0]
    lo = typed(LOWEST, yb)
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        _exponential_chunk(k0, k1, stream, crow, c0, n, bits64, wbuf, lb[c0:c0 + n])
        xs = xr[c0:c0 + n]
        ps = p[c0:c0 + n]
        ys = yb[c0:c0 + n]
        ls = lb[c0:c0 + n]
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
    yb[j] = typed(1.0, yb)
    lb[j] = typed(0.0, yb)


@helper
def _rao_sums(Gr, yb, a2):
    """(sum yb, sum G * yb) in the fixed lane order; ``a2`` holds both sums' LANES partial
    sums (one array written: LLVM's overlap checks stay few, 25 % faster than two)."""
    K = Gr.shape[0]
    a2[:] = 0
    for b0 in range(0, K, LANES):
        w = min(LANES, K - b0)
        Gs = Gr[b0:b0 + w]
        ys = yb[b0:b0 + w]
        for i in range(w):
            y = ys[i]
            a2[i] += y
            a2[LANES + i] += Gs[i] * y
    return _lanes_total(a2[:LANES]), _lanes_total(a2[LANES:])


@helper
def _rao_add(Gr, yb, lb, o, a, b, acc):
    """Second pass of one sample: ``o += gz`` with ``gz = yb * (a G - b)`` (the soft
    sample's VJP times tau); returns ``sum(gz * lb)``."""
    K = Gr.shape[0]
    acc[:] = 0
    for b0 in range(0, K, LANES):
        w = min(LANES, K - b0)
        Gs = Gr[b0:b0 + w]
        ys = yb[b0:b0 + w]
        ls = lb[b0:b0 + w]
        os = o[b0:b0 + w]
        for i in range(w):
            gz = ys[i] * (a * Gs[i] - b)
            os[i] += gz
            acc[i] += gz * ls[i]
    return _lanes_total(acc)


@helper
def _rao_soft(xr, p, j, M, sM, it, crow, k0, k1, stream, bits64, wbuf, yb):
    """:func:`_rao_sample` without ``lb`` (no tau gradient): ``yb`` alone, the same bits.
    At ``1 / tau`` = 1 or 2 an element costs one Philox word, the exponential's log and a
    division: the second log, ``log(E + q)``, is the tau gradient's only."""
    K = xr.shape[0]
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        ys = yb[c0:c0 + n]
        _exponential_chunk(k0, k1, stream, crow, c0, n, bits64, wbuf, ys)
        xs = xr[c0:c0 + n]
        ps = p[c0:c0 + n]
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
    yb[j] = typed(1.0, yb)


@helper
def _rao_add_soft(Gr, yb, o, a, b):
    """:func:`_rao_add` without the tau term."""
    K = Gr.shape[0]
    for c in range(K):
        o[c] += yb[c] * (a * Gr[c] - b)


@helper
def _gumbel_rao_row(Gr, xr, j, o, samples, row, k0, k1, stream, bits64, t, want_tau, wbuf, e4,
                    p, yb, lb, acc, a2):
    """One row of :func:`gumbel_rao_rows`; returns the row's tau gradient. What the samples
    share (the loads, ``exp(x - m)``, the row's logsumexp) is made once per row."""
    K = xr.shape[0]
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
    (:func:`~fastgumbel.cpu._dtypes.tau_at`). Per thread: three row buffers (two without
    the tau gradient) and one Philox buffer of at most a chunk, the only memory besides the
    output (the first call at a new K takes their pages fresh, about 16 KiB a thread at
    1024 float32 columns; the exact tau sum calls no library: bench/RESULTS.md)."""
    rows, K = x.shape
    nw, rb, nb, counter = _blocks(rows, K * samples)
    nwb = 4 * ((min(K, CHUNK) + 3) // 4)
    sums = np.zeros((nw, SLOTS), np.int64)
    for w in prange(nw):
        wbuf = np.empty((2 if bits64 else 1) * nwb, np.uint32)
        e4 = np.empty(4, x.dtype)
        p = np.empty(K, x.dtype)
        yb = np.empty(K, x.dtype)
        lb = np.empty(K if tau_out else 0, x.dtype)
        acc = _lanes(x)
        a2 = np.empty(2 * LANES, x.dtype)
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                t = typed(tau_at(tau, r), gx)
                v = _gumbel_rao_row(G[r], x[r], idx[r], gx[r], samples, row0 + r, k0, k1,
                                    stream, bits64, t, tau_out != 0, wbuf, e4, p, yb, lb, acc,
                                    a2)
                if tau_out == 1:
                    gtau[r] = v
                elif tau_out == 2:
                    exact_add(sums[w], v)
            b = _claim(counter)
    exact_merge(sums, gsum)
