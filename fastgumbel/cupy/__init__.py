"""CuPy RawModule backend: the CUDA C kernels of ``fastgumbel/cupy/kernels/`` on NVIDIA GPUs.

The sources (``philox.cuh``, ``gumbel.cu``) are package data, read with
:mod:`importlib.resources` (so they are found in a checkout and in an installed wheel),
compiled by NVRTC through :class:`cupy.RawModule` once per device, and cached. They are
compiled with ``--fmad=false`` so that the noise equals the CPU backend's bit for bit.

Every host function has the name, arguments and return value of its counterpart in
:mod:`fastgumbel.cpu`. Arrays may be NumPy arrays (copied to the device and the results
copied back), CuPy arrays, or any ``__cuda_array_interface__`` object (used in place).
``cupy`` is imported when this module is: load it through :mod:`fastgumbel._backends`.
"""
from __future__ import annotations

import importlib.resources
import threading

import cupy
import numpy as np

from .. import _gpu_common as _gc

__all__ = ["SOURCE_FILES", "KERNELS_PACKAGE", "NVRTC_OPTIONS", "source", "module", "team_size",
           "fill_noise", "softmax_rows", "argmax_rows", "multinomial_rows", "topk_rows",
           "softmax_backward_rows", "softmax_backward_recompute", "concrete_rows",
           "require_device"]

#: The CUDA C files of the backend, in ``fastgumbel.cupy.kernels``.
SOURCE_FILES = ("philox.cuh", "gumbel.cu")
#: The package that holds them (package data, read with importlib.resources).
KERNELS_PACKAGE = "fastgumbel.cupy.kernels"
#: NVRTC options: C++17 (hex float literals), no FMA contraction (bit-exact noise).
NVRTC_OPTIONS = ("--std=c++17", "--fmad=false")

_lock = threading.Lock()
_modules = {}
#: Entry-point suffix per array dtype; float16 (fill_noise, softmax, argmax, topk only) is
#: stored as float16 and computed in float32; uint16 arrays with ``bf16=True`` are bfloat16.
_SUFFIX = {np.dtype(np.float16): "f16", np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
           np.dtype(np.uint16): "bf16"}


def source():
    """The CUDA C source of the module: gumbel.cu with philox.cuh included inline (NVRTC then
    needs no include path, and the sources may sit inside a zip)."""
    pkg = importlib.resources.files(KERNELS_PACKAGE)
    header = pkg.joinpath("philox.cuh").read_text(encoding="utf-8")
    body = pkg.joinpath("gumbel.cu").read_text(encoding="utf-8")
    return body.replace('#include "philox.cuh"', header, 1)


def module():
    """The compiled :class:`cupy.RawModule` for the current device (compiled once, cached)."""
    dev = cupy.cuda.Device().id
    mod = _modules.get(dev)
    if mod is None:
        with _lock:
            mod = _modules.get(dev)
            if mod is None:
                mod = cupy.RawModule(code=source(), options=NVRTC_OPTIONS)
                mod.compile()
                _modules[dev] = mod
    return mod


def require_device():
    """Raise ``RuntimeError`` unless CuPy sees a CUDA device."""
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without a driver
        raise RuntimeError(f"backend 'cupy' needs an NVIDIA GPU and driver; CuPy reports: "
                           f"{e}") from e
    if n < 1:
        raise RuntimeError("backend 'cupy' needs an NVIDIA GPU; CuPy sees none")


def team_size(K):
    """Threads per row: a warp for short rows, a block of 256 or 512 for long ones."""
    if K <= 512:
        return 32
    return 256 if K <= 16384 else 512


def _block(team):
    return 256 if team == 32 else team


def _fn(name, dtype, team=None, bf16=False):
    dtype = np.dtype(dtype)
    if (dtype == np.uint16) != bool(bf16):
        raise TypeError(f"bfloat16 arrays travel as uint16 views with bf16=True; got dtype "
                        f"{dtype} with bf16={bf16!r}")
    suffix = _SUFFIX[dtype]
    return module().get_function(f"fg_{name}_{suffix}" + ("" if team is None else f"_t{team}"))


def _key_ptr(key_dev):
    """The device pointer of ``key_dev`` (k0, k1, stream word as 3 x uint32 on the device; an
    int pointer, a CuPy array or a ``__cuda_array_interface__`` object), 0 (null) for None."""
    if key_dev is None:
        return np.uint64(0)
    if isinstance(key_dev, (int, np.integer)):
        return np.uint64(key_dev)
    if isinstance(key_dev, cupy.ndarray):
        return np.uint64(key_dev.data.ptr)
    return np.uint64(key_dev.__cuda_array_interface__["data"][0])


def _flags(check):
    """The flag counters to pass (a device array, or None for a null pointer) and whether to
    read them back: ``check=None`` (the default) keeps the counts of earlier versions, False
    launches without flags and returns None (no host synchronisation), True counts."""
    if check is None:
        check = True
    return (cupy.zeros(2, cupy.uint64) if check else np.uint64(0)), check


def _done(flags, check, one=False):
    if not check:
        return None
    counts = _gc.flag_counts(flags.get())
    return counts[0] if one else counts


def _device(a):
    return a if isinstance(a, cupy.ndarray) else cupy.ascontiguousarray(cupy.asarray(a))


def _copy_back(d, a):
    a[...] = d.get()


def _target(a):
    return _gc.target(a, cupy.empty, _copy_back, _device)


def _launch(name, dtype, items, K, args, bf16=False):
    """Launch (``cupy.RawKernel`` launches on CuPy's current stream,
    ``cupy.cuda.get_current_stream()``: the bridges enter ``cupy.cuda.ExternalStream``)."""
    team = team_size(K)
    block = _block(team)
    per = block // team
    grid = max(1, (items + per - 1) // per)
    _fn(name, dtype, team, bf16)((grid,), (block,), args)


def _key(k0, k1, stream, key_dev=None):
    return np.uint32(k0), np.uint32(k1), np.uint32(stream), _key_ptr(key_dev)


def _cols(K):
    if K >= 2 ** 31:
        raise ValueError(f"rows of {K} columns are over the CuPy kernels' limit of 2**31 - 1")
    return np.int32(K)


def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale, *, key_dev=None,
               bf16=False):
    """out[r, c] = loc + scale * Gumbel (or a uniform) of element (row0 + r, c)."""
    d, finish = _target(out)
    rows, K = out.shape
    nq = (K + 3) // 4
    if rows and nq:
        _fn("fill_noise", out.dtype, None, bf16)(
            ((nq + 255) // 256, min((rows + 7) // 8, 65535)), (256,), (
                d, np.int64(rows), _cols(K), np.uint64(row0), *_key(k0, k1, stream, key_dev),
                np.int32(bits64), np.int32(uniform), np.float64(loc), np.float64(scale)))
    finish()


def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode, *, check=None,
                 key_dev=None, bf16=False):
    """Fused Gumbel-softmax of each row (mode 0 soft, 1 log, 2 hard); returns the number of
    rows whose perturbed maximum is +inf (None with ``check=False``: no host read; such rows
    and rows with NaN come out NaN)."""
    dx = _device(x)
    d, finish = _target(out)
    rows, K = x.shape
    flags, check = _flags(check)
    if rows and K:
        _launch("softmax", out.dtype, rows, K, (
            dx, d, np.int64(rows), _cols(K), np.uint64(row0), *_key(k0, k1, stream, key_dev),
            np.int32(bits64), np.float64(tau), np.int32(mode), flags), bf16)
    finish()
    return _done(flags, check, one=True)


def argmax_rows(x, idx, row0, k0, k1, stream, bits64, *, check=None, key_dev=None,
                bf16=False):
    """idx[r, d] = first argmax of x[r] + g(noise row (row0 + r) * D + d); returns
    (rows with NaN, rows whose maximum is +inf), None with ``check=False`` (such rows give
    the index of their first NaN, else first +inf entry)."""
    dx = _device(x)
    d, finish = _target(idx)
    rows, K = x.shape
    D = idx.shape[1]
    flags, check = _flags(check)
    if rows and D:
        _launch("argmax", dx.dtype, rows * D, K, (
            dx, d, cupy.empty(1, cupy.int64), np.int32(0), np.int64(rows), _cols(K),
            np.int64(D), np.uint64(row0), *_key(k0, k1, stream, key_dev), np.int32(bits64),
            flags), bf16)
    finish()
    return _done(flags, check)


def multinomial_rows(x, counts, n_draws, row0, k0, k1, stream, bits64, *, check=None,
                     key_dev=None, bf16=False):
    """counts[r, :] = histogram of the n_draws Gumbel-max draws of ``argmax_rows``."""
    dx = _device(x)
    d, finish = _target(counts)
    rows, K = x.shape
    d.fill(0)
    flags, check = _flags(check)
    if rows and K and n_draws:
        _launch("argmax", dx.dtype, rows * n_draws, K, (
            dx, cupy.empty(1, cupy.int64), d, np.int32(1), np.int64(rows), _cols(K),
            np.int64(n_draws), np.uint64(row0), *_key(k0, k1, stream, key_dev),
            np.int32(bits64), flags), bf16)
    finish()
    return _done(flags, check)


def topk_rows(x, idx, row0, k0, k1, stream, bits64, *, check=None, key_dev=None, bf16=False):
    """idx[r, :k] = the k largest of x[r] + g, best first (NaN entries, then +inf ones, by
    index, before the rest); returns (NaN rows, +inf rows), None with ``check=False``."""
    dx = _device(x)
    d, finish = _target(idx)
    rows, K = x.shape
    k = idx.shape[1]
    flags, check = _flags(check)
    if rows and k:
        _launch("topk", dx.dtype, rows, K, (
            dx, d, np.int64(rows), _cols(K), np.int64(k), np.uint64(row0),
            *_key(k0, k1, stream, key_dev), np.int32(bits64), flags), bf16)
    finish()
    return _done(flags, check)


def softmax_backward_rows(G, y, gx, gtau, tau):
    """gx = y * (G - <G, y>) / tau per row; gtau[r] = -sum(gz * log y) / tau."""
    dG = _device(G)
    dy = _device(y)
    d, finish = _target(gx)
    dt, finish_t = _target(gtau)
    rows, K = y.shape
    if rows:
        _launch("backward", d.dtype, rows, K, (dG, dy, d, dt, np.int64(rows), _cols(K),
                                              np.float64(tau)))
    finish()
    finish_t()


def concrete_rows(y, logits, out, tau):
    """Per-row part of the Concrete log-density, in float64 (see cpu.concrete_rows)."""
    dy = _device(y)
    dl = _device(logits)
    if dl.dtype != dy.dtype:
        dt = np.promote_types(dl.dtype, dy.dtype)
        dy, dl = dy.astype(dt), dl.astype(dt)
    d, finish = _target(out)
    rows, K = dy.shape
    if rows:
        _launch("concrete", dy.dtype, rows, K, (dy, dl, d, np.int64(rows), _cols(K),
                                               np.float64(tau)))
    finish()


def softmax_backward_recompute(G, x, gx, gtau, row0, k0, k1, stream, bits64, tau):
    """Gradients with the soft sample regenerated from the logits and the key: the soft
    forward kernel writes the sample into ``gx`` on the device, the backward kernel then
    works in place. Returns the number of rows whose max(x + g) is +inf."""
    return _gc.softmax_backward_recompute(_target, softmax_rows, softmax_backward_rows, G, x, gx,
                                          gtau, row0, k0, k1, stream, bits64, tau)
