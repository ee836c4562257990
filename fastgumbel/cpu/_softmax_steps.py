"""The steps of the softmax family (soft, log-soft and hard Gumbel-softmax samples) that the
row and chunk kernels of :mod:`._softmax` and the tau == 1 path of :mod:`._ratio` share.

Three steps per chunk of a row:
  1. s = x + g and the row max M (_perturb_chunk);
  2. e = exp((s - M) / tau) and the chunk's sum (_exp_chunk); S = sum of the chunk sums in
     chunk order (so the result does not depend on which kernel ran);
  3. soft = e * (1 / S), log = (s - M) / tau - log(S), hard = one-hot of the first j with
     e_j * (1 / S) == 1 / S, the first argmax of the soft sample (_finish_chunk). The row
     kernel finds that index from s alone when no other s_j is within 2**-19 tau of M
     (:func:`_sole_max`: almost every row), skipping steps 2 and 3.
A row with a NaN gives NaN; a row whose logits are all -inf gives 0 (soft, hard) or -inf
(log); a row whose max is +inf is counted and the caller raises.
"""
from __future__ import annotations

import math

import numpy as np

from .._numba import helper
from .._scalar import exp_nonpos_any, log_any
from ._dtypes import typed
from ._prefetch import prefetch_next_row
from ._reduce import LANES, _first_equal, _lanes_total

SOFT, LOG, HARD = 0, 1, 2


@helper
def _exp_chunk(seg, n, M, t, mode, ebuf, acc, x, out, r):
    """exp((s - M) / t) over the chunk: in place (soft, hard) or into ebuf (log, which keeps
    s for step 3); returns the chunk's sum, added up in the same loop in the fixed lane order
    (``LANES``). Each destination has its own loop written on that array alone: a
    loop whose load and store go through two names of one array needs LLVM's runtime alias
    check, which then fails, and runs scalar (6x slower, measured). A power-of-two t
    multiplies by 1 / t, which is exact, so the same bits as the division (tau == 1 skips
    it). Prefetches row r of x and out (:func:`prefetch_next_row`; none for r < 0)."""
    acc[:] = 0
    inv = typed(1, seg) / t
    pow2 = inv * t == typed(1, seg) and _is_pow2(inv)
    for b0 in range(0, n, LANES):
        m = min(LANES, n - b0)
        if r >= 0:
            prefetch_next_row(x, out, r, b0, LANES)
        sb = seg[b0:b0 + m]
        if mode == LOG:
            eb = ebuf[b0:b0 + m]
            if t == 1:
                for j in range(m):
                    e = exp_nonpos_any(sb[j] - M)
                    eb[j] = e
                    acc[j] += e
            elif pow2:
                for j in range(m):
                    e = exp_nonpos_any((sb[j] - M) * inv)
                    eb[j] = e
                    acc[j] += e
            else:
                for j in range(m):
                    e = exp_nonpos_any((sb[j] - M) / t)
                    eb[j] = e
                    acc[j] += e
        elif t == 1:
            for j in range(m):
                e = exp_nonpos_any(sb[j] - M)
                sb[j] = e
                acc[j] += e
        elif pow2:
            for j in range(m):
                e = exp_nonpos_any((sb[j] - M) * inv)
                sb[j] = e
                acc[j] += e
        else:
            for j in range(m):
                e = exp_nonpos_any((sb[j] - M) / t)
                sb[j] = e
                acc[j] += e
    return _lanes_total(acc)


@helper
def _is_pow2(v):
    """True if the positive finite normal ``v`` is a power of two (mantissa 0.5)."""
    return math.frexp(v)[0] == 0.5


@helper
def _finish_chunk(seg, n, M, t, S, mode, search, top):
    """Step 3 over one chunk. The soft sample is e_j * (1 / S), except that an e_j equal to
    S (the others add nothing to it) gives exactly 1, as e_j / S does: a row with a single
    category, or one whose other categories are masked, is one-hot. Hard mode zeroes the
    chunk and returns the first j with e_j * (1 / S) == top * (1 / S) if ``search`` (else
    -1), where ``top`` is the row's largest e (1 after step 2, the max w after
    :func:`_ratio_chunk`); the caller sets the one."""
    if mode == SOFT:
        inv = typed(1, seg) / S
        one = typed(1, seg)
        for j in range(n):
            v = seg[j]
            seg[j] = one if v == S else v * inv
        return -1
    if mode == LOG:
        lse = log_any(S)
        for j in range(n):
            seg[j] = (seg[j] - M) / t - lse
        return -1
    inv = typed(1, seg) / S
    first = _first_equal(seg, n, top * inv, inv) if search else -1
    seg[:n] = 0
    return first


@helper
def _sole_max(v, n, top, lim):
    """The first j with v[j] == top if every other v[j] - top is at most ``lim`` (< 0),
    else -1: the hard sample's index without normalizing, when the row allows it.

    With v = s = x + g, top = M and lim = -2**-19 t: such a j has (s[j] - M) / t <= -2**-19,
    so e_j = exp(...) < 1 - 2**-20 (exp is within 1 ulp) and RN(e_j * (1/S)) < 1/S, while
    the max has e = exp(0) = 1 exactly; the hard index is the first j with
    RN(e_j * (1/S)) == 1/S. (The caller requires t >= 2**19 tiny, so that lim is exact.)
    With v = w (tau == 1, :func:`_ratio_chunk`), top = max w and lim = -4 eps top:
    w_j <= top (1 - 4 eps), so the exact products differ by 4 eps top / S, more than the
    two half-ulps (at most eps top / S together) that rounding can take back, and
    RN(w_j / S) < RN(top / S) strictly. (v[j] - top is exact for v[j] >= top / 2.)"""
    near = np.int32(0)
    for j in range(n):
        near = np.int32(near + np.int32(v[j] - top > lim))   # int32 lanes: 16 per zmm
    if near != 1:
        return -1
    return _first_equal(v, n, top, typed(1, v))


@helper
def _special_row(o, M, nan, mode):
    """Fill a NaN / +inf / all -inf row; returns (row handled, row max is +inf)."""
    if nan or M == np.inf:
        o[:] = np.nan
        return True, not nan
    if M == -np.inf:
        if mode == LOG:
            o[:] = -np.inf
        else:
            o[:] = 0
        return True, False
    return False, False
