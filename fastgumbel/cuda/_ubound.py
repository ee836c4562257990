"""Pieces of the float32 / 32-bit-word Gumbel-max search and noise fill (issue 20): Philox
with its round keys computed once per thread, and the one-MUFU upper bound of x + g.

Round keys: :func:`round_keys` gives the 20 words ``k0 + i W0``, ``k1 + i W1`` (i < 10) and
:func:`philox_rk` runs the rounds on them. Computed once where a kernel starts, they
dominate every group of the thread, so the adds are not repeated per group (NVVM cannot
merge the adds of :func:`._nvvm.philox10` across groups that sit under different tests,
and ptxas then recomputed them per group: 18 uniform adds per Philox block). Same rounds,
same bits as :func:`fastgumbel._scalar.philox_block32` (tests/cuda/test_nvvm.py).

The bound (:func:`ubound`): for a 32-bit word ``w`` with top bit s and folded t
(``_fold32``: U = t for s = 0, U = 1 - t for s = 1; E = -log U, g = -log E):

- s = 0: U = t < 1/2, so E > log 2 and g < -log(log 2) = 0.366513;
- s = 1: E = -log(1 - t) > t, so g < -log t.

The signed word gives t for s = 1 directly: ``fma(float(int32(w)), -2**-32, -2**-33)`` is
(2M + 1) 2**-33 with M = ~w (rounded: the int -> float conversion and the FMA, 2**-23
relative), and is negative for s = 0, where ``lg2.approx`` gives NaN and ``min.f32`` keeps
the other operand: ``u = x - ln2 min(lg2(t), -0.36652 / ln2)``, one MUFU and no branch.
Against the CPU's rounded g (E and g each within an ulp or two): u >= x + g - err with
err <= 2**-17 + |x + g| 2**-23 (lg2.approx, relative error 2**-22 below 1/2 where
|lg2 t| <= 33: 5.5e-6 nats, the largest part; t's rounding 2**-22 relative: 2.4e-7 nats;
g's rounding at |g| <= 23: 2**-19... within the 2**-17 with the rest; the FMA's rounding
|u| 2**-24), which the search's band covers with room (:data:`UBOUND_BAND` = 2**-12, 32
times, and ``|L| BOUND_REL``; checked by an emulation with the MUFU's worst error in
tests/cuda/test_nvvm.py). For x = NaN / +inf / -inf, u is NaN / +inf / -inf.

In the CUDA simulator (no intrinsics) the same formulas run on Python floats: ``philox_rk``
is ``philox_block32`` of (k0, k1), ``ubound`` uses an exact log2.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import cuda, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._scalar import fma, philox_block32
from .._scalar._bits import PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1
from ._nvvm import SIM, _lg2_ftz, _nvvm_f32, _wide_mul

#: The band of the search with :func:`ubound` (nats): 2**-12, against an error of at most
#: 2**-17 + |x + g| 2**-23 (the relative part is covered by the search's ``|L| BOUND_REL``).
UBOUND_BAND = 2.0 ** -12
#: Above -log(log 2) = 0.3665129: the bound of g for s = 0.
_GMAX = np.float32(0.36652)
#: lg2 of the t whose -log is _GMAX: u = x - ln2 min(lg2 t, _LGMAX) (-ln2 _LGMAX >= 0.366513)
_LGMAX = np.float32(-0.36652 / 0.6931471805599453)
_NLN2 = np.float32(-0.6931471805599453)
_M32 = np.float32(-2.0 ** -32)
_M33 = np.float32(-2.0 ** -33)


def _pinned(context, builder):
    """``pin(v)``: an i32 computed where it stands: on the CUDA target through a volatile
    ``mov.b32`` (NVVM's rematerialization would otherwise move the round-key adds back into
    the loops that use them: 18 adds per Philox block again); elsewhere ``v``."""
    if not type(context).__name__.startswith("CUDA"):
        return lambda v: v
    i32 = ir.IntType(32)
    ty = ir.FunctionType(i32, [i32])
    return lambda v: builder.asm(ty, "mov.b32 $0, $1;", "=r,r", [v], True)


@intrinsic
def _round_keys(typingctx, k0, k1):
    """(a0, b0, a1, b1, ..., a9, b9) uint32: ai = k0 + i W0, bi = k1 + i W1 (mod 2**32)."""
    if not all(a in (types.uint64, types.uint32) for a in (k0, k1)):
        return None
    ret = types.UniTuple(types.uint32, 20)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        a, b = (builder.trunc(v, i32) if v.type.width > 32 else v for v in args)
        out = []
        pin = _pinned(context, builder)
        for _ in range(10):
            out += [pin(a), pin(b)]
            a = builder.add(a, ir.Constant(i32, int(PHILOX_W0)))
            b = builder.add(b, ir.Constant(i32, int(PHILOX_W1)))
        return context.make_tuple(builder, ret, out)

    return ret(k0, k1), codegen


@intrinsic
def _philox_rk(typingctx, c0, c1, c2, c3, rk):
    """(w0, w1, w2, w3) uint32: Philox4x32-10 of counter (c0..c3) (uint64 or uint32, low 32
    bits read) under the round keys ``rk`` of :func:`_round_keys`."""
    if not all(a in (types.uint64, types.uint32) for a in (c0, c1, c2, c3)):
        return None
    if rk != types.UniTuple(types.uint32, 20):
        return None
    ret = types.UniTuple(types.uint32, 4)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        c = [builder.trunc(a, i32) if a.type.width > 32 else a for a in args[:4]]
        keys = [builder.extract_value(args[4], i) for i in range(20)]
        m0, m1 = ir.Constant(i32, int(PHILOX_M0)), ir.Constant(i32, int(PHILOX_M1))
        wide = _wide_mul(context, builder)
        for i in range(10):
            (h0, l0), (h1, l1) = wide(c[0], m0), wide(c[2], m1)
            c = [builder.xor(builder.xor(h1, c[1]), keys[2 * i]), l1,
                 builder.xor(builder.xor(h0, c[3]), keys[2 * i + 1]), l0]
        return context.make_tuple(builder, ret, c)

    return ret(c0, c1, c2, c3, rk), codegen


@intrinsic
def _fmin(typingctx, a, b):
    """``min.f32`` (one FMNMX): the smaller of two float32, the other operand where one is
    NaN (NaN only when both are)."""
    if a != types.float32 or b != types.float32:
        return None
    return types.float32(a, b), lambda ctx, bld, sig, args: _nvvm_f32(
        bld, "llvm.nvvm.fmin.f", args)


if SIM:
    @cuda.jit(device=True)
    def round_keys(k0, k1):
        """The key as the simulator's Philox takes it."""
        return k0, k1

    @cuda.jit(device=True)
    def philox_rk(c0, c1, c2, c3, rk):
        """Philox4x32-10 of (c0..c3) under the key of :func:`round_keys`."""
        w0, w1, w2, w3 = philox_block32(np.uint64(c0), np.uint64(c1), np.uint64(c2),
                                        np.uint64(c3), rk[0], rk[1])
        return np.uint32(w0), np.uint32(w1), np.uint32(w2), np.uint32(w3)

    @cuda.jit(device=True)
    def ubound(x, w):
        """u >= x + g of the word ``w`` (module docstring), with an exact log2."""
        tw = np.float32(np.int32(w))
        t = np.float32(float(tw) * float(_M32) + float(_M33))
        c = np.float32(x + _GMAX)
        if t > 0:
            a = np.float32(float(_NLN2) * math.log2(t) + float(x))
            return a if a > c else c
        return c
else:
    round_keys = _round_keys
    philox_rk = _philox_rk

    @cuda.jit(device=True)
    def ubound(x, w):
        """u >= x + g of the word ``w`` (module docstring): one MUFU.LG2, no branch."""
        t = fma(np.float32(np.int32(w)), _M32, _M33)
        return fma(_NLN2, _fmin(_lg2_ftz(t), _LGMAX), x)


def _matrix(ary):
    return isinstance(ary, types.Array) and ary.ndim == 2 and ary.layout == "C"


@intrinsic
def _aligned_rows(typingctx, ary):
    """True when ``ary`` is a float32 matrix whose rows all start on 16 bytes (other dtypes:
    False, so :func:`_load4` is never reached for them)."""
    if not _matrix(ary):
        return None

    def codegen(context, builder, sig, args):
        if sig.args[0].dtype != types.float32:
            return ir.Constant(ir.IntType(1), 0)
        a = context.make_array(sig.args[0])(context, builder, args[0])
        i64 = ir.IntType(64)
        p = builder.ptrtoint(a.data, i64)
        st0 = cgutils.unpack_tuple(builder, a.strides)[0]
        low = builder.and_(builder.or_(p, builder.zext(st0, i64) if st0.type.width < 64
                                       else st0), ir.Constant(i64, 15))
        return builder.icmp_unsigned("==", low, ir.Constant(i64, 0))
    return types.boolean(ary), codegen


@intrinsic
def _load4(typingctx, ary, r, c):
    """Columns c .. c+3 of row r of an aligned float32 matrix (c a multiple of 4) by one
    128-bit load; no bounds or wraparound code (other dtypes: zeros, never reached)."""
    if not _matrix(ary) or not all(isinstance(v, types.Integer) for v in (r, c)):
        return None
    ret = types.UniTuple(types.float32, 4)

    def codegen(context, builder, sig, args):
        aty = sig.args[0]
        if aty.dtype != types.float32:    # not reached (_aligned_rows is False)
            zero = ir.Constant(ir.FloatType(), 0.0)
            return context.make_tuple(builder, ret, [zero] * 4)
        a = context.make_array(aty)(context, builder, args[0])
        inds = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:])]
        ptr = cgutils.get_item_pointer2(context, builder, a.data,
                                        cgutils.unpack_tuple(builder, a.shape),
                                        cgutils.unpack_tuple(builder, a.strides), aty.layout,
                                        inds, wraparound=False)
        vec = ir.VectorType(ir.FloatType(), 4)
        v = builder.load(builder.bitcast(ptr, vec.as_pointer()), align=16)
        return context.make_tuple(builder, ret, [builder.extract_element(
            v, ir.Constant(ir.IntType(32), i)) for i in range(4)])
    return ret(ary, r, c), codegen


@intrinsic
def _store4(typingctx, ary, r, c, v0, v1, v2, v3):
    """Columns c .. c+3 of row r of an aligned float32 matrix (c a multiple of 4) = the
    float32 values, by one 128-bit store (other dtypes: nothing, never reached)."""
    if not _matrix(ary) or not all(isinstance(v, types.Integer) for v in (r, c)):
        return None
    if not all(v == types.float32 for v in (v0, v1, v2, v3)):
        return None

    def codegen(context, builder, sig, args):
        aty = sig.args[0]
        if aty.dtype != types.float32:    # not reached (_aligned_rows is False)
            return context.get_dummy_value()
        a = context.make_array(aty)(context, builder, args[0])
        inds = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:3], sig.args[1:3])]
        ptr = cgutils.get_item_pointer2(context, builder, a.data,
                                        cgutils.unpack_tuple(builder, a.shape),
                                        cgutils.unpack_tuple(builder, a.strides), aty.layout,
                                        inds, wraparound=False)
        vec = ir.VectorType(ir.FloatType(), 4)
        v = ir.Constant(vec, ir.Undefined)
        for i, e in enumerate(args[3:]):
            v = builder.insert_element(v, e, ir.Constant(ir.IntType(32), i))
        builder.store(v, builder.bitcast(ptr, vec.as_pointer()), align=16)
        return context.get_dummy_value()
    return types.none(ary, r, c, v0, v1, v2, v3), codegen


if SIM:
    @cuda.jit(device=True)
    def aligned_rows(x):
        """True when 128-bit loads may read the rows of ``x`` (the simulator: never)."""
        return False

    load4 = store4 = None
else:
    aligned_rows = _aligned_rows
    load4 = _load4
    store4 = _store4
