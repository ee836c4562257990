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
