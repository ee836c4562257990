"""The creation functions' bodies: :func:`fastgumbel.uniform` and :func:`fastgumbel.gumbel`
(NumPy's argument order and broadcasting) and the noise fill they share with the Dask
blocks.

Scalar parameters go into the kernel (``loc + scale * g``; the uniforms of ``(0, 1)`` as
they are); array parameters and other uniform bounds are applied after it, in float64 with
NumPy, on host arrays (a device ``like``/``out`` raises :class:`~fastgumbel._core.NeedsHost`
before the key is resolved, and the call is served on the host).
"""
from __future__ import annotations

import math

import numpy as np

from . import _backends
from . import _checks as chk
from ._arrays import c_contiguous, device_empty, device_kind
from ._core import NeedsHost, alloc, device_of, host_only, key_args
from .random import resolve_key


def _noise_target(mod, size, dtype, like, out):
    """(result dtype, shape, device kind or None) of a creation call."""
    on_device = [a for a in (like, out) if device_kind(a) is not None]
    dev = device_of(on_device[0], mod) if on_device else None
    if dev is None:
        if like is not None and not isinstance(like, np.ndarray):
            raise TypeError(f"like must be an array (NumPy, or a DLPack tensor); got "
                            f"{type(like).__name__}")
        if out is not None and not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    elif out is not None and (device_kind(out) is None or not c_contiguous(out)):
        raise NeedsHost
    if out is not None:
        dt = chk.result_float_dtype(out.dtype, "out.dtype")
        shape = tuple(out.shape) if size is None else chk.size_shape(size)
    else:
        dt = chk.result_float_dtype(dtype)
        shape = chk.size_shape(size)
    if dev is not None:
        if out is not None and tuple(out.shape) != shape:
            raise ValueError(f"out has shape {tuple(out.shape)}; expected {shape}")
        if not shape:
            raise NeedsHost      # one sample: a host scalar
    return dt, shape, dev


def noise(size, dtype, rng, like, out, precision, backend, uniform, loc=0.0, scale=1.0, row0=0):
    """:func:`fastgumbel.uniform` (``uniform=True``) and :func:`fastgumbel.gumbel` with
    scalar ``loc`` and ``scale``."""
    mod = _backends.backend_for(backend, *(a for a in (like, out) if a is not None),
                                name="like")
    dt, shape, dev = _noise_target(mod, size, dtype, like, out)
    bits64 = chk.precision_bits64(precision, dt)
    key = resolve_key(rng)
    args = (int(row0), *key_args(key), bits64, uniform, float(loc), float(scale))
    if dev is not None:
        res = out if out is not None else device_empty(dev, shape, dt)
        if res.size:
            mod.fill_noise(res.reshape(math.prod(shape[:-1]), shape[-1]), *args)
        return res
    target = out
    if out is not None and not shape:      # a 0-d out holds the one sample
        chk.out_array(out, (), dt)
        target = out[np.newaxis]
    buf, finish = alloc(target, shape if shape else (1,), None, dt, chk.compute_dtype(dt), ())
    if buf.size:
        mod.fill_noise(buf, *args)
    res = finish()                         # copies a buffer into ``out`` where one was needed
    if out is not None:
        res = out
    if uniform and dt == np.float16:
        # rounding a float32 uniform to float16 (11 bits) can give 0 or 1: keep (0, 1) open
        np.clip(res, np.float16(2.0**-24), np.float16(1 - 2.0**-11), out=res)
    return res.reshape(())[()] if (not shape and out is None) else res


def _param_target(size, out, **params):
    """The result shape of a call with array parameters, and its ``out`` (NumPy only)."""
    host_only(*params.values(), out)
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    return chk.params_shape(size, None if out is None else out.shape, **params)


def _into(out, res, shape):
    if out is None:
        return res
    chk.out_array(out, shape, out.dtype)
    np.copyto(out, res)
    return out


def gumbel(loc, scale, size, dtype, rng, like, out, precision, backend):
    """:func:`fastgumbel.gumbel`: scalar parameters in the kernel, arrays broadcast after."""
    host_only(loc, scale)
    arr_params = np.ndim(loc) or np.ndim(scale)
    loc_a, scale_a = chk.gumbel_params(loc, scale)
    if not arr_params:
        return noise(size, dtype, rng, like, out, precision, backend, False, float(loc),
                     float(scale))
    host_only(like)
    shape = _param_target(size, out, loc=loc_a, scale=scale_a)
    g = noise(shape, dtype if out is None else out.dtype, rng, like, None, precision, backend,
              False)
    with np.errstate(over="ignore"):     # beyond the dtype's range: +-inf, as in the kernel
        res = np.multiply(scale_a, g, dtype=np.result_type(loc_a, scale_a, g))   # in place:
        res += loc_a                                                             # 3 passes
        res = res.astype(g.dtype, copy=False)
    return _into(out, res, shape)


def is_unit_interval(low, high):
    """True for scalar bounds 0 and 1: the kernel's open-interval uniforms as they are."""
    return np.ndim(low) == 0 and np.ndim(high) == 0 and low == 0 and high == 1


def stretch_uniform(u, lo, hi):
    """``low + (high - low) * u`` computed in float64 and rounded once to ``u``'s dtype, then
    kept below ``high`` (rounded to that dtype) where ``low < high``; NumPy or Dask ``u``."""
    dt = u.dtype
    with np.errstate(over="ignore"):
        lo_d, hi_d = lo.astype(dt), hi.astype(dt)
        top = np.where(lo_d < hi_d, np.nextafter(hi_d, lo_d), hi_d)    # the largest value kept
        if not isinstance(u, np.ndarray) or u.ndim == 0:    # Dask (lazy), or one value
            return np.minimum((lo + (hi - lo) * u).astype(dt), top)
        x = np.multiply(hi - lo, u, dtype=np.float64)        # in place from here: 3 passes
        x += lo
        x = x.astype(dt, copy=False)
    return np.minimum(x, top, out=x)


def uniform(low, high, size, dtype, rng, like, out, precision, backend):
    """:func:`fastgumbel.uniform`: the kernel's uniforms for (0, 1), else stretched."""
    host_only(low, high)
    lo, hi = chk.uniform_bounds(low, high)
    if is_unit_interval(lo, hi):
        return noise(size, dtype, rng, like, out, precision, backend, True)
    host_only(like)
    shape = _param_target(size, out, low=lo, high=hi)
    u = noise(shape, dtype if out is None else out.dtype, rng, like, None, precision, backend,
              True)
    res = stretch_uniform(np.asarray(u), lo, hi)
    return _into(out, res, shape) if shape or out is not None else res[()]
