"""Device-function pieces of the kernels, built per compute dtype ``nt`` (numpy.float32 or
numpy.float64): Philox group generation, the Gumbel perturbation of a group of 4 columns,
the online-softmax fold, the argmax fold and the softmax output of pass 2.

Each thread owns groups of 4 consecutive columns (one Philox block in 32-bit mode, two in
64-bit mode): the random bits live in registers and are never stored. The scalar math is
not copied: the pieces call the ``@njit`` functions of :mod:`fastgumbel._scalar`, which
Numba CUDA compiles as device functions.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numba import cuda

from .._scalar import (MASK32, SH32, exp_f32, exp_f64, gumbel_bits32, gumbel_bits64, log_f32,
                       log_f64, philox_block, uniform_bits32, uniform_bits64)

_U = np.uint64
#: Softmax output modes (the ``mode`` argument of ``softmax_rows``).
SOFT, LOG, HARD = 0, 1, 2


def constants(nt):
    """The dtype's math functions and special values, as ``nt`` scalars (Numba freezes them
    into the device functions that close over them)."""
    f32 = nt is np.float32
    return SimpleNamespace(exp=exp_f32 if f32 else exp_f64, log=log_f32 if f32 else log_f64,
                           tiny=nt(np.finfo(nt).tiny), ninf=nt(-np.inf), pinf=nt(np.inf),
                           zero=nt(0.0), one=nt(1.0))


def noise_group(nt):
    """Device function ``g4(k0, k1, stream, row, q, bits64, uniform)``: the noise of columns
    4q .. 4q+3 of ``row`` (standard Gumbel, or uniform), as ``nt``."""
    @cuda.jit(device=True)
    def g4(k0, k1, stream, row, q, bits64, uniform):
        rlo = row & MASK32
        rhi = row >> SH32
        if bits64:
            a0, a1, a2, a3 = philox_block(_U(2 * q), stream, rlo, rhi, k0, k1)
            b0, b1, b2, b3 = philox_block(_U(2 * q + 1), stream, rlo, rhi, k0, k1)
            if uniform:
                return (nt(uniform_bits64(np.uint32(a0), np.uint32(a1))),
                        nt(uniform_bits64(np.uint32(a2), np.uint32(a3))),
                        nt(uniform_bits64(np.uint32(b0), np.uint32(b1))),
                        nt(uniform_bits64(np.uint32(b2), np.uint32(b3))))
            return (nt(gumbel_bits64(np.uint32(a0), np.uint32(a1))),
                    nt(gumbel_bits64(np.uint32(a2), np.uint32(a3))),
                    nt(gumbel_bits64(np.uint32(b0), np.uint32(b1))),
                    nt(gumbel_bits64(np.uint32(b2), np.uint32(b3))))
        a0, a1, a2, a3 = philox_block(_U(q), stream, rlo, rhi, k0, k1)
        if uniform:
            return (nt(uniform_bits32(np.uint32(a0))), nt(uniform_bits32(np.uint32(a1))),
                    nt(uniform_bits32(np.uint32(a2))), nt(uniform_bits32(np.uint32(a3))))
        return (nt(gumbel_bits32(np.uint32(a0))), nt(gumbel_bits32(np.uint32(a1))),
                nt(gumbel_bits32(np.uint32(a2))), nt(gumbel_bits32(np.uint32(a3))))
    return g4


def perturbed_group(c, g4):
    """Device function ``group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)``: x + g of
    group q (columns 4q .. 4q+3 of array row ``rr``, noise row ``row``); -inf past the row or
    when q >= nq."""
    ninf = c.ninf

    @cuda.jit(device=True)
    def group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64):
        s0 = s1 = s2 = s3 = ninf
        if q < nq:
            n0, n1, n2, n3 = g4(k0, k1, stream, row, q, bits64, False)
            col = 4 * q
            s0 = x[rr, col] + n0
            if col + 1 < K:
                s1 = x[rr, col + 1] + n1
            if col + 2 < K:
                s2 = x[rr, col + 2] + n2
            if col + 3 < K:
                s3 = x[rr, col + 3] + n3
        return s0, s1, s2, s3
    return group_s


def argmax_fold(c, group_s):
    """Device function ``fold_below(x, rr, q, nq, K, k0, k1, stream, row, bits64, v, i, nan,
    pv, pi)``: group q folded into the running (max, first index, NaN seen) of the entries
    ranked below (pv, pi): a smaller value, or the same value at a larger index (top-k's
    previous pick; (+inf, -1) admits every entry: a plain argmax). Columns past the row are
    -inf: no-ops."""
    ninf = c.ninf

    @cuda.jit(device=True)
    def below_add(s, col, v, i, nan, pv, pi):
        if s != s:
            return v, i, 1
        if s > ninf and (s < pv or (s == pv and col > pi)):
            if i < 0 or s > v:
                return s, col, nan
        return v, i, nan

    @cuda.jit(device=True)
    def fold_below(x, rr, q, nq, K, k0, k1, stream, row, bits64, v, i, nan, pv, pi):
        s0, s1, s2, s3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
        col = 4 * q
        v, i, nan = below_add(s0, col, v, i, nan, pv, pi)
        v, i, nan = below_add(s1, col + 1, v, i, nan, pv, pi)
        v, i, nan = below_add(s2, col + 2, v, i, nan, pv, pi)
        v, i, nan = below_add(s3, col + 3, v, i, nan, pv, pi)
        return v, i, nan
    return fold_below


def online_softmax(c):
    """Device functions ``(online_op, online_group)`` of the online softmax: the merge of two
    (running max m, sum of exp((s - m) / t)) pairs, for the team reduction; and the fold of
    the 4 perturbed logits of a group into a thread's (m, l, NaN seen)."""
    exp_, ninf, pinf, zero, one = c.exp, c.ninf, c.pinf, c.zero, c.one

    @cuda.jit(device=True)
    def online_op(m1, l1, m2, l2, t):
        M = m2 if m2 > m1 else m1
        if M == ninf:
            return M, zero
        if M == pinf:
            return M, one
        return M, l1 * exp_((m1 - M) / t) + l2 * exp_((m2 - M) / t)

    @cuda.jit(device=True)
    def online_add(s, m, l, nan, t):
        if s != s:
            return m, l, 1
        if s > m:
            return s, l * exp_((m - s) / t) + one, nan
        if s > ninf:
            return m, l + exp_((s - m) / t), nan
        return m, l, nan

    @cuda.jit(device=True)
    def online_group(s0, s1, s2, s3, m, l, nan, t):
        m, l, nan = online_add(s0, m, l, nan, t)
        m, l, nan = online_add(s1, m, l, nan, t)
        m, l, nan = online_add(s2, m, l, nan, t)
        m, l, nan = online_add(s3, m, l, nan, t)
        return m, l, nan
    return online_op, online_group


def softmax_output(nt, c):
    """Device function ``write_group(out, rr, q, nq, K, s0, s1, s2, s3, bad, M, mode, t, lse,
    inv, first)``: pass 2 of the softmax for group q: writes the soft / log / zero (hard)
    output of its perturbed logits and returns ``first`` lowered to the first column that
    reaches the maximum (the hard mode's pick)."""
    exp_, ninf, zero = c.exp, c.ninf, c.zero
    nan_ = nt(np.nan)

    @cuda.jit(device=True)
    def soft_value(s, bad, M, mode, t, lse, inv):
        """Output of one perturbed logit s: (value, is a maximum for the hard mode)."""
        if bad:
            return nan_, False
        if M == ninf:
            return (ninf if mode == LOG else zero), False
        if mode == LOG:
            return (s - M) / t - lse, False
        e = exp_((s - M) / t)
        if mode == SOFT:
            return e * inv, False
        return zero, e * inv == inv

    @cuda.jit(device=True)
    def write_one(out, rr, col, K, s, bad, M, mode, t, lse, inv, first):
        if col < K:
            v, hit = soft_value(s, bad, M, mode, t, lse, inv)
            if hit and col < first:
                first = col
            out[rr, col] = v
        return first

    @cuda.jit(device=True)
    def write_group(out, rr, q, nq, K, s0, s1, s2, s3, bad, M, mode, t, lse, inv, first):
        if q < nq:
            col = 4 * q
            first = write_one(out, rr, col, K, s0, bad, M, mode, t, lse, inv, first)
            first = write_one(out, rr, col + 1, K, s1, bad, M, mode, t, lse, inv, first)
            first = write_one(out, rr, col + 2, K, s2, bad, M, mode, t, lse, inv, first)
            first = write_one(out, rr, col + 3, K, s3, bad, M, mode, t, lse, inv, first)
        return first
    return write_group
