"""Block layout and team reductions shared by every kernel of :mod:`fastgumbel.cuda`.

A *team* of ``T`` threads (a power of two, 32 to :data:`BLOCK`) works on one item (a row,
or a draw); a block of :data:`BLOCK` threads holds ``BLOCK // T`` teams, each a whole number
of warps. A reduction inside a team is a butterfly of warp shuffles (``shfl_xor``: every
lane ends with the warp's result, no shared memory, no barrier); teams wider than a warp
then put one value per warp in shared memory, and every warp folds its team's
``T / 32`` warp values (each aligned block of ``T / 32`` lanes reads them, and a shorter
butterfly folds them: one barrier pair, no loop). The operators are cheap (max, sum, or, a
(value, index) max): the online softmax's rescaling happens once per thread, outside.

The CUDA simulator has no warp shuffles: there (``NUMBA_ENABLE_CUDASIM=1``) each thread
replays the same butterfly on the warp's values read from shared memory, so the tests run
the same reduction order. Every thread of a block calls every reduction (threads of
teams past the last item with neutral values), so the barriers are uniform.
"""
from __future__ import annotations

import numpy as np
from numba import config, cuda

from ._nvvm import fmax

SIM = bool(config.ENABLE_CUDASIM)

#: Threads per block. The simulator runs every thread as a Python thread: keep it small there.
BLOCK = 64 if SIM else 256

#: Groups of 4 columns per thread whose values stay in registers between the passes of a
#: row (rows up to ``4 * CACHE`` times the team size are read and made once).
CACHE = 4

_FULL = np.uint32(0xFFFFFFFF)


def log2_int(t):
    """log2 of a power of two (the kernels take log2 of the team size: shifts, not divisions)."""
    return int(t).bit_length() - 1


_LB = log2_int(BLOCK)


def team_size(K):
    """Threads per row: enough groups of 4 columns per thread to hide latency, at most BLOCK.

    A team grows while the row has more than :data:`CACHE` groups per thread, so rows up to
    ``4 * CACHE * BLOCK`` columns fit in the register cache.

    >>> team_size(1), team_size(512), team_size(513) == min(64, BLOCK)
    (32, 32, True)
    """
    t = 32
    while t < BLOCK and K > 4 * CACHE * t:
        t *= 2
    return t


def _butterflies(op):
    """Device functions ``(wb(sh, tid, v, first), wb2(sa, sb, tid, a, b, first))``: the xor
    butterfly of a warp (offsets ``first``, ..., 2, 1; ``first`` 16 for the whole warp)
    folding ``v`` (or the pairs ``(a, b)``) by ``op``; every lane ends with the fold of its
    aligned block of ``2 first`` lanes. On a GPU five ``shfl.sync.bfly`` each; in the
    simulator (no shuffles there) the warp's values go through shared memory once and each
    thread replays the same butterfly on its copy, which gives the same values."""
    if SIM:
        @cuda.jit(device=True)
        def wb(sh, tid, v, first):
            cuda.syncthreads()
            sh[tid] = v
            cuda.syncthreads()
            base = tid & ~31
            a = [type(v)(sh[base + k]) for k in range(32)]
            for off in (16, 8, 4, 2, 1):
                if off <= first:
                    a = [op(a[k], a[k ^ off]) for k in range(32)]
            return a[tid & 31]

        @cuda.jit(device=True)
        def wb2(sa, sb, tid, a, b, first):
            cuda.syncthreads()
            sa[tid] = a
            sb[tid] = b
            cuda.syncthreads()
            base = tid & ~31
            p = [(type(a)(sa[base + k]), type(b)(sb[base + k])) for k in range(32)]
            for off in (16, 8, 4, 2, 1):
                if off <= first:
                    p = [op(p[k][0], p[k][1], p[k ^ off][0], p[k ^ off][1]) for k in range(32)]
            return p[tid & 31]
        return wb, wb2

    @cuda.jit(device=True)
    def wb(sh, tid, v, first):
        for k in range(5):
            if 16 >> k <= first:
                v = op(v, cuda.shfl_xor_sync(_FULL, v, 16 >> k))
        return v

    @cuda.jit(device=True)
    def wb2(sa, sb, tid, a, b, first):
        for k in range(5):
            if 16 >> k <= first:
                a2 = cuda.shfl_xor_sync(_FULL, a, 16 >> k)
                b2 = cuda.shfl_xor_sync(_FULL, b, 16 >> k)
                a, b = op(a, b, a2, b2)
        return a, b
    return wb, wb2


def team_reduce(op):
    """Device function ``red(sh, tid, lane, T, v)``: the team's fold of ``v`` by the binary
    device function ``op`` (associative and commutative); ``sh`` a shared array of
    :data:`BLOCK` values of ``v``'s type."""
    wb = _butterflies(op)[0]

    @cuda.jit(device=True)
    def red(sh, tid, lane, T, v):
        v = wb(sh, tid, v, 16)
        if T > 32:
            cuda.syncthreads()
            if tid & 31 == 0:
                sh[tid >> 5] = v
            cuda.syncthreads()
            nw = T >> 5
            v = wb(sh, tid, sh[((tid - lane) >> 5) + (lane & (nw - 1))], nw >> 1)
        return v
    return red


def team_reduce2(op):
    """Device function ``red(sa, sb, tid, lane, T, a, b)``: the team's fold of the pairs
    ``(a, b)`` by ``op(a1, b1, a2, b2) -> (a, b)``; ``sa``, ``sb`` shared arrays of their
    types."""
    wb2 = _butterflies(op)[1]

    @cuda.jit(device=True)
    def red(sa, sb, tid, lane, T, a, b):
        a, b = wb2(sa, sb, tid, a, b, 16)
        if T > 32:
            cuda.syncthreads()
            if tid & 31 == 0:
                sa[tid >> 5] = a
                sb[tid >> 5] = b
            cuda.syncthreads()
            w = ((tid - lane) >> 5) + (lane & ((T >> 5) - 1))
            a, b = wb2(sa, sb, tid, sa[w], sb[w], T >> 6)
        return a, b
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
def _min(a, b):
    return b if b < a else a


@cuda.jit(device=True)
def _argmax_op(v1, i1, v2, i2):
    """(max, first index of the max); entries with index -1 never win."""
    if i2 >= 0 and (i1 < 0 or v2 > v1 or (v2 == v1 and i2 < i1)):
        return v2, i2
    return v1, i1


red_sum = team_reduce(_add)
red_or = team_reduce(_or)
red_max = team_reduce(_max)
red_min = team_reduce(_min)
#: Team max, a NaN ignored (NaN only when every value is): one FMNMX per merge.
red_fmax = team_reduce(fmax)
#: Team (max, first index of the max): ``red_argmax(sh, si, tid, lane, T, v, i)``.
red_argmax = team_reduce2(_argmax_op)


@cuda.jit(device=True)
def team_item(lt, n):
    """(tid, lane, valid, item or 0) of this thread, for teams of ``T = 2**lt`` threads: each
    team works on one item (a row, or a draw) of ``n``; teams past the end are not valid and
    use item 0 (they still take part in the reductions). Shifts and masks only."""
    tid = cuda.threadIdx.x
    lane = tid & ((1 << lt) - 1)
    item = (cuda.blockIdx.x << (_LB - lt)) + (tid >> lt)
    valid = item < n
    return tid, lane, valid, (item if valid else 0)

