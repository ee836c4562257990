"""Numba CUDA backend: the kernels of :mod:`fastgumbel.cpu` for NVIDIA GPUs.

The scalar math is not copied: the kernels call the ``@njit`` functions of
:mod:`fastgumbel._scalar` (``philox_block``, ``gumbel_bits32/64``, ``uniform_bits32/64``,
``log_f32/f64``, ``exp_f32/f64``), which Numba CUDA compiles as device functions. The random
bits follow stream spec v1 (``docs/rng.md``), so the words and uniforms are bit-identical to
the CPU backend's; Gumbel values and softmax outputs agree within float rounding (NVVM may
contract ``a * b + c`` into one FMA, which the CPU build does not).

Kernel design
-------------
- A *team* of ``T`` threads (32, 64, 128 or 256, chosen from the row length ``K``) works on
  one row; a block of ``BLOCK`` threads holds ``BLOCK // T`` teams, so many short rows fill
  the GPU and a long row gets a whole block. Reductions inside a team go through shared
  memory (the CUDA simulator has no warp shuffles, and the tests run there).
- Each thread owns groups of 4 consecutive columns (one Philox block in 32-bit mode, two in
  64-bit mode): the random bits live in registers and are never stored.
- Softmax: pass 1 keeps an online (running max, rescaled sum) pair per thread, reduced
  across the team; pass 2 writes the output. The first :data:`CACHE` groups of each thread
  keep x + g in registers between the passes; beyond that (long rows) pass 2 re-reads the
  logits and regenerates the noise instead of storing anything.
- Argmax / categorical / multinomial: one team per draw, one pass, a (value, first index)
  reduction. Top-k: ``k`` argmax passes, each excluding what earlier passes picked
  (``O(k K)`` work: meant for small ``k``).

Every host function has the name, arguments and return value of its counterpart in
:mod:`fastgumbel.cpu`. Arrays may be NumPy arrays (copied to the device and the results
copied back) or device arrays (Numba device arrays, or any object with
``__cuda_array_interface__``; used in place). Kernels are compiled lazily on first launch
(per dtype); :data:`SIGNATURES` lists the signatures that ``tests/cuda/ptx_check.py``
compiles to PTX without a GPU.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from numba import config, cuda, types

from . import _gpu_common as _gc
from ._scalar import (MASK32, SH32, exp_f32, exp_f64, gumbel_bits32, gumbel_bits64, log_f32,
                      log_f64, philox_block, uniform_bits32, uniform_bits64)

__all__ = ["BLOCK", "team_size", "require_device", "fill_noise", "softmax_rows", "argmax_rows",
           "multinomial_rows", "topk_rows", "softmax_backward_rows", "softmax_backward_recompute",
           "concrete_rows", "SIGNATURES", "kernels"]

#: Threads per block. The simulator runs every thread as a Python thread: keep it small there.
BLOCK = 64 if config.ENABLE_CUDASIM else 256

#: Groups of 4 columns per thread whose perturbed logits stay in registers between the two
#: softmax passes (rows up to 16 * team size columns are read and made once).
CACHE = 4

_U = np.uint64
_NINF = -np.inf
_PINF = np.inf
SOFT, LOG, HARD = 0, 1, 2


def team_size(K):
    """Threads per row: enough groups of 4 columns per thread to hide latency, at most BLOCK."""
    t = 32
    while t < BLOCK and K > 16 * t:
        t *= 2
    return t


# ---------------------------------------------------------------- team reductions
# Every thread of the block calls these (teams of inactive rows with neutral values), so the
# barriers are uniform. Each starts with a barrier: the shared slots may still be read from
# the previous reduction. One tree-reduction body serves every operator (and every dtype:
# Numba compiles a device function per argument types).


def _team_reduce(op):
    """Device function ``red(sh, tid, lane, T, v)``: the team's fold of ``v`` by the binary
    device function ``op``, through the shared array ``sh``."""
    @cuda.jit(device=True)
    def red(sh, tid, lane, T, v):
        cuda.syncthreads()
        sh[tid] = v
        cuda.syncthreads()
        off = T // 2
        while off > 0:
            if lane < off:
                sh[tid] = op(sh[tid], sh[tid + off])
            cuda.syncthreads()
            off //= 2
        return sh[tid - lane]
    return red


def _team_reduce2(op):
    """Device function ``red(sa, sb, tid, lane, T, a, b, p)``: the team's fold of the pairs
    ``(a, b)`` (held in the shared arrays ``sa``, ``sb``) by ``op(a1, b1, a2, b2, p) -> (a, b)``;
    ``p`` is a parameter passed through to ``op``."""
    @cuda.jit(device=True)
    def red(sa, sb, tid, lane, T, a, b, p):
        cuda.syncthreads()
        sa[tid] = a
        sb[tid] = b
        cuda.syncthreads()
        off = T // 2
        while off > 0:
            if lane < off:
                a2, b2 = op(sa[tid], sb[tid], sa[tid + off], sb[tid + off], p)
                sa[tid] = a2
                sb[tid] = b2
            cuda.syncthreads()
            off //= 2
        return sa[tid - lane], sb[tid - lane]
    return red


@cuda.jit(device=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True)
def _or(a, b):
    return a | b


@cuda.jit(device=True)
def _max(a, b):
    return b if b > a else a


@cuda.jit(device=True)
def _argmax_op(v1, i1, v2, i2, p):
    """(max, first index of the max); entries with index -1 never win (``p`` unused)."""
    if i2 >= 0 and (i1 < 0 or v2 > v1 or (v2 == v1 and i2 < i1)):
        return v2, i2
    return v1, i1


_red_sum = _team_reduce(_add)
_red_or = _team_reduce(_or)
_red_max = _team_reduce(_max)
#: Team (max, first index of the max): ``_red_argmax(sh, si, tid, lane, T, v, i, 0)``.
_red_argmax = _team_reduce2(_argmax_op)


@cuda.jit(device=True)
def _team_item(T, n):
    """(tid, lane, item, valid, item or 0) of this thread: each team of ``T`` threads works
    on one item (a row, or a draw) of ``n``; teams past the end are not valid and use item 0
    (they still take part in the barriers)."""
    tid = cuda.threadIdx.x
    lane = tid % T
    item = cuda.blockIdx.x * (BLOCK // T) + tid // T
    valid = item < n
    return tid, lane, item, valid, (item if valid else 0)


def _make(nt):
    """All kernels for one compute dtype ``nt`` (numpy.float32 or numpy.float64)."""
    f32 = nt is np.float32
    exp_ = exp_f32 if f32 else exp_f64
    log_ = log_f32 if f32 else log_f64
    tiny = nt(np.finfo(nt).tiny)
    ninf = nt(_NINF)
    pinf = nt(_PINF)
    zero = nt(0.0)
    one = nt(1.0)

    @cuda.jit(device=True)
    def g4(k0, k1, stream, row, q, bits64, uniform):
        """Noise of columns 4q .. 4q+3 of ``row`` (standard Gumbel, or uniform), as ``nt``."""
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

    @cuda.jit(device=True)
    def online_op(m1, l1, m2, l2, t):
        """Merge of two online-softmax pairs (running max m, sum of exp((s - m) / t))."""
        M = m2 if m2 > m1 else m1
        if M == ninf:
            return M, zero
        if M == pinf:
            return M, one
        return M, l1 * exp_((m1 - M) / t) + l2 * exp_((m2 - M) / t)

    red_online = _team_reduce2(online_op)

    @cuda.jit(device=True)
    def online_add(s, m, l, nan, t):
        """Fold one perturbed logit s into (m, l, nan)."""
        if s != s:
            return m, l, 1
        if s > m:
            return s, l * exp_((m - s) / t) + one, nan
        if s > ninf:
            return m, l + exp_((s - m) / t), nan
        return m, l, nan

    @cuda.jit(device=True)
    def below_add(s, c, v, i, nan, pv, pi):
        """Fold the entry (s, column c) into the running (max, first index, NaN seen) of the
        entries ranked below (pv, pi): smaller value, or the same value at a larger index
        (top-k's previous pick; (+inf, -1) admits every entry: a plain argmax)."""
        if s != s:
            return v, i, 1
        if s > ninf and (s < pv or (s == pv and c > pi)):
            if i < 0 or s > v:
                return s, c, nan
        return v, i, nan

    # ---------------------------------------------------------------- kernels

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
        c = 4 * q
        out[r, c] = n0
        if c + 1 < K:
            out[r, c + 1] = n1
        if c + 2 < K:
            out[r, c + 2] = n2
        if c + 3 < K:
            out[r, c + 3] = n3

    @cuda.jit(device=True)
    def soft_value(s, bad, M, mode, t, lse, inv):
        """Pass-2 output of one perturbed logit s: (value, is a maximum for the hard mode)."""
        if bad:
            return nt(np.nan), False
        if M == ninf:
            return (ninf if mode == LOG else zero), False
        if mode == LOG:
            return (s - M) / t - lse, False
        e = exp_((s - M) / t)
        if mode == SOFT:
            return e * inv, False
        return zero, e * inv == inv

    @cuda.jit(device=True)
    def group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64):
        """x + g of group q (columns 4q .. 4q+3); -inf past the row or when q >= nq."""
        s0 = s1 = s2 = s3 = ninf
        if q < nq:
            n0, n1, n2, n3 = g4(k0, k1, stream, row, q, bits64, False)
            c = 4 * q
            s0 = x[rr, c] + n0
            if c + 1 < K:
                s1 = x[rr, c + 1] + n1
            if c + 2 < K:
                s2 = x[rr, c + 2] + n2
            if c + 3 < K:
                s3 = x[rr, c + 3] + n3
        return s0, s1, s2, s3

    @cuda.jit(device=True)
    def fold_below(x, rr, q, nq, K, k0, k1, stream, row, bits64, v, i, nan, pv, pi):
        """group_s, folded into (v, i, nan) by below_add (columns past the row are -inf:
        no-ops)."""
        s0, s1, s2, s3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
        c = 4 * q
        v, i, nan = below_add(s0, c, v, i, nan, pv, pi)
        v, i, nan = below_add(s1, c + 1, v, i, nan, pv, pi)
        v, i, nan = below_add(s2, c + 2, v, i, nan, pv, pi)
        v, i, nan = below_add(s3, c + 3, v, i, nan, pv, pi)
        return v, i, nan

    @cuda.jit(device=True)
    def pass1_group(x, rr, q, nq, K, k0, k1, stream, row, bits64, t, m, l, nan):
        """group_s, folded into the online (m, l, nan)."""
        s0, s1, s2, s3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
        if q < nq:
            m, l, nan = online_add(s0, m, l, nan, t)
            m, l, nan = online_add(s1, m, l, nan, t)
            m, l, nan = online_add(s2, m, l, nan, t)
            m, l, nan = online_add(s3, m, l, nan, t)
        return s0, s1, s2, s3, m, l, nan

    @cuda.jit(device=True)
    def pass2_one(out, rr, c, K, s, bad, M, mode, t, lse, inv, first):
        if c < K:
            v, hit = soft_value(s, bad, M, mode, t, lse, inv)
            if hit and c < first:
                first = c
            out[rr, c] = v
        return first

    @cuda.jit(device=True)
    def pass2_group(out, rr, q, nq, K, s0, s1, s2, s3, bad, M, mode, t, lse, inv, first):
        if q < nq:
            c = 4 * q
            first = pass2_one(out, rr, c, K, s0, bad, M, mode, t, lse, inv, first)
            first = pass2_one(out, rr, c + 1, K, s1, bad, M, mode, t, lse, inv, first)
            first = pass2_one(out, rr, c + 2, K, s2, bad, M, mode, t, lse, inv, first)
            first = pass2_one(out, rr, c + 3, K, s3, bad, M, mode, t, lse, inv, first)
        return first

    @cuda.jit
    def softmax_k(x, out, row0, k0, k1, stream, bits64, tau, mode, T, flags):
        sh = cuda.shared.array(BLOCK, nt)
        sl = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        tid, lane, r, valid, rr = _team_item(T, rows)
        row = _U(row0 + rr)
        t = nt(tau)
        nq = (K + 3) // 4 if valid else 0
        m = ninf
        l = zero
        nan = 0
        # the first CACHE = 4 groups of each thread keep x + g in registers between passes
        a0, a1, a2, a3, m, l, nan = pass1_group(x, rr, lane, nq, K, k0, k1, stream, row,
                                                bits64, t, m, l, nan)
        b0, b1, b2, b3, m, l, nan = pass1_group(x, rr, lane + T, nq, K, k0, k1, stream, row,
                                                bits64, t, m, l, nan)
        c0, c1, c2, c3, m, l, nan = pass1_group(x, rr, lane + 2 * T, nq, K, k0, k1, stream,
                                                row, bits64, t, m, l, nan)
        d0, d1, d2, d3, m, l, nan = pass1_group(x, rr, lane + 3 * T, nq, K, k0, k1, stream,
                                                row, bits64, t, m, l, nan)
        for q in range(lane + CACHE * T, nq, T):
            e0, e1, e2, e3, m, l, nan = pass1_group(x, rr, q, nq, K, k0, k1, stream, row,
                                                    bits64, t, m, l, nan)
        nan = _red_or(si, tid, lane, T, nan)
        M, S = red_online(sh, sl, tid, lane, T, m, l, t)
        bad = nan != 0 or M == pinf
        if valid and lane == 0 and nan == 0 and M == pinf:
            cuda.atomic.add(flags, 0, 1)
        inv = one / S if S > zero else zero
        lse = log_(S) if S > zero else zero
        first = K
        first = pass2_group(out, rr, lane, nq, K, a0, a1, a2, a3, bad, M, mode, t, lse, inv,
                            first)
        first = pass2_group(out, rr, lane + T, nq, K, b0, b1, b2, b3, bad, M, mode, t, lse, inv,
                            first)
        first = pass2_group(out, rr, lane + 2 * T, nq, K, c0, c1, c2, c3, bad, M, mode, t, lse,
                            inv, first)
        first = pass2_group(out, rr, lane + 3 * T, nq, K, d0, d1, d2, d3, bad, M, mode, t, lse,
                            inv, first)
        for q in range(lane + CACHE * T, nq, T):   # long rows: recompute x + g
            e0, e1, e2, e3 = group_s(x, rr, q, nq, K, k0, k1, stream, row, bits64)
            first = pass2_group(out, rr, q, nq, K, e0, e1, e2, e3, bad, M, mode, t, lse, inv,
                                first)
        if mode == HARD:
            z, best = _red_argmax(sh, si, tid, lane, T, zero, first if first < K else -1, 0)
            if valid and lane == 0 and not bad and M != ninf and best >= 0:
                out[rr, best] = one

    @cuda.jit
    def argmax_k(x, idx, counts, row0, k0, k1, stream, bits64, D, T, flags):
        """Team per draw (r, d): idx[r, d] (counts is None-like: shape (0, 0)) or counts[r, :]
        += one-hot of the draw (idx has shape (0, 0))."""
        sh = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        tid, lane, draw, valid, dd = _team_item(T, rows * D)
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
        nan = _red_or(si, tid, lane, T, nan)
        best, bi = _red_argmax(sh, si, tid, lane, T, v, i, 0)
        if valid and lane == 0:
            if d == 0 and nan != 0:
                cuda.atomic.add(flags, 0, 1)
            if d == 0 and best == pinf:
                cuda.atomic.add(flags, 1, 1)
            if idx.shape[1] > 0:
                idx[r, d] = -1 if best == ninf else bi
            elif best > ninf and best < pinf and nan == 0:
                cuda.atomic.add(counts, (r, bi), 1)

    @cuda.jit
    def topk_k(x, idx, row0, k0, k1, stream, bits64, T, flags):
        sh = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        k = idx.shape[1]
        tid, lane, r, valid, rr = _team_item(T, rows)
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
                nan = _red_or(si, tid, lane, T, nan)
                if valid and lane == 0 and nan != 0:
                    cuda.atomic.add(flags, 0, 1)
            best, bi = _red_argmax(sh, si, tid, lane, T, v, i, 0)
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

    @cuda.jit
    def backward_k(G, y, gx, gtau, tau, T):
        sh = cuda.shared.array(BLOCK, nt)
        rows, K = y.shape
        tid, lane, r, valid, rr = _team_item(T, rows)
        n = K if valid else 0
        t = nt(tau)
        acc = zero
        for c in range(lane, n, T):
            acc += G[rr, c] * y[rr, c]
        dot = _red_sum(sh, tid, lane, T, acc)
        acc = zero
        for c in range(lane, n, T):
            yc = y[rr, c]
            gz = yc * (G[rr, c] - dot)
            acc += gz * log_(yc if yc > tiny else tiny)
            gx[rr, c] = gz / t
        tot = _red_sum(sh, tid, lane, T, acc)
        if valid and lane == 0:
            gtau[rr] = -tot / t

    @cuda.jit
    def zero_k(a):
        i, j = cuda.grid(2)
        if i < a.shape[0] and j < a.shape[1]:
            a[i, j] = 0

    return {"fill_noise": fill_noise_k, "softmax": softmax_k, "argmax": argmax_k,
            "topk": topk_k, "backward": backward_k, "zero": zero_k}


@cuda.jit
def _concrete_k(y, logits, out, tau, T):
    """Per-row part of the Concrete log-density in float64 (see cpu.concrete_rows)."""
    sh = cuda.shared.array(BLOCK, types.float64)
    si = cuda.shared.array(BLOCK, types.int64)
    rows, K = y.shape
    tid, lane, r, valid, rr = _team_item(T, rows)
    n = K if valid else 0
    sum_l = 0.0
    sum_ly = 0.0
    M = -math.inf
    outside = 0
    for c in range(lane, n, T):
        yc = float(y[rr, c])
        if yc <= 0.0:
            outside = 1
        ly = 0.0 if yc <= 0.0 else math.log(yc)
        lc = float(logits[rr, c])
        sum_l += lc
        sum_ly += ly
        a = lc - tau * ly
        M = a if a > M else M
    outside = _red_or(si, tid, lane, T, outside)
    sum_l = _red_sum(sh, tid, lane, T, sum_l)
    sum_ly = _red_sum(sh, tid, lane, T, sum_ly)
    M = _red_max(sh, tid, lane, T, M)
    S = 0.0
    finite = M > -math.inf and M < math.inf
    for c in range(lane, n, T):
        if finite and outside == 0:
            S += math.exp(float(logits[rr, c]) - tau * math.log(float(y[rr, c])) - M)
    S = _red_sum(sh, tid, lane, T, S)
    if valid and lane == 0:
        if outside != 0:
            out[rr] = -math.inf
        elif not finite:
            out[rr] = sum_l - (tau + 1.0) * sum_ly - K * M
        else:
            out[rr] = sum_l - (tau + 1.0) * sum_ly - K * (M + math.log(S))


_K32 = None
_K64 = None


def kernels(dtype):
    """The kernel dict for an array dtype, built once: float64 arrays run the float64
    kernels; float32 and float16 arrays the float32 ones (float16 is loaded and stored as
    float16, computed in float32: the CPU's float16 results, rounded once)."""
    global _K32, _K64
    if np.dtype(dtype) in (np.float32, np.float16):
        if _K32 is None:
            _K32 = _make(np.float32)
        return _K32
    if _K64 is None:
        _K64 = _make(np.float64)
    return _K64


# ----------------------------------------------------------------------------------------
# host side: same names, arguments and results as fastgumbel.cpu


def _device(a):
    """A device view of ``a``: NumPy arrays are copied over, device arrays used in place."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    if hasattr(a, "copy_to_host"):
        return a
    return cuda.as_cuda_array(a)


def _copy_back(d, a):
    d.copy_to_host(a)


def _target(a):
    """(device array to write, finish()) for an output ``a``, host or device."""
    return _gc.target(a, cuda.device_array, _copy_back, _device)


def _flags():
    return cuda.to_device(np.zeros(2, np.int64))


# Numba warns (NumbaPerformanceWarning) whenever a launch has fewer than 128 blocks. Our grids
# are sized to the input (a block per BLOCK // T rows), so every small call would warn, and
# the warning would reach users (and pytest's "error" filter) though nothing is wrong.
# The message may start with ANSI colour codes (Numba highlights its warnings), hence ".*".
_SMALL_GRID = r".*Grid size \d+ will likely result in GPU under-utilization"


def _launch(kern, grid, block=BLOCK):
    """``kern[grid, block]`` without Numba's small-grid warning (only that one is hidden).

    The filter is installed only around building the launch configuration, which is where
    Numba emits it; compile-time and launch warnings still come through. ``catch_warnings``
    swaps the process-wide filter list (before Python 3.14), so two threads launching at
    once could leave this one filter installed: harmless, it matches only this message.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SMALL_GRID)
        return kern[grid, block]


def _grid(items, T):
    per = BLOCK // T
    return max(1, (items + per - 1) // per)


_EMPTY_IDX = {}


def _empty_idx():
    e = _EMPTY_IDX.get("e")
    if e is None:
        e = _EMPTY_IDX["e"] = cuda.device_array((0, 0), np.int64)
    return e


def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale):
    """out[r, c] = loc + scale * Gumbel (or a uniform) of element (row0 + r, c)."""
    d, finish = _target(out)
    rows, K = out.shape
    items = rows * ((K + 3) // 4)
    if items:
        kern = kernels(out.dtype)["fill_noise"]
        _launch(kern, (items + BLOCK - 1) // BLOCK)(
            d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), bool(uniform), float(loc),
            float(scale))
    finish()


def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Fused Gumbel-softmax of each row (mode 0 soft, 1 log, 2 hard); returns the number of
    rows whose perturbed maximum is +inf (see cpu.softmax_rows)."""
    dx = _device(x)
    d, finish = _target(out)
    rows, K = x.shape
    flags = _flags()
    if rows and K:
        T = team_size(K)
        _launch(kernels(out.dtype)["softmax"], _grid(rows, T))(
            dx, d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), float(tau), int(mode),
            T, flags)
    finish()
    return int(flags.copy_to_host()[0])


def argmax_rows(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, d] = first argmax of x[r] + g(noise row (row0 + r) * D + d); returns
    (rows with NaN, rows whose maximum is +inf)."""
    dx = _device(x)
    d, finish = _target(idx)
    rows, K = x.shape
    D = idx.shape[1]
    flags = _flags()
    if rows and D:
        T = team_size(K)
        _launch(kernels(x.dtype)["argmax"], _grid(rows * D, T))(
            dx, d, _empty_idx(), int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), int(D), T,
            flags)
    finish()
    return _gc.flag_counts(flags.copy_to_host())


def multinomial_rows(x, counts, n_draws, row0, k0, k1, stream, bits64):
    """counts[r, :] = histogram of the n_draws Gumbel-max draws of ``argmax_rows``."""
    dx = _device(x)
    d, finish = _target(counts)
    rows, K = x.shape
    flags = _flags()
    ks = kernels(x.dtype)
    if rows and K:
        _launch(ks["zero"], ((rows + 15) // 16, (K + 15) // 16), (16, 16))(d)
        if n_draws:
            T = team_size(K)
            _launch(ks["argmax"], _grid(rows * n_draws, T))(
                dx, _empty_idx(), d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64),
                int(n_draws), T, flags)
    finish()
    return _gc.flag_counts(flags.copy_to_host())


def topk_rows(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, :k] = the k largest of x[r] + g, best first; returns (NaN rows, +inf rows)."""
    dx = _device(x)
    d, finish = _target(idx)
    rows, K = x.shape
    flags = _flags()
    if rows and idx.shape[1]:
        T = team_size(K)
        _launch(kernels(x.dtype)["topk"], _grid(rows, T))(
            dx, d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), T, flags)
    finish()
    return _gc.flag_counts(flags.copy_to_host())


def softmax_backward_rows(G, y, gx, gtau, tau):
    """gx = y * (G - <G, y>) / tau per row; gtau[r] = -sum(gz * log y) / tau."""
    dG = _device(G)
    dy = _device(y)
    d, finish = _target(gx)
    dt, finish_t = _target(gtau)
    rows, K = y.shape
    if rows:
        T = team_size(K)
        _launch(kernels(gx.dtype)["backward"], _grid(rows, T))(dG, dy, d, dt, float(tau), T)
    finish()
    finish_t()


def concrete_rows(y, logits, out, tau):
    """Per-row part of the Concrete log-density, in float64 (see cpu.concrete_rows)."""
    dy = _device(y)
    dl = _device(logits)
    d, finish = _target(out)
    rows, K = y.shape
    if rows:
        T = team_size(K)
        _launch(_concrete_k, _grid(rows, T))(dy, dl, d, float(tau), T)
    finish()


def _signatures():
    """Kernel -> argument types of every launch above, per compute dtype (for compile_ptx)."""
    i64, u64, b1, f64 = types.int64, types.uint64, types.boolean, types.float64
    sigs = []
    for nt in (types.float32, types.float64):
        a2 = nt[:, ::1]
        i2 = types.int64[:, ::1]
        k = np.float32 if nt == types.float32 else np.float64
        sigs += [
            (k, "fill_noise", (a2, i64, u64, u64, u64, b1, b1, f64, f64)),
            (k, "softmax", (a2, a2, i64, u64, u64, u64, b1, f64, i64, i64, i64[::1])),
            (k, "argmax", (a2, i2, i2, i64, u64, u64, u64, b1, i64, i64, i64[::1])),
            (k, "topk", (a2, i2, i64, u64, u64, u64, b1, i64, i64[::1])),
            (k, "backward", (a2, a2, a2, nt[::1], f64, i64)),
            (k, "zero", (i2,)),
        ]
    h2 = types.float16[:, ::1]   # float16 in / out, float32 math (the float32 kernels)
    i2 = types.int64[:, ::1]
    sigs += [
        (np.float16, "fill_noise", (h2, i64, u64, u64, u64, b1, b1, f64, f64)),
        (np.float16, "softmax", (h2, h2, i64, u64, u64, u64, b1, f64, i64, i64, i64[::1])),
        (np.float16, "argmax", (h2, i2, i2, i64, u64, u64, u64, b1, i64, i64, i64[::1])),
        (np.float16, "topk", (h2, i2, i64, u64, u64, u64, b1, i64, i64[::1])),
    ]
    return sigs


#: (compute dtype, kernel name, argument types) of every kernel launch, and the concrete
#: kernel: what tests/cuda/ptx_check.py compiles for sm_90.
SIGNATURES = _signatures()
CONCRETE_SIGNATURES = [(types.float32[:, ::1], types.float32[:, ::1], types.float64[::1],
                        types.float64, types.int64),
                       (types.float64[:, ::1], types.float64[:, ::1], types.float64[::1],
                        types.float64, types.int64)]


def require_device():
    """Raise ``RuntimeError`` unless a CUDA GPU (or the CUDA simulator) is usable."""
    if not cuda.is_available():
        raise RuntimeError("backend 'numba-cuda' needs an NVIDIA GPU and driver; "
                           "numba.cuda.is_available() is False on this machine "
                           "(NUMBA_ENABLE_CUDASIM=1 runs the kernels in the simulator)")


def softmax_backward_recompute(G, x, gx, gtau, row0, k0, k1, stream, bits64, tau):
    """Gradients with the soft sample regenerated from the logits and the key (see
    cpu.softmax_backward_recompute): the soft forward kernel writes the sample into ``gx``
    on the device, the backward kernel then works in place. Returns the number of rows whose
    max(x + g) is +inf (the caller raises)."""
    return _gc.softmax_backward_recompute(_target, softmax_rows, softmax_backward_rows, G, x, gx,
                                          gtau, row0, k0, k1, stream, bits64, tau)
