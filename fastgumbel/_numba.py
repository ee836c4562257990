"""Numba compile settings of the CPU code, in one place: every jitted function of
:mod:`fastgumbel._scalar` and :mod:`fastgumbel.cpu` takes one of the decorators below.

All compile with ``cache=True`` (on-disk cache, so a kernel compiles once per machine),
``nogil=True`` (callers' threads run concurrently) and ``error_model="numpy"`` (division by
zero gives inf/NaN, as NumPy does, with no check in the loops that would stop them from
vectorizing).
"""
from __future__ import annotations

import os
import warnings

from numba import njit
from numba.core.compiler import Compiler
from numba.core.errors import NumbaIRAssumptionWarning

__all__ = ["PARALLEL", "helper", "inline_always", "kernel"]

#: False when FASTGUMBEL_SERIAL_KERNELS=1: the kernels are then compiled without prange
#: parallelism. Numba does not bounds-check inside parallel loops, so the bounds-checked CI
#: pass (.ci/run, NUMBA_BOUNDSCHECK=1) uses it.
PARALLEL = os.environ.get("FASTGUMBEL_SERIAL_KERNELS", "") != "1"



class _Compiler(Compiler):
    """Numba's default pipeline, with one warning silenced while it runs.

    Inlining the dtype-dispatching overloads of :mod:`fastgumbel._scalar` and
    :mod:`fastgumbel.cpu._dtypes` (``log_any``, ``order_key``, ...) into a caller trips a
    pedantic SSA check inside Numba ("variable ... is not in scope",
    ``NumbaIRAssumptionWarning``) when that caller compiles; the generated code is correct
    (tests/test_transform.py, tests/test_fingerprint.py). The filter is in place only while
    one of these functions compiles (Numba compiles under its global compiler lock), so the
    process's warning filters are left as they were.
    """

    def _compile_core(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaIRAssumptionWarning)
            return super()._compile_core()


_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", pipeline_class=_Compiler)

#: A compiled helper: a function of its own, which LLVM inlines into its callers.
helper = njit(**_OPTIONS)
#: Inlined into each caller at the Numba IR level, so that constant arguments (a kernel's
#: mode, ``bits64`` branches, dtypes) specialize it.
inline_always = njit(inline="always", **_OPTIONS)
#: A kernel called from Python: parallel over ``prange`` loops unless PARALLEL is False.
kernel = njit(parallel=PARALLEL, **_OPTIONS)
