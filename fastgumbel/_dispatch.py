"""Backend choice and array-type detection.

Never imports an optional library: foreign array types are recognised through
``sys.modules`` (a library that is not imported cannot have made the object).
"""
from __future__ import annotations

import importlib
import sys

#: Every backend name the API knows, in the order ``"auto"`` tries them.
KNOWN_BACKENDS = ("auto", "cpu", "numba-cuda", "cupy")
#: Backends implemented in this version.
AVAILABLE_BACKENDS = ("auto", "cpu")

_MODULES = {"cpu": "fastgumbel.cpu"}
_loaded = {}


def check_backend(backend):
    if not isinstance(backend, str) or backend not in KNOWN_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, KNOWN_BACKENDS))}; "
                         f"got {backend!r}")
    if backend not in AVAILABLE_BACKENDS:
        raise ValueError(f"backend {backend!r} is not available in this version of fastgumbel "
                         f"(implemented: {', '.join(map(repr, AVAILABLE_BACKENDS))})")
    return "cpu" if backend == "auto" else backend


def load(name):
    """Import a backend module once and cache it."""
    mod = _loaded.get(name)
    if mod is None:
        mod = _loaded[name] = importlib.import_module(_MODULES[name])
    return mod


def foreign_array_kind(obj):
    """Name of a non-NumPy array library that made ``obj``, or ``None``."""
    mod = type(obj).__module__.split(".")[0]
    if mod in ("torch", "jax", "jaxlib", "cupy", "dask", "tensorflow") and mod in sys.modules:
        return mod
    if hasattr(obj, "__cuda_array_interface__"):
        return "CUDA array"
    return None


def dask_bridge(*objs):
    """:mod:`fastgumbel.dask` when one of ``objs`` is a dask array, else ``None``.

    Checked through ``sys.modules``: dask is never imported here.
    """
    da = sys.modules.get("dask.array")
    if da is not None and any(isinstance(o, da.Array) for o in objs):
        return importlib.import_module("fastgumbel.dask")
    return None


def backend_for(backend, *arrays, name="logits"):
    """Backend module for these inputs; rejects array types this version cannot serve.

    CPU DLPack arrays (torch, JAX) never reach here: the public functions view them as
    NumPy first (:mod:`fastgumbel._interop`).
    """
    chosen = check_backend(backend)
    for a in arrays:
        kind = foreign_array_kind(a)
        if kind is not None:
            raise TypeError(f"{name} is a {kind} array ({type(a).__module__}."
                            f"{type(a).__name__}); this version of fastgumbel takes NumPy arrays and "
                            "CPU arrays with __dlpack__ (torch, JAX), not this type")
    return load(chosen)
