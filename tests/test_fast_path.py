"""The fast paths of the softmax family and of ``gumbel_max`` (``_core._fast_rows``)
against their general paths (``_core.softmax_general``, ``_discrete.gumbel_max_general``).

The common call (a C-contiguous float32/64 NumPy array along its last axis, a float tau, a
Key, a Generator, an int seed or None as rng, no ``out`` or a matching one) skips the general path's
axis moves and checks. It must give the same bits, draw the same keys from a
Generator, raise the same errors, and leave every other call to the general path.
"""
import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel import _core, _discrete

GENERAL = {"gumbel_softmax": (_core, "softmax_general"),
           "gumbel_log_softmax": (_core, "softmax_general"),
           "gumbel_max": (_discrete, "gumbel_max_general")}


def _general(name):
    """``name``'s general path with the public function's arguments."""
    mod, attr = GENERAL[name]
    general = getattr(mod, attr)

    def call(x, tau=1.0, *, hard=False, axis=-1, rng=None, out=None, precision="default",
             backend="auto"):
        if name == "gumbel_max":
            return general(x, axis, rng, out, precision, backend)
        mode = _core.LOG if name == "gumbel_log_softmax" else _core.softmax_mode(hard)
        return general(x, tau, mode, axis, rng, out, precision, backend)

    return call


def _count_general_calls(monkeypatch, name):
    """A list that gets one item per call of ``name``'s general path."""
    calls = []
    mod, attr = GENERAL[name]
    general = getattr(mod, attr)

    def spy(*args, **kwargs):
        calls.append(1)
        return general(*args, **kwargs)

    monkeypatch.setattr(mod, attr, spy)
    return calls


def _refuse_general(monkeypatch, *names):
    """Make the general paths of ``names`` fail the test if called."""
    def refuse(*args, **kwargs):
        raise AssertionError("took the general path")

    for name in names:
        monkeypatch.setattr(*GENERAL[name], refuse)


def _call(name, x, general, **kw):
    f = _general(name) if general else getattr(fg, name)
    return f(x, **kw)


@pytest.mark.parametrize("name,extra", [("gumbel_softmax", {}),
                                        ("gumbel_softmax", {"hard": True}),
                                        ("gumbel_log_softmax", {})])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (33, 50), (2, 3, 3000)])
@pytest.mark.parametrize("precision", ["default", "high"])
def test_fast_path_gives_the_general_paths_bits(fresh_logits, name, extra, dtype, shape,
                                                precision):
    x = fresh_logits(shape, dtype)
    x.reshape(-1)[::5] = -np.inf
    for tau in (1.0, 0.37):
        kw = dict(extra, tau=tau, precision=precision, rng=fg.Key(91, 3))
        a = _call(name, x, False, **kw)
        b = _call(name, x, True, **kw)
        assert a.dtype == b.dtype == dtype and a.shape == b.shape == shape
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))
        out = np.full_like(x, 7)
        assert _call(name, x, False, out=out, **kw) is out
        assert np.array_equal(out.view(np.uint8), b.view(np.uint8))


def test_common_calls_take_the_fast_path(monkeypatch, fresh_logits):
    _refuse_general(monkeypatch, "gumbel_softmax", "gumbel_log_softmax")
    x = fresh_logits((4, 9))
    g = fg.Generator(5)
    fg.gumbel_softmax(x, 0.5, rng=g)
    fg.gumbel_softmax(x, hard=True, rng=fg.Key(1), out=np.empty_like(x), axis=1)
    fg.gumbel_log_softmax(x, 2.0)
    fg.gumbel_softmax(x[0], rng=fg.Key(1), backend="cpu", precision="high")
    fg.gumbel_softmax(x, 1.0, rng=7)


def test_generators_advance_the_same_way(fresh_logits):
    x = fresh_logits((3, 8))
    g1, g2 = fg.Generator(17), fg.Generator(17)
    for _ in range(3):
        a = fg.gumbel_softmax(x, 1.0, rng=g1)
        b = _general("gumbel_softmax")(x, 1.0, rng=g2)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("case", [
    "float16", "int logits", "axis 0", "numpy axis", "strided", "big-endian", "list",
    "int tau", "numpy tau", "out float64", "out strided", "out aliases", "read-only out",
    "numpy seed rng", "bool rng", "numpy rng", "empty", "0-d", "numpy hard"])
def test_other_calls_take_the_general_path(monkeypatch, fresh_logits, case):
    calls = _count_general_calls(monkeypatch, "gumbel_softmax")
    x = fresh_logits((6, 5))
    kw = {"rng": fg.Key(2)}
    if case == "float16":
        x = x.astype(np.float16)
    elif case == "int logits":
        x = x.astype(np.int64)
    elif case == "axis 0":
        kw["axis"] = 0
    elif case == "numpy axis":
        kw["axis"] = np.int64(-1)
    elif case == "strided":
        x = fresh_logits((6, 10))[:, ::2]
    elif case == "big-endian":
        x = x.astype(">f4")
    elif case == "list":
        x = x.tolist()
    elif case == "int tau":
        kw["tau"] = 2
    elif case == "numpy tau":
        kw["tau"] = np.float32(0.5)
    elif case == "out float64":
        kw["out"] = np.empty(x.shape, np.float64)
    elif case == "out strided":
        kw["out"] = np.empty((6, 10), np.float32)[:, ::2]
    elif case == "out aliases":
        kw["out"] = x
    elif case == "read-only out":
        kw["out"] = np.empty_like(x)
        kw["out"].flags.writeable = False
    elif case == "numpy seed rng":
        kw["rng"] = np.int64(5)
    elif case == "bool rng":
        kw["rng"] = True
    elif case == "numpy rng":
        kw["rng"] = np.random.default_rng(0)
    elif case == "empty":
        x = np.empty((0, 5), np.float32)
    elif case == "0-d":
        x = np.float32(1.0) * np.ones((), np.float32)
    elif case == "numpy hard":
        kw["hard"] = np.bool_(True)
    try:
        fg.gumbel_softmax(x, **kw)
    except (TypeError, ValueError):
        pass        # the general path's own errors (float16 out, read-only out, 0-d, ...)
    assert calls == [1], case


@pytest.mark.parametrize("dtype,tau", [(d, t) for d in (np.float32, np.float64)
                                       for t in (0.0, -1.0, float("nan"), float("inf"))]
                         + [(np.float32, 1e-40), (np.float32, 1e39), (np.float64, 1e-310)])
def test_bad_tau_raises_as_on_the_general_path(fresh_logits, tau, dtype):
    x = fresh_logits((3, 4), dtype)
    with pytest.raises(ValueError) as fast:
        fg.gumbel_softmax(x, tau, rng=fg.Key(1))
    with pytest.raises(ValueError) as general:
        _general("gumbel_softmax")(x, tau, rng=fg.Key(1))
    assert str(fast.value) == str(general.value)


@pytest.mark.parametrize("rng", [-1, 2**64, True])
def test_bad_seed_raises_as_on_the_general_path(fresh_logits, rng):
    x = fresh_logits((3, 4))
    with pytest.raises((TypeError, ValueError)) as fast:
        fg.gumbel_softmax(x, 1.0, rng=rng)
    with pytest.raises((TypeError, ValueError)) as general:
        _general("gumbel_softmax")(x, 1.0, rng=rng)
    assert type(fast.value) is type(general.value) and str(fast.value) == str(general.value)
    assert "rng" in str(fast.value)


@pytest.mark.parametrize("name", ["gumbel_softmax", "gumbel_log_softmax", "gumbel_max"])
def test_wrong_arguments_name_the_public_function(fresh_logits, name):
    x = fresh_logits((3, 4))
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'dim'"):
        getattr(fg, name)(x, dim=-1)
    with pytest.raises(TypeError, match=rf"^{name}\(\) missing 1 required positional"):
        getattr(fg, name)()


def test_plus_inf_logit_raises_on_the_fast_path(fresh_logits):
    x = fresh_logits((3, 4))
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"\+inf in 1 row"):
        fg.gumbel_softmax(x, rng=fg.Key(1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (33, 50), (2, 3, 3000)])
@pytest.mark.parametrize("precision", ["default", "high"])
def test_gumbel_max_fast_path_gives_the_general_paths_draws(fresh_logits, dtype, shape,
                                                            precision):
    x = fresh_logits(shape, dtype)
    x.reshape(-1)[::3] = -np.inf
    kw = {"precision": precision, "rng": fg.Key(5, 1)}
    a = fg.gumbel_max(x, **kw)
    b = _general("gumbel_max")(x, **kw)
    assert type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(a, b)
    out = np.full(shape[:-1], -7, np.int64)
    assert fg.gumbel_max(x, out=out, **kw) is out
    assert np.array_equal(out, b)


def test_gumbel_max_common_calls_take_the_fast_path(monkeypatch, fresh_logits):
    _refuse_general(monkeypatch, "gumbel_max")
    x = fresh_logits((4, 9))
    fg.gumbel_max(x, rng=fg.Generator(1))
    fg.gumbel_max(x, rng=fg.Key(1), out=np.empty(4, np.int64), axis=1)
    fg.gumbel_max(x[0])
    fg.gumbel_max(x, rng=3)


@pytest.mark.parametrize("case", ["axis 0", "out int32", "out shape", "float16", "numpy seed rng"])
def test_gumbel_max_other_calls_take_the_general_path(monkeypatch, fresh_logits, case):
    calls = _count_general_calls(monkeypatch, "gumbel_max")
    x = fresh_logits((6, 5))
    kw = {"rng": fg.Key(2)}
    if case == "axis 0":
        kw["axis"] = 0
    elif case == "out int32":
        kw["out"] = np.empty(6, np.int32)
    elif case == "out shape":
        kw["out"] = np.empty(5, np.int64)
    elif case == "float16":
        x = x.astype(np.float16)
    elif case == "numpy seed rng":
        kw["rng"] = np.uint32(3)
    try:
        fg.gumbel_max(x, **kw)
    except (TypeError, ValueError):
        pass
    assert calls == [1], case


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_gumbel_max_bad_rows_raise_on_the_fast_path(fresh_logits, bad):
    x = fresh_logits((3, 4))
    x[1, 2] = bad
    with pytest.raises(ValueError) as fast:
        fg.gumbel_max(x, rng=fg.Key(1))
    with pytest.raises(ValueError) as general:
        _general("gumbel_max")(x, rng=fg.Key(1))
    assert str(fast.value) == str(general.value)
