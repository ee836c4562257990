"""Backend choice and array-type detection.

Never imports an optional library: foreign array types are recognised through
``sys.modules`` (a library that is not imported cannot have made the object).
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import sys

import numpy as np

#: Every backend name the API knows, in the order ``"auto"`` tries them.
KNOWN_BACKENDS = ("auto", "cpu", "numba-cuda", "cupy")
#: Backends implemented in this version.
AVAILABLE_BACKENDS = ("auto", "cpu", "numba-cuda", "cupy")
#: Backends that run on an NVIDIA GPU (NumPy inputs are copied over and back).
GPU_BACKENDS = ("numba-cuda", "cupy")

#: Types that are never device or foreign arrays: the per-call scans skip them first.
_PLAIN = frozenset((np.ndarray, float, int, bool, str, type(None), tuple, list, np.float32,
                    np.float64))

_MODULES = {"cpu": "fastgumbel.cpu", "numba-cuda": "fastgumbel.cuda", "cupy": "fastgumbel.cupy"}
_EXTRAS = {"numba-cuda": ("numba_cuda", "cuda"), "cupy": ("cupy", "cupy")}
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
    """Import a backend module once and cache it; GPU backends also check for a device."""
    mod = _loaded.get(name)
    if mod is None:
        # before Numba starts its thread pool (any backend may run CPU kernels): prefer the
        # fork- and thread-safe TBB layer
        from . import _threading
        _threading.configure()
        if name in _EXTRAS:
            lib, extra = _EXTRAS[name]
            if importlib.util.find_spec(lib.split(".")[0]) is None:
                raise ImportError(f"backend {name!r} needs {lib}: "
                                  f"pip install 'fastgumbel[{extra}]'")
        mod = importlib.import_module(_MODULES[name])
        if name in _EXTRAS:
            mod.require_device()
        _loaded[name] = mod
    return mod


def device_kind(obj):
    """``"cupy"``, ``"numba-cuda"`` or ``"cuda"`` for an array on a CUDA device, else ``None``.

    Recognised without importing anything: a CuPy array (``cupy`` imported), a Numba device
    array (``numba.cuda`` imported), or any other object with ``__cuda_array_interface__``.
    """
    if type(obj) in _PLAIN:
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


def backend_status(name):
    """One word for ``fastgumbel info``: whether a backend can run here."""
    try:
        load(name)
    except ImportError:
        return "not installed"
    except RuntimeError:
        return "no GPU"
    return "available"


def foreign_array_kind(obj):
    """Name of a non-NumPy array library that made ``obj``, or ``None`` (CUDA device arrays,
    served by the GPU backends, are not foreign: see :func:`device_kind`)."""
    if type(obj) in _PLAIN or device_kind(obj) is not None:
        return None
    mod = type(obj).__module__.split(".")[0]
    if mod in ("torch", "jax", "jaxlib", "cupy", "dask", "tensorflow") and mod in sys.modules:
        return mod
    return None


def dask_routed(f):
    """Send a call of ``f`` to the function of the same name in :mod:`fastgumbel.dask` when
    any argument is a dask array (checked through ``sys.modules``, so dask is never imported
    for a program that does not use it)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        da = sys.modules.get("dask.array")
        if da is not None and any(isinstance(a, da.Array)
                                  for a in itertools.chain(args, kwargs.values())):
            return getattr(importlib.import_module("fastgumbel.dask"), f.__name__)(*args,
                                                                                  **kwargs)
        return f(*args, **kwargs)

    return wrapper


def backend_for(backend, *arrays, name="logits"):
    """Backend module for these inputs; rejects array types this version cannot serve.

    ``"auto"``: CuPy arrays go to the CuPy backend, Numba device arrays and other
    ``__cuda_array_interface__`` objects to Numba CUDA (CuPy when only CuPy is installed),
    everything else to the CPU. CPU DLPack arrays (torch, JAX) never reach here: the public
    functions view them as NumPy first (:mod:`fastgumbel._interop`).
    """
    if backend == "auto" and all(type(a) is np.ndarray or a is None for a in arrays):
        # the common call, NumPy arrays only (kept short: it runs before every kernel)
        mod = _loaded.get("cpu")
        return mod if mod is not None else load("cpu")
    chosen = check_backend(backend)
    kinds = set()
    for a in arrays:
        if a is None:
            continue
        kind = foreign_array_kind(a)
        if kind is not None:
            raise TypeError(f"{name} is a {kind} array ({type(a).__module__}."
                            f"{type(a).__name__}); this version of fastgumbel takes NumPy arrays, "
                            "CPU arrays with __dlpack__ (torch, JAX) and CUDA device arrays "
                            "(CuPy, Numba), not this type")
        dk = device_kind(a)
        if dk is not None:
            kinds.add(dk)
    if kinds and chosen == "cpu" and backend == "cpu":
        raise ValueError(f"backend='cpu' cannot take CUDA device arrays ({name} is one); use "
                         "backend='auto', 'numba-cuda' or 'cupy'")
    if chosen == "cpu" and kinds:
        if "cupy" in kinds:
            chosen = "cupy"
        elif "numba-cuda" in kinds or importlib.util.find_spec("numba_cuda") is not None:
            chosen = "numba-cuda"
        else:
            chosen = "cupy"
    return load(chosen)
