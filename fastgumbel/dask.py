"""Dask arrays in, lazy Dask arrays out, bit-identical to NumPy for any chunking.

Imported only when a dask array reaches a NumPy-style function (``fastgumbel._route``
detects it through ``sys.modules``); nothing here runs at ``import fastgumbel``.

How it works: the input is viewed with the sampling axis moved last. The category axis
and every batch axis but the first are merged into single chunks (``rechunk``), so each
block holds whole rows that are consecutive in the global ``(rows, K)`` view. Every block
runs the NumPy kernel with ``row0`` = the global index of its first row, and the key is
resolved once, when the graph is built. The noise of element ``(r, c)`` depends only on
the key and the global ``(r, c)`` (stream spec v1), so the result does not depend on the
chunking, the number of workers or where they run.

Examples
--------
>>> import numpy as np, dask.array as da, fastgumbel as fg
>>> x = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)
>>> lazy = fg.gumbel_softmax(da.from_array(x, chunks=(3, 6)), 0.5, rng=fg.Key(1))
>>> type(lazy).__name__, bool((lazy.compute() == fg.gumbel_softmax(x, 0.5, rng=fg.Key(1))).all())
('Array', True)
"""
from __future__ import annotations

import math

import dask.array as da
import numpy as np

from . import _checks as chk
from . import _core, _discrete
from ._backends import check_backend
from .random import resolve_key

__all__ = ["uniform", "gumbel", "gumbel_softmax", "gumbel_log_softmax", "gumbel_max",
           "categorical", "multinomial", "gumbel_topk"]


def _no_out(out):
    if out is not None:
        raise TypeError("out= is not supported for dask arrays (the result is lazy); "
                        "store the returned dask array instead, e.g. with dask.array.store")


def _float_dask(x, name="logits"):
    chk.float_dtype(x.dtype, name)
    chk.has_categories_axis(x.ndim, name)
    if any(math.isnan(s) for s in x.shape):
        raise ValueError(f"{name} has unknown chunk sizes; call compute_chunk_sizes() first")


class _RowBlocks:
    """A dask array seen as whole rows: sampling axis last, only the first batch axis
    chunked; ``row0(block_id)`` is the global row of a block's first row."""

    def __init__(self, x, axis):
        self.axis = chk.axis_index(axis, x.ndim)
        m = da.moveaxis(x, self.axis, -1)
        self.squeeze = m.ndim == 1
        if self.squeeze:
            m = m[None, :]
        # merge the category axis and the inner batch axes: each block = consecutive rows
        m = m.rechunk({i: -1 for i in range(1, m.ndim)})
        self.m = m
        self.K = m.shape[-1]
        self.inner = math.prod(m.shape[1:-1])
        self.starts = np.concatenate([[0], np.cumsum(m.chunks[0])[:-1]]).astype(np.int64)

    def row0(self, block_id):
        return int(self.starts[block_id[0]]) * self.inner

    def finish(self, res, last_is_category):
        """Undo the view: drop the added row axis, put the category axis back."""
        if self.squeeze:
            res = res[0]
        if last_is_category:
            res = da.moveaxis(res, -1, self.axis)
        return res


def _map(view, fn, dtype, last, *args, aligned=None):
    """map_blocks over whole-row blocks; ``last`` is the length of the result's last axis
    (``None``: the last axis is dropped). ``aligned``: a dask array of ``view.m``'s shape
    but for size 1 along the last axis, chunked as ``view.m``; its block goes to ``fn``
    after the logits block."""
    m = view.m
    starts = [view.row0((i,)) for i in range(len(m.chunks[0]))]
    kw = {}
    if last is None:
        chunks = m.chunks[:-1]
        kw["drop_axis"] = m.ndim - 1
    else:
        chunks = m.chunks[:-1] + ((last,),)
    if aligned is not None:
        return da.map_blocks(_call_aligned, m, aligned, fn, starts, *args, dtype=dtype,
                             chunks=chunks, meta=np.empty((0,) * len(chunks), dtype), **kw)
    return da.map_blocks(_call, m, fn, starts, *args, dtype=dtype, chunks=chunks,
                         meta=np.empty((0,) * len(chunks), dtype), **kw)


def _call(block, fn, starts, *args, block_id=None):
    return fn(block, starts[block_id[0]], *args)


def _call_aligned(block, other, fn, starts, *args, block_id=None):
    return fn(block, starts[block_id[0]], other, *args)


# ----------------------------------------------------------------------------------------
# block functions (module level: they travel to the workers by reference)


def _b_softmax(block, row0, tau, mode, key, precision, backend):
    """``tau``: a float, or a block of per-row temperatures (size 1 along the last axis)."""
    return _core.softmax_family(block, tau, mode, -1, key, None, precision, backend, row0)


def _b_gumbel_max(block, row0, key, precision, backend):
    return _discrete.gumbel_max(block, -1, key, None, precision, backend, row0)


def _b_categorical(block, row0, n, key, method, precision, backend):
    return _discrete.categorical(block, n, -1, key, method, precision, backend, row0)


def _b_multinomial(block, row0, n, key, method, precision, backend):
    return _discrete.multinomial(block, n, -1, key, method, precision, backend, row0)


def _b_topk(block, row0, k, key, precision, backend):
    return _discrete.gumbel_topk(block, k, -1, key, precision, backend, row0)


def _b_noise(block, row0, dtype, key, precision, backend, uniform):
    return _core.noise(block.shape, dtype, key, None, None, precision, backend, uniform,
                       row0=row0)


# ----------------------------------------------------------------------------------------
# the NumPy-style functions for dask arrays


def softmax_family(logits, tau, mode, axis, rng, out, precision, backend):
    """``gumbel_softmax`` (mode 0 soft, 2 hard) and ``gumbel_log_softmax`` (mode 1)."""
    _no_out(out)
    check_backend(backend)
    _float_dask(logits)
    view = _RowBlocks(logits, axis)
    dt = np.dtype(logits.dtype)
    if isinstance(tau, da.Array) or np.ndim(tau) != 0:
        aligned = _row_taus(view, tau, logits.ndim, chk.compute_dtype(dt))
        chk.precision_bits64(precision, dt)
        key = resolve_key(rng)
        res = _map(view, _b_softmax, dt, view.K, mode, key, precision, backend,
                   aligned=aligned)
        return view.finish(res, True)
    t = chk.tau_value(tau, chk.compute_dtype(dt))
    chk.precision_bits64(precision, dt)
    key = resolve_key(rng)
    res = _map(view, _b_softmax, dt, view.K, t, mode, key, precision, backend)
    return view.finish(res, True)


def _row_taus(view, tau, ndim, cdtype):
    """A per-row ``tau`` as a dask array aligned with the row blocks of ``view`` (its shape
    but 1 along the category axis). NumPy-like values are checked now; a dask array's shape
    now and its values when the blocks run (the NumPy core checks them)."""
    lead = view.m.shape[:-1][1:] if view.squeeze else view.m.shape[:-1]
    ax = view.axis
    if isinstance(tau, da.Array):
        if tau.dtype.kind not in "iuf":
            raise TypeError(f"tau must be a positive real number or an array of them; got "
                            f"an array of dtype {tau.dtype}")
        probe = np.broadcast_to(1.0, tau.shape)     # shapes only: the values come later
        chk.tau_batch(probe, ndim, ax, lead, cdtype)
        b = da.squeeze(tau, axis=ax) if tau.ndim == ndim else tau
    else:
        b = da.from_array(chk.tau_batch(tau, ndim, ax, lead, cdtype)[0])
    t = da.broadcast_to(b, lead).reshape(lead + (1,))
    if view.squeeze:
        t = t[None]
    return t.astype(np.float64).rechunk(view.m.chunks[:-1] + ((1,),))


def gumbel_softmax(logits, tau=1.0, *, hard=False, axis=-1, rng=None, out=None,
                   precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel_softmax` for a dask array (lazy)."""
    mode = _core.softmax_mode(hard)
    return softmax_family(logits, tau, mode, axis, rng, out, precision, backend)


def gumbel_log_softmax(logits, tau=1.0, *, axis=-1, rng=None, out=None, precision="default",
                       backend="auto"):
    """:func:`fastgumbel.gumbel_log_softmax` for a dask array (lazy)."""
    return softmax_family(logits, tau, _core.LOG, axis, rng, out, precision, backend)


def _draw_setup(logits, axis, precision, backend):
    check_backend(backend)
    _float_dask(logits)
    view = _RowBlocks(logits, axis)
    chk.categories(view.K, logits.size, view.axis)
    chk.precision_bits64(precision, logits.dtype)
    return view


def gumbel_max(logits, *, axis=-1, rng=None, out=None, precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel_max` for a dask array (lazy int64)."""
    _no_out(out)
    view = _draw_setup(logits, axis, precision, backend)
    key = resolve_key(rng)
    return view.finish(_map(view, _b_gumbel_max, np.int64, None, key, precision, backend),
                       False)


def categorical(logits, n=None, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto"):
    """:func:`fastgumbel.categorical` for a dask array (lazy int64)."""
    view = _draw_setup(logits, axis, precision, backend)
    n_ = chk.count(n, "n", allow_none=True)
    how = _discrete.choose_method(method, n_, view.K)
    key = resolve_key(rng)
    res = _map(view, _b_categorical, np.int64, n_, n_, key, how, precision, backend)
    return view.finish(res, False)


def multinomial(logits, n, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto"):
    """:func:`fastgumbel.multinomial` for a dask array (lazy int64 counts)."""
    view = _draw_setup(logits, axis, precision, backend)
    n_ = chk.count(n, "n")
    how = _discrete.choose_method(method, n_, view.K, counts=True)
    key = resolve_key(rng)
    res = _map(view, _b_multinomial, np.int64, view.K, n_, key, how, precision, backend)
    return view.finish(res, True)


def gumbel_topk(logits, k, *, axis=-1, rng=None, precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel_topk` for a dask array (lazy int64)."""
    view = _draw_setup(logits, axis, precision, backend)
    k_ = chk.count(k, "k")
    chk.topk_k(k_, view.K)
    key = resolve_key(rng)
    return view.finish(_map(view, _b_topk, np.int64, k_, k_, key, precision, backend), False)


def _noise(size, dtype, rng, like, out, precision, backend, uniform):
    _no_out(out)
    check_backend(backend)
    dt = chk.result_float_dtype(dtype)
    chk.precision_bits64(precision, dt)
    shape = chk.size_shape(size)
    key = resolve_key(rng)
    if not shape:
        return da.from_array(np.asarray(_core.noise(None, dt, key, None, None, precision,
                                                     backend, uniform)))
    # blocks of whole rows along the first axis (like's chunks there when shapes agree)
    first = like.chunks[0] if (like is not None and like.shape == shape) else "auto"
    chunks = da.core.normalize_chunks((first,) + (-1,) * (len(shape) - 1), shape, dtype=dt)
    holder = da.empty(shape, chunks=chunks, dtype=np.int8)
    view = _RowBlocks(holder, -1)
    res = _map(view, _b_noise, dt, view.K, dt, key, precision, backend, uniform)
    return view.finish(res, False)


def uniform(size=None, *, dtype=np.float32, rng=None, like=None, out=None, precision="default",
            backend="auto"):
    """:func:`fastgumbel.uniform` with ``like=`` a dask array: a lazy dask array."""
    return _noise(size, dtype, rng, like, out, precision, backend, True)


def gumbel(size=None, loc=0.0, scale=1.0, *, dtype=np.float32, rng=None, like=None, out=None,
           precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel` with ``like=`` (or ``loc``/``scale``) a dask array."""
    for name, v in (("loc", loc), ("scale", scale)):
        if np.dtype(getattr(v, "dtype", np.asarray(v).dtype)).kind not in "fiu":
            raise TypeError(f"{name} must be a real number or array; got {v!r}")
    if size is None:
        shapes = [np.shape(v) for v in (loc, scale) if hasattr(v, "shape")]
        size = np.broadcast_shapes(*shapes) if shapes else None
    plain = isinstance(loc, (int, float)) and isinstance(scale, (int, float))
    if plain:   # the values are known now: the NumPy-style checks and messages
        _core.gumbel_params(loc, scale)
    g = _noise(size, dtype, rng, like, out, precision, backend, False)
    if plain and loc == 0 and scale == 1:
        return g
    return (loc + scale * g).astype(g.dtype)
