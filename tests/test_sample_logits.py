"""fastgumbel.sample_logits: exact filtered distributions (chi-square against a float64
reference of the kept set), log-probabilities, the noise field, per-row keys and batch
invariance, dtypes and errors."""
import numpy as np
import pytest
from scipy import stats

import fastgumbel as fg

N_DRAWS = 20_000


def reference(x, t, k, tp, mp):
    """The exact filtered, renormalized distribution (float64) of one row: ``y = x / t``
    rounded to x's dtype as the sampler scales it, then the issue's definitions written
    directly (sorted, cumulative sums)."""
    y = (x / x.dtype.type(t)).astype(np.float64)
    p = np.exp(y - y.max())
    keep = np.isfinite(y)
    K = len(y)
    if k and k < K:
        kth = np.sort(y)[::-1][k - 1]
        keep &= y >= kth                        # fewer than k strictly larger
    if tp < 1:
        q = np.where(keep, p, 0.0)
        q = q / q.sum()
        larger = np.array([q[keep & (y > y[i])].sum() for i in range(K)])
        keep &= larger < tp
    if mp > 0:
        keep &= p >= mp                         # p / max p, max p = exp(0)
    w = np.where(keep, p, 0.0)
    return w / w.sum()


def draws(x, t, k, tp, mp, seed, n=N_DRAWS):
    """n independent draws of one row: the row repeated, one noise row each."""
    batch = np.repeat(x[None], n, axis=0)
    ids, lp = fg.sample_logits(batch, temperature=t, top_k=k, top_p=tp, min_p=mp,
                               rng=fg.Key(seed), return_logprobs=True)
    return ids, lp


def check_row(x, t, k, tp, mp, seed):
    q = reference(x, t, k, tp, mp)
    ids, lp = draws(x, t, k, tp, mp, seed)
    assert q[ids].min() > 0, "a filtered-out token was drawn"
    np.testing.assert_allclose(lp, np.log(q[ids]), rtol=2e-5, atol=2e-6)
    counts = np.bincount(ids, minlength=len(x))
    kept = q > 0
    if kept.sum() > 1:
        exp = q[kept] * len(ids)
        p = stats.chisquare(counts[kept], exp).pvalue
        assert p > 1e-4, (p, counts[kept], exp)
    return kept.sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_filters_chi_square(dtype):
    rng = np.random.default_rng(1)
    for case in range(14):
        K = int(rng.integers(2, 65))
        x = (rng.standard_normal(K) * rng.choice([0.5, 2.0, 4.0])).astype(dtype)
        x[rng.random(K) < 0.1] = -np.inf if case % 3 == 0 else x[0]
        x[0] = max(x[0], -5.0)
        t = float(rng.choice([0.6, 1.0, 1.7]))
        k = int(rng.integers(0, K + 2)) if rng.random() < 0.7 else None
        tp = float(rng.uniform(0.2, 1.0)) if rng.random() < 0.7 else None
        mp = float(rng.uniform(0.0, 0.3)) if rng.random() < 0.5 else None
        check_row(x, t, k or 0, tp or 1.0, mp or 0.0, seed=100 + case)


def test_all_filters_at_once():
    rng = np.random.default_rng(2)
    for case in range(6):
        x = rng.standard_normal(64).astype(np.float32) * 2
        kept = check_row(x, 0.8, 20, 0.7, 0.02, seed=200 + case)
        assert 1 < kept < 20


def test_ties_at_the_kth_value():
    x = np.log(np.array([0.3, 0.1, 0.15, 0.1, 0.05, 0.1, 0.2], np.float64))
    # k = 3: 0.3, 0.2, 0.15 (the k-th value, alone)
    assert check_row(x, 1.0, 3, 1.0, 0.0, seed=1) == 3
    # k = 4: the k-th value 0.1 is tied three times: all kept
    assert check_row(x, 1.0, 4, 1.0, 0.0, seed=2) == 6
    x32 = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 0.0, -1.0], np.float32)
    assert check_row(x32, 1.0, 2, 1.0, 0.0, seed=3) == 5


def test_ties_at_the_top_p_boundary():
    x = np.log(np.array([0.4, 0.2, 0.2, 0.2], np.float64))
    assert check_row(x, 1.0, 0, 0.5, 0.0, seed=4) == 4     # each 0.2 sees 0.4 < 0.5
    assert check_row(x, 1.0, 0, 0.3, 0.0, seed=5) == 1     # each 0.2 sees 0.4 >= 0.3
    # the boundary group inside the top-k set: renormalized to [0.5, 0.25, 0.25]
    y = np.log(np.array([0.4, 0.2, 0.2, 0.1, 0.1], np.float64))
    assert check_row(y, 1.0, 3, 0.55, 0.0, seed=6) == 3
    assert check_row(y, 1.0, 3, 0.45, 0.0, seed=7) == 1


def test_min_p_boundary_and_top_k_one():
    x = np.log(np.array([0.5, 0.25, 0.125, 0.125], np.float64))
    assert check_row(x, 1.0, 0, 1.0, 0.25, seed=8) == 4     # p >= 0.25 * 0.5, ties kept
    assert check_row(x, 1.0, 0, 1.0, 0.5, seed=9) == 2
    assert check_row(x, 1.0, 1, 1.0, 0.0, seed=10) == 1


def test_temperature_zero_is_greedy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 40)).astype(np.float32)
    x[:, 7] = x.max(axis=1) + 1
    x[:, 20] = x[:, 7]                                     # ties: the lowest index
    t = np.where(np.arange(50) % 2 == 0, 0.0, 1.0)
    ids, lp = fg.sample_logits(x, temperature=t, top_p=0.5, rng=4, return_logprobs=True)
    assert (ids[::2] == 7).all() and (lp[::2] == 0).all()
    assert (ids[1::2] == fg.sample_logits(x[1::2], top_p=0.5, rng=fg.Key(4),
                                          positions=np.arange(1, 50, 2))).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_filter_is_gumbel_max(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 30, 700)).astype(dtype)
    key = fg.Key(11, 2)
    for t in (1.0, 0.37, 2.5):
        got = fg.sample_logits(x, temperature=t, rng=key)
        assert (got == fg.gumbel_max(x / dtype(t), rng=key)).all()
    xa = np.moveaxis(x, -1, 0)
    assert (fg.sample_logits(xa, temperature=0.37, axis=0, rng=key)
            == fg.gumbel_max(x / dtype(0.37), rng=key)).all()


def test_long_rows_thresholds_and_logprobs():
    """Rows long enough for the bisection (more than 512 entries in the first bracket): the
    kept set's mass (through the log-probabilities) and membership match the reference."""
    rng = np.random.default_rng(6)
    for case, (k, tp, mp) in enumerate([(1000, 1.0, 0.0), (0, 0.9, 0.0), (0, 0.3, 0.0),
                                        (3000, 0.8, 0.0), (50, 0.9, 0.0), (0, 1.0, 0.05),
                                        (2000, 0.95, 0.01), (0, 0.999, 0.0)]):
        x = (rng.standard_normal(20_000) * 1.5).astype(np.float32)
        x[:300] = x[300]                                  # a large tie group
        q = reference(x, 0.9, k, tp, mp)
        ids, lp = draws(x, 0.9, k, tp, mp, seed=300 + case, n=400)
        assert q[ids].min() > 0
        np.testing.assert_allclose(lp, np.log(q[ids]), rtol=1e-5, atol=1e-5)


def test_per_row_keys_and_positions_are_batch_invariant():
    rng = np.random.default_rng(7)
    B, K = 40, 300
    x = rng.standard_normal((B, K)).astype(np.float32)
    seeds = rng.integers(0, 2**63, B)
    pos = rng.integers(0, 10**6, B)
    t = rng.uniform(0.5, 1.5, B)
    k = rng.integers(0, 60, B)
    tp = rng.uniform(0.3, 1.0, B)

    def run(sel):
        return fg.sample_logits(x[sel], temperature=t[sel], top_k=k[sel], top_p=tp[sel],
                                rng=seeds[sel], positions=pos[sel], return_logprobs=True)

    ids, lp = run(np.arange(B))
    perm = rng.permutation(B)
    pi, pl = run(perm)
    assert (pi == ids[perm]).all() and (pl == lp[perm]).all()
    for part in np.array_split(np.arange(B), 3):          # split
        assert (run(part)[0] == ids[part]).all()
    grown = np.concatenate([np.arange(B), rng.integers(0, B, 25)])
    assert (run(grown)[0][:B] == ids).all()
    keys = [fg.Key(int(s)) for s in seeds]
    assert (fg.sample_logits(x, temperature=t, top_k=k, top_p=tp, rng=keys, positions=pos)
            == ids).all()


def test_per_row_key_is_the_row_by_row_call():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 50)).astype(np.float32)
    seeds = np.array([3, 3, 9, 2**40 + 1, 3])
    pos = np.array([0, 4, 4, 2, 0])
    got = fg.sample_logits(x, temperature=0.8, rng=seeds, positions=pos)
    for r in range(5):
        rows = np.repeat(x[r:r + 1] / np.float32(0.8), pos[r] + 1, axis=0)
        assert got[r] == fg.gumbel_max(rows, rng=fg.Key(int(seeds[r])))[pos[r]]
    # one key with positions reads the same noise rows
    assert (fg.sample_logits(x[:2], temperature=0.8, rng=fg.Key(3), positions=pos[:2])
            == got[:2]).all()


def test_per_row_seeds_are_honoured():
    x = np.zeros((2, 1000), np.float32)
    same = fg.sample_logits(x, rng=np.array([5, 5]))
    assert same[0] == same[1]                             # equal seed, equal position
    assert (fg.sample_logits(x, rng=[5, 6]) == fg.sample_logits(x, rng=np.array([5, 6]))).all()
    a = np.array([fg.sample_logits(x, rng=np.array([5, 6]), positions=np.array([p, p]))
                  for p in range(20)])
    assert (a[:, 0] != a[:, 1]).sum() >= 18               # different seeds, different noise
    assert len(set(a[:, 0].tolist())) >= 18              # positions move the noise


def test_dtypes_float16_bfloat16():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 200)).astype(np.float16)
    kw = dict(temperature=0.7, top_k=30, top_p=0.9, rng=fg.Key(1))
    assert (fg.sample_logits(x, **kw) == fg.sample_logits(x.astype(np.float32), **kw)).all()
    ml_dtypes = pytest.importorskip("ml_dtypes")
    xb = x.astype(ml_dtypes.bfloat16)
    assert (fg.sample_logits(xb, **kw)
            == fg.sample_logits(xb.astype(np.float32), **kw)).all()


def test_out_and_special_rows():
    x = np.array([[0.0, 1.0, 2.0], [-np.inf] * 3, [1.0, 1.0, -np.inf]], np.float32)
    out = np.empty(3, np.int64)
    ids, lp = fg.sample_logits(x, top_k=1, rng=0, out=out, return_logprobs=True)
    assert ids is out and out.tolist()[:2] == [2, -1] and out[2] in (0, 1)
    assert lp[1] == -np.inf and np.isclose(lp[2], np.log(0.5))
    with pytest.raises(ValueError, match="NaN"):
        fg.sample_logits(np.array([0.0, np.nan]), rng=0)
    with pytest.raises(ValueError, match=r"\+inf"):
        fg.sample_logits(np.array([0.0, np.inf]), rng=0)


@pytest.mark.parametrize("kw, err, msg", [
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(temperature=np.nan), ValueError, "temperature"),
    (dict(top_k=-2), ValueError, "top_k"),
    (dict(top_k=2.5), TypeError, "top_k"),
    (dict(top_p=0.0), ValueError, "top_p"),
    (dict(top_p=1.5), ValueError, "top_p"),
    (dict(min_p=-0.1), ValueError, "min_p"),
    (dict(top_p=np.ones(3)), ValueError, "batch shape"),
    (dict(rng=np.array([1, 2, 3])), ValueError, "rng"),
    (dict(rng=np.array([1.0, 2.0])), TypeError, "rng"),
    (dict(rng=np.array([-1, 2])), ValueError, "rng"),
    (dict(rng=[fg.Key(1)]), ValueError, "one per row"),
    (dict(rng=[fg.Key(1), 2]), TypeError, "Key"),
    (dict(rng=0, positions=np.array([1])), ValueError, "positions"),
    (dict(return_logprobs=1), TypeError, "return_logprobs"),
    (dict(out=np.empty(2, np.int32)), TypeError, "out"),
])
def test_errors(kw, err, msg):
    with pytest.raises(err, match=msg):
        fg.sample_logits(np.zeros((2, 5), np.float32), **kw)
    with pytest.raises(TypeError, match="logits"):
        fg.sample_logits(np.zeros((2, 5), np.int32))


def test_torch_tensors_through_dlpack():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 100)
    ids, lp = fg.sample_logits(x, top_k=10, rng=torch.tensor([1, 2, 3, 4]),
                               return_logprobs=True)
    assert isinstance(ids, torch.Tensor) and ids.dtype == torch.int64
    ref = fg.sample_logits(x.numpy(), top_k=10, rng=np.array([1, 2, 3, 4]))
    assert (ids.numpy() == ref).all() and lp.dtype == torch.float32


def test_torch_wrapper():
    torch = pytest.importorskip("torch")
    from fastgumbel.torch import sample_logits
    x = torch.randn(6, 300, requires_grad=True)
    seeds = torch.arange(6)
    kw = dict(temperature=torch.full((6,), 0.7), top_k=torch.tensor([0, 5, 10, 0, 3, 50]),
              top_p=0.8, positions=torch.arange(6) * 3)
    ids, lp = sample_logits(x, rng=seeds, return_logprobs=True, **kw)
    ref, rlp = fg.sample_logits(x.detach().numpy(), rng=seeds.numpy(), return_logprobs=True,
                                **{k: (v.numpy() if isinstance(v, torch.Tensor) else v)
                                   for k, v in kw.items()})
    assert (ids.numpy() == ref).all() and (lp.numpy() == rlp).all()
    out = torch.empty(6, dtype=torch.int64)
    assert sample_logits(x.bfloat16(), rng=seeds, out=out, **kw) is out
    torch.manual_seed(0)
    a = sample_logits(x)
    torch.manual_seed(0)
    assert (sample_logits(x) == a).all()
    with pytest.raises(TypeError, match="int64 tensor"):
        sample_logits(x, out=torch.empty(6))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filtered_draw_reads_the_same_noise_field(dtype):
    """Filtering only masks tokens: the draw is gumbel_max of the masked scaled logits, bit
    for bit, whether the kept tokens' noise is made one by one (few kept) or by the row
    kernel (many kept)."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((12, 5000)).astype(dtype)
    key = fg.Key(21, 4)
    for kw in (dict(top_k=7), dict(top_k=300), dict(top_p=0.6), dict(min_p=0.2),
               dict(top_k=40, top_p=0.9, min_p=0.01)):
        y = x / dtype(0.9)
        keep = np.stack([reference(r, 0.9, kw.get("top_k", 0), kw.get("top_p", 1.0),
                                   kw.get("min_p", 0.0)) > 0 for r in x])
        want = fg.gumbel_max(np.where(keep, y, -np.inf).astype(dtype), rng=key)
        assert (fg.sample_logits(x, temperature=0.9, rng=key, **kw) == want).all(), kw
