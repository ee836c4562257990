"""Conditional Gumbel noise given the argmax, and the Gumbel-Rao backward (Paulus, Maddison
and Krause 2020): the bodies of :func:`fastgumbel.conditional_gumbel` and
:func:`fastgumbel.gumbel_rao_backward`.

The noise comes from the key's *conditional field* (``docs/rng.md``): sample ``s`` of row
``r`` reads the Philox blocks of row word ``2**63 | s << 40 | r``, disjoint from the
forward's noise rows, so the forward and the backward of one key never share random bits.
Host arrays only; a device call is staged on host copies (:class:`_core.NeedsHost`).
"""
from __future__ import annotations

import numpy as np

from . import _backends
from . import _checks as chk
from ._arrays import empty_aligned
from ._core import Rows, _backward_source, alloc, host_only, key_args
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


def gumbel_rao_backward(grad, logits, tau, index, samples, axis, rng, precision, backend):
    """:func:`fastgumbel.gumbel_rao_backward`: (grad_logits, grad_tau)."""
    host_only(grad, logits, index)
    mod = _backends.backend_for(backend, grad, logits)
    S = chk.conditional_samples(samples, allow_none=False)
    Gd, src, _ = _backward_source(grad, None, logits)
    gr = Rows(Gd, axis, name="grad")
    rows, idx, bits64 = _prepare(src, index, axis, precision)
    t = chk.tau_value(tau, rows.cdtype)
    key = resolve_key(rng)
    gx, finish = alloc(None, rows.lead + (rows.K,), rows.axis, rows.dtype, rows.cdtype, ())
    gtau = np.zeros(rows.rows, rows.cdtype)
    if gx.size:
        _backends.kernel(mod, "gumbel_rao_rows")(gr.x, rows.x, idx, gx, gtau, S, 0,
                                                 *key_args(key), bits64, t)
    return finish(), rows.cdtype.type(np.sum(gtau, dtype=np.float64)).astype(rows.dtype)
