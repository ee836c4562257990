"""The fused Gumbel-softmax kernels (soft, log-soft, hard), one row or one (row, chunk) item
at a time, and the host functions that choose between them."""
from __future__ import annotations

import numba
import numpy as np
from numba import prange, types, typeof

from .._numba import helper, inline_always, kernel
from ._dtypes import _U, exp_shift, tau_at, tiny_of, typed
from ._noise import CHUNK, _perturb_chunk
from ._power import (power_chunk_first, power_chunk_last, power_chunk_second, power_of, power_row,
                     power_scaled)
from ._ratio import _hard_any_tau, _ratio_chunk, _ratio_row
from ._reduce import _first_equal, _lanes, _max_nan
from ._schedule import BLOCK_ELEMS, _blocks, _claim
from ._short import GROUP, SHORT_K, row_buffers, short_group
from ._softmax_steps import HARD, LOG, SOFT, _exp_chunk, _finish_chunk, _sole_max, _special_row


@inline_always
def _softmax_row(xr, o, row, k0, k1, stream, bits64, t, mode, wbuf, ebuf, acc, x, out, rn):
    """One row of the softmax family into ``o`` (kept in cache through the three steps);
    returns True if the row's max(x + g) is +inf. A row of at most CHUNK columns skips the
    chunk loops (with them LLVM vectorizes the steps worse: measured 1.3x slower at
    K = 1024); the arithmetic is the same. Soft and hard samples at tau == 1 take
    :func:`_ratio_row` (one log per element instead of two), which prefetches row ``rn`` of
    the kernel's arrays ``x`` and ``out`` (rn < 0: none)."""
    C = exp_shift(o, bits64)
    if mode != LOG and t == 1 and C > 0:
        return _ratio_row(xr, o, row, k0, k1, stream, bits64, C, mode, wbuf, acc, x, out, rn)
    if mode != LOG and C > 0:
        k = power_of(t, o)
        if k > 0:
            return power_row(xr, o, row, k0, k1, stream, bits64, k, mode, wbuf, acc, x, out,
                             rn)
    K = xr.shape[0]
    hard_search = mode == HARD and t >= tiny_of(o) * typed(2.0 ** 19, o)
    if hard_search and K <= CHUNK:
        first = _hard_any_tau(xr, K, k0, k1, stream, row, bits64, wbuf, t, o)
        if first >= 0:
            o[:] = 0
            o[first] = 1
            return False
    if K <= CHUNK:
        M, nan = _perturb_chunk(xr, 0, K, k0, k1, stream, row, bits64, wbuf, o)
    else:
        M = typed(-np.inf, o)
        nan = False
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            m, nn = _perturb_chunk(xr, c0, n, k0, k1, stream, row, bits64, wbuf, o[c0:c0 + n])
            M = m if m > M else M
            nan |= nn
    done, inf = _special_row(o, M, nan, mode)
    if done:
        return inf
    one = typed(1, o)
    if hard_search:
        first = _sole_max(o, K, M, -t * typed(2.0 ** -19, o))
        if first >= 0:
            o[:] = 0
            o[first] = 1
            return False
    if K <= CHUNK:
        S = _exp_chunk(o, K, M, t, mode, ebuf, acc, x, out, rn)
        first = _finish_chunk(o, K, M, t, S, mode, True, one)
    else:
        S = typed(0, o)
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            S += _exp_chunk(o[c0:c0 + n], n, M, t, mode, ebuf, acc, x, out, -1)
        first = -1
        for c0 in range(0, K, CHUNK):
            n = min(CHUNK, K - c0)
            f = _finish_chunk(o[c0:c0 + n], n, M, t, S, mode, first < 0, one)
            first = c0 + f if f >= 0 and first < 0 else first
    if mode == HARD:
        o[first] = 1
    return False


# The row function for each mode, compiled as a function of its own (which LLVM inlines):
# with the row code inlined at the Numba IR level into the prange body, and tau read per
# row, Numba's parfor pass made the hard samples at tau == 1 all zero (found by
# tests/test_fingerprint.py; the serial build was right).
@helper
def _soft_row(xr, o, row, k0, k1, stream, bits64, t, wbuf, ebuf, acc, x, out, rn):
    return _softmax_row(xr, o, row, k0, k1, stream, bits64, t, SOFT, wbuf, ebuf, acc, x, out, rn)


@helper
def _log_row(xr, o, row, k0, k1, stream, bits64, t, wbuf, ebuf, acc, x, out, rn):
    return _softmax_row(xr, o, row, k0, k1, stream, bits64, t, LOG, wbuf, ebuf, acc, x, out, rn)


@helper
def _hard_row(xr, o, row, k0, k1, stream, bits64, t, wbuf, ebuf, acc, x, out, rn):
    return _softmax_row(xr, o, row, k0, k1, stream, bits64, t, HARD, wbuf, ebuf, acc, x, out, rn)


def _rows_fn(mode):
    """Rows lo .. hi-1 of the softmax family in ``mode``: rows of at most SHORT_K columns at
    tau == 1 (soft, hard) a group at a time (:func:`._short.short_group`; the rows it leaves,
    and all others, through the row function). Same bits either way."""

    @helper
    def rows(x, out, lo, hi, row0, k0, k1, stream, bits64, tau, wbuf, ebuf, acc, bufs):
        K = x.shape[1]
        C = exp_shift(out, bits64)
        short = mode != LOG and K <= SHORT_K and C > 0
        posinf = 0
        bad = bufs[2]
        for g0 in range(lo, hi, GROUP if short else max(1, hi - lo)):
            g1 = min(hi, g0 + GROUP) if short else hi
            grouped = short
            for r in range(g0, g1 if short else g0):
                grouped &= typed(tau_at(tau, r), out) == 1
            if grouped:
                bad = short_group(x, out, g0, g1 - g0, row0, k0, k1, stream, bits64, C, mode,
                                  bufs)
            for r in range(g0, g1):
                if grouped and bad[r - g0] == 0:
                    continue
                t = typed(tau_at(tau, r), out)
                if mode == SOFT:
                    inf = _soft_row(x[r], out[r], _U(row0 + r), k0, k1, stream, bits64, t,
                                    wbuf, ebuf, acc, x, out, r + 1)
                elif mode == LOG:
                    inf = _log_row(x[r], out[r], _U(row0 + r), k0, k1, stream, bits64, t,
                                   wbuf, ebuf, acc, x, out, r + 1)
                else:
                    inf = _hard_row(x[r], out[r], _U(row0 + r), k0, k1, stream, bits64, t,
                                    wbuf, ebuf, acc, x, out, r + 1)
                posinf += 1 if inf else 0
        return posinf

    return rows


#: mode -> the rows function of :func:`_rows_fn`
_ROWS = {m: _rows_fn(m) for m in (SOFT, LOG, HARD)}


def _row_kernel(mode):
    """The softmax-family kernel parallel over rows for one ``mode`` (SOFT, LOG, HARD).

    ``mode`` is a constant of each compiled kernel (a closure variable, which Numba freezes),
    so only the used mode's code is compiled, and the row function inlined into each kernel
    is specialized for it (measured 6-10 % faster than one kernel taking the mode as an
    argument). Numba's cache keys each closure by its constants.
    """

    rows_of = _ROWS[mode]

    @kernel
    def by_row(x, out, row0, k0, k1, stream, bits64, tau):
        """Parallel over rows; each row stays in cache through the three steps."""
        rows, K = x.shape
        posinf = 0
        nw, rb, nb, counter = _blocks(rows, K)
        for w in prange(nw):
            wbuf, ebuf, acc, bufs = row_buffers(out, K, rows, mode == LOG)
            found = 0
            b = _claim(counter)
            while b < nb:
                found += rows_of(x, out, b * rb, min(rows, (b + 1) * rb), row0, k0, k1, stream,
                                 bits64, tau, wbuf, ebuf, acc, bufs)
                b = _claim(counter)
            posinf += found
        return posinf

    return by_row


@inline_always
def _row_maxima(part, flag, out, mode):
    """Step 1 of ``by_chunk`` across chunks: each row's max of its chunk maxima ``part``; the
    NaN (``flag``), +inf and all -inf rows are filled (:func:`_special_row`). Returns (the
    maxima, the rows left to compute, the number of rows whose max is +inf)."""
    rows, nb = part.shape
    Ms = np.empty(rows, out.dtype)
    live = np.zeros(rows, np.bool_)
    posinf = 0
    for r in range(rows):
        M = typed(-np.inf, out)
        for b in range(nb):
            M = part[r, b] if part[r, b] > M else M
        Ms[r] = M
        done, inf = _special_row(out[r], M, flag[r].sum() > 0, mode)
        live[r] = not done
        posinf += 1 if inf else 0
    return Ms, live, posinf


@inline_always
def _row_totals(part, top):
    """Step 2 of ``by_chunk`` across chunks: part[r, 0] = the sum of row r's chunk sums, in
    chunk order; top[r, 0] = the largest of its chunks' ``top``."""
    rows, nb = part.shape
    for r in range(rows):
        S = typed(0, part)
        w = top[r, 0]
        for b in range(nb):
            S += part[r, b]
            w = top[r, b] if top[r, b] > w else w
        part[r, 0] = S
        top[r, 0] = w


@inline_always
def _hard_ones(out, flag, live):
    """Step 3 of ``by_chunk`` across chunks, hard mode: the one of each live row, at the
    first index its chunks found (``flag``: -1 in a chunk without it)."""
    rows, nb = flag.shape
    for r in range(rows):
        if live[r]:
            for b in range(nb):
                if flag[r, b] >= 0:
                    out[r, b * CHUNK + flag[r, b]] = 1
                    break


def _chunk_kernel(mode):
    """The softmax-family kernel parallel over (row, chunk) items for one ``mode`` (see
    :func:`_row_kernel`)."""

    @kernel
    def by_chunk(x, out, row0, k0, k1, stream, bits64, tau):
        """Parallel over (row, chunk) items in three passes. Same bits as ``by_row`` (at
        tau == 1 the soft and hard samples take the passes of :func:`_ratio_row`)."""
        rows, K = x.shape
        C = exp_shift(out, bits64)
        nb = (K + CHUNK - 1) // CHUNK
        part = np.empty((rows, nb), out.dtype)      # chunk max, then chunk sum
        top = np.ones((rows, nb), out.dtype)        # chunk's largest e (ratio: max w)
        flag = np.zeros((rows, nb), np.int64)       # chunk has NaN, then chunk's first hard index
        ptop = np.zeros((rows, nb), out.dtype)      # tau = 1 / k, hard: chunk's largest (w s)**k
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            t = typed(tau_at(tau, r), out)
            if mode != LOG and C > 0 and (t == 1 or power_of(t, out) > 0):
                m, nn = _max_nan(x[r][c0:c0 + n], n)
            else:
                wbuf = np.empty(2 * CHUNK, np.uint32)
                m, nn = _perturb_chunk(x[r], c0, n, k0, k1, stream, _U(row0 + r), bits64, wbuf,
                                       out[r][c0:c0 + n])
            part[r, item % nb] = m
            flag[r, item % nb] = 1 if nn else 0
        Ms, live, posinf = _row_maxima(part, flag, out, mode)
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            if live[r]:
                seg = out[r][c0:c0 + n]
                t = typed(tau_at(tau, r), out)
                k = power_of(t, out) if mode != LOG and C > 0 and t != 1 else 0
                if k > 0:
                    power_chunk_first(x[r][c0:c0 + n], n, Ms[r], seg, k0, k1, stream,
                                      _U(row0 + r), c0, bits64, k, mode, part[r], top[r],
                                      ptop[r], item % nb, x, out)
                elif mode != LOG and t == 1 and C > 0:
                    wbuf = np.empty(2 * CHUNK, np.uint32)
                    part[r, item % nb] = _ratio_chunk(x[r], c0, n, k0, k1, stream,
                                                      _U(row0 + r), bits64, wbuf, Ms[r] - C, seg,
                                                      _lanes(seg), x, out)
                    if mode == HARD:
                        top[r, item % nb] = _max_nan(seg, n)[0]
                else:
                    ebuf = np.empty(n if mode == LOG else 0, out.dtype)
                    part[r, item % nb] = _exp_chunk(seg, n, Ms[r], t, mode, ebuf,
                                                    _lanes(seg), x, out, -1)
        if mode != LOG and C > 0:
            # rows at tau = 1 / k whose w are scaled: the powers (power_row's second pass)
            for item in prange(rows * nb):
                r = item // nb
                c0 = (item % nb) * CHUNK
                t = typed(tau_at(tau, r), out)
                k = power_of(t, out) if t != 1 else 0
                if live[r] and k > 0 and power_scaled(k, out):
                    power_chunk_second(out[r][c0:c0 + min(CHUNK, K - c0)], k, mode, part[r],
                                       top[r], ptop[r], item % nb)
        _row_totals(part, top)
        for item in prange(rows * nb):
            r = item // nb
            c0 = (item % nb) * CHUNK
            n = min(CHUNK, K - c0)
            t = typed(tau_at(tau, r), out)
            if live[r] and mode != LOG and C > 0 and t != 1 and power_of(t, out) > 0:
                flag[r, item % nb] = power_chunk_last(out[r][c0:c0 + n], mode, part[r, 0],
                                                      ptop[r])
            elif live[r]:
                flag[r, item % nb] = _finish_chunk(out[r][c0:c0 + n], n, Ms[r],
                                                   typed(tau_at(tau, r), out), part[r, 0],
                                                   mode, True, top[r, 0])
        if mode == HARD:
            _hard_ones(out, flag, live)
        return posinf

    return by_chunk


#: mode -> (by_row, by_chunk)
_SOFTMAX_KERNELS = {m: (_row_kernel(m), _chunk_kernel(m)) for m in (SOFT, LOG, HARD)}


def _serial_kernel(mode):
    """The softmax-family kernel for small arrays: the rows in order on the calling thread.
    Below :data:`SERIAL_ELEMS` elements ``by_row`` has a single block of rows, so a single
    worker, and launching it through Numba's thread pool costs more than the work
    (bench/RESULTS.md, issue 18). Same row function, same bits."""

    rows_of = _ROWS[mode]

    @helper
    def in_order(x, out, row0, k0, k1, stream, bits64, tau):
        rows, K = x.shape
        wbuf, ebuf, acc, bufs = row_buffers(out, K, rows, mode == LOG)
        return rows_of(x, out, 0, rows, row0, k0, k1, stream, bits64, tau, wbuf, ebuf, acc,
                       bufs)

    return in_order


#: Arrays of fewer elements run :func:`_serial_kernel`: one block of rows (BLOCK_ELEMS), so
#: ``by_row`` would run one worker anyway.
SERIAL_ELEMS = BLOCK_ELEMS
_SERIAL_KERNELS = {m: _serial_kernel(m) for m in (SOFT, LOG, HARD)}


def softmax_by_row(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Fused Gumbel-softmax, parallel over rows: soft (mode 0), log-soft (1), hard (2).
    Each row stays in cache through the three steps. Returns the number of rows whose
    max(x + g) is +inf (the caller raises)."""
    return _SOFTMAX_KERNELS[mode][0](x, out, row0, k0, k1, stream, bits64, tau)


def softmax_by_chunk(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """The same function as :func:`softmax_by_row`, parallel over (row, chunk) items in three
    passes: for few long rows, so that every thread works on every row. Same bits."""
    return _SOFTMAX_KERNELS[mode][1](x, out, row0, k0, k1, stream, bits64, tau)


def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Gumbel-softmax of each row of ``x`` into ``out`` (see :func:`softmax_by_row`): rows
    in order on the calling thread for small arrays (:data:`SERIAL_ELEMS`), in parallel, or
    (row, chunk) items for fewer long rows than twice the threads. The kernels give the same
    bits, so the choice never shows in the result."""
    rows, K = x.shape
    if rows * K < SERIAL_ELEMS:
        return _SERIAL_KERNELS[mode](x, out, row0, k0, k1, stream, bits64, tau)
    long_rows = K > CHUNK and rows < 2 * numba.get_num_threads()
    kernel = softmax_by_chunk if long_rows else softmax_by_row
    return kernel(x, out, row0, k0, k1, stream, bits64, tau, mode)


@helper
def one_hot_rows(y, h):
    """h[r] = the one-hot of the first maximum of y[r] (a soft sample's rows), on the
    calling thread: all 0 where y[r] is all 0 (logits all -inf), all NaN where y[r] has a
    NaN (as the hard kernel). Rows of more than ONE_HOT_SCAN columns take a vectorized max
    and search (a scalar first-max scan took 3.2 ms on 4096x1024, this 0.85), shorter ones
    the scan (2-3x faster at 10 columns)."""
    rows, K = y.shape
    for r in range(rows):
        yr = y[r]
        if K <= ONE_HOT_SCAN:
            top = yr[0]
            at = 0
            nan = top != top
            for c in range(1, K):
                v = yr[c]
                nan |= v != v
                if v > top:
                    top = v
                    at = c
        else:
            top, nan = _max_nan(yr, K)
            at = 0 if nan else _first_equal(yr, K, top, typed(1, yr))
        h[r] = np.nan if nan else 0
        if top > 0 and not nan:
            h[r, at] = 1


#: the longest row whose one-hot is found by a scalar scan (:func:`one_hot_rows`)
ONE_HOT_SCAN = 40


@kernel
def one_hot_by_row(y, h):
    """:func:`one_hot_rows` parallel over blocks of rows (the straight-through sample of a
    large array: its one-hot once its soft sample is made)."""
    rows, K = y.shape
    nw, rb, nb, counter = _blocks(rows, K)
    for w in prange(nw):
        b = _claim(counter)
        while b < nb:
            lo = b * rb
            hi = min(rows, lo + rb)
            one_hot_rows(y[lo:hi], h[lo:hi])
            b = _claim(counter)


def one_hot(y, h):
    """h = the one-hot of the first maximum of each row of the 2-d soft sample ``y``
    (:func:`one_hot_rows`): on the calling thread below :data:`SERIAL_ELEMS` elements, else
    in parallel."""
    if y.size < SERIAL_ELEMS:
        one_hot_rows(y, h)
    else:
        one_hot_by_row(y, h)


def _soft_hard_serial():
    """The serial soft sample and the one-hot of its rows (:func:`one_hot_rows`) in one
    call: a straight-through sample's forward."""
    soft = _SERIAL_KERNELS[SOFT]

    @helper
    def soft_and_hard(x, out, hard, row0, k0, k1, stream, bits64, tau):
        posinf = soft(x, out, row0, k0, k1, stream, bits64, tau)
        one_hot_rows(out, hard)
        return posinf

    return soft_and_hard


#: the soft sample and its one-hot (``softmax_rows_c(..., hard_out=)``), small arrays
_SOFT_HARD_SERIAL = _soft_hard_serial()
#: entry key -> the compiled entry point of a serial kernel for 2-d C-contiguous, aligned,
#: writeable arrays of one dtype (``_serial_entry``); the key: ``mode + 4 * itemsize`` for
#: a softmax-family mode, ``-1 - itemsize`` for the soft sample with its one-hot (ints,
#: which hash faster than a (mode, dtype) tuple)
_SERIAL_ENTRY = {}


def _serial_entry(key, disp, arrays, row0, k0, k1, stream, bits64, tau):
    """Run ``disp`` through Numba's dispatcher and keep its compiled entry point for the
    canonical argument types (other types keep the dispatcher)."""
    scalars = (row0, np.uint64(k0), np.uint64(k1), np.uint64(stream), bool(bits64), float(tau))
    res = disp(*arrays, *scalars)
    arr = types.Array(numba.from_dtype(arrays[0].dtype), 2, "C")
    if all(typeof(a) == arr for a in arrays):
        cres = disp.overloads.get((arr,) * len(arrays) + tuple(typeof(v) for v in scalars))
        if cres is not None:
            _SERIAL_ENTRY[key] = cres.entry_point
    return res


def softmax_entry(mode, dtype):
    """The compiled entry point that :func:`softmax_rows_c` calls for arrays of fewer than
    :data:`SERIAL_ELEMS` elements of ``dtype`` in ``mode`` (once it has made one; else
    ``None``): ``entry(x, out, 0, k0, k1, stream, bits64, tau)``, the arguments as there.
    A caller that keeps it skips that function's frame on each call."""
    return _SERIAL_ENTRY.get(mode + 4 * np.dtype(dtype).itemsize)


def softmax_rows_c(x, out, k0, k1, stream, bits64, tau, mode, hard_out=None):
    """:func:`softmax_rows` at ``row0 = 0`` for callers that have checked their arguments:
    ``x`` and ``out`` (and ``hard_out``) 2-d C-contiguous, aligned, writeable arrays of one
    kernel dtype (``flags.carray``); the key words ints, ``bits64`` a bool, ``tau`` a
    float. ``hard_out``: also the one-hot of the soft sample (``mode`` SOFT) there. A small
    array calls the serial kernel's compiled entry point directly: Numba's dispatcher types
    every argument on each call, an eighth of an 8x16 call (bench/RESULTS.md, issue 18)."""
    if x.size >= SERIAL_ELEMS:
        posinf = softmax_rows(x, out, 0, np.uint64(k0), np.uint64(k1), np.uint64(stream),
                              bits64, tau, mode)
        if hard_out is not None:
            one_hot_by_row(out, hard_out)
        return posinf
    if hard_out is None:
        entry = _SERIAL_ENTRY.get(mode + 4 * x.itemsize)    # kernel dtypes: itemsize 4, 8
        if entry is not None:
            return entry(x, out, 0, k0, k1, stream, bits64, tau)
        return _serial_entry(mode + 4 * x.itemsize, _SERIAL_KERNELS[mode], (x, out), 0, k0,
                             k1, stream, bits64, tau)
    entry = _SERIAL_ENTRY.get(-1 - x.itemsize)
    if entry is None:
        return _serial_entry(-1 - x.itemsize, _SOFT_HARD_SERIAL, (x, out, hard_out), 0, k0,
                             k1, stream, bits64, tau)
    return entry(x, out, hard_out, 0, k0, k1, stream, bits64, tau)
