"""Exact sums of float64 values in any order, so that a kernel can sum one value per row
over all rows without a per-row array and without depending on which thread took which row.

An accumulator is an int64 array of :data:`SLOTS`: :data:`LIMBS` signed digits of 32 bits
(digit ``k`` weighs ``2**(32 k - BIAS)``; a finite float64 is an integer of at most 53 bits
times a power of two at least ``2**-1074``, so it lands on three digits exactly), then the
counts of NaN, ``+inf`` and ``-inf`` values and of values added since the last carry. Integer
additions commute, so the workers' accumulators added together give the same digits for any
schedule; :func:`exact_total` rounds the sum once, correctly, to float64.
"""
from __future__ import annotations

import math

import numpy as np

from .._numba import helper
from .._scalar import f64_as_i64

#: 2**-BIAS is the weight of digit 0: below 2**-1074 / 2**53, and a multiple of 32 bits
#: away from nothing in particular; digits up to 2**1024 and two of carry room.
BIAS = 1152
LIMBS = (1024 + 53 + BIAS) // 32 + 3
NAN, POS, NEG, ADDS = LIMBS, LIMBS + 1, LIMBS + 2, LIMBS + 3
SLOTS = LIMBS + 4
#: Values added between carries: each adds below 2**33 to a digit, int64 holds 2**63.
CARRY_EVERY = 1 << 28
_LOW = np.int64(0xFFFFFFFF)
_MANT = np.int64((1 << 52) - 1)
_HIDDEN = np.int64(1 << 52)


@helper
def exact_carry(acc):
    """Bring every digit but the top one into [0, 2**32) (the value is unchanged)."""
    c = np.int64(0)
    for k in range(LIMBS - 1):
        t = acc[k] + c
        acc[k] = t & _LOW
        c = t >> 32
    acc[LIMBS - 1] += c
    acc[ADDS] = 0


@helper
def exact_add(acc, v):
    """acc += v (any float64: NaN and infinities are counted)."""
    v = np.float64(v)
    if v != v:
        acc[NAN] += 1
    elif v == np.inf:
        acc[POS] += 1
    elif v == -np.inf:
        acc[NEG] += 1
    elif v != 0:
        # v = +-a 2**(s - BIAS), a < 2**53, read from v's bits (math.frexp is a call into
        # Numba's helper library, whose first use faults in 40 KiB of its pages)
        b = f64_as_i64(v)
        ex = (b >> 52) & 0x7FF                  # the biased exponent; 0: subnormal
        a = (b & _MANT) | (_HIDDEN if ex else np.int64(0))
        s = max(ex, 1) - 1075 + BIAS
        sign = np.int64(-1) if b < 0 else np.int64(1)
        k = s >> 5
        off = s & 31
        lo = (a & _LOW) << off                  # below 2**63
        hi = (a >> 32) << off                   # a < 2**53: below 2**52
        acc[k] += sign * (lo & _LOW)
        acc[k + 1] += sign * ((lo >> 32) + (hi & _LOW))
        acc[k + 2] += sign * (hi >> 32)
        acc[ADDS] += 1
        if acc[ADDS] >= CARRY_EVERY:
            exact_carry(acc)


@helper
def exact_merge(accs, out):
    """out += the sum of the accumulators ``accs`` (rows), each carried first."""
    for w in range(accs.shape[0]):
        exact_carry(accs[w])
        for k in range(ADDS):
            out[k] += accs[w, k]


def exact_total(acc):
    """The float64 nearest to the exact sum held by ``acc`` (a NumPy int64 array of
    :data:`SLOTS`; NaN if it holds a NaN or both infinities)."""
    nan, pos, neg = int(acc[NAN]), int(acc[POS]), int(acc[NEG])
    if nan or (pos and neg):
        return math.nan
    if pos or neg:
        return math.inf if pos else -math.inf
    n = sum(int(d) << (32 * k) for k, d in enumerate(acc[:LIMBS].tolist()))
    try:
        return n / (1 << BIAS)                  # int / int: correctly rounded
    except OverflowError:
        return math.inf if n > 0 else -math.inf
