"""NumPy compatibility: ``fg.gumbel(loc, scale, size)`` / ``fg.uniform(low, high, size)`` in
NumPy's order, and ``fg.default_rng(s)`` standing in for ``np.random.default_rng(s)``.

For each argument set of a table, NumPy's ``Generator`` and ours are called side by side:
the result kinds (Python float or ndarray), shapes, dtypes, broadcasting and the types of
the errors must agree. Distributions are checked by KS and chi-square tests with fixed
seeds; the values themselves come from fastgumbel's streams and differ from NumPy's.
"""
import math

import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg

ALPHA = 1e-3


def np_rng():
    return np.random.default_rng(0)


def same_kind(ours, theirs):
    """Ours has NumPy's result kind, shape and dtype."""
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), (type(ours), theirs)
        assert ours.shape == theirs.shape
        assert ours.dtype == theirs.dtype
    else:
        assert type(ours) is type(theirs), (type(ours), type(theirs))


COL = np.array([[0.5], [1.0], [2.0]])
ROW = np.array([1.0, 2.0, 3.0, 4.0])

#: (method, args, kwargs) accepted by numpy.random.Generator and by fg.Generator
CALLS = [
    ("random", (), {}),
    ("random", (5,), {}),
    ("random", ((2, 3),), {}),
    ("random", ((),), {}),
    ("random", ((0, 4),), {}),
    ("random", (), {"size": (3,), "dtype": np.float32}),
    ("random", (None, "float32"), {}),
    ("uniform", (), {}),
    ("uniform", (2.0, 5.0), {}),
    ("uniform", (0, 1, 1000), {}),
    ("uniform", (np.float32(0), 1), {}),
    ("uniform", (np.array(1.0), 2.0), {}),
    ("uniform", (0.0, ROW), {}),
    ("uniform", (COL, COL + ROW), {}),
    ("uniform", (COL, COL + ROW, (2, 3, 4)), {}),
    ("uniform", ([0, 1], [1, 2]), {"size": (5, 2)}),
    ("uniform", (), {"size": ()}),
    ("uniform", (3.0, 3.0, 4), {}),
    ("gumbel", (), {}),
    ("gumbel", (0, 1, 1000), {}),
    ("gumbel", (5, 1, 10), {}),
    ("gumbel", (ROW,), {}),
    ("gumbel", (0.0, COL), {}),
    ("gumbel", (ROW, COL), {}),
    ("gumbel", (ROW, COL, (7, 3, 4)), {}),
    ("gumbel", (), {"scale": [1.0, 2.0], "size": (3, 2)}),
    ("gumbel", (), {"loc": 1, "size": ()}),
    ("exponential", (), {}),
    ("exponential", (2.0,), {}),
    ("exponential", (2.0, 50), {}),
    ("exponential", (ROW,), {}),
    ("exponential", (COL, (3, 4)), {}),
    ("exponential", (), {"size": ()}),
    ("standard_exponential", (), {}),
    ("standard_exponential", (6,), {}),
    ("standard_exponential", ((2, 3), np.float32), {}),
    ("standard_exponential", ((2, 3),), {"method": "inv"}),
    ("standard_exponential", (2,), {"method": "anything"}),
    ("standard_exponential", (), {"dtype": "float32"}),
    ("choice", (5,), {}),
    ("choice", (5, 3), {}),
    ("choice", (5, (2, 3)), {}),
    ("choice", (5, ()), {}),
    ("choice", (np.int32(5), 4), {}),
    ("choice", (np.array(7), 4), {}),
    ("choice", (True, 3), {}),
    ("choice", (0, 0), {}),
    ("choice", ([], 0), {}),
    ("choice", ([1.5, 2.5, 3.5],), {}),
    ("choice", ([1.5, 2.5, 3.5], 4), {}),
    ("choice", (["a", "b", "c"], (2, 2)), {}),
    ("choice", (5, 5), {"replace": False}),
    ("choice", (5,), {"replace": False}),
    ("choice", (5, 3), {"p": [0.1, 0.2, 0.3, 0.4, 0.0]}),
    ("choice", (5, 3), {"p": [0.1, 0.2, 0.3, 0.4, 0.0], "replace": False}),
    ("choice", (5,), {"p": np.array([0.2, 0.2, 0.2, 0.2, 0.2], np.float32)}),
    ("choice", (np.arange(12).reshape(3, 4), 2), {}),
    ("choice", (np.arange(12).reshape(3, 4), (2, 5)), {"axis": 1}),
    ("choice", (np.arange(12).reshape(3, 4),), {"axis": 1}),
    ("choice", (np.arange(12).reshape(3, 4), 3), {"axis": -1, "replace": False}),
    ("choice", (np.arange(24.0).reshape(2, 3, 4), 2), {"axis": 1, "p": [0.5, 0.25, 0.25]}),
    ("choice", (np.arange(6), 3), {"shuffle": False, "replace": False}),
]


@pytest.mark.parametrize("method, args, kwargs", CALLS,
                         ids=[f"{m}{a}{k}" for m, a, k in CALLS])
def test_generator_matches_numpy_kinds_shapes_dtypes(method, args, kwargs):
    theirs = getattr(np_rng(), method)(*args, **kwargs)
    ours = getattr(fg.default_rng(0), method)(*args, **kwargs)
    same_kind(ours, theirs)


#: calls NumPy refuses; ours must refuse them with the same exception type
BAD_CALLS = [
    ("random", (), {"dtype": np.float16}),
    ("random", (), {"dtype": np.int32}),
    ("random", (-1,), {}),
    ("random", (2.5,), {}),
    ("uniform", (0, np.inf), {}),
    ("uniform", (np.nan, 1.0), {}),
    ("uniform", (-1e308, 1e308), {}),
    ("uniform", (2.0, 1.0), {}),
    ("uniform", (np.zeros(3), 1.0, 1000), {}),
    ("uniform", (np.zeros(3), 1.0, (2, 1)), {}),
    ("uniform", (1j,), {}),
    ("gumbel", (0.0, -1.0), {}),
    ("gumbel", (np.zeros(3), 1.0, 4), {}),
    ("gumbel", (np.zeros(3), np.ones(2)), {}),
    ("exponential", (-1.0,), {}),
    ("exponential", ([1.0, -2.0],), {}),
    ("standard_exponential", (), {"dtype": np.float16}),
    ("choice", (0,), {}),
    ("choice", (-3, 2), {}),
    ("choice", (5.0, 2), {}),
    ("choice", ([], 2), {}),
    ("choice", (3, -1), {}),
    ("choice", (3, 2.0), {}),
    ("choice", (3, 4), {"replace": False}),
    ("choice", (3, 3), {"replace": False, "p": [0.5, 0.5, 0.0]}),
    ("choice", (3, 2), {"p": [1.5, -0.5, 0.0]}),
    ("choice", (3, 2), {"p": [0.5, 0.2, 0.2]}),
    ("choice", (2, 2), {"p": [0.5, 0.5 + 1e-7]}),
    ("choice", (3, 2), {"p": [0.5, 0.5]}),
    ("choice", (2, 2), {"p": [[0.5, 0.5]]}),
    ("choice", (2, 2), {"p": [np.nan, 0.5]}),
    ("choice", (np.arange(6).reshape(3, 2), 2), {"axis": 2}),
    ("choice", (np.arange(6), 2), {"axis": 0.0}),
]


@pytest.mark.parametrize("method, args, kwargs", BAD_CALLS,
                         ids=[f"{m}{a}{k}" for m, a, k in BAD_CALLS])
def test_generator_refuses_what_numpy_refuses(method, args, kwargs):
    with pytest.raises(Exception) as theirs:
        getattr(np_rng(), method)(*args, **kwargs)
    with pytest.raises(theirs.type) as ours:
        getattr(fg.default_rng(0), method)(*args, **kwargs)
    assert str(ours.value)


def test_float32_p_takes_its_own_tolerance():
    p = np.array([0.5, 0.5 + 1e-5], np.float32)     # within sqrt(float32 eps), as NumPy
    assert fg.default_rng(0).choice(2, 3, p=p).shape == (3,)


def test_out_arguments_as_numpy():
    rng = fg.default_rng(0)
    out = np.empty((3, 4))
    assert rng.random(out=out) is out
    assert ((0 < out) & (out < 1)).all()
    out32 = np.empty(5, np.float32)
    assert rng.standard_exponential(out=out32, dtype=np.float32) is out32
    assert (out32 > 0).all()
    for kwargs, err in [({"out": np.empty(3, np.float32)}, TypeError),
                        ({"size": 2, "out": np.empty(3)}, ValueError),
                        ({"out": np.empty((4, 2))[:, 0]}, ValueError)]:
        for method in ("random", "standard_exponential"):
            with pytest.raises(err):
                getattr(np_rng(), method)(**kwargs)
            with pytest.raises(err):
                getattr(rng, method)(**kwargs)


# ----------------------------------------------------------------------------------------
# module functions: NumPy's order and broadcasting, bits of the old calls


def test_gumbel_numpy_order():
    g = fg.gumbel(0, 1, 1000, rng=3)
    assert g.shape == (1000,) and g.dtype == np.float32
    assert stats.kstest(g, stats.gumbel_r.cdf).pvalue > ALPHA
    g = fg.gumbel(5, 1, 10, rng=3)
    assert g.shape == (10,)
    assert np.array_equal(g, fg.gumbel(size=10, loc=5.0, scale=1.0, rng=3))


@pytest.mark.parametrize("fn", ["gumbel", "uniform"])
@pytest.mark.parametrize("a, b, size", [
    (0.0, 2.0, None), (ROW, 5.0, None), (COL, ROW + 9, None), (COL, ROW + 9, (5, 3, 4)),
    (0.0, [3.0, 4.0], (6, 2)), (1.0, 2.0, 7), (np.array(1.0), 2.0, None), (0.5, 1.5, ()),
])
def test_module_functions_broadcast_as_numpy(fn, a, b, size):
    theirs = np.asarray(getattr(np_rng(), fn)(a, b, size))
    for dtype in (np.float32, np.float64):
        ours = getattr(fg, fn)(a, b, size, dtype=dtype, rng=1)
        assert np.shape(ours) == theirs.shape
        assert np.asarray(ours).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_bounded_uniform_is_the_unit_uniform_stretched(dtype):
    k = fg.Key(21, 3)
    u = fg.uniform(size=(40, 7), dtype=dtype, rng=k)
    assert np.array_equal(fg.uniform(0, 1, (40, 7), dtype=dtype, rng=k), u)
    assert np.array_equal(fg.uniform(0.0, np.ones(7), (40, 7), dtype=dtype, rng=k), u)
    lo, hi = np.linspace(-3, 2, 7), np.linspace(-1, 40, 7)
    x = fg.uniform(lo, hi, (40, 7), dtype=dtype, rng=k)
    ref = (lo + (hi - lo) * u.astype(np.float64)).astype(dtype)
    assert np.array_equal(x, ref)


@pytest.mark.parametrize("low, high, dtype", [
    (1.0, 1.0 + 2**-52, np.float64),        # one ulp wide: only low is below high
    (0.999, 1.0, np.float32),               # values round up to 1.0f
    (-1.0, -1.0 + 2**-20, np.float32),
    (1e300, 1e300 * (1 + 2**-50), np.float64),
    (4.0, 4.0, np.float64),
])
def test_bounded_uniform_never_returns_high(low, high, dtype):
    x = fg.uniform(low, high, 200_000, dtype=dtype, rng=5)
    lo, hi = np.asarray(low).astype(dtype), np.asarray(high).astype(dtype)
    assert (x >= lo).all()
    assert (x < hi).all() if lo < hi else (x == lo).all()


def test_bounded_uniform_scalar_and_out():
    x = fg.uniform(2.0, 3.0, rng=1)
    assert isinstance(x, np.float32) and 2 <= x < 3
    out = np.empty((3, 2), np.float64)
    assert fg.uniform([0.0, 10.0], [1.0, 11.0], rng=1, out=out) is out
    assert np.array_equal(out, fg.uniform([0.0, 10.0], [1.0, 11.0], (3, 2), dtype=np.float64,
                                          rng=1))


def test_dask_follows_numpy_order():
    da = pytest.importorskip("dask.array")
    dx = da.zeros((9, 5), chunks=(4, 5))
    k = fg.Key(8)
    lazy = fg.gumbel(1.5, 2.0, (9, 5), rng=k, like=dx)
    assert lazy.dtype == np.float32
    assert np.allclose(lazy.compute(), fg.gumbel(1.5, 2.0, (9, 5), rng=k), rtol=1e-6)
    lo, hi = np.arange(5.0), np.arange(5.0) + 2
    lazy = fg.uniform(lo, hi, (9, 5), rng=k, like=dx)
    assert type(lazy).__name__ == "Array"
    assert np.array_equal(lazy.compute(), fg.uniform(lo, hi, (9, 5), rng=k))
    dlo = da.from_array(lo, chunks=2)
    lazy = fg.uniform(dlo, 10.0, rng=k)
    assert lazy.shape == (5,) and type(lazy).__name__ == "Array"
    assert np.array_equal(lazy.compute(), fg.uniform(lo, 10.0, rng=k))
    assert fg.gumbel(dlo, 1.0, (3, 5), rng=k).compute().shape == (3, 5)
    with pytest.raises(ValueError, match="do not broadcast"):
        fg.gumbel(dlo, 1.0, 7, rng=k)
    with pytest.raises(ValueError, match="high must be >= low"):
        fg.uniform(1.0, 0.0, (9, 5), rng=k, like=dx)


# ----------------------------------------------------------------------------------------
# distributions


N = 200_000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_is_uniform(dtype):
    u = fg.default_rng(1).random(N, dtype=dtype)
    assert ((0 < u) & (u < 1)).all()
    assert stats.kstest(u, "uniform").pvalue > ALPHA


def test_uniform_bounds_distribution():
    x = fg.default_rng(2).uniform(-3.0, 5.0, N)
    assert ((-3 <= x) & (x < 5)).all()
    assert stats.kstest(x, stats.uniform(-3.0, 8.0).cdf).pvalue > ALPHA
    cols = fg.default_rng(3).uniform([0.0, 100.0], [1.0, 101.0], (N // 2, 2))
    assert stats.kstest(cols[:, 1] - 100.0, "uniform").pvalue > ALPHA


def test_gumbel_distribution():
    g = fg.default_rng(4).gumbel(2.0, 3.0, N)
    assert g.dtype == np.float64
    assert stats.kstest(g, stats.gumbel_r(2.0, 3.0).cdf).pvalue > ALPHA
    g = fg.default_rng(5).gumbel([0.0, -1.0], [1.0, 0.5], (N // 2, 2))
    assert stats.kstest(g[:, 1], stats.gumbel_r(-1.0, 0.5).cdf).pvalue > ALPHA


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standard_exponential_distribution(dtype):
    e = fg.default_rng(6).standard_exponential(N, dtype=dtype)
    assert e.dtype == dtype and (e > 0).all() and np.isfinite(e).all()
    assert stats.kstest(e, "expon").pvalue > ALPHA
    # moments: mean 1, variance 1
    assert abs(e.mean() - 1) < 5 / math.sqrt(N)
    assert abs(e.var() - 1) < 12 / math.sqrt(N)


def test_exponential_distribution_and_scale():
    e = fg.default_rng(7).exponential(2.5, N)
    assert stats.kstest(e, stats.expon(scale=2.5).cdf).pvalue > ALPHA
    a = fg.default_rng(8).exponential(1.0, 1000)
    b = fg.default_rng(8).standard_exponential(1000)
    assert np.array_equal(a, b)
    c = fg.default_rng(8).exponential([1.0, 4.0], (500, 2))
    d = fg.default_rng(8).standard_exponential((500, 2))
    assert np.array_equal(c, np.array([1.0, 4.0]) * d)


def test_exponential_is_minus_log_u_of_the_stream():
    """E = exp(-g) equals -log(U) of the same key's float64 uniform, checked where U is
    exact (U < 1/2, where U = t of the spec): within 2e-14 relative."""
    k = fg.Key(31)
    e = fg.default_rng(31).standard_exponential(100_000)
    assert fg.default_rng(31).next_key() == k
    u = fg.uniform(size=100_000, dtype=np.float64, rng=k)
    low = u < 0.5
    rel = np.abs(e[low] + np.log(u[low])) / e[low]
    assert rel.max() < 2e-14
    # and -log(E) is the Gumbel noise of the key, to the rounding of exp and log
    g = fg.gumbel(size=100_000, dtype=np.float64, rng=k)
    assert np.allclose(-np.log(e), g, rtol=1e-14, atol=1e-15)


def chi2_pvalue(counts, p):
    keep = np.asarray(p) > 0
    expected = np.asarray(p)[keep] * counts.sum()
    return stats.chisquare(counts[keep], expected).pvalue


def test_choice_with_replacement_frequencies():
    p = np.array([0.05, 0.0, 0.15, 0.3, 0.5])
    d = fg.default_rng(9).choice(5, N, p=p)
    counts = np.bincount(d, minlength=5)
    assert counts[1] == 0
    assert chi2_pvalue(counts, p) > ALPHA
    d = fg.default_rng(10).choice(7, N)
    assert chi2_pvalue(np.bincount(d, minlength=7), np.full(7, 1 / 7)) > ALPHA


def test_choice_without_replacement():
    rng = fg.default_rng(11)
    p = np.array([0.4, 0.3, 0.2, 0.1, 0.0])
    firsts = np.empty(4000, np.int64)
    for i in range(len(firsts)):
        d = rng.choice(5, 4, replace=False, p=p)
        assert len(set(d.tolist())) == 4 and 4 not in d
        firsts[i] = d[0]
    assert chi2_pvalue(np.bincount(firsts, minlength=5), p) > ALPHA
    # the second draw: P(j second) = sum_i p_i p_j / (1 - p_i)
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j)
                       for j in range(5)])
    d2 = np.array([rng.choice(5, 2, replace=False, p=p)[1] for _ in range(4000)])
    assert chi2_pvalue(np.bincount(d2, minlength=5), second) > ALPHA
    perm = rng.choice(1000, 1000, replace=False)
    assert sorted(perm.tolist()) == list(range(1000))
    big = rng.choice(100_000, (20, 50), replace=False)
    assert big.shape == (20, 50) and len(np.unique(big)) == 1000


def test_choice_along_an_axis():
    a = np.arange(60).reshape(3, 4, 5)
    rng = fg.default_rng(12)
    for axis in (0, 1, 2, -1):
        ax = axis % 3
        picked = rng.choice(a, (2, 6), axis=axis)
        assert picked.shape == a.shape[:ax] + (2, 6) + a.shape[ax + 1:]
        # every picked slice is one of a's slices along axis
        rows = np.moveaxis(picked, (ax, ax + 1), (0, 1)).reshape(12, -1)
        items = np.moveaxis(a, ax, 0).reshape(a.shape[ax], -1)
        assert all(any(np.array_equal(r, i) for i in items) for r in rows)
        unique = rng.choice(a, a.shape[ax], replace=False, axis=axis)
        assert np.array_equal(np.sort(unique, axis=ax), a)
    assert rng.choice(a, axis=1).shape == (3, 5)


def test_generator_advances_and_replays():
    rng = fg.default_rng(13)
    draws = [rng.random(3), rng.uniform(size=3), rng.gumbel(size=3), rng.exponential(size=3),
             rng.standard_exponential(3), rng.choice(1000, 3)]
    assert rng.streams_used == len(draws)       # one key per call
    assert not np.array_equal(draws[0], draws[1])
    again = fg.default_rng(13)
    assert np.array_equal(again.random(3), draws[0])
    assert np.array_equal(fg.uniform(size=3, dtype=np.float64, rng=fg.Key(13, 0)), draws[0])
    assert np.array_equal(fg.gumbel(size=3, dtype=np.float64, rng=fg.Key(13, 2)), draws[2])
