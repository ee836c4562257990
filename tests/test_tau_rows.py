"""Per-row temperatures (the contract of notes/tau_contract: forms A and B).

Row r with tau[r] must give the bits of the scalar call with tau = tau[r] (same noise per
row); gradients with respect to a per-row tau are checked against float64 finite
differences; the density against a float64 evaluation of the Concrete formula and against
torch.distributions.RelaxedOneHotCategorical with batched temperatures.
"""
import math

import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel.cpu import CHUNK

TAUS = np.array([0.5, 1.0, 2.0, 0.1, 1.0, 3.3, 0.05, 0.7])


def _rows(x, axis):
    """The rows of x along ``axis`` as a (rows, K) view (the sampling axis last)."""
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("K", [37, CHUNK + 100])
@pytest.mark.parametrize("mode", ["soft", "hard", "log"])
def test_rows_equal_scalar_calls(dtype, K, mode):
    rs = np.random.default_rng()
    rows = 8 if K < CHUNK else 2        # 2 long rows: the (row, chunk) kernel
    taus = rs.permutation(TAUS)[:rows]
    x = (rs.standard_normal((rows, K)) * 2).astype(dtype)
    key = fg.Key(int(rs.integers(2**63)))

    def call(t):
        if mode == "log":
            return fg.gumbel_log_softmax(x, t, rng=key)
        return fg.gumbel_softmax(x, t, hard=mode == "hard", rng=key)

    a = call(taus[:, None])         # form A, torch's (B, 1)
    b = call(taus)                  # form B, TFP's (B,)
    assert a.dtype == x.dtype and a.shape == x.shape
    if mode == "hard":              # one-hot of the soft sample's argmax, every row
        soft = fg.gumbel_softmax(x, taus, rng=key)
        idx = a.argmax(-1)
        assert np.array_equal(a, np.eye(K, dtype=dtype)[idx])
        # the soft sample in the result dtype may round two entries to the same largest value
        # (float16): the hard index is one of them, the argmax of the unrounded sample
        assert np.array_equal(soft[np.arange(rows), idx], soft.max(-1))
    for r in range(rows):
        one = call(float(taus[r]))
        assert np.array_equal(one[r], a[r], equal_nan=True), r
        assert np.array_equal(one[r], b[r], equal_nan=True), r


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_axis_and_broadcast(axis):
    """A 3-D array, any category axis; tau broadcast over some batch dimensions."""
    rs = np.random.default_rng()
    x = rs.standard_normal((3, 4, 5)).astype(np.float32)
    key = fg.Key(int(rs.integers(2**63)))
    lead = tuple(s for i, s in enumerate(x.shape) if i != axis % 3)
    t_lead = rs.uniform(0.1, 3.0, lead)
    forms = [t_lead,                                         # B, full batch shape
             np.expand_dims(t_lead, axis % 3),               # A
             t_lead[:1],                                     # B, broadcast over dim 0
             t_lead[:, :1]]                                  # B, broadcast over dim 1
    for tau in forms:
        y = fg.gumbel_softmax(x, tau, axis=axis, rng=key)
        full = np.broadcast_to(tau if tau.ndim == 2 else np.squeeze(tau, axis % 3), lead)
        yr = _rows(y, axis)
        for r, t in enumerate(full.reshape(-1)):
            assert np.array_equal(_rows(fg.gumbel_softmax(x, float(t), axis=axis, rng=key),
                                        axis)[r], yr[r])


def test_single_value_array_and_tau_one():
    rs = np.random.default_rng()
    x = rs.standard_normal((4, 9))
    key = fg.Key(5)
    for t in (np.array([0.3]), np.array([[0.3]]), [0.3, 0.3, 0.3, 0.3]):
        assert np.array_equal(fg.gumbel_softmax(x, t, rng=key), fg.gumbel_softmax(x, 0.3, rng=key))
    # rows at tau == 1 take the one-log path, the others the general one: same bits per row
    t = np.array([1.0, 0.5, 1.0, 2.0])
    y = fg.gumbel_softmax(x, t, rng=key)
    assert np.array_equal(y[0], fg.gumbel_softmax(x, 1.0, rng=key)[0])
    assert np.array_equal(y[1], fg.gumbel_softmax(x, 0.5, rng=key)[1])


def _loss(x, tau, G, key, axis):
    return float(np.sum(G * fg.gumbel_softmax(x, tau, axis=axis, rng=key)))


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("form", ["A", "B", "broadcast"])
def test_backward_against_finite_differences(axis, form):
    rs = np.random.default_rng()
    x = rs.standard_normal((4, 6))
    G = rs.standard_normal((4, 6))
    key = fg.Key(int(rs.integers(2**63)))
    n = x.shape[1 if axis == 0 else 0]
    tau = {"A": rs.uniform(0.2, 3.0, (n, 1) if axis == -1 else (1, n)),
           "B": rs.uniform(0.2, 3.0, n),
           "broadcast": rs.uniform(0.2, 3.0, 1)}[form]
    y = fg.gumbel_softmax(x, tau, axis=axis, rng=key)
    saved = fg.gumbel_softmax_backward(G, tau, y_soft=y, axis=axis)
    recomputed = fg.gumbel_softmax_backward(G, tau, logits=x, rng=key, axis=axis)
    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (_loss(x + e, tau, G, key, axis) - _loss(x - e, tau, G, key, axis)) / (2 * h)
    num_tau = np.zeros_like(tau)
    for i in np.ndindex(tau.shape):
        e = np.zeros_like(tau)
        e[i] = h
        num_tau[i] = (_loss(x, tau + e, G, key, axis) - _loss(x, tau - e, G, key, axis)) / (2 * h)
    for gx, gt in (saved, recomputed):
        assert gx.shape == x.shape and gt.shape == tau.shape and gt.dtype == np.float64
        assert np.allclose(gx, num, rtol=1e-5, atol=1e-8)
        assert np.allclose(gt, num_tau, rtol=1e-5, atol=1e-8)
    assert np.array_equal(saved[0], recomputed[0])
    assert np.array_equal(saved[1], recomputed[1])


def test_backward_rows_equal_scalar_calls():
    """Each row's gradients are those of the scalar call; grad_tau per element is its
    row's share, which the scalar call sums over all rows."""
    rs = np.random.default_rng()
    x = rs.standard_normal((6, 50)).astype(np.float32)
    G = rs.standard_normal((6, 50)).astype(np.float32)
    key = fg.Key(int(rs.integers(2**63)))
    taus = TAUS[:6]
    gx, gt = fg.gumbel_softmax_backward(G, taus, logits=x, rng=key)
    assert gt.shape == (6,) and gt.dtype == np.float32
    for r in range(6):
        y = fg.gumbel_softmax(x, float(taus[r]), rng=key)
        sx, st = fg.gumbel_softmax_backward(G[r:r + 1], float(taus[r]), y_soft=y[r:r + 1])
        assert np.array_equal(sx[0], gx[r])
        assert st == gt[r]


def test_backward_grad_tau_sums_over_shared_rows():
    rs = np.random.default_rng()
    x = rs.standard_normal((2, 3, 7))
    G = rs.standard_normal((2, 3, 7))
    key = fg.Key(3)
    per_row = rs.uniform(0.3, 2.0, (2, 1))          # form B: one tau per outer index
    full = np.broadcast_to(per_row, (2, 3))
    g1 = fg.gumbel_softmax_backward(G, per_row, logits=x, rng=key)[1]
    g2 = fg.gumbel_softmax_backward(G, np.ascontiguousarray(full), logits=x, rng=key)[1]
    assert g1.shape == (2, 1) and g2.shape == (2, 3)
    assert np.allclose(g1[:, 0], g2.sum(1), rtol=1e-12)


# ----------------------------------------------------------------------------------------
# the density with batched temperatures (adapted from TFP's RelaxedOneHotCategorical testPdf)


def concrete_pdf(x, temperature, logits):
    """The Concrete density (Maddison et al. 2016, eq. 3) evaluated in float64 as written:
    (K-1)! tau^(K-1) prod_k (p_k x_k^(-tau-1)) / (sum_k p_k x_k^(-tau))^K."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    t = np.reshape(np.asarray(temperature, np.float64), (-1, 1))
    logits = np.asarray(logits, np.float64)
    k = logits.shape[-1]
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    front = math.gamma(k) * t ** (k - 1)
    total = np.sum(p / x ** t, -1, keepdims=True)
    prod = np.prod(p / x ** (t + 1), -1, keepdims=True)
    return (front * total ** -k * prod).reshape(-1)


def test_pdf_single_temperature():
    logits = np.array([[0.3, 0.1, 0.4]], np.float32)
    x = fg.gumbel_softmax(logits, 0.4, rng=1)
    pdf = np.exp(fg.concrete_log_prob(x, logits, 0.4))
    np.testing.assert_allclose(pdf, concrete_pdf(x, 0.4, logits), rtol=1e-4)


def test_pdf_batch_temperatures():
    logits = np.array([[0.3, 0.1, 0.4], [0.6, -0.1, 2.0]], np.float32)
    temperatures = np.array([0.4, 2.3], np.float32)
    x = fg.gumbel_softmax(logits, temperatures, rng=2)
    pdf = np.exp(fg.concrete_log_prob(x, logits, temperatures))
    assert pdf.shape == (2,)
    np.testing.assert_allclose(pdf, concrete_pdf(x, temperatures, logits), rtol=1e-4)


def test_pdf_logits_broadcast_over_temperatures():
    logits = np.array([0.3, 0.1, 0.4], np.float32)
    temperatures = np.array([0.4, 2.3], np.float32)
    x = fg.gumbel_softmax(np.broadcast_to(logits, (2, 3)), temperatures, rng=3)
    lp = fg.concrete_log_prob(x, logits, temperatures)
    assert lp.shape == (2,)
    np.testing.assert_allclose(np.exp(lp), concrete_pdf(x, temperatures, logits), rtol=1e-4)
    # the batch shape may also come from tau alone (one point, two temperatures)
    lp1 = fg.concrete_log_prob(x[:1], logits, temperatures)
    assert lp1.shape == (2,)
    np.testing.assert_allclose(np.exp(lp1), concrete_pdf(np.stack([x[0], x[0]]),
                                                         temperatures, logits), rtol=1e-4)


def test_density_rows_equal_scalar_calls_and_forms():
    rs = np.random.default_rng()
    logits = rs.standard_normal((5, 4))
    taus = rs.uniform(0.1, 3.0, 5)
    y = fg.gumbel_softmax(logits, taus, rng=4)
    lp = fg.concrete_log_prob(y, logits, taus)
    assert np.array_equal(lp, fg.concrete_log_prob(y, logits, taus[:, None]))
    for r in range(5):
        assert lp[r] == fg.concrete_log_prob(y, logits, float(taus[r]))[r]
    lp0 = fg.concrete_log_prob(y.T, logits.T, taus[None, :], axis=0)
    assert np.array_equal(lp0, lp)


def test_density_against_torch_batched_temperature():
    torch = pytest.importorskip("torch")
    rs = np.random.default_rng()
    logits = rs.standard_normal((3, 64, 6)) * 2
    taus = rs.uniform(0.1, 3.0, (3, 1))            # batch (3, 1) against (3, 64)
    y = fg.gumbel_softmax(logits, taus, rng=int(rs.integers(2**63)))
    y = np.clip(y, 1e-300, None)
    y /= y.sum(-1, keepdims=True)
    got = fg.concrete_log_prob(y, logits, taus)
    assert got.shape == (3, 64)
    # torch's log_prob broadcasts a batched temperature against the sample's last axes, not
    # the batch: one distribution per temperature
    expect = np.stack([torch.distributions.RelaxedOneHotCategorical(
        torch.tensor(float(taus[i, 0]), dtype=torch.float64),
        logits=torch.from_numpy(logits[i])).log_prob(torch.from_numpy(y[i])).numpy()
        for i in range(3)])
    assert np.allclose(got, expect, rtol=1e-9, atol=1e-8)


# ----------------------------------------------------------------------------------------
# bad shapes and values

X = np.zeros((3, 4), np.float32)

BAD = [
    (lambda: fg.gumbel_softmax(X, np.ones((3, 4))), ValueError,
     r"tau has shape \(3, 4\), which varies along the category axis 1"),
    (lambda: fg.gumbel_softmax(X, np.ones((1, 3, 1))), ValueError,
     r"tau has shape \(1, 3, 1\): more dimensions than the logits \(2\)"),
    (lambda: fg.gumbel_softmax(X, np.ones(4)), ValueError,
     r"tau of shape \(4,\) does not broadcast to the rows of the logits"),
    (lambda: fg.gumbel_softmax(X, np.ones((2, 1))), ValueError,
     r"tau of shape \(2, 1\) does not broadcast"),
    (lambda: fg.gumbel_softmax(X, np.array([1.0, 0.0, 1.0])), ValueError,
     r"tau must be finite and > 0 .*float32.* got np.float64\(0.0\) at index \(1,\)"),
    (lambda: fg.gumbel_softmax(X, np.array([1.0, np.nan, 1.0])), ValueError,
     r"tau must be finite and > 0 .* got np.float64\(nan\) at index \(1,\)"),
    (lambda: fg.gumbel_softmax(X, np.array([[1.0], [-2.0], [1.0]])), ValueError,
     r"tau must be finite .* at index \(1,\)"),
    (lambda: fg.gumbel_softmax(X, np.array([1.0, 1e-50, 1.0])), ValueError,
     r"positive normal float32"),
    (lambda: fg.gumbel_softmax(X, np.array([1.0, np.inf, 1.0])), ValueError, "tau must be"),
    (lambda: fg.gumbel_softmax(X, np.array([True, True, True])), TypeError,
     "tau must be a positive real number or an array of them; got an array of dtype bool"),
    (lambda: fg.gumbel_log_softmax(X, np.ones(4)), ValueError, "tau of shape"),
    (lambda: fg.gumbel_softmax_backward(X, np.ones(4), y_soft=X), ValueError, "tau of shape"),
    (lambda: fg.concrete_log_prob(X, X, np.ones((3, 4))), ValueError, "varies along"),
    (lambda: fg.concrete_log_prob(X, X, np.array([1.0, -1.0, 1.0])), ValueError,
     "tau must be finite"),
    (lambda: fg.concrete_log_prob(X, X, np.ones(2)), ValueError, "does not broadcast"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_tau(i):
    f, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        f()


def test_bad_tau_leaves_a_generator_alone():
    g = fg.default_rng(0)
    before = g.next_key()
    g = fg.default_rng(0)
    with pytest.raises(ValueError):
        fg.gumbel_softmax(X, np.array([1.0, -1.0, 1.0]), rng=g)
    assert g.next_key() == before


# ----------------------------------------------------------------------------------------
# Dask: tau blocks aligned with row blocks


def test_dask_per_row_tau():
    da = pytest.importorskip("dask.array")
    rs = np.random.default_rng()
    x = rs.standard_normal((10, 4, 6)).astype(np.float32)
    taus = rs.uniform(0.1, 3.0, (10, 4))
    key = fg.Key(9)
    expect = fg.gumbel_softmax(x, taus, rng=key)
    for chunks in ((3, 4, 6), (10, 1, 6), (4, 2, 3)):
        lazy = fg.gumbel_softmax(da.from_array(x, chunks=chunks), taus, rng=key)
        assert np.array_equal(lazy.compute(), expect)
        lazy = fg.gumbel_softmax(da.from_array(x, chunks=chunks),
                                 da.from_array(taus[..., None], chunks=(5, 2, 1)), rng=key)
        assert np.array_equal(lazy.compute(), expect)
    # axis 0, form A, hard and log
    xt = np.ascontiguousarray(np.moveaxis(x, -1, 0))
    ta = taus[None]
    for f in (lambda a, t: fg.gumbel_softmax(a, t, hard=True, axis=0, rng=key),
              lambda a, t: fg.gumbel_log_softmax(a, t, axis=0, rng=key)):
        assert np.array_equal(f(da.from_array(xt, chunks=(6, 3, 2)), ta).compute(), f(xt, ta))
    with pytest.raises(ValueError, match="tau of shape"):
        fg.gumbel_softmax(da.from_array(x), np.ones(3), rng=key)
    with pytest.raises(ValueError, match="tau must be finite"):
        fg.gumbel_softmax(da.from_array(x), -taus, rng=key)
