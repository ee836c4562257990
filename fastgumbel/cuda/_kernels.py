"""The kernels of :mod:`fastgumbel.cuda`: one builder per operation, from the shared pieces of
:mod:`._pieces` and the team reductions of :mod:`._team`.

Softmax: pass 1 keeps an online (running max, rescaled sum) pair per thread, reduced across
the team; pass 2 writes the output. The first ``cache`` groups of each thread keep x + g in
a local array between the passes, held in registers (see :mod:`._regcache`); beyond that
(long rows) pass 2 re-reads the logits and regenerates the noise instead of storing
anything.

Argmax / categorical / multinomial: one team per draw, one pass, a (value, first index)
reduction. Top-k: ``k`` argmax passes, each excluding what earlier passes picked (``O(k K)``
work: meant for small ``k``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, types

from . import _pieces as P
from . import _regcache
from ._pieces import HARD
from ._team import (BLOCK, CACHE, red_argmax, red_max, red_or, red_sum, team_item,
                    team_reduce2)

_U = np.uint64


def build_fill_noise(nt, g4):
    """``fill_noise_k(out, row0, k0, k1, stream, bits64, uniform, loc, scale)``: one thread per
    group of 4 columns."""
    @cuda.jit
    def fill_noise_k(out, row0, k0, k1, stream, bits64, uniform, loc, scale):
        rows, K = out.shape
        nq = (K + 3) // 4
        item = cuda.grid(1)
        if item >= rows * nq:
            return
        r = item // nq
        q = item - r * nq
        n0, n1, n2, n3 = g4(k0, k1, stream, _U(row0 + r), q, bits64, uniform)
        affine = (not uniform) and (loc != 0.0 or scale != 1.0)
        lo = nt(loc)
        sc = nt(scale)
        if affine:
            n0 = lo + sc * n0
            n1 = lo + sc * n1
            n2 = lo + sc * n2
            n3 = lo + sc * n3
        col = 4 * q
        out[r, col] = n0
        if col + 1 < K:
            out[r, col + 1] = n1
        if col + 2 < K:
            out[r, col + 2] = n2
        if col + 3 < K:
            out[r, col + 3] = n3
    return fill_noise_k


def build_softmax(nt, c, group_s, cache):
    """``softmax_k(x, out, row0, k0, k1, stream, bits64, tau, mode, T, flags)``: a team per
    row, two passes; x + g of the first ``cache`` groups of each thread stays in ``reg``."""
    online_op, online_group = P.online_softmax(c)
    red_online = team_reduce2(online_op)
    write_group = P.softmax_output(nt, c)
    cached1 = _regcache.pass1(cache, group_s, online_group)
    cached2 = _regcache.pass2(cache, write_group)
    ninf, pinf, zero, one, log_ = c.ninf, c.pinf, c.zero, c.one, c.log
    n_reg = 4 * cache

    @cuda.jit
    def softmax_k(x, out, row0, k0, k1, stream, bits64, tau, mode, T, flags):
        sh = cuda.shared.array(BLOCK, nt)
        sl = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        reg = cuda.local.array(n_reg, nt)
        rows, K = x.shape
        tid, lane, r, valid, rr = team_item(T, rows)
        row = _U(row0 + rr)
        t = nt(tau)
        nq = (K + 3) // 4 if valid else 0
        m = ninf
        l = zero
        nan = 0
        m, l, nan = cached1(reg, x, rr, lane, T, nq, K, k0, k1, stream, row, bits64, t, m, l,
                            nan)
        for q in range(lane + cache * T, nq, T):
            s0, s1, s2, s3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
            m, l, nan = online_group(s0, s1, s2, s3, m, l, nan, t)
        nan = red_or(si, tid, lane, T, nan)
        M, S = red_online(sh, sl, tid, lane, T, m, l, t)
        bad = nan != 0 or M == pinf
        if valid and lane == 0 and nan == 0 and M == pinf:
            cuda.atomic.add(flags, 0, 1)
        inv = one / S if S > zero else zero
        lse = log_(S) if S > zero else zero
        first = K
        first = cached2(reg, out, rr, lane, T, nq, K, bad, M, mode, t, lse, inv, first)
        for q in range(lane + cache * T, nq, T):   # long rows: recompute x + g
            s0, s1, s2, s3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
            first = write_group(out, rr, q, nq, K, s0, s1, s2, s3, bad, M, mode, t, lse, inv,
                                first)
        if mode == HARD:
            z, best = red_argmax(sh, si, tid, lane, T, zero, first if first < K else -1, 0)
            if valid and lane == 0 and not bad and M != ninf and best >= 0:
                out[rr, best] = one
    return softmax_k


def build_argmax(nt, c, fold_below):
    """``argmax_k(x, idx, counts, row0, k0, k1, stream, bits64, D, T, flags)``: a team per
    draw (r, d), noise row (row0 + r) * D + d; writes idx[r, d] (counts has shape (0, 0)) or
    adds the draw's one-hot to counts[r, :] (idx has shape (0, 0))."""
    ninf, pinf = c.ninf, c.pinf

    @cuda.jit
    def argmax_k(x, idx, counts, row0, k0, k1, stream, bits64, D, T, flags):
        sh = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        tid, lane, draw, valid, dd = team_item(T, rows * D)
        r = dd // D
        d = dd - r * D
        row = _U((row0 + r) * D + d)
        nq = (K + 3) // 4 if valid else 0
        v = ninf
        i = -1
        nan = 0
        for q in range(lane, nq, T):
            v, i, nan = fold_below(x, r, q, nq, K, k0, k1, stream, row, bits64, v, i, nan,
                                   pinf, -1)
        nan = red_or(si, tid, lane, T, nan)
        best, bi = red_argmax(sh, si, tid, lane, T, v, i, 0)
        if valid and lane == 0:
            if d == 0 and nan != 0:
                cuda.atomic.add(flags, 0, 1)
            if d == 0 and best == pinf:
                cuda.atomic.add(flags, 1, 1)
            if idx.shape[1] > 0:
                idx[r, d] = -1 if best == ninf else bi
            elif best > ninf and best < pinf and nan == 0:
                cuda.atomic.add(counts, (r, bi), 1)
    return argmax_k


def build_topk(nt, c, fold_below):
    """``topk_k(x, idx, row0, k0, k1, stream, bits64, T, flags)``: a team per row, ``k``
    argmax passes, each over the entries ranked below the previous pick."""
    ninf, pinf = c.ninf, c.pinf

    @cuda.jit
    def topk_k(x, idx, row0, k0, k1, stream, bits64, T, flags):
        sh = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        k = idx.shape[1]
        tid, lane, r, valid, rr = team_item(T, rows)
        row = _U(row0 + rr)
        nq = (K + 3) // 4 if valid else 0
        pv = pinf
        pi = -1
        for p in range(k):
            v = ninf
            i = -1
            nan = 0
            for q in range(lane, nq, T):
                v, i, nan = fold_below(x, rr, q, nq, K, k0, k1, stream, row, bits64, v, i,
                                       nan, pv, pi)
            if p == 0:
                nan = red_or(si, tid, lane, T, nan)
                if valid and lane == 0 and nan != 0:
                    cuda.atomic.add(flags, 0, 1)
            best, bi = red_argmax(sh, si, tid, lane, T, v, i, 0)
            if p == 0 and valid and lane == 0 and best == pinf:
                cuda.atomic.add(flags, 1, 1)
            if valid and lane == 0:
                idx[rr, p] = bi
            pv = best
            pi = bi
            if bi < 0:
                # nothing left: the rest stays -1 (the loop still runs for the barriers)
                pv = ninf
                pi = K
    return topk_k


def build_backward(nt, c):
    """``backward_k(G, y, gx, gtau, tau, T)``: a team per row; gx = y (G - <G, y>) / tau and
    gtau = -sum(gz log y) / tau."""
    zero, tiny, log_ = c.zero, c.tiny, c.log

    @cuda.jit
    def backward_k(G, y, gx, gtau, tau, T):
        sh = cuda.shared.array(BLOCK, nt)
        rows, K = y.shape
        tid, lane, r, valid, rr = team_item(T, rows)
        n = K if valid else 0
        t = nt(tau)
        acc = zero
        for col in range(lane, n, T):
            acc += G[rr, col] * y[rr, col]
        dot = red_sum(sh, tid, lane, T, acc)
        acc = zero
        for col in range(lane, n, T):
            yc = y[rr, col]
            gz = yc * (G[rr, col] - dot)
            acc += gz * log_(yc if yc > tiny else tiny)
            gx[rr, col] = gz / t
        tot = red_sum(sh, tid, lane, T, acc)
        if valid and lane == 0:
            gtau[rr] = -tot / t
    return backward_k


@cuda.jit
def zero_k(a):
    """a[:, :] = 0 (counts before the multinomial's atomic adds); a 2-D grid of (16, 16)."""
    i, j = cuda.grid(2)
    if i < a.shape[0] and j < a.shape[1]:
        a[i, j] = 0


@cuda.jit
def concrete_k(y, logits, out, tau, T):
    """Per-row part of the Concrete log-density in float64 (see cpu.concrete_rows)."""
    sh = cuda.shared.array(BLOCK, types.float64)
    si = cuda.shared.array(BLOCK, types.int64)
    rows, K = y.shape
    tid, lane, r, valid, rr = team_item(T, rows)
    n = K if valid else 0
    sum_l = 0.0
    sum_ly = 0.0
    M = -math.inf
    outside = 0
    for col in range(lane, n, T):
        yc = float(y[rr, col])
        if yc <= 0.0:
            outside = 1
        ly = 0.0 if yc <= 0.0 else math.log(yc)
        lc = float(logits[rr, col])
        sum_l += lc
        sum_ly += ly
        a = lc - tau * ly
        M = a if a > M else M
    outside = red_or(si, tid, lane, T, outside)
    sum_l = red_sum(sh, tid, lane, T, sum_l)
    sum_ly = red_sum(sh, tid, lane, T, sum_ly)
    M = red_max(sh, tid, lane, T, M)
    S = 0.0
    finite = M > -math.inf and M < math.inf
    for col in range(lane, n, T):
        if finite and outside == 0:
            S += math.exp(float(logits[rr, col]) - tau * math.log(float(y[rr, col])) - M)
    S = red_sum(sh, tid, lane, T, S)
    if valid and lane == 0:
        if outside != 0:
            out[rr] = -math.inf
        elif not finite:
            out[rr] = sum_l - (tau + 1.0) * sum_ly - K * M
        else:
            out[rr] = sum_l - (tau + 1.0) * sum_ly - K * (M + math.log(S))


def build(nt, cache=CACHE):
    """All kernels for one compute dtype ``nt`` (numpy.float32 or numpy.float64) and a
    register cache of ``cache`` groups per thread, by name."""
    c = P.constants(nt)
    g4 = P.noise_group(nt)
    group_s = P.perturbed_group(c, g4)
    fold_below = P.argmax_fold(c, group_s)
    return {"fill_noise": build_fill_noise(nt, g4),
            "softmax": build_softmax(nt, c, group_s, cache),
            "argmax": build_argmax(nt, c, fold_below),
            "topk": build_topk(nt, c, fold_below),
            "backward": build_backward(nt, c),
            "zero": zero_k}


_built = {}


def kernels(dtype, cache=CACHE):
    """The kernel dict for an array dtype, built once (per ``cache``): float64 arrays run the
    float64 kernels; float32 and float16 arrays the float32 ones (float16 is loaded and
    stored as float16, computed in float32: the CPU's float16 results, rounded once)."""
    nt = np.float64 if np.dtype(dtype) not in (np.float32, np.float16) else np.float32
    ks = _built.get((nt, cache))
    if ks is None:
        ks = _built[(nt, cache)] = build(nt, cache)
    return ks
