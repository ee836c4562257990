"""The NVVM-level pieces of fastgumbel.cuda (cuda/_nvvm.py, cuda/_ubound.py) checked on the
CPU: the simulator cannot run intrinsics, so the Philox rounds of ``philox10`` and
``philox_rk`` are compiled for the CPU target (the same IR but for the multiply), and the
one-MUFU bound of the float32 search is emulated in NumPy (float32 roundings, the MUFU's
error at its worst) against the CPU's bits of x + g."""
import functools
import math

import numpy as np
from numba import njit

from fastgumbel._scalar import BOUND_REL, philox_block32
from fastgumbel.cuda._nvvm import philox10
from fastgumbel.cuda._ubound import _LGMAX, _NLN2, UBOUND_BAND
from fastgumbel.cuda._ubound import _philox_rk as philox_rk, _round_keys as round_keys


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
def _rk_both(n, k0, k1):
    rk = round_keys(k0, k1)
    out = np.zeros((n, 8), np.uint64)
    for i in range(n):
        c = np.uint64((i * 2654435761) % 4294967296)
        a = philox_rk(c, np.uint64(i & 0xFFFF), np.uint64(7), np.uint64(i >> 3), rk)
        b = philox_block32(c, np.uint64(i & 0xFFFF), np.uint64(7), np.uint64(i >> 3), k0, k1)
        for j in range(4):
            out[i, j] = a[j]
            out[i, 4 + j] = b[j]
    return out


def test_philox_round_keys_match_the_cpu_rounds():
    for k0, k1 in ((0, 0), (0xDEADBEEF, 0x12345678), (2**32 - 1, 2**32 - 1)):
        o = _rk_both(20000, np.uint64(k0), np.uint64(k1))
        assert (o[:, :4] == o[:, 4:]).all()


@functools.cache
def _gumbel_words():
    """The compiled loop of :func:`_cpu_gumbel`, made once: a new ``njit`` function per
    call compiled again each time (300 compiles, 220 s of the simulator suite)."""
    from fastgumbel._scalar import gumbel_bits32

    @njit
    def run(w):
        g = np.empty(w.size, np.float32)
        for i in range(w.size):
            g[i] = gumbel_bits32(w[i])
        return g
    return run


def _cpu_gumbel(w):
    """The CPU's float32 Gumbel noise of 32-bit words (stream spec v1)."""
    return _gumbel_words()(w)


def _ubound_emulated(x, w, lg2_err):
    """ubound of ``_ubound`` in NumPy float32: t by the rounded int -> float and one FMA
    (exact in float64, rounded once), lg2 exact plus ``lg2_err`` (relative, the MUFU's
    worst case pushed the way that lowers u), min, then the final FMA rounded once."""
    f32 = np.float32
    tw = w.view(np.int32).astype(np.float32).astype(np.float64)
    t = (tw * -2.0**-32 - 2.0**-33).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        lg = np.log2(t.astype(np.float64))
    lg = (lg * (1 - lg2_err)).astype(np.float32)     # lg < 0: closer to 0 lowers u
    lg = np.where(np.isnan(lg), f32(_LGMAX), np.minimum(lg, f32(_LGMAX))).astype(np.float32)
    return (f32(_NLN2).astype(np.float64) * lg.astype(np.float64) + x.astype(np.float64)
            ).astype(np.float32)


def test_ubound_is_an_upper_bound_within_the_band():
    """u >= x + g - err for every word kind (random words, the extreme patterns, every word
    near them, t near the float rounding steps) with the CPU's bits of g, the MUFU's error
    taken at its worst (2**-22 relative), and err well inside the search's band."""
    rng = np.random.default_rng(20)
    near = np.concatenate([np.arange(0, 2**16), 2**31 - 1 - np.arange(2**16),
                           2**31 + np.arange(2**16), 2**32 - 1 - np.arange(2**16)])
    w = np.concatenate([rng.integers(0, 2**32, 1 << 20, dtype=np.uint64),
                        near.astype(np.uint64),
                        np.arange(0, 2**32, 4099, dtype=np.uint64)]).astype(np.uint32)
    g = _cpu_gumbel(w)
    for x in (np.zeros(w.size, np.float32), rng.normal(0, 30, w.size).astype(np.float32),
              np.full(w.size, np.float32(1e4)), np.full(w.size, np.float32(-3e4))):
        u = _ubound_emulated(x, w, 2.0**-22)
        v = (x + g).astype(np.float32)
        short = (v.astype(np.float64) - u.astype(np.float64))
        allowed = 2.0**-17 + np.abs(v.astype(np.float64)) * 2.0**-23
        assert (short <= allowed).all(), short.max()
        assert UBOUND_BAND >= 16 * 2.0**-17 and BOUND_REL >= 2.0**-23


def test_ubound_search_never_prunes_the_argmax():
    """The search's rule on random and adversarial rows: L = x + g of an element with the
    largest u, threshold L - (band + |L| BOUND_REL): the true first argmax of x + g (float64
    of the CPU's float32 values) always has u >= threshold."""
    rng = np.random.default_rng(7)
    f32 = np.float32
    for trial in range(300):
        K = int(rng.integers(1, 5000))
        kind = trial % 5
        x = rng.normal(0, [1, 10, 0.01, 100, 1][kind], K).astype(np.float32)
        if kind == 4:
            x[:] = f32(rng.normal()) + np.arange(K, dtype=np.float32) * f32(1e-7)
        w = rng.integers(0, 2**32, K, dtype=np.uint64).astype(np.uint32)
        if kind == 2:      # words near the extremes: the largest and smallest g
            w[: K // 2] = (2**32 - 1 - rng.integers(0, 64, K // 2)).astype(np.uint32)
        u = _ubound_emulated(x, w, 2.0**-22)
        v = (x + _cpu_gumbel(w)).astype(np.float32)
        L = v[int(np.argmax(u))]
        thr = f32(L - (f32(UBOUND_BAND) + abs(L) * f32(BOUND_REL)))
        assert u[int(np.argmax(v))] >= thr
