"""gumbel_softmax_backward against float64 central finite differences, both modes."""
import numpy as np
import pytest

import fastgumbel as fg


def loss(x, tau, G, key, axis):
    return float(np.sum(G * fg.gumbel_softmax(x, tau, axis=axis, rng=key)))


@pytest.mark.parametrize("tau", [0.2, 1.0, 3.0])
@pytest.mark.parametrize("axis", [-1, 0])
def test_gradients_match_finite_differences(tau, axis):
    rs = np.random.default_rng()
    x = rs.standard_normal((4, 6))
    G = rs.standard_normal((4, 6))
    key = fg.Key(int(rs.integers(2**63)))
    y = fg.gumbel_softmax(x, tau, axis=axis, rng=key)
    saved = fg.gumbel_softmax_backward(G, tau, y_soft=y, axis=axis)
    recomputed = fg.gumbel_softmax_backward(G, tau, logits=x, rng=key, axis=axis)
    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (loss(x + e, tau, G, key, axis) - loss(x - e, tau, G, key, axis)) / (2 * h)
    num_tau = (loss(x, tau + h, G, key, axis) - loss(x, tau - h, G, key, axis)) / (2 * h)
    for gx, gt in (saved, recomputed):
        assert gx.shape == x.shape and gx.dtype == np.float64
        assert np.allclose(gx, num, rtol=1e-5, atol=1e-8)
        assert gt == pytest.approx(num_tau, rel=1e-5, abs=1e-8)
    assert np.array_equal(saved[0], recomputed[0])


def test_float32_backward_matches_float64_formula():
    rs = np.random.default_rng()
    x = rs.standard_normal((50, 30)).astype(np.float32)
    G = rs.standard_normal((50, 30)).astype(np.float32)
    tau = 0.5
    key = fg.Key(9)
    y = fg.gumbel_softmax(x, tau, rng=key).astype(np.float64)
    gz = y * (G - (G * y).sum(-1, keepdims=True))
    expect_x = gz / tau
    expect_tau = -(gz * np.log(y)).sum() / tau
    gx, gt = fg.gumbel_softmax_backward(G, tau, logits=x, rng=key)
    assert gx.dtype == np.float32 and gt.dtype == np.float32
    assert np.allclose(gx, expect_x, rtol=1e-4, atol=1e-6)
    # the tau gradient is a sum of 1500 terms that cancel: its float32 rounding scales with
    # the terms' magnitudes, not with the sum (a relative 1e-4 of the sum failed once in
    # CI: 8e-4 off a sum 1e-3 of terms about 0.1)
    assert abs(gt - expect_tau) <= 1e-5 * np.abs(gz * np.log(y)).sum() / tau, (gt, expect_tau)


def test_straight_through_gradient_is_the_soft_one():
    x = np.random.default_rng().standard_normal((3, 5))
    G = np.random.default_rng().standard_normal((3, 5))
    key = fg.Key(1)
    # the hard forward's gradient (straight-through) is computed from the same key
    h = fg.gumbel_softmax(x, 0.5, hard=True, rng=key)
    y = fg.gumbel_softmax(x, 0.5, rng=key)
    assert np.array_equal(h.argmax(-1), y.argmax(-1))
    a = fg.gumbel_softmax_backward(G, 0.5, logits=x, rng=key)
    b = fg.gumbel_softmax_backward(G, 0.5, y_soft=y)
    assert np.array_equal(a[0], b[0])


def test_recompute_uses_the_forward_dtype_whatever_grad_is():
    x = np.random.default_rng().standard_normal((3, 4)).astype(np.float32)
    key = fg.Key(2)
    y = fg.gumbel_softmax(x, 0.5, rng=key)
    G64 = np.random.default_rng().standard_normal((3, 4))
    a = fg.gumbel_softmax_backward(G64, 0.5, logits=x, rng=key)
    b = fg.gumbel_softmax_backward(G64.astype(np.float32), 0.5, y_soft=y)
    assert a[0].dtype == np.float32 and np.array_equal(a[0], b[0]) and a[1] == b[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_without_the_tau_gradient_the_logits_gradient_is_the_same(dtype):
    """tau_grad=False: grad_tau is None and grad_logits the same bits, in both modes, for
    a scalar and a per-row tau, rows short and long (the serial and row kernels)."""
    rs = np.random.default_rng()
    for shape in ((3, 7), (40, 3000)):
        x = (rs.standard_normal(shape) * 3).astype(dtype)
        G = rs.standard_normal(shape).astype(dtype)
        key = fg.Key(int(rs.integers(2**63)))
        for tau in (0.5, 0.1, 1.0, rs.uniform(0.2, 2.0, (shape[0], 1)).astype(dtype)):
            y = fg.gumbel_softmax(x, tau, rng=key)
            for mode in (dict(y_soft=y), dict(logits=x, rng=key)):
                gx, gt = fg.gumbel_softmax_backward(G, tau, **mode)
                gx2, none = fg.gumbel_softmax_backward(G, tau, tau_grad=False, **mode)
                assert none is None and gt is not None
                assert gx2.dtype == gx.dtype and np.array_equal(gx2, gx)


def test_tau_grad_must_be_a_bool():
    y = fg.gumbel_softmax(np.zeros((2, 3)), 0.5, rng=fg.Key(1))
    with pytest.raises(TypeError, match="tau_grad"):
        fg.gumbel_softmax_backward(np.ones((2, 3)), 0.5, y_soft=y, tau_grad="no")
