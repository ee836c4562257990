"""concrete_log_prob against torch.distributions.RelaxedOneHotCategorical.log_prob."""
import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("K", [2, 5, 40])
def test_matches_torch(tau, K):
    rs = np.random.default_rng()
    logits = rs.standard_normal((64, K)) * 2
    y = fg.gumbel_softmax(logits, tau, rng=int(rs.integers(2**63)))
    y = np.clip(y, 1e-300, None)
    y /= y.sum(-1, keepdims=True)
    d = torch.distributions.RelaxedOneHotCategorical(torch.tensor(tau, dtype=torch.float64),
                                                     logits=torch.from_numpy(logits))
    expect = d.log_prob(torch.from_numpy(y)).numpy()
    got = fg.concrete_log_prob(y, logits, tau)
    assert got.shape == (64,) and got.dtype == np.float64
    assert np.allclose(got, expect, rtol=1e-9, atol=1e-9 * K)
    # float32 in, float32 out: the float64 density of the float32 point, rounded
    y32 = np.clip(y, 1e-30, None).astype(np.float32)
    l32 = logits.astype(np.float32)
    expect32 = d.log_prob(torch.from_numpy(y32.astype(np.float64))).numpy()
    got32 = fg.concrete_log_prob(y32, l32, tau)
    assert got32.dtype == np.float32
    assert np.allclose(got32, expect32, rtol=1e-6, atol=1e-4)


def test_axis_broadcast_and_outside_support():
    logits = np.zeros(3)
    y = np.array([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])
    lp = fg.concrete_log_prob(y, logits, 1.0)
    assert np.isfinite(lp[0]) and lp[1] == -np.inf
    lpT = fg.concrete_log_prob(y.T, logits[:, None], 1.0, axis=0)
    assert np.array_equal(lp, lpT)


def test_density_integrates_to_one_for_k2():
    # K = 2: the density of y1 on (0, 1) integrates to 1
    tau, l = 0.7, np.array([0.3, -0.4])
    t = np.linspace(1e-6, 1 - 1e-6, 200_001)
    y = np.stack([t, 1 - t], -1)
    p = np.exp(fg.concrete_log_prob(y, l, tau))
    assert np.trapezoid(p, t) == pytest.approx(1.0, abs=2e-3)
