"""Property tests (hypothesis) of every public sampler over shapes, axes, memory layouts,
dtypes, temperatures from 1e-4 to 1e4 and logits up to +-1e30 (masked with -inf here and
there): no NaN or inf the input did not have, rows that sum to 1, and results equal to a
float64 NumPy reference built on the same noise field
(``fg.gumbel(size=moved_shape, rng=key)``: the one-noise-field rule of docs/rng.md).

The examples are few (CI time); each one checks every property of its function.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastgumbel as fg

SETTINGS = settings(max_examples=int(os.environ.get("FG_HYPOTHESIS_EXAMPLES", 30)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
DTYPES = [np.float16, np.float32, np.float64]
LAYOUTS = ["C", "F", "strided", "reversed", "readonly"]


def with_layout(a, kind):
    if kind == "C":
        return a.copy(order="C")
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), a.dtype)
        v = big[tuple(slice(1, None, 2) for _ in a.shape)]
        v[...] = a
        return v
    if kind == "reversed":          # negative strides
        idx = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[idx])[idx]
    b = a.copy()
    b.flags.writeable = False
    return b


@st.composite
def cases(draw, min_k=1):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(-ndim, ndim - 1))
    assume(shape[axis] >= min_k)
    # logit scale: ordinary, large, and huge (float16 tops out at 65504)
    scales = [1.0, 30.0, 1e4] if dtype == np.float16 else [1.0, 30.0, 1e4, 1e30]
    scale = draw(st.sampled_from(scales))
    seed = draw(st.integers(0, 2**32 - 1))
    rs = np.random.default_rng(seed)
    x = rs.standard_normal(shape) * scale
    mask = draw(st.sampled_from([0.0, 0.3, 1.0]))     # fraction of -inf (1.0: all masked)
    if mask:
        x[rs.random(shape) < mask] = -np.inf
    x = x.astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    tau = float(np.exp(draw(st.floats(np.log(1e-4), np.log(1e4)))))
    key = fg.Key(draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**32 - 1)))
    precision = draw(st.sampled_from(["default", "high"]))
    return with_layout(x, layout), axis, tau, key, precision


def cdt(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def perturbed(x, axis, key, precision, draws=None):
    """The kernel's s = x + g in the compute dtype, sampling axis last (and a draw axis)."""
    m = np.moveaxis(x, axis, -1).astype(cdt(x.dtype))
    if draws is None:
        g = fg.gumbel(size=m.shape, dtype=m.dtype, rng=key, precision=precision)
        return m + g
    rows = int(np.prod(m.shape[:-1]))
    g = fg.gumbel(size=(rows * draws, m.shape[-1]), dtype=m.dtype, rng=key, precision=precision)
    return m.reshape(rows, 1, -1) + g.reshape(rows, draws, -1)


def first_argmax(s):
    idx = np.argmax(s, axis=-1)
    return np.where(np.all(s == -np.inf, axis=-1), -1, idx)


def ref_soft(s, tau):
    s = s.astype(np.float64)
    M = s.max(-1, keepdims=True)
    dead = M == -np.inf
    z = np.where(dead, -np.inf, (s - np.where(dead, 0, M)) / tau)
    e = np.exp(z)
    S = e.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(dead, 0.0, e / S)
        ly = np.where(dead, -np.inf, z - np.log(S))
    return y, ly


def tols(dtype, K):
    return {np.float16: (2e-3, 2e-3 * K), np.float32: (2e-5, 2e-6 * K),
            np.float64: (1e-11, 1e-13 * K)}[np.dtype(dtype).type]


@SETTINGS
@given(cases(), st.sampled_from([None, "C", "F", "strided"]))
def test_soft_hard_log(case, out_kind):
    x, axis, tau, key, precision = case
    s = perturbed(x, axis, key, precision)
    y_ref, ly_ref = ref_soft(s, tau)
    finite_in = np.isfinite(x)
    out = None if out_kind is None else with_layout(np.empty_like(x), out_kind)
    y = fg.gumbel_softmax(x, tau, axis=axis, rng=key, precision=precision, out=out)
    assert out is None or y is out
    assert y.dtype == x.dtype and y.shape == x.shape
    assert np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()
    ym = np.moveaxis(y, axis, -1).astype(np.float64)
    rtol, atol = tols(x.dtype, ym.shape[-1])
    np.testing.assert_allclose(ym, y_ref, rtol=rtol, atol=atol)
    live = np.any(np.moveaxis(finite_in, axis, -1), axis=-1)
    np.testing.assert_allclose(ym.sum(-1)[live], 1.0, atol=atol)
    assert (ym[~live] == 0).all()
    assert (ym[~np.moveaxis(finite_in, axis, -1)] == 0).all()      # masked: exactly 0

    h = fg.gumbel_softmax(x, tau, hard=True, axis=axis, rng=key, precision=precision)
    hm = np.moveaxis(h, axis, -1)
    assert set(np.unique(hm)) <= {0, 1} and (hm.sum(-1)[live] == 1).all()
    assert (hm.sum(-1)[~live] == 0).all()
    # the hard sample is the one-hot of a maximum of the soft sample
    hi = hm.argmax(-1)
    assert (np.take_along_axis(ym, hi[..., None], -1)[..., 0] == ym.max(-1))[live].all()

    ly = fg.gumbel_log_softmax(x, tau, axis=axis, rng=key, precision=precision)
    lym = np.moveaxis(ly, axis, -1).astype(np.float64)
    assert not np.isnan(lym).any()
    fmax = float(np.finfo(x.dtype).max)
    # -inf only at masked logits, or (float16) where the log-probability is not representable
    assert (np.isneginf(lym) == np.isneginf(ly_ref))[ly_ref > -0.99 * fmax].all()
    assert np.isneginf(lym[ly_ref < -1.01 * fmax]).all()
    assert not np.isposinf(lym).any() and (lym <= 1e-6).all()
    ok = np.isfinite(ly_ref) & (ly_ref > -0.99 * fmax)
    lrtol = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-14}[np.dtype(x.dtype).type]
    err = np.abs(lym[ok] - ly_ref[ok])
    assert (err <= lrtol * np.maximum(np.abs(ly_ref[ok]), 1.0) * np.log2(ym.shape[-1] + 2)
            + atol).all(), err.max()


@SETTINGS
@given(cases())
def test_gumbel_max_and_categorical(case):
    x, axis, _, key, precision = case
    s = perturbed(x, axis, key, precision)
    want = first_argmax(s)
    idx = fg.gumbel_max(x, axis=axis, rng=key, precision=precision)
    assert idx.dtype == np.int64 and np.array_equal(idx, want)
    assert np.array_equal(fg.categorical(x, axis=axis, rng=key, precision=precision), want)
    out = np.empty(want.shape[::-1], np.int64).T        # an F-ordered out
    assert fg.gumbel_max(x, axis=axis, rng=key, precision=precision, out=out) is out
    assert np.array_equal(out, want)
    n = 3
    s3 = perturbed(x, axis, key, precision, draws=n)
    d = fg.categorical(x, n, axis=axis, rng=key, precision=precision)
    want3 = first_argmax(s3).reshape(want.shape + (n,))
    assert np.array_equal(d, want3)
    c = fg.multinomial(x, n, axis=axis, rng=key, precision=precision)
    K = s.shape[-1]
    hist = np.array([np.bincount(r[r >= 0], minlength=K) for r in want3.reshape(-1, n)])
    assert np.array_equal(np.moveaxis(c, axis, -1).reshape(-1, K), hist)


@SETTINGS
@given(cases(), st.integers(0, 6))
def test_topk(case, k):
    x, axis, _, key, precision = case
    s = perturbed(x, axis, key, precision)
    K = s.shape[-1]
    assume(k <= K)
    t = fg.gumbel_topk(x, k, axis=axis, rng=key, precision=precision)
    assert t.shape == s.shape[:-1] + (k,)
    rows = int(np.prod(s.shape[:-1]))
    for row_s, row_t in zip(s.reshape(rows, K), t.reshape(rows, k)):
        order = np.lexsort((np.arange(K), -row_s.astype(np.float64)))
        order = [int(i) for i in order if row_s[i] > -np.inf][:k]
        assert row_t.tolist() == order + [-1] * (k - len(order))


@SETTINGS
@given(cases(), st.booleans())
def test_backward(case, recompute):
    x, axis, tau, key, precision = case
    rs = np.random.default_rng(int(key.stream))
    grad = rs.standard_normal(x.shape).astype(x.dtype)
    y = fg.gumbel_softmax(x, tau, axis=axis, rng=key, precision=precision)
    if recompute:
        gx, gt = fg.gumbel_softmax_backward(grad, tau, logits=x, rng=key, axis=axis,
                                            precision=precision)
        y_used = y_ref = ref_soft(perturbed(x, axis, key, precision), tau)[0]
    else:
        gx, gt = fg.gumbel_softmax_backward(grad, tau, y_soft=y, axis=axis)
        y_used = np.moveaxis(y, axis, -1).astype(np.float64)
        y_ref = None
    assert gx.dtype == x.dtype and gx.shape == x.shape and np.dtype(gt.dtype) == x.dtype
    assert np.isfinite(gx).all() and np.isfinite(gt)
    G = np.moveaxis(grad, axis, -1).astype(np.float64)
    gz = y_used * (G - (G * y_used).sum(-1, keepdims=True))
    want = gz / tau
    tiny = np.finfo(cdt(x.dtype)).tiny
    want_tau = -(gz * np.log(np.maximum(y_used, tiny))).sum() / tau
    rtol, atol = tols(x.dtype, G.shape[-1])
    scale = np.abs(G).max(initial=1.0) / tau
    gm = np.moveaxis(gx, axis, -1).astype(np.float64)
    np.testing.assert_allclose(gm, want, rtol=rtol, atol=atol * scale * 4)
    if x.dtype != np.float16 and y_ref is None:
        lscale = max(1.0, float(np.abs(np.log(np.maximum(y_used, tiny))).max(initial=1.0)))
        assert abs(float(gt) - want_tau) <= 8 * atol * scale * lscale * G.size + 1e-30


@SETTINGS
@given(cases())
def test_nan_logits_stay_in_their_row(case):
    x, axis, tau, key, precision = case
    x = np.array(x)                      # writable copy
    m = np.moveaxis(x, axis, -1)
    flat = m.reshape(-1, m.shape[-1])
    assume(flat.shape[0] >= 2)
    m[(0,) * (m.ndim - 1) + (0,)] = np.nan            # first row gets a NaN
    s = perturbed(x, axis, key, precision)
    y_ref = ref_soft(s, tau)[0]
    y = np.moveaxis(fg.gumbel_softmax(x, tau, axis=axis, rng=key, precision=precision),
                    axis, -1).reshape(-1, m.shape[-1])
    assert np.isnan(y[0]).all()
    assert not np.isnan(y[1:]).any()
    rtol, atol = tols(x.dtype, m.shape[-1])
    np.testing.assert_allclose(y[1:], y_ref.reshape(y.shape)[1:], rtol=rtol, atol=atol)
    with pytest.raises(ValueError, match="NaN"):
        fg.gumbel_max(x, axis=axis, rng=key)


@SETTINGS
@given(st.lists(st.integers(0, 5), min_size=0, max_size=3), st.sampled_from(DTYPES),
       st.sampled_from(["default", "high"]), st.sampled_from([None, "C", "F", "strided"]),
       st.integers(0, 2**64 - 1))
def test_noise(shape, dtype, precision, out_kind, seed):
    shape = tuple(shape)
    assume(shape or out_kind in (None, "C"))
    key = fg.Key(seed)
    g = fg.gumbel(size=shape, dtype=dtype, rng=key, precision=precision)
    u = fg.uniform(size=shape, dtype=dtype, rng=key, precision=precision)
    assert g.shape == shape and g.dtype == dtype and np.isfinite(g).all()
    assert ((0 < u) & (u < 1)).all()                   # open interval, float16 included
    assert (g > -3.9).all() and (g < 45.1).all()
    if out_kind is not None:
        out = with_layout(np.zeros(shape, dtype), out_kind)
        assert fg.gumbel(size=shape, rng=key, precision=precision, out=out) is out
        assert np.array_equal(out, g)
        fg.gumbel(size=None, rng=key, precision=precision, out=out)
        assert np.array_equal(out, g)


@SETTINGS
@given(cases())
def test_concrete_log_prob(case):
    x, axis, tau, key, precision = case
    y = fg.gumbel_softmax(x, tau, axis=axis, rng=key, precision=precision)
    lp = fg.concrete_log_prob(y, x, tau, axis=axis)
    assert lp.dtype == x.dtype and lp.shape == x.shape[:axis % x.ndim] + x.shape[axis % x.ndim + 1:]
    assert not np.isnan(lp).any() and not np.isposinf(lp).any()
    cd = cdt(x.dtype)
    Y = np.moveaxis(y, axis, -1).astype(cd).astype(np.float64)
    L = np.moveaxis(x, axis, -1).astype(cd).astype(np.float64)
    K = L.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lY = np.log(Y)
        A = L - tau * lY
        M = A.max(-1)
        dead = (Y <= 0).any(-1) | np.isneginf(L).all(-1)
        Ms = np.where(dead, 0.0, M)
        lse = Ms + np.log(np.exp(A - Ms[..., None]).sum(-1))
        from math import lgamma
        ref = (lgamma(K) + (K - 1) * np.log(tau) + L.sum(-1) - (tau + 1) * lY.sum(-1)
               - K * lse)
        scale = (np.abs(L).sum(-1) + (tau + 1) * np.abs(lY).sum(-1) + K * np.abs(Ms)
                 + K * np.log(tau + 1 / tau) + 1)
    ref = np.where(dead, -np.inf, ref)
    got = lp.astype(np.float64)
    assert np.array_equal(np.isneginf(got), np.isneginf(ref) | (ref < -np.finfo(x.dtype).max))
    ok = np.isfinite(ref) & np.isfinite(got)
    tol = 1e-12 * scale[ok] + 2 * np.finfo(x.dtype).eps * np.abs(ref[ok])
    assert (np.abs(got[ok] - ref[ok]) <= tol).all()
