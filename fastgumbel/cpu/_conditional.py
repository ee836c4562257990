"""Gumbel noise conditioned on the argmax (:func:`conditional_rows`), and the pieces of it
that the Gumbel-Rao backward (:mod:`._rao`) shares.

Given a row of logits ``x`` and an index ``j``, the noise ``g`` conditioned on
``argmax(x + g) == j`` is made from the standard exponentials ``E_c`` of the conditional
field (``docs/rng.md``) as

- ``g_j = (Z - x_j) - log(E_j)`` with ``Z = logsumexp(x)``: the maximum ``M = x_j + g_j`` is
  Gumbel(Z);
- ``g_c = -log(E_c + exp(x_c - M))`` for ``c != j``: ``x_c + g_c`` is Gumbel(x_c) truncated
  above at ``M`` (``-log(exp(-M) + exp(-G_c))`` with ``G_c = x_c - log E_c`` written
  without overflow). A ``-inf`` logit gets ``g_c = -log(E_c)``, its unconditional noise.

``exp(x_c - M) = p_c * exp(m - M)`` with ``p_c = exp(x_c - m)`` (``m`` the row max) made once
per row, so each sample costs one Philox word and two logs per element.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import exp_nonpos_any, log_any
from ._dtypes import _U
from ._noise import CHUNK, _exponential_chunk
from ._reduce import LANES, _lanes, _lanes_total, _max_nan
from ._schedule import _blocks, _claim

#: The conditional field's row word: bit 63 set, sample number in bits 40..62, row below.
COND_BIT = 1 << 63
SAMPLE_SHIFT = 40


@helper
def _exp_lanes(xs, m, ps, acc):
    """ps = exp(xs - m), each added into the LANES partial sums ``acc`` (column c into lane
    c % LANES: ``xs`` starts at a multiple of LANES in its row)."""
    K = xs.shape[0]
    for b0 in range(0, K, LANES):
        n = min(LANES, K - b0)
        xb = xs[b0:b0 + n]
        pb = ps[b0:b0 + n]
        for i in range(n):
            v = exp_nonpos_any(xb[i] - m)
            pb[i] = v
            acc[i] += v


@helper
def _row_prep(xr, p, acc):
    """p[:K] = exp(x - max x); returns (max x, log sum p). The row has a finite max."""
    m = _max_nan(xr, xr.shape[0])[0]
    acc[:] = 0
    _exp_lanes(xr, m, p, acc)
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
