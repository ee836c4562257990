"""Gradients of soft Gumbel-softmax samples, from the saved sample or with the sample
regenerated from the logits and the key."""
from __future__ import annotations

import numpy as np
from numba import prange

from .._numba import helper, kernel
from .._scalar import log_any
from ._dtypes import _U, tau_at, tiny_of, typed
from ._noise import CHUNK
from ._reduce import LANES, _lanes, _lanes_total
from ._schedule import _blocks, _claim
from ._softmax import _soft_row


@helper
def _backward_row(Gr, yr, o, t, acc, want):
    """Gradients of one soft row y = softmax((x + g) / t) into ``o`` (never ``yr`` itself):
    gz = y * (G - <G, y>); o = gz / t; returns -(1/t) * sum(gz * log y) if ``want`` (else no
    log is taken, LLVM unswitching the loop, and the return value means nothing). Both sums
    are added up in the loops that form their terms, in the fixed lane order (``LANES``)."""
    K = yr.shape[0]
    tiny = tiny_of(o)
    acc[:] = 0
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
            if want:
                acc[j] += gz * log_any(yj if yj > tiny else tiny)
            ob[j] = gz / t
    return -_lanes_total(acc) / t


@kernel
def softmax_backward_rows(G, y, gx, gtau, tau):
    """Gradients of saved soft Gumbel-softmax samples ``y`` (see :func:`_backward_row`);
    gtau[r] is row r's share of the tau gradient (none computed where ``gtau`` is empty)."""
    rows, K = y.shape
    want = gtau.shape[0] > 0
    nw, rb, nb, counter = _blocks(rows, K)
    for w in prange(nw):
        acc = _lanes(gx)
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                gt = _backward_row(G[r], y[r], gx[r], typed(tau_at(tau, r), gx), acc, want)
                if want:
                    gtau[r] = gt
            b = _claim(counter)


@kernel
def softmax_backward_recompute(G, x, gx, gtau, row0, k0, k1, stream, bits64, tau):
    """Gradients with the soft sample regenerated row by row from the logits and the key
    (into a per-thread row buffer, so nothing input-sized is stored). Returns the number of
    rows whose max(x + g) is +inf (the caller raises). No tau gradient where ``gtau`` is
    empty."""
    rows, K = x.shape
    want = gtau.shape[0] > 0
    posinf = 0
    nw, rb, nb, counter = _blocks(rows, K)
    for w in prange(nw):
        wbuf = np.empty(2 * CHUNK, np.uint32)
        ebuf = np.empty(0, gx.dtype)
        yrow = np.empty(K, gx.dtype)
        acc = _lanes(gx)
        found = 0
        b = _claim(counter)
        while b < nb:
            for r in range(b * rb, min(rows, (b + 1) * rb)):
                t = typed(tau_at(tau, r), gx)
                inf = _soft_row(x[r], yrow, _U(row0 + r), k0, k1, stream, bits64, t, wbuf, ebuf,
                                acc, x, x, -1)
                found += 1 if inf else 0
                gt = _backward_row(G[r], yrow, gx[r], t, acc, want)
                if want:
                    gtau[r] = gt
            b = _claim(counter)
        posinf += found
    return posinf
