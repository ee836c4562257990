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
from jax.custom_derivatives import SymbolicZero

from .. import _rao
from . import _args
from ._call import host_call
from ._keys import fg_key
from ._softmax import _sample, _tau_host


def _rao_body(outs, words, dy, x, tau, hot, want, *, axis, precision, samples):
    """Fill ``outs`` with (grad_logits, grad_tau) of the Gumbel-Rao backward (grad_tau
    zeros, and the kernel's tau term skipped, where ``want`` is 0: tau takes no gradient)."""
    gx_out, gt_out = outs
    want_tau = bool(np.asarray(want).any())
    t, bad, all_bad = _tau_host(tau)
    if all_bad:
        gx_out[...] = np.nan
        gt_out[...] = np.nan if want_tau else 0
        return
    gx, gt = _rao.bridge_backward(_args.host_float(dy), _args.host_float(x), t, hot, samples,
                                  axis, fg_key(words), precision, want_tau)
    if bad is not None:
        gx = np.where(bad, np.nan, gx)
        gt = np.where(bad, np.nan, gt) if want_tau else gt
    gx_out[...] = gx
    gt_out[...] = gt if want_tau else 0


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def gumbel_rao(words, x, tau, axis, precision, samples):
    """The hard sample of ``(words, x, tau)``; gradients by Gumbel-Rao with ``samples``."""
    return _sample(words, x, tau, True, axis, precision)


def _rao_fwd(words, x, tau, axis, precision, samples):
    """``symbolic_zeros``: the arguments come as ``CustomVJPPrimal``; whether tau is
    ``perturbed`` (takes a gradient) is known when tracing, and a residual array carries it
    to the backward's host call as data (a tau that is a plain number skips the kernel's
    tau term). Not in the residuals' structure: JAX keeps one residual tree per traced
    function, and a backward run after the same function was traced with the other zero
    pattern would read the other tree (a silent zero tau gradient)."""
    words, x, want_tau, tau = words.value, x.value, tau.perturbed, tau.value
    hot = _sample(words, x, tau, True, axis, precision)
    return hot, (words, x, tau, hot, jax.numpy.asarray(1 if want_tau else 0, np.int32))


def _rao_bwd(axis, precision, samples, res, dy):
    words, x, tau, hot, want = res
    if isinstance(dy, SymbolicZero):    # the output takes no part in the loss
        return None, jax.numpy.zeros_like(x), jax.numpy.zeros_like(tau)
    body = functools.partial(_rao_body, axis=axis, precision=precision, samples=samples)
    specs = [jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(tau.shape, tau.dtype)]
    gx, gt = host_call(body, specs, words, dy, x, tau, hot, want)
    return None, gx, gt


gumbel_rao.defvjp(_rao_fwd, _rao_bwd, symbolic_zeros=True)
