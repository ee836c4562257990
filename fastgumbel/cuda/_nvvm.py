"""NVVM-level pieces of the CUDA kernels, written as LLVM IR: Philox4x32-10 on 32-bit words,
and ``lg2.approx.ftz`` (one MUFU; :func:`lg2_approx`).

The CPU's :func:`fastgumbel._scalar.philox_block32` keeps the words in uint64 values masked
to 32 bits; LLVM folds those masks into ``and`` + 64-bit ``mul`` that NVVM does not turn
back into ``mul.wide.u32``: ptxas then spends an extra add per product on the known-zero
high word (two per round). Here every word is an ``i32`` and each product a
``mul(zext, zext)``, which NVVM emits as one ``mul.wide.u32`` (one ``IMAD.WIDE.U32``): a
round is two wide multiplies and two 3-input xors; the round keys do not depend on the
counter, so the compiler computes them once per thread (uniform registers).

The same rounds, so the same bits, as the CPU (checked on the CPU target by
tests/cuda/test_nvvm.py). The CUDA simulator cannot run an intrinsic: there the kernels
call :func:`fastgumbel._scalar.philox_block32` (``SIM``).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import config, cuda, types
from numba.extending import intrinsic

from .._scalar import exp_nonpos_f32, fma, philox_block32
from .._scalar._bits import PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1

SIM = bool(config.ENABLE_CUDASIM)


@intrinsic
def philox10(typingctx, c0, c1, c2, c3, k0, k1):
    """(w0, w1, w2, w3) uint32: Philox4x32-10 of counter (c0..c3) under key (k0, k1), each
    a uint64 < 2**32 (its low 32 bits are read)."""
    if not all(a == types.uint64 for a in (c0, c1, c2, c3, k0, k1)):
        return None
    ret = types.UniTuple(types.uint32, 4)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        c = [builder.trunc(a, i32) for a in args[:4]]
        k0_, k1_ = (builder.trunc(a, i32) for a in args[4:])
        m0, m1 = ir.Constant(i32, int(PHILOX_M0)), ir.Constant(i32, int(PHILOX_M1))
        w0, w1 = ir.Constant(i32, int(PHILOX_W0)), ir.Constant(i32, int(PHILOX_W1))
        wide = _wide_mul(context, builder)
        for _ in range(10):
            (h0, l0), (h1, l1) = wide(c[0], m0), wide(c[2], m1)
            c = [builder.xor(builder.xor(h1, c[1]), k0_), l1,
                 builder.xor(builder.xor(h0, c[3]), k1_), l0]
            k0_ = builder.add(k0_, w0)
            k1_ = builder.add(k1_, w1)
        return context.make_tuple(builder, ret, c)

    return ret(c0, c1, c2, c3, k0, k1), codegen


def _wide_mul(context, builder):
    """``mul(a, b) -> (hi, lo)``: the halves of the 64-bit product of an i32 ``a`` and an i32
    constant ``b``; on the CUDA target ``mul.hi.u32`` (NVVM's ``mulhi.ui``) and ``mul.lo.u32``,
    which ptxas fuses into one ``IMAD.WIDE.U32`` (NVVM widens a ``mul(zext, zext)`` of our
    i32 words back to a 64-bit ``mul.lo``, which ptxas expands), elsewhere the LLVM
    multiply (the CPU check of the rounds)."""
    i32, i64 = ir.IntType(32), ir.IntType(64)
    if type(context).__name__.startswith("CUDA"):
        mod = builder.module
        fn = mod.globals.get("llvm.nvvm.mulhi.ui")
        if fn is None:
            fn = ir.Function(mod, ir.FunctionType(i32, [i32, i32]), "llvm.nvvm.mulhi.ui")
        return lambda a, b: (builder.call(fn, [a, b]), builder.mul(a, b))

    def mul(a, b):
        p = builder.mul(builder.zext(a, i64), builder.zext(b, i64), flags=["nuw"])
        return builder.trunc(builder.lshr(p, ir.Constant(i64, 32)), i32), builder.trunc(p, i32)
    return mul


#: The Philox block of the kernels (the intrinsic on a GPU, the CPU function in the simulator).
philox_block = philox_block32 if SIM else philox10


def _nvvm_f32(builder, name, vals):
    """A call of the float32 NVVM intrinsic ``name`` on the float32 values ``vals``."""
    f32 = ir.FloatType()
    fn = builder.module.globals.get(name)
    if fn is None:
        fn = ir.Function(builder.module, ir.FunctionType(f32, [f32] * len(vals)), name)
    return builder.call(fn, vals)


@intrinsic
def _lg2_ftz(typingctx, v):
    """``lg2.approx.ftz.f32``: one MUFU.LG2 (libdevice's fast_log2f is the non-ftz form,
    which adds a test, a scale and an add for subnormal inputs)."""
    if v != types.float32:
        return None
    return types.float32(v), lambda ctx, b, sig, args: _nvvm_f32(
        b, "llvm.nvvm.lg2.approx.ftz.f", args)


@intrinsic
def _div_ftz(typingctx, a, d):
    """``div.approx.ftz.f32``: MUFU.RCP and a multiply (2 ulp, divisors in [2**-126,
    2**126])."""
    if a != types.float32 or d != types.float32:
        return None
    return types.float32(a, d), lambda ctx, b, sig, args: _nvvm_f32(
        b, "llvm.nvvm.div.approx.ftz.f", args)


@intrinsic
def _fmax(typingctx, a, b):
    """``max.f32`` / ``max.f64`` (NVVM's ``fmax``: one FMNMX; a NaN operand is ignored,
    NaN only when both are)."""
    if a != b or a not in (types.float32, types.float64):
        return None
    name = "llvm.nvvm.fmax.f" if a == types.float32 else "llvm.nvvm.fmax.d"

    def codegen(ctx, builder, sig, args):
        ft = ir.FloatType() if a == types.float32 else ir.DoubleType()
        fn = builder.module.globals.get(name)
        if fn is None:
            fn = ir.Function(builder.module, ir.FunctionType(ft, [ft, ft]), name)
        return builder.call(fn, args)
    return a(a, b), codegen


@intrinsic
def _ex2_ftz(typingctx, v):
    """``ex2.approx.ftz.f32``: one MUFU.EX2 (2 ulp; results under 2**-126 flush to 0)."""
    if v != types.float32:
        return None
    return types.float32(v), lambda ctx, b, sig, args: _nvvm_f32(
        b, "llvm.nvvm.ex2.approx.ftz.f", args)


_LOG2E = np.float32(1.4426950408889634)
_LOG2E_LO = np.float32(float.fromhex("0x1.4ae0cp-26"))
_LN2 = np.float32(0.6931471805599453)
_LOW = np.float32(-104.0)


if SIM:      # the simulator cannot run an intrinsic: exact log2 and division
    @cuda.jit(device=True)
    def fmax(a, b):
        """The larger of a and b, a NaN operand ignored (NaN when both are)."""
        return b if (b > a or a != a) else a

    @cuda.jit(device=True)
    def lg2_approx(v):
        """log2 of a positive normal float32 (exact here; on a GPU one lg2.approx.ftz)."""
        return np.float32(math.log2(v))

    @cuda.jit(device=True)
    def div_approx(a, b):
        """a / b for float32 (exact here; on a GPU div.approx.ftz, 2 ulp)."""
        return np.float32(a / b)
    exp_approx = exp_nonpos_f32
else:
    @cuda.jit(device=True)
    def fmax(a, b):
        """The larger of a and b, a NaN operand ignored (NaN when both are): one FMNMX."""
        return _fmax(a, b)

    @cuda.jit(device=True)
    def exp_approx(v):
        """exp(v) for float32 v <= 64 or -inf within 3 ulp (0 below -87.34, as the CPU's
        exp; NaN for NaN): a = RN(v log2 e), the product's rounding and the low part of
        log2 e by two FMAs (e = v log2 e - a to 2**-40), exp(v) = 2**a (MUFU.EX2)
        (1 + e ln 2)."""
        vc = _LOW if v < _LOW else v     # -inf: finite a and e; 2**a flushes to 0
        a = vc * _LOG2E
        e = fma(vc, _LOG2E_LO, fma(vc, _LOG2E, -a))
        y = _ex2_ftz(a)
        return fma(y, e * _LN2, y)

    @cuda.jit(device=True)
    def lg2_approx(v):
        """log2 of a positive normal float32 by one ``lg2.approx.ftz.f32``: absolute error
        2**-22 on [0.5, 2], else 2 ulp."""
        return _lg2_ftz(np.float32(v))

    @cuda.jit(device=True)
    def div_approx(a, b):
        """a / b for float32 by ``div.approx.ftz.f32`` (MUFU.RCP and a multiply): within 2
        ulp for a normal divisor under 2**126; subnormal results flush to 0."""
        return _div_ftz(np.float32(a), np.float32(b))
