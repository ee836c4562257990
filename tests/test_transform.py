"""The bits -> uniform -> Gumbel transform at and around every extreme bit pattern, and the
accuracy of the polynomial log/exp over the ranges the kernels use."""
import numpy as np
import pytest
from numba import njit

from fastgumbel import _scalar as S
from fastgumbel.cpu import _dtypes
from conftest import ref_gumbel, ref_uniform32
from transform_words import g32, g64, u32, u64


@njit(cache=True)
def _map(kind, x, out):
    for i in range(x.size):
        if kind == 0:
            out[i] = S.log_f32(x[i])
        elif kind == 1:
            out[i] = S.exp_f32(x[i])


@njit(cache=True)
def _map64(kind, x, out):
    for i in range(x.size):
        if kind == 0:
            out[i] = S.log_f64(x[i])
        else:
            out[i] = S.exp_f64(x[i])


def ulps32(x, ref):
    """Error of float32 x in units of the float32 spacing at the exact value."""
    ref = np.asarray(ref, np.longdouble)
    return np.abs(x.astype(np.longdouble) - ref) / np.spacing(np.abs(ref).astype(np.float32))


def edge_words32():
    """Every word within 2**16 of 0, of 2**31 (either side) and of 2**32, plus random ones."""
    r = np.arange(2**16, dtype=np.uint64)
    rnd = np.random.default_rng().integers(0, 2**32, 2**18, dtype=np.uint64)
    return np.unique(np.concatenate([r, 2**31 - 1 - r, 2**31 + r, 2**32 - 1 - r, rnd]))


def test_gumbel32_finite_accurate_monotone_at_edge_bits():
    w = edge_words32()
    g = g32(w)
    ref = ref_gumbel(w, False)
    assert np.isfinite(g).all()
    # documented bound (docs/rng.md): <= 2.5 ulp where |g| >= 1; where |g| < 1, g = -log(E)
    # with E near 1 cancels, and the bound is absolute: 2.5e-7 (measured 1.75e-7)
    err = ulps32(g, ref)
    small = np.abs(ref) < 1
    assert err[~small].max() <= 2.5, err[~small].max()
    assert np.abs(g[small] - ref[small]).max() < 2.5e-7
    # monotone in the underlying uniform: s=0 words increase u, s=1 words (~w) decrease 1-u
    order = np.argsort(ref, kind="stable")
    assert np.all(np.diff(g[order].astype(np.float64)) >= 0)


def test_gumbel32_reaches_the_documented_tails():
    g = g32([0, 2**32 - 1, 2**31 - 1, 2**31])
    assert g[0] == pytest.approx(-np.log(33 * np.log(2)), rel=1e-6)   # -3.13
    assert g[1] == pytest.approx(22.873857, rel=1e-6)                 # -log(2**-33)
    assert g[1] > 22
    # the naive -log(-log(u)) on a 24-bit uniform stops near 16.6
    u = np.float32(1 - 2.0**-24)
    assert -np.log(-np.log(u)) < 17


def test_gumbel64_edge_bits_and_tails():
    r = np.arange(2**12, dtype=np.uint64)
    w = np.unique(np.concatenate([r, 2**63 - 1 - r, 2**63 + r, 2**64 - 1 - r,
                                  np.random.default_rng().integers(0, 2**64, 2**16,
                                                                   dtype=np.uint64)]))
    g = g64(w)
    ref = ref_gumbel(w, True)
    assert np.isfinite(g).all()
    small = np.abs(ref) < 1
    ulps = np.abs(g - ref) / np.spacing(np.abs(ref).astype(np.float64))
    assert ulps[~small].max() <= 2.5
    assert np.abs(g - ref)[small].max() < 5e-16
    assert g64([2**64 - 1])[0] > 45 and g64([0])[0] == pytest.approx(-3.808, abs=1e-3)
    order = np.argsort(ref, kind="stable")
    assert np.all(np.diff(g[order]) >= 0)


def test_uniform32_bit_exact_and_open_interval():
    w = edge_words32()
    u = u32(w)
    assert np.array_equal(u.view(np.uint32), ref_uniform32(w).view(np.uint32))
    assert u.min() > 0 and u.max() < 1
    assert u.min() == np.float32(2.0**-33) and u.max() == np.float32(1 - 2.0**-24)


def test_uniform64_open_interval():
    w = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1], np.uint64)
    u = u64(w)
    assert u[0] == 2.0**-65 and u[-1] == 1 - 2.0**-53 and (u > 0).all() and (u < 1).all()


def test_log_f32_accuracy_over_the_used_range():
    # the kernels take logs of t in [2**-33, 1) and of E in [2**-33, 23], and of sums in
    # [1, 2**24]; test all float32 normals from 2**-40 to 2**40 by sampling every exponent
    rs = np.random.default_rng()
    x = np.ldexp(rs.uniform(0.5, 1.0, 2**20), rs.integers(-40, 41, 2**20)).astype(np.float32)
    x = np.concatenate([x, np.float32([1.0, 0.5, 2.0, 1 - 2.0**-24, 1 + 2.0**-23])])
    out = np.empty_like(x)
    _map(0, x, out)
    ref = np.log(x.astype(np.longdouble))
    err = np.abs(out - ref) / np.spacing(np.maximum(np.abs(ref), 2.0**-60).astype(np.float32))
    assert err.max() < 1.0, err.max()
    assert out[-5] == 0.0


def test_exp_f32_accuracy_and_limits():
    x = np.concatenate([np.random.default_rng().uniform(-87.3, 88.7, 2**20),
                        [0.0, -87.3, 88.7]]).astype(np.float32)
    out = np.empty_like(x)
    _map(1, x, out)
    ref = np.exp(x.astype(np.longdouble))
    err = np.abs(out - ref) / np.spacing(ref.astype(np.float32))
    assert err.max() < 1.5, err.max()
    assert out[-3] == 1.0 and np.isfinite(out[-1])
    edge = np.float32([-np.inf, -1e30, -88.0, np.inf, 1e30, np.nan])
    eo = np.empty_like(edge)
    _map(1, edge, eo)
    assert eo[:3].tolist() == [0.0, 0.0, 0.0] and eo[3] == np.inf and eo[4] == np.inf
    assert np.isnan(eo[5])


def test_log_exp_f64_accuracy():
    rs = np.random.default_rng()
    x = np.ldexp(rs.uniform(0.5, 1.0, 2**18), rs.integers(-1000, 1000, 2**18))
    out = np.empty_like(x)
    _map64(0, x, out)
    ref = np.log(x.astype(np.longdouble))
    assert (np.abs(out - ref) / np.spacing(np.abs(ref).astype(np.float64))).max() < 1.0
    x = rs.uniform(-708, 709.7, 2**18)
    _map64(1, x, out)
    ref = np.exp(x.astype(np.longdouble))
    assert (np.abs(out - ref) / np.spacing(ref.astype(np.float64))).max() < 2.0
    one = np.array([0.0, -np.inf, np.inf, np.nan])
    o1 = np.empty(4)
    _map64(1, one, o1)
    assert o1[0] == 1.0 and o1[1] == 0.0 and o1[2] == np.inf and np.isnan(o1[3])


@njit(cache=True)
def _nonpos_mismatches32():
    """float32 values from -inf to 64 (every one) where exp_nonpos_f32 and exp_f32 differ."""
    bad = 0
    top = 0x42800000                     # 64.0
    for bits in range(0x80000000, 0x100000000 + top + 1):
        x = S.i32_as_f32(np.int32(np.uint32(bits & 0xFFFFFFFF)))
        if x == x and S.f32_as_i32(S.exp_nonpos_f32(x)) != S.f32_as_i32(S.exp_f32(x)):
            bad += 1
    return bad


@njit(cache=True)
def _nonpos_pairs64(x, a, b):
    for i in range(x.size):
        a[i] = S.exp_nonpos_f64(x[i])
        b[i] = S.exp_f64(x[i])


def test_exp_nonpos_is_exp_on_its_domain():
    # the softmax kernels use the cheaper exp for x - max <= 0 and, at tau == 1, for
    # x - (max - C) <= 2 C: it must give exp's bits
    assert _nonpos_mismatches32() == 0   # every float32 from -inf to 64 (3.25e9 values)
    rs = np.random.default_rng()
    x = np.concatenate([-np.ldexp(rs.uniform(0.5, 1, 2**20), rs.integers(-1074, 11, 2**20)),
                        -rs.uniform(700, 746, 2**16), rs.uniform(0, 128, 2**18),
                        np.ldexp(rs.uniform(0.5, 1, 2**16), rs.integers(-1074, 8, 2**16)),
                        [0.0, -0.0, -np.inf, -708.3964185322641, -708.39641853226, -745.2,
                         -5e-324, 64.0, 128.0]])
    a = np.empty_like(x)
    b = np.empty_like(x)
    _nonpos_pairs64(x, a, b)
    assert np.array_equal(a.view(np.int64), b.view(np.int64))


@njit
def _keys(v, k, back):
    for i in range(v.size):
        k[i] = _dtypes.order_key(v[i])
        back[i] = _dtypes.key_value(k[i])


@pytest.mark.parametrize("dt, it", [(np.float32, np.int32), (np.float64, np.int64)])
def test_order_keys_sort_like_the_floats(dt, it):
    # the kernels' max reductions run on these integer keys
    fi = np.finfo(dt)
    v = np.concatenate([np.array([-np.inf, -fi.max, -1.0, -fi.tiny, -fi.smallest_subnormal, 0.0,
                                  fi.smallest_subnormal, fi.tiny, 1.0, fi.max, np.inf], dt),
                        np.random.default_rng().standard_normal(4096).astype(dt) * 1e3])
    v = np.sort(v)
    k = np.empty(v.size, it)
    back = np.empty_like(v)
    _keys(v, k, back)
    assert np.array_equal(back.view(it), v.view(it))
    assert np.all(np.diff(k) >= 0) and np.all((np.diff(k) > 0) == (np.diff(v) > 0))
