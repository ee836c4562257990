"""What kind of array an object is, and making arrays of a kind.

The lowest layer of the host code: it imports nothing from fastgumbel and never imports an
optional library to answer a question. A foreign array type is recognised through
``sys.modules`` (a library that is not imported cannot have made the object); CuPy and
Numba CUDA are imported only to copy or allocate arrays of their own kind, which exist
only when those libraries are loaded.

Four kinds of argument reach the public functions:

- NumPy arrays and plain Python values (:data:`PLAIN` types are recognised first: the
  common call pays one set lookup per argument);
- CUDA device arrays (:func:`device_kind`: CuPy, Numba, any ``__cuda_array_interface__``);
- CPU arrays of another library that export DLPack (:func:`is_foreign`: torch, JAX);
- Dask arrays (:func:`is_dask`).
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np

__all__ = ["PLAIN", "device_kind", "is_foreign", "is_dask", "library", "describe",
           "foreign_array_kind", "empty_aligned", "device_empty", "to_host", "to_device",
           "copy_into", "c_contiguous", "kernel_view"]

#: Types that are never device, DLPack or Dask arrays.
PLAIN = frozenset((np.ndarray, float, int, bool, str, type(None), tuple, list, np.float32,
                   np.float64))
_ALIGN = 64


def library(obj):
    """The top-level module of the library that made ``obj`` (``jaxlib`` reads ``jax``)."""
    root = type(obj).__module__.split(".")[0]
    return "jax" if root == "jaxlib" else root


def describe(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def device_kind(obj):
    """``"cupy"``, ``"numba-cuda"`` or ``"cuda"`` for an array on a CUDA device, else ``None``.

    A CuPy array (``cupy`` imported), a Numba device array (``numba.cuda`` imported), or any
    other object with ``__cuda_array_interface__`` (torch and JAX arrays aside: they are
    read through DLPack).
    """
    if type(obj) in PLAIN:
        return None
    mod = type(obj).__module__
    if mod.split(".")[0] == "cupy" and "cupy" in sys.modules:
        return "cupy"
    if "numba.cuda" in sys.modules and (mod.startswith("numba.cuda")
                                        or mod.startswith("numba_cuda")):
        if hasattr(obj, "copy_to_host"):
            return "numba-cuda"
    if hasattr(obj, "__cuda_array_interface__") and mod.split(".")[0] not in ("torch", "jax",
                                                                              "jaxlib"):
        return "cuda"
    return None


def is_foreign(obj):
    """True for a non-NumPy array that exports DLPack (Dask arrays excluded)."""
    t = type(obj)
    if t in PLAIN or isinstance(obj, (np.ndarray, np.generic)) or not hasattr(t, "__dlpack__"):
        return False
    return t.__module__.split(".")[0] != "dask"


def is_dask(obj):
    """True for a dask array (``dask.array`` imported)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(obj, da.Array)


def foreign_array_kind(obj):
    """Name of a non-NumPy array library that made ``obj``, or ``None`` (CUDA device arrays
    are served by the GPU backends and are not foreign)."""
    if type(obj) in PLAIN or device_kind(obj) is not None:
        return None
    mod = type(obj).__module__.split(".")[0]
    if mod in ("torch", "jax", "jaxlib", "cupy", "dask", "tensorflow") and mod in sys.modules:
        return mod
    return None


def empty_aligned(shape, dtype):
    """``numpy.empty`` whose data starts on a 64-byte boundary (JAX adopts it zero-copy)."""
    dt = np.dtype(dtype)
    shape = tuple(shape)
    n = dt.itemsize
    for d in shape:
        n *= d
    raw = np.empty(n + _ALIGN, np.uint8)
    off = (-raw.ctypes.data) % _ALIGN
    return raw[off:off + n].view(dt).reshape(shape)


class _Borrowed:
    """An ``__array_interface__`` over a read-only array's memory with the read-only flag
    off; holds the array so that its memory lives as long as the view."""

    def __init__(self, a):
        self.base = a
        iface = dict(a.__array_interface__)
        iface["data"] = (iface["data"][0], False)
        self.__array_interface__ = iface


def kernel_view(a):
    """``a``, or for a read-only host array a writeable-typed view of the same memory.

    A read-only array is another Numba type, so each kernel would compile a second time for
    it (about 70 s per dtype with an empty cache; JAX arrays, ``np.broadcast_to`` results
    and ``mmap_mode="r"`` arrays arrive read-only). The kernels never write their inputs,
    so one compiled specialization serves both; the user's array keeps its flag.
    """
    if a.flags.writeable:
        return a
    return np.asarray(_Borrowed(a))


# ----------------------------------------------------------------------------------------
# CUDA device arrays ("cupy" or "numba-cuda"; a plain "cuda" object is read through Numba,
# or CuPy where only CuPy is installed)


def c_contiguous(a):
    if hasattr(a, "is_c_contiguous"):
        return a.is_c_contiguous()
    flags = getattr(a, "flags", None)
    return bool(flags is not None and flags.c_contiguous)


def device_empty(kind, shape, dtype):
    if kind == "cupy":
        import cupy
        return cupy.empty(shape, dtype)
    from numba import cuda
    return cuda.device_array(shape, dtype)


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


def copy_into(out, res):
    """Copy the host array ``res`` into the device array ``out``."""
    kind = device_kind(out)
    if kind == "cupy":
        out.set(np.ascontiguousarray(res, dtype=out.dtype))
        return
    from numba import cuda
    dev = out if kind == "numba-cuda" else cuda.as_cuda_array(out)
    dev.copy_to_device(np.ascontiguousarray(res, dtype=dev.dtype))
