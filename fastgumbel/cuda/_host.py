"""Host side of :mod:`fastgumbel.cuda`: same names, arguments and results as
:mod:`fastgumbel.cpu`, plus the keywords of the GPU contract (docs/gpu.md):

- ``cuda_stream``: the Numba stream the kernels (and any copies) go to; 0, the default
  stream;
- ``key_dev``: None, or a device array of 3 uint32 (k0, k1, stream word; int32 is read as
  its bits): the kernels read the key there instead of the scalar arguments (a key that a
  captured device op advanced, for CUDA graphs); an int is taken as a device pointer to
  3 uint32;
- ``check`` (samplers): False, nothing is read back and the wrapper returns None (rows with
  NaN or +inf get the documented values); True, the kernels count those rows and the
  counts are returned as before (a host read); None (the default for now), as True;
- ``bf16``: the float arrays are uint16 arrays holding bfloat16 bits (float32 math, rounded
  once on store to nearest even).

Arrays may be NumPy arrays (copied to the device and the results copied back) or device
arrays (Numba device arrays, or any object with ``__cuda_array_interface__``; used in
place). Kernels are compiled lazily on first launch (per specialization).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
from numba import cuda

from .. import _gpu_common as _gc
from ._kernels import concrete_k, kernels
from ._pieces import HARD, SOFT
from ._team import BLOCK, log2_int, team_size

_U = np.uint64


def _device(a, stream=0):
    """A device view of ``a``: NumPy arrays are copied over, device arrays used in place."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a), stream=stream)
    if hasattr(a, "copy_to_host"):
        return a
    return cuda.as_cuda_array(a)


def _target(a, stream=0):
    """(device array to write, finish()) for an output ``a``, host or device."""
    def copy_back(d, h):
        d.copy_to_host(h, stream=stream)
        if stream:
            stream.synchronize()
    return _gc.target(a, functools.partial(cuda.device_array, stream=stream), copy_back,
                      _device)


# Numba warns (NumbaPerformanceWarning) whenever a launch has fewer than 128 blocks. Our grids
# are sized to the input (a block per BLOCK // T rows), so every small call would warn, and
# the warning would reach users (and pytest's "error" filter) though nothing is wrong.
# The message may start with ANSI colour codes (Numba highlights its warnings), hence ".*".
_SMALL_GRID = r".*Grid size \d+ will likely result in GPU under-utilization"


def _launch(kern, grid, block=BLOCK, stream=0):
    """``kern[grid, block, stream]`` without Numba's small-grid warning (only that one is
    hidden).

    The filter is installed only around building the launch configuration, which is where
    Numba emits it; compile-time and launch warnings still come through. ``catch_warnings``
    swaps the process-wide filter list (before Python 3.14), so two threads launching at
    once could leave this one filter installed: harmless, it matches only this message.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SMALL_GRID)
        if stream:
            return kern[grid, block, stream]
        return kern[grid, block]


def _grid(items, T):
    per = BLOCK // T
    return max(1, (items + per - 1) // per)


_CACHE = {}


def _empty(shape, dtype):
    """A cached empty device array (a "null" key, no flags, no idx / counts)."""
    k = (shape, np.dtype(dtype).str)
    e = _CACHE.get(k)
    if e is None:
        e = _CACHE[k] = cuda.device_array(shape, dtype)
    return e


def _key(key_dev):
    """The ``key`` argument of the kernels: an empty array (use the scalars), or the device
    array of 3 uint32 that ``key_dev`` names."""
    if key_dev is None:
        return _empty((0,), np.uint32)
    if isinstance(key_dev, (int, np.integer)):
        return cuda.from_cuda_array_interface(
            {"shape": (3,), "typestr": "<u4", "data": (int(key_dev), False), "version": 3},
            owner=None, sync=False)
    k = _device(key_dev)
    if k.dtype == np.int32:
        k = k.view(np.uint32)
    if k.dtype != np.uint32 or k.ndim != 1 or k.shape[0] < 3:
        raise ValueError(f"key_dev must be a device array of 3 uint32 (or int32); got "
                         f"dtype {k.dtype}, shape {k.shape}")
    return k


def _flags(check, stream):
    """(flags array, read()) for the kernels: counters when ``check`` is not False, else an
    empty array and no read."""
    if check is False:
        return _empty((0,), np.int64), lambda: None
    f = cuda.to_device(np.zeros(2, np.int64), stream=stream)
    return f, lambda: _gc.flag_counts(f.copy_to_host(stream=stream))


def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale, *, key_dev=None,
               bf16=False, cuda_stream=0):
    """out[r, c] = loc + scale * Gumbel (or a uniform) of element (row0 + r, c)."""
    d, finish = _target(out, cuda_stream)
    rows, K = out.shape
    nq = (K + 3) // 4
    if rows and nq:
        bx = min(BLOCK, max(32, 1 << (nq - 1).bit_length()))
        by = BLOCK // bx
        # large fills: 8 rows per thread (the per-thread setup paid once for 32 elements)
        per = 8 if rows * nq >= 1 << 20 else 1
        gy = min(65535, (rows + by * per - 1) // (by * per))
        kern = kernels(out.dtype, bf16, bits64)["fill_uniform" if uniform else "fill_noise"]
        _launch(kern, ((nq + bx - 1) // bx, gy), (bx, by), cuda_stream)(
            d, int(row0), _U(k0), _U(k1), _U(stream), _key(key_dev),
            0.0 if uniform else float(loc), 1.0 if uniform else float(scale))
    finish()


def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode, *, check=None, key_dev=None,
                 bf16=False, cuda_stream=0):
    """Fused Gumbel-softmax of each row (mode 0 soft, 1 log, 2 hard); returns the number of
    rows whose perturbed maximum is +inf (see cpu.softmax_rows), or None when ``check`` is
    False (such rows come out NaN)."""
    dx = _device(x, cuda_stream)
    d, finish = _target(out, cuda_stream)
    rows, K = x.shape
    flags, read = _flags(check, cuda_stream)
    if rows and K:
        T = team_size(K)
        ks = kernels(x.dtype, bf16, bits64)
        args = (dx, d, int(row0), _U(k0), _U(k1), _U(stream), _key(key_dev))
        if mode == HARD:
            _launch(ks["hard"], _grid(rows, T), BLOCK, cuda_stream)(*args, log2_int(T), flags)
        else:
            name = "soft_tau1" if (mode == SOFT and float(tau) == 1.0) else (
                "soft" if mode == SOFT else "log")
            _launch(ks[name], _grid(rows, T), BLOCK, cuda_stream)(*args, float(tau),
                                                                  log2_int(T), flags)
    finish()
    counts = read()
    return None if counts is None else counts[0]


def argmax_rows(x, idx, row0, k0, k1, stream, bits64, *, check=None, key_dev=None, bf16=False,
                cuda_stream=0):
    """idx[r, d] = first argmax of x[r] + g(noise row (row0 + r) * D + d); returns
    (rows with NaN, rows whose maximum is +inf), or None when ``check`` is False (such rows
    give the index of their first NaN, else first +inf, entry)."""
    dx = _device(x, cuda_stream)
    d, finish = _target(idx, cuda_stream)
    rows, K = x.shape
    D = idx.shape[1]
    flags, read = _flags(check, cuda_stream)
    if rows and D:
        T = team_size(K)
        _launch(kernels(x.dtype, bf16, bits64)["argmax"], _grid(rows * D, T), BLOCK,
                cuda_stream)(dx, d, _empty((0, 0), np.int64), int(row0), _U(k0), _U(k1),
                             _U(stream), _key(key_dev), int(D), log2_int(T), flags)
    finish()
    return read()


def multinomial_rows(x, counts, n_draws, row0, k0, k1, stream, bits64, *, check=None,
                     key_dev=None, bf16=False, cuda_stream=0):
    """counts[r, :] = histogram of the n_draws Gumbel-max draws of ``argmax_rows``."""
    dx = _device(x, cuda_stream)
    d, finish = _target(counts, cuda_stream)
    rows, K = x.shape
    flags, read = _flags(check, cuda_stream)
    ks = kernels(x.dtype, bf16, bits64)
    if rows and K:
        _launch(ks["zero"], ((rows + 15) // 16, (K + 15) // 16), (16, 16), cuda_stream)(d)
        if n_draws:
            T = team_size(K)
            _launch(ks["argmax"], _grid(rows * n_draws, T), BLOCK, cuda_stream)(
                dx, _empty((0, 0), np.int64), d, int(row0), _U(k0), _U(k1), _U(stream),
                _key(key_dev), int(n_draws), log2_int(T), flags)
    finish()
    return read()


def topk_rows(x, idx, row0, k0, k1, stream, bits64, *, check=None, key_dev=None, bf16=False,
              cuda_stream=0):
    """idx[r, :k] = the k largest of x[r] + g, best first (NaN entries first, then +inf);
    returns (NaN rows, +inf rows), or None when ``check`` is False."""
    dx = _device(x, cuda_stream)
    d, finish = _target(idx, cuda_stream)
    rows, K = x.shape
    flags, read = _flags(check, cuda_stream)
    if rows and idx.shape[1]:
        T = team_size(K)
        _launch(kernels(x.dtype, bf16, bits64)["topk"], _grid(rows, T), BLOCK, cuda_stream)(
            dx, d, int(row0), _U(k0), _U(k1), _U(stream), _key(key_dev), log2_int(T), flags)
    finish()
    return read()


def softmax_backward_rows(G, y, gx, gtau, tau, *, bf16=False, cuda_stream=0):
    """gx = y * (G - <G, y>) / tau per row; gtau[r] = -sum(gz * log y) / tau."""
    dG = _device(G, cuda_stream)
    dy = _device(y, cuda_stream)
    d, finish = _target(gx, cuda_stream)
    dt, finish_t = _target(gtau, cuda_stream)
    rows, K = y.shape
    if rows:
        T = team_size(K)
        _launch(kernels(gx.dtype, bf16)["backward"], _grid(rows, T), BLOCK, cuda_stream)(
            dG, dy, d, dt, float(tau), log2_int(T))
    finish()
    finish_t()


def concrete_rows(y, logits, out, tau):
    """Per-row part of the Concrete log-density, in float64 (see cpu.concrete_rows)."""
    dy = _device(y)
    dl = _device(logits)
    d, finish = _target(out)
    rows, K = y.shape
    if rows:
        T = team_size(K)
        _launch(concrete_k, _grid(rows, T))(dy, dl, d, float(tau), log2_int(T))
    finish()


def require_device():
    """Raise ``RuntimeError`` unless a CUDA GPU (or the CUDA simulator) is usable."""
    if not cuda.is_available():
        raise RuntimeError("backend 'numba-cuda' needs an NVIDIA GPU and driver; "
                           "numba.cuda.is_available() is False on this machine "
                           "(NUMBA_ENABLE_CUDASIM=1 runs the kernels in the simulator)")


def softmax_backward_recompute(G, x, gx, gtau, row0, k0, k1, stream, bits64, tau, *, check=None,
                               key_dev=None, bf16=False, cuda_stream=0):
    """Gradients with the soft sample regenerated from the logits and the key (see
    cpu.softmax_backward_recompute): the soft forward kernel writes the sample into ``gx``
    on the device, the backward kernel then works in place. Returns the number of rows whose
    max(x + g) is +inf (the caller raises), or None when ``check`` is False (those rows get
    NaN gradients)."""
    fwd = functools.partial(softmax_rows, check=check, key_dev=key_dev, bf16=bf16,
                            cuda_stream=cuda_stream)
    bwd = functools.partial(softmax_backward_rows, bf16=bf16, cuda_stream=cuda_stream)
    return _gc.softmax_backward_recompute(functools.partial(_target, stream=cuda_stream), fwd,
                                          bwd, G, x, gx, gtau, row0, k0, k1, stream, bits64,
                                          tau)
