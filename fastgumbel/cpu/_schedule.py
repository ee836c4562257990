"""How the kernels share rows among threads: each worker claims blocks of rows from a
shared atomic counter (:func:`_blocks`, :func:`_claim`)."""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._numba import PARALLEL, helper, inline_always


@intrinsic
def _fetch_add(typingctx, arr, v):
    """Atomically ``arr[0] += v`` for a 1-element int64 array; returns the value before."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64
            and isinstance(v, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        val = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.atomic_rmw("add", ary.data, val, "seq_cst")

    return types.int64(arr, v), codegen


@intrinsic
def _num_threads(typingctx):
    """``numba.get_num_threads()`` as a direct call of the threading layer's C function, as
    Numba's own parallel loops make it (Numba's overload of get_num_threads calls through a
    ctypes pointer, which keeps the caller out of the on-disk cache). 1 in the serial build."""
    if PARALLEL:
        from numba.np.ufunc.parallel import _launch_threads
        _launch_threads()       # registers the symbol (cached parallel code re-runs this)

    def codegen(context, builder, signature, args):
        if not PARALLEL:
            return context.get_constant(types.intp, 1)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(cgutils.intp_t, []),
                                            "get_num_threads")
        return builder.call(fn, [])

    return types.intp(), codegen


#: Elements per block of rows handed out by :func:`_claim`: small enough that the running
#: threads take over the share of a thread that starts late, large enough that the shared
#: counter is touched rarely.
BLOCK_ELEMS = 16384


@inline_always
def _blocks(rows, K):
    """(workers, rows per block, blocks, counter) for a kernel that hands out blocks of rows.

    The kernels run one prange item per thread ("worker"), and each worker claims the next
    block of rows from a shared counter until none is left. Numba's prange alone gives each
    thread a fixed half of the rows: when one thread starts late (a worker woken from sleep,
    or a vCPU another process holds), the other finishes its half and waits. With blocks, the thread that is
    running takes over. Rows are independent, so the result is the same bits whoever
    computes a block. (Inlined at the Numba IR level: a separately cached function that calls
    the threading layer's C symbol could be loaded before Numba has registered it, which
    aborts the process; the parallel kernels' cache entries start the threading layer first.)
    """
    rb = max(1, BLOCK_ELEMS // max(K, 1))
    nb = (rows + rb - 1) // rb
    return min(_num_threads(), max(nb, 1)), rb, nb, np.zeros(1, np.int64)


@helper
def _claim(counter):
    """The next block index from _blocks' counter (past the last block: stop)."""
    return _fetch_add(counter, 1)
