"""Block layout and team reductions shared by every kernel of :mod:`fastgumbel.cuda`.

A *team* of ``T`` threads works on one item (a row, or a draw); a block of :data:`BLOCK`
threads holds ``BLOCK // T`` teams. Reductions inside a team go through shared memory (the
CUDA simulator has no warp shuffles, and the tests run there).
"""
from __future__ import annotations

from numba import config, cuda

#: Threads per block. The simulator runs every thread as a Python thread: keep it small there.
BLOCK = 64 if config.ENABLE_CUDASIM else 256

#: Groups of 4 columns per thread whose perturbed logits stay in registers between the two
#: softmax passes (rows up to ``4 * CACHE`` times the team size are read and made once).
#: The kernels take it as a build parameter (:func:`fastgumbel.cuda.kernels`); this is the
#: value the backend runs with.
CACHE = 4


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


# Every thread of the block calls the reductions (teams of inactive rows with neutral values),
# so the barriers are uniform. Each starts with a barrier: the shared slots may still be read
# from the previous reduction. One tree-reduction body serves every operator (and every dtype:
# Numba compiles a device function per argument types).


def team_reduce(op):
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


def team_reduce2(op):
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


red_sum = team_reduce(_add)
red_or = team_reduce(_or)
red_max = team_reduce(_max)
#: Team (max, first index of the max): ``red_argmax(sh, si, tid, lane, T, v, i, 0)``.
red_argmax = team_reduce2(_argmax_op)


@cuda.jit(device=True)
def team_item(T, n):
    """(tid, lane, item, valid, item or 0) of this thread: each team of ``T`` threads works
    on one item (a row, or a draw) of ``n``; teams past the end are not valid and use item 0
    (they still take part in the barriers)."""
    tid = cuda.threadIdx.x
    lane = tid % T
    item = cuda.blockIdx.x * (BLOCK // T) + tid // T
    valid = item < n
    return tid, lane, item, valid, (item if valid else 0)
