"""Backend choice: which kernel module serves a call, loaded once and cached.

A backend is a module with the same host functions (``fill_noise``, ``softmax_rows``,
``argmax_rows``, ...): :mod:`fastgumbel.cpu` (Numba CPU), :mod:`fastgumbel.cuda` (Numba
CUDA) and :mod:`fastgumbel.cupy` (CuPy RawKernels). None is imported before a call needs it.
"""
from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from ._arrays import device_kind, foreign_array_kind

#: Every backend name, ``"auto"`` first.
BACKENDS = ("auto", "cpu", "numba-cuda", "cupy")
#: Backends that run on an NVIDIA GPU (NumPy inputs are copied over and back).
GPU_BACKENDS = ("numba-cuda", "cupy")

_MODULES = {"cpu": "fastgumbel.cpu", "numba-cuda": "fastgumbel.cuda", "cupy": "fastgumbel.cupy"}
_EXTRAS = {"numba-cuda": ("numba_cuda", "cuda"), "cupy": ("cupy", "cupy")}
_NAMES = {v: k for k, v in _MODULES.items()}
_loaded = {}


def check_backend(backend):
    """The backend a ``backend=`` argument names (``"auto"`` reads ``"cpu"`` here)."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; "
                         f"got {backend!r}")
    return "cpu" if backend == "auto" else backend


def load(name):
    """Import a backend module once and cache it; GPU backends also check for a device."""
    mod = _loaded.get(name)
    if mod is None:
        if name in _EXTRAS:
            lib, extra = _EXTRAS[name]
            if importlib.util.find_spec(lib) is None:
                raise ImportError(f"backend {name!r} needs {lib}: "
                                  f"pip install 'fastgumbel[{extra}]'")
        mod = importlib.import_module(_MODULES[name])
        if name in _EXTRAS:
            mod.require_device()
        _loaded[name] = mod
    return mod


def cpu():
    """The CPU backend module."""
    mod = _loaded.get("cpu")
    return mod if mod is not None else load("cpu")


def name_of(mod):
    """The ``backend=`` name of a backend module."""
    return _NAMES[mod.__name__]


def kernel(mod, name):
    """``mod``'s kernel ``name``, or the CPU backend's when a GPU backend has none (the
    inverse-CDF and binomial samplers: spec-defined, so the result is the same)."""
    kern = getattr(mod, name, None)
    return kern if kern is not None else getattr(cpu(), name)


def backend_status(name):
    """One word for ``fastgumbel info``: whether a backend can run here."""
    try:
        load(name)
    except ImportError:
        return "not installed"
    except RuntimeError:
        return "no GPU"
    return "available"


def backend_for(backend, *arrays, name="logits"):
    """Backend module for these inputs; rejects array types no backend can take.

    ``"auto"``: CuPy arrays go to the CuPy backend, Numba device arrays and other
    ``__cuda_array_interface__`` objects to Numba CUDA (CuPy when only CuPy is installed),
    everything else to the CPU. DLPack arrays (torch, JAX) never reach here: the routing
    layer views them as NumPy first.
    """
    if backend == "auto" and all(type(a) is np.ndarray or a is None for a in arrays):
        return cpu()         # the common call, NumPy arrays only
    chosen = check_backend(backend)
    kinds = set()
    for a in arrays:
        if a is None:
            continue
        kind = foreign_array_kind(a)
        if kind is not None:
            raise TypeError(f"{name} is a {kind} array ({type(a).__module__}."
                            f"{type(a).__name__}); fastgumbel takes NumPy arrays, arrays "
                            "with __dlpack__ (torch, JAX), CUDA device arrays (CuPy, Numba) "
                            "and Dask arrays, not this type")
        dk = device_kind(a)
        if dk is not None:
            kinds.add(dk)
    if kinds and backend == "cpu":
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


# the CPU kernels' thread count (fastgumbel.threads, set_num_threads, get_num_threads): here,
# where the CPU backend is loaded on first use, so that ``import fastgumbel`` stays light


def threads(n):
    """Context manager: run the block with ``n`` CPU kernel threads in the calling thread,
    then restore the previous count. Results are the same bits for any thread count.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> with fg.threads(1):
    ...     y = fg.gumbel_softmax(np.zeros((4, 8)), 0.5, rng=0)
    ...     fg.get_num_threads()
    1
    """
    return cpu().threads(n)


def set_num_threads(n):
    """Use ``n`` CPU kernel threads in the calling thread from now on (Numba's setting,
    which is per thread); ``1 <= n <=`` the pool size (``NUMBA_NUM_THREADS``)."""
    cpu().set_num_threads(n)


def get_num_threads():
    """The CPU kernels' thread count in the calling thread."""
    return cpu().get_num_threads()
