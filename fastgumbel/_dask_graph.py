"""The Dask graphs' building blocks: the ``(rows, K)`` view of a dask array (:class:`Grid`),
a graph written task by task (:class:`Graph`), the whole-row graph (:func:`rows_map`) and the
CPU kernels' thread count inside a task (:func:`task_threads`).

Threads: a task in a ``distributed`` worker runs its kernel with ``max(1, T // P)`` Numba
threads, where ``T`` is the thread count the task's thread would use (``NUMBA_NUM_THREADS``
unless set) and ``P`` the worker's threads. A task of Dask's local thread pool (the threads
scheduler: a thread other than the main one) keeps ``T`` when Numba's threading layer is
TBB, whose one pool serves kernels launched at once from several threads (measured on the
2-core machine: equal or faster than one kernel thread per task, ``bench/RESULTS.md``), and
takes ``T // P`` with ``P`` the pool's size (``num_workers``, default the core count) under
the other layers, which start a team of threads per launching thread. Tasks on the calling
thread (the synchronous scheduler) and in a 1-thread worker keep all the threads. The
results do not depend on it (bit-identical for any thread count).
"""
from __future__ import annotations

import functools
import math
import sys
import threading

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _backends
from . import _checks as chk

#: Parts folded by one combine task.
SPLIT_EVERY = 8


class Grid:
    """A dask array seen as (rows, K) blocks: sampling axis last, inner batch axes whole.

    ``merge_columns``: one chunk along the category axis (the row path)."""

    def __init__(self, x, axis, merge_columns=False):
        self.axis = chk.axis_index(axis, x.ndim)
        m = x if self.axis == x.ndim - 1 else da.moveaxis(x, self.axis, -1)
        self.squeeze = m.ndim == 1
        if self.squeeze:
            m = m[None, :]
        spec = {i: -1 for i in range(1, m.ndim - 1) if len(m.chunks[i]) > 1}
        if merge_columns and len(m.chunks[-1]) > 1:
            spec[m.ndim - 1] = -1
        self.m = m.rechunk(spec) if spec else m
        self.K = self.m.shape[-1]
        self.inner = math.prod(self.m.shape[1:-1])
        rc, cc = self.m.chunks[0], self.m.chunks[-1]
        self.rows = [(int(s) * self.inner, c * self.inner)
                     for s, c in zip(np.cumsum((0,) + rc[:-1]), rc)]
        self.cols = [(int(s), c) for s, c in zip(np.cumsum((0,) + cc[:-1]), cc)]
        self.lead = [(c,) + self.m.shape[1:-1] for c in rc]
        self.pad = (0,) * (self.m.ndim - 2)

    def inkey(self, i, j):
        return (self.m.name, i) + self.pad + (j,)

    def outkey(self, name, i, *last):
        return (name, i) + self.pad + last

    def finish(self, res, last_is_category):
        """Undo the view: drop the added row axis, put the category axis back."""
        if self.squeeze:
            res = res[0]
        if last_is_category and self.axis != res.ndim - 1:
            res = da.moveaxis(res, -1, self.axis)
        return res


class Graph:
    """Tasks of one result, written as a dict; ``array`` wraps them as a dask array. Every
    task runs with the thread count of :func:`task_threads`."""

    def __init__(self, op, *token):
        self.name = f"fastgumbel-{op}-" + tokenize(op, *token)
        self.dsk = {}
        self.n = 0
        self.deps = []

    def add(self, fn, *args):
        """A task ``fn(*args)`` (``args`` may hold keys of other tasks); returns its key."""
        self.n += 1
        key = (self.name + "-t", self.n)
        self.put(key, fn, *args)
        return key

    def put(self, key, fn, *args):
        self.dsk[key] = (functools.partial(_in_task, fn),) + args

    def fold(self, keys, fn):
        """Combine ``keys`` in order with ``fn(left, right)``, a tree of combine tasks."""
        while len(keys) > 1:
            keys = [keys[g] if g + 1 == min(g + SPLIT_EVERY, len(keys)) else
                    self.add(functools.partial(_fold, fn), *keys[g:g + SPLIT_EVERY])
                    for g in range(0, len(keys), SPLIT_EVERY)]
        return keys[0]

    def array(self, grid, chunks, dtype):
        graph = HighLevelGraph.from_collections(self.name, self.dsk,
                                                dependencies=[grid.m] + self.deps)
        return da.Array(graph, self.name, chunks, dtype=dtype,
                        meta=np.empty((0,) * len(chunks), dtype))


def _fold(fn, *parts):
    acc = parts[0]
    for p in parts[1:]:
        acc = fn(acc, p)
    return acc


def task_threads():
    """CPU kernel threads for a task running in the calling thread (module docstring);
    ``None``: leave the thread's count as it is."""
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker
            worker = get_worker()
        except (ImportError, ValueError):
            worker = None
        if worker is not None:
            return max(1, _backends.get_num_threads() // max(1, worker.state.nthreads))
    if threading.current_thread() is threading.main_thread() or _shared_pool():
        return None
    import dask
    from dask.system import CPU_COUNT
    pool = dask.config.get("num_workers", None) or CPU_COUNT
    return max(1, _backends.get_num_threads() // max(1, int(pool)))


def _shared_pool():
    """Is Numba's threading layer TBB (one pool for kernels launched from several threads)?
    False before the first parallel kernel (the layer is not chosen yet)."""
    import numba
    try:
        return numba.threading_layer() == "tbb"
    except ValueError:        # no parallel kernel has run in this process yet
        return False


def _in_task(fn, *args):
    n = task_threads()
    if n is None or n == _backends.get_num_threads():
        return fn(*args)
    with _backends.threads(n):
        return fn(*args)


def rows_map(grid, fn, dtype, last, *args, aligned=None):
    """One task per block of whole rows: ``fn(block, row0, *args)`` (``fn(block, row0,
    aligned_block, *args)`` with ``aligned``: a dask array shaped as ``grid.m`` but for 1
    along the last axis, chunked as its rows). ``last``: the length of the result's last
    axis (``None``: the category axis is dropped)."""
    g = Graph(getattr(fn, "__name__", "rows").strip("_"), grid.m.name, last, *args,
              None if aligned is None else aligned.name)
    if aligned is not None:
        g.deps.append(aligned)
    tail = () if last is None else (0,)
    # a node all the tasks read: Dask then does not fuse each task with its input block into
    # a subgraph, which it runs with an ordering pass of its own (about 1 ms per compute of
    # 8 tasks here, a third of Dask's cost per compute)
    shared = (g.name + "-shared",)
    g.dsk[shared] = None
    for i, (row0, _) in enumerate(grid.rows):
        deps = (grid.inkey(i, 0), shared)
        if aligned is not None:
            deps += ((aligned.name, i) + grid.pad + (0,),)
        g.put(grid.outkey(g.name, i, *tail), functools.partial(_row_task, fn, row0, args),
              *deps)
    chunks = grid.m.chunks[:-1] + (() if last is None else ((last,),))
    return g.array(grid, chunks, dtype)


def _row_task(fn, row0, args, block, _shared, *aligned):
    return fn(block, row0, *aligned, *args)
