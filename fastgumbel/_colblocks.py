"""Block functions of the Dask graphs that keep the category axis chunked, and of draw ranges.

Each function here gets one NumPy block (``(R, C)`` logits: rows ``row0 ..`` of the global
``(rows, K)`` view, columns ``col0 ..``) and returns a *partial* result that a tree of
combine steps finishes (:mod:`fastgumbel._dask_cols` builds the graph). The noise of an
element is that of its global ``(row, column)`` (stream spec v1, ``docs/rng.md``): the CPU
kernels of ``fastgumbel.cpu._colpart`` (``argmax_cols``, ``softmax_cols``,
``softmax_cols_finish``, ``topk_cols``: one fused pass per block with a column offset) and
``fill_noise_at`` generate a column block of a noise row with the same bits as the full-row
kernels, so indices do not depend on the chunking.

Draw ranges (:func:`categorical_range`, :func:`multinomial_range`): draws ``d0 .. d1 - 1``
of ``n`` per row, exactly the draws of the NumPy call with all ``n``: Gumbel-max draw ``d``
of row ``r`` reads noise row ``r * n + d``, an inverse-CDF draw reads element ``d`` of its
row's draw field; counts of disjoint ranges add up to the counts of the whole.

Memory: a block function holds its block (a copy when it is not C-contiguous in the compute
dtype), its result and, for the arg-max and softmax partials, a few buffers of ``CHUNK``
elements per thread and a few numbers per ``CHUNK`` columns (``k`` pairs for the top-k
partial); the noise functions hold at most ``NOISE_BUDGET`` noise elements beyond the
block's own size.
"""
from __future__ import annotations

import numpy as np

from . import _backends
from . import _checks as chk
from ._arrays import kernel_view
from ._core import key_args, raise_bad_rows

#: Noise elements generated at once by a block function (beyond the block's own size).
NOISE_BUDGET = 1 << 22


def _noise_at(shape, row0, col0, key, cdt, bits64, uniform=False):
    """Noise (Gumbel, or uniforms) of rows row0 .. and columns col0 .. as a ``cdt`` array."""
    g = np.empty(shape, cdt)
    if g.size and col0 == 0:       # whole rows: the NumPy call's kernel (the same bits)
        _backends.cpu().fill_noise(g, int(row0), *key_args(key), bits64, uniform, 0.0, 1.0)
    elif g.size:
        _backends.cpu().fill_noise_at(g, int(row0), int(col0), *key_args(key), bits64, uniform)
    return g


def noise_block(shape, row0, col0, dtype, key, bits64, uniform):
    """``fastgumbel.uniform`` / ``gumbel`` of a ``(rows, columns)`` block of the field."""
    dt = np.dtype(dtype)
    res = _noise_at(shape, row0, col0, key, chk.compute_dtype(dt), bits64, uniform)
    if dt == np.float16:
        res = res.astype(dt)
        if uniform:   # as the NumPy call: rounding to float16 must keep (0, 1) open
            np.clip(res, np.float16(2.0**-24), np.float16(1 - 2.0**-11), out=res)
    return res


def argmax_part(x, row0, col0, n, d0, d1, key, bits64, strict=True):
    """(best value, its global column) of draws d0 .. d1 - 1 of each row over this block's
    columns: arrays of shape (R, d1 - d0). ``n`` is the draws per row (1 for gumbel_max);
    draw d of row r reads noise row r * n + d. One fused kernel (``cpu.argmax_cols``); NaN
    raises as in the NumPy call; with ``strict=False`` (hard soft samples) the value is NaN
    instead."""
    R, C = x.shape
    cdt = chk.compute_dtype(x.dtype)
    x = kernel_view(np.ascontiguousarray(x, dtype=cdt))
    vals = np.empty((R, d1 - d0), cdt)
    idx = np.empty((R, d1 - d0), np.int64)
    if vals.size:
        nan_rows, inf_rows = _backends.cpu().argmax_cols(x, vals, idx, int(row0), int(n),
                                                         int(d0), int(col0), *key_args(key),
                                                         bits64)
        raise_bad_rows(nan_rows if strict else 0, inf_rows)
    return vals, idx


def argmax_combine(left, right):
    """Partials of adjacent column ranges, ``left`` first: the first maximum wins (a NaN
    value, of ``strict=False``, stays)."""
    (lv, li), (rv, ri) = left, right
    take = (rv > lv) | (np.isnan(rv) & ~np.isnan(lv))
    return np.where(take, rv, lv), np.where(take, ri, li)


def counts_part(idx, col0, C):
    """Counts per category of columns col0 .. col0 + C - 1 of the draws ``idx`` (R, D)."""
    R = idx.shape[0]
    out = np.zeros((R, C), np.int64)
    for r in range(R):
        i = idx[r]
        i = i[(i >= col0) & (i < col0 + C)] - col0
        out[r] = np.bincount(i, minlength=C)
    return out


def softmax_part(x, row0, col0, tau, key, bits64):
    """(max of x + g, float64 sum of exp((x + g - max) / tau)) per row of a block (an all
    -inf block gives (-inf, 0), a NaN anywhere gives NaN): one fused kernel
    (``cpu.softmax_cols``)."""
    R = x.shape[0]
    x = kernel_view(np.ascontiguousarray(x, dtype=chk.compute_dtype(x.dtype)))
    m = np.empty(R, np.float64)
    s = np.empty(R, np.float64)
    if x.size:
        raise_bad_rows(0, _backends.cpu().softmax_cols(x, m, s, int(row0), int(col0),
                                                       float(tau), *key_args(key), bits64))
    else:
        m[:], s[:] = -np.inf, 0.0
    return m, s


def softmax_combine(left, right, tau):
    (lm, ls), (rm, rs) = left, right
    m = np.maximum(lm, rm)
    with np.errstate(invalid="ignore"):
        a = np.where(lm == -np.inf, 0.0, ls * np.exp((lm - m) / tau))
        b = np.where(rm == -np.inf, 0.0, rs * np.exp((rm - m) / tau))
    return m, a + b


def softmax_finish(x, row0, col0, tau, log, key, bits64, total):
    """The soft sample (or its log) of a block from the row totals (max, sum): one fused
    kernel (``cpu.softmax_cols_finish``), the noise generated again."""
    m, s = total
    xc = kernel_view(np.ascontiguousarray(x, dtype=chk.compute_dtype(x.dtype)))
    y = np.empty(xc.shape, xc.dtype)
    if y.size:
        _backends.cpu().softmax_cols_finish(xc, y, int(row0), int(col0), float(tau), m, s,
                                            bool(log), *key_args(key), bits64)
    return y.astype(x.dtype, copy=False)


def hard_finish(x, col0, best):
    """One-hot of the first argmax (R,) of the row in this block (NaN rows: NaN)."""
    m, idx = best[0][:, 0], best[1][:, 0]
    y = np.zeros(x.shape, x.dtype)
    rows = np.flatnonzero((idx >= col0) & (idx < col0 + x.shape[1]))
    y[rows, idx[rows] - col0] = 1
    y[np.isnan(m)] = np.nan
    return y


def _rank(v, i):
    """Order of (value, index) pairs per row: larger value first, then smaller index; the
    empty slots (index -1) last."""
    key_i = np.where(i < 0, np.iinfo(np.int64).max, i)
    return np.lexsort((key_i, -v), axis=-1)


def _take_k(v, i, k):
    o = _rank(v, i)[:, :k]
    return np.take_along_axis(v, o, -1), np.take_along_axis(i, o, -1)


def topk_part(x, row0, col0, k, key, bits64):
    """The k best (x + g, global column) per row of a block, best first (the smaller column
    first among equal values); -inf entries are never chosen, missing slots are (-inf, -1).
    One fused kernel (``cpu.topk_cols``); NaN or +inf raises as in the NumPy call."""
    R, C = x.shape
    cdt = chk.compute_dtype(x.dtype)
    x = kernel_view(np.ascontiguousarray(x, dtype=cdt))
    vals = np.full((R, k), -np.inf, cdt)
    idx = np.full((R, k), -1, np.int64)
    if x.size:
        nan_rows, inf_rows = _backends.cpu().topk_cols(x, vals, idx, int(row0), int(col0),
                                                       *key_args(key), bits64)
        raise_bad_rows(nan_rows, inf_rows)
    return vals, idx


def topk_combine(left, right, k):
    v = np.concatenate([left[0], right[0]], axis=1)
    i = np.concatenate([left[1], right[1]], axis=1)
    return _take_k(v, i, k)


# ----------------------------------------------------------------------------------------
# draw ranges of a block of whole rows


def _pieces(s, e):
    """[s, e) as consecutive (start, length) pieces with length a power of two dividing
    start: noise rows start .. start + length - 1 are rows ``start // length`` of a field
    with ``length`` draws per row, which the Gumbel-max kernels read."""
    while s < e:
        low = s & -s if s else 1 << 62
        L = min(low, 1 << ((e - s).bit_length() - 1))
        yield s, L
        s += L


def categorical_range(x, row0, n, d0, d1, key, how, bits64):
    """Draws d0 .. d1 - 1 of the n draws per row of rows row0 .. of a block of whole rows
    (x: (R, K) in the compute dtype, C-contiguous): int64 (R, d1 - d0)."""
    mod = _backends.cpu()
    R = x.shape[0]
    out = np.empty((R, d1 - d0), np.int64)
    if not out.size:
        return out
    if how == "inverse_cdf":
        raise_bad_rows(*mod.categorical_cdf(x, out, int(row0), *key_args(key), d0))
        return out
    if d0 == 0 and d1 == n:
        raise_bad_rows(*mod.argmax_rows(x, out, int(row0), *key_args(key), bits64))
        return out
    for r in range(R):
        for s, L in _pieces((row0 + r) * n + d0, (row0 + r) * n + d1):
            o = (row0 + r) * n + d0
            raise_bad_rows(*mod.argmax_rows(x[r:r + 1], out[r:r + 1, s - o:s - o + L],
                                            s // L, *key_args(key), bits64))
    return out


def multinomial_range(x, row0, n, d0, d1, key, how, bits64):
    """Counts (R, K) of draws d0 .. d1 - 1 of the n per row (``how``: "gumbel" or
    "inverse_cdf"; "binomial" only with the whole range)."""
    mod = _backends.cpu()
    R, K = x.shape
    counts = np.zeros((R, K), np.int64)
    if not counts.size or d1 == d0:
        return counts
    if how == "binomial" or (d0 == 0 and d1 == n):
        kern = {"gumbel": mod.multinomial_gumbel, "inverse_cdf": mod.multinomial_cdf,
                "binomial": mod.multinomial_binomial}[how]
        args = (bits64,) if how == "gumbel" else ()
        raise_bad_rows(*kern(x, counts, n, int(row0), *key_args(key), *args))
        return counts
    if how == "inverse_cdf":
        raise_bad_rows(*mod.multinomial_cdf(x, counts, d1 - d0, int(row0), *key_args(key), d0))
        return counts
    part = np.zeros((1, K), np.int64)
    for r in range(R):
        for s, L in _pieces((row0 + r) * n + d0, (row0 + r) * n + d1):
            raise_bad_rows(*mod.multinomial_gumbel(x[r:r + 1], part, L, s // L,
                                                   *key_args(key), bits64))
            counts[r] += part[0]
    return counts
