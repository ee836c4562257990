"""Conditional Gumbel noise given the argmax, and the Gumbel-Rao backward (Paulus, Maddison
and Krause 2020): the bodies of :func:`fastgumbel.conditional_gumbel` and
:func:`fastgumbel.gumbel_rao_backward`.

The noise comes from the key's *conditional field* (``docs/rng.md``): sample ``s`` of row
``r`` reads the Philox blocks of row word ``2**63 | s << 40 | r``, disjoint from the
forward's noise rows, so the forward and the backward of one key never share random bits.
Host arrays only; a device call is staged on host copies (:class:`_core.NeedsHost`).
"""
from __future__ import annotations

import math

import numpy as np

from . import _backends
from . import _checks as chk
from ._arrays import empty_aligned
from ._core import Rows, _backward_source, alloc, host_only, kernel_tau, key_args, tau_grad
from .random import resolve_key


def _prepare(logits, index, axis, precision):
    rows = Rows(logits, axis)
    rows.require_categories()
    idx = chk.argmax_index(index, rows.lead, rows.K, rows.rows)
    if rows.rows and rows.K:
        chk.conditional_logits(rows.x, idx, rows.dtype)
    return rows, idx, chk.precision_bits64(precision, rows.dtype)


def _narrowed(buf, x, idx, dtype):
    """``buf`` (S, rows, K) rounded to ``dtype`` (float16) with the argmax kept at ``idx``:
    rounding can make ``x_c + g_c`` tie the maximum in the narrow dtype; such ``g_c`` are
    lowered by doubling steps, as the kernels do in their own dtype."""
    g = buf.astype(dtype)
    xs = x.astype(dtype)
    r = np.arange(xs.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):    # spacing(-inf) is read nowhere
        M = (xs[r, idx] + g[:, r, idx])[..., None]
        bad = xs + g >= M
        bad[:, r, idx] = False
        step = np.spacing(np.maximum(np.maximum(np.abs(xs), np.abs(g)), np.abs(M)))
        while bad.any():
            g[bad] -= step[bad]
            step[bad] += step[bad]
            bad &= xs + g >= M
    return g


def conditional_gumbel(logits, index, axis, rng, samples, precision, backend):
    """:func:`fastgumbel.conditional_gumbel`."""
    host_only(logits, index)
    mod = _backends.backend_for(backend, logits)
    S = chk.conditional_samples(samples)
    rows, idx, bits64 = _prepare(logits, index, axis, precision)
    key = resolve_key(rng)
    n = 1 if S is None else S
    buf = empty_aligned((n, rows.rows, rows.K), rows.cdtype)
    if buf.size:
        _backends.kernel(mod, "conditional_rows")(rows.x, idx, buf, 0, *key_args(key), bits64)
    if rows.cdtype != rows.dtype and buf.size:
        buf = _narrowed(buf, rows.x, idx, rows.dtype)
    res = np.moveaxis(buf.reshape((n,) + rows.lead + (rows.K,)), -1, rows.axis + 1)
    res = res.astype(rows.dtype, copy=False)
    return res[0] if S is None else res


def gumbel_rao_backward(grad, logits, tau, index, samples, axis, rng, precision, backend,
                        want_tau=True):
    """:func:`fastgumbel.gumbel_rao_backward`: (grad_logits, grad_tau); ``want_tau=False``
    (a bridge whose tau takes no gradient): grad_tau is ``None`` and the kernel skips the
    tau term (the same grad_logits bits, less work per element).

    A tau of one value gets its gradient summed over the rows inside the kernel, exactly
    (no per-row array); a per-row tau gets one value per row, summed to tau's shape here."""
    host_only(grad, logits, index)
    mod = _backends.backend_for(backend, grad, logits)
    S = chk.conditional_samples(samples, allow_none=False)
    Gd, src, _ = _backward_source(grad, None, logits)
    gr = Rows(Gd, axis, name="grad")
    rows, idx, bits64 = _prepare(src, index, axis, precision)
    t, tb = kernel_tau(tau, rows, rows.cdtype, mod)
    key = resolve_key(rng)
    gx, finish = alloc(None, rows.lead + (rows.K,), rows.axis, rows.dtype, rows.cdtype, ())
    per_row = want_tau and tb is not None and math.prod(tb) > 1
    tau_out = 0 if not want_tau else 1 if per_row else 2
    gtau = np.zeros(rows.rows if per_row else 0, rows.cdtype)
    gsum = np.zeros(_backends.kernel(mod, "EXACT_SLOTS"), np.int64)
    if gx.size:
        _backends.kernel(mod, "gumbel_rao_rows")(gr.x, rows.x, idx, gx, gtau, gsum, S, 0,
                                                 *key_args(key), bits64, t, tau_out)
    if tau_out == 0:
        return finish(), None
    if per_row:
        return finish(), tau_grad(gtau, rows, tb, np.shape(tau), rows.dtype, rows.cdtype)
    total = np.float64(_backends.kernel(mod, "exact_total")(gsum)).astype(rows.cdtype)
    gt = total.astype(rows.dtype)
    return finish(), (gt if tb is None else np.reshape(gt, np.shape(tau)))


def _sanitize(x, idx, axis):
    """(logits, index, rows to fill, their value): rows whose conditional law is undefined
    get zero logits and index 0, so the kernel runs on every row with the same row numbers;
    their gradients are then NaN (0 for an all ``-inf`` row, whose hard sample is 0)."""
    m = np.moveaxis(x, axis, -1)
    xr, ir = m.reshape(-1, m.shape[-1]), idx.reshape(-1)
    top = xr.max(axis=1) if xr.shape[1] else np.zeros(xr.shape[0], xr.dtype)
    ok = ~chk.conditional_undefined(top, xr[np.arange(xr.shape[0]), ir], x.dtype)
    if ok.all():
        return x, idx, None, None
    ok = ok.reshape(idx.shape)
    value = np.where(np.isneginf(top).reshape(idx.shape), 0.0, np.nan)
    return np.where(np.expand_dims(ok, axis), x, 0), np.where(ok, idx, 0), ~ok, value


def bridge_backward(grad, logits, tau, hot, samples, axis, key, precision, want_tau=True):
    """The framework bridges' Gumbel-Rao backward of a hard sample ``hot`` (host arrays;
    ``tau`` a checked float or keepdims array): :func:`gumbel_rao_backward` with ``index``
    the one-hot's category, except that rows whose conditional law is undefined (NaN or
    ``+inf`` logits) get NaN gradients and all ``-inf`` rows (a zero hard sample) zeros,
    where the NumPy function raises. ``want_tau=False``: tau's gradient is ``None``."""
    xs, idx, fill, value = _sanitize(logits, np.argmax(hot, axis), axis)
    if fill is not None:    # the filled rows add nothing to tau's gradient
        grad = np.where(np.expand_dims(fill, axis), 0, grad).astype(grad.dtype)
    gx, gt = gumbel_rao_backward(grad, xs, tau, idx, samples, axis, key, precision, "cpu",
                                 want_tau)
    if fill is None:
        return gx, gt
    gx = np.where(np.expand_dims(fill, axis), np.expand_dims(value, axis).astype(gx.dtype), gx)
    if gt is None:
        return gx, None
    nan_rows = np.expand_dims(fill & np.isnan(value), axis)
    if np.ndim(tau):    # a per-row tau: NaN where it sums a NaN row
        hit = nan_rows.any(axis=tuple(i for i, n in enumerate(np.shape(tau)) if n == 1),
                           keepdims=True)
        return gx, np.where(hit, np.nan, gt).astype(gt.dtype)
    return gx, (gt.dtype.type(np.nan) if nan_rows.any() else gt)
