"""CUDA device arrays in and out of the NumPy-style functions.

A public function decorated with :func:`device_io` accepts CuPy arrays, Numba device
arrays and other ``__cuda_array_interface__`` objects wherever it takes an array (and as
``like=`` / ``out=``), runs on a GPU backend, and returns arrays of the input's kind.

Direct path (no copies): the samplers (``gumbel_softmax``, ``gumbel_log_softmax``,
``gumbel_max``, ``categorical``, ``multinomial``, ``gumbel_topk``) on a C-contiguous
float16/32/64 device array whose sampling axis is the last one, without ``out=``, and the
noise functions with a device ``like=`` or ``out=`` (scalar ``loc``/``scale``): the kernel
reads and writes device memory (float16 loaded and stored as float16, computed in float32)
and the result is a device array of the input's kind.

Everything else (another axis, a strided array, ``out=`` for a sampler, the backward and
the density) is staged through host memory: inputs are copied to NumPy, the
GPU backend runs, and the results are copied to a device array of the input's kind.
Nothing here imports CuPy or Numba CUDA unless such an array was passed.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import math

import numpy as np

from . import _checks as chk
from ._dispatch import backend_for, device_kind

_ARRAY_KWARGS = ("logits", "grad", "y_soft", "y", "like", "out", "loc", "scale")


def to_host(a):
    kind = device_kind(a)
    if kind == "cupy":
        return a.get()
    if kind == "numba-cuda":
        return a.copy_to_host()
    if importlib.util.find_spec("numba_cuda") is None:   # only CuPy installed
        import cupy
        return cupy.asarray(a).get()
    from numba import cuda
    return cuda.as_cuda_array(a).copy_to_host()


def to_device(res, kind):
    if kind == "cupy":
        import cupy
        return cupy.asarray(res)
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(res))


def _copy_into(out, res):
    kind = device_kind(out)
    if kind == "cupy":
        out.set(np.ascontiguousarray(res, dtype=out.dtype))
        return
    from numba import cuda
    dev = out if kind == "numba-cuda" else cuda.as_cuda_array(out)
    dev.copy_to_device(np.ascontiguousarray(res, dtype=dev.dtype))


def _c_contiguous(a):
    if hasattr(a, "is_c_contiguous"):
        return a.is_c_contiguous()
    flags = getattr(a, "flags", None)
    return bool(flags is not None and flags.c_contiguous)


def _empty(kind, shape, dtype):
    if kind == "cupy":
        import cupy
        return cupy.empty(shape, dtype)
    from numba import cuda
    return cuda.device_array(shape, dtype)


def _reshape(a, shape):
    return a.reshape(shape) if hasattr(a, "reshape") else a


#: Backends whose kernels load and store float16 themselves (float32 math).
_HALF_IO = {"fastgumbel.cuda": True, "fastgumbel.cupy": True}

_SAMPLERS = ("gumbel_softmax", "gumbel_log_softmax", "gumbel_max", "categorical",
             "multinomial", "gumbel_topk")


def _direct(func, mod, kind, args, kwargs):
    """Run ``func`` on device arrays without host copies, or return ``None`` (not served)."""
    from . import _api
    from .random import resolve_key

    name = func.__name__
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    if name in ("uniform", "gumbel"):
        out, like = a["out"], a["like"]
        if out is not None and (device_kind(out) is None or not _c_contiguous(out)):
            return None
        if name == "gumbel" and (np.ndim(a["loc"]) or np.ndim(a["scale"])):
            return None
        if name == "gumbel":   # scalar loc / scale: the checks of _api.gumbel
            for pname in ("loc", "scale"):
                if np.asarray(a[pname]).dtype.kind not in "fiu" or isinstance(a[pname], bool):
                    return None
            if not (math.isfinite(float(a["loc"])) and math.isfinite(float(a["scale"]))
                    and float(a["scale"]) > 0):
                return None   # the staged call raises the error
        dt = chk.result_float_dtype(out.dtype if out is not None else a["dtype"],
                                    "out.dtype" if out is not None else "dtype")
        if dt == np.float16 and not _HALF_IO.get(mod.__name__):
            return None
        shape = tuple(out.shape) if (out is not None and a["size"] is None) else \
            chk.size_shape(a["size"])
        if out is not None and tuple(out.shape) != shape:
            raise ValueError(f"out has shape {tuple(out.shape)}; expected {shape}")
        if not shape or like is None and out is None:
            return None
        bits64 = chk.precision_bits64(a["precision"], dt)
        key = resolve_key(a["rng"])
        res = out if out is not None else _empty(kind, shape, dt)
        K = shape[-1]
        rows = math.prod(shape[:-1])
        if rows * K:
            loc, scale = (0.0, 1.0) if name == "uniform" else (float(a["loc"]), float(a["scale"]))
            mod.fill_noise(_reshape(res, (rows, K)), 0, *_api._key_args(key), bits64,
                           name == "uniform", loc, scale)
        return res
    if name not in _SAMPLERS:
        return None
    x = a["logits"]
    if device_kind(x) is None or a.get("out") is not None:
        return None
    dt = np.dtype(x.dtype)
    xshape = tuple(x.shape)
    ndim = len(xshape)
    if dt == np.float16 and not _HALF_IO.get(mod.__name__):
        return None
    if dt not in chk.FLOATS or ndim == 0 or not _c_contiguous(x):
        return None
    if chk.axis_index(a["axis"], ndim) != ndim - 1:
        return None
    lead, K = xshape[:-1], xshape[-1]
    rows = math.prod(lead)
    x2 = _reshape(x, (rows, K))
    bits64 = chk.precision_bits64(a["precision"], dt)
    if name in ("gumbel_softmax", "gumbel_log_softmax"):
        mode = 1 if name == "gumbel_log_softmax" else (2 if chk.flag(a["hard"], "hard") else 0)
        tau = chk.tau_value(a["tau"], chk.compute_dtype(dt))
        words = _api._key_args(resolve_key(a["rng"]))
        y = _empty(kind, (rows, K), dt)
        if rows * K:
            _api._raise_bad_rows(0, mod.softmax_rows(x2, y, 0, *words, bits64, tau, mode))
        return _reshape(y, xshape)
    if name == "categorical":
        if a["method"] != "gumbel":
            return None   # the staged call raises the error
        n = chk.count(a["n"], "n", allow_none=True)
    elif name == "multinomial":
        if a["method"] != "gumbel":
            return None   # other samplers: staged (they run on the CPU kernels)
        n = chk.count(a["n"], "n")
    else:
        n = None
    k = chk.count(a["k"], "k") if name == "gumbel_topk" else None
    if n is None and k is None and not lead:
        return None   # one row: the result is a host scalar (staged)
    if K == 0 and rows:
        raise ValueError(f"logits has no categories (size 0 along axis {ndim - 1})")
    if rows * max(n or 1, 1) >= 1 << 64:
        raise ValueError(f"rows * n = {rows * n} exceeds the 2**64 noise rows of a key")
    if k is not None and k > K:
        raise ValueError(f"k={k} exceeds the number of categories ({K})")
    words = _api._key_args(resolve_key(a["rng"]))
    if name == "multinomial":
        res = _empty(kind, (rows, K), np.int64)
        if rows * K and n:
            _api._raise_bad_rows(*mod.multinomial_rows(x2, res, n, 0, *words, bits64))
        elif rows * K:
            return None   # n == 0: zero counts, cheap either way
        return _reshape(res, xshape)
    cols = k if k is not None else (1 if n is None else n)
    res = _empty(kind, (rows, cols), np.int64)
    if rows * cols:
        run = mod.topk_rows if k is not None else mod.argmax_rows
        _api._raise_bad_rows(*run(x2, res, 0, *words, bits64))
    if n is None and k is None:
        return _reshape(res, lead)
    return _reshape(res, lead + (cols,))


def device_io(func):
    """Let ``func`` take and return CUDA device arrays (see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        found = [a for a in args if device_kind(a) is not None]
        found += [kwargs[k] for k in _ARRAY_KWARGS if device_kind(kwargs.get(k)) is not None]
        if not found:
            return func(*args, **kwargs)
        backend = kwargs.get("backend", "auto")
        mod = backend_for(backend, *found, name="an argument")
        kwargs["backend"] = {"fastgumbel.cuda": "numba-cuda", "fastgumbel.cupy": "cupy"}.get(
            mod.__name__, backend)
        kind = device_kind(found[0])
        if kind == "cuda":
            kind = "cupy" if mod.__name__ == "fastgumbel.cupy" else "numba-cuda"
        res = _direct(func, mod, kind, args, kwargs)
        if res is not None:
            return res
        out = kwargs.get("out")
        dev_out = out if device_kind(out) is not None else None
        if dev_out is not None:
            kwargs["out"] = None
            if func.__name__ in ("uniform", "gumbel"):
                # the creation functions take their shape and dtype from out=
                if args and args[0] is None:
                    args = (tuple(dev_out.shape),) + tuple(args[1:])
                elif not args and kwargs.get("size") is None:
                    kwargs["size"] = tuple(dev_out.shape)
                kwargs["dtype"] = np.dtype(dev_out.dtype)
        if device_kind(kwargs.get("like")) is not None:
            kwargs["like"] = None
        args = tuple(to_host(a) if device_kind(a) is not None else a for a in args)
        for k in _ARRAY_KWARGS:
            if device_kind(kwargs.get(k)) is not None:
                kwargs[k] = to_host(kwargs[k])
        res = func(*args, **kwargs)
        if dev_out is not None:
            _copy_into(dev_out, res)
            return dev_out
        if isinstance(res, tuple):
            return tuple(to_device(r, kind) if isinstance(r, np.ndarray) else r for r in res)
        return to_device(res, kind) if isinstance(res, np.ndarray) else res

    return wrapper
