"""The NVVM-level pieces of fastgumbel.cuda (cuda/_nvvm.py, cuda/_pieces.fast_bound_group)
checked on the CPU: the simulator cannot run intrinsics, so the Philox rounds of
``philox10`` are compiled for the CPU target (the same IR but for the multiply), and the
fast bound's formula is checked against float64 with an exact log2 (the MUFU's own error,
2**-22 absolute / 2 ulp, is the part the docstring adds on paper)."""
import math

import numpy as np
from numba import njit

from fastgumbel._scalar import philox_block32
from fastgumbel._scalar._transforms import _fold32
from fastgumbel.cuda._nvvm import philox10
from fastgumbel.cuda._pieces import FAST_BAND


@njit
def _both(n, k0, k1):
    out = np.zeros((n, 8), np.uint64)
    for i in range(n):
        c = np.uint64((i * 2654435761) % 4294967296)
        a = philox10(c, np.uint64(i & 0xFFFF), np.uint64(7), np.uint64(i >> 3), k0, k1)
        b = philox_block32(c, np.uint64(i & 0xFFFF), np.uint64(7), np.uint64(i >> 3), k0, k1)
        for j in range(4):
            out[i, j] = a[j]
            out[i, 4 + j] = b[j]
    return out


def test_philox10_matches_the_cpu_rounds():
    for k0, k1 in ((0, 0), (0xDEADBEEF, 0x12345678), (2**32 - 1, 2**32 - 1)):
        o = _both(20000, np.uint64(k0), np.uint64(k1))
        assert (o[:, :4] == o[:, 4:]).all()


@njit
def _fold_all(w):
    s = np.zeros(w.size, np.bool_)
    t = np.zeros(w.size, np.float32)
    for i in range(w.size):
        s[i], t[i] = _fold32(w[i])
    return s, t


def test_fast_bound_formula_within_its_band():
    rng = np.random.default_rng(20)
    w = np.concatenate([rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32),
                        np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], np.uint32),
                        # the 1 - t side near the switch to the series (t ~ 2**-10)
                        (2**32 - 1 - np.arange(2**21, 2**23, 997)).astype(np.uint32)])
    s, t = _fold_all(w)
    f32 = np.float32
    one_minus = (f32(1) - t).astype(np.float32)
    e = (-f32(math.log(2)) * np.log2(np.where(s, one_minus, t))).astype(np.float32)
    e = np.where(s & (t <= f32(2.0 ** -10)), t + (f32(0.5) * t) * t, e).astype(np.float32)
    ln_e_fast = math.log(2) * np.log2(e.astype(np.float64))
    td = t.astype(np.float64)
    ln_e = np.log(np.where(s, -np.log1p(-td), -np.log(td)))
    err = np.abs(ln_e_fast - ln_e)
    # the docstring's bound without the MUFU's error; the band is twice the bound and more
    assert err.max() < 1.2e-4, err.max()
    assert 2 * 2.2e-4 < FAST_BAND
