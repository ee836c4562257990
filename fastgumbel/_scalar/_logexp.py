"""``log`` and ``exp`` for float32 and float64 as polynomial code (no libm calls, so the
loops around them vectorize on a Numba without SVML); Cephes / fdlibm style. Their accuracy
over the whole range the kernels use is measured by the tests; the figures are in
``docs/rng.md``."""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from .._numba import inline_always
from ._bits import f32_as_i32, f64_as_i64, floor_f, fma, i32_as_f32, i64_as_f64, wide_vectors

_F = np.float32
_LN2_HI_F32 = _F(0.693359375)
_LN2_LO_F32 = _F(-2.12194440e-4)
_LOGP = [_F(c) for c in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                         1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                         3.3333331174e-1)]
LP0, LP1, LP2, LP3, LP4, LP5, LP6, LP7, LP8 = _LOGP
_HALF_F32 = _F(0.5)
_ONE_F32 = _F(1.0)
_I32_MANT = np.int32(0x007FFFFF)
_I32_SQRTH = np.int32(0x3F3504F3)     # the bits of RN32(sqrt(1/2))


@inline_always
def _log_reduce_f32(x):
    """(e, f) with x = 2**e (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1) exact, for a positive
    normal float32, by integer arithmetic alone: the bits are offset so that the exponent
    field steps at sqrt(1/2) instead of 1. (int32 throughout: np.int32 casts, as Numba
    widens int32 arithmetic to int64, which would give the exponent 64-bit vector lanes.)"""
    ix = np.int32(f32_as_i32(x) - _I32_SQRTH)
    e = np.int32(ix >> np.int32(23))
    f = i32_as_f32(np.int32(np.int32(ix & _I32_MANT) + _I32_SQRTH)) - _ONE_F32   # exact
    return e, f


@inline_always
def log_ef_f32(e, f):
    """log(2**e (1 + f)) for int32 e and float32 f in [sqrt(1/2) - 1, sqrt(2) - 1]:
    ``e ln2 + f - f^2/2 + f^3 P(f)`` (Cephes-style; P evaluated by Estrin's scheme, so the
    dependency chain is 4 fma deep instead of 9; ln2 split in two so that e ln2 is exact)."""
    wide_vectors()
    z = f * f
    # P(f) = LP8 + f ((LP0 f + LP1) z^3 + (LP2 f + LP3) z^2 + (LP4 f + LP5) z + LP6 f + LP7)
    q = fma(fma(fma(LP0, f, LP1), z, fma(LP2, f, LP3)), z * z,
            fma(fma(LP4, f, LP5), z, fma(LP6, f, LP7)))
    p = fma(q, f, LP8)
    y = f * z * p
    ef = _F(e)
    y = fma(ef, _LN2_LO_F32, y)
    y = fma(-_HALF_F32, z, y)
    return fma(ef, _LN2_HI_F32, f + y)


@inline_always
def log_f32(x):
    """Natural log of a positive, normal, finite float32 (Cephes-style polynomial).

    Range reduction by the exponent bits to m in [sqrt(1/2), sqrt(2)), then
    ``f - f^2/2 + f^3 P(f)`` with f = m - 1 exact. Max error measured: docs/rng.md.
    """
    e, f = _log_reduce_f32(x)
    return log_ef_f32(e, f)


_D = np.float64
_SQRT2 = _D(1.41421356237309504880)
_LN2_HI = _D(6.93147180369123816490e-01)
_LN2_LO = _D(1.90821492927058770002e-10)
LG1 = _D(6.666666666666735130e-01)
LG2 = _D(3.999999999940941908e-01)
LG3 = _D(2.857142874366239149e-01)
LG4 = _D(2.222219843214978396e-01)
LG5 = _D(1.818357216161805012e-01)
LG6 = _D(1.531383769920937332e-01)
LG7 = _D(1.479819860511658591e-01)
_I64_MANT = np.int64(0x000FFFFFFFFFFFFF)
_I64_ONE = np.int64(0x3FF0000000000000)


@inline_always
def _log_reduce_f64(x):
    """(k, f) with x = 2**k (1 + f), f in (sqrt(1/2) - 1, sqrt(2) - 1] exact, k as a float64."""
    bits = f64_as_i64(x)
    k = (bits >> np.int64(52)) - np.int64(1023)
    m = i64_as_f64((bits & _I64_MANT) | _I64_ONE)  # in [1, 2)
    big = m > _SQRT2
    m = m * _D(0.5) if big else m
    k = k + np.int64(1) if big else k
    return _D(np.int32(k)), m - _D(1.0)


@inline_always
def log_kf_f64(dk, f):
    """log(2**k (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1] (fdlibm-style, s = f/(2+f))."""
    wide_vectors()
    s = f / (_D(2.0) + f)
    z = s * s
    w = z * z
    t1 = w * fma(w, fma(w, LG6, LG4), LG2)
    t2 = z * fma(w, fma(w, fma(w, LG7, LG5), LG3), LG1)
    r = t2 + t1
    hfsq = _D(0.5) * f * f
    y = hfsq - (s * (hfsq + r) + dk * _LN2_LO)
    return dk * _LN2_HI - (y - f)


@inline_always
def log_f64(x):
    """Natural log of a positive, normal, finite float64 (fdlibm-style, s = f/(2+f))."""
    dk, f = _log_reduce_f64(x)
    return log_kf_f64(dk, f)


_LOG2E_F32 = _F(1.44269504088896341)
_EXP_LO_F32 = _F(-87.33654)   # below: result flushed to 0 (2**-126 is the smallest normal)
_EXP_HI_F32 = _F(88.72283)    # above: +inf
EP0, EP1, EP2, EP3, EP4, EP5 = (_F(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                               4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))


@inline_always
def _exp_f32_core(xc):
    """(n, p) with exp(xc) = p 2**n, p in [sqrt(1/2), sqrt(2)], for xc already clamped to
    [-87.34, 88.72] (Cephes-style: xc = n ln2 + r, p = exp(r) by a polynomial)."""
    n = floor_f(xc * _LOG2E_F32 + _HALF_F32)
    r = fma(-n, _LN2_HI_F32, xc)
    r = fma(-n, _LN2_LO_F32, r)
    p = fma(fma(fma(fma(fma(EP0, r, EP1), r, EP2), r, EP3), r, EP4), r, EP5)
    return n, fma(p, r * r, r) + _ONE_F32


@inline_always
def exp_f32(x):
    """exp of a float32 (Cephes-style polynomial); 0 below -87.34, inf above 88.72, NaN kept."""
    wide_vectors()
    xc = _EXP_LO_F32 if x < _EXP_LO_F32 else x
    xc = _EXP_HI_F32 if xc > _EXP_HI_F32 else xc
    n, p = _exp_f32_core(xc)
    ni = np.int32(n)
    # split the scale so that n = 128 (x just below the overflow bound) stays finite
    h = np.int32(ni >> np.int32(1))
    y = p * i32_as_f32(np.int32((h + np.int32(127)) << np.int32(23))) * i32_as_f32(
        np.int32((ni - h + np.int32(127)) << np.int32(23)))
    y = _F(0.0) if x < _EXP_LO_F32 else y
    y = _F(np.inf) if x > _EXP_HI_F32 else y
    return x if x != x else y


@inline_always
def exp_nonpos_f32(x):
    """exp_f32 for x <= 64 or -inf (softmax arguments: ``x - max``, and ``x - (max - 32)``
    at tau == 1, which rounding can take up to 64): the same bits there (checked over every
    float32 from -inf to 64 by tests/test_transform.py), without the overflow clamp and the
    split scale that exp_f32 needs near its overflow bound, and without its NaN select (the
    kernels handle NaN rows apart). n is in [-126, 93], so one multiply by 2**n rounds
    once, as the split does."""
    wide_vectors()
    n, p = _exp_f32_core(_EXP_LO_F32 if x < _EXP_LO_F32 else x)
    y = p * i32_as_f32(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))
    return _F(0.0) if x < _EXP_LO_F32 else y


_LOG2E = _D(1.4426950408889634073599)
_EXP_C1 = _D(6.93145751953125e-1)
_EXP_C2 = _D(1.42860682030941723212e-6)
EXP_P0, EXP_P1, EXP_P2 = _D(1.26177193074810590878e-4), _D(3.02994407707441961300e-2), _D(
    9.99999999999999999910e-1)
EXP_Q0, EXP_Q1, EXP_Q2, EXP_Q3 = (_D(3.00198505138664455042e-6), _D(2.52448340349684104192e-3),
                                  _D(2.27265548208155028766e-1), _D(2.00000000000000000009e0))
_EXP_LO = _D(-708.3964185322641)  # below: flushed to 0 (2**-1022 is the smallest normal)
_EXP_HI = _D(709.782712893384)


@inline_always
def _exp_f64_core(xc):
    """(n, e) with exp(xc) = e 2**n, for xc already clamped to [-708.4, 709.78]
    (Cephes-style rational)."""
    n = floor_f(xc * _LOG2E + _D(0.5))
    r = fma(-n, _EXP_C1, xc)
    r = fma(-n, _EXP_C2, r)
    rr = r * r
    px = r * fma(fma(EXP_P0, rr, EXP_P1), rr, EXP_P2)
    q = fma(fma(fma(EXP_Q0, rr, EXP_Q1), rr, EXP_Q2), rr, EXP_Q3)
    return n, _D(1.0) + _D(2.0) * (px / (q - px))


@inline_always
def exp_f64(x):
    """exp of a float64 (Cephes-style rational); 0 below -708.4, inf above 709.78, NaN kept."""
    wide_vectors()
    xc = _EXP_LO if x < _EXP_LO else x
    xc = _EXP_HI if xc > _EXP_HI else xc
    n, e = _exp_f64_core(xc)
    ni = np.int64(np.int32(n))
    # split the scale so that n = 1024 (x just below the overflow bound) stays finite
    h = ni >> np.int64(1)
    y = e * i64_as_f64((h + np.int64(1023)) << np.int64(52)) * i64_as_f64(
        (ni - h + np.int64(1023)) << np.int64(52))
    y = _D(0.0) if x < _EXP_LO else y
    y = _D(np.inf) if x > _EXP_HI else y
    return x if x != x else y


@inline_always
def exp_nonpos_f64(x):
    """exp_f64 for x <= 128 or -inf (``x - (max - 64)`` at tau == 1 rounds up to 128): the
    same bits there (see :func:`exp_nonpos_f32`)."""
    wide_vectors()
    n, e = _exp_f64_core(_EXP_LO if x < _EXP_LO else x)
    y = e * i64_as_f64((np.int64(np.int32(n)) + np.int64(1023)) << np.int64(52))
    return _D(0.0) if x < _EXP_LO else y


#: The bound-pruned argmax (docs/rng.md): an entry whose bound u = x - ln2 log2_bound(E) lies
#: below ``top - (BOUND_BAND + |top| BOUND_REL)`` (top: the row's max u) cannot hold the max
#: of x + g. 0.0598 is the band 0.0861 ln 2 = 0.05968 rounded up by 1.2e-4 (the errors of g,
#: of log2_bound's conversion and of RN(ln 2)); |top| 2**-20 covers the roundings of u and of
#: x + g.
BOUND_BAND = 0.0598
BOUND_REL = 2.0 ** -20
LN2 = 0.6931471805599453


@inline_always
def log2_bound_f32(v):
    """e + f for a positive normal float32 v = 2**e (1 + f), read off v's bits: at most
    log2(v) and within 0.0861 of it."""
    return _F(f32_as_i32(v)) * _F(2.0 ** -23) - _F(127)


@inline_always
def log2_bound_f64(v):
    """e + f of a positive normal float64 from its high 32 bits (f truncated to 20 bits: still
    at most log2(v)), converted from int32 as every x86 vector unit can."""
    return _D(np.int32(f64_as_i64(v) >> np.int64(32))) * 2.0 ** -20 - 1023.0


def log_any(x):
    """log_f32 for a float32 argument, log_f64 otherwise (chosen when Numba compiles)."""
    raise NotImplementedError("log_any is only callable from compiled code")


def exp_nonpos_any(x):
    """exp_nonpos_f32 for a float32 argument, exp_nonpos_f64 otherwise (chosen when Numba
    compiles); x <= 64 (float32) / 128 (float64) or -inf."""
    raise NotImplementedError("exp_nonpos_any is only callable from compiled code")


@overload(log_any, inline="always")
def _log_any(x):
    if x == types.float32:
        return lambda x: log_f32(x)
    return lambda x: log_f64(x)


@overload(exp_nonpos_any, inline="always")
def _exp_nonpos_any(x):
    if x == types.float32:
        return lambda x: exp_nonpos_f32(x)
    return lambda x: exp_nonpos_f64(x)
