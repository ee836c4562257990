"""Per-thread settings of GPU calls: the opt-in check for NaN / ``+inf`` rows
(:func:`gpu_checks`) and the CUDA stream a routed call launches on.

Without the check a GPU sampler never reads device memory back: a row whose maximum logit
is NaN or ``+inf`` gets the documented result of ``docs/gpu.md`` (a NaN row for the
softmax family, the index of the first NaN, else first ``+inf``, for the draws). With it,
the kernels count such rows, the host waits for the counts (a synchronization) and raises
the CPU backend's ``ValueError``. Host (NumPy) inputs on a GPU backend are copied back
anyway, so they are always checked.

Nothing here imports a GPU library.

Examples
--------
>>> import fastgumbel as fg
>>> fg.gpu_checks_enabled()
False
>>> with fg.gpu_checks():
...     fg.gpu_checks_enabled()
True
>>> fg.gpu_checks_enabled()
False
"""
from __future__ import annotations

import inspect
import threading

__all__ = ["gpu_checks", "gpu_checks_enabled", "check_for", "stream_ptr", "using_stream",
           "gpu_kwargs", "accepts"]

_local = threading.local()


class gpu_checks:      # noqa: N801 (a function to its callers, like fastgumbel.threads)
    """Check GPU results for NaN / ``+inf`` rows in the calling thread (``enabled=True``) or
    not (``False``, the default state).

    The setting applies from the call on; used as a context manager, the previous setting
    comes back at the end of the block. Thread-local, as :func:`fastgumbel.threads`.

    Examples
    --------
    >>> import fastgumbel as fg
    >>> with fg.gpu_checks(False):
    ...     fg.gpu_checks_enabled()
    False
    """

    def __init__(self, enabled=True):
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be True or False; got {enabled!r}")
        self._previous = gpu_checks_enabled()
        _local.checks = enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _local.checks = self._previous
        return False


def gpu_checks_enabled():
    """Whether :func:`gpu_checks` is on in the calling thread."""
    return getattr(_local, "checks", False)


def check_for(on_device):
    """The ``check=`` a GPU wrapper gets: always for host inputs (they synchronize anyway),
    for device inputs only under :func:`gpu_checks`."""
    return (not on_device) or gpu_checks_enabled()


def stream_ptr():
    """The stream that routed Numba CUDA launches of this thread go to (a Numba stream
    object), or ``None`` (the default stream)."""
    return getattr(_local, "stream", None)


class using_stream:     # noqa: N801
    """Context manager: Numba CUDA launches of this thread go to the stream ``ptr`` (a Numba
    stream object, e.g. ``numba.cuda.external_stream(torch_stream.cuda_stream)``)."""

    def __init__(self, ptr):
        self.ptr = ptr

    def __enter__(self):
        self._previous = stream_ptr()
        _local.stream = self.ptr
        return self

    def __exit__(self, *exc):
        _local.stream = self._previous
        return False


def gpu_kwargs(fn, on_device):
    """The keywords a backend wrapper ``fn`` gets from the calling thread's settings:
    ``check`` (:func:`check_for`) and, under :class:`using_stream`, ``cuda_stream`` (Numba
    CUDA's; CuPy launches on its current stream). None for a wrapper without them (the CPU
    backend)."""
    kw = {}
    if accepts(fn, "check"):
        kw["check"] = check_for(on_device)
        s = stream_ptr()
        if s is not None and accepts(fn, "cuda_stream"):
            kw["cuda_stream"] = s
    return kw


_ACCEPTS = {}


def accepts(fn, name):
    """Whether the host wrapper ``fn`` takes the keyword ``name`` (a wrapper that predates
    the argument is called without it; cached per function)."""
    k = (fn, name)
    r = _ACCEPTS.get(k)
    if r is None:
        try:
            params = inspect.signature(fn).parameters
            r = name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        except (TypeError, ValueError):
            r = False
        _ACCEPTS[k] = r
    return r
