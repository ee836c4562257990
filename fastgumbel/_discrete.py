"""The discrete samplers: Gumbel-max, categorical draws, counts and top-k.

The same layer as :mod:`fastgumbel._core` (its rows, allocation and key helpers), split off
to keep each file readable: every function here reads the noise field of stream spec v1,
or for ``method="inverse_cdf"`` / ``"binomial"`` the draw fields of ``docs/rng.md``.
"""
from __future__ import annotations

import math

import numpy as np

from . import _backends
from . import _checks as chk
from ._core import NeedsHost, Rows, gumbel_max_fast, alloc, bad_rows, key_args, launch
from .random import resolve_key

METHODS = ("gumbel", "inverse_cdf", "auto")
COUNT_METHODS = METHODS + ("binomial",)

#: Cost model of ``method="auto"``, in units of one Gumbel variate of the Gumbel-max pass:
#: ``gumbel`` costs ``n * K`` per row; ``inverse_cdf`` costs ``CDF_BUILD_COST * K`` to build
#: the table plus ``CDF_DRAW_COST`` per draw; ``binomial`` (counts only) costs
#: ``BINOMIAL_COST * K`` plus ``BINOMIAL_STEP_COST * sqrt(n * K)`` search steps.
CDF_BUILD_COST = 3.0
CDF_DRAW_COST = 2.0
BINOMIAL_COST = 30.0
BINOMIAL_STEP_COST = 1.0


def choose_method(method, n, K, counts=False):
    """The sampler ``method`` names for ``n`` draws per row over ``K`` categories.

    ``"auto"`` picks the cheapest by the cost model above: ``"inverse_cdf"`` when
    ``3 K + 2 n < n K`` (about ``n >= 4`` once K is past a few dozen), else ``"gumbel"``;
    for counts (``counts=True``, :func:`fastgumbel.multinomial`) also ``"binomial"`` when
    ``30 K + sqrt(n K)`` is cheaper still (about ``n > 15 K``). Calibrated on the CPU
    kernels: one unit is a few ns (bench/RESULTS.md).

    Examples
    --------
    >>> from fastgumbel._discrete import choose_method
    >>> choose_method("auto", 1, 1000), choose_method("auto", 10_000, 1000)
    ('gumbel', 'inverse_cdf')
    >>> choose_method("auto", 10**6, 1000, counts=True)
    'binomial'
    """
    valid = COUNT_METHODS if counts else METHODS
    if not isinstance(method, str) or method not in valid:
        raise ValueError(f"method must be one of {', '.join(map(repr, valid))}; got {method!r}")
    if method != "auto":
        return method
    n = 1 if n is None else n
    cost = {"gumbel": float(n) * K, "inverse_cdf": CDF_BUILD_COST * K + CDF_DRAW_COST * n}
    if counts:
        cost["binomial"] = BINOMIAL_COST * K + BINOMIAL_STEP_COST * math.sqrt(float(n) * K)
    return min(cost, key=cost.get)


def categories_of(logits, axis):
    """Length of the sampling axis (0 for a 0-d input, which :class:`Rows` refuses)."""
    shape = tuple(getattr(logits, "shape", None) or np.shape(logits))
    return shape[chk.axis_index(axis, len(shape))] if shape else 0


def _draws(logits, axis, rng, precision, backend, n, method="gumbel", host=False):
    """(backend, rows, bits64, key) of a discrete sampler; ``host``: no device path."""
    mod = _backends.backend_for(backend, logits)
    rows = Rows(logits, axis, mod)
    rows.require_categories()
    if rows.device is not None and host:
        raise NeedsHost
    if method == "gumbel":
        chk.noise_rows(rows.rows, n)
    if method == "inverse_cdf":
        chk.cdf_draws(n)
    bits64 = chk.precision_bits64(precision, rows.dtype)
    return mod, rows, bits64


def gumbel_max(logits, axis, rng, out, precision, backend, row0=0):
    """One draw per row: the argmax of logits + noise (int64; -1 for an all ``-inf`` row)."""
    if row0 == 0:
        res = gumbel_max_fast(logits, axis, rng, out, precision, backend)
        if res is not None:
            return res
    return gumbel_max_general(logits, axis, rng, out, precision, backend, row0)


def gumbel_max_general(logits, axis, rng, out, precision, backend, row0=0):
    """:func:`gumbel_max` for any input (the fast path gives the same bits)."""
    mod, rows, bits64 = _draws(logits, axis, rng, precision, backend, 1)
    if rows.device is not None and (out is not None or not rows.lead):
        raise NeedsHost                # out=, or one row (a host scalar)
    key = resolve_key(rng)
    i64 = np.dtype(np.int64)
    target = None if out is None else chk.out_array(out, rows.lead, i64)[..., None]
    buf, finish = alloc(target, rows.lead + (1,), None, i64, i64, (rows.x,), device=rows.device)
    if rows.rows:
        bad_rows(launch(mod.argmax_rows, rows.device, rows.x, buf, int(row0),
                        *key_args(key), bits64))
    res = finish()
    return res.reshape(rows.lead) if out is None else out


def categorical(logits, n, axis, rng, method, precision, backend, row0=0):
    """``n`` draws per row (``None``: one, without the draws axis)."""
    n_ = chk.count(n, "n", allow_none=True)
    how = choose_method(method, n_, categories_of(logits, axis))
    if n_ is None and how == "gumbel":
        return gumbel_max(logits, axis, rng, None, precision, backend, row0)
    cols = 1 if n_ is None else n_
    mod, rows, bits64 = _draws(logits, axis, rng, precision, backend, cols, how,
                               host=how != "gumbel" or n_ is None)
    key = resolve_key(rng)
    idx = rows.empty((rows.rows, cols), np.int64)
    if rows.rows * cols:
        if how == "gumbel":
            bad = launch(mod.argmax_rows, rows.device, rows.x, idx, int(row0),
                         *key_args(key), bits64)
        else:
            bad = _backends.kernel(mod, "categorical_cdf")(rows.x, idx, int(row0),
                                                           *key_args(key))
        bad_rows(bad)
    return idx.reshape(rows.lead if n_ is None else rows.lead + (n_,))


def multinomial(logits, n, axis, rng, method, precision, backend, row0=0):
    """Counts of ``n`` draws per row, in the shape of ``logits``."""
    n_ = chk.count(n, "n")
    how = choose_method(method, n_, categories_of(logits, axis), counts=True)
    mod, rows, bits64 = _draws(logits, axis, rng, precision, backend, n_, how,
                               host=how != "gumbel" or n_ == 0)
    key = resolve_key(rng)
    if rows.device is not None:
        counts = rows.empty((rows.rows, rows.K), np.int64)
    else:
        counts = np.zeros((rows.rows, rows.K), np.int64)
    if counts.size and n_:
        if how == "gumbel":
            kern = getattr(mod, "multinomial_gumbel", mod.multinomial_rows)
            bad = launch(kern, rows.device, rows.x, counts, n_, int(row0), *key_args(key),
                         bits64)
        else:
            kern = _backends.kernel(mod, "multinomial_binomial" if how == "binomial"
                                    else "multinomial_cdf")
            bad = kern(rows.x, counts, n_, int(row0), *key_args(key))
        bad_rows(bad)
    res = counts.reshape(rows.lead + (rows.K,))
    return res if rows.axis == len(rows.lead) else np.moveaxis(res, -1, rows.axis)


def gumbel_topk(logits, k, axis, rng, precision, backend, row0=0):
    """``k`` draws without replacement per row, best first."""
    k_ = chk.count(k, "k")
    mod, rows, bits64 = _draws(logits, axis, rng, precision, backend, 1)
    chk.topk_k(k_, rows.K)
    key = resolve_key(rng)
    idx = rows.empty((rows.rows, k_), np.int64)
    if idx.size:
        bad_rows(launch(mod.topk_rows, rows.device, rows.x, idx, int(row0), *key_args(key),
                        bits64))
    return idx.reshape(rows.lead + (k_,))
