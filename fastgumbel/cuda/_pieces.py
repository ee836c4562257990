"""Device-function pieces of the kernels, built per compute dtype ``nt`` (numpy.float32 or
numpy.float64), word width and array storage: the key, loads and stores (bfloat16 as
uint16 bits), Philox noise of a group of 4 columns (Gumbel, uniform, or the exponential
E = -log(U) whose -log is the Gumbel), and the Gumbel of one column regenerated.

Each thread owns groups of 4 consecutive columns (one Philox block in 32-bit mode, two in
64-bit mode): the random bits live in registers and are never stored. The scalar math is
not copied: the pieces call the ``@njit`` functions of :mod:`fastgumbel._scalar`, which
Numba CUDA compiles as device functions. Choices that change the hot loop (dtype, word
width, uniform or Gumbel, bfloat16 storage) are made when a kernel is built, not at run
time.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numba import cuda

from ._team import team_item

from .._scalar import (MASK32, SH32, bf16_to_f32, exp_nonpos_f32, exp_nonpos_f64,
                       exponential_bits32, exponential_bits64, f32_to_bf16, gumbel_bits32,
                       gumbel_bits64, log2_bound_f32, log2_bound_f64, log_f32, log_f64,
                       uniform_bits32, uniform_bits64)
from ._nvvm import philox_block
from ._ubound import aligned_rows, load4, philox_rk

_U = np.uint64
#: Softmax output modes (the ``mode`` argument of ``softmax_rows``).
SOFT, LOG, HARD = 0, 1, 2


def constants(nt):
    """The dtype's math functions and special values, as ``nt`` scalars (Numba freezes them
    into the device functions that close over them). ``C``: the exponent shift of the
    one-log ratio form at tau == 1 (docs/rng.md): 32 for float32, 64 for float64."""
    f32 = nt is np.float32
    return SimpleNamespace(exp=exp_nonpos_f32 if f32 else exp_nonpos_f64,
                           log=log_f32 if f32 else log_f64,
                           lb=log2_bound_f32 if f32 else log2_bound_f64,
                           tiny=nt(np.finfo(nt).tiny), ninf=nt(-np.inf), pinf=nt(np.inf),
                           zero=nt(0.0), one=nt(1.0), nan=nt(np.nan), C=nt(32.0 if f32 else 64.0))


@cuda.jit(device=True)
def key_words(key, k0, k1, stream):
    """(k0, k1, stream word): from the device array ``key`` (uint32 x 3) when it has 3
    entries (a key that a captured device op advanced), else the scalar arguments."""
    if key.shape[0] >= 3:
        return _U(key[0]), _U(key[1]), _U(key[2])
    return k0, k1, stream


@cuda.jit(device=True)
def row_team(lt, rows, K, row0, key, k0, k1, stream):
    """The prologue of a kernel with a team of ``2**lt`` threads per row: (tid, lane, valid,
    row index or 0, k0, k1, stream word, noise row, groups of 4 in the row or 0)."""
    tid, lane, valid, rr = team_item(lt, rows)
    k0, k1, stream = key_words(key, k0, k1, stream)
    return tid, lane, valid, rr, k0, k1, stream, _U(row0 + rr), (K + 3) >> 2 if valid else 0


def io(nt, bf16):
    """Device functions ``(ld(a, r, c) -> nt, st(a, r, c, v))``: an element of a 2-D array as
    ``nt`` and the store of an ``nt`` (rounded once to the array's dtype, to nearest even);
    with ``bf16`` the array holds bfloat16 bits as uint16 (float32 math). Indices are taken
    as unsigned: no negative-index wraparound code in the address arithmetic."""
    if bf16:
        @cuda.jit(device=True)
        def ld(a, r, c):
            return bf16_to_f32(a[_U(r), _U(c)])

        @cuda.jit(device=True)
        def st(a, r, c, v):
            a[_U(r), _U(c)] = f32_to_bf16(np.float32(v))
    else:
        @cuda.jit(device=True)
        def ld(a, r, c):
            return nt(a[_U(r), _U(c)])

        @cuda.jit(device=True)
        def st(a, r, c, v):
            a[_U(r), _U(c)] = v
    return ld, st


def noise_group(nt, bits64, uniform):
    """Device function ``g4(k0, k1, stream, row, q)``: the noise of columns 4q .. 4q+3 of
    noise row ``row`` (standard Gumbel, or uniform), as ``nt``."""
    if bits64:
        f = uniform_bits64 if uniform else gumbel_bits64

        @cuda.jit(device=True)
        def g4(k0, k1, stream, row, q):
            rlo = row & MASK32
            rhi = row >> SH32
            a0, a1, a2, a3 = philox_block(_U(2 * q), stream, rlo, rhi, k0, k1)
            b0, b1, b2, b3 = philox_block(_U(2 * q + 1), stream, rlo, rhi, k0, k1)
            return (nt(f(np.uint32(a0), np.uint32(a1))), nt(f(np.uint32(a2), np.uint32(a3))),
                    nt(f(np.uint32(b0), np.uint32(b1))), nt(f(np.uint32(b2), np.uint32(b3))))
        return g4
    f1 = uniform_bits32 if uniform else gumbel_bits32

    @cuda.jit(device=True)
    def g4(k0, k1, stream, row, q):
        a0, a1, a2, a3 = philox_block(_U(q), stream, row & MASK32, row >> SH32, k0, k1)
        return (nt(f1(np.uint32(a0))), nt(f1(np.uint32(a1))), nt(f1(np.uint32(a2))),
                nt(f1(np.uint32(a3))))
    return g4


def noise_group_rk(nt, uniform):
    """Device function ``g4(rk, st, rlo, rhi, q)``: :func:`noise_group` for 32-bit words with
    the round keys of :func:`._ubound.round_keys` (computed once per thread) and the counter
    words as uint32 (same bits)."""
    f1 = uniform_bits32 if uniform else gumbel_bits32

    @cuda.jit(device=True)
    def g4(rk, st, rlo, rhi, q):
        a0, a1, a2, a3 = philox_rk(np.uint32(q), st, rlo, rhi, rk)
        return nt(f1(a0)), nt(f1(a1)), nt(f1(a2)), nt(f1(a3))
    return g4


def exponential_group(nt, bits64):
    """Device function ``e4(k0, k1, stream, row, q)``: E = -log(U) of columns 4q .. 4q+3, as
    ``nt`` (the E whose -log is the Gumbel noise; one log instead of two)."""
    if bits64:
        @cuda.jit(device=True)
        def e4(k0, k1, stream, row, q):
            rlo = row & MASK32
            rhi = row >> SH32
            a0, a1, a2, a3 = philox_block(_U(2 * q), stream, rlo, rhi, k0, k1)
            b0, b1, b2, b3 = philox_block(_U(2 * q + 1), stream, rlo, rhi, k0, k1)
            return (nt(exponential_bits64(np.uint32(a0), np.uint32(a1))),
                    nt(exponential_bits64(np.uint32(a2), np.uint32(a3))),
                    nt(exponential_bits64(np.uint32(b0), np.uint32(b1))),
                    nt(exponential_bits64(np.uint32(b2), np.uint32(b3))))
        return e4

    @cuda.jit(device=True)
    def e4(k0, k1, stream, row, q):
        a0, a1, a2, a3 = philox_block(_U(q), stream, row & MASK32, row >> SH32, k0, k1)
        return (nt(exponential_bits32(np.uint32(a0))), nt(exponential_bits32(np.uint32(a1))),
                nt(exponential_bits32(np.uint32(a2))), nt(exponential_bits32(np.uint32(a3))))
    return e4


def gumbel_at(nt, bits64):
    """Device function ``g1(k0, k1, stream, row, col)``: the Gumbel noise of one column, its
    group regenerated (the bound-pruned searches call it for the few candidate columns);
    the same operations as :func:`noise_group`, so the same bits."""
    g4 = noise_group(nt, bits64, False)

    @cuda.jit(device=True)
    def g1(k0, k1, stream, row, col):
        n0, n1, n2, n3 = g4(k0, k1, stream, row, col >> 2)
        i = col & 3
        return n0 if i == 0 else (n1 if i == 1 else (n2 if i == 2 else n3))
    return g1


def load_group(nt, ld, fill):
    """Device function ``x4(x, r, q, K)``: the 4 values of columns 4q .. 4q+3 of row ``r``,
    ``fill`` past the row (one test per group when the group is whole)."""
    fill = nt(fill)

    @cuda.jit(device=True)
    def x4(x, r, q, K):
        c = q << 2
        if c + 3 < K:
            return ld(x, r, c), ld(x, r, c + 1), ld(x, r, c + 2), ld(x, r, c + 3)
        x0 = ld(x, r, c)
        x1 = ld(x, r, c + 1) if c + 1 < K else fill
        x2 = ld(x, r, c + 2) if c + 2 < K else fill
        return x0, x1, x2, fill
    return x4


def load_whole(ld, vector=False):
    """Device functions ``(xw(x, r, q), ok(x))``: the 4 values of columns 4q .. 4q+3 of row
    ``r``, all inside the row (no tests; the caller knows); with ``vector`` (float32
    arrays on a GPU) by one 128-bit load, which needs ``ok(x)``: rows on 16 bytes."""
    if vector and load4 is not None:
        @cuda.jit(device=True)
        def xw(x, r, q):
            return load4(x, _U(r), q << _U(2))
        return xw, aligned_rows

    @cuda.jit(device=True)
    def xw(x, r, q):
        c = q << 2
        return ld(x, r, c), ld(x, r, c + 1), ld(x, r, c + 2), ld(x, r, c + 3)

    @cuda.jit(device=True)
    def ok(x):
        return True
    return xw, ok


def store_group(st):
    """Device function ``s4(out, r, q, K, v0, v1, v2, v3)``: stores columns 4q .. 4q+3 of
    row ``r`` that lie inside the row."""
    @cuda.jit(device=True)
    def s4(out, r, q, K, v0, v1, v2, v3):
        c = q << 2
        st(out, r, c, v0)
        if c + 3 < K:
            st(out, r, c + 1, v1)
            st(out, r, c + 2, v2)
            st(out, r, c + 3, v3)
        else:
            if c + 1 < K:
                st(out, r, c + 1, v1)
            if c + 2 < K:
                st(out, r, c + 2, v2)
    return s4
