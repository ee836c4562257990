"""A fingerprint of every public call's output bits (tests/data/fingerprint.json).

One SHA-256 per call over a fixed set of calls: every public function, float16/32/64, both
precisions, odd shapes, an axis other than the last, strided and ``out=`` inputs, the
Generator's methods, Dask, and the torch and JAX bridges (forward values and gradients).
``tests/test_fingerprint.py`` checks that the bits are unchanged; a restructuring or a
faster kernel that claims the same bits proves it here. Unlike ``stream_v1.json`` (the
spec, stable across machines), soft samples and gradients are floating-point sums whose
last bit may depend on the CPU's vector width, so this file is for this machine kind.
Regenerate only when an output is meant to change: ``python tests/fingerprint.py --write``.
"""
import hashlib
import json
import pathlib
import sys

import numpy as np

import fastgumbel as fg

PATH = pathlib.Path(__file__).parent / "data" / "fingerprint.json"
KEY = fg.Key(0x5EED_F00D, 7)


def _digest(res):
    h = hashlib.sha256()
    for r in res if isinstance(res, tuple) else (res,):
        a = np.asarray(r)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:24]


def _logits(shape, dtype, seed):
    x = np.random.default_rng(seed).normal(0.0, 2.0, shape)
    if x.size > 3:
        x.flat[::7] = -np.inf           # masked categories
    return x.astype(dtype)


def numpy_calls():
    """(name, thunk) for the NumPy-style API."""
    calls = []
    for dt in (np.float16, np.float32, np.float64):
        n = np.dtype(dt).name
        for prec in ("default", "high"):
            calls += [
                (f"uniform {n} {prec}", lambda dt=dt, p=prec: fg.uniform(size=(5, 37), dtype=dt,
                                                                         rng=KEY, precision=p)),
                (f"gumbel {n} {prec}", lambda dt=dt, p=prec: fg.gumbel(size=(3, 4, 129), dtype=dt,
                                                                       rng=KEY, precision=p)),
            ]
        for shape, axis in (((7, 13), -1), ((3, 1000), -1), ((2, 5, 67), 1), ((300,), 0),
                            ((4, 4097), -1)):
            x = _logits(shape, dt, sum(shape))
            tag = f"{n} {shape} axis={axis}"
            for prec in ("default", "high"):
                for tau in (1.0, 0.37, 2.5):
                    calls.append((f"soft {tag} tau={tau} {prec}", lambda x=x, t=tau, a=axis, p=prec:
                                  fg.gumbel_softmax(x, t, axis=a, rng=KEY, precision=p)))
                    calls.append((f"hard {tag} tau={tau} {prec}", lambda x=x, t=tau, a=axis, p=prec:
                                  fg.gumbel_softmax(x, t, hard=True, axis=a, rng=KEY, precision=p)))
                calls += [
                    (f"log_softmax {tag} {prec}", lambda x=x, a=axis, p=prec:
                     fg.gumbel_log_softmax(x, 0.6, axis=a, rng=KEY, precision=p)),
                    (f"gumbel_max {tag} {prec}", lambda x=x, a=axis, p=prec:
                     fg.gumbel_max(x, axis=a, rng=KEY, precision=p)),
                    (f"categorical {tag} {prec}", lambda x=x, a=axis, p=prec:
                     fg.categorical(x, 9, axis=a, rng=KEY, precision=p)),
                    (f"topk {tag} {prec}", lambda x=x, a=axis, p=prec:
                     fg.gumbel_topk(x, 3, axis=a, rng=KEY, precision=p)),
                    (f"multinomial {tag} {prec}", lambda x=x, a=axis, p=prec:
                     fg.multinomial(x, 1000, axis=a, rng=KEY, precision=p)),
                ]
            calls += [
                (f"categorical cdf {tag}", lambda x=x, a=axis:
                 fg.categorical(x, 50, axis=a, rng=KEY, method="inverse_cdf")),
                (f"categorical None {tag}", lambda x=x, a=axis: fg.categorical(x, axis=a, rng=KEY)),
                (f"multinomial cdf {tag}", lambda x=x, a=axis:
                 fg.multinomial(x, 5000, axis=a, rng=KEY, method="inverse_cdf")),
                (f"multinomial binomial {tag}", lambda x=x, a=axis:
                 fg.multinomial(x, 10**9, axis=a, rng=KEY, method="binomial")),
            ]
            if dt != np.float16:
                y = fg.gumbel_softmax(x, 0.8, axis=axis, rng=KEY)
                g = _logits(shape, dt, 99)
                g[~np.isfinite(g)] = 0.5
                calls += [
                    (f"backward saved {tag}", lambda g=g, y=y, a=axis:
                     fg.gumbel_softmax_backward(g, 0.8, y_soft=y, axis=a)),
                    (f"backward recompute {tag}", lambda g=g, x=x, a=axis:
                     fg.gumbel_softmax_backward(g, 0.8, logits=x, rng=KEY, axis=a)),
                    (f"concrete_log_prob {tag}", lambda y=y, x=x, a=axis:
                     fg.concrete_log_prob(y, x, 0.8, axis=a)),
                ]
    x = _logits((6, 40), np.float32, 3)
    calls += [
        ("soft strided", lambda: fg.gumbel_softmax(x[:, ::2], 0.5, rng=KEY)),
        ("soft fortran", lambda: fg.gumbel_softmax(np.asfortranarray(x), 0.5, rng=KEY)),
        ("soft out", lambda: fg.gumbel_softmax(x, 0.5, rng=KEY, out=np.empty_like(x))),
        ("soft 0-d tau", lambda: fg.gumbel_softmax(x, np.float32(0.5), rng=KEY)),
        ("soft int seed", lambda: fg.gumbel_softmax(x, 0.5, rng=123)),
        ("soft generator", lambda: [fg.gumbel_softmax(x, 0.5, rng=r) for r in [fg.default_rng(5)] * 3]),
        ("gumbel loc scale arrays", lambda: fg.gumbel(np.arange(3.0), [1.0, 2.0, 0.5], (4, 3),
                                                      rng=KEY)),
        ("gumbel loc scale", lambda: fg.gumbel(1.5, 2.0, (4, 3), rng=KEY)),
        ("gumbel scalar", lambda: fg.gumbel(rng=KEY)),
        ("uniform out", lambda: fg.uniform(rng=KEY, out=np.empty((3, 5), np.float64))),
        ("philox", lambda: fg.random.philox4x32_10(np.arange(16, dtype=np.uint32).reshape(4, 4),
                                                   np.array([1, 2], np.uint32))),
    ]
    for meth in ("random", "uniform", "gumbel", "exponential", "standard_exponential"):
        if hasattr(fg.Generator, meth):
            calls.append((f"Generator.{meth}",
                          lambda m=meth: getattr(fg.default_rng(11), m)(size=(3, 7))))
    return calls


def bridge_calls():
    """(name, thunk) for Dask, torch and JAX (each only where installed)."""
    calls = []
    x = _logits((20, 33), np.float32, 5)
    try:
        import dask.array as da
    except ImportError:
        da = None
    if da is not None:
        dx = da.from_array(x, chunks=(7, 33))
        calls += [
            ("dask soft", lambda: fg.gumbel_softmax(dx, 0.5, rng=KEY).compute()),
            ("dask hard", lambda: fg.gumbel_softmax(dx, 0.5, hard=True, rng=KEY).compute()),
            ("dask gumbel_max", lambda: fg.gumbel_max(dx, rng=KEY).compute()),
            ("dask categorical", lambda: fg.categorical(dx, 4, rng=KEY).compute()),
            ("dask multinomial", lambda: fg.multinomial(dx, 100, rng=KEY).compute()),
            ("dask topk", lambda: fg.gumbel_topk(dx, 2, rng=KEY).compute()),
            ("dask gumbel", lambda: fg.gumbel(size=(20, 33), rng=KEY, like=dx).compute()),
            ("dask uniform", lambda: fg.uniform(size=(20, 33), rng=KEY, like=dx).compute()),
        ]
    try:
        import torch

        import fastgumbel.torch as fgt
    except ImportError:
        torch = None
    if torch is not None:
        def torch_grads(hard, dtype):
            t = torch.tensor(x, dtype=dtype, requires_grad=True)
            tau = torch.tensor(0.7, dtype=dtype, requires_grad=True)
            y = fgt.gumbel_softmax(t, tau, hard=hard, generator=KEY)
            (y * torch.linspace(-1, 1, 33, dtype=dtype)).sum().backward()
            return y.detach().numpy(), t.grad.numpy(), tau.grad.numpy()

        calls += [
            ("torch soft f32", lambda: torch_grads(False, torch.float32)),
            ("torch hard f64", lambda: torch_grads(True, torch.float64)),
            ("torch gumbel_max", lambda: fgt.gumbel_max(torch.from_numpy(x), generator=KEY).numpy()),
            ("torch tensor in", lambda: fg.gumbel_softmax(torch.from_numpy(x), 0.5, rng=KEY).numpy()),
        ]
    try:
        import jax
        import jax.numpy as jnp

        import fastgumbel.jax as fgj
    except ImportError:
        jax = None
    if jax is not None:
        def jax_grads(hard):
            f = lambda v, t: (fgj.gumbel_softmax(jax.random.key(3), v, t, hard=hard)  # noqa: E731
                              * jnp.linspace(-1, 1, 33)).sum()
            y = fgj.gumbel_softmax(jax.random.key(3), jnp.asarray(x), 0.7, hard=hard)
            gx, gt = jax.jit(jax.grad(f, argnums=(0, 1)))(jnp.asarray(x), 0.7)
            return np.asarray(y), np.asarray(gx), np.asarray(gt)

        calls += [
            ("jax soft", lambda: jax_grads(False)),
            ("jax hard", lambda: jax_grads(True)),
            ("jax categorical", lambda: np.asarray(fgj.categorical(jax.random.key(4), jnp.asarray(x),
                                                                   n=5))),
            ("jax gumbel_max", lambda: np.asarray(fgj.gumbel_max(jax.random.key(4), jnp.asarray(x)))),
        ]
    return calls


def error_calls():
    """(name, thunk) of calls that must raise: the exception type and message are kept."""
    x = np.zeros((2, 3), np.float32)
    return [
        ("tau 0", lambda: fg.gumbel_softmax(x, 0.0, rng=KEY)),
        ("tau nan", lambda: fg.gumbel_softmax(x, float("nan"), rng=KEY)),
        ("int logits", lambda: fg.gumbel_softmax(np.zeros((2, 3), int), rng=KEY)),
        ("axis", lambda: fg.gumbel_max(x, axis=2, rng=KEY)),
        ("k", lambda: fg.gumbel_topk(x, 4, rng=KEY)),
        ("n", lambda: fg.categorical(x, -1, rng=KEY)),
        ("size", lambda: fg.gumbel(size=(2, -1), rng=KEY)),
        ("scale", lambda: fg.gumbel(0.0, -1.0, 3, rng=KEY)),
        ("out shape", lambda: fg.gumbel_softmax(x, rng=KEY, out=np.empty((3, 2), np.float32))),
        ("backend", lambda: fg.gumbel_max(x, backend="tpu")),
        ("precision", lambda: fg.gumbel_max(x, precision="low")),
        ("nan", lambda: fg.gumbel_max(np.array([0.0, np.nan]), rng=KEY)),
        ("seed", lambda: fg.gumbel_max(x, rng=1.5)),
        ("hard", lambda: fg.gumbel_softmax(x, hard="yes", rng=KEY)),
    ]


def produce():
    out = {}
    for name, thunk in numpy_calls() + bridge_calls():
        res = thunk()
        out[name] = _digest(tuple(res) if isinstance(res, list) else res)
    for name, thunk in error_calls():
        try:
            thunk()
        except Exception as e:   # noqa: BLE001 - the type and message are the fingerprint
            out["error " + name] = f"{type(e).__name__}: {e}"
        else:
            out["error " + name] = "no error"
    return out


def write():
    PATH.write_text(json.dumps(produce(), indent=0) + "\n")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    write()
