"""sm_90 SASS of the Numba CUDA kernels, without a GPU: registers, spills and instructions per
element on the hot path (issue 20's static budget).

    python bench/gpu/sass_numba.py [--out DIR] [--only NAME ...] [--spec f32|bf16|f64|f16]

Each kernel of :mod:`fastgumbel.cuda` is compiled by numba-cuda to PTX for compute
capability 9.0 with the exact launch signature (``fastgumbel.cuda._signatures``); the PTX
goes through ``ptxas -arch=sm_90 -v`` (registers, spill bytes) to a cubin, which
``bench/gpu/sass_budget.py`` (the CuPy helper's counting tool) disassembles and counts.
numba-cuda's NVVM may write a newer PTX ISA version than the machine's ptxas reads; the
``.version`` line is lowered to the ptxas's own (the kernels use no newer instruction).
Without a GPU, numba-cuda's lookup of the current device (for the compute capability of
device functions) is pointed at a stand-in of compute capability 9.0, as
``tests/cuda/ptx_check.py`` does.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import types as pytypes
from pathlib import Path

CC = (9, 0)
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba.cuda.dispatcher as _disp  # noqa: E402
from numba import cuda  # noqa: E402

if not cuda.is_available():
    _disp.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=CC)

import numpy as np  # noqa: E402
from numba import types  # noqa: E402

from fastgumbel.cuda import kernels  # noqa: E402
from fastgumbel.cuda._signatures import launch_types  # noqa: E402

SPECS = {"f32": (np.float32, types.float32, types.float32, False),
         "bf16": (np.uint16, types.uint16, types.float32, True),
         "f16": (np.float16, types.float16, types.float32, False),
         "f64": (np.float64, types.float64, types.float64, False)}
KERNELS = ["fill_noise", "soft_tau1", "soft", "log", "hard", "argmax", "topk", "backward"]


def ptxas_version():
    out = subprocess.run(["ptxas", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release (\d+)\.(\d+)", out)
    # ptxas of CUDA 13.x reads PTX ISA 9.x
    return f"{int(m.group(1)) - 4}.{m.group(2)}" if m else "9.0"


def compile_cubin(spec, name, out, bits64=False):
    """PTX and cubin of one kernel in ``out``; returns (ptxas info dict, cubin path)."""
    dt, store, nt, bf16 = SPECS[spec]
    sig = launch_types(store, nt)[name]
    kern = kernels(dt, bf16, bits64)[name]
    ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=CC)
    ptx = re.sub(r"^\.version \d+\.\d+", f".version {ptxas_version()}", ptx, flags=re.M)
    stem = f"{spec}{'_w64' if bits64 else ''}_{name}"
    p = out / f"{stem}.ptx"
    p.write_text(ptx)
    cubin = out / f"{stem}.cubin"
    r = subprocess.run(["ptxas", f"-arch=sm_{CC[0]}{CC[1]}", "-v", "-o", str(cubin), str(p)],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)
    info = {"registers": int(re.search(r"Used (\d+) registers", r.stderr).group(1)),
            "spill_stores": int(re.search(r"(\d+) bytes spill stores", r.stderr).group(1)),
            "spill_loads": int(re.search(r"(\d+) bytes spill loads", r.stderr).group(1)),
            "stack": int(re.search(r"(\d+) bytes stack frame", r.stderr).group(1))}
    return info, cubin


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/sass_numba")
    ap.add_argument("--only", nargs="*", default=KERNELS)
    ap.add_argument("--spec", default="f32", choices=sorted(SPECS))
    ap.add_argument("--bits64", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in a.only:
        t0 = time.perf_counter()
        info, cubin = compile_cubin(a.spec, name, out, a.bits64)
        print(f"{name:11s} regs {info['registers']:3d} spill {info['spill_stores']}/"
              f"{info['spill_loads']} stack {info['stack']:3d}  ({time.perf_counter() - t0:.0f} s)"
              f"  {cubin}", flush=True)


if __name__ == "__main__":
    main()
