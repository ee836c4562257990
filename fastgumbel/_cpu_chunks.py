"""Building blocks of the Numba CPU kernels, shared by :mod:`fastgumbel.cpu` (noise, the
softmax family, argmax, backward) and :mod:`fastgumbel._cpu_draws` (many draws, counts,
top-k): the noise of one chunk of a row (stream spec v1), its sum with the logits and their
max, the first argmax, fixed-order sums, the block schedule of rows over threads, and dtype
helpers.

Every function here is compiled into its callers; nothing input-sized is allocated (only the
64 partial sums of a fixed-order sum and the block counter).
"""
from __future__ import annotations

import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._scalar import (MASK32, SH32, exponential_bits32, exponential_bits64, f32_as_i32, f64_as_i64,
                      gumbel_bits32, gumbel_bits64, i32_as_f32, i64_as_f64, philox_block,
                      uniform_bits32, uniform_bits64, wide_vectors)

#: Columns per chunk: a multiple of 4 (one Philox block gives 4 words).
CHUNK = 2048

_inline = njit(cache=True, nogil=True, error_model="numpy")
# inlined into each caller at the Numba IR level, so that constant arguments specialize it
_inline_always = njit(inline="always", cache=True, nogil=True, error_model="numpy")
# FASTGUMBEL_SERIAL_KERNELS=1 compiles the kernels without prange parallelism: Numba does not
# bounds-check inside parallel loops, so the bounds-checked CI pass (.ci/run) uses this.
PARALLEL = os.environ.get("FASTGUMBEL_SERIAL_KERNELS", "") != "1"
_kernel = njit(parallel=PARALLEL, cache=True, nogil=True, error_model="numpy")

_U = np.uint64


def typed(value, arr):
    """``value`` cast to the dtype of ``arr`` (compiled code only)."""
    raise NotImplementedError


def tiny_of(arr):
    """Smallest positive normal number of ``arr``'s dtype (compiled code only)."""
    raise NotImplementedError


@overload(typed)
def _typed(value, arr):
    dt = arr.dtype
    return lambda value, arr: dt(value)


@overload(tiny_of)
def _tiny_of(arr):
    dt = arr.dtype
    tiny = float(np.finfo(np.dtype(str(dt))).tiny)
    return lambda arr: dt(tiny)


def eps_of(arr):
    """Machine epsilon (ulp of 1) of ``arr``'s dtype (compiled code only)."""
    raise NotImplementedError


def exp_shift(arr, bits64):
    """The shift C of the tau == 1 softmax (cpu._ratio_chunk) for ``arr``'s dtype and the
    word width, or 0 where that path is not exact (float32 with 64-bit words); compiled code
    only."""
    raise NotImplementedError


@overload(eps_of)
def _eps_of(arr):
    dt = arr.dtype
    eps = float(np.finfo(np.dtype(str(dt))).eps)
    return lambda arr: dt(eps)


@overload(exp_shift)
def _exp_shift(arr, bits64):
    dt = arr.dtype
    if dt == types.float32:
        return lambda arr, bits64: dt(0.0 if bits64 else 32.0)
    return lambda arr, bits64: dt(64.0)


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


#: Elements per block of rows handed out by :func:`_claim` (about 30 us of soft-sample work).
BLOCK_ELEMS = 16384


@_inline_always
def _blocks(rows, K):
    """(workers, rows per block, blocks, counter) for a kernel that hands out blocks of rows.

    The kernels run one prange item per thread ("worker"), and each worker claims the next
    block of rows from a shared counter until none is left. Numba's prange alone gives each
    thread a fixed half of the rows: when one thread starts late (a worker woken from sleep,
    or a vCPU another process holds: measured up to 4 ms after a JAX call on this 2-vCPU
    machine), the other finishes its half and waits. With blocks, the thread that is
    running takes over. Rows are independent, so the result is the same bits whoever
    computes a block. (Inlined at the Numba IR level: a separately cached function that calls
    the threading layer's C symbol could be loaded before Numba has registered it, which
    aborts the process; the parallel kernels' cache entries start the threading layer first.)
    """
    rb = max(1, BLOCK_ELEMS // max(K, 1))
    nb = (rows + rb - 1) // rb
    return min(_num_threads(), max(nb, 1)), rb, nb, np.zeros(1, np.int64)


@_inline
def _claim(counter):
    """The next block index from _blocks' counter (past the last block: stop)."""
    return _fetch_add(counter, 1)


@_inline
def _prefetch_span(a, n):
    """Prefetch a[:n] (every 64-byte line) before a long computation that then reads it: the
    hardware prefetcher would start only at the first miss, after the computation."""
    step = max(1, 64 // a.itemsize)
    for j in range(0, n, step):
        _prefetch(a, j)


@_inline
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


@_inline
def _words(k0, k1, stream, row, col0, n, bits64, wbuf):
    """Fill the uint32 buffer ``wbuf`` with the Philox blocks covering columns col0 .. col0+n-1
    of ``row`` (col0 % 4 == 0), four words per block in order.

    32-bit mode: column c is word c % 4 of counter (c // 4, stream, row_lo, row_hi), so
    column col0 + j is wbuf[j]. 64-bit mode: column c is words 2(c % 2) (low half) and
    2(c % 2) + 1 (high half) of counter (c // 2, stream, row_lo, row_hi), so column col0 + j
    is wbuf[2j] (low) and wbuf[2j + 1] (high).
    """
    rlo = row & MASK32
    rhi = row >> SH32
    per = 2 if bits64 else 4
    b0 = col0 // per
    for q in range((n + per - 1) // per):
        a0, a1, a2, a3 = philox_block(_U(b0 + q), stream, rlo, rhi, k0, k1)
        wbuf[4 * q] = a0
        wbuf[4 * q + 1] = a1
        wbuf[4 * q + 2] = a2
        wbuf[4 * q + 3] = a3


@_inline
def _gumbel_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, g):
    """g[:n] = standard Gumbel noise of columns col0 .. col0+n-1 of ``row``."""
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            g[j] = gumbel_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            g[j] = gumbel_bits32(wbuf[j])


@_inline
def _exponential_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, e):
    """e[:n] = E = -log(U) of columns col0 .. col0+n-1 of ``row``: the exponential variates
    whose -log is the Gumbel noise of :func:`_gumbel_chunk`."""
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            e[j] = exponential_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            e[j] = exponential_bits32(wbuf[j])


@_inline
def _uniform_chunk(k0, k1, stream, row, col0, n, bits64, wbuf, g):
    _words(k0, k1, stream, row, col0, n, bits64, wbuf)
    if bits64:
        for j in range(n):
            g[j] = uniform_bits64(wbuf[2 * j], wbuf[2 * j + 1])
    else:
        for j in range(n):
            g[j] = uniform_bits32(wbuf[j])


#: Fixed-order sums (independent of threads and vector width): element j of a run of values
#: is added to partial sum j % LANES, in the loop that forms it, and the partial sums are then
#: added as a fixed tree (:func:`_lanes_total`). 64 partial sums are four 512-bit (or eight
#: 256-bit) registers, so the adds do not wait on each other, without reassociation; a sum
#: fused into the loop that forms its terms also saves a pass over them.
LANES = 64


@_inline
def _lanes(v):
    """An accumulator of LANES partial sums, of v's dtype: allocated once per thread (an
    allocation per row cost about 0.1 ms per 4096 rows) and zeroed by each sum."""
    return np.empty(LANES, v.dtype)


@_inline
def _lanes_total(acc):
    """The sum of the LANES partial sums: pairs LANES/2 apart, then halving."""
    w = LANES // 2
    while w >= 1:
        for j in range(w):
            acc[j] += acc[j + w]
        w //= 2
    return acc[0]


def order_key(v):
    """Signed integer of ``v``'s width that orders like the float (compiled code only)."""
    raise NotImplementedError


def key_value(k):
    """The float whose :func:`order_key` is ``k`` (compiled code only)."""
    raise NotImplementedError


# Loops index slices (``xs = xr[c0:c0 + n]; xs[j]``), never ``xr[c0 + j]``: Numba's negative-index
# wraparound on ``c0 + j`` hides the unit stride from LLVM, which then vectorizes with gathers
# and scatters (measured: the fused backward 2x slower).

# Max reductions run on order keys: an integer max vectorizes without fast-math flags, is
# exact, and is independent of the lane count. (Numba widens int32 arithmetic to int64, hence
# the explicit casts: float32 keys stay 32-bit.) (A float max would need LLVM's no-NaN
# assumption; NaN rows are detected separately and give NaN whatever the key max is.)

@overload(order_key, inline="always")
def _order_key(v):
    if v == types.float32:
        def impl(v):
            b = f32_as_i32(v)
            return np.int32(b ^ ((b >> np.int32(31)) & np.int32(0x7FFFFFFF)))
    else:
        def impl(v):
            b = f64_as_i64(v)
            return b ^ ((b >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))
    return impl


@overload(key_value, inline="always")
def _key_value(k):
    if k == types.int32:
        return lambda k: i32_as_f32(np.int32(k ^ ((k >> np.int32(31)) & np.int32(0x7FFFFFFF))))
    return lambda k: i64_as_f64(k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF)))


def log2_bound(v):
    """e + f for a positive normal v = 2**e (1 + f), read off v's bits: at most log2(v) and
    within 0.0861 of it (compiled code only). float64 reads the high 32 bits (f truncated to
    20 bits: still at most log2(v)), converted from int32 as every x86 vector unit can."""
    raise NotImplementedError


@overload(log2_bound, inline="always")
def _log2_bound(v):
    if v == types.float32:
        return lambda v: np.float32(f32_as_i32(v)) * np.float32(2.0 ** -23) - np.float32(127)
    return lambda v: (np.float64(np.int32(f64_as_i64(v) >> np.int64(32))) * 2.0 ** -20
                      - 1023.0)


_LN2 = 0.6931471805599453


@_inline
def _max_nan(v, n):
    """(max of v[:n], any NaN) from the max and min of the order keys: vectorized, exact, in
    32-bit lanes for float32 (a NaN's key lies above +inf's or below -inf's, so no separate
    NaN test). The max is meaningful only without NaN."""
    kinf = order_key(typed(np.inf, v))
    kninf = order_key(typed(-np.inf, v))
    kmax = kninf
    kmin = kinf
    for j in range(n):
        kv = order_key(v[j])
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
    return key_value(kmax), kmax > kinf or kmin < kninf


@_inline
def _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, seg):
    """seg[:n] = x[c0:c0+n] + Gumbel noise; returns (max, any NaN); the max is meaningful
    only without NaN.

    Two loops, each vectorized: the noise, then the sum with the max and min of its order
    keys, all in 32-bit lanes for float32 (a NaN has a key above +inf's or below -inf's, so
    no separate NaN count, whose wider lanes had narrowed the whole loop to 128-bit vectors;
    measured: one fused loop with the noise does not vectorize and is slower).
    """
    xs = xr[c0:c0 + n]
    _prefetch_span(xs, n)     # the logits load while the noise is computed
    _gumbel_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, seg)
    kinf = order_key(typed(np.inf, seg))
    kninf = order_key(typed(-np.inf, seg))
    kmax = kninf
    kmin = kinf
    for j in range(n):
        v = xs[j] + seg[j]
        seg[j] = v
        kv = order_key(v)
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
    return key_value(kmax), kmax > kinf or kmin < kninf


# The softmax family in three steps per chunk of a row, shared by the two kernels below:
#   1. s = x + g and the row max M (_perturb_chunk);
#   2. e = exp((s - M) / tau) and the chunk's sum (_exp_chunk); S = sum of the chunk sums in
#      chunk order (so the result does not depend on which kernel ran);
#   3. soft = e * (1 / S), log = (s - M) / tau - log(S), hard = one-hot of the first j with
#      e_j * (1 / S) == 1 / S, the first argmax of the soft sample (_finish_chunk). The row
#      kernel finds that index from s alone when no other s_j is within 2**-19 tau of M
#      (cpu._sole_max: almost every row), skipping steps 2 and 3.
# A row with a NaN gives NaN; a row whose logits are all -inf gives 0 (soft, hard) or -inf
# (log); a row whose max is +inf is counted and the caller raises.


@_inline
def _first_equal(v, n, m, scale):
    """First j < n with v[j] * scale == m, or -1: blocks of 64 are tested with a vectorized
    any, and only the block that holds a hit is scanned (scale = 1: v[j] == m, exactly)."""
    for b0 in range(0, n, 64):
        vb = v[b0:min(b0 + 64, n)]
        hit = False
        for j in range(vb.shape[0]):
            hit |= vb[j] * scale == m
        if hit:
            for j in range(vb.shape[0]):
                if vb[j] * scale == m:
                    return b0 + j
    return -1


@_inline
def bound_chunk(xs, n, u, want_xmax):
    """u[:n] = x - ln 2 log2_bound(E) in place of E = u[:n]: an upper bound of x + g,
    g = -log(E), at most 0.0598 above it; returns (max u, any NaN, max x), the maxima
    meaningful only without NaN.

    (In place: a loop that loads through one name of an array and stores through another
    needs LLVM's runtime alias check, which fails when they are the same, and runs scalar.)
    g = -log(E) lies within 0.0861 ln 2 below -ln 2 (e + f) read off E's bits
    (E = 2**e (1 + f); log2(1 + f) is between f and f + 0.0861), so only entries whose u is
    at least :func:`bound_threshold` of the max u can hold the max of x + g: about one or
    two per row."""
    wide_vectors()
    kinf = order_key(typed(np.inf, u))
    kninf = order_key(typed(-np.inf, u))
    kmax = kninf
    kmin = kinf
    xmax = kninf
    for j in range(n):
        xj = xs[j]
        v = xj - log2_bound(u[j]) * typed(_LN2, u)
        u[j] = v
        kv = order_key(v)
        kmax = kv if kv > kmax else kmax
        kmin = kv if kv < kmin else kmin
        if want_xmax:
            kx = order_key(xj)
            xmax = kx if kx > xmax else xmax
    return key_value(kmax), kmax > kinf or kmin < kninf, key_value(xmax)


@_inline
def bound_threshold(top, u):
    """The least u (of :func:`bound_chunk`) whose x + g can reach the max of x + g, for a
    finite max u ``top``, with x + g and everything derived from it (exp(x + g - c)) computed
    to within a few ulps. 0.0598 is the band 0.0861 ln 2 = 0.05968 rounded up by 1.2e-4,
    which covers the errors of g, of log2_bound's conversion and of RN(ln 2) (under 3e-5
    together); |top| 2**-20 covers the roundings of u and of x + g (half an ulp of about
    |top| each)."""
    return top - (typed(0.0598, u) + abs(top) * typed(2.0 ** -20, u))


@_inline
def next_at_least(v, n, thr, start):
    """The first j >= start (j < n) with v[j] >= thr, or -1: blocks of 64 are tested with a
    vectorized any, and only a block that holds a hit is scanned."""
    for b0 in range(start, n, 64):
        vb = v[b0:min(b0 + 64, n)]
        hit = False
        for j in range(vb.shape[0]):
            hit |= vb[j] >= thr
        if hit:
            for j in range(vb.shape[0]):
                if vb[j] >= thr:
                    return b0 + j
    return -1


@_inline
def chunk_argmax(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf):
    """(max, first index of it or -1 if the max is -inf, any NaN) of x[c0:c0+n] + g over
    one chunk of a noise row, with one log per element for almost all of them: the bound u
    of :func:`bound_chunk`, and x + g only where u reaches :func:`bound_threshold`, computed
    exactly as :func:`_perturb_chunk` computes it (the same operations, so the same bits);
    the first max among them is the first max of the chunk. A row with +inf falls back to
    the full computation."""
    xs = xr[c0:c0 + n]
    _prefetch_span(xs, n)     # the logits load while the noise is computed
    _exponential_chunk(k0, k1, stream, row, c0, n, bits64, wbuf, gbuf)
    top, nan, _ = bound_chunk(xs, n, gbuf, False)
    if nan:
        return top, -1, True
    if top == -np.inf:
        return top, -1, False
    if top == np.inf:
        m, nn = _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf)
        return m, c0 + _first_equal(gbuf, n, m, typed(1, gbuf)), nn
    thr = bound_threshold(top, gbuf)
    best = typed(-np.inf, gbuf)
    bi = -1
    # the scan of next_at_least, inlined: restarting it after each candidate made
    # gumbel_max 2-3 % slower (measured, 2026-11-26)
    for b0 in range(0, n, 64):
        ub = gbuf[b0:min(b0 + 64, n)]
        hit = False
        for j in range(ub.shape[0]):
            hit |= ub[j] >= thr
        if hit:
            for j in range(ub.shape[0]):
                if ub[j] >= thr:
                    c = b0 + j
                    if bits64:
                        s = xs[c] + typed(gumbel_bits64(wbuf[2 * c], wbuf[2 * c + 1]), gbuf)
                    else:
                        s = xs[c] + typed(gumbel_bits32(wbuf[c]), gbuf)
                    if s > best:
                        best = s
                        bi = c
    return best, c0 + bi, False


@_inline
def _row_argmax(xr, K, k0, k1, stream, row, bits64, wbuf, gbuf):
    """First argmax over columns of x + g for one noise row: (index, max, any NaN)."""
    if K <= CHUNK:
        # the common short row without the chunk loop around it: with the loop, LLVM
        # vectorizes the chunk worse (measured 1.5x slower at K = 1024)
        m, i, nn = chunk_argmax(xr, 0, K, k0, k1, stream, row, bits64, wbuf, gbuf)
        return (i if m > -np.inf else -1), m, nn
    best = typed(-np.inf, gbuf)
    bi = -1
    nan = False
    for c0 in range(0, K, CHUNK):
        n = min(CHUNK, K - c0)
        m, i, nn = chunk_argmax(xr, c0, n, k0, k1, stream, row, bits64, wbuf, gbuf)
        nan |= nn
        if m > best:
            best = m
            bi = i
    return bi, best, nan
