"""DLPack bridge of the NumPy-style API: torch / JAX arrays in, the same type out, no copies."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel import _arrays, _route

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

K = fg.Key(9)
X = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)


def ptr(a):
    if isinstance(a, torch.Tensor):
        return a.data_ptr()
    if isinstance(a, np.ndarray):
        return a.__array_interface__["data"][0]
    return a.unsafe_buffer_pointer()


CALLS = {
    "gumbel_softmax": lambda x: fg.gumbel_softmax(x, 0.5, rng=K),
    "gumbel_softmax hard axis0": lambda x: fg.gumbel_softmax(x, 0.5, hard=True, axis=0, rng=K),
    "gumbel_log_softmax": lambda x: fg.gumbel_log_softmax(x, 0.5, rng=K),
    "gumbel_max": lambda x: fg.gumbel_max(x, rng=K),
    "categorical": lambda x: fg.categorical(x, 7, rng=K),
    "multinomial": lambda x: fg.multinomial(x, 50, rng=K),
    "gumbel_topk": lambda x: fg.gumbel_topk(x, 3, rng=K),
    "backward": lambda x: fg.gumbel_softmax_backward(x, 0.5, logits=x, rng=K),
    "concrete_log_prob": lambda x: fg.concrete_log_prob(fg.gumbel_softmax(x, 0.5, rng=K), x, 0.5),
    "gumbel like": lambda x: fg.gumbel(size=(2, 3), rng=K, like=x),
    "uniform like": lambda x: fg.uniform(size=4, rng=K, like=x),
}

TO = {"torch": torch.from_numpy, "jax": jnp.asarray}
TYPES = {"torch": torch.Tensor, "jax": jax.Array}


@pytest.mark.parametrize("lib", ["torch", "jax"])
@pytest.mark.parametrize("name", list(CALLS))
def test_same_type_out_same_values(lib, name):
    call = CALLS[name]
    want = call(X)
    got = call(TO[lib](X.copy()))
    want_t = want if isinstance(want, tuple) else (want,)
    got_t = got if isinstance(got, tuple) else (got,)
    assert len(got_t) == len(want_t)
    for g, w in zip(got_t, want_t):
        assert isinstance(g, TYPES[lib])
        assert tuple(g.shape) == np.shape(w)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_numpy_in_numpy_out_and_tau_does_not_decide_the_type():
    y = fg.gumbel_softmax(X, torch.tensor(0.5), rng=K)
    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, fg.gumbel_softmax(X, 0.5, rng=K))


def test_input_is_viewed_without_copy(monkeypatch):
    seen = []
    real = _route.to_numpy

    def spy(obj, name="array"):
        a = real(obj, name)
        seen.append((ptr(obj), ptr(a)))
        return a

    monkeypatch.setattr(_route, "to_numpy", spy)
    fg.gumbel_softmax(torch.from_numpy(X.copy()), rng=K)
    fg.gumbel_softmax(jnp.asarray(X), rng=K)
    assert len(seen) == 2 and all(p == q for p, q in seen)


@pytest.mark.parametrize("lib", ["torch", "jax"])
@pytest.mark.parametrize("name", ["gumbel_softmax", "gumbel_max", "categorical", "backward"])
def test_result_is_handed_over_without_copy(monkeypatch, lib, name):
    made = []
    real = _route.from_numpy

    def spy(arr, template):
        res = real(arr, template)
        made.append((ptr(np.asarray(arr)), res))
        return res

    monkeypatch.setattr(_route, "from_numpy", spy)
    with jax.enable_x64(True):   # without x64, JAX holds int64 indices as int32 (a copy)
        out = CALLS[name](TO[lib](X.copy()))
    assert made
    for p, res in made:
        if res.ndim:      # 0-d results may be copied by JAX; arrays never are
            assert ptr(res) == p
    first = out[0] if isinstance(out, tuple) else out
    assert ptr(first) == made[0][0]


@pytest.mark.parametrize("transposed", [False, True])
def test_torch_out_is_written_in_place(transposed):
    x = torch.from_numpy(X.copy())
    out = torch.empty(5, 6).T if transposed else torch.empty(6, 5)
    p = out.data_ptr()
    res = fg.gumbel_softmax(x, 0.5, rng=K, out=out)
    assert res is out and out.data_ptr() == p
    np.testing.assert_array_equal(out.numpy(), fg.gumbel_softmax(X, 0.5, rng=K))
    idx = torch.empty(6, dtype=torch.int64)
    assert fg.gumbel_max(x, rng=K, out=idx) is idx
    np.testing.assert_array_equal(idx.numpy(), fg.gumbel_max(X, rng=K))
    g = torch.empty(3, 4, dtype=torch.float64)
    assert fg.gumbel(rng=K, out=g) is g
    np.testing.assert_array_equal(g.numpy(), fg.gumbel(size=(3, 4), dtype=np.float64, rng=K))


def test_numpy_out_with_torch_input_returns_numpy_out():
    out = np.empty_like(X)
    assert fg.gumbel_softmax(torch.from_numpy(X.copy()), rng=K, out=out) is out


def test_read_only_jax_input_and_strided_torch_input():
    xj = jnp.asarray(X)
    assert not _route.to_numpy(xj).flags.writeable
    np.testing.assert_array_equal(np.asarray(fg.gumbel_softmax(xj, rng=K)),
                                  fg.gumbel_softmax(X, rng=K))
    xt = torch.from_numpy(np.ascontiguousarray(X.T)).T       # Fortran-ordered view
    np.testing.assert_array_equal(fg.gumbel_softmax(xt, rng=K).numpy(),
                                  fg.gumbel_softmax(X, rng=K))


def test_float16_and_float64_torch():
    for dt in (torch.float16, torch.float64):
        x = torch.from_numpy(X.copy()).to(dt)
        y = fg.gumbel_softmax(x, rng=K)
        assert y.dtype == dt
        np.testing.assert_array_equal(y.numpy(), fg.gumbel_softmax(x.numpy(), rng=K))


class _GPUTensor:
    def __dlpack__(self, **kwargs):
        raise AssertionError("must not be exported")

    def __dlpack_device__(self):
        return (2, 0)


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="logits is a torch tensor that requires grad"):
        fg.gumbel_softmax(torch.zeros(2, 3, requires_grad=True))
    with pytest.raises(TypeError, match="out is a JAX array; JAX arrays are immutable"):
        fg.gumbel_softmax(jnp.zeros((2, 3)), out=jnp.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"logits \(torch.Tensor, dtype torch.bfloat16\) cannot"):
        fg.gumbel_softmax(torch.zeros(2, 3, dtype=torch.bfloat16))
    # an array on a CUDA device goes to the GPU path (_route.call_gpu); without a usable GPU
    # (or for this stand-in, which exports nothing) the error names the argument
    with pytest.raises(TypeError, match=r"logits \(.*_GPUTensor.*\) cannot be read as a CUDA "):
        fg.gumbel_max(_GPUTensor())
    with pytest.raises(TypeError, match="out has dtype float64; expected float32"):
        fg.gumbel_softmax(torch.zeros(2, 3), out=torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="inside jax.jit use fastgumbel.jax"):
        jax.jit(lambda a: fg.gumbel_softmax(a))(jnp.zeros((2, 3)))


def test_aligned_results():
    for shape in [(3,), (7, 3), (64, 33)]:
        a = _arrays.empty_aligned(shape, np.float32)
        assert a.shape == shape and a.flags.c_contiguous and ptr(a) % 64 == 0


def test_numpy_use_imports_no_framework():
    code = ("import sys, numpy as np, fastgumbel as fg\n"
            "fg.gumbel_softmax(np.zeros((2, 3), np.float32), rng=1)\n"
            "fg.gumbel_max(np.zeros(3), rng=1)\n"
            "bad = [m for m in ('torch', 'jax', 'jaxlib') if m in sys.modules]\n"
            "assert not bad, bad\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
