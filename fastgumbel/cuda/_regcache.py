"""The softmax's register cache: x + g of the first ``cache`` groups of each thread, kept in
a local array ``reg`` of ``4 * cache`` values between the two passes.

The loops over the cached groups are unrolled when the kernel is built: group ``j`` is a
device function of its own with ``j`` a compile-time constant, which handles its group and
calls the one of group ``j + 1``. Every index into ``reg`` is then a constant and NVVM keeps
the array in registers. A plain ``for j in range(cache)`` in the kernel is not unrolled
(the body, a Philox block and a logarithm per column, is over LLVM's unrolling threshold):
``reg`` then lives in local memory, a stack frame of ``4 * cache`` values per thread.
"""
from __future__ import annotations

from numba import cuda


def pass1(cache, group_s, online_group):
    """Device function ``f(reg, x, rr, lane, T, nq, K, k0, k1, stream, row, bits64, t, m, l,
    nan) -> (m, l, nan)``: pass 1 over the groups ``lane + j T``, ``j < cache``: x + g into
    ``reg[4j:4j+4]``, folded into the online (m, l, NaN seen)."""
    @cuda.jit(device=True)
    def done(reg, x, rr, lane, T, nq, K, k0, k1, stream, row, bits64, t, m, l, nan):
        return m, l, nan

    f = done
    for j in reversed(range(cache)):
        f = _pass1_step(j, f, group_s, online_group)
    return f


def _pass1_step(j, nxt, group_s, online_group):
    @cuda.jit(device=True)
    def step(reg, x, rr, lane, T, nq, K, k0, k1, stream, row, bits64, t, m, l, nan):
        q = lane + j * T
        s0, s1, s2, s3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
        if q < nq:
            m, l, nan = online_group(s0, s1, s2, s3, m, l, nan, t)
        reg[4 * j] = s0
        reg[4 * j + 1] = s1
        reg[4 * j + 2] = s2
        reg[4 * j + 3] = s3
        return nxt(reg, x, rr, lane, T, nq, K, k0, k1, stream, row, bits64, t, m, l, nan)
    return step


def pass2(cache, write_group):
    """Device function ``f(reg, out, rr, lane, T, nq, K, bad, M, mode, t, lse, inv, first)
    -> first``: pass 2 over the cached groups, from ``reg``."""
    @cuda.jit(device=True)
    def done(reg, out, rr, lane, T, nq, K, bad, M, mode, t, lse, inv, first):
        return first

    f = done
    for j in reversed(range(cache)):
        f = _pass2_step(j, f, write_group)
    return f


def _pass2_step(j, nxt, write_group):
    @cuda.jit(device=True)
    def step(reg, out, rr, lane, T, nq, K, bad, M, mode, t, lse, inv, first):
        first = write_group(out, rr, lane + j * T, nq, K, reg[4 * j], reg[4 * j + 1],
                            reg[4 * j + 2], reg[4 * j + 3], bad, M, mode, t, lse, inv, first)
        return nxt(reg, out, rr, lane, T, nq, K, bad, M, mode, t, lse, inv, first)
    return step
