"""Scalar math, written once.

Everything here is a plain function of scalars, compiled by Numba: inlined into the CPU
kernels of :mod:`fastgumbel.cpu` (where LLVM vectorizes the loops around it) and meant to
be compiled unchanged as CUDA device functions. Nothing here allocates or branches on
data in a way that stops vectorization: choices are ``a if c else b`` selects.

Contents
--------
- bit casts between floats and integers of the same width (LLVM ``bitcast``);
- one Philox4x32-10 block (Random123), on 32-bit values held in ``uint64``;
- the bits -> uniform -> Gumbel transforms of stream spec v1 (``docs/rng.md``);
- ``log``/``exp`` for float32 and float64 as polynomial code (no libm calls, so the
  loops vectorize on a Numba without SVML).

The accuracy of the polynomial functions is measured by ``tests/test_scalar.py`` over the
whole range the kernels use; the figures are in ``docs/rng.md``.
"""
from __future__ import annotations

import warnings

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.errors import NumbaIRAssumptionWarning
from numba.extending import intrinsic, overload

# Inlining the dtype-dispatching overloads below trips a pedantic SSA check inside Numba
# ("variable ... is not in scope"); the generated code is correct (tests/test_transform.py).
warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)

__all__ = [
    "philox_block", "gumbel_bits32", "gumbel_bits64", "exponential_bits32", "exponential_bits64",
    "uniform_bits32", "uniform_bits64",
    "log_f32", "log_f64", "log_ef_f32", "log_kf_f64", "exp_f32", "exp_f64", "exp_nonpos_f32",
    "exp_nonpos_f64", "log_any", "exp_nonpos_any", "fma", "wide_vectors",
]

_jit = njit(inline="always", cache=True, nogil=True, error_model="numpy")

# ----------------------------------------------------------------------------------------
# bit casts


def _bitcast(src, dst, width):
    @intrinsic
    def cast(typingctx, x):
        if x != src:
            return None
        sig = dst(src)

        def codegen(context, builder, signature, args):
            target = ir.IntType(width) if isinstance(dst, types.Integer) else (
                ir.FloatType() if width == 32 else ir.DoubleType())
            return builder.bitcast(args[0], target)

        return sig, codegen

    return cast


f32_as_i32 = _bitcast(types.float32, types.int32, 32)
i32_as_f32 = _bitcast(types.int32, types.float32, 32)
f64_as_i64 = _bitcast(types.float64, types.int64, 64)
i64_as_f64 = _bitcast(types.int64, types.float64, 64)


def _unsigned_to_float(dst):
    @intrinsic
    def convert(typingctx, x):
        if x != types.int32:
            return None

        def codegen(context, builder, signature, args):
            return builder.uitofp(args[0], ir.FloatType() if dst == types.float32
                                  else ir.DoubleType())

        return dst(types.int32), codegen

    return convert


# the bits of an int32 read as an unsigned integer, converted to a float (rounded to nearest
# even, as IEEE conversion is): one vcvtudq2ps / vcvtudq2pd with AVX-512, an exact sequence
# of a few instructions that LLVM writes on AVX2, cvt.rn on CUDA
u32_to_f32 = _unsigned_to_float(types.float32)
u32_to_f64 = _unsigned_to_float(types.float64)


@intrinsic
def floor_f(typingctx, x):
    """floor of a float32/float64 as the LLVM ``llvm.floor`` intrinsic: what ``np.floor``
    lowers to on the CPU, and also lowerable by the CUDA target (whose ufunc table has no
    ``np.floor``)."""
    if x not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.floor", [args[0].type])
        return builder.call(fn, args)

    return x(x), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (IEEE fused multiply-add, LLVM ``llvm.fma``).

    Written out where the polynomials want it, so that every machine, vector width and
    compiler (CPU or CUDA) gets the same bits; the compiler is never left to decide.
    """
    if not (a == b == c and isinstance(a, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


def _has_avx512(context):
    """True when ``context`` compiles for a CPU with the AVX-512 F/VL/BW/DQ subsets."""
    from numba.core.cpu import CPUContext
    if not isinstance(context, CPUContext):
        return False
    features = set(getattr(context.codegen(), "_tm_features", "").split(","))
    return {"+avx512f", "+avx512vl", "+avx512bw", "+avx512dq"} <= features


@intrinsic
def wide_vectors(typingctx):
    """Mark the calling function to be vectorized with 512-bit registers where the CPU has
    AVX-512 (a no-op elsewhere, and on the CUDA target).

    LLVM vectorizes with 256-bit registers on every AVX-512 CPU by default (its
    ``prefer-256-bit`` tuning); the polynomial loops here run about 1.4x faster with 512.
    The LLVM function attributes ``prefer-vector-width`` and ``min-legal-vector-width`` change
    that for the marked function alone, so no other Numba code in the process is affected.
    The bits do not change: every operation is lane-wise with explicit ``fma``
    (tests/test_arrays.py compares against an AVX2 build). Called by the functions below
    that the hot loops inline; the decision is made when Numba compiles, from the features
    it compiles for (which also key its cache).
    """
    def codegen(context, builder, signature, args):
        if _has_avx512(context):
            # llvmlite knows only keyword attributes: string attributes go in as raw items
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
            set.add(builder.function.attributes, '"min-legal-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


# ----------------------------------------------------------------------------------------
# Philox4x32-10. 32-bit words are carried in uint64 and masked, so that Numba's integer
# promotion never changes the arithmetic.

_U = np.uint64
MASK32 = _U(0xFFFFFFFF)
SH32 = _U(32)
SH31 = _U(31)
MASK31 = _U(0x7FFFFFFF)
SH63 = _U(63)
ONE = _U(1)
ZERO = _U(0)
PHILOX_M0 = _U(0xD2511F53)
PHILOX_M1 = _U(0xCD9E8D57)
PHILOX_W0 = _U(0x9E3779B9)
PHILOX_W1 = _U(0xBB67AE85)


@_jit
def philox_block(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); all uint64 < 2**32, and so are
    the four words returned.

    Between rounds the words keep garbage above bit 31 instead of being masked: each word
    only reaches a product through ``c & MASK32`` (which LLVM folds into the 32x32->64
    multiply, ``vpmuludq``) or an xor whose result does the same, so the low 32 bits are
    Philox's. That saves two ands per round; the words are masked once, at the end."""
    wide_vectors()
    for _ in range(10):
        p0 = PHILOX_M0 * (c0 & MASK32)
        p1 = PHILOX_M1 * (c2 & MASK32)
        c0, c1, c2, c3 = (p1 >> SH32) ^ c1 ^ k0, p1, (p0 >> SH32) ^ c3 ^ k1, p0
        k0 = (k0 + PHILOX_W0) & MASK32
        k1 = (k1 + PHILOX_W1) & MASK32
    return c0 & MASK32, c1 & MASK32, c2 & MASK32, c3 & MASK32


# ----------------------------------------------------------------------------------------
# Polynomial log and exp.

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


@_jit
def _log_reduce_f32(x):
    """(e, f) with x = 2**e (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1) exact, for a positive
    normal float32, by integer arithmetic alone: the bits are offset so that the exponent
    field steps at sqrt(1/2) instead of 1. (int32 throughout: np.int32 casts, as Numba
    widens int32 arithmetic to int64, which would give the exponent 64-bit vector lanes.)"""
    ix = np.int32(f32_as_i32(x) - _I32_SQRTH)
    e = np.int32(ix >> np.int32(23))
    f = i32_as_f32(np.int32(np.int32(ix & _I32_MANT) + _I32_SQRTH)) - _ONE_F32   # exact
    return e, f


@_jit
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


@_jit
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


@_jit
def _log_reduce_f64(x):
    """(k, f) with x = 2**k (1 + f), f in (sqrt(1/2) - 1, sqrt(2) - 1] exact, k as a float64."""
    bits = f64_as_i64(x)
    k = (bits >> np.int64(52)) - np.int64(1023)
    m = i64_as_f64((bits & _I64_MANT) | _I64_ONE)  # in [1, 2)
    big = m > _SQRT2
    m = m * _D(0.5) if big else m
    k = k + np.int64(1) if big else k
    return _D(np.int32(k)), m - _D(1.0)


@_jit
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


@_jit
def log_f64(x):
    """Natural log of a positive, normal, finite float64 (fdlibm-style, s = f/(2+f))."""
    dk, f = _log_reduce_f64(x)
    return log_kf_f64(dk, f)


_LOG2E_F32 = _F(1.44269504088896341)
_EXP_LO_F32 = _F(-87.33654)   # below: result flushed to 0 (2**-126 is the smallest normal)
_EXP_HI_F32 = _F(88.72283)    # above: +inf
EP0, EP1, EP2, EP3, EP4, EP5 = (_F(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                               4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))


@_jit
def _exp_f32_core(xc):
    """(n, p) with exp(xc) = p 2**n, p in [sqrt(1/2), sqrt(2)], for xc already clamped to
    [-87.34, 88.72] (Cephes-style: xc = n ln2 + r, p = exp(r) by a polynomial)."""
    n = floor_f(xc * _LOG2E_F32 + _HALF_F32)
    r = fma(-n, _LN2_HI_F32, xc)
    r = fma(-n, _LN2_LO_F32, r)
    p = fma(fma(fma(fma(fma(EP0, r, EP1), r, EP2), r, EP3), r, EP4), r, EP5)
    return n, fma(p, r * r, r) + _ONE_F32


@_jit
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


@_jit
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


@_jit
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


@_jit
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


@_jit
def exp_nonpos_f64(x):
    """exp_f64 for x <= 128 or -inf (``x - (max - 64)`` at tau == 1 rounds up to 128): the
    same bits there (see :func:`exp_nonpos_f32`)."""
    wide_vectors()
    n, e = _exp_f64_core(_EXP_LO if x < _EXP_LO else x)
    y = e * i64_as_f64((np.int64(np.int32(n)) + np.int64(1023)) << np.int64(52))
    return _D(0.0) if x < _EXP_LO else y


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


# ----------------------------------------------------------------------------------------
# Bits -> uniform -> Gumbel (stream spec v1, docs/rng.md).
#
# A w-bit word W is folded to its "distance from the nearer end": s = top bit of W,
# M = W if s == 0 else ~W (so M < 2**(w-1)), and t = RN((2M + 1) * 2**-(w+1)), a number in
# (0, 1/2) with full relative precision. The uniform is U = t (s = 0) or 1 - t (s = 1).
# The Gumbel variate is g = -log(E) with E = -log(U), computed as E = -log(t) when s = 0 and
# E = -log1p(-t) when s = 1, so both tails keep relative precision:
#   w = 32: g in [-3.13, 22.87];  w = 64: g in [-3.8, 45.06].

_TWO_M33 = _D(2.0 ** -33)  # noqa: E305
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


@_jit
def _fold32(w):
    """(s, t) of one 32-bit word: s = top bit, t = RN32((2M + 1) * 2**-33)."""
    wi = _I(w)
    s = wi < _I(0)
    m = ~wi if s else wi                                   # < 2**31
    # 2m + 1 < 2**32 as an unsigned int32, converted once (rounded); the scaling is exact
    return s, u32_to_f32(_I(_I(m << _I(1)) | _I(1))) * _TWO_M33_F32


@_jit
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

@_jit
def _log_u_f32(s, t):
    e0, f0 = _log_reduce_f32(t)
    big = t > _SPLIT_F32
    e1 = _I(-1) if big else _I(0)
    f1 = fma(_F(-2.0) if big else _F(-1.0), t, _ONE_F32 if big else _F(0.0))
    return log_ef_f32(e1 if s else e0, f1 if s else f0)


@_jit
def _log_u_f64(s, t):
    k0, f0 = _log_reduce_f64(t)
    big = t > _SPLIT_F64
    k1 = _D(-1.0) if big else _D(0.0)
    f1 = fma(_D(-2.0) if big else _D(-1.0), t, _D(1.0) if big else _D(0.0))
    return log_kf_f64(k1 if s else k0, f1 if s else f0)


@_jit
def exponential_bits32(w):
    """E = -log(U), the standard exponential float32 of one 32-bit word: the E of
    ``gumbel_bits32`` (g = -log(E)), in [2**-33, 22.87], never 0."""
    s, t = _fold32(w)
    return -_log_u_f32(s, t)


@_jit
def exponential_bits64(lo, hi):
    """E = -log(U), the standard exponential float64 of the 64-bit word hi:lo: the E of
    ``gumbel_bits64``, in [2**-65, 45.06], never 0."""
    s, t = _fold64(lo, hi)
    return -_log_u_f64(s, t)


@_jit
def gumbel_bits32(w):
    """Standard Gumbel float32 from one 32-bit word."""
    return -log_f32(exponential_bits32(w))


@_jit
def gumbel_bits64(lo, hi):
    """Standard Gumbel float64 from the 64-bit word hi:lo (two 32-bit words)."""
    return -log_f64(exponential_bits64(lo, hi))


@_jit
def uniform_bits32(w):
    """Uniform float32 in the open interval (0, 1) from one 32-bit word."""
    wide_vectors()
    s, t = _fold32(w)
    hi = _ONE_F32 - t
    hi = _ONE_MINUS_ULP_F32 if hi > _ONE_MINUS_ULP_F32 else hi
    return hi if s else t


@_jit
def uniform_bits64(lo, hi):
    """Uniform float64 in the open interval (0, 1) from the 64-bit word hi:lo."""
    wide_vectors()
    s, t = _fold64(lo, hi)
    hi = _D(1.0) - t
    hi = _ONE_MINUS_ULP_F64 if hi > _ONE_MINUS_ULP_F64 else hi
    return hi if s else t
