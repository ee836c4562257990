"""Pick a fork-safe and thread-safe Numba threading layer before the first parallel kernel.

Numba's three layers differ in what they survive (Numba docs, "Selecting a threading
layer"): GNU OpenMP (``omp`` on Linux) kills a forked child that runs a parallel kernel
after its parent ran one ("fork() called from a process already using GNU OpenMP");
``workqueue`` aborts when two threads launch parallel kernels at once; ``tbb`` is safe
for both. Numba tries TBB first, but the ``tbb`` wheel installs ``libtbb.so.12`` in the
environment's ``lib/`` directory, which the dynamic loader does not search, so Numba
silently falls back to OpenMP. :func:`configure` finds that library and loads it
(``RTLD_GLOBAL``) so that Numba's TBB pool links against it.

It changes nothing when the user chose a layer (``NUMBA_THREADING_LAYER`` or
``numba.config.THREADING_LAYER``), when Numba already started its thread pool, or when no
TBB library is found (then the layer is Numba's default: OpenMP on Linux; use the
``spawn`` or ``forkserver`` multiprocessing start method, or ``pip install tbb``).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

_lock = threading.Lock()
_done = False
#: What :func:`configure` did, for ``python -m fastgumbel info`` and the tests.
status = "not configured"

_LIBNAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}


def _candidates():
    """Places a pip or conda ``tbb`` puts its runtime library, most specific first."""
    name = _LIBNAMES.get(sys.platform)
    if name is None:
        return []
    libdir = "Library/bin" if sys.platform == "win32" else "lib"
    prefixes = []
    for p in (sys.prefix, sys.exec_prefix, os.environ.get("CONDA_PREFIX"), sys.base_prefix):
        if p and p not in prefixes:
            prefixes.append(p)
    found = [os.path.join(p, libdir, name) for p in prefixes]
    # a "pip install --user tbb" puts it under the user base
    try:
        import site
        found.append(os.path.join(site.getuserbase(), libdir, name))
    except Exception:  # pragma: no cover - site without a user base
        pass
    return [os.path.realpath(f) for f in found if os.path.isfile(f)]


def _tbb_loadable(name):
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def configure():
    """Make Numba's TBB layer loadable if a TBB runtime is installed; idempotent.

    Call before the first parallel kernel (importing :mod:`fastgumbel.cpu` calls it, before
    it imports its kernels). Returns a one-line description of the outcome (also kept in
    ``status``).
    """
    global _done, status
    if _done:
        return status
    with _lock:
        if _done:
            return status
        status = _configure()
        _done = True
    return status


def _configure():
    from numba import config
    from numba.np.ufunc import parallel

    if parallel._is_initialized:
        return f"numba thread pool already started ({parallel._threading_layer}); left as is"
    chosen = str(config.THREADING_LAYER).lower()
    if os.environ.get("NUMBA_THREADING_LAYER") or chosen != "default":
        return f"threading layer chosen by the user ({chosen}); left as is"
    name = _LIBNAMES.get(sys.platform)
    if name is None:
        return "no TBB runtime name for this platform; numba default layer"
    if _tbb_loadable(name):
        return f"{name} found by the loader; numba will use tbb"
    mode = getattr(os, "RTLD_GLOBAL", 0) | getattr(os, "RTLD_NOW", 0)
    for path in _candidates():
        try:
            ctypes.CDLL(path, mode=mode)
        except OSError:
            continue
        if _tbb_loadable(name):
            return f"loaded {path}; numba will use tbb"
    return ("no TBB runtime found (pip install tbb); numba default layer, which on Linux "
            "is GNU OpenMP: not fork-safe")


# ----------------------------------------------------------------------------------------
# the thread count of the CPU kernels (public as fastgumbel.threads / set_num_threads /
# get_num_threads)


def get_num_threads():
    """Threads the CPU kernels use in the calling thread (Numba's ``get_num_threads``)."""
    configure()
    import numba
    return numba.get_num_threads()


def set_num_threads(n):
    """Let the CPU kernels use ``n`` threads (1 <= n <= the pool size, ``NUMBA_NUM_THREADS``)
    in the calling thread: Numba's setting is per thread, so other threads keep theirs.
    Results do not depend on it (bit-identical for any thread count)."""
    configure()
    import numba

    from .._checks import thread_count
    numba.set_num_threads(thread_count(n, numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def threads(n):
    """Run the block with at most ``n`` CPU kernel threads (in the calling thread), then
    restore the previous count."""
    old = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(old)
