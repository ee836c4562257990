"""Argument types of every kernel launch of :mod:`fastgumbel.cuda`, per compute dtype: what
``tests/cuda/ptx_check.py`` compiles to PTX for sm_90 without a GPU."""
from __future__ import annotations

import numpy as np
from numba import types

def _signatures():
    """Kernel -> argument types of every launch above, per compute dtype (for compile_ptx)."""
    i64, u64, b1, f64 = types.int64, types.uint64, types.boolean, types.float64
    sigs = []
    for nt in (types.float32, types.float64):
        a2 = nt[:, ::1]
        i2 = types.int64[:, ::1]
        k = np.float32 if nt == types.float32 else np.float64
        sigs += [
            (k, "fill_noise", (a2, i64, u64, u64, u64, b1, b1, f64, f64)),
            (k, "softmax", (a2, a2, i64, u64, u64, u64, b1, f64, i64, i64, i64[::1])),
            (k, "argmax", (a2, i2, i2, i64, u64, u64, u64, b1, i64, i64, i64[::1])),
            (k, "topk", (a2, i2, i64, u64, u64, u64, b1, i64, i64[::1])),
            (k, "backward", (a2, a2, a2, nt[::1], f64, i64)),
            (k, "zero", (i2,)),
        ]
    h2 = types.float16[:, ::1]   # float16 in / out, float32 math (the float32 kernels)
    i2 = types.int64[:, ::1]
    sigs += [
        (np.float16, "fill_noise", (h2, i64, u64, u64, u64, b1, b1, f64, f64)),
        (np.float16, "softmax", (h2, h2, i64, u64, u64, u64, b1, f64, i64, i64, i64[::1])),
        (np.float16, "argmax", (h2, i2, i2, i64, u64, u64, u64, b1, i64, i64, i64[::1])),
        (np.float16, "topk", (h2, i2, i64, u64, u64, u64, b1, i64, i64[::1])),
    ]
    return sigs


#: (compute dtype, kernel name, argument types) of every kernel launch, and the concrete
#: kernel: what tests/cuda/ptx_check.py compiles for sm_90.
SIGNATURES = _signatures()
CONCRETE_SIGNATURES = [(types.float32[:, ::1], types.float32[:, ::1], types.float64[::1],
                        types.float64, types.int64),
                       (types.float64[:, ::1], types.float64[:, ::1], types.float64[::1],
                        types.float64, types.int64)]

