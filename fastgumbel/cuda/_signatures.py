"""Argument types of every kernel launch of :mod:`fastgumbel.cuda`, per specialization: what
``tests/cuda/ptx_check.py`` compiles to PTX for sm_90 and ``bench/gpu/sass_numba.py`` counts,
without a GPU."""
from __future__ import annotations

import numpy as np
from numba import types


def launch_types(store, nt):
    """Kernel name -> argument types, for float arrays of Numba type ``store`` (float16,
    float32, float64, or uint16 holding bfloat16) computed in ``nt``."""
    i64, u64, f64 = types.int64, types.uint64, types.float64
    a2 = store[:, ::1]
    i2 = types.int64[:, ::1]
    key = types.uint32[::1]
    flags = types.int64[::1]
    soft = (a2, a2, i64, u64, u64, u64, key, f64, i64, flags)
    return {
        "fill_noise": (a2, i64, u64, u64, u64, key, f64, f64),
        "fill_uniform": (a2, i64, u64, u64, u64, key, f64, f64),
        "soft": soft, "soft_tau1": soft, "log": soft,
        "hard": (a2, a2, i64, u64, u64, u64, key, i64, flags),
        "argmax": (a2, i2, i2, i64, u64, u64, u64, key, i64, i64, flags),
        "topk": (a2, i2, i64, u64, u64, u64, key, i64, flags),
        "backward": (a2, a2, a2, nt[::1], f64, i64),
        "zero": (i2,),
    }


def _signatures():
    """(array dtype, bf16, bits64, kernel name, argument types) of every specialization the
    host functions launch."""
    sigs = []
    for dt, store, nt, bf16 in ((np.float32, types.float32, types.float32, False),
                                (np.float64, types.float64, types.float64, False),
                                (np.float16, types.float16, types.float32, False),
                                (np.uint16, types.uint16, types.float32, True)):
        for bits64 in (False, True):
            for name, sig in launch_types(store, nt).items():
                if name == "backward" and (bits64 or dt == np.float16 or bf16):
                    continue      # no noise: one specialization per dtype is enough
                if name == "zero" and (bits64 or dt != np.float32):
                    continue
                sigs.append((dt, bf16, bits64, name, sig))
    return sigs


#: (array dtype, bf16, bits64, kernel name, argument types) of every kernel launch: what
#: tests/cuda/ptx_check.py compiles for sm_90.
SIGNATURES = _signatures()
CONCRETE_SIGNATURES = [(types.float32[:, ::1], types.float32[:, ::1], types.float64[::1],
                        types.float64, types.int64),
                       (types.float64[:, ::1], types.float64[:, ::1], types.float64[::1],
                        types.float64, types.int64)]
