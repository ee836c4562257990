"""Checks of distribution parameters: ``fastgumbel.gumbel`` / ``uniform`` and the
NumPy-compatible ``Generator`` methods."""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from ._base import FLOATS, axis_index, size_shape


# distribution parameters (fastgumbel.gumbel / uniform and the Generator methods)


def _real_param(v, name):
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be a real number or array; got {v!r}")
    return arr


def gumbel_params(loc, scale, scale_name="scale"):
    """``loc`` and ``scale`` as arrays, checked: real, ``loc`` finite, ``scale`` finite > 0."""
    loc_a = _real_param(loc, "loc")
    scale_a = _real_param(scale, scale_name)
    if not np.all(np.isfinite(loc_a)):
        raise ValueError(f"loc must be finite; got {loc!r}")
    if not np.all(scale_a > 0) or not np.all(np.isfinite(scale_a)):
        raise ValueError(f"{scale_name} must be finite and > 0; got {scale!r}")
    return loc_a, scale_a


def uniform_bounds(low, high):
    """``low`` and ``high`` as float64 arrays with ``high - low`` finite and >= 0
    (NumPy's ``Generator.uniform`` rules: ``OverflowError``, ``ValueError``)."""
    lo = _real_param(low, "low").astype(np.float64, copy=False)
    hi = _real_param(high, "high").astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        span = hi - lo
    if not np.all(np.isfinite(span)):
        raise OverflowError(f"high - low must be finite; got low={low!r}, high={high!r}")
    if np.any(span < 0):
        raise ValueError(f"high must be >= low; got low={low!r}, high={high!r}")
    return lo, hi


def params_shape(size, out_shape, **params):
    """The result shape of a call with array parameters: ``size``, else ``out``'s shape,
    else the parameters' broadcast shape; the parameters must broadcast to it (NumPy)."""
    shapes = {name: np.shape(v) for name, v in params.items()}
    desc = " and ".join(f"{name} {s}" for name, s in shapes.items())
    try:
        together = np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(f"{desc} do not broadcast together") from None
    if size is None and out_shape is None:
        return together
    shape = size_shape(size) if size is not None else tuple(out_shape)
    try:
        ok = np.broadcast_shapes(shape, together) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{desc} do not broadcast to size {shape}")
    return shape


def generator_dtype(dtype, method):
    """A ``Generator`` method's float dtype: float32 or float64, as NumPy's."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOATS[1:]:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64 for {method}; "
                        f"got {dtype!r}")
    return dt



def generator_out(out, size, dtype):
    """``out=`` of a ``Generator`` method, as NumPy checks it: an ndarray of ``dtype``,
    C-contiguous and writable, of shape ``size`` when both are given."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}; expected {np.dtype(dtype)} (the dtype "
                        "argument)")
    if not (out.flags.c_contiguous and out.flags.writeable and out.flags.aligned):
        raise ValueError("out must be C-contiguous, writable and aligned")
    if size is not None and size_shape(size) != out.shape:
        raise ValueError(f"size {size!r} must match out.shape {out.shape} when both are given")
    return out


def choice_population(a, axis, n):
    """``(pop_size, array or None, axis)`` of ``Generator.choice``'s ``a``: an integer (or
    0-d array holding one) is ``range(a)``; an array-like is sampled along ``axis``."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        try:
            pop = operator.index(arr.item())
        except TypeError:
            raise ValueError(f"a must be a sequence or an integer; got {a!r}") from None
        if pop <= 0 and n:
            raise ValueError(f"a must be a positive integer unless no samples are taken; "
                             f"got {a!r}")
        return pop, None, 0
    ax = axis_index(axis, arr.ndim)
    pop = arr.shape[ax]
    if pop == 0 and n:
        raise ValueError(f"a cannot be empty unless no samples are taken; got shape "
                         f"{arr.shape} along axis {axis}")
    return pop, arr, ax


def choice_p(p, pop):
    """``p`` as float64 probabilities: 1-D, one per population item, finite, >= 0, summing
    to 1 within ``sqrt(eps)`` of its float dtype (NumPy's rule)."""
    arr = np.asarray(p)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"p must be real probabilities; got dtype {arr.dtype}")
    atol = math.sqrt(np.finfo(np.float64).eps)
    if arr.dtype.kind == "f":
        atol = max(atol, math.sqrt(np.finfo(arr.dtype).eps))
    arr = arr.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"p must be 1-dimensional; got shape {arr.shape}")
    if arr.size != pop:
        raise ValueError(f"a and p must have the same size; got {pop} items and {arr.size} "
                         "probabilities")
    if np.isnan(arr).any():
        raise ValueError(f"p contains NaN: {p!r}")
    if (arr < 0).any():
        raise ValueError(f"p must be non-negative; got {p!r}")
    total = math.fsum(arr)
    if not abs(total - 1.0) <= atol:
        raise ValueError(f"p must sum to 1 (within {atol:.3g}); its sum is {total!r}")
    return arr


def choice_count(n, pop, p, replace):
    """Draws without replacement need enough items (with non-zero probability)."""
    if replace:
        return
    if n > pop:
        raise ValueError(f"cannot take a larger sample ({n}) than the population ({pop}) "
                         "when replace is False")
    if p is not None and n > np.count_nonzero(p):
        raise ValueError(f"fewer non-zero entries in p ({np.count_nonzero(p)}) than size "
                         f"({n}) when replace is False")
