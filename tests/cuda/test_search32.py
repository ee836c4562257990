"""The float32 / 32-bit-word search of the Numba CUDA kernels (the reference L, the candidate
threshold and one key reduction; in the simulator cuda/_ubound.py's one-MUFU bound is an
exact log2, Philox the CPU's and the 128-bit loads are off: those run only on a GPU, and
their host emulations are in test_nvvm.py) and the noise fill's paths
(plain / affine, whole / last part group) against the CPU, on rows chosen to stress the
pruning: ties, near-ties, one dominant logit, -inf entries, rows longer than the register
cache (the tail passes), NaN / +inf rows (index of the first NaN, else first +inf)."""
import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel.cuda import _host
from fastgumbel import cpu

B = "numba-cuda"
_K = (np.uint64(11), np.uint64(12), np.uint64(13), False)


def _rows(K, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (6, K)).astype(np.float32)
    x[1] = 0.0                                        # all tied: the noise decides
    x[2] = np.float32(1.5) + np.arange(K, dtype=np.float32) * np.float32(1e-7)  # near ties
    x[3, :] = -np.inf
    x[3, K // 2] = 0.0                                # one finite entry
    x[4, K - 1] = 40.0                                # one dominant entry at the end
    x[5] = rng.normal(0, 50, K).astype(np.float32)    # wide spread
    return x


@pytest.mark.parametrize("K", [1, 7, 64, 1200])
def test_gumbel_max_and_hard_match_the_cpu(K):
    x = _rows(K, K)
    k = fg.Key(31337, 3)
    assert np.array_equal(fg.gumbel_max(x, rng=k), fg.gumbel_max(x, rng=k, backend=B))
    assert np.array_equal(fg.categorical(x, 3, rng=k), fg.categorical(x, 3, rng=k, backend=B))
    idx = np.zeros((6, 1), np.int64)
    cpu.argmax_rows(x, idx, 4, *_K)
    out = np.zeros_like(x)
    _host.softmax_rows(x, out, 4, *_K, 0.5, 2, check=True)
    assert np.array_equal(np.argmax(out, axis=1), idx[:, 0])
    assert np.array_equal(out.sum(axis=1), np.ones(6, np.float32))


def test_nan_and_inf_rows_give_the_first_nan_else_first_inf():
    x = _rows(300, 5)
    x[0, [7, 250]] = np.nan
    x[1, [9, 280]] = np.inf
    x[2, 290] = np.nan
    x[2, 3] = np.inf
    a = np.zeros((6, 1), np.int64)
    b = np.zeros((6, 1), np.int64)
    ca = cpu.argmax_rows(x, a, 0, *_K)
    cb = _host.argmax_rows(x, b, 0, *_K, check=True)
    assert tuple(ca) == tuple(cb)                 # (rows with NaN, rows with +inf max)
    assert np.array_equal(a[3:], b[3:])           # the finite rows: the CPU's index
    assert b[0, 0] == 7 and b[1, 0] == 9 and b[2, 0] == 290   # docs/gpu.md


@pytest.mark.parametrize("shape", [(5, 16), (5, 13), (3, 4)])
def test_noise_paths_are_the_cpu_bits(shape):
    k = fg.Key(77, 1)
    for loc, scale in ((0.0, 1.0), (0.5, 2.0)):
        a = fg.gumbel(loc, scale, shape, dtype=np.float32, rng=k)
        b = fg.gumbel(loc, scale, shape, dtype=np.float32, rng=k, backend=B)
        if loc == 0.0 and scale == 1.0:
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        else:
            assert np.allclose(a, b, rtol=1e-6, atol=1e-6)
    u = fg.uniform(size=shape, dtype=np.float32, rng=k)
    assert np.array_equal(u, fg.uniform(size=shape, dtype=np.float32, rng=k, backend=B))


# the kernels' check sum of such a row overflows to -inf (as on a GPU: it only has to stay
# below +inf); the simulator's NumPy scalars warn about it
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", [5, 1203])
def test_rows_masked_with_the_lowest_finite_value(dtype, K):
    """A row whose max is finfo.min (padding masked that way): the search's threshold is
    clamped there (below it, -inf, every slot past the row would pass and the candidate
    scan would read past the row); indices, counts and one-hots are the CPU's."""
    low = np.finfo(dtype).min
    x = np.full((4, K), low, dtype)
    x[1, K // 2] = -np.inf                                 # lowest finite next to -inf
    x[2] = np.random.default_rng(K).normal(0, 1, K)        # a finite row between them
    x[3, :2] = -np.inf
    k = fg.Key(2024, 7)
    assert np.array_equal(fg.gumbel_max(x, rng=k), fg.gumbel_max(x, rng=k, backend=B))
    assert np.array_equal(fg.categorical(x, 3, rng=k), fg.categorical(x, 3, rng=k, backend=B))
    n = 12 if K < 64 else 4     # a simulated team search per draw: 50 draws took 4 min
    assert np.array_equal(fg.multinomial(x, n, rng=k), fg.multinomial(x, n, rng=k, backend=B))
    # tau 0.3 takes the x + g rule on both (on the masked rows x + g rounds to x: all tie,
    # the first index); at tau 1 and 1 / n the CPU takes the largest exp(x - max x) / E,
    # which is the noise's argmax there (docs/rng.md): a one-hot all the same
    h = fg.gumbel_softmax(x, 0.3, hard=True, rng=k, backend=B)
    assert np.array_equal(h, fg.gumbel_softmax(x, 0.3, hard=True, rng=k))
    assert np.array_equal(h.sum(axis=1), np.ones(4, dtype))
    for tau in (1.0, 0.5):
        c = fg.gumbel_softmax(x, tau, hard=True, rng=k)
        assert np.array_equal(c.sum(axis=1), np.ones(4, dtype))
        assert c[2].argmax() == h[2].argmax()           # the finite row: no tie
