"""Numba compile settings of the CPU code, in one place: every jitted function of
:mod:`fastgumbel._scalar` and :mod:`fastgumbel.cpu` takes one of the decorators below.

All compile with ``cache=True`` (on-disk cache, so a kernel compiles once per machine),
``nogil=True`` (callers' threads run concurrently) and ``error_model="numpy"`` (division by
zero gives inf/NaN, as NumPy does, with no check in the loops that would stop them from
vectorizing).
"""
from __future__ import annotations

import os

from numba import njit

__all__ = ["PARALLEL", "helper", "inline_always", "kernel"]

#: False when FASTGUMBEL_SERIAL_KERNELS=1: the kernels are then compiled without prange
#: parallelism. Numba does not bounds-check inside parallel loops, so the bounds-checked CI
#: pass (.ci/run, NUMBA_BOUNDSCHECK=1) uses it.
PARALLEL = os.environ.get("FASTGUMBEL_SERIAL_KERNELS", "") != "1"

_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")

#: A compiled helper: a function of its own, which LLVM inlines into its callers.
helper = njit(**_OPTIONS)
#: Inlined into each caller at the Numba IR level, so that constant arguments (a kernel's
#: mode, ``bits64`` branches, dtypes) specialize it.
inline_always = njit(inline="always", **_OPTIONS)
#: A kernel called from Python: parallel over ``prange`` loops unless PARALLEL is False.
kernel = njit(parallel=PARALLEL, **_OPTIONS)
