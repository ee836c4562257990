"""Dask graphs that keep the category axis chunked and split the draws over tasks.

The input is viewed with the sampling axis last (a 1-D input gets a row axis) and the inner
batch axes merged into single chunks, so block ``(i, .., j)`` holds rows ``row0[i] ..`` of
the global ``(rows, K)`` view (C order) and columns ``col0[j] ..``. The graph is written
out task by task (:class:`Graph`):

- a *part* task per block computes a partial result from the block's logits and the noise
  of its global ``(row, column)`` (:mod:`fastgumbel._colblocks`);
- the parts of a row block are folded in column order by a tree of *combine* tasks, at most
  ``SPLIT_EVERY`` at a time (the first maximum, the (max, sum of exp) pair, the k best);
- a *finish* task per output block makes the result (indices; or, for the soft samples, the
  block normalized with the row totals, its noise generated again rather than stored).

Draws: ``categorical`` / ``multinomial`` with ``n`` draws per row split them into ranges of
``draw_chunks`` draws; a task computes only its range (the draws' noise rows and draw-field
counters are global, ``docs/rng.md``) and the counts of the ranges add up.

No task holds more than its block, its partial results and a bounded noise buffer; no task
gathers a row or all draws.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _checks as chk
from . import _colblocks as cb
from ._dask_graph import Graph

#: Default draws per task ("auto"): Gumbel-max work (draws x columns) per task, and
#: inverse-CDF draws per task for indices and for counts.
GUMBEL_WORK = 1 << 26
CDF_DRAWS = 1 << 22
CDF_COUNT_DRAWS = 1 << 26

def _view(block, R, C, dtype=None):
    """A block as (R, C) rows in the compute dtype (C-contiguous)."""
    x = block.reshape(R, C)
    return np.ascontiguousarray(x, dtype=dtype)


def _t_part(fn, R, C, *args):
    return functools.partial(_apply, fn, R, C, args)


def _apply(fn, R, C, args, block, *more):
    return fn(_view(block, R, C), *args, *more)


def _t_out(shape, fn=None):
    return functools.partial(_finish, shape, fn)


def _finish(shape, fn, value, *more):
    res = value if fn is None else fn(value, *more)
    return res.reshape(shape)


def _second(pair):
    return pair[1]


# ----------------------------------------------------------------------------------------
# draw ranges


def draw_ranges(n, draw_chunks, K, how, counts=False):
    """[(d0, d1), ...] of the n draws per row: ``draw_chunks`` draws per task (an int; an
    inverse-CDF range starts at an even draw, so an odd value is rounded up), or
    ``None`` / ``"auto"``: a power of two sized by the method's work per draw."""
    D = chk.draw_chunks(draw_chunks)
    if D is None:
        if how == "gumbel":
            D = 1 << max(0, (GUMBEL_WORK // max(K, 1)).bit_length() - 1)
        else:
            D = CDF_COUNT_DRAWS if counts else CDF_DRAWS
    if how == "binomial" or n == 0:
        return [(0, n)]     # one binomial pass per row: its cost does not grow with n
    if how == "inverse_cdf":
        D += D % 2
    return [(d0, min(n, d0 + D)) for d0 in range(0, n, D)]


def _range_task(fn, R, K, row0, n, d0, d1, key, how, bits64, dtype):
    return functools.partial(_range_run, fn, R, K, dtype, (row0, n, d0, d1, key, how, bits64))


def _range_run(fn, R, K, dtype, args, block):
    return fn(_view(block, R, K, dtype), *args)


def categorical_rows(grid, n, ranges, key, how, bits64, squeeze_draws):
    """``categorical`` with whole rows per block and the draws split by ``ranges``."""
    g = Graph("categorical", grid.m.name, n, ranges, key, how, bits64)
    cdt = chk.compute_dtype(grid.m.dtype)
    for i, (row0, R) in enumerate(grid.rows):
        for k, (d0, d1) in enumerate(ranges):
            shape = grid.lead[i] if squeeze_draws else grid.lead[i] + (d1 - d0,)
            part = g.add(_range_task(cb.categorical_range, R, grid.K, row0, n, d0, d1, key, how,
                                     bits64, cdt), grid.inkey(i, 0))
            g.put(grid.outkey(g.name, i, *(() if squeeze_draws else (k,))), _t_out(shape), part)
    last = () if squeeze_draws else (tuple(d1 - d0 for d0, d1 in ranges),)
    return g.array(grid, grid.m.chunks[:-1] + last, np.int64)


def multinomial_rows(grid, n, ranges, key, how, bits64):
    """``multinomial`` with whole rows per block: counts of each draw range, summed."""
    g = Graph("multinomial", grid.m.name, n, ranges, key, how, bits64)
    cdt = chk.compute_dtype(grid.m.dtype)
    for i, (row0, R) in enumerate(grid.rows):
        parts = [g.add(_range_task(cb.multinomial_range, R, grid.K, row0, n, d0, d1, key, how,
                                   bits64, cdt), grid.inkey(i, 0)) for d0, d1 in ranges]
        total = g.fold(parts, np.add)
        g.put(grid.outkey(g.name, i, 0), _t_out(grid.lead[i] + (grid.K,)), total)
    return g.array(grid, grid.m.chunks, np.int64)


# ----------------------------------------------------------------------------------------
# the category axis in chunks


def _best_keys(g, grid, n, ranges, key, bits64, strict=True):
    """{(i, k): key of the (values, indices) of draw range k of row block i}."""
    out = {}
    for i, (row0, R) in enumerate(grid.rows):
        for k, (d0, d1) in enumerate(ranges):
            parts = [g.add(_t_part(cb.argmax_part, R, C, row0, col0, n, d0, d1, key, bits64,
                                   strict), grid.inkey(i, j))
                     for j, (col0, C) in enumerate(grid.cols)]
            out[i, k] = g.fold(parts, cb.argmax_combine)
    return out


def argmax_cols(grid, n, ranges, key, bits64, squeeze_draws):
    """``gumbel_max`` (n = 1, squeezed) and Gumbel-max ``categorical`` over column chunks."""
    g = Graph("argmax", grid.m.name, n, ranges, key, bits64, squeeze_draws)
    best = _best_keys(g, grid, n, ranges, key, bits64)
    for (i, k), b in best.items():
        d0, d1 = ranges[k]
        shape = grid.lead[i] if squeeze_draws else grid.lead[i] + (d1 - d0,)
        g.put(grid.outkey(g.name, i, *(() if squeeze_draws else (k,))), _t_out(shape, _second),
              b)
    last = () if squeeze_draws else (tuple(d1 - d0 for d0, d1 in ranges),)
    return g.array(grid, grid.m.chunks[:-1] + last, np.int64)


def multinomial_cols(grid, n, ranges, key, bits64):
    """Gumbel-max counts over column chunks: each draw's index found by the argmax tree,
    then counted in the column block it falls in, summed over the draw ranges."""
    g = Graph("multinomial-cols", grid.m.name, n, ranges, key, bits64)
    best = _best_keys(g, grid, n, ranges, key, bits64)
    for i in range(len(grid.rows)):
        for j, (col0, C) in enumerate(grid.cols):
            parts = [g.add(functools.partial(_count, col0, C), best[i, k])
                     for k in range(len(ranges))]
            g.put(grid.outkey(g.name, i, j), _t_out(grid.lead[i] + (C,)),
                  g.fold(parts, np.add))
    return g.array(grid, grid.m.chunks, np.int64)


def _count(col0, C, best):
    return cb.counts_part(best[1], col0, C)


def softmax_cols(grid, tau, log, hard, key, bits64, dtype):
    """The soft sample (or its log, or the hard one-hot) over column chunks."""
    g = Graph("softmax", grid.m.name, tau, log, hard, key, bits64)
    if hard:
        best = _best_keys(g, grid, 1, [(0, 1)], key, bits64, strict=False)
    for i, (row0, R) in enumerate(grid.rows):
        if not hard:
            parts = [g.add(_t_part(cb.softmax_part, R, C, row0, col0, tau, key, bits64),
                           grid.inkey(i, j)) for j, (col0, C) in enumerate(grid.cols)]
            total = g.fold(parts, functools.partial(cb.softmax_combine, tau=tau))
        for j, (col0, C) in enumerate(grid.cols):
            shape = grid.lead[i] + (C,)
            if hard:
                task = _t_part(cb.hard_finish, R, C, col0)
                dep = best[i, 0]
            else:
                task = _t_part(cb.softmax_finish, R, C, row0, col0, tau, log, key, bits64)
                dep = total
            g.put(grid.outkey(g.name, i, j), _t_out(shape, task),
                  grid.inkey(i, j), dep)
    return g.array(grid, grid.m.chunks, dtype)


def topk_cols(grid, k_, key, bits64):
    """``gumbel_topk`` over column chunks: the k best of each block, merged by a tree."""
    g = Graph("topk", grid.m.name, k_, key, bits64)
    for i, (row0, R) in enumerate(grid.rows):
        parts = [g.add(_t_part(cb.topk_part, R, C, row0, col0, k_, key, bits64),
                       grid.inkey(i, j)) for j, (col0, C) in enumerate(grid.cols)]
        top = g.fold(parts, functools.partial(cb.topk_combine, k=k_))
        g.put(grid.outkey(g.name, i, 0), _t_out(grid.lead[i] + (k_,), _second), top)
    return g.array(grid, grid.m.chunks[:-1] + ((k_,),), np.int64)


def noise_cols(grid, dtype, key, bits64, uniform):
    """``fastgumbel.uniform`` / ``gumbel`` in the blocks of ``grid`` (no input read)."""
    g = Graph("noise", grid.m.name, dtype, key, bits64, uniform)
    for i, (row0, R) in enumerate(grid.rows):
        for j, (col0, C) in enumerate(grid.cols):
            g.put(grid.outkey(g.name, i, j),
                  functools.partial(_noise_task, grid.lead[i] + (C,), (R, C), row0, col0,
                                    dtype, key, bits64, uniform))
    return g.array(grid, grid.m.chunks, dtype)


def _noise_task(shape, rc, row0, col0, dtype, key, bits64, uniform):
    return cb.noise_block(rc, row0, col0, dtype, key, bits64, uniform).reshape(shape)
