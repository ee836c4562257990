"""Bits -> uniform -> Gumbel (and exponential) transforms of stream spec v1
(``docs/rng.md``)."""
from __future__ import annotations

import numpy as np

from .._numba import inline_always
from ._bits import fma, u32_to_f32, u32_to_f64, wide_vectors
from ._logexp import (_ONE_F32, _log_reduce_f32, _log_reduce_f64, log_ef_f32, log_f32, log_f64,
                      log_kf_f64)

_F = np.float32
_D = np.float64

# Bits -> uniform -> Gumbel (stream spec v1, docs/rng.md).
#
# A w-bit word W is folded to its "distance from the nearer end": s = top bit of W,
# M = W if s == 0 else ~W (so M < 2**(w-1)), and t = RN((2M + 1) * 2**-(w+1)), a number in
# (0, 1/2) with full relative precision. The uniform is U = t (s = 0) or 1 - t (s = 1).
# The Gumbel variate is g = -log(E) with E = -log(U), computed as E = -log(t) when s = 0 and
# E = -log1p(-t) when s = 1, so both tails keep relative precision:
#   w = 32: g in [-3.13, 22.87];  w = 64: g in [-3.8, 45.06].

_TWO_M65 = _D(2.0 ** -65)
_TWO_M33_F32 = _F(2.0 ** -33)
_ONE_MINUS_ULP_F32 = _F(1.0 - 2.0 ** -24)
_ONE_MINUS_ULP_F64 = _D(1.0 - 2.0 ** -53)


# Words arrive as 32-bit integers; all integer work is done in int32 and every integer ->
# float conversion takes an int32 (read as signed or unsigned), the only width every x86
# vector unit converts (AVX2 has no 64-bit integer <-> float instructions). The values are
# exactly those of the spec.

_I = np.int32
_SPLIT_F32 = _F(0.29289323)            # about 1 - sqrt(1/2): see _log_u_f32
_SPLIT_F64 = _D(0.2928932188134524)


@inline_always
def _fold32(w):
    """(s, t) of one 32-bit word: s = top bit, t = RN32((2M + 1) * 2**-33)."""
    wi = _I(w)
    s = wi < _I(0)
    m = ~wi if s else wi                                   # < 2**31
    # 2m + 1 < 2**32 as an unsigned int32, converted once (rounded); the scaling is exact
    return s, u32_to_f32(_I(_I(m << _I(1)) | _I(1))) * _TWO_M33_F32


@inline_always
def _fold64(lo, hi):
    """(s, t) of the 64-bit word hi:lo: s = top bit, t = RN64((2M + 1) * 2**-65)."""
    li = _I(lo)
    hi_ = _I(hi)
    s = hi_ < _I(0)
    mh = ~hi_ if s else hi_          # < 2**31
    ml = ~li if s else li            # all 32 bits
    # 2M + 1 = 2**33 mh + (2 ml + 1): both parts exact in float64, their sum rounded once
    b = fma(u32_to_f64(_I(ml)), _D(2.0), _D(1.0))
    return s, fma(_D(mh), _D(2.0 ** 33), b) * _TWO_M65


# log(U) of the uniform of a folded word, without forming U: U = t (s = 0) is reduced by its
# bits; U = 1 - t (s = 1) is 1 + f with f = -t exactly when t <= SPLIT (about 1 - sqrt(1/2)),
# else 2**-1 (1 + f) with f = 1 - 2t, also exact (t > 1/4, so 2t and 1 - 2t are on the
# float grid). Either way f is in the log's reduced range and log1p(-t) keeps its relative
# precision for tiny t.

@inline_always
def _log_u_f32(s, t):
    e0, f0 = _log_reduce_f32(t)
    big = t > _SPLIT_F32
    e1 = _I(-1) if big else _I(0)
    f1 = fma(_F(-2.0) if big else _F(-1.0), t, _ONE_F32 if big else _F(0.0))
    return log_ef_f32(e1 if s else e0, f1 if s else f0)


@inline_always
def _log_u_f64(s, t):
    k0, f0 = _log_reduce_f64(t)
    big = t > _SPLIT_F64
    k1 = _D(-1.0) if big else _D(0.0)
    f1 = fma(_D(-2.0) if big else _D(-1.0), t, _D(1.0) if big else _D(0.0))
    return log_kf_f64(k1 if s else k0, f1 if s else f0)


@inline_always
def exponential_bits32(w):
    """E = -log(U), the standard exponential float32 of one 32-bit word: the E of
    ``gumbel_bits32`` (g = -log(E)), in [2**-33, 22.87], never 0."""
    s, t = _fold32(w)
    return -_log_u_f32(s, t)


@inline_always
def exponential_bits64(lo, hi):
    """E = -log(U), the standard exponential float64 of the 64-bit word hi:lo: the E of
    ``gumbel_bits64``, in [2**-65, 45.06], never 0."""
    s, t = _fold64(lo, hi)
    return -_log_u_f64(s, t)


@inline_always
def gumbel_bits32(w):
    """Standard Gumbel float32 from one 32-bit word."""
    return -log_f32(exponential_bits32(w))


@inline_always
def gumbel_bits64(lo, hi):
    """Standard Gumbel float64 from the 64-bit word hi:lo (two 32-bit words)."""
    return -log_f64(exponential_bits64(lo, hi))


@inline_always
def uniform_bits32(w):
    """Uniform float32 in the open interval (0, 1) from one 32-bit word."""
    wide_vectors()
    s, t = _fold32(w)
    hi = _ONE_F32 - t
    hi = _ONE_MINUS_ULP_F32 if hi > _ONE_MINUS_ULP_F32 else hi
    return hi if s else t


@inline_always
def uniform_bits64(lo, hi):
    """Uniform float64 in the open interval (0, 1) from the 64-bit word hi:lo."""
    wide_vectors()
    s, t = _fold64(lo, hi)
    hi = _D(1.0) - t
    hi = _ONE_MINUS_ULP_F64 if hi > _ONE_MINUS_ULP_F64 else hi
    return hi if s else t
