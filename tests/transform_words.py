"""The scalar transforms of fastgumbel._scalar applied word by word (uint64 arrays in), for
the transform tests: what the kernels compute for one element, without the stream around it."""
import numpy as np
from numba import njit

from fastgumbel import _scalar as S


@njit(cache=True)
def _map_words(kind, w, out):
    for i in range(w.size):
        lo = np.uint32(w[i] & np.uint64(0xFFFFFFFF))
        hi = np.uint32(w[i] >> np.uint64(32))
        if kind == 0:
            out[i] = S.gumbel_bits32(lo)
        elif kind == 1:
            out[i] = S.uniform_bits32(lo)
        elif kind == 2:
            out[i] = S.gumbel_bits64(lo, hi)
        else:
            out[i] = S.uniform_bits64(lo, hi)


def _words(kind, w, dtype):
    w = np.asarray(w, np.uint64)
    out = np.empty(w.size, dtype)
    _map_words(kind, w, out)
    return out


def g32(w):
    """float32 Gumbel of each 32-bit word."""
    return _words(0, w, np.float32)


def u32(w):
    """float32 uniform of each 32-bit word."""
    return _words(1, w, np.float32)


def g64(w):
    """float64 Gumbel of each 64-bit word."""
    return _words(2, w, np.float64)


def u64(w):
    """float64 uniform of each 64-bit word."""
    return _words(3, w, np.float64)
