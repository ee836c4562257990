"""The one-hot of a soft sample's rows (the straight-through forward of the torch and JAX
bridges): ``fastgumbel.cpu.one_hot``, on the calling thread and in parallel, against a NumPy
reference, and the bridges' large-array hard samples against the soft sample they keep."""
import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel import cpu
from fastgumbel.cpu._softmax import ONE_HOT_SCAN


def ref_one_hot(y):
    """One-hot of each row's first maximum; all 0 for an all-0 row, all NaN with a NaN."""
    h = np.zeros_like(y)
    first = np.argmax(y, axis=1)
    top = y[np.arange(len(y)), first]
    h[np.arange(len(y)), first] = top > 0
    h[np.isnan(y).any(axis=1)] = np.nan
    return h


def soft_rows(rows, K, dtype, rng):
    """Soft-sample-like rows with planted exact ties at the top, all-0 rows and NaN rows."""
    y = rng.dirichlet(np.full(K, 0.3), rows).astype(dtype)
    tie = (rng.random(rows) < 0.2) & (K >= 2)
    for r in np.flatnonzero(tie):
        a, b = np.sort(rng.choice(K, 2, replace=False))
        y[r, a] = y[r, b] = y[r].max()          # the first of the two is the answer
    y[rng.random(rows) < 0.05] = 0
    nan = rng.random(rows) < 0.05
    y[nan, rng.integers(K, size=nan.sum())] = np.nan
    return y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,K", [(1, 1), (7, 5), (50, 40), (33, 64), (700, 300), (3000, 41)])
def test_one_hot_matches_the_reference(dtype, rows, K):
    """Rows of at most ONE_HOT_SCAN columns take a scalar scan, longer ones a vectorized
    search; small arrays run on the calling thread, the last two (>= SERIAL_ELEMS) in
    parallel."""
    assert 5 <= ONE_HOT_SCAN < 41           # both kinds of row are among the shapes
    rng = np.random.default_rng()
    y = soft_rows(rows, K, dtype, rng)
    h = np.full_like(y, 7)
    cpu.one_hot(y, h)
    np.testing.assert_array_equal(h, ref_one_hot(y))


def test_both_paths_are_taken_and_agree():
    rng = np.random.default_rng()
    y = soft_rows(4 * cpu.SERIAL_ELEMS // 100, 100, np.float32, rng)
    assert y.size >= cpu.SERIAL_ELEMS
    a = np.empty_like(y)
    b = np.empty_like(y)
    cpu.one_hot(y, a)                                  # parallel
    for r0 in range(0, len(y), 10):                    # serial, 1000 elements at a time
        cpu.one_hot(y[r0:r0 + 10], b[r0:r0 + 10])
    assert a.tobytes() == b.tobytes()


def test_torch_straight_through_of_a_large_array_is_the_soft_samples_one_hot():
    torch = pytest.importorskip("torch")
    import fastgumbel.torch as fgt
    x = torch.randn(300, 1000, requires_grad=True)
    assert x.numel() >= cpu.SERIAL_ELEMS
    h = fgt.gumbel_softmax(x, 0.7, hard=True, generator=fg.Key(5))
    y = fg.gumbel_softmax(x.detach().numpy(), 0.7, rng=fg.Key(5))
    np.testing.assert_array_equal(h.detach().numpy(), ref_one_hot(y))


def test_jax_straight_through_of_a_large_array_is_the_soft_samples_one_hot():
    jax = pytest.importorskip("jax")
    import fastgumbel.jax as fgj
    x = np.random.default_rng().standard_normal((300, 1000)).astype(np.float32)
    k = jax.random.key(4)
    h = np.asarray(jax.jit(lambda k, x: fgj.gumbel_softmax(k, x, 0.7, hard=True))(k, x))
    y = np.asarray(fgj.gumbel_softmax(k, x, 0.7))
    np.testing.assert_array_equal(h, ref_one_hot(y))
    # another axis takes NumPy's path: the same one-hots
    ht = np.asarray(fgj.gumbel_softmax(k, x.T.copy(), 0.7, hard=True, axis=0))
    yt = np.asarray(fgj.gumbel_softmax(k, x.T.copy(), 0.7, axis=0))
    np.testing.assert_array_equal(ht.T, ref_one_hot(yt.T))
