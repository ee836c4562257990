"""Bit-level building blocks of the scalar math: LLVM intrinsics (bit casts, unsigned
conversions, floor, fused multiply-add, the AVX-512 vector-width mark) and one Philox4x32-10
block."""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._numba import inline_always

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


@inline_always
def order_key_f32(v):
    """The int32 that orders like the float32 ``v`` (-inf < ... < -0 < 0 < ... < +inf)."""
    b = f32_as_i32(v)
    return np.int32(b ^ ((b >> np.int32(31)) & np.int32(0x7FFFFFFF)))


@inline_always
def order_key_f64(v):
    """The int64 that orders like the float64 ``v``."""
    b = f64_as_i64(v)
    return b ^ ((b >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))


# ----------------------------------------------------------------------------------------
# bfloat16 (the GPU kernels take bfloat16 arrays as uint16 views: no bfloat16 dtype there)


@inline_always
def bf16_to_f32(h):
    """The float32 value of the bfloat16 whose bits are the uint16 ``h`` (exact)."""
    return i32_as_f32(np.int32(np.int32(h) << np.int32(16)))


@inline_always
def f32_to_bf16(v):
    """The bits (uint16) of float32 ``v`` rounded to bfloat16, to nearest even; infinities
    kept, a NaN stays a (quiet) NaN of the same sign."""
    u = np.uint32(f32_as_i32(v))
    r = np.uint32((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
                  >> np.uint32(16))
    return np.uint16((u >> np.uint32(16)) | np.uint32(0x40)) if v != v else np.uint16(r)


# ----------------------------------------------------------------------------------------
# Philox4x32-10. 32-bit words are carried in uint64 and masked, so that Numba's integer
# promotion never changes the arithmetic.

_U = np.uint64
MASK32 = _U(0xFFFFFFFF)
SH32 = _U(32)
PHILOX_M0 = _U(0xD2511F53)
PHILOX_M1 = _U(0xCD9E8D57)
PHILOX_W0 = _U(0x9E3779B9)
PHILOX_W1 = _U(0xBB67AE85)
_ALL = _U(0xFFFFFFFFFFFFFFFF)


@intrinsic
def mul32_wide(typingctx, a, b):
    """The 64-bit product of the low 32 bits of two uint64 values (``(a & MASK32) * (b &
    MASK32)``), written as LLVM's 32x32->64 multiply (``zext(trunc a) * zext(trunc b)``):
    ``vpmuludq`` on x86 as before, and one ``mul.wide.u32`` on CUDA, where NVVM does not see
    through the masks and emits a 64-bit multiply (several SASS instructions)."""
    if not (a == b == types.uint64):
        return None

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        lo = [builder.zext(builder.trunc(v, i32), i64) for v in args]
        return builder.mul(lo[0], lo[1], flags=["nuw"])

    return types.uint64(types.uint64, types.uint64), codegen


@inline_always
def _philox_rounds(c0, c1, c2, c3, k0, k1, keep):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); ``keep`` masks the words between
    rounds (all ones: no mask, see :func:`philox_block`)."""
    for _ in range(10):
        p0 = mul32_wide(PHILOX_M0, c0)
        p1 = mul32_wide(PHILOX_M1, c2)
        c0, c2 = ((p1 >> SH32) ^ c1 ^ k0) & keep, ((p0 >> SH32) ^ c3 ^ k1) & keep
        c1, c3 = p1 & keep, p0 & keep
        k0 = (k0 + PHILOX_W0) & MASK32
        k1 = (k1 + PHILOX_W1) & MASK32
    return c0 & MASK32, c1 & MASK32, c2 & MASK32, c3 & MASK32


@inline_always
def philox_block(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); all uint64 < 2**32, and so are
    the four words returned.

    Between rounds the words keep garbage above bit 31 instead of being masked: each word
    only reaches a product through :func:`mul32_wide`, which reads its low 32 bits (the
    32x32->64 multiply: ``vpmuludq``), or an xor whose result does the same, so the low 32
    bits are Philox's. That saves two ands per round on x86; the words are masked once, at
    the end. (The CUDA kernels call :func:`philox_block32`: the same rounds.)"""
    wide_vectors()
    return _philox_rounds(c0, c1, c2, c3, k0, k1, _ALL)


@inline_always
def philox_block32(c0, c1, c2, c3, k0, k1):
    """:func:`philox_block` with every word masked to 32 bits between rounds, the form for
    CUDA: NVVM then keeps each word in one 32-bit register (``mul.wide.u32`` and a 3-input
    xor per word), where the unmasked garbage costs 64-bit xors and adds."""
    return _philox_rounds(c0, c1, c2, c3, k0, k1, MASK32)

