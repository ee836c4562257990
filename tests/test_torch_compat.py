"""fastgumbel.torch as a drop-in for torch.nn.functional.gumbel_softmax: PyTorch's own
test_gumbel_softmax (test/test_nn.py, rewritten for pytest, assertions kept) run against
fastgumbel.torch, the functional call forms, argument kinds, dtypes, meta and 0-d tensors."""
import warnings

import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")
fgt = pytest.importorskip("fastgumbel.torch")
F = torch.nn.functional

KEY = fg.Key(7, stream=2)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


# ----------------------------------------------------------------------------------------
# PyTorch's test_gumbel_softmax, against fastgumbel.torch


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim,count_expected", [
    ([5], 0, 1), ([5], -1, 1), ([5, 4], 1, 5), ([5, 4, 3], 1, 5 * 3), ([5, 4, 3], -1, 5 * 4)])
def test_pytorch_st_shapes(dtype, shape, dim, count_expected):
    logits = torch.randn(shape, dtype=torch.float).to(dtype)
    y_draw = fgt.gumbel_softmax(logits, hard=True, dim=dim)
    assert y_draw.min() >= 0                                     # all values positive
    assert y_draw.shape == logits.shape                          # shape unchanged
    assert y_draw.dtype == logits.dtype
    torch.testing.assert_close(y_draw.sum().double(), torch.tensor(float(count_expected),
                               dtype=torch.float64), rtol=0, atol=torch.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pytorch_straight_through(dtype):
    torch.manual_seed(0)
    num_draws = 100
    logits = torch.tensor([[0.2, 0.8, 0.1]]).reshape([1, 3]).to(dtype).requires_grad_()
    probs = logits.float().softmax(dim=-1)
    counts = torch.zeros(logits.shape)
    for _ in range(num_draws):
        y_draw = fgt.gumbel_softmax(logits, hard=True)
        counts = counts + y_draw.float()
    assert y_draw.min() >= 0
    torch.testing.assert_close(counts.sum(), torch.tensor(float(num_draws)), rtol=0,
                               atol=torch.finfo(counts.dtype).eps)   # one draw each
    expected = probs * num_draws
    z = (counts - expected) / (expected * (1 - probs)).sqrt()      # ~N(0, 1) if unbiased
    assert z.abs().max().item() < 2.58


@pytest.mark.parametrize("dtype", DTYPES)
def test_pytorch_soft_and_hard_propagate_the_same_gradient(dtype):
    logits_soft = torch.zeros(10, 10, dtype=dtype, requires_grad=True)
    logits_hard = torch.zeros(10, 10, dtype=dtype, requires_grad=True)
    seed = torch.random.get_rng_state()
    y_soft = fgt.gumbel_softmax(logits_soft, hard=False)
    torch.random.set_rng_state(seed)
    y_hard = fgt.gumbel_softmax(logits_hard, hard=True)
    y_soft.sum().backward()
    y_hard.sum().backward()
    tol = 2 * torch.finfo(dtype).eps            # 2 eps = one addition + one subtraction
    torch.testing.assert_close(logits_soft.grad, logits_hard.grad, rtol=0, atol=tol)


# ----------------------------------------------------------------------------------------
# call forms and argument kinds


def x34(dtype=torch.float64):
    return torch.from_numpy(np.random.default_rng(1).standard_normal((3, 4))).to(dtype)


def test_functional_call_forms_mean_what_they_mean_in_torch():
    x = x34()
    ref = fgt.gumbel_softmax(x, 0.5, True, dim=0, generator=KEY)
    assert ref.sum(0).tolist() == [1.0] * 4                      # dim=0: columns are one-hot
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect."):
        full = fgt.gumbel_softmax(x, 0.5, True, 1e-5, 0, generator=KEY)  # F's positional form
    assert torch.equal(full, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # the default eps does not warn
        assert torch.equal(fgt.gumbel_softmax(x, 0.5, True, 1e-10, 0, generator=KEY), ref)
        assert torch.equal(fgt.gumbel_softmax(logits=x, tau=0.5, hard=True, eps=1e-10, dim=0,
                                              generator=KEY), ref)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(x, 0.5, True, 1e-5, 0)      # torch warns the same way
    # generator is keyword-only: a sixth positional argument is an error in both
    with pytest.raises(TypeError):
        fgt.gumbel_softmax(x, 0.5, True, 1e-10, 0, KEY)
    with pytest.raises(TypeError):
        F.gumbel_softmax(x, 0.5, True, 1e-10, 0, KEY)


@pytest.mark.parametrize("hard", [1, np.bool_(True), torch.tensor(True), torch.tensor(1)])
def test_bool_like_hard(hard):
    x = x34()
    assert torch.equal(fgt.gumbel_softmax(x, hard=hard, generator=KEY),
                       fgt.gumbel_softmax(x, hard=True, generator=KEY))
    assert F.gumbel_softmax(x, hard=hard).sum().item() == 3.0      # torch takes it too


@pytest.mark.parametrize("hard", [0, np.bool_(False), torch.tensor(False)])
def test_bool_like_soft(hard):
    x = x34()
    assert torch.equal(fgt.gumbel_softmax(x, hard=hard, generator=KEY),
                       fgt.gumbel_softmax(x, hard=False, generator=KEY))


@pytest.mark.parametrize("dim", [np.int64(0), torch.tensor(0), np.int32(-2)])
def test_integer_like_dim(dim):
    x = x34()
    assert torch.equal(fgt.gumbel_softmax(x, dim=dim, generator=KEY),
                       fgt.gumbel_softmax(x, dim=0, generator=KEY))
    assert torch.equal(fgt.gumbel_max(x, dim=dim, generator=KEY),
                       fgt.gumbel_max(x, dim=0, generator=KEY))


@pytest.mark.parametrize("tau", [0.5, np.float32(0.5), np.float64(0.5), np.array(0.5),
                                 torch.tensor(0.5), torch.tensor(0.5, dtype=torch.float16),
                                 torch.tensor(0.5, dtype=torch.bfloat16)])
def test_scalar_tau_kinds_equal_the_float(tau):
    x = x34(torch.float32)
    assert torch.equal(fgt.gumbel_softmax(x, tau, generator=KEY),
                       fgt.gumbel_softmax(x, 0.5, generator=KEY))


@pytest.mark.parametrize("tau", [2, np.int64(2), torch.tensor(2)])
def test_integer_tau(tau):
    x = x34(torch.float32)
    assert torch.equal(fgt.gumbel_softmax(x, tau, generator=KEY),
                       fgt.gumbel_softmax(x, 2.0, generator=KEY))


def reference(x, tau, key, dim=-1):
    """softmax((x + g) / tau) in float64 with the key's noise field of the compute dtype
    (float64 for float64 logits, else float32)."""
    moved = x.movedim(dim, -1)
    nt = np.float64 if x.dtype == torch.float64 else np.float32
    g = torch.from_numpy(fg.gumbel(size=tuple(moved.shape), dtype=nt, rng=key)).double()
    if isinstance(tau, torch.Tensor) and tau.dim():
        tau = tau.movedim(dim, -1)
    return torch.softmax((moved.double() + g) / tau, -1).movedim(-1, dim)


@pytest.mark.parametrize("shape,tau_shape,dim", [
    ((3, 4), (3, 1), -1), ((3, 4), (3,), -1), ((2, 3, 5), (2, 1, 5), 1),
    ((2, 3, 5), (2, 5), 1), ((2, 3, 5), (3,), -1), ((2, 3, 5), (1, 1, 1), -1)])
def test_per_row_tau_equals_the_reference(shape, tau_shape, dim):
    rs = np.random.default_rng(4)
    x = torch.from_numpy(rs.standard_normal(shape))
    tau = torch.from_numpy(rs.uniform(0.2, 3.0, tau_shape))
    y = fgt.gumbel_softmax(x, tau, dim=dim, generator=KEY)
    keep = fg._checks.tau_keepdims_shape(tau_shape, shape, dim % len(shape))
    torch.testing.assert_close(y, reference(x, tau.reshape(keep), KEY, dim), rtol=1e-12,
                               atol=1e-14)
    hard = fgt.gumbel_softmax(x, tau, hard=True, dim=dim, generator=KEY)
    assert torch.equal(hard, fgt.gumbel_softmax(x, 1.0, hard=True, dim=dim, generator=KEY))
    # the torch form (B, 1) broadcasts in F.gumbel_softmax too
    if len(tau_shape) == len(shape):
        assert F.gumbel_softmax(x, tau.reshape(keep), dim=dim).shape == x.shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hard", [False, True])
def test_per_row_tau_rows_equal_scalar_calls_bit_for_bit(dtype, hard):
    """The per-row contract: row r with tau[r] is the scalar call with tau[r] on that row,
    also with a gradient (the straight-through forward)."""
    x = x34(dtype)
    for tau in (torch.tensor([[0.3], [1.0], [2.5]], dtype=torch.float64),
                torch.tensor([0.3, 1.0, 2.5], requires_grad=True)):
        y = fgt.gumbel_softmax(x, tau, hard=hard, generator=KEY)
        for r in range(3):
            yr = fgt.gumbel_softmax(x, float(tau.detach().reshape(-1)[r]), hard=hard,
                                    generator=KEY)
            assert torch.equal(y[r].detach(), yr[r])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_compute_in_float32_or_float64(dtype):
    x = x34(dtype)
    y = fgt.gumbel_softmax(x, 0.7, generator=KEY)
    assert y.dtype == dtype
    ref = reference(x.float() if dtype != torch.float64 else x, 0.7, KEY)
    tol = {torch.float64: 1e-13, torch.float32: 1e-6, torch.float16: 1e-3,
           torch.bfloat16: 8e-3}[dtype]
    torch.testing.assert_close(y.double(), ref, rtol=tol, atol=tol)
    if dtype == torch.bfloat16:        # float32 math, rounded once to bfloat16
        want = fgt.gumbel_softmax(x.float(), 0.7, generator=KEY).to(torch.bfloat16)
        assert torch.equal(y, want)
    h = fgt.gumbel_softmax(x, 0.7, hard=True, generator=KEY)
    assert h.dtype == dtype and torch.equal(h.argmax(-1), y.float().argmax(-1))
    xg = x.clone().requires_grad_()
    fgt.gumbel_softmax(xg, 0.7, hard=True, generator=KEY)[:, 0].sum().backward()
    assert xg.grad.dtype == dtype and torch.isfinite(xg.grad.float()).all()


def test_autocast_bfloat16():
    lin = torch.nn.Linear(4, 6)
    x = torch.randn(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = lin(x)
        assert h.dtype == torch.bfloat16
        y = fgt.gumbel_softmax(h, 0.5, generator=KEY)
        z = fgt.gumbel_softmax(x, 0.5, generator=KEY)
        assert F.gumbel_softmax(x, 0.5).dtype == z.dtype == torch.float32
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()


def test_meta_tensors_give_shapes_and_dtypes():
    for dtype in DTYPES:
        x = torch.empty(3, 5, device="meta", dtype=dtype)
        for hard in (False, True):
            y = fgt.gumbel_softmax(x, 0.5, hard=hard)
            assert y.device.type == "meta" and y.shape == x.shape and y.dtype == dtype
    x = torch.empty(3, 5, device="meta", requires_grad=True)
    assert fgt.gumbel_softmax(x, hard=True).shape == (3, 5)
    g = fgt.gumbel_max(torch.empty(3, 5, device="meta"))
    assert g.device.type == "meta" and g.shape == (3,) and g.dtype == torch.int64
    assert fgt.categorical(torch.empty(3, 5, device="meta"), 4).shape == (3, 4)


def test_zero_dim_logits_as_torch():
    x = torch.tensor(0.3, requires_grad=True)
    for hard in (False, True):
        y = fgt.gumbel_softmax(x, hard=hard, generator=KEY)
        assert y.shape == () and y.item() == 1.0 == F.gumbel_softmax(x, hard=hard).item()
        (g,) = torch.autograd.grad(y, x)
        assert g.item() == 0.0
    assert fgt.gumbel_softmax(x, dim=0, generator=KEY).item() == 1.0
    with pytest.raises(IndexError):
        F.gumbel_softmax(x, dim=1)
    with pytest.raises(np.exceptions.AxisError, match="dim=1 is out of range"):
        fgt.gumbel_softmax(x, dim=1)
    assert fgt.gumbel_max(x.detach()).item() == 0 == torch.argmax(x).item()


def test_empty_rows_and_discrete_integer_likes():
    assert fgt.gumbel_softmax(torch.zeros(0, 3)).shape == (0, 3)
    x = x34()
    c = fgt.categorical(x, np.int64(5), dim=torch.tensor(1), generator=KEY)
    assert torch.equal(c, fgt.categorical(x, 5, generator=KEY))
    assert torch.equal(fgt.categorical(x, torch.tensor(5), generator=KEY), c)
    b = fgt.gumbel_max(x.to(torch.bfloat16), generator=KEY)
    assert torch.equal(b, fgt.gumbel_max(x.to(torch.bfloat16).float(), generator=KEY))
    with pytest.raises(TypeError, match="num_samples must be a non-negative integer; got 2.5"):
        fgt.categorical(x, 2.5)


def test_bad_tau_values_name_tau():
    x = x34()
    for bad in (0.0, -1.0, float("nan"), np.float32(0), torch.tensor(-2.0)):
        with pytest.raises(ValueError, match="tau"):
            fgt.gumbel_softmax(x, bad)
    with pytest.raises(ValueError, match="tau must be finite and > 0"):
        fgt.gumbel_softmax(x, torch.tensor([[1.0], [0.0], [1.0]]))
    with pytest.raises(TypeError, match="tau must be a real tensor; got dtype torch.bool"):
        fgt.gumbel_softmax(x, torch.tensor(True))
    with pytest.raises(TypeError, match="tau must be a positive real number"):
        fgt.gumbel_softmax(x, "0.5")


@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_with_and_without_grad_agree_on_special_rows(dtype):
    """NaN rows are NaN, all -inf rows are 0, in the straight-through forward as in the
    hard kernel's."""
    x = torch.tensor([[0.0, float("nan"), 1.0], [-float("inf")] * 3, [0.0, 1.0, 2.0],
                      [-float("inf"), 3.0, -float("inf")]], dtype=dtype)
    plain = fgt.gumbel_softmax(x, 0.5, hard=True, generator=KEY)
    st = fgt.gumbel_softmax(x.clone().requires_grad_(), 0.5, hard=True, generator=KEY)
    torch.testing.assert_close(st.detach(), plain, rtol=0, atol=0, equal_nan=True)
    assert plain[0].isnan().all() and (plain[1] == 0).all() and plain[3].tolist() == [0, 1, 0]
