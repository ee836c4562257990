"""Reductions and searches over a run of values: fixed-order sums (``LANES``), the max by
order keys, and the first index that meets a test. Nothing here depends on the thread count or
the vector width.

Loops index slices (``xs = xr[c0:c0 + n]; xs[j]``), never ``xr[c0 + j]``: Numba's negative-index
wraparound on ``c0 + j`` hides the unit stride from LLVM, which then vectorizes with gathers
and scatters (the fused backward ran 2x slower).
"""
from __future__ import annotations

import numpy as np

from .._numba import helper
from ._dtypes import key_value, order_key, typed


#: Fixed-order sums (independent of threads and vector width): element j of a run of values
#: is added to partial sum j % LANES, in the loop that forms it, and the partial sums are then
#: added as a fixed tree (:func:`_lanes_total`). 64 partial sums are four 512-bit (or eight
#: 256-bit) registers, so the adds do not wait on each other, without reassociation; a sum
#: fused into the loop that forms its terms also saves a pass over them.
LANES = 64


@helper
def _lanes(v):
    """An accumulator of LANES partial sums, of v's dtype: allocated once per thread (an
    allocation per row is a measurable cost: bench/RESULTS.md) and zeroed by each sum."""
    return np.empty(LANES, v.dtype)


@helper
def _lanes_total(acc):
    """The sum of the LANES partial sums: pairs LANES/2 apart, then halving."""
    w = LANES // 2
    while w >= 1:
        for j in range(w):
            acc[j] += acc[j + w]
        w //= 2
    return acc[0]


@helper
def _max_nan(v, n):
    """(max of v[:n], any NaN) from the max and min of the order keys: vectorized, exact, in
    32-bit lanes for float32 (a NaN's key lies above +inf's or below -inf's, so no separate
    NaN test). The max is meaningful only without NaN."""
    kinf = order_key(typed(np.inf, v))
    kninf = order_key(typed(-np.inf, v))
    kmax = kninf
    kmin = kinf
    for j in range(n):
        kv = order_key(v[j])
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
    return key_value(kmax), kmax > kinf or kmin < kninf


@helper
def _first_equal(v, n, m, scale):
    """First j < n with v[j] * scale == m, or -1: blocks of 64 are tested with a vectorized
    any, and only the block that holds a hit is scanned (scale = 1: v[j] == m, exactly)."""
    for b0 in range(0, n, 64):
        vb = v[b0:min(b0 + 64, n)]
        hit = False
        for j in range(vb.shape[0]):
            hit |= vb[j] * scale == m
        if hit:
            for j in range(vb.shape[0]):
                if vb[j] * scale == m:
                    return b0 + j
    return -1


@helper
def next_at_least(v, n, thr, start):
    """The first j >= start (j < n) with v[j] >= thr, or -1: blocks of 64 are tested with a
    vectorized any, and only a block that holds a hit is scanned."""
    for b0 in range(start, n, 64):
        vb = v[b0:min(b0 + 64, n)]
        hit = False
        for j in range(vb.shape[0]):
            hit |= vb[j] >= thr
        if hit:
            for j in range(vb.shape[0]):
                if vb[j] >= thr:
                    return b0 + j
    return -1
