"""``categorical`` (JAX's shapes: sample dimensions first), ``gumbel_max`` and ``gumbel``."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _api
from .. import _checks as chk
from . import _args, _gpu
from ._call import host_call
from ._keys import fg_key, key_words


def _bad_rows(draw, x, axis, fill_rows):
    """Draws of ``x`` whose rows hold NaN or ``+inf``, as ``jnp.argmax(x + g)`` gives them:
    the first NaN of the row, else its first ``+inf`` (``fill_rows=-1``: -1 instead)."""
    nan, inf = np.isnan(x), np.isposinf(x)
    bad = np.any(nan | inf, axis=axis)
    res = draw(np.where(np.expand_dims(bad, axis), 0, x))
    if fill_rows is None:
        fill = np.where(np.any(nan, axis=axis), np.argmax(nan, axis=axis),
                        np.argmax(inf, axis=axis))
    else:
        fill = np.full(bad.shape, fill_rows)
    res[bad] = fill[bad] if res.ndim == bad.ndim else fill[bad][:, None]
    return res


def _draw_body(outs, words, x, *, kind, n, axis, precision):
    xin, key = _args.host_float(x), fg_key(words)
    draw = {"max": lambda v: _api.gumbel_max(v, axis=axis, rng=key, precision=precision),
            "with": lambda v: _api.categorical(v, n, axis=axis, rng=key, precision=precision),
            "without": lambda v: _api.gumbel_topk(v, n, axis=axis, rng=key,
                                                  precision=precision)}[kind]
    try:
        outs[0][...] = draw(xin)
    except ValueError:      # NaN or +inf logits: defined results instead of a callback error
        outs[0][...] = _bad_rows(draw, xin, axis, -1 if kind == "without" else None)


def _draws(words, x, kind, n, axis, precision):
    lead = x.shape[:axis] + x.shape[axis + 1:]
    chk.categories(x.shape[axis], math.prod(lead), axis)
    chk.noise_rows(math.prod(lead), n or 1)
    if _gpu.active():
        return _gpu.draws(words, x, kind, n, axis, precision)
    shape = lead if kind == "max" else lead + (n,)
    spec = jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(np.int64))
    body = functools.partial(_draw_body, kind=kind, n=n, axis=axis, precision=precision)
    return host_call(body, [spec], words, jax.lax.stop_gradient(x))[0]


def _result_shape(shape, batch):
    """JAX's check: ``shape`` broadcasts with the batch shape to itself."""
    shape = chk.size_shape(shape, "shape")
    try:
        ok = np.broadcast_shapes(shape, batch) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"shape={shape} must be broadcast-compatible with the batch shape "
                         f"{batch} (logits.shape without axis) and end in it, as in "
                         "jax.random.categorical")
    return shape


def _sample_first(d, shape):
    """Draws along a new last axis -> sample dimensions first, as JAX lays them out."""
    return jnp.moveaxis(d, -1, 0).reshape(shape)


def categorical(key, logits, axis=-1, shape=None, replace=True, mode=None, *, n=None):
    """Categorical draws from ``softmax(logits)`` along ``axis``: ``jax.random.categorical``.

    Same arguments, result shape, dtype and layout as :func:`jax.random.categorical`:
    ``shape`` defaults to the batch shape (``logits.shape`` without ``axis``); a longer
    ``shape`` puts independent sample dimensions first and must end in a shape that
    broadcasts with the batch shape. ``replace=False`` draws without replacement by Gumbel
    top-k (:func:`fastgumbel.gumbel_topk`; at most as many draws as categories, and
    ``shape`` must end in the batch shape itself). ``mode``: see the package docstring.

    ``n=`` (fastgumbel's layout, not JAX's): ``n`` draws per row along a new *last* axis,
    equal to :func:`fastgumbel.categorical`; not combined with ``shape`` or ``replace``.

    Rows of all ``-inf`` give -1. A row with NaN logits gives the index of its first NaN,
    else a row with ``+inf`` logits the index of its first ``+inf`` (what ``jnp.argmax``
    of ``logits + g`` gives in JAX); without replacement such rows are all -1.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
    >>> d = fgj.categorical(jax.random.key(0), jnp.zeros((2, 5)), shape=(1000, 2))
    >>> d.shape, d.dtype, int(d.min()) >= 0, int(d.max()) <= 4
    ((1000, 2), dtype('int32'), True, True)
    >>> p = fgj.categorical(jax.random.key(0), jnp.zeros(5), shape=(5,), replace=False)
    >>> sorted(p.tolist())
    [0, 1, 2, 3, 4]
    """
    words = key_words(key)
    x = _args.logits(logits)
    ax = _args.axis(axis, x.ndim)
    replace = _args.flag(replace, "replace")
    precision = _args.precision(mode)
    batch = x.shape[:ax] + x.shape[ax + 1:]
    if n is not None:
        if shape is not None or not replace:
            raise ValueError(f"n={n!r} (draws along a new last axis) does not combine with "
                             f"shape={shape!r} or replace={replace}; use shape= for JAX's layout")
        return _draws(words, x, "with", chk.count(n, "n"), ax, precision)
    shape = batch if shape is None else _result_shape(shape, batch)
    prefix, tail = shape[:len(shape) - len(batch)], shape[len(shape) - len(batch):]
    k = math.prod(prefix)
    if not replace:
        if k > x.shape[ax]:
            raise ValueError(f"Number of samples without replacement ({k}) cannot exceed "
                             f"number of categories ({x.shape[ax]}).")
        if tail != batch:
            raise ValueError(f"without replacement shape={shape} must end in the batch shape "
                             f"{batch}")
        return _sample_first(_draws(words, x, "without", k, ax, precision), shape)
    if tail != batch:       # batch dimensions of size 1 broadcast up, as in JAX
        x = jnp.broadcast_to(x, tail[:ax] + (x.shape[ax],) + tail[ax:])
    if not prefix:
        return _draws(words, x, "max", None, ax, precision)
    return _sample_first(_draws(words, x, "with", k, ax, precision), shape)


def gumbel_max(key, logits, axis=-1):
    """One categorical draw per row, ``argmax(logits + g, axis)`` (Gumbel-max).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
    >>> int(fgj.gumbel_max(jax.random.key(3), jnp.array([0.0, -jnp.inf, -jnp.inf])))
    0
    """
    return categorical(key, logits, axis=axis)


def _gumbel_body(outs, words, *, shape, precision):
    out = outs[0]
    dt = np.float32 if out.dtype.name == "bfloat16" else out.dtype
    res = _api.gumbel(size=shape, dtype=dt, rng=fg_key(words), precision=precision,
                      out=out if dt == out.dtype else None)
    if dt != out.dtype:
        out[...] = res


def gumbel(key, shape=(), dtype=float, mode=None):
    """Standard Gumbel noise of fastgumbel's stream: ``jax.random.gumbel``'s arguments.

    ``jax.random.key(s)`` gives the values of ``fastgumbel.gumbel(size=shape, rng=s)``
    (threefry keys; see the package docstring). ``dtype``: bfloat16 (drawn in float32),
    float16, float32 or float64 (``float``: JAX's default float).

    Examples
    --------
    >>> import jax, fastgumbel as fg, fastgumbel.jax as fgj
    >>> g = fgj.gumbel(jax.random.key(2), (3,))
    >>> bool((g == fg.gumbel(size=3, rng=2)).all()), g.dtype
    (True, dtype('float32'))
    """
    words = key_words(key)
    dt = jax.dtypes.canonicalize_dtype(float if dtype is None else dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"dtype must be a float dtype (dtype argument to gumbel); got {dt}")
    chk.bridge_float_dtype(dt, "dtype")
    shape = chk.size_shape(shape, "shape")
    if _gpu.active():
        return _gpu.gumbel(words, shape, dt, _args.precision(mode))
    body = functools.partial(_gumbel_body, shape=shape, precision=_args.precision(mode))
    return host_call(body, [jax.ShapeDtypeStruct(shape, dt)], words)[0]
