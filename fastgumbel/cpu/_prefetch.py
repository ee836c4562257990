"""Software prefetch: cache lines requested before the loops that read or write them."""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._numba import helper


def _prefetcher(write):
    """An intrinsic ``(arr, i)`` that hints the CPU to bring the cache line of ``arr[i]`` into
    all cache levels (LLVM ``llvm.prefetch``, high locality), to read it or, with ``write``,
    to write it (the line arrives owned, so the stores that follow do not wait for it); no
    effect on results."""
    @intrinsic
    def prefetch(typingctx, arr, i):
        if not (isinstance(arr, types.Array) and isinstance(i, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            name = "llvm.prefetch.p0"
            fn = builder.module.globals.get(name) or ir.Function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name)
            ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
            builder.call(fn, [ptr, ir.Constant(i32, int(write)), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.none(arr, i), codegen

    return prefetch


_prefetch = _prefetcher(False)
_prefetch_w = _prefetcher(True)


@helper
def _prefetch_span(a, n):
    """Prefetch a[:n] (every 64-byte line) before a long computation that then reads it: the
    hardware prefetcher would start only at the first miss, after the computation."""
    step = max(1, 64 // a.itemsize)
    for j in range(0, n, step):
        _prefetch(a, j)


@helper
def prefetch_next_row(x, out, r, j0, n):
    """Prefetch columns j0 .. j0+n-1 of row r of x (to read) and of out (to write), if there
    is a row r: called by a row's loops a few lines at a time for the row after it.

    Rows of at most CHUNK columns are a few 4 KiB pages, at whose edges the hardware
    prefetcher stops, so each row would start with its logits and its output lines coming
    from memory (the output's for ownership); requested in small batches during the row
    before, they arrive in time (measured: the soft sample 5-8 % faster, most right after
    another library's call has moved the arrays out of cache; the whole next row requested
    at once, or only the next row's logits, gained nothing)."""
    if r < x.shape[0]:
        xr = x[r]
        o = out[r]
        step = max(1, 64 // xr.itemsize)
        for j in range(j0, min(j0 + n, xr.shape[0]), step):
            _prefetch(xr, j)
            _prefetch_w(o, j)
