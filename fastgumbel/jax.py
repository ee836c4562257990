"""JAX bridge: Gumbel-Softmax and categorical draws with a JAX PRNG key, differentiable.

``fastgumbel.jax.gumbel_softmax(key, logits, tau, hard, axis)`` runs the fused fastgumbel
CPU kernels through :func:`jax.pure_callback`, so it works under ``jax.jit``, ``jax.vmap``
and ``jax.grad``. Gradients for the logits and the temperature come from the analytic backward
kernel (:func:`fastgumbel.gumbel_softmax_backward`) through :func:`jax.custom_vjp`.

Keys
----
A JAX key is accepted typed (``jax.random.key(seed)``, default threefry implementation) or
raw (``jax.random.PRNGKey(seed)``, ``uint32[2]``). Its two data words ``(d0, d1)`` name the
fastgumbel key ``Key(seed=(d0 << 32) | d1, stream=0)``. For the threefry implementation
``jax.random.key(s)`` has data ``(s >> 32, s & 0xFFFFFFFF)``, so ``jax.random.key(s)``
draws exactly the noise of ``fastgumbel.Key(s)`` and of ``fastgumbel.gumbel(..., rng=s)``
(for ``0 <= s < 2**32``; larger seeds keep their high word only with ``jax_enable_x64``);
keys made by ``jax.random.split`` / ``fold_in`` give pseudo-random seeds. As with any JAX
key, use a fresh (split) key for every draw. Keys of other implementations must also have
two ``uint32`` words, else ``ValueError``.

Host round-trip
---------------
The kernels are Numba CPU code, not XLA: each call leaves the XLA computation, hands the
operands to Python as NumPy arrays (on the CPU without a copy where XLA allows it), runs the
kernel, and copies the result into an XLA buffer. That has a fixed cost per callback
(forward: one; forward + backward: two; figures in ``bench/RESULTS.md``), blocks XLA's fusion
across the call, and needs the operands on the CPU (on a GPU device XLA would copy them to
the host and back). Under ``jax.vmap`` the host loops over the batch elements inside one
callback (``vmap_method="broadcast_all"``, so unbatched operands arrive broadcast). Errors
raised by the kernel (NaN logits in :func:`categorical`, bad ``tau``) surface as the
callback's error.

Examples
--------
>>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
>>> logits = jnp.log(jnp.array([[0.6, 0.3, 0.1]]))
>>> y = fgj.gumbel_softmax(jax.random.key(0), logits, 0.5)
>>> y.shape, y.dtype, round(float(y.sum()), 5)
((1, 3), dtype('float32'), 1.0)
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _api
from . import _checks as chk
from .random import Key

__all__ = ["gumbel_softmax", "categorical", "gumbel_max", "key_words"]

def key_words(key):
    """The ``uint32[2]`` data words of a typed or raw JAX key (traceable).

    Examples
    --------
    >>> import jax, fastgumbel.jax as fgj
    >>> fgj.key_words(jax.random.key(5)).tolist()
    [0, 5]
    >>> with jax.enable_x64(True):
    ...     fgj.key_words(jax.random.key(2**32 + 5)).tolist()
    [1, 5]
    """
    if not hasattr(key, "dtype"):
        raise TypeError(f"key must be a JAX PRNG key (jax.random.key or jax.random.PRNGKey); "
                        f"got {key!r}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        data = jax.random.key_data(key)
    else:
        data = jnp.asarray(key)
    if data.dtype != jnp.uint32 or data.shape != (2,):
        raise ValueError("key must be one JAX PRNG key with two uint32 data words (threefry "
                         f"typed key or raw uint32[2]); got data of dtype {data.dtype} and "
                         f"shape {data.shape} (batch keys with jax.vmap)")
    return data


def _fg_key(words):
    w = np.asarray(words)
    return Key((int(w[0]) << 32) | int(w[1]), 0)


def _check_logits(logits):
    x = jnp.asarray(logits)
    chk.float_dtype(x.dtype, "logits")
    chk.has_categories_axis(x.ndim)
    return x


# ----------------------------------------------------------------------------------------
# host functions (run by pure_callback on NumPy arrays)


def _host_forward(words, x, tau, *, hard, axis):
    x = np.asarray(x)
    y = _api.gumbel_softmax(x, float(tau), hard=hard, axis=axis, rng=_fg_key(words))
    return np.asarray(y, dtype=x.dtype)


def _host_backward(words, g, saved, tau, *, recompute, axis):
    g, saved = np.asarray(g), np.asarray(saved)
    if recompute:   # saved holds the logits: the kernel regenerates the soft sample per row
        gl, gt = _api.gumbel_softmax_backward(g, float(tau), logits=saved, rng=_fg_key(words),
                                              axis=axis)
    else:
        gl, gt = _api.gumbel_softmax_backward(g, float(tau), y_soft=saved, axis=axis)
    return np.asarray(gl, dtype=saved.dtype), np.asarray(gt, dtype=np.asarray(tau).dtype)


def _callback(fn, specs, *args):
    """``pure_callback`` whose host side loops over vmap batches itself.

    With ``vmap_method="broadcast_all"`` a vmapped call reaches the host once, every
    argument carrying the same leading batch dimensions (none outside vmap); ``fn`` runs
    once per batch element on the unbatched slices (key words first) and the results are
    stacked: one round-trip per call however many keys are batched.
    """
    single = not isinstance(specs, tuple)
    specs_t = (specs,) if single else specs

    def host(words, *rest):
        words = np.asarray(words)
        lead = words.shape[:-1]
        if not lead:
            return fn(words, *rest)
        n = int(np.prod(lead))
        flat = [np.asarray(a).reshape((n,) + np.shape(a)[len(lead):]) for a in rest]
        outs = [np.empty((n,) + tuple(sp.shape), sp.dtype) for sp in specs_t]
        w = words.reshape(n, 2)
        for i in range(n):
            res = fn(w[i], *(a[i] for a in flat))
            for o, r in zip(outs, (res,) if single else res):
                o[i] = r
        outs = [o.reshape(lead + o.shape[1:]) for o in outs]
        return outs[0] if single else tuple(outs)

    return jax.pure_callback(host, specs, *args, vmap_method="broadcast_all")


def _forward(words, x, tau, hard, axis):
    spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
    return _callback(functools.partial(_host_forward, hard=hard, axis=axis), spec, words, x, tau)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _gumbel_softmax(words, x, tau, hard, axis):
    return _forward(words, x, tau, hard, axis)


def _gumbel_softmax_fwd(words, x, tau, hard, axis):
    y = _forward(words, x, tau, hard, axis)
    # soft: keep the sample; hard: keep the logits and regenerate the soft sample
    return y, (words, x if hard else y, tau)


def _gumbel_softmax_bwd(hard, axis, res, g):
    words, saved, tau = res
    specs = (jax.ShapeDtypeStruct(saved.shape, saved.dtype),
             jax.ShapeDtypeStruct(tau.shape, tau.dtype))
    gl, gt = _callback(functools.partial(_host_backward, recompute=hard, axis=axis), specs,
                       words, g, saved, tau)
    return np.zeros(words.shape, jax.dtypes.float0), gl, gt


_gumbel_softmax.defvjp(_gumbel_softmax_fwd, _gumbel_softmax_bwd)


def gumbel_softmax(key, logits, tau=1.0, hard=False, axis=-1):
    """Gumbel-Softmax sample ``softmax((logits + g) / tau)`` with the noise of a JAX key.

    Differentiable in ``logits`` and ``tau`` (``jax.grad``, ``jax.vjp``; reverse mode only),
    usable under ``jax.jit`` and ``jax.vmap`` (batch keys with ``vmap``).

    Parameters
    ----------
    key : JAX PRNG key, typed or raw ``uint32[2]``
        See the module docstring for how it names the fastgumbel key.
    logits : array of float16/32/64
    tau : float or scalar array
        Temperature > 0.
    hard : bool
        Straight-through: forward value one-hot of the soft sample's argmax, gradient of the
        soft sample.
    axis : int
        The category axis.

    Returns
    -------
    Array, shape and dtype of ``logits``

    Examples
    --------
    >>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
    >>> x = jnp.zeros((2, 4))
    >>> loss = lambda x, t: (fgj.gumbel_softmax(jax.random.key(1), x, t) ** 2).sum()
    >>> gx, gt = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, 0.5)
    >>> gx.shape, gt.shape
    ((2, 4), ())
    >>> h = fgj.gumbel_softmax(jax.random.key(1), x, 0.5, hard=True)
    >>> h.sum(-1).tolist()
    [1.0, 1.0]
    """
    words = key_words(key)
    x = _check_logits(logits)
    hard = chk.flag(hard, "hard")
    ax = chk.axis_index(axis, x.ndim)
    t = jnp.asarray(tau, dtype=x.dtype) if not hasattr(tau, "dtype") else jnp.asarray(tau)
    if t.ndim != 0:
        raise TypeError(f"tau must be a scalar; got an array of shape {t.shape}")
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(x.dtype)
    return _gumbel_softmax(words, x, t, hard, ax)


def _host_categorical(words, x, *, n, axis, dtype):
    x = np.asarray(x)
    if n is None:
        res = _api.gumbel_max(x, axis=axis, rng=_fg_key(words))
    else:
        res = _api.categorical(x, n, axis=axis, rng=_fg_key(words))
    return np.asarray(res, dtype=dtype)


def categorical(key, logits, axis=-1, n=None):
    """Categorical draws with replacement from ``softmax(logits)`` along ``axis``.

    ``n=None``: one draw per row (``argmax(logits + g)``), shape of ``logits`` without
    ``axis``; an int ``n``: ``n`` draws per row along a new last axis. Equal to
    :func:`fastgumbel.categorical` with the key of the module docstring. The index dtype is
    JAX's default integer (int32 unless x64 is enabled); rows of all ``-inf`` give -1.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
    >>> d = fgj.categorical(jax.random.key(0), jnp.zeros((2, 5)), n=1000)
    >>> d.shape, int(d.min()) >= 0, int(d.max()) <= 4
    ((2, 1000), True, True)
    """
    words = key_words(key)
    x = _check_logits(logits)
    ax = chk.axis_index(axis, x.ndim)
    n = chk.count(n, "n", allow_none=True)
    dtype = jax.dtypes.canonicalize_dtype(np.int64)
    lead = x.shape[:ax] + x.shape[ax + 1:]
    spec = jax.ShapeDtypeStruct(lead + (() if n is None else (int(n),)), dtype)
    host = functools.partial(_host_categorical, n=None if n is None else int(n), axis=ax,
                             dtype=dtype)
    return _callback(host, spec, words, jax.lax.stop_gradient(x))


def gumbel_max(key, logits, axis=-1):
    """One categorical draw per row, ``argmax(logits + g, axis)`` (Gumbel-max).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
    >>> int(fgj.gumbel_max(jax.random.key(3), jnp.array([0.0, -jnp.inf, -jnp.inf])))
    0
    """
    return categorical(key, logits, axis=axis)
