"""Fuzz the public API with garbage: every argument of every function is either a valid
value or something odd (wrong type, NaN, huge, negative, odd dtype, odd layout, odd shape,
read-only or overlapping out). The only acceptable outcomes are a result or a documented
exception (TypeError or ValueError, which includes numpy's AxisError); never a crash, a
hang, another exception type, or a write outside the ``out`` array.

``out`` arrays are views into a larger sentinel-filled buffer; after each call the bytes
around the view must be untouched.
"""
import importlib.util
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastgumbel as fg

SETTINGS = settings(max_examples=int(os.environ.get("FG_FUZZ_EXAMPLES", 150)), deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))
ALLOWED = (TypeError, ValueError)
SENTINEL = 0x5A


class Guarded:
    """An out= view into a sentinel-filled buffer: check() fails if bytes around it change."""

    def __init__(self, shape, dtype, kind):
        dtype = np.dtype(dtype)
        pad = tuple(2 * s + 3 for s in shape) or (3,)
        self.base = np.empty(pad, dtype)
        self.base.view(np.uint8)[...] = SENTINEL
        if shape:
            idx = tuple(slice(1, 1 + 2 * s, 2) if kind == "strided" else slice(1, 1 + s)
                        for s in shape)
            view = self.base[idx]
        else:
            idx = (slice(1, 2),)
            view = self.base[1:2].reshape(())
        if kind == "F" and view.ndim > 1:
            view = view.T.copy().T       # not in the buffer: nothing around it to check
        if kind == "readonly":
            view.flags.writeable = False
        self.view = view
        self.mask = np.ones(pad, bool)
        if np.shares_memory(view, self.base):
            self.mask[idx] = False

    def check(self):
        raw = self.base.view(np.uint8).reshape(self.base.shape + (-1,))
        assert (raw[self.mask] == SENTINEL).all(), "write outside out="


def arrays(draw, max_dims=3):
    kind = draw(st.sampled_from(["float32", "float64", "float16", "int64", "bool",
                                 "complex64", ">f4", "longdouble", "object", "U1",
                                 "datetime64[s]", "uint8"]))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=max_dims)))
    n = math.prod(shape)
    rs = np.random.default_rng(draw(st.integers(0, 2**16)))
    vals = rs.standard_normal(n) * draw(st.sampled_from([1.0, 1e30, 1e300]))
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
    if special is not None and n:
        vals[rs.integers(0, n)] = special
    if kind in ("object", "U1"):
        a = np.array([str(v)[:1] for v in vals] if kind == "U1" else list(vals),
                     dtype=kind).reshape(shape)
    elif kind == "datetime64[s]":
        a = np.zeros(shape, kind)
    else:
        with np.errstate(all="ignore"):
            a = vals.astype(kind).reshape(shape)
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly", "scalar-list"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
    elif layout == "readonly":
        a.flags.writeable = False
    elif layout == "scalar-list" and a.dtype.kind == "f":
        return a.tolist()
    return a


GARBAGE = [None, True, False, 0, 1, -1, 3, 2**70, -(2**70), 1.5, -0.0, math.nan, math.inf,
           -math.inf, 1e-300, 1e300, "x", "high", b"\x00", [], [1, 2], (2, 3), (2, -1),
           (2, 2.5), {}, {"a": 1}, object(), 1j, np.float32(2), np.int64(2), np.uint64(2**64 - 1),
           np.array(1.0), np.array([1, 2]), np.zeros((2, 0)), slice(1), Ellipsis,
           np.float64, np.int8, "float32", fg.Key(1), fg.Generator(2),
           np.random.default_rng(3), np.bool_(True)]


try:                                   # DLPack tensors go through the same checks
    import torch
except ImportError:                    # pragma: no cover - torch is a test dependency
    torch = None


def tensors(draw):
    """A torch tensor (CPU): odd dtypes, non-contiguous, 0-d, requires_grad; or a JAX array."""
    kinds = ["float32", "float64", "float16", "bfloat16", "int64", "bool", "grad", "transposed",
             "0d"] + (["jax"] if importlib.util.find_spec("jax") else [])
    kind = draw(st.sampled_from(kinds))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    if kind == "jax":
        import jax.numpy as jnp
        return jnp.zeros(shape, jnp.float32)
    base = torch.randn(shape, dtype=torch.float64)
    if kind == "grad":
        return base.float().requires_grad_()
    if kind == "transposed":
        return base.float().permute(*range(base.ndim - 1, -1, -1))
    if kind == "0d":
        return base.float().reshape(-1)[0]
    return base.to(getattr(torch, kind))


@st.composite
def garbage(draw):
    pick = draw(st.integers(0, 4))
    if pick <= 1:
        return draw(st.sampled_from(GARBAGE))
    if pick == 2 and torch is not None:
        return tensors(draw)
    return arrays(draw)


@st.composite
def outs(draw, shape_hint):
    dtype = draw(st.sampled_from(["float32", "float64", "float16", "int64", "int32", ">f4"]))
    shape = shape_hint if draw(st.booleans()) else tuple(
        draw(st.lists(st.integers(0, 4), max_size=3)))
    kind = draw(st.sampled_from(["C", "strided", "F", "readonly"]))
    g = Guarded(tuple(shape), dtype, kind)
    if (torch is not None and kind != "readonly" and dtype != ">f4" and g.view.ndim
            and draw(st.booleans())):
        g.view = torch.from_numpy(g.view)      # a torch out= sharing the guarded buffer
    return g


def valid_logits(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    rs = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rs.standard_normal(shape).astype(draw(st.sampled_from(["float32", "float64"])))


VALID = {
    "tau": st.sampled_from([0.5, 1.0, 3.0]),
    "hard": st.booleans(),
    "axis": st.integers(-3, 2),
    "rng": st.sampled_from([None, 0, 7, fg.Key(3, 4)]),
    "precision": st.sampled_from(["default", "high"]),
    "backend": st.sampled_from(["auto", "cpu"]),
    "n": st.sampled_from([None, 0, 1, 3]),
    "k": st.integers(0, 3),
    "method": st.just("gumbel"),
    "dtype": st.sampled_from([np.float32, np.float64, np.float16]),
    "size": st.sampled_from([None, 3, (2, 3), (), (0, 2)]),
    "loc": st.sampled_from([0.0, 1.5, -2.0]),
    "scale": st.sampled_from([1.0, 0.5, 2.0]),
}

FUNCS = {
    "uniform": (fg.uniform, ["size", "dtype", "rng", "like", "out", "precision", "backend"]),
    "gumbel": (fg.gumbel, ["size", "loc", "scale", "dtype", "rng", "like", "out", "precision",
                           "backend"]),
    "gumbel_softmax": (fg.gumbel_softmax, ["logits", "tau", "hard", "axis", "rng", "out",
                                           "precision", "backend"]),
    "gumbel_log_softmax": (fg.gumbel_log_softmax, ["logits", "tau", "axis", "rng", "out",
                                                   "precision", "backend"]),
    "gumbel_max": (fg.gumbel_max, ["logits", "axis", "rng", "out", "precision", "backend"]),
    "categorical": (fg.categorical, ["logits", "n", "axis", "rng", "method", "precision",
                                     "backend"]),
    "multinomial": (fg.multinomial, ["logits", "n", "axis", "rng", "precision", "backend"]),
    "gumbel_topk": (fg.gumbel_topk, ["logits", "k", "axis", "rng", "precision", "backend"]),
    "gumbel_softmax_backward": (fg.gumbel_softmax_backward, ["grad", "tau", "y_soft", "logits",
                                                             "rng", "axis", "precision",
                                                             "backend"]),
    "concrete_log_prob": (fg.concrete_log_prob, ["y", "logits", "tau", "axis", "backend"]),
}
OPTIONAL_NONE = {"like", "out", "y_soft", "rng", "size", "n"}


@st.composite
def calls(draw, name):
    fn, params = FUNCS[name]
    kwargs = {}
    logits = None
    for p in params:
        mode = draw(st.sampled_from(["valid", "valid", "garbage", "omit"]))
        if p in ("logits", "grad", "y"):
            if mode == "garbage":
                kwargs[p] = draw(garbage())
            else:
                kwargs[p] = logits if logits is not None else valid_logits(draw)
                logits = kwargs[p]
            continue
        if mode == "omit" and (p not in ("n", "k", "tau") or name in (
                "gumbel_softmax", "gumbel_log_softmax", "categorical")):
            continue
        if p == "out":
            hint = np.shape(logits) if logits is not None else (2, 3)
            if name == "gumbel_max":
                hint = hint[:-1]
            kwargs[p] = draw(outs(tuple(hint))) if mode != "garbage" else draw(garbage())
        elif p == "like":
            kwargs[p] = None if mode != "garbage" else draw(garbage())
        elif p == "y_soft":
            kwargs[p] = (None if mode == "omit" else
                         draw(garbage()) if mode == "garbage" else logits)
        elif mode == "garbage":
            g = draw(garbage())
            # a valid-looking huge count would just run for a very long time
            if p == "n" and isinstance(g, (int, np.integer)) and 1000 < g < 2**63:
                g = 7
            kwargs[p] = g
        else:
            kwargs[p] = draw(VALID[p]) if p in VALID else None
    return fn, kwargs


def run(fn, kwargs):
    guard = kwargs.get("out")
    if isinstance(guard, Guarded):
        kwargs = dict(kwargs, out=guard.view)
    try:
        res = fn(**kwargs)
    except ALLOWED:
        res = None
    if isinstance(guard, Guarded):
        guard.check()
    if isinstance(res, np.ndarray) and res.dtype.kind == "f":
        inputs = [v for v in kwargs.values() if isinstance(v, (np.ndarray, list))]
        had_nan = any(np.asarray(v).dtype.kind in "fc" and np.isnan(np.asarray(v)).any()
                      for v in inputs if np.asarray(v).dtype.kind in "fc")
        if not had_nan and fn is not fg.concrete_log_prob:
            assert not np.isnan(res).any()
    return res


def _make(name):
    @SETTINGS
    @given(calls(name))
    def test(call):
        fn, kwargs = call
        run(fn, kwargs)

    test.__name__ = f"test_fuzz_{name}"
    return test


for _name in FUNCS:
    globals()[f"test_fuzz_{_name}"] = _make(_name)


def test_guard_detects_a_stray_write():
    g = Guarded((2, 3), "float32", "strided")
    g.view[...] = 1
    g.check()
    g.base[0, 0] = 1
    try:
        g.check()
    except AssertionError:
        return
    raise AssertionError("the guard missed a write")


BOUNDS_CHECKED = (os.environ.get("NUMBA_BOUNDSCHECK") == "1"
                  and os.environ.get("FASTGUMBEL_SERIAL_KERNELS") == "1")


@pytest.mark.skipif(not BOUNDS_CHECKED, reason="runs in the bounds-checked CI pass only "
                    "(NUMBA_BOUNDSCHECK=1 FASTGUMBEL_SERIAL_KERNELS=1, see .ci/run)")
def test_bounds_checking_is_active_in_this_run():
    # a kernel handed an out buffer with too few rows must stop, not write past it
    from fastgumbel import cpu
    x = np.zeros((4, 10), np.float32)
    with pytest.raises(IndexError):
        cpu.softmax_rows(x, np.zeros((2, 10), np.float32), 0, np.uint64(1), np.uint64(0),
                         np.uint64(0), False, 1.0, 0)
