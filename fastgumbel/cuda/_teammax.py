"""Team max reductions of the float32 Gumbel-max search (:mod:`._argmax`): one barrier each.

Max is idempotent, so the second butterfly need not know the team's width: each lane of a
team reads the value of warp ``lane mod (T / 32)`` of its team (every warp value 32 / (T / 32)
times over the warp) and a whole 5-level butterfly folds them, without the run-time tests
of a butterfly cut to ``T / 32`` lanes (:func:`._team.team_reduce`). Each reduction of a
kernel gets its own shared array, so no barrier is needed before the warp values are
written (no other reduction of the thread reads that array); in the CUDA simulator, whose
butterfly goes through the shared array, the barrier stays. This holds because each
reduction runs once per thread per kernel: a kernel that ran one in a loop (a
grid-stride loop over rows) would need the barrier before the write back.

``pack(v, col)``: (value, first column) as one int64 key, the float's
order bits above the complement of the column, so that one max gives the largest value and,
among equal ones, the least column.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from .._scalar import order_key_f32
from ._nvvm import fmax
from ._team import SIM, _butterflies

_LOW = np.int64(0xFFFFFFFF)
_U = np.uint64
_ZERO = np.float32(0.0)


@cuda.jit(device=True)
def _mxf(a, b):
    return b if b > a else a


def _team_max(op):
    wb = _butterflies(op)[0]

    @cuda.jit(device=True)
    def red(sh, tid, at, T, v):
        v = wb(sh, tid, v, 16)
        if T > 32:
            if SIM:
                cuda.syncthreads()
            sh[_U(tid >> 5)] = v       # every lane of the warp: the same value, no branch
            cuda.syncthreads()
            v = wb(sh, tid, sh[_U(at)], 16)
        return v
    return red


@cuda.jit(device=True)
def warp_slot(tid, lane, T):
    """The ``at`` argument of :data:`team_max`: the shared slot of warp ``lane mod (T / 32)``
    of this thread's team (computed once per thread)."""
    return ((tid - lane) >> 5) + (lane & ((T >> 5) - 1))


#: ``red(sh, tid, at, T, v)``: the team max of an int64 key; ``sh`` a shared array of
#: BLOCK values used by this reduction only.
team_max = _team_max(_mxf)
#: The same for float32 (``max.f32``: NaN never wins).
team_fmax = _team_max(fmax)


@cuda.jit(device=True)
def pack(v, col):
    """The int64 key of a finite or -inf float32 ``v`` at column ``col`` (0 <= col <
    2**32): larger for a larger ``v`` (-0 as +0), then for a smaller ``col``; its high word
    is under 0x7F800000 (+inf's)."""
    return (np.int64(order_key_f32(v + _ZERO)) << np.int64(32)) | (_LOW - np.int64(col))


@cuda.jit(device=True)
def key_column(key):
    """The column of a key of :func:`pack` (or of ``hi << 32 | (0xFFFFFFFF - col)``)."""
    return _LOW - (key & _LOW)
