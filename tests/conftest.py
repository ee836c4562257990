"""Independent references for the stream spec (docs/rng.md), written from the spec in NumPy.

The kernels must agree with these: the words exactly, the uniforms exactly, the Gumbel
noise to within a few float32 ulps of a float64 / long-double evaluation of the exact math.
"""
import os

import numpy as np
import pytest

import fastgumbel as fg

# tests/cuda runs in its own process (simulator or real GPU): see tests/cuda/conftest.py
if not (os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
        or os.environ.get("FASTGUMBEL_GPU_TESTS") == "1"):
    collect_ignore = ["cuda", "gpu"]
elif os.environ.get("FASTGUMBEL_GPU_TESTS") != "1":
    collect_ignore = ["gpu"]     # tests/gpu: the bridges on a real GPU only


@pytest.hookimpl(trylast=True)    # after -k / -m / --deselect have chosen the items
def pytest_collection_modifyitems(session, config, items):
    """Start the slow separate-process checks of tests/test_cuda.py (tests/_background.py)
    now, so that they run alongside the rest of the suite, and move the tests that wait for
    them to the end of the session."""
    import _background
    waiting = [i for i in items if i.name in _background.WAITERS]
    if not waiting or config.option.collectonly:
        return
    items[:] = [i for i in items if i.name not in _background.WAITERS] + waiting
    config.fastgumbel_background = _background.start(
        {_background.WAITERS[i.name] for i in waiting})


def pytest_unconfigure(config):
    procs = getattr(config, "fastgumbel_background", None)
    if procs is not None:
        import _background
        _background.stop(procs)


M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85


def philox_scalar(ctr, key):
    """Philox4x32-10 in plain Python ints (one block): the oracle for the NumPy version."""
    c = list(ctr)
    k0, k1 = key
    for _ in range(10):
        p0 = M0 * c[0]
        p1 = M1 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
        k0 = (k0 + W0) & 0xFFFFFFFF
        k1 = (k1 + W1) & 0xFFFFFFFF
    return c


def ref_words(key, rows, K, bits64, row0=0):
    """uint64 word(s) of every element (r, c) of a (rows, K) field, from the spec."""
    k0, k1, stream = key.words
    r = np.arange(row0, row0 + rows, dtype=np.uint64)[:, None]
    c = np.arange(K, dtype=np.uint64)[None, :]
    per = 2 if bits64 else 4
    ctr = np.stack(np.broadcast_arrays(c // per, np.uint64(stream), r & np.uint64(0xFFFFFFFF),
                                       r >> np.uint64(32)), axis=-1)
    out = fg.random.philox4x32_10(ctr, np.array([k0, k1], np.uint32)).astype(np.uint64)
    j = (c % per).astype(np.int64)
    if not bits64:
        return np.take_along_axis(out, np.broadcast_to(j, (rows, K))[..., None], -1)[..., 0]
    lo = np.take_along_axis(out, np.broadcast_to(2 * j, (rows, K))[..., None], -1)[..., 0]
    hi = np.take_along_axis(out, np.broadcast_to(2 * j + 1, (rows, K))[..., None], -1)[..., 0]
    return lo | (hi << np.uint64(32))


def fold(words, bits64):
    """(s, t) of the spec, t exact in long double."""
    w = np.asarray(words, dtype=np.uint64)
    if bits64:
        s = w >> np.uint64(63)
        m = np.where(s == 1, ~w, w)
        t = (2 * m.astype(np.longdouble) + 1) * np.longdouble(2.0) ** -65
    else:
        s = w >> np.uint64(31)
        m = np.where(s == 1, np.uint64(0xFFFFFFFF) - w, w)
        t = (2 * m.astype(np.longdouble) + 1) * np.longdouble(2.0) ** -33
    return s.astype(bool), t


def ref_gumbel(words, bits64):
    """Exact Gumbel transform of the spec, in long double."""
    s, t = fold(words, bits64)
    E = np.where(s, -np.log1p(-t), -np.log(t))
    return -np.log(E)


def ref_uniform32(words):
    """The float32 uniform of the spec, bit-exact (float32 arithmetic as specified)."""
    s, t = fold(words, False)
    t32 = t.astype(np.float64).astype(np.float32)     # (2m+1) * 2**-33 is exact in float64
    hi = np.minimum(np.float32(1) - t32, np.float32(1 - 2.0 ** -24))
    return np.where(s, hi, t32)


def ref_noise(key, shape, dtype=np.float32, precision="default"):
    """Reference Gumbel field (long double) for a logical shape, sampling axis last."""
    shape = tuple(shape) if shape else (1,)
    K = shape[-1]
    rows = int(np.prod(shape[:-1]))
    bits64 = precision == "high" or np.dtype(dtype) == np.float64
    return ref_gumbel(ref_words(key, rows, K, bits64), bits64).reshape(shape)


@pytest.fixture
def fresh_logits():
    """Fresh random logits for each test run (the oracle comparisons are exact math)."""
    rs = np.random.default_rng()

    def make(shape, dtype=np.float32, scale=3.0):
        return (rs.standard_normal(shape) * scale).astype(dtype)

    return make


@pytest.fixture
def compiled_kernels():
    """A function: {Numba CPU dispatcher: number of compiled specializations} in this process
    (to check that a call compiled nothing new)."""
    import gc

    from numba.core.registry import CPUDispatcher

    def count():
        out = {}
        for o in gc.get_objects():
            # type(), not isinstance(): that reads __class__, which some modules' objects
            # answer with a deprecation warning, and a dead weak proxy with an error
            if issubclass(type(o), CPUDispatcher):
                out[o] = len(o.signatures)
        return out

    return count


def new_specializations(before, after):
    """Names of the dispatchers that compiled between two ``compiled_kernels()`` counts."""
    return {k.py_func.__qualname__ for k in after if after[k] != before.get(k, 0)}


@pytest.fixture
def x64():
    """JAX in 64-bit mode for the test (jax imported only by tests that use it)."""
    import jax
    with jax.enable_x64(True):
        yield
