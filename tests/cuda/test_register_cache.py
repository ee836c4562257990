"""The Numba CUDA row kernels' register cache size is a build parameter: any CACHE gives the
results within a few roundings (rows within the cache, and rows whose later passes re-read
the logits and regenerate the noise: at tau != 1 the weights of the groups past the cache
are taken relative to the thread's running maximum, not the cached groups' one), and the
same hard sample."""
import numpy as np
import pytest

from fastgumbel import cuda as fgc
from fastgumbel.cuda import _host, _kernels

KEY = (np.uint64(0x1234567), np.uint64(0x89abcdef), np.uint64(3))


@pytest.mark.parametrize("dtype,bits64", [(np.float32, False), (np.float64, True)])
@pytest.mark.parametrize("K", [13, 300, 700])
def test_cache_size_does_not_change_results(monkeypatch, dtype, bits64, K):
    x = (np.random.default_rng(K).standard_normal((2, K)) * 3).astype(dtype)
    x[1, ::3] = -np.inf
    T = fgc.team_size(K)
    cache = 2
    # K = 300 (and 700 in the simulator) fits the default cache of its team, not one of 2
    assert K <= 4 * fgc.CACHE * T or K > 4 * cache * T
    want = []
    for mode in (0, 1, 2):
        out = np.empty_like(x)
        fgc.softmax_rows(x, out, 3, *KEY, bits64, 1.0 if mode == 0 else 0.7, mode)
        want.append(out)
    assert _kernels.kernels(dtype, cache=cache) is not _kernels.kernels(dtype)
    monkeypatch.setattr(_host, "kernels",
                        lambda dt, bf16=False, b64=False: _kernels.kernels(dt, bf16, b64, cache))
    for mode in (0, 1, 2):
        out = np.empty_like(x)
        fgc.softmax_rows(x, out, 3, *KEY, bits64, 1.0 if mode == 0 else 0.7, mode)
        if mode == 2:   # the hard sample: the same one-hot
            assert np.array_equal(out, want[mode])
        else:           # weights are taken relative to another reference: a few roundings
            assert np.allclose(out, want[mode], rtol=64 * np.finfo(dtype).eps, atol=0,
                               equal_nan=True), mode
