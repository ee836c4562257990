"""DLPack bridge for the NumPy-style API: framework tensors in, the same type out, no copies.

Every public function of :mod:`fastgumbel` accepts, wherever it takes an array, any CPU
object with ``__dlpack__`` (a PyTorch tensor, a JAX array, ...). Such an argument is viewed
as NumPy through :func:`numpy.from_dlpack` (no copy), the function runs unchanged, and its
results are handed back through the framework's ``from_dlpack`` (no copy):

- the result takes the type of ``like=`` if that is a framework array, else that of the
  first framework array among the other arguments (``tau`` aside);
- a framework tensor given as ``out=`` is written in place and returned as is (JAX arrays
  are immutable, so they cannot be ``out=``);
- read-only inputs (JAX buffers) are fine; results are always fresh buffers, allocated
  64-byte aligned so that JAX adopts them without a copy (JAX copies float16 results and the
  counts of ``multinomial``, which are not aligned, and converts int64 indices to int32
  unless ``jax_enable_x64`` is on).

Neither torch nor jax is imported here: an object is recognised by its type's
``__dlpack__`` and the library that made it is found in ``sys.modules``. What is not
served raises ``TypeError`` naming the argument: tensors on a GPU (no GPU backend in this
version), torch tensors that require grad (use :mod:`fastgumbel.torch`, which is
differentiable), JAX tracers (use :mod:`fastgumbel.jax` inside ``jax.jit``), dtypes NumPy
cannot hold (bfloat16).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import sys

import numpy as np

__all__ = ["is_foreign", "to_numpy", "from_numpy", "bridged", "empty_aligned"]

_CPU_DEVICES = (1, 3)          # kDLCPU, kDLCUDAHost (pinned host memory)
_NOT_TEMPLATES = ("tau",)      # converted, but never decides the result type
_ALIGN = 64


def is_foreign(obj):
    """True for a non-NumPy array object that exports DLPack (dask arrays excluded)."""
    t = type(obj)
    if t is np.ndarray or t in (int, float, bool, str, type(None), tuple, list):
        return False
    if isinstance(obj, (np.ndarray, np.generic)) or not hasattr(t, "__dlpack__"):
        return False
    return t.__module__.split(".")[0] != "dask"


def _library(obj):
    root = type(obj).__module__.split(".")[0]
    return "jax" if root == "jaxlib" else root


def _describe(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def to_numpy(obj, name="array"):
    """A NumPy view (no copy) of a CPU DLPack object; ``TypeError`` for what cannot be one."""
    lib = _library(obj)
    if lib == "torch" and getattr(obj, "requires_grad", False):
        raise TypeError(f"{name} is a torch tensor that requires grad; the NumPy-style API does "
                        "not track gradients: use fastgumbel.torch (differentiable), or pass "
                        f"{name}.detach()")
    try:
        dev = obj.__dlpack_device__()
    except Exception as e:  # a JAX tracer, a deleted buffer, ...
        raise TypeError(f"{name} ({_describe(obj)}) cannot be read through DLPack: {e}"
                        + (" (inside jax.jit use fastgumbel.jax)" if lib == "jax" else "")
                        ) from None
    if int(dev[0]) not in _CPU_DEVICES:
        raise TypeError(f"{name} is a {lib} array on a GPU (DLPack device {tuple(map(int, dev))});"
                        " this version of fastgumbel has no GPU backend: move it to the CPU "
                        "(e.g. tensor.cpu())")
    try:
        return np.from_dlpack(obj)
    except Exception as e:
        hint = " (inside jax.jit use fastgumbel.jax)" if lib == "jax" else ""
        raise TypeError(f"{name} ({_describe(obj)}, dtype {getattr(obj, 'dtype', '?')}) cannot "
                        f"be viewed as a NumPy array through DLPack: {e}{hint}") from None


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


def from_numpy(arr, template):
    """``arr`` (ndarray or NumPy scalar) as an array of ``template``'s library, zero-copy."""
    lib = _library(template)
    a = np.asarray(arr)
    if lib == "torch":
        return sys.modules["torch"].from_dlpack(a)
    if lib == "jax":    # jax is loaded (it made the template); jax.numpy is part of it
        return importlib.import_module("jax.numpy").from_dlpack(a)
    mod = sys.modules.get(type(template).__module__.split(".")[0])
    conv = getattr(mod, "from_dlpack", None)
    if conv is None:
        raise TypeError(f"cannot return a result of type {_describe(template)}: its library has "
                        "no from_dlpack")
    return conv(a)


def _convert_result(res, template):
    if isinstance(res, tuple):
        return tuple(_convert_result(r, template) for r in res)
    if isinstance(res, (np.ndarray, np.generic)):
        return from_numpy(res, template)
    return res


def call(f, sig, args, kwargs):
    """Run ``f`` with its DLPack arguments viewed as NumPy; return results as the template type."""
    bound = sig.bind(*args, **kwargs)
    template = None
    out_obj = None
    for name, val in bound.arguments.items():
        if not is_foreign(val):
            continue
        if name == "out":
            if _library(val) == "jax":
                raise TypeError("out is a JAX array; JAX arrays are immutable and cannot be "
                                "written in place (leave out=None to get a new JAX array)")
            out_obj = val
            view = to_numpy(val, "out")
            if not view.flags.writeable:
                raise ValueError(f"out ({_describe(val)}) is read-only")
        else:
            view = to_numpy(val, name)
            if template is None and name not in _NOT_TEMPLATES or name == "like":
                template = val
        bound.arguments[name] = view
    res = f(*bound.args, **bound.kwargs)
    out = bound.arguments.get("out")
    if out is not None and res is out:
        return res if out_obj is None else out_obj
    return res if template is None else _convert_result(res, template)


def bridged(f):
    """Let ``f`` take DLPack arrays; the fast path (no foreign argument) adds one scan."""
    sig = inspect.signature(f)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        for a in args:
            if is_foreign(a):
                return call(f, sig, args, kwargs)
        for a in kwargs.values():
            if is_foreign(a):
                return call(f, sig, args, kwargs)
        return f(*args, **kwargs)

    return wrapper
