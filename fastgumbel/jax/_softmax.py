"""``gumbel_softmax``: the fused kernel in a host call, differentiated by a ``custom_jvp``.

The primal is the kernel's sample ``y = softmax((x + g) / tau)``. Its tangent is plain jnp
code on ``y``: with ``z = (x + g) / tau``, ``dz = (dx - z dtau) / tau`` and
``dy = y * (dz - sum(y * dz))``. Since ``z = log(y) + c`` with ``c`` constant along the
category axis, and ``y * (dz - sum(y * dz))`` does not change when a row constant is added
to ``dz``, ``z`` may be replaced by ``log(y)``:

    a = y * dx - y log(y) * dtau          (y log y = 0 where y = 0)
    dy = (a - y * sum(a)) / tau

It is linear in ``(dx, dtau)``, so reverse mode comes by transposition and XLA fuses it with
its neighbours; the kernel runs once per forward whatever the mode of differentiation.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.scipy.special import xlogy

from .. import _api, _backends
from .. import _checks as chk
from . import _args, _gpu
from ._call import host_call
from ._keys import fg_key


def _one_hot_rows(y, axis, out):
    """``out`` = one-hot of the first maximum of ``y`` (0 rows stay 0, NaN rows NaN): the
    CPU kernel's vectorized, parallel rows (:func:`fastgumbel.cpu.one_hot`) along the last
    axis, NumPy along another axis or between dtypes."""
    if (axis in (-1, y.ndim - 1) and y.dtype == out.dtype and y.dtype in _TINY
            and y.flags.c_contiguous and out.flags.c_contiguous and y.size):
        K = y.shape[-1]
        _backends.cpu().one_hot(y.reshape(-1, K), out.reshape(-1, K))
        return
    first = np.argmax(y, axis=axis, keepdims=True)
    top = np.take_along_axis(y, first, axis)
    out[...] = 0
    np.put_along_axis(out, first, (top > 0).astype(out.dtype), axis)
    if np.isnan(top).any():
        out[np.broadcast_to(np.isnan(top), out.shape)] = np.nan


#: smallest positive normal number of the compute dtypes (a valid tau is at least that)
_TINY = {np.dtype(np.float32): float(np.finfo(np.float32).tiny),
         np.dtype(np.float64): float(np.finfo(np.float64).tiny)}


def _tau_host(tau):
    """(tau for the kernel, rows of a bad tau or None, all bad): a traced tau's value is
    checked only here (NaN, <= 0, inf, subnormal: NaN results instead of an error)."""
    tiny = _TINY[tau.dtype]
    if tau.ndim == 0:
        t = float(tau)
        return t, None, not tiny <= t < np.inf
    bad = ~((tau >= tiny) & (tau < np.inf))
    if not bad.any():
        return tau, None, False
    return np.where(bad, 1, tau), bad, bool(bad.all())


def _softmax_body(outs, words, x, tau, *, hard, axis, precision):
    """Fill ``outs[0]`` with the sample (and ``outs[1]``, if given, with the one-hot of its
    first maximum); a bad traced tau or a ``+inf`` row gives NaN."""
    out, xin = outs[0], _args.host_float(x)
    t, bad, all_bad = _tau_host(tau)
    if all_bad:
        for o in outs:
            o[...] = np.nan
        return
    dst = out if out.dtype == xin.dtype and bad is None else None

    def sample(v):
        return _api.gumbel_softmax(v, t, hard=hard, axis=axis, rng=fg_key(words), out=dst,
                                   precision=precision)
    try:
        res = sample(xin)
    except ValueError:      # +inf logits: those rows become NaN, as softmax gives in JAX
        res = sample(np.where(np.isposinf(xin), np.nan, xin))
    if bad is not None:     # rows of a bad per-row tau
        res = np.where(bad, np.nan, res)
    if dst is None:
        out[...] = res
    if len(outs) == 2:
        _one_hot_rows(res, axis, outs[1])


def _sample(words, x, tau, hard, axis, precision, with_hard=False):
    """The soft or hard sample; ``with_hard``: the soft sample and its one-hot."""
    if _gpu.active():
        return _gpu.softmax(words, x, tau, hard, axis, precision, with_hard)
    body = functools.partial(_softmax_body, hard=hard, axis=axis, precision=precision)
    spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
    res = host_call(body, [spec, spec] if with_hard else [spec], words, x, tau)
    return res if with_hard else res[0]


def _tangent(y, dx, dtau, tau, axis):
    """``dy``; a symbolic-zero tangent (not differentiated) drops its term."""
    cd = _args.compute_dtype(y.dtype)
    yc = y.astype(cd)
    a = 0.0
    if not isinstance(dx, SymbolicZero):
        a = yc * jnp.asarray(dx, cd)
    if not isinstance(dtau, SymbolicZero):
        a = a - xlogy(yc, yc) * jnp.asarray(dtau, cd)
    if isinstance(a, float):
        return jnp.zeros(y.shape, y.dtype)
    dy = (a - yc * jnp.sum(a, axis, keepdims=True)) / tau.astype(cd)
    return dy.astype(y.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4, 5))
def _gumbel_softmax(words, x, tau, hard, axis, precision):
    return _sample(words, x, tau, hard, axis, precision)


def _gumbel_softmax_jvp(hard, axis, precision, primals, tangents):
    words, x, tau = primals
    _, dx, dtau = tangents
    if hard:    # straight-through: the soft sample's tangent (the kernel's one-hot of it)
        y, out = _soft_and_hot(words, x, tau, axis, precision)
    else:
        y = out = _gumbel_softmax(words, x, tau, False, axis, precision)
    return out, _tangent(y, dx, dtau, tau, axis)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _soft_and_hot(words, x, tau, axis, precision):
    """The soft sample and the one-hot of its first maximum, from one host call."""
    return tuple(_sample(words, x, tau, False, axis, precision, with_hard=True))


def _soft_and_hot_jvp(axis, precision, primals, tangents):
    words, x, tau = primals
    _, dx, dtau = tangents
    y, hot = _soft_and_hot(words, x, tau, axis, precision)     # both rules differentiate
    return (y, hot), (_tangent(y, dx, dtau, tau, axis), jnp.zeros_like(hot))   # again


_soft_and_hot.defjvp(_soft_and_hot_jvp, symbolic_zeros=True)


_gumbel_softmax.defjvp(_gumbel_softmax_jvp, symbolic_zeros=True)


def _per_row(t, x, axis, cd):
    """A per-row ``tau`` (shape ``(B, 1)``-style or ``(B,)``-style, docs of the NumPy
    ``gumbel_softmax``) in its keepdims form: the logits' ndim, size 1 along ``axis``."""
    lead = x.shape[:axis] + x.shape[axis + 1:]
    values = np.ones(t.shape) if _args.is_traced(t) else np.asarray(t)   # shape checks only
    b, _ = chk.tau_batch(values, x.ndim, axis, lead, cd)
    rows = jnp.reshape(t, (1,) * (len(lead) - b.ndim) + b.shape)
    return jnp.expand_dims(rows, axis)


def temperature(tau, x, axis):
    """``tau`` as a 0-d or keepdims array of the compute dtype, checked now as far as it is
    known (its value when not traced, its shape always)."""
    if isinstance(tau, (bool, np.bool_)) or getattr(tau, "dtype", None) == jnp.bool_:
        raise TypeError(f"tau must be a positive real number; got {tau!r}")
    t = jnp.asarray(tau)
    cd = _args.compute_dtype(x.dtype)
    if t.ndim:
        return _per_row(t, x, axis, cd).astype(cd)
    if not _args.is_traced(tau):
        chk.tau_value(tau if isinstance(tau, (int, float)) else np.asarray(tau)[()], cd)
    return t.astype(cd)
