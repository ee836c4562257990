"""Array handling: shapes, axes, layouts, out=, empty arrays, masks, NaN/inf rows, threads."""
import json

import numba
import numpy as np
import pytest

import fastgumbel as fg
from conftest import new_specializations

K = fg.Key(123, 4)


def all_outputs(x, axis=-1, rng=K):
    return {
        "soft": fg.gumbel_softmax(x, 0.5, axis=axis, rng=rng),
        "hard": fg.gumbel_softmax(x, 0.5, hard=True, axis=axis, rng=rng),
        "log": fg.gumbel_log_softmax(x, 2.0, axis=axis, rng=rng),
        "max": fg.gumbel_max(x, axis=axis, rng=rng),
        "cat": fg.categorical(x, 3, axis=axis, rng=rng),
        "mult": fg.multinomial(x, 7, axis=axis, rng=rng),
        "topk": fg.gumbel_topk(x, 2, axis=axis, rng=rng),
        "bwd": fg.gumbel_softmax_backward(np.ones_like(x), 0.5, logits=x, axis=axis, rng=rng)[0],
    }


def assert_same(a, b):
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_give_the_same_result(fresh_logits, dtype):
    base = fresh_logits((6, 10, 12), dtype)
    ref = {ax: all_outputs(base, ax) for ax in (0, 1, 2)}
    f = np.asfortranarray(base)
    big = np.zeros((12, 10, 36), dtype)
    big[::2, :, ::3] = base
    strided = big[::2, :, ::3]
    ro = base.copy()
    ro.flags.writeable = False
    for variant in (f, strided, ro):
        for ax in (0, 1, 2):
            assert_same(ref[ax], all_outputs(variant, ax))
    # a negative axis means the same as its positive twin
    assert_same(ref[1], all_outputs(base, -2))


def test_read_only_inputs_share_the_writeable_kernels(fresh_logits, tmp_path,
                                                      compiled_kernels):
    # a read-only array (JAX's NumPy view, np.broadcast_to, a memmap opened "r") is another
    # Numba type: without the writeable view of _arrays.kernel_view every kernel would
    # compile again for it. Same results, no new specialization, the user's flag kept.
    base = fresh_logits((6, 10, 12))
    ref = all_outputs(base)
    ref_bc = all_outputs(base[:1].copy())
    ref_bwd = fg.gumbel_softmax_backward(base, 0.5, y_soft=base)[0]
    before = compiled_kernels()
    ro = base.copy()
    ro.flags.writeable = False
    np.save(tmp_path / "x.npy", base)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for variant in (ro, mm):
        assert_same(ref, all_outputs(variant))
        assert np.array_equal(ref_bwd, fg.gumbel_softmax_backward(variant, 0.5, y_soft=variant)[0])
        assert not variant.flags.writeable
    assert_same(ref_bc, all_outputs(np.broadcast_to(base[:1], (1, 10, 12))))
    assert new_specializations(before, compiled_kernels()) == set()


def test_noise_field_is_defined_on_the_moved_shape(fresh_logits):
    x = fresh_logits((5, 8))
    y0 = fg.gumbel_softmax(x, 1.0, axis=0, rng=K)
    y1 = fg.gumbel_softmax(np.ascontiguousarray(x.T), 1.0, axis=-1, rng=K)
    assert np.array_equal(y0, y1.T)


@pytest.mark.parametrize("axis", [0, -1])
def test_out_is_written_in_place(fresh_logits, axis):
    x = fresh_logits((7, 9))
    expect = fg.gumbel_softmax(x, 0.7, axis=axis, rng=K)
    for out in (np.empty_like(x), np.empty_like(x, order="F"),
                np.empty((14, 18), np.float32)[::2, ::2]):
        r = fg.gumbel_softmax(x, 0.7, axis=axis, rng=K, out=out)
        assert r is out and np.array_equal(out, expect)
    # out may be the input itself
    xx = x.copy()
    fg.gumbel_softmax(xx, 0.7, axis=axis, rng=K, out=xx)
    assert np.array_equal(xx, expect)
    idx = np.empty(x.shape[1 if axis == 0 else 0], np.int64)
    assert fg.gumbel_max(x, axis=axis, rng=K, out=idx) is idx
    assert np.array_equal(idx, fg.gumbel_max(x, axis=axis, rng=K))
    g = np.empty((3, 4), np.float64)
    assert fg.gumbel(rng=K, out=g) is g
    assert np.array_equal(g, fg.gumbel(size=(3, 4), dtype=np.float64, rng=K))


def test_out_keeps_other_memory_untouched():
    x = np.zeros((4, 5), np.float32)
    big = np.full((8, 10), 7.0, np.float32)
    fg.gumbel_softmax(x, rng=K, out=big[::2, ::2])
    assert (big[1::2] == 7).all() and (big[:, 1::2] == 7).all()


def test_float16_in_float16_out(fresh_logits):
    x = fresh_logits((5, 6), np.float16)
    y = fg.gumbel_softmax(x, rng=K)
    assert y.dtype == np.float16
    assert np.array_equal(y, fg.gumbel_softmax(x.astype(np.float32), rng=K).astype(np.float16))
    assert fg.gumbel(size=4, dtype=np.float16, rng=K).dtype == np.float16


def test_lists_are_accepted():
    y = fg.gumbel_softmax([[0.0, 1.0], [2.0, 3.0]], rng=K)
    assert y.dtype == np.float64 and y.shape == (2, 2)


def test_empty_arrays():
    for shape in [(0, 5), (3, 0, 4), (0,)]:
        x = np.zeros(shape, np.float32)
        if x.shape[-1] == 0:
            assert fg.gumbel_softmax(x, rng=K).shape == shape
            with pytest.raises(ValueError, match="no categories"):
                fg.gumbel_max(np.zeros((2, 0)), rng=K)
            continue
        assert fg.gumbel_softmax(x, rng=K).shape == shape
        assert fg.gumbel_log_softmax(x, rng=K).shape == shape
        assert fg.gumbel_max(x, rng=K).shape == shape[:-1]
        assert fg.categorical(x, 4, rng=K).shape == shape[:-1] + (4,)
        assert fg.multinomial(x, 4, rng=K).shape == shape
        assert fg.gumbel_topk(x, 2, rng=K).shape == shape[:-1] + (2,)
    assert fg.gumbel(size=(0, 3), rng=K).shape == (0, 3)
    assert fg.categorical(np.zeros((2, 3)), 0, rng=K).shape == (2, 0)
    assert fg.gumbel_topk(np.zeros((2, 3)), 0, rng=K).shape == (2, 0)


def test_scalar_size():
    g = fg.gumbel(rng=K)
    assert np.ndim(g) == 0 and g.dtype == np.float32
    assert g == fg.gumbel(size=1, rng=K)[0]


def test_single_category():
    x = np.array([[0.3], [-5.0]])
    assert (fg.gumbel_softmax(x, rng=K) == 1).all()
    assert (fg.gumbel_log_softmax(x, rng=K) == 0).all()
    assert (fg.gumbel_max(x, rng=K) == 0).all()
    assert (fg.multinomial(x, 9, rng=K) == 9).all()


def test_masked_categories_have_exactly_zero_probability():
    x = np.zeros((5000, 6), np.float32)
    x[:, [1, 4]] = -np.inf
    y = fg.gumbel_softmax(x, 0.3, rng=K)
    assert (y[:, [1, 4]] == 0).all() and np.allclose(y.sum(-1), 1)
    assert (fg.gumbel_log_softmax(x, rng=K)[:, [1, 4]] == -np.inf).all()
    d = fg.categorical(x, 20, rng=K)
    assert not np.isin(d, [1, 4]).any()
    t = fg.gumbel_topk(x, 6, rng=K)
    assert (t[:, 4:] == -1).all() and not np.isin(t[:, :4], [1, 4]).any()


def test_all_masked_rows():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, 1.0, 2.0]], np.float32)
    assert (fg.gumbel_softmax(x, rng=K)[0] == 0).all()
    assert (fg.gumbel_softmax(x, hard=True, rng=K)[0] == 0).all()
    assert (fg.gumbel_log_softmax(x, rng=K)[0] == -np.inf).all()
    assert fg.gumbel_max(x, rng=K)[0] == -1
    assert (fg.categorical(x, 4, rng=K)[0] == -1).all()
    assert (fg.multinomial(x, 4, rng=K)[0] == 0).all()
    assert (fg.gumbel_topk(x, 2, rng=K)[0] == -1).all()
    gx, gt = fg.gumbel_softmax_backward(np.ones_like(x), 1.0, logits=x, rng=K)
    assert (gx[0] == 0).all() and np.isfinite(gt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K_", [3, 5000])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_nan_logits(dtype, K_, sign):
    # NaN of either sign bit (the kernels find NaN through order keys: a positive NaN sorts
    # above +inf, a negative one below -inf), in short rows and in chunked long rows
    x = np.zeros((2, K_), dtype)
    x[0, K_ // 2] = np.copysign(np.nan, sign)
    x[:, -1] = 1.0
    assert np.signbit(x[0, K_ // 2]) == (sign < 0)
    for y in (fg.gumbel_softmax(x, rng=K), fg.gumbel_softmax(x, hard=True, rng=K),
              fg.gumbel_log_softmax(x, rng=K)):
        assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()
    for f in (lambda: fg.gumbel_max(x, rng=K), lambda: fg.categorical(x, 2, rng=K),
              lambda: fg.multinomial(x, 2, rng=K), lambda: fg.gumbel_topk(x, 2, rng=K)):
        with pytest.raises(ValueError, match="NaN in 1 row"):
            f()


def test_posinf_logits_raise():
    x = np.array([[0.0, np.inf, 1.0]], np.float32)
    for f in (lambda: fg.gumbel_softmax(x, rng=K), lambda: fg.gumbel_log_softmax(x, rng=K),
              lambda: fg.gumbel_max(x, rng=K), lambda: fg.gumbel_topk(x, 1, rng=K),
              lambda: fg.multinomial(x, 3, rng=K)):
        with pytest.raises(ValueError, match=r"\+inf"):
            f()


def test_huge_logits_and_extreme_tau_stay_finite():
    x = np.array([[3e38, -3e38, 0.0], [1e30, 1e30, -1e30]], np.float32)
    for tau in (1e-4, 1.0, 1e4):
        y = fg.gumbel_softmax(x, tau, rng=K)
        ly = fg.gumbel_log_softmax(x, tau, rng=K)
        assert np.isfinite(y).all() and np.allclose(y.sum(-1), 1)
        assert not np.isnan(ly).any()


def test_thread_count_does_not_change_any_bit(fresh_logits):
    x = fresh_logits((257, 3000))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = all_outputs(x)
        one["noise"] = fg.gumbel(size=(3, 70_000), rng=K)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = all_outputs(x)
        two["noise"] = fg.gumbel(size=(3, 70_000), rng=K)
    finally:
        numba.set_num_threads(before)
    assert_same(one, two)


def test_rows_do_not_depend_on_their_neighbours(fresh_logits):
    # a row's sample is a function of (key, global row, logits row) only
    x = fresh_logits((20, 50))
    y = fg.gumbel_softmax(x, rng=K)
    x2 = x.copy()
    x2[5:] = 0
    assert np.array_equal(fg.gumbel_softmax(x2, rng=K)[:5], y[:5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tau", [1.0, 0.3, 0.5, 0.1])
def test_row_and_chunk_kernels_give_the_same_bits(fresh_logits, dtype, tau):
    # few long rows run parallel over (row, chunk) items; many rows run one row per thread;
    # the API picks by shape and thread count, so the two must agree to the bit
    from fastgumbel import cpu
    K_ = 3 * cpu.CHUNK + 5
    x = fresh_logits((5, K_), dtype)
    x[1] = -np.inf                   # all masked
    x[2, 7] = np.nan                 # NaN row
    x[3, : 2 * cpu.CHUNK] = -np.inf  # the max lives in a late chunk
    for mode in (0, 1, 2):
        a = np.empty_like(x)
        b = np.empty_like(x)
        # float64 logits take the w paths (tau == 1, 1 / n) with either word width, float32
        # with 64-bit words the general formula
        for bits64 in (False, True):
            ra = cpu.softmax_by_row(x, a, 11, np.uint64(5), np.uint64(6), np.uint64(7), bits64,
                                    tau, mode)
            rb = cpu.softmax_by_chunk(x, b, 11, np.uint64(5), np.uint64(6), np.uint64(7), bits64,
                                      tau, mode)
            assert ra == rb == 0
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), (mode, bits64)
    x[4, 9] = np.inf
    assert cpu.softmax_by_row(x, a, 0, np.uint64(1), np.uint64(2), np.uint64(3), True, tau, 0) == 1
    assert cpu.softmax_by_chunk(x, b, 0, np.uint64(1), np.uint64(2), np.uint64(3), True, tau, 0) == 1


def _plant_near_tie(x, noise, r, rs):
    """Row r of ``x`` gets two entries whose x + noise is 8 and 8 - 8 j eps (j drawn from
    -4..4; j = 0 an exact tie): an exact or near tie, the row's top where the rest of its
    x + noise stays below 8."""
    dtype = x.dtype.type
    eps = np.finfo(dtype).eps
    a, b = rs.choice(x.shape[1], 2, replace=False)
    x[r, a] = dtype(8) - noise[r, a]
    x[r, b] = dtype(8 - int(rs.integers(-4, 5)) * eps * 8) - noise[r, b]


@pytest.mark.parametrize("dtype,bits64", [(np.float32, False), (np.float64, True),
                                          (np.float64, False)])
def test_short_row_groups_give_the_row_kernels_bits(dtype, bits64):
    # rows of at most 64 columns at tau == 1 (soft, hard) run a group of rows at a time with
    # the columns as the outer loop (cpu._short); the chunk kernel computes them row by row.
    # Fresh logits and key, group edges (GROUP = 128 rows), special rows, exact and near ties
    # of w at the top (the hard sample's fallback), a per-row tau mixing 1 and other values,
    # and a float64 reference of the soft values.
    from fastgumbel import cpu
    seed = np.random.SeedSequence().entropy
    rs = np.random.default_rng(seed)
    k0, k1, st = (np.uint64(v) for v in rs.integers(0, 2**32, 3))
    eps = np.finfo(dtype).eps
    for K_ in (1, 2, 3, 5, 10, 16, 33, 64, 65):
        rows = int(rs.choice([7, 129, 300]))
        x = (rs.standard_normal((rows, K_)) * rs.choice([0.1, 3.0, 300.0])).astype(dtype)
        noise = np.empty_like(x)
        cpu.fill_noise(noise, 5, k0, k1, st, bits64, False, 0.0, 1.0)
        for r in range(0, rows, 3):
            if K_ > 1:
                _plant_near_tie(x, noise, r, rs)
        x[1] = -np.inf
        x[2, 0] = np.nan
        x[3, :K_ // 2] = -np.inf
        x[4] = 0
        x[5, -1] = np.finfo(dtype).max
        per_row = np.where(np.arange(rows) % 5 == 0, 0.7, 1.0)
        for tau in (1.0, per_row):
            for mode in (cpu.SOFT, cpu.HARD):
                ref = np.empty_like(x)
                assert cpu.softmax_by_chunk(x, ref, 5, k0, k1, st, bits64, tau, mode) == 0
                for run in (cpu.softmax_by_row, cpu.softmax_rows):
                    got = np.empty_like(x)
                    assert run(x, got, 5, k0, k1, st, bits64, tau, mode) == 0
                    assert np.array_equal(got.view(np.uint8), ref.view(np.uint8)), (seed, K_)
        y = np.empty_like(x)
        cpu.softmax_rows(x, y, 5, k0, k1, st, bits64, 1.0, cpu.SOFT)
        z = x[6:].astype(np.float64) + noise[6:]
        arg = z - z.max(-1, keepdims=True)
        z = np.exp(arg)
        z /= z.sum(-1, keepdims=True)
        # the exp's argument is rounded in both: relative error up to a few eps |x - max|;
        # 32-bit words give float32 noise (E), also for float64 logits
        e_ref = eps if bits64 else np.finfo(np.float32).eps
        tol = 64 * e_ref * (1 + np.abs(x[6:]) + np.abs(noise[6:]) + np.abs(arg)
                            + np.abs(x[6:]).max(-1, keepdims=True))
        assert (np.abs(y[6:] - z) <= tol * z + np.finfo(dtype).tiny).all(), (seed, K_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bits64", [False, True])
@pytest.mark.parametrize("tau", [1.0, 0.5, 0.1])
def test_bound_pruned_hard_rows_give_the_full_computations_bits(dtype, bits64, tau):
    # At tau == 1 (and tau = 1 / n, with the shift 0) a row of at most CHUNK columns takes
    # its hard index from the bound-pruned search (cpu._ratio._ratio_hard), which computes
    # w = exp(x - mc) / E for a few candidates only; the chunk kernel computes every w (and
    # its n-th power), the sum and the normalized search. Rows with
    # exact and near ties at the top (within a few eps, where the pruned search gives way),
    # and special rows, must come out the same to the bit.
    from fastgumbel import cpu
    rows, K_ = 400, 257
    seed = np.random.SeedSequence().entropy
    rs = np.random.default_rng(seed)
    k0, k1, st = (np.uint64(v) for v in rs.integers(0, 2**32, 3))
    x = rs.standard_normal((rows, K_)).astype(dtype)
    noise = np.empty_like(x)
    cpu.fill_noise(noise, 0, k0, k1, st, bits64, False, 0.0, 1.0)
    for r in range(rows // 2):
        _plant_near_tie(x, noise, r, rs)
    x[-1] = -np.inf
    x[-2, 3] = np.nan
    x[-3, 5] = np.inf
    x[-4, :200] = -np.inf
    a = np.empty_like(x)
    b = np.empty_like(x)
    ra = cpu.softmax_by_row(x, a, 0, k0, k1, st, bits64, tau, cpu.HARD)
    rb = cpu.softmax_by_chunk(x, b, 0, k0, k1, st, bits64, tau, cpu.HARD)
    assert ra == rb == 1, seed
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), seed


@pytest.mark.parametrize("dtype,bits64", [(np.float32, False), (np.float64, True),
                                          (np.float64, False)])
@pytest.mark.parametrize("K_", [9, 300, 2 * 2048 + 7])
def test_hard_at_power_tau_is_the_soft_samples_first_max(dtype, bits64, K_):
    # At tau = 1 / n the soft sample is (w s)**n / sum (cpu._power), so the hard sample is
    # the one-hot of that sample's first maximum, not of x + g's: rows with exact and near
    # ties of x + g at the top (where the two can differ), special rows and a per-row tau
    # mixing powers (0.5 unscaled, 0.1 and 1/3 scaled) with 1 and 0.3, through the row,
    # chunk and serial kernels, all to the same bits.
    from fastgumbel import cpu
    seed = np.random.SeedSequence().entropy
    rs = np.random.default_rng(seed)
    k0, k1, st = (np.uint64(v) for v in rs.integers(0, 2**32, 3))
    rows = 60 if K_ > 2048 else 300
    x = (rs.standard_normal((rows, K_)) * rs.choice([0.3, 3.0])).astype(dtype)
    x[: rows // 2] -= 30             # the pairs below are the top of their rows
    noise = np.empty_like(x)
    cpu.fill_noise(noise, 3, k0, k1, st, bits64, False, 0.0, 1.0)
    for r in range(0, rows // 2):
        _plant_near_tie(x, noise, r, rs)
    x[1] = -np.inf
    x[3, 0] = np.nan
    x[5, : K_ // 2] = -np.inf
    tau = np.array([0.5, 0.1, 1 / 3, 1.0, 0.3])[np.arange(rows) % 5]
    for t in (0.5, 0.1, tau):
        soft = np.empty_like(x)
        assert cpu.softmax_by_row(x, soft, 3, k0, k1, st, bits64, t, cpu.SOFT) == 0
        ones = np.zeros_like(x)
        live = ~np.isnan(soft).any(-1) & (soft.max(-1) > 0)
        ones[live, np.argmax(soft[live], axis=-1)] = 1
        ones[~live] = soft[~live]
        for run in (cpu.softmax_by_row, cpu.softmax_by_chunk, cpu.softmax_rows):
            got = np.empty_like(x)
            assert run(x, got, 3, k0, k1, st, bits64, t, cpu.HARD) == 0
            assert np.array_equal(got.view(np.uint8), ones.view(np.uint8)), (seed, run)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_row_and_chunk_kernels_agree(fresh_logits, dtype):
    from fastgumbel import cpu
    K_ = 3 * cpu.CHUNK + 5
    x = fresh_logits((4, K_), dtype)
    x[1] = -np.inf
    x[2, : 2 * cpu.CHUNK + 1] = -np.inf
    x[3] += 40.0 * (np.arange(K_) % cpu.CHUNK == 3)   # ties of logits across chunks
    for D in (1, 3):
        a = np.empty((4, D), np.int64)
        b = np.empty((4, D), np.int64)
        ra = cpu.argmax_by_row(x, a, 7, np.uint64(5), np.uint64(6), np.uint64(7), dtype == np.float64)
        rb = cpu.argmax_by_chunk(x, b, 7, np.uint64(5), np.uint64(6), np.uint64(7),
                                 dtype == np.float64)
        assert ra == rb == (0, 0)
        assert np.array_equal(a, b) and (a[1] == -1).all() and (a[2] > 2 * cpu.CHUNK).all()
    x[0, 5] = np.nan
    assert cpu.argmax_by_chunk(x, b, 0, np.uint64(5), np.uint64(6), np.uint64(7), False)[0] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_ties_go_to_the_first_index(dtype):
    # x = -g makes x + g exactly +0.0 in every column: the first index wins, as in np.argmax
    from fastgumbel import cpu
    for K_ in (7, 1000, 2 * cpu.CHUNK + 3):
        g = fg.gumbel(size=(3, K_), dtype=dtype, rng=K)
        x = -g
        x[1, : K_ // 2] = -np.inf
        x[2, 5] += 1.0
        assert fg.gumbel_max(x, rng=K).tolist() == [0, K_ // 2, 5]
        assert np.argmax(x + g, -1).tolist() == [0, K_ // 2, 5]
        # exact ties of x + g stay exact ties of exp((x + g - M) / tau) ...
        assert fg.gumbel_softmax(x, 0.3, hard=True, rng=K).argmax(-1).tolist() == [0, K_ // 2, 5]
        # ... but at tau == 1 the soft sample is exp(x - max + C) / E (at tau = 1 / n its
        # n-th power), which rounds the tied entries differently; the hard sample still
        # follows the soft one
        for tau in (1.0, 0.5, 0.1):
            y = fg.gumbel_softmax(x, tau, rng=K)
            h = fg.gumbel_softmax(x, tau, hard=True, rng=K)
            assert np.array_equal(h, np.eye(K_, dtype=dtype)[y.argmax(-1)])
            assert y.argmax(-1)[2] == 5


def test_vector_width_does_not_change_any_bit(background):
    # explicit fma in the polynomials and fixed-lane reductions: compiled for a narrower
    # vector ISA (AVX2 instead of AVX-512, or SSE instead of AVX2) the kernels give the
    # same bits, so results do not depend on the machine's vector unit. Both builds run in
    # fresh processes with empty caches (tests/_background.py, the isa step).
    from _background import isa_features
    feats, narrow = isa_features()
    if narrow is None:
        pytest.skip("no AVX2 or AVX-512 on this machine: nothing narrower to compare with")

    def lines(name):
        code, out = background["isa-" + name].result()
        assert code == 0, out[-2000:]
        return {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in out.splitlines()
                if ln.startswith(("HASH ", "ASM "))}

    host, narrower = lines("host"), lines("narrow")
    assert host["HASH"] == narrower["HASH"]
    # and the hot loops are vector code: packed FMAs in 256/512-bit registers, no gathers or
    # scatters (which a loop indexed as xr[c0 + j] gets: see cpu._reduce), and 512-bit
    # registers where the CPU has AVX-512 (_scalar.wide_vectors)
    asm = json.loads(host["ASM"])
    for name, facts in asm.items():
        assert facts["gathers"] == 0 and facts["packed_fma"] > 0, (name, facts)
        if "+avx512f" in feats and "+avx512vl" in feats and "+avx512bw" in feats \
                and "+avx512dq" in feats:
            assert facts["zmm"] > 0, (name, facts)


def test_block_schedule_counts_every_row_once(fresh_logits):
    # the kernels hand out blocks of rows from a counter: uneven last blocks, more blocks
    # than threads and fewer, one thread or two, and the per-worker counts add up exactly
    from numba import njit

    from fastgumbel import cpu
    from fastgumbel._numba import PARALLEL
    from fastgumbel.cpu._schedule import _blocks, _num_threads

    @njit
    def split(rows, K):
        return _num_threads(), _blocks(rows, K)[:3]

    before = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            workers = threads if PARALLEL else 1      # the serial build runs one worker
            assert split(10**6, 7)[0] == workers
            for rows, K in ((3001, 7), (5, 40_000), (1, 3)):
                nw, rb, nb = split(rows, K)[1]
                assert nw == min(workers, nb) and (nb - 1) * rb < rows <= nb * rb
                x = fresh_logits((rows, K))
                bad = np.unique(np.array([0, rows // 2, rows - 1]))
                x[bad, 0] = np.inf
                out = np.empty_like(x)
                assert cpu.softmax_by_row(x, out, 0, np.uint64(1), np.uint64(2), np.uint64(3),
                                          False, 1.0, 0) == bad.size
                idx = np.empty((rows, 1), np.int64)
                x[bad, 0] = 0
                x[bad, 1] = np.nan
                assert cpu.argmax_by_row(x, idx, 0, np.uint64(1), np.uint64(2), np.uint64(3),
                                         False) == (bad.size, 0)
    finally:
        numba.set_num_threads(before)
