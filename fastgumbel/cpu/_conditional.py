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
from ._dtypes import _U, typed
from ._noise import CHUNK, _exponential_chunk
from ._reduce import LANES, _lanes, _lanes_total
from ._schedule import _blocks, _claim

#: The conditional field's row word: bit 63 set, sample number in bits 40..62, row below.
COND_BIT = 1 << 63
SAMPLE_SHIFT = 40


@helper
def _row_prep(xr, p, acc):
    """p[:K] = exp(x - max x); returns (max x, log sum p). The row has a finite max."""
    K = xr.shape[0]
    m = xr[0]
    for c in range(K):
        m = xr[c] if xr[c] > m else m
    acc[:] = 0
    for b0 in range(0, K, LANES):
        n = min(LANES, K - b0)
        for j in range(n):
            v = exp_nonpos_any(xr[b0 + j] - m)
            p[b0 + j] = v
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
def _soft_vjp_add(Gr, xr, g, M, yb, t, o, acc):
    """With z = (x + g) / t and y = softmax(z) (into ``yb``; ``g`` becomes z - max z):
    o += y * (G - <G, y>); returns sum(y * (G - <G, y>) * (z - max z)) for the tau gradient
    (terms with y == 0 left out: their z may be -inf). ``M`` is max(x + g), so max z is
    M / t without a max pass."""
    K = xr.shape[0]
    zmax = M / t
    acc[:] = 0
    for b0 in range(0, K, LANES):
        n = min(LANES, K - b0)
        for j in range(n):
            z = (xr[b0 + j] + g[b0 + j]) / t - zmax
            g[b0 + j] = z
            v = exp_nonpos_any(z)
            yb[b0 + j] = v
            acc[j] += v
    inv = 1 / _lanes_total(acc)
    acc[:] = 0
    for b0 in range(0, K, LANES):
        n = min(LANES, K - b0)
        for j in range(n):
            y = yb[b0 + j] * inv
            yb[b0 + j] = y
            acc[j] += Gr[b0 + j] * y
    dot = _lanes_total(acc)
    acc[:] = 0
    zero = typed(0.0, o)
    for b0 in range(0, K, LANES):
        n = min(LANES, K - b0)
        for j in range(n):
            c = b0 + j
            y = yb[c]
            gz = y * (Gr[c] - dot)
            o[c] += gz
            acc[j] += gz * g[c] if y > zero else zero
    return _lanes_total(acc)


@helper
def _gumbel_rao_row(Gr, xr, j, o, samples, row, k0, k1, stream, bits64, t, wbuf, p, g, yb,
                    acc):
    """One row of :func:`gumbel_rao_rows`; returns the row's tau gradient."""
    K = xr.shape[0]
    m, lse = _row_prep(xr, p, acc)
    for c in range(K):
        o[c] = 0
    tsum = typed(0.0, o)
    for s in range(samples):
        M = _conditional_row(xr, p, j, m, lse, _cond_word(row, s), k0, k1, stream, bits64,
                             wbuf, g)
        tsum += _soft_vjp_add(Gr, xr, g, M, yb, t, o, acc)
    scale = 1 / (typed(samples, o) * t)
    for c in range(K):
        o[c] *= scale
    return -tsum * scale


@kernel
def gumbel_rao_rows(G, x, idx, gx, gtau, samples, row0, k0, k1, stream, bits64, tau):
    """Gumbel-Rao gradients: gx[r] = mean over ``samples`` conditional samples of
    ``y * (G - <G, y>) / tau``; gtau[r] = that mean of ``-sum(y * (G - <G, y>) * z) / tau``
    with ``z = (x + g) / tau`` (any shift of z gives the same: the terms sum to 0)."""
    rows, K = x.shape
    t = typed(tau, gx)
    nw, rb, nb, counter = _blocks(rows, K * samples)
    for w in prange(nw):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        p = np.empty(K, x.dtype)
        g = np.empty(K, x.dtype)
        yb = np.empty(K, x.dtype)
        acc = _lanes(x)
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                gtau[r] = _gumbel_rao_row(G[r], x[r], idx[r], gx[r], samples, row0 + r, k0,
                                          k1, stream, bits64, t, wbuf, p, g, yb, acc)
            b = _claim(counter)
