"""Conditional Gumbel noise (fg.conditional_gumbel) and the Gumbel-Rao backward
(fg.gumbel_rao_backward): exact against a float64 / long-double reference written from
docs/rng.md (conditional field) and the formulas; laws checked by KS tests with fixed
seeds; the gradient against an independent rejection-sampling estimate of the conditional
expectation."""
import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg
from conftest import fold, ref_words

COND = 1 << 63
SHIFT = 40


def ref_exponential(key, rows, K, bits64, sample):
    """E = -log(U) of the conditional field, sample ``sample``, rows 0 .. rows-1."""
    s, t = fold(ref_words(key, rows, K, bits64, row0=COND | (sample << SHIFT)), bits64)
    return np.where(s, -np.log1p(-t), -np.log(t))


def ref_conditional(x, idx, key, sample, bits64):
    """The conditional noise of docs/rng.md in long double; x (rows, K), idx (rows,)."""
    x = x.astype(np.longdouble)
    rows, K = x.shape
    E = ref_exponential(key, rows, K, bits64, sample)
    r = np.arange(rows)
    m = x.max(axis=1, keepdims=True)
    Z = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    gj = Z - x[r, idx] - np.log(E[r, idx])
    M = x[r, idx] + gj
    g = -np.log(E + np.exp(x - M[:, None]))
    g[r, idx] = gj
    return g


def ref_vjp(G, x, g, tau):
    """(grad_x, grad_tau per row) of <G, softmax((x + g) / tau)> in float64."""
    z = (x + g) / tau
    z = z - z.max(axis=-1, keepdims=True)
    y = np.exp(z)
    y /= y.sum(axis=-1, keepdims=True)
    gz = y * (G - (G * y).sum(axis=-1, keepdims=True))
    gt = -(gz * np.where(y > 0, z, 0.0)).sum(axis=-1, keepdims=True) / tau   # tau: (..., 1) ok
    return gz / tau, gt[..., 0]


def random_logits(rs, shape, dtype, masked=0.0):
    x = (rs.standard_normal(shape) * 3).astype(dtype)
    if masked:
        x[rs.random(shape) < masked] = -np.inf
        x[..., 0] = np.where(np.isneginf(x[..., 0]), 0, x[..., 0])   # a finite logit per row
    return x


def problem(rs, shape, dtype, masked):
    """(logits, upstream gradient, key, the key's Gumbel-max index) on fresh random inputs."""
    x = random_logits(rs, shape, dtype, masked=masked)
    G = rs.standard_normal(x.shape).astype(dtype)
    key = fg.Key(int(rs.integers(2**63)))
    return x, G, key, fg.gumbel_max(x, rng=key)


def finite_index(rs, x):
    """A random index per row among the finite logits."""
    w = np.where(np.isfinite(x), rs.random(x.shape), -1.0)
    return np.argmax(w, axis=-1)


@pytest.mark.parametrize("dtype,precision", [(np.float32, "default"), (np.float32, "high"),
                                             (np.float64, "default")])
def test_matches_reference_and_keeps_argmax(dtype, precision):
    rs = np.random.default_rng()
    x = random_logits(rs, (37, 300), dtype, masked=0.2)
    idx = finite_index(rs, x)
    key = fg.Key(int(rs.integers(2**63)), int(rs.integers(2**32)))
    g = fg.conditional_gumbel(x, idx, rng=key, samples=3, precision=precision)
    assert g.shape == (3,) + x.shape and g.dtype == dtype and np.isfinite(g).all()
    bits64 = precision == "high" or dtype == np.float64
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for s in range(3):
        assert (np.argmax(x + g[s], axis=-1) == idx).all()
        ref = ref_conditional(x, idx, key, s, bits64).astype(np.float64)
        scale = 1 + np.abs(np.where(np.isfinite(x), x, 0))
        assert np.all(np.abs(g[s] - ref) <= tol * (scale + np.abs(ref))), s
    # masked categories: the perturbed value is -inf, the noise the unconditional variate
    m = np.isneginf(x)
    E = ref_exponential(key, *x.shape, bits64, 0)
    assert np.allclose(g[0][m], -np.log(E[m]).astype(np.float64), rtol=tol, atol=tol)
    assert np.array_equal(fg.conditional_gumbel(x, idx, rng=key, precision=precision), g[0])


def test_axis_float16_and_shapes():
    rs = np.random.default_rng(1)
    x = rs.standard_normal((5, 2, 7)).astype(np.float16)
    idx = rs.integers(0, 5, (2, 7))
    g = fg.conditional_gumbel(x, idx, axis=0, rng=3, samples=2)
    assert g.shape == (2, 5, 2, 7) and g.dtype == np.float16
    g32 = fg.conditional_gumbel(np.moveaxis(x, 0, -1).astype(np.float32), idx, rng=3,
                                samples=2)
    # computed in float32, rounded once; where rounding ties the maximum, lowered below it
    same = np.moveaxis(g, 1, -1) == g32.astype(np.float16)
    assert same.mean() > 0.95
    assert (np.argmax(x + g, axis=1) == idx).all()
    assert fg.conditional_gumbel(np.zeros((0, 4)), np.zeros(0, int), rng=1).shape == (0, 4)
    assert fg.conditional_gumbel(np.zeros(4), 2, rng=1).shape == (4,)


@pytest.mark.parametrize("dtype,big,gap", [(np.float32, 1e8, 5), (np.float64, 1e17, 20),
                                           (np.float16, 3e4, 16)])
def test_rounding_ties_keep_the_argmax(dtype, big, gap):
    """Logits so large that x + g rounds onto the maximum: the tie is broken downward."""
    x = np.full((200, 50), big, dtype)
    x[:, ::3] -= dtype(gap)
    x[:, 7] = -np.inf
    idx = np.random.default_rng(0).integers(0, 6, 200)
    g = fg.conditional_gumbel(x, idx, rng=2, samples=4)
    assert np.isfinite(g).all()
    assert (np.argmax(x + g, axis=-1) == idx).all()


def test_independent_of_forward_noise():
    x = np.zeros((4, 64), np.float32)
    key = fg.Key(9)
    idx = fg.gumbel_max(x, rng=key)
    g = fg.conditional_gumbel(x, idx, rng=key)
    assert not np.isclose(g, fg.gumbel(size=x.shape, rng=key)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_laws_of_maximum_and_truncated_coordinates(dtype):
    x = np.array([1.0, -0.5, 0.3, 2.0, -np.inf], dtype)
    j = 1
    N = 20000
    g = fg.conditional_gumbel(x, j, rng=fg.Key(21), samples=N).astype(np.float64)
    v = x.astype(np.float64) + g
    Z = np.logaddexp.reduce(x.astype(np.float64))
    M = v[:, j]
    assert stats.kstest(M - Z, "gumbel_r").pvalue > 1e-3
    for i in (0, 2, 3):
        # P(V <= v | M) = exp(e^{x_i - M} - e^{x_i - v}) for v <= M: uniform under the law
        u = np.exp(np.exp(x[i] - M) - np.exp(x[i] - v[:, i]))
        assert stats.kstest(u, "uniform").pvalue > 1e-3, i
    assert np.isneginf(v[:, 4]).all() and np.isfinite(g[:, 4]).all()
    assert stats.kstest(g[:, 4], "gumbel_r").pvalue > 1e-3


def test_mixture_over_index_is_unconditional_gumbel():
    x = np.array([0.5, -1.0, 2.0, 0.0, -3.0], np.float32)
    N = 30000
    rs = np.random.default_rng(5)
    p = np.exp(x - np.logaddexp.reduce(x))
    idx = rs.choice(5, size=N, p=p / p.sum())
    g = fg.conditional_gumbel(np.broadcast_to(x, (N, 5)), idx, rng=fg.Key(8)).astype(np.float64)
    for i in range(5):
        assert stats.kstest(g[:, i], "gumbel_r").pvalue > 1e-3, i
    # and the perturbed maximum is Gumbel(logsumexp) whatever the index
    assert stats.kstest((x + g).max(axis=1) - np.logaddexp.reduce(x), "gumbel_r").pvalue > 1e-3


@pytest.mark.parametrize("bad,err,match", [
    (dict(x=[0.0, np.nan], index=0), ValueError, "NaN"),
    (dict(x=[0.0, np.inf], index=0), ValueError, r"\+inf"),
    (dict(x=[0.0, -np.inf], index=1), ValueError, "index 1 of row 0 points at a -inf"),
    (dict(x=[0.0, 1.0], index=2), ValueError, r"index must lie in \[0, 2\); got 2"),
    (dict(x=[0.0, 1.0], index=-1), ValueError, "got -1"),
    (dict(x=[[0.0, 1.0]], index=[0, 1]), ValueError, "index has shape"),
    (dict(x=[0.0, 1.0], index=0.5), TypeError, "integer array"),
    (dict(x=[0.0, 1.0], index=0, samples=0), ValueError, "samples must be in"),
    (dict(x=[0.0, 1.0], index=0, samples=2.0), TypeError, "samples must be a positive"),
    (dict(x=[1, 2], index=0), TypeError, "logits"),
    (dict(x=np.array([3e38, -3e38], np.float32), index=1), ValueError, "would overflow"),
    (dict(x=np.array([6e4, -6e4], np.float16), index=1), ValueError, "overflow float16"),
])
def test_errors(bad, err, match):
    kw = dict(bad)
    x = np.array(kw.pop("x"))
    index = kw.pop("index")
    with pytest.raises(err, match=match):
        fg.conditional_gumbel(x, index, rng=1, **kw)


def test_backward_errors():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="samples must be a positive"):
        fg.gumbel_rao_backward(x, x, 1.0, [0, 0], samples=None, rng=1)
    with pytest.raises(ValueError, match="tau must be"):
        fg.gumbel_rao_backward(x, x, -1.0, [0, 0], samples=2, rng=1)
    with pytest.raises(ValueError, match="grad has shape"):
        fg.gumbel_rao_backward(x[:1], x, 1.0, [0, 0], samples=2, rng=1)


def check_against_reference(G, x, tau, idx, key, S, gx, gt):
    """gx, gt against the mean of float64 VJPs of the reference conditional samples."""
    dtype = x.dtype
    bits64 = dtype == np.float64
    ref_x = np.zeros(x.shape)
    ref_t = 0.0
    for s in range(S):
        g = ref_conditional(x, idx, key, s, bits64).astype(np.float64)
        a, b = ref_vjp(G.astype(np.float64), x.astype(np.float64), g, tau)
        ref_x += a / S
        ref_t += b.sum() / S
    tol = 1e-10 if dtype == np.float64 else 2e-4
    scale = np.abs(G).max() / tau
    assert np.abs(gx - ref_x).max() <= tol * scale
    assert abs(float(gt) - ref_t) <= tol * (1 + abs(ref_t)) * 10 * x.shape[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_long_rows(dtype):
    """Rows of several noise chunks (cpu CHUNK = 2048 columns), the index in each chunk."""
    rs = np.random.default_rng()
    x = random_logits(rs, (3, 4100), dtype, masked=0.05)
    x[:, [5, 2050, 4099]] = rs.standard_normal((3, 3))         # finite at the indices
    G = rs.standard_normal(x.shape).astype(dtype)
    key = fg.Key(int(rs.integers(2**63)))
    idx = np.array([4099, 2050, 5])
    gx, gt = fg.gumbel_rao_backward(G, x, 0.7, idx, samples=3, rng=key)
    check_against_reference(G, x, 0.7, idx, key, 3, gx, gt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tau", [0.5, 1.0, 2.3])
def test_backward_matches_mean_of_reference_vjps(dtype, tau):
    x, G, key, idx = problem(np.random.default_rng(), (9, 130), dtype, 0.1)
    S = 5
    gx, gt = fg.gumbel_rao_backward(G, x, tau, idx, samples=S, rng=key)
    assert gx.dtype == dtype and gt.dtype == dtype
    check_against_reference(G, x, tau, idx, key, S, gx, gt)
    # the same samples as conditional_gumbel with the same key
    g = fg.conditional_gumbel(x, idx, rng=key, samples=S).astype(np.float64)
    alt = np.mean([ref_vjp(G.astype(np.float64), x.astype(np.float64), g[s], tau)[0]
                   for s in range(S)], axis=0)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert np.abs(gx - alt).max() <= tol * np.abs(G).max() / tau * 10


def test_tau_gradient_is_the_derivative():
    rs = np.random.default_rng(3)
    x = rs.standard_normal((1, 6))
    G = rs.standard_normal((1, 6))
    g = fg.conditional_gumbel(x, [2], rng=4).astype(np.float64)
    f = lambda t: float((G * np.exp((x + g) / t - np.logaddexp.reduce((x + g) / t, axis=-1))).sum())
    h = 1e-6
    _, gt = ref_vjp(G, x, g, 0.7)
    assert abs((f(0.7 + h) - f(0.7 - h)) / (2 * h) - gt[0]) < 1e-7
    gx, gt1 = fg.gumbel_rao_backward(G, x, 0.7, [2], samples=1, rng=4)
    assert abs(float(gt1) - gt[0]) < 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_row_tau_matches_scalar_calls(dtype):
    """Row r with tau[r] gives the bits of the scalar call with tau[r]; grad_tau has tau's
    shape (both per-row forms, and one broadcast over a leading axis)."""
    rs = np.random.default_rng()
    x = rs.standard_normal((3, 4, 17)).astype(dtype)
    G = rs.standard_normal(x.shape).astype(dtype)
    key = fg.Key(int(rs.integers(2**63)))
    idx = fg.gumbel_max(x, rng=key)
    tau = rs.uniform(0.3, 2.0, (3, 4))
    parts = [fg.gumbel_rao_backward(G, x, t, idx, samples=3, rng=key) for t in np.unique(tau)]
    for form in (tau, tau[..., None]):
        gx, gt = fg.gumbel_rao_backward(G, x, form, idx, samples=3, rng=key)
        assert gx.dtype == dtype and gt.shape == form.shape
        for t, (px, _) in zip(np.unique(tau), parts):
            assert np.array_equal(gx[tau == t], px[tau == t])
    g = fg.conditional_gumbel(x, idx, rng=key, samples=3).astype(np.float64)
    ref = np.mean([ref_vjp(G.astype(np.float64), x.astype(np.float64), g[s], tau[..., None])[1]
                   for s in range(3)], axis=0)
    np.testing.assert_allclose(gt.reshape(ref.shape), ref,
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
    t4 = tau[0]                                     # (4,): broadcast over the leading axis
    gx, gt = fg.gumbel_rao_backward(G, x, t4, idx, samples=3, rng=key)
    assert gt.shape == (4,)
    _, gsum = fg.gumbel_rao_backward(G, x, np.broadcast_to(t4, (3, 4)), idx, samples=3,
                                     rng=key)
    np.testing.assert_allclose(gt, gsum.sum(axis=0), rtol=1e-5 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="tau has shape"):
        fg.gumbel_rao_backward(G, x, np.ones((3, 4, 17)), idx, samples=3, rng=key)
    with pytest.raises(ValueError, match="tau must be finite"):
        fg.gumbel_rao_backward(G, x, -tau, idx, samples=3, rng=key)


def test_forward_index_is_hard_sample_argmax():
    rs = np.random.default_rng()
    x = rs.standard_normal((50, 40)).astype(np.float32)
    key = fg.Key(int(rs.integers(2**63)))
    for tau in (0.5, 1.0):
        hard = fg.gumbel_softmax(x, tau, hard=True, rng=key)
        assert np.array_equal(np.argmax(hard, axis=-1), fg.gumbel_max(x, rng=key))


@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_backward_agrees_with_rejection_sampling(tau):
    """Independent float64 estimate of E[vjp(y) | argmax = j]: unconditional NumPy Gumbel
    noise kept where the argmax is j. Agreement within 5 standard errors."""
    x = np.array([[0.4, -0.3, 1.1, -1.0]])
    G = np.array([[1.0, -0.5, 0.25, 2.0]])
    rs = np.random.default_rng(11)
    for j in (0, 2, 3):
        n = 400_000
        g = rs.gumbel(size=(n, 4))
        keep = np.argmax(x + g, axis=1) == j
        a, b = ref_vjp(G, x, g[keep], tau)
        S = 200_000
        gx, gt = fg.gumbel_rao_backward(G, x, tau, [j], samples=S, rng=fg.Key(40 + j))
        se = a.std(axis=0) * np.sqrt(1 / keep.sum() + 1 / S)
        assert np.all(np.abs(gx[0] - a.mean(axis=0)) <= 5 * se + 1e-12), (j, gx, a.mean(0), se)
        se_t = b.std() * np.sqrt(1 / keep.sum() + 1 / S)
        assert abs(float(gt) - b.mean()) <= 5 * se_t, (j, gt, b.mean(), se_t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_tau_gradient_is_the_exact_sum_of_row_gradients(dtype):
    """A scalar tau's gradient is summed over rows inside the kernel, exactly: it is the
    correctly rounded sum (math.fsum) of the per-row gradients that a per-row tau of the same
    value gives, for any thread count, and it agrees with the float64 reference."""
    import math
    import numba
    x, G, key, idx = problem(np.random.default_rng(), (300, 40), dtype, 0.05)
    tau = 0.7
    _, rows = fg.gumbel_rao_backward(G, x, np.full((300, 1), tau), idx, samples=3, rng=key)
    exact = np.float64(math.fsum(rows.astype(np.float64).ravel())).astype(dtype)
    before = numba.get_num_threads()
    try:
        for n in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(n)
            gx, gt = fg.gumbel_rao_backward(G, x, tau, idx, samples=3, rng=key)
            assert gt.dtype == dtype and gt.shape == ()
            assert gt == exact
    finally:
        numba.set_num_threads(before)
    check_against_reference(G, x, tau, idx, key, 3, gx, gt)


@pytest.mark.parametrize("dtype,bits64", [(np.float32, False), (np.float32, True),
                                          (np.float64, True)])
def test_rows_without_row_buffers_have_the_same_bits(dtype, bits64):
    """The kernel makes a row in the output rows of the rows it holds back, and the last
    rows a worker holds in TAIL-column buffers, each sample made twice
    (cpu/_rao.py): the same bits. Each row alone (a one-row call takes the
    buffer-free path) against the same rows in one call (mostly the row path), for rows
    shorter than TAIL, of one lane block, longer than TAIL and longer than CHUNK, with an
    index in each chunk and per-row tau 1, 0.5 (the division forms) and 0.7, with and
    without the tau gradient; float32 rows whose Philox words do not fit in an output row
    (64-bit words) take their own word buffer."""
    from fastgumbel import cpu
    from fastgumbel._core import key_args
    rs = np.random.default_rng()
    key = key_args(fg.Key(int(rs.integers(2**63))))
    for K in (5, 64, 300, 2100):
        x = random_logits(rs, (13, K), dtype, masked=0.05)
        G = rs.standard_normal(x.shape).astype(dtype)
        idx = finite_index(rs, x)
        idx[-1] = K - 1
        x[-1, -1] = 0.5
        tau = np.resize([1.0, 0.5, 0.7], 13)
        for tau_out in (0, 1):
            def run(r0, r1):
                gx = np.empty((r1 - r0, K), dtype)
                gt = np.zeros(r1 - r0, dtype)
                cpu.gumbel_rao_rows(G[r0:r1], x[r0:r1], idx[r0:r1], gx, gt,
                                    np.zeros(cpu.EXACT_SLOTS, np.int64), 3, r0, *key, bits64,
                                    tau[r0:r1], tau_out)
                return gx, gt
            gx, gt = run(0, 13)
            assert np.isfinite(gx).all()
            for r in range(13):
                one, t = run(r, r + 1)
                assert one.tobytes() == gx[r:r + 1].tobytes(), (K, tau_out, r)
                assert t.tobytes() == gt[r:r + 1].tobytes(), (K, tau_out, r)


@pytest.mark.parametrize("tau", [0.5, 1.0, 0.7])
def test_without_tau_gradient_same_logit_gradient(tau):
    """The bridges' call for a tau that takes no gradient skips the tau term: the same
    grad_logits bits, no grad_tau."""
    from fastgumbel import _rao
    rs = np.random.default_rng()
    for dtype in (np.float32, np.float64):
        x, G, key, idx = problem(rs, (7, 2100), dtype, 0.05)
        gx, _ = fg.gumbel_rao_backward(G, x, tau, idx, samples=2, rng=key)
        gx0, gt0 = _rao.gumbel_rao_backward(G, x, tau, idx, 2, -1, key, "default", "cpu", False)
        assert gt0 is None and np.array_equal(gx, gx0)


def test_exact_sum():
    """cpu._exactsum against math.fsum: any order, any split among accumulators, values
    from subnormal to near overflow; NaN and infinities."""
    import math
    from numba import njit
    from fastgumbel.cpu import _exactsum as es

    @njit
    def sums(v, parts):
        accs = np.zeros((parts, es.SLOTS), np.int64)
        for i in range(v.shape[0]):
            es.exact_add(accs[i % parts], v[i])
        out = np.zeros(es.SLOTS, np.int64)
        es.exact_merge(accs, out)
        return out

    rs = np.random.default_rng()
    for trial in range(60):
        n = int(rs.integers(1, 400))
        v = rs.standard_normal(n) * np.exp2(rs.integers(-1074, 1000, n) / (1 + trial % 3 * 20))
        v = v[np.isfinite(v)]
        if trial % 5 == 0:
            v = np.concatenate([v, -v[: n // 2]])     # cancellation
        ref = math.fsum(v)
        for parts in (1, 3):
            assert es.exact_total(sums(rs.permutation(v), parts)) == ref
    big = np.finfo(np.float64).max
    assert es.exact_total(sums(np.array([big, big]), 1)) == np.inf
    assert es.exact_total(sums(np.array([-big, -big, 1.0]), 2)) == -np.inf
    assert es.exact_total(sums(np.array([5e-324, 5e-324]), 2)) == 1e-323
    assert es.exact_total(sums(np.array([np.inf, 1.0]), 1)) == np.inf
    assert math.isnan(es.exact_total(sums(np.array([np.inf, -np.inf]), 2)))
    assert math.isnan(es.exact_total(sums(np.array([1.0, np.nan]), 1)))
    assert es.exact_total(sums(np.zeros(0), 1)) == 0.0
