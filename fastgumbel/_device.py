"""CUDA device arrays in and out of the NumPy-style functions.

A public function decorated with :func:`device_io` accepts CuPy arrays, Numba device
arrays and other ``__cuda_array_interface__`` objects wherever it takes an array (and as
``like=`` / ``out=``), runs on a GPU backend, and returns arrays of the input's kind.

In this version the arrays are staged through host memory: inputs are copied to NumPy,
the GPU backend copies them to the device for its kernel and back, and the results are
copied to a device array of the input's kind. The kernels of both GPU backends already take
device arrays in place; serving device inputs without the host round trip (building the
``(rows, K)`` view on the device) is the next step.
Nothing here imports CuPy or Numba CUDA unless such an array was passed.
"""
from __future__ import annotations

import functools

import numpy as np

from ._dispatch import backend_for, device_kind

_ARRAY_KWARGS = ("logits", "grad", "y_soft", "y", "like", "out", "loc", "scale")


def to_host(a):
    kind = device_kind(a)
    if kind == "cupy":
        return a.get()
    if kind == "numba-cuda":
        return a.copy_to_host()
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
        kind = "numba-cuda" if kind == "cuda" else kind
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
