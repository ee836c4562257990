"""The NumPy-style functions of gradients and densities: the Gumbel-Softmax backward, the
Concrete log-density, the conditional Gumbel noise and the Gumbel-Rao backward.

Public functions like those of :mod:`fastgumbel._api` (same ``routed`` decorator), kept in
their own module so that each stays short enough to read.
"""
from __future__ import annotations


from . import _core, _rao
from ._api import routed

__all__ = ["gumbel_softmax_backward", "concrete_log_prob", "conditional_gumbel",
           "gumbel_rao_backward"]


@routed(dask=False)
def gumbel_softmax_backward(grad, tau, *, y_soft=None, logits=None, rng=None, axis=-1,
                            precision="default", tau_grad=True, backend="auto"):
    """Gradients of a loss through ``y = gumbel_softmax(logits, tau)``: w.r.t. logits and tau.

    Two modes, same result:

    - saved: pass the forward's soft sample ``y_soft``;
    - recompute: pass ``logits`` and the replayable ``rng`` (a :class:`Key` or int seed)
      of the forward; the sample is regenerated and nothing but the key is kept.

    For ``hard=True`` forwards (straight-through), pass the gradient with respect to the
    hard output as ``grad``: the estimator's gradient is the soft one.

    Returns
    -------
    grad_logits : ndarray, shape of ``grad``, dtype of ``y_soft`` or ``logits``
        ``y * (grad - sum(grad * y)) / tau`` along ``axis``.
    grad_tau : numpy scalar of the same dtype, or an array of ``tau``'s shape
        ``-sum(y * (grad - sum(grad * y)) * log(y)) / tau`` per row, summed over all rows for
        a scalar ``tau``; for a per-row ``tau`` (as in :func:`gumbel_softmax`), summed over
        the rows that share each element of ``tau``.

    ``grad`` is cast to the forward's dtype (that of ``y_soft`` or ``logits``).
    ``tau_grad=False`` returns ``None`` for ``grad_tau`` and skips its log per element (what
    a fixed tau needs, as torch's autograd computes it); ``grad_logits`` is the same.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.2]]))
    >>> k = fg.Key(11)
    >>> y = fg.gumbel_softmax(x, 0.7, rng=k)
    >>> g = np.array([[1.0, 0.0, 0.0]])
    >>> a = fg.gumbel_softmax_backward(g, 0.7, y_soft=y)
    >>> b = fg.gumbel_softmax_backward(g, 0.7, logits=x, rng=k)
    >>> bool(np.allclose(a[0], b[0])), bool(np.isclose(a[1], b[1]))
    (True, True)
    """
    return _core.softmax_backward(grad, tau, y_soft, logits, rng, axis, precision, backend,
                                  tau_grad)


@routed(dask=False)
def concrete_log_prob(y, logits, tau, *, axis=-1, backend="auto"):
    """Log-density of the Concrete (Gumbel-Softmax) distribution at ``y`` on the simplex.

    ``log p(y) = log((K-1)!) + (K-1) log tau + sum_k [l_k - (tau+1) log y_k]
    - K logsumexp_k(l_k - tau log y_k)``, the density that
    ``torch.distributions.RelaxedOneHotCategorical(tau, logits=l).log_prob`` computes.
    Computed in float64, returned in the inputs' dtype. ``y`` and ``logits`` broadcast.
    Points with any ``y_k <= 0``, and rows whose logits are all ``-inf``, give ``-inf``;
    the sum-to-one constraint is not checked. ``tau`` may be per row (TFP's batched
    temperatures): size 1 along ``axis``, or a batch shape without it, which broadcasts
    with the batch shape of ``y`` and ``logits`` (and may extend it).

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> lp = fg.concrete_log_prob(np.array([0.5, 0.5]), np.zeros(2), 1.0)
    >>> round(float(lp), 6)    # K = 2, tau = 1: the density is 1 on the simplex
    0.0
    """
    return _core.concrete_log_prob(y, logits, tau, axis, backend)


@routed(dask=False)
def conditional_gumbel(logits, index, *, axis=-1, rng=None, samples=None, precision="default",
                       backend="auto"):
    """Gumbel noise ``g`` conditioned on ``argmax(logits + g) == index`` along ``axis``.

    In each row the maximum ``logits[index] + g[index]`` is Gumbel with location
    ``logsumexp(logits)``, and every other ``logits[i] + g[i]`` is Gumbel with location
    ``logits[i]`` truncated above at that maximum, sampled exactly as
    ``g[i] = -log(E[i] + exp(logits[i] - max))`` from standard exponentials ``E`` (finite
    for every random bit pattern). ``argmax(logits + g)`` computed in the logits' dtype is
    always ``index``. A ``-inf`` logit (probability 0) gets finite noise, its unconditional
    Gumbel variate, and a perturbed value of ``-inf``.

    The noise comes from the key's conditional field (``docs/rng.md``), never from the
    forward noise of the same key: ``gumbel_max(x, rng=k)`` and
    ``conditional_gumbel(x, i, rng=k)`` use independent bits.

    Parameters
    ----------
    logits : array_like of float
        No NaN, no +inf; ``logits[index]`` must be finite, and less than the dtype's
        largest number below the row's maximum (else the noise would overflow).
    index : array_like of int
        The argmax to condition on: the shape of ``logits`` without ``axis`` (what
        :func:`gumbel_max` returns), values in ``[0, K)``.
    axis : int
    rng : None, int, Generator, Key or numpy.random.Generator
    samples : int, optional
        ``None``: one sample, the shape of ``logits``. An int ``S``: ``S`` independent
        samples stacked on a new first axis, ``(S, *logits.shape)``; sample 0 is the
        ``samples=None`` result. At most ``2**23 - 1``; rows below ``2**40``.
    precision : {"default", "high"}

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.2]], np.float32))
    >>> g = fg.conditional_gumbel(x, np.array([2]), rng=3, samples=1000)
    >>> g.shape, bool((np.argmax(x + g, axis=-1) == 2).all())
    ((1000, 1, 3), True)
    """
    return _rao.conditional_gumbel(logits, index, axis, rng, samples, precision, backend)


@routed(dask=False)
def gumbel_rao_backward(grad, logits, tau, index, *, samples, axis=-1, rng=None,
                        precision="default", backend="auto"):
    """Gumbel-Rao gradients of a straight-through Gumbel-softmax: (grad_logits, grad_tau).

    The forward is the hard sample ``gumbel_softmax(logits, tau, hard=True, rng=k)``, whose
    argmax is ``index`` (``gumbel_max(logits, rng=k)`` gives it too). Where straight-through
    returns the vector-Jacobian product of that call's soft sample, this returns its mean
    over ``samples`` soft samples ``y = softmax((logits + g) / tau)``, ``g`` drawn by
    :func:`conditional_gumbel` given ``index`` (same ``rng``: sample ``s`` is
    ``conditional_gumbel(..., samples=S)[s]``): the same expectation with less variance
    (Paulus, Maddison and Krause 2020). One fused pass per row; no per-sample array is
    stored.

    ``tau`` is a scalar or a per-row temperature, as in :func:`gumbel_softmax` (the
    logits' shape with size 1 along ``axis``, or their shape without ``axis``); row ``r``
    then gives the result of the scalar call with ``tau[r]`` on that row.

    Returns
    -------
    grad_logits : ndarray, shape and dtype of ``logits``
        mean over samples of ``y * (grad - sum(grad * y)) / tau``.
    grad_tau : numpy scalar of the same dtype, or an array of ``tau``'s shape
        mean over samples of ``-sum(y * (grad - sum(grad * y)) * (logits + g)) / tau**2``
        per row, summed over all rows for a scalar ``tau``; for a per-row ``tau``, summed
        over the rows that share each element of ``tau``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.2]]))
    >>> k = fg.Key(4)
    >>> i = fg.gumbel_max(x, rng=k)
    >>> gx, gt = fg.gumbel_rao_backward(np.array([[1.0, 0, 0]]), x, 0.5, i, samples=8, rng=k)
    >>> gx.shape, bool(abs(gx.sum()) < 1e-12)    # a softmax gradient sums to 0 per row
    ((1, 3), True)
    """
    return _rao.gumbel_rao_backward(grad, logits, tau, index, samples, axis, rng, precision,
                                    backend)
