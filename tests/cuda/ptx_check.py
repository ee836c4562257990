"""Compile every Numba CUDA kernel of fastgumbel.cuda to PTX for sm_90, without a GPU.

Run as its own process (``python tests/cuda/ptx_check.py``; ``tests/test_cuda.py`` does):
it needs the real (not simulated) Numba CUDA target. Prints one line per kernel and exits
non-zero on the first failure.

numba-cuda compiles a device function called from a kernel (here: the ``@njit`` scalar
functions of fastgumbel._scalar and the team reductions) for the *current device's*
compute capability, which needs a driver. Without a GPU, that lookup is pointed at a
stand-in reporting compute capability 9.0, the target compile_ptx is asked for; nothing
else is changed.
"""
import os
import sys
import time
import types as pytypes

import numpy as np

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    sys.exit("ptx_check needs the real CUDA target: unset NUMBA_ENABLE_CUDASIM")

CC = (9, 0)

import numba.cuda.dispatcher as _disp  # noqa: E402
from numba import cuda  # noqa: E402

if not cuda.is_available():
    _disp.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=CC)

from fastgumbel import cuda as fgc  # noqa: E402
from fastgumbel.cuda._kernels import concrete_k  # noqa: E402


# every kernel name in float32 with 32-bit words; the other storages and word widths for the
# kernels whose code they change (all of SIGNATURES would take ~15 minutes on 2 cores)
SUBSET = {(np.float32, False, False): None,
          (np.uint16, True, False): {"fill_noise", "soft_tau1", "log", "hard", "argmax", "topk",
                                     "backward"},
          (np.float16, False, False): {"soft_tau1", "argmax"},
          (np.float64, False, True): {"fill_noise", "soft_tau1", "soft", "hard", "argmax",
                                      "backward"},
          (np.float32, False, True): {"soft_tau1", "hard"}}


def main():
    t0 = time.perf_counter()
    n = 0
    for dtype, bf16, bits64, name, sig in fgc.SIGNATURES:
        names = SUBSET.get((dtype, bf16, bits64), ())
        if names is not None and name not in names:
            continue
        kern = fgc.kernels(dtype, bf16, bits64)[name]
        ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=CC)
        assert ".target sm_90" in ptx and ".entry" in ptx, (name, dtype)
        label = ("bf16" if bf16 else np.dtype(dtype).name) + ("/w64" if bits64 else "")
        print(f"{name:11s} {label:12s} {len(ptx):8d} bytes of PTX", flush=True)
        n += 1
    for sig in fgc.CONCRETE_SIGNATURES:
        ptx, _ = cuda.compile_ptx(concrete_k.py_func, sig, cc=CC)
        assert ".target sm_90" in ptx and ".entry" in ptx
        print(f"{'concrete':11s} {str(sig[0].dtype):12s} {len(ptx):8d} bytes of PTX")
        n += 1
    print(f"compiled {n} kernels for sm_{CC[0]}{CC[1]} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
