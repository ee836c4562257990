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
from . import _core, _creation, _dask_cols, _dask_graph, _discrete
from ._arrays import is_dask
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


def _view(x, axis, merge_columns=True):
    return _dask_graph.Grid(x, axis, merge_columns)


def _chunked(view):
    """Does the category axis of ``view`` (not merged) have several chunks?"""
    return len(view.cols) > 1


def _map(view, fn, dtype, last, *args, aligned=None):
    """One task per block of whole rows (``_dask_graph.rows_map``)."""
    return _dask_graph.rows_map(view, fn, dtype, last, *args, aligned=aligned)


# ----------------------------------------------------------------------------------------
# block functions (module level: they travel to the workers by reference)


def _b_softmax(block, row0, tau, mode, key, precision, backend):
    """``tau``: a float, or a block of per-row temperatures (size 1 along the last axis)."""
    return _core.softmax_family(block, tau, mode, -1, key, None, precision, backend, row0)


def _b_gumbel_max(block, row0, key, precision, backend):
    return _discrete.gumbel_max(block, -1, key, None, precision, backend, row0)


def _b_topk(block, row0, k, key, precision, backend):
    return _discrete.gumbel_topk(block, k, -1, key, precision, backend, row0)


# ----------------------------------------------------------------------------------------
# the NumPy-style functions for dask arrays


def softmax_family(logits, tau, mode, axis, rng, out, precision, backend):
    """``gumbel_softmax`` (mode 0 soft, 2 hard) and ``gumbel_log_softmax`` (mode 1)."""
    _no_out(out)
    check_backend(backend)
    _float_dask(logits)
    per_row = isinstance(tau, da.Array) or np.ndim(tau) != 0
    # a per-row tau takes whole-row blocks (the category-chunked path takes a scalar tau)
    view = _view(logits, axis, merge_columns=per_row)
    dt = np.dtype(logits.dtype)
    cdt = chk.compute_dtype(dt)
    t = _row_taus(view, tau, logits.ndim, cdt) if per_row else chk.tau_value(tau, cdt)
    bits64 = chk.precision_bits64(precision, dt)
    key = resolve_key(rng)
    if per_row:
        res = _map(view, _b_softmax, dt, view.K, mode, key, precision, backend, aligned=t)
    elif _chunked(view):
        res = _dask_cols.softmax_cols(view, t, mode == _core.LOG, mode == _core.HARD, key,
                                      bits64, dt)
    else:
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
    """(view keeping the category chunks, bits64) of a discrete sampler."""
    check_backend(backend)
    _float_dask(logits)
    view = _view(logits, axis, merge_columns=False)
    chk.categories(view.K, logits.size, view.axis)
    return view, chk.precision_bits64(precision, logits.dtype)


def gumbel_max(logits, *, axis=-1, rng=None, out=None, precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel_max` for a dask array (lazy int64)."""
    _no_out(out)
    view, bits64 = _draw_setup(logits, axis, precision, backend)
    key = resolve_key(rng)
    if _chunked(view):
        return view.finish(_dask_cols.argmax_cols(view, 1, [(0, 1)], key, bits64, True), False)
    return view.finish(_map(view, _b_gumbel_max, np.int64, None, key, precision, backend),
                       False)


def _draws(logits, n, axis, method, draw_chunks, counts):
    """(view, method, draw ranges): the category axis merged unless Gumbel-max draws."""
    view, bits64 = _draw_setup(logits, axis, "default", "auto")
    how = _discrete.choose_method(method, n, view.K, counts=counts)
    rows = view.m.shape[0] * view.inner
    if how == "gumbel":
        chk.noise_rows(rows, 1 if n is None else n)
    elif how == "inverse_cdf":
        chk.cdf_draws(1 if n is None else n)
    if how != "gumbel" and _chunked(view):
        view = _view(logits, axis)
    ranges = _dask_cols.draw_ranges(1 if n is None else n, draw_chunks, view.K, how, counts)
    return view, how, ranges


def categorical(logits, n=None, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto", draw_chunks=None):
    """:func:`fastgumbel.categorical` for a dask array (lazy int64); ``draw_chunks``: draws
    per task (``None``: sized by the method)."""
    _, bits64 = _draw_setup(logits, axis, precision, backend)
    n_ = chk.count(n, "n", allow_none=True)
    view, how, ranges = _draws(logits, n_, axis, method, draw_chunks, False)
    key = resolve_key(rng)
    nn = 1 if n_ is None else n_
    if how == "gumbel" and _chunked(view):
        res = _dask_cols.argmax_cols(view, nn, ranges, key, bits64, n_ is None)
    else:
        res = _dask_cols.categorical_rows(view, nn, ranges, key, how, bits64, n_ is None)
    return view.finish(res, False)


def multinomial(logits, n, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto", draw_chunks=None):
    """:func:`fastgumbel.multinomial` for a dask array (lazy int64 counts); ``draw_chunks``:
    draws per task (``None``: sized by the method; ``"binomial"`` is one task per row)."""
    _, bits64 = _draw_setup(logits, axis, precision, backend)
    n_ = chk.count(n, "n")
    view, how, ranges = _draws(logits, n_, axis, method, draw_chunks, True)
    key = resolve_key(rng)
    if how == "gumbel" and _chunked(view):
        res = _dask_cols.multinomial_cols(view, n_, ranges, key, bits64)
    else:
        res = _dask_cols.multinomial_rows(view, n_, ranges, key, how, bits64)
    return view.finish(res, True)


def gumbel_topk(logits, k, *, axis=-1, rng=None, precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel_topk` for a dask array (lazy int64)."""
    view, bits64 = _draw_setup(logits, axis, precision, backend)
    k_ = chk.count(k, "k")
    chk.topk_k(k_, view.K)
    key = resolve_key(rng)
    if _chunked(view):
        return view.finish(_dask_cols.topk_cols(view, k_, key, bits64), False)
    return view.finish(_map(view, _b_topk, np.int64, k_, k_, key, precision, backend), False)


def _noise(size, dtype, rng, like, out, precision, backend, uniform):
    _no_out(out)
    check_backend(backend)
    dt = chk.result_float_dtype(dtype)
    chk.precision_bits64(precision, dt)
    shape = chk.size_shape(size)
    key = resolve_key(rng)
    if not shape:
        return da.from_array(np.asarray(_creation.noise(None, dt, key, None, None, precision,
                                                         backend, uniform)))
    # like's chunks when the shapes agree (inner batch axes merged), else dask's "auto"
    same = like is not None and like.shape == shape
    chunks = da.core.normalize_chunks(like.chunks if same else "auto", shape, dtype=dt)
    view = _view(da.empty(shape, chunks=chunks, dtype=np.int8), -1, merge_columns=False)
    bits64 = chk.precision_bits64(precision, dt)
    return view.finish(_dask_cols.noise_cols(view, dt, key, bits64, uniform), False)


def _param_size(size, **params):
    """``size`` of a creation call whose parameters may be arrays (NumPy, Dask): their
    broadcast shape when ``size`` is None; checked against ``size`` otherwise."""
    if any(math.isnan(d) for v in params.values() for d in np.shape(v)):
        raise ValueError("a parameter has unknown chunk sizes; call compute_chunk_sizes() first")
    return chk.params_shape(size, None, **params)


def _plain(*params):
    return all(isinstance(v, (int, float, np.number)) for v in params)


def _host_values(check, a, b):
    """Parameters as given, checked by ``check`` when none is a dask array (their values are
    known now: the NumPy-style checks and messages); dask parameters are used lazily."""
    if not (is_dask(a) or is_dask(b)):
        return check(a, b)
    return tuple(v if is_dask(v) else np.asarray(v) for v in (a, b))


def uniform(low=0.0, high=1.0, size=None, *, dtype=np.float32, rng=None, like=None, out=None,
            precision="default", backend="auto"):
    """:func:`fastgumbel.uniform` with ``like=`` (or ``low``/``high``) a dask array."""
    lo, hi = _host_values(chk.uniform_bounds, low, high)
    if not (is_dask(low) or is_dask(high)) and _creation.is_unit_interval(low, high):
        return _noise(size, dtype, rng, like, out, precision, backend, True)
    size = _param_size(size, low=lo, high=hi)
    u = _noise(size, dtype, rng, like, out, precision, backend, True)
    return _creation.stretch_uniform(u, lo.astype(np.float64), hi.astype(np.float64))


def gumbel(loc=0.0, scale=1.0, size=None, *, dtype=np.float32, rng=None, like=None, out=None,
           precision="default", backend="auto"):
    """:func:`fastgumbel.gumbel` with ``like=`` (or ``loc``/``scale``) a dask array."""
    for name, v in (("loc", loc), ("scale", scale)):
        if np.dtype(getattr(v, "dtype", np.asarray(v).dtype)).kind not in "fiu":
            raise TypeError(f"{name} must be a real number or array; got {v!r}")
    loc_a, scale_a = _host_values(chk.gumbel_params, loc, scale)
    plain = _plain(loc, scale)
    if plain:
        loc_a, scale_a = loc, scale
    else:
        size = _param_size(size, loc=loc_a, scale=scale_a)
    g = _noise(size, dtype, rng, like, out, precision, backend, False)
    if plain and loc == 0 and scale == 1:
        return g
    return (loc_a + scale_a * g).astype(g.dtype)
