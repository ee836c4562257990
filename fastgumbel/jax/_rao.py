"""``gumbel_softmax(..., estimator="gumbel-rao")``: the hard sample, differentiated by a
``custom_vjp`` whose backward is :func:`fastgumbel.gumbel_rao_backward` in a host call.

The forward is the one-hot of ``hard=True`` (the same host call, the same key). The
backward reads the category of the one-hot and averages the soft sample's vector-Jacobian
product over ``samples`` conditional Gumbel samples (the key's conditional field, disjoint
from the forward's noise). It is a reverse-mode rule only: ``jax.jvp`` / ``jacfwd`` of a
``custom_vjp`` function raise JAX's ``TypeError``, and the backward itself is not
differentiable again (no second order).

Values only known at run time give defined results, as in the forward: a row whose
conditional law is undefined (NaN or ``+inf`` logits, a hard sample that is NaN) gets NaN
gradients; a row of all ``-inf`` (a zero hard sample) gets zeros; a bad traced ``tau`` makes
its rows' gradients NaN.
"""
import functools

import jax
import numpy as np

from .. import _api
from .. import _checks as chk
from . import _args
from ._call import host_call
from ._keys import fg_key
from ._softmax import _sample, _tau_host


def _rows_view(a, axis):
    """``a`` as ``(rows, K)`` with the category axis last (a view where the layout allows)."""
    m = np.moveaxis(a, axis, -1)
    return m.reshape(-1, m.shape[-1])


def _sanitize(x, hot, axis):
    """(logits, index, rows to fill, their value): rows whose conditional law is undefined
    get zero logits and index 0, so the kernel runs on every row with the same row numbers;
    their gradients are then NaN (0 for an all ``-inf`` row, whose hard sample is 0)."""
    idx = np.argmax(hot, axis)
    xr, ir = _rows_view(x, axis), idx.reshape(-1)
    top = xr.max(axis=1) if xr.shape[1] else np.zeros(xr.shape[0], xr.dtype)
    sel = xr[np.arange(xr.shape[0]), ir]
    ok = ~chk.conditional_undefined(top, sel, x.dtype)
    if ok.all():
        return x, idx, None, None
    zero = np.isneginf(top)
    xs = np.where(np.expand_dims(ok.reshape(idx.shape), axis), x, 0)
    return xs, np.where(ok.reshape(idx.shape), idx, 0), ~ok.reshape(idx.shape), \
        np.where(zero, 0.0, np.nan).reshape(idx.shape)


def _rao_body(outs, words, dy, x, tau, hot, *, axis, precision, samples):
    """Fill ``outs`` with (grad_logits, grad_tau) of the Gumbel-Rao backward."""
    gx_out, gt_out = outs
    t, bad, all_bad = _tau_host(tau)
    if all_bad:
        gx_out[...] = np.nan
        gt_out[...] = np.nan
        return
    xin = _args.host_float(x)
    xs, idx, fill, value = _sanitize(xin, hot, axis)
    gx, gt = _api.gumbel_rao_backward(_args.host_float(dy), xs, t, idx, samples=samples,
                                      axis=axis, rng=fg_key(words), precision=precision)
    if fill is not None:
        gx = np.where(np.expand_dims(fill, axis), np.expand_dims(value, axis), gx)
        if np.ndim(t):      # per-row tau: the rows' own gradients are NaN
            gt = _per_row_fill(gt, np.shape(t), fill, value, axis)
        elif np.isnan(value[fill]).any():
            gt = np.nan
    if bad is not None:
        gx = np.where(bad, np.nan, gx)
        gt = np.where(bad, np.nan, gt)
    gx_out[...] = gx
    gt_out[...] = gt


def _per_row_fill(gt, shape, fill, value, axis):
    """A per-row tau gradient (``shape``: keepdims form) made NaN where it sums a NaN row."""
    nan_rows = np.expand_dims(fill & np.isnan(value), axis)
    hit = nan_rows.any(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)
    return np.where(hit, np.nan, gt)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def gumbel_rao(words, x, tau, axis, precision, samples):
    """The hard sample of ``(words, x, tau)``; gradients by Gumbel-Rao with ``samples``."""
    return _sample(words, x, tau, True, axis, precision)


def _rao_fwd(words, x, tau, axis, precision, samples):
    hot = _sample(words, x, tau, True, axis, precision)
    return hot, (words, x, tau, hot)


def _rao_bwd(axis, precision, samples, res, dy):
    words, x, tau, hot = res
    body = functools.partial(_rao_body, axis=axis, precision=precision, samples=samples)
    specs = [jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(tau.shape, tau.dtype)]
    gx, gt = host_call(body, specs, words, dy, x, tau, hot)
    return None, gx, gt


gumbel_rao.defvjp(_rao_fwd, _rao_bwd)
