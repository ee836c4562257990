"""``fastgumbel.jax`` on a GPU: the CUDA kernels on XLA's own buffers and stream.

:func:`jax.experimental.buffer_callback.buffer_callback` hands a Python callback the
operands and results as device buffers (``__cuda_array_interface__``) and XLA's CUDA stream
(``ctx.stream``). The callbacks here launch a GPU backend kernel there (CuPy inside
``cupy.cuda.ExternalStream``; Numba CUDA with ``cuda_stream=``) and return: no copy, no host
synchronization. The key words ``uint32[3]`` stay on the device as the kernel's ``key_dev``.

- noise (:func:`noise`): the ``fill_noise`` kernel; the softmax samples are then jnp code on
  ``(x + g) / tau`` (so a traced tau is never read by the host, and XLA fuses the rest);
- draws (:func:`draws`): the ``argmax_rows`` / ``topk_rows`` kernels on the logits buffer.
  NaN / ``+inf`` rows give the GPU results of ``docs/gpu.md``.

Under ``vmap`` (``vmap_method="broadcast_all"``) the callback runs the kernel once per batch
element, with that element's key words. ``command_buffer_compatible`` stays off.
"""
import functools
import importlib.util
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from .. import _backends, _gpu_state
from .. import _checks as chk

try:
    from jax.experimental.buffer_callback import buffer_callback
except ImportError:     # JAX < 0.7: no device path
    buffer_callback = None

_ENV = "FASTGUMBEL_JAX_GPU_BACKEND"


def active():
    """Whether calls run the CUDA kernels: JAX's default backend is a GPU and
    ``buffer_callback`` exists (``FASTGUMBEL_JAX_GPU=0`` turns it off: host callbacks)."""
    return (buffer_callback is not None and jax.default_backend() == "gpu"
            and os.environ.get("FASTGUMBEL_JAX_GPU", "1") != "0")


@functools.lru_cache(maxsize=None)
def backend_name():
    name = os.environ.get(_ENV)
    if name in ("cupy", "numba-cuda"):
        return name
    return "cupy" if importlib.util.find_spec("cupy") is not None else "numba-cuda"


def _cai(buf):
    """The ``__cuda_array_interface__`` of an XLA buffer."""
    return buf.__cuda_array_interface__


def _ptr(buf):
    return _cai(buf)["data"][0]


def _launch(ctx, name, arrays, *args, key_ptr, dtype_bf16=False):
    """Run wrapper ``name`` of the GPU backend on XLA's stream; ``arrays``: buffers, as the
    backend's device arrays (zero-copy views)."""
    bname = backend_name()
    mod = _backends.load(bname)
    fn = getattr(mod, name)
    kw = {"key_dev": key_ptr}
    if _gpu_state.accepts(fn, "check"):
        kw["check"] = False     # no host read inside XLA's stream order
    if dtype_bf16:
        kw["bf16"] = True
    if bname == "cupy":
        import cupy
        views = [cupy.asarray(a) for a in arrays]
        with cupy.cuda.ExternalStream(ctx.stream):
            fn(*views, *args, **kw)
        return
    from numba import cuda
    views = [cuda.as_cuda_array(a, sync=False) for a in arrays]
    if _gpu_state.accepts(fn, "cuda_stream"):
        kw["cuda_stream"] = cuda.external_stream(ctx.stream)
    fn(*views, *args, **kw)


class _Batch:
    """Element ``i`` of a buffer holding batch elements of ``shape`` (as ``typestr``, default
    the buffer's own), as a ``__cuda_array_interface__``."""

    def __init__(self, buf, shape, i, typestr=None):
        cai = _cai(buf)
        typestr = typestr or cai["typestr"]
        step = int(np.prod(shape)) * np.dtype(typestr).itemsize
        self.__cuda_array_interface__ = {
            "shape": tuple(shape), "typestr": typestr, "version": 3, "strides": None,
            "data": (cai["data"][0] + i * step, False), "stream": None}


def _per_element(words, bufs):
    """``[(key_ptr, [views])]`` for each leading batch element of the key words; ``bufs``:
    ``(buffer, shape[, typestr])`` each."""
    n = math.prod(words.shape[:-1])
    return [(_ptr(words) + 12 * i, [_Batch(*b[:2], i, *b[2:]) for b in bufs])
            for i in range(n)]


def _kernel_words(words):
    """The kernels' ``[k0, k1, stream]`` (k0 the seed's low word) of the bridge's key words
    ``[seed_hi, seed_lo, stream]`` (``._keys``): a device op."""
    return words[..., jnp.array([1, 0, 2])]


def noise(words, rows, K, dtype, precision):
    """Gumbel noise ``(rows, K)`` of the key words, in ``dtype`` (float16/32/64)."""
    bits64 = chk.precision_bits64(precision, np.dtype(dtype))

    def body(ctx, outs, w):
        for key_ptr, (g,) in _per_element(w, [(outs[0], (rows, K))]):
            if rows * K:
                _launch(ctx, "fill_noise", [g], 0, 0, 0, 0, bits64, False, 0.0, 1.0,
                        key_ptr=key_ptr)

    spec = jax.ShapeDtypeStruct((rows, K), dtype)
    return buffer_callback(body, [spec], vmap_method="broadcast_all")(_kernel_words(words))[0]


def gumbel(words, shape, dtype, precision):
    """:func:`fastgumbel.jax.gumbel` on the GPU (bfloat16 drawn in float32, as on the
    host)."""
    dt = np.dtype(np.float32) if dtype == jnp.bfloat16 else np.dtype(dtype)
    K = shape[-1] if shape else 1
    rows = math.prod(shape[:-1]) if shape else 1
    return noise(words, rows, K, dt, precision).reshape(shape).astype(dtype)


def softmax(words, x, tau, hard, axis, precision, with_hard=False):
    """The soft sample (or one-hot; ``with_hard``: both) of ``x`` along ``axis``: the
    kernel's noise, then ``softmax((x + g) / tau)`` in jnp (compute dtype, rounded once).
    A tau that is not positive and finite gives NaN (as the host path does)."""
    cd = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
    xm = jnp.moveaxis(x, axis, -1)
    K = xm.shape[-1]
    rows = math.prod(xm.shape[:-1])
    g = noise(words, rows, K, cd, precision).reshape(xm.shape)
    t = jnp.asarray(tau, cd)
    if t.ndim:
        t = jnp.moveaxis(t, axis, -1)
    t = jnp.where((t > 0) & jnp.isfinite(t), t, jnp.nan)
    y = jax.nn.softmax((xm.astype(cd) + g) / t, axis=-1)
    hot = None
    if hard or with_hard:
        top = jnp.max(y, -1, keepdims=True)
        first = jax.nn.one_hot(jnp.argmax(y, -1), K, dtype=cd)
        hot = first * (top > 0) + (top - top)           # NaN rows NaN, zero rows zero
        hot = jnp.moveaxis(hot.astype(x.dtype), -1, axis)
    y = jnp.moveaxis(y.astype(x.dtype), -1, axis)
    if with_hard:
        return [y, hot]
    return hot if hard else y


def draws(words, x, kind, n, axis, precision):
    """Gumbel-max (``kind="max"``), ``n`` draws with (``"with"``) or without
    (``"without"``) replacement along ``axis``: int64 (int32 without x64)."""
    xm = jnp.moveaxis(jax.lax.stop_gradient(x), axis, -1)
    lead = xm.shape[:-1]
    K = xm.shape[-1]
    rows = math.prod(lead)
    D = 1 if kind == "max" else n
    bf16 = xm.dtype == jnp.bfloat16
    bits64 = chk.precision_bits64(precision, np.dtype(np.float64 if xm.dtype == jnp.float64
                                                      else np.float32))
    # the kernels write int64; without x64 the result buffer is int32 pairs, of which the
    # low words are the indices (little-endian; -1 stays -1)
    wide = jax.dtypes.canonicalize_dtype(np.int64) == np.int64
    name = "topk_rows" if kind == "without" else "argmax_rows"

    def body(ctx, outs, w, xb):
        for key_ptr, (o, v) in _per_element(w, [(outs[0], (rows, D), "<i8"),
                                                (xb, (rows, K)) + (("<u2",) if bf16 else ())]):
            if rows * D:
                _launch(ctx, name, [v, o], 0, 0, 0, 0, bits64, key_ptr=key_ptr,
                        dtype_bf16=bf16)

    spec = jax.ShapeDtypeStruct((rows, D) if wide else (rows, D, 2),
                                np.int64 if wide else np.int32)
    res = buffer_callback(body, [spec], vmap_method="broadcast_all")(_kernel_words(words), xm)[0]
    if not wide:
        res = res[..., 0]
    return res.reshape(lead if kind == "max" else lead + (n,))
