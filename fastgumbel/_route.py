"""Routing: one scan of a call's arguments decides who serves it.

- NumPy arrays and plain values only (the common call): the core, directly.
- A CUDA device array (CuPy, Numba, ``__cuda_array_interface__``): a GPU backend. The core
  reads and writes the device arrays in place where the kernels can (C-contiguous input,
  sampling axis last, no ``out=`` for a sampler; the noise functions with a device
  ``like=`` or ``out=``); anything else (another axis, a strided array, the backward, the
  density) is staged: inputs copied to the host, the GPU backend run on them, results
  copied to a device array of the input's kind.
- A torch CUDA tensor or JAX GPU array: viewed as a CuPy array (``cupy.from_dlpack``), or
  a Numba device array where CuPy is not installed, no copy; then served as a device array,
  launched on torch's current stream for a torch tensor; results come back in the caller's
  library (``from_dlpack``).
- A CPU array of another library with ``__dlpack__`` (torch, JAX): viewed as NumPy without
  a copy, the call run, results handed back through the library's ``from_dlpack``: they take
  the type of ``like=`` if that is a framework array, else of the first framework array
  among the other arguments (``tau`` aside); a framework tensor as ``out=`` is written in
  place (JAX arrays are immutable, so they cannot be ``out=``); results are allocated
  64-byte aligned so that JAX adopts them without a copy.
- A Dask array: :mod:`fastgumbel.dask`, which builds a lazy graph of core calls.

Nothing here imports torch, JAX, CuPy, Numba CUDA or Dask: array types are recognised
through ``sys.modules`` (:mod:`fastgumbel._arrays`).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

import numpy as np

from . import _backends, _gpu_state
from ._arrays import (PLAIN, copy_into, describe, device_kind, is_dask, is_foreign, library,
                      to_device, to_host)
from ._core import NeedsHost
from .random import KEY_TYPES, Key

__all__ = ["scan", "DEVICE", "DLPACK", "DASK", "to_numpy", "from_numpy"]

DEVICE, DLPACK, DASK = "device", "dlpack", "dask"
_CUDA = 2                      # kDLCUDA
_PLAIN = PLAIN | {Key}


def _plain(a):
    """True for NumPy / Python values and key sources (never routed)."""
    t = type(a)
    return t in _PLAIN or t in KEY_TYPES

_CPU_DEVICES = (1, 3)          # kDLCPU, kDLCUDAHost (pinned host memory)
_NOT_TEMPLATES = ("tau",)      # converted, but never decides the result type


class OnGPU(Exception):
    """A DLPack argument lives on a CUDA GPU (served by :func:`call_gpu`)."""


def scan(args, kwargs):
    """``None`` when every argument is plain (NumPy or Python), else the first kind that
    must serve the call: :data:`DEVICE`, then :data:`DLPACK`, then :data:`DASK`."""
    for a in args:      # _plain inlined: the common call's whole routing cost
        if type(a) not in _PLAIN and type(a) not in KEY_TYPES:
            break
    else:
        for a in kwargs.values():
            if type(a) not in _PLAIN and type(a) not in KEY_TYPES:
                break
        else:
            return None
    kinds = set()
    for a in (*args, *kwargs.values()):
        if _plain(a):
            continue
        if device_kind(a) is not None:
            return DEVICE
        if is_foreign(a):
            kinds.add(DLPACK)
        elif is_dask(a):
            kinds.add(DASK)
    return DLPACK if DLPACK in kinds else (DASK if kinds else None)


def dask_function(name):
    """The function of :mod:`fastgumbel.dask` that serves ``name`` for dask arrays."""
    return getattr(importlib.import_module("fastgumbel.dask"), name)


# ----------------------------------------------------------------------------------------
# DLPack (torch, JAX, ... CPU arrays)


def to_numpy(obj, name="array"):
    """A NumPy view (no copy) of a CPU DLPack object; ``TypeError`` for what cannot be one."""
    lib = library(obj)
    if lib == "torch" and getattr(obj, "requires_grad", False):
        raise TypeError(f"{name} is a torch tensor that requires grad; the NumPy-style API does "
                        "not track gradients: use fastgumbel.torch (differentiable), or pass "
                        f"{name}.detach()")
    hint = " (inside jax.jit use fastgumbel.jax)" if lib == "jax" else ""
    try:
        dev = obj.__dlpack_device__()
    except Exception as e:  # a JAX tracer, a deleted buffer, ...
        raise TypeError(f"{name} ({describe(obj)}) cannot be read through DLPack: {e}{hint}"
                        ) from None
    if int(dev[0]) not in _CPU_DEVICES:
        if int(dev[0]) == _CUDA:
            raise OnGPU
        raise TypeError(f"{name} is a {lib} array on DLPack device {tuple(map(int, dev))}; the "
                        "NumPy-style functions read framework arrays on the CPU and on CUDA "
                        "GPUs only")
    try:
        return np.from_dlpack(obj)
    except Exception as e:
        raise TypeError(f"{name} ({describe(obj)}, dtype {getattr(obj, 'dtype', '?')}) cannot "
                        f"be viewed as a NumPy array through DLPack: {e}{hint}") from None


def from_numpy(arr, template):
    """``arr`` (ndarray or NumPy scalar) as an array of ``template``'s library, zero-copy."""
    lib = library(template)
    a = np.asarray(arr)
    if lib == "torch":
        return sys.modules["torch"].from_dlpack(a)
    if lib == "jax":    # jax is loaded (it made the template); jax.numpy is part of it
        return importlib.import_module("jax.numpy").from_dlpack(a)
    mod = sys.modules.get(type(template).__module__.split(".")[0])
    conv = getattr(mod, "from_dlpack", None)
    if conv is None:
        raise TypeError(f"cannot return a result of type {describe(template)}: its library has "
                        "no from_dlpack")
    return conv(a)


def _convert_result(res, template):
    if isinstance(res, tuple):
        return tuple(_convert_result(r, template) for r in res)
    if isinstance(res, (np.ndarray, np.generic)):
        return from_numpy(res, template)
    return res


def call_dlpack(f, bound):
    """Run ``f`` on ``bound`` (a ``BoundArguments``) with its DLPack arguments viewed as
    NumPy; results come back as the template's type. Arrays on a CUDA GPU go to
    :func:`call_gpu` instead."""
    try:
        return _call_host(f, bound)
    except OnGPU:
        pass
    return call_gpu(f, bound)


def _host_view(val, name, out=False):
    view = to_numpy(val, name)
    if out and not view.flags.writeable:
        raise ValueError(f"out ({describe(val)}) is read-only")
    return view


def convert_args(bound, convert):
    """Replace the DLPack arguments of ``bound`` by ``convert(value, name, out=...)`` (all
    converted before any is replaced); returns ``(template, out_obj)``: the argument whose
    type results take, and a framework ``out=``."""
    template = out_obj = None
    views = {}
    for name, val in bound.arguments.items():
        if not is_foreign(val):
            continue
        if name == "out":
            if library(val) == "jax":
                raise TypeError("out is a JAX array; JAX arrays are immutable and cannot be "
                                "written in place (leave out=None to get a new JAX array)")
            out_obj = val
            views[name] = convert(val, "out", out=True)
        else:
            views[name] = convert(val, name)
            if template is None and name not in _NOT_TEMPLATES or name == "like":
                template = val
    bound.arguments.update(views)
    return template, out_obj


def finish(res, bound, template, out_obj, back):
    """The result of a converted call: ``out_obj`` when the call wrote ``out=``, else ``res``
    as ``back(res, template)``."""
    out = bound.arguments.get("out")
    if out is not None and res is out:
        return res if out_obj is None else out_obj
    return res if template is None else back(res, template)


def _call_host(f, bound):
    template, out_obj = convert_args(bound, _host_view)
    return finish(f(*bound.args, **bound.kwargs), bound, template, out_obj, _convert_result)


# ----------------------------------------------------------------------------------------
# CUDA device arrays


def call_device(core, routed, bound):
    """Serve a call with CUDA device arrays: ``core`` (the undecorated function) on the
    device arrays in place, or, where it raises :class:`NeedsHost`, ``routed`` (the public
    function) on host copies."""
    bound.apply_defaults()
    args = bound.arguments
    found = [v for v in args.values() if device_kind(v) is not None]
    mod = _backends.backend_for(args.get("backend", "auto"), *found, name="an argument")
    args["backend"] = _backends.name_of(mod)
    kind = device_kind(found[0])
    if kind == "cuda":
        kind = "cupy" if args["backend"] == "cupy" else "numba-cuda"
    try:
        return core(*bound.args, **bound.kwargs)
    except NeedsHost:
        pass
    dev_out = args.get("out") if device_kind(args.get("out")) is not None else None
    if dev_out is not None:
        args["out"] = None
        if "size" in args:     # the creation functions take their shape and dtype from out=
            if args["size"] is None:
                args["size"] = tuple(dev_out.shape)
            args["dtype"] = np.dtype(dev_out.dtype)
    if device_kind(args.get("like")) is not None:
        args["like"] = None
    for name, val in args.items():
        if device_kind(val) is not None:
            args[name] = to_host(val)
    res = routed(*bound.args, **bound.kwargs)
    if dev_out is not None:
        copy_into(dev_out, res)
        return dev_out
    if isinstance(res, tuple):
        return tuple(to_device(r, kind) if isinstance(r, np.ndarray) else r for r in res)
    return to_device(res, kind) if isinstance(res, np.ndarray) else res


# ----------------------------------------------------------------------------------------
# torch CUDA tensors and JAX GPU arrays


def _cupy():
    return importlib.import_module("cupy") if importlib.util.find_spec("cupy") else None


def gpu_view(obj, name="array", out=False):
    """A device array viewing ``obj`` (a CUDA DLPack array), no copy: CuPy's, else Numba's;
    a framework array on the CPU among them is viewed as NumPy."""
    try:
        return _host_view(obj, name, out)
    except OnGPU:
        pass
    try:
        return device_view(obj)
    except Exception as e:
        raise TypeError(f"{name} ({describe(obj)}, dtype {getattr(obj, 'dtype', '?')}) cannot "
                        f"be read as a CUDA device array: {e}") from None


def device_view(obj):
    """``obj`` (on a CUDA GPU) as a CuPy array, else a Numba device array (no copy)."""
    cp = _cupy()
    if cp is not None:
        return cp.from_dlpack(obj)
    return importlib.import_module("numba.cuda").as_cuda_array(obj)


def to_torch(res, template):
    """A device result as a torch CUDA tensor (zero-copy)."""
    torch = sys.modules["torch"]
    if hasattr(res, "__dlpack__"):
        return torch.from_dlpack(res)
    return torch.as_tensor(res, device=template.device)


def to_jax(res, template):
    """A device result as a JAX array (zero-copy from CuPy; a Numba array goes through the
    host, as JAX reads no ``__cuda_array_interface__``)."""
    if hasattr(res, "__dlpack__"):
        return importlib.import_module("jax.dlpack").from_dlpack(res)
    return sys.modules["jax"].device_put(res.copy_to_host(), next(iter(template.devices())))


def from_gpu(res, template):
    """A device result (CuPy or Numba array; tuples, NumPy values pass through) in the
    library of ``template``, zero-copy through DLPack / ``__cuda_array_interface__``."""
    if isinstance(res, tuple):
        return tuple(from_gpu(r, template) for r in res)
    if isinstance(res, (np.ndarray, np.generic)):
        return from_numpy(res, template)
    if device_kind(res) is None:
        return res
    lib = library(template)
    return {"torch": to_torch, "jax": to_jax}.get(lib, lambda r, t: r)(res, template)


class caller_stream:    # noqa: N801
    """Context manager: launches of this thread go to the current stream of ``template``
    (a torch CUDA tensor: torch's current stream); nothing for other arrays."""

    def __init__(self, template):
        self.ctx = None
        if library(template) != "torch" or not getattr(template, "is_cuda", False):
            return
        ptr = sys.modules["torch"].cuda.current_stream(template.device).cuda_stream
        cp = _cupy()
        if cp is not None:
            self.ctx = cp.cuda.ExternalStream(ptr)
        else:
            cuda = importlib.import_module("numba.cuda")
            self.ctx = _gpu_state.using_stream(cuda.external_stream(ptr))

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return False if self.ctx is None else self.ctx.__exit__(*exc)


def call_gpu(f, bound):
    """Run ``f`` with the CUDA DLPack arguments of ``bound`` as device arrays, on the
    caller's stream; results in the template's library (a framework ``out=`` written in
    place)."""
    template, out_obj = convert_args(bound, gpu_view)
    with caller_stream(template):
        res = f(*bound.args, **bound.kwargs)
    return finish(res, bound, template, out_obj, from_gpu)
