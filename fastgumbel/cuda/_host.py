"""Host side of :mod:`fastgumbel.cuda`: same names, arguments and results as
:mod:`fastgumbel.cpu`.

Arrays may be NumPy arrays (copied to the device and the results copied back) or device
arrays (Numba device arrays, or any object with ``__cuda_array_interface__``; used in
place). Kernels are compiled lazily on first launch (per dtype).
"""
from __future__ import annotations

import warnings

import numpy as np
from numba import cuda

from .. import _gpu_common as _gc
from ._kernels import concrete_k, kernels
from ._team import BLOCK, team_size

_U = np.uint64

def _device(a):
    """A device view of ``a``: NumPy arrays are copied over, device arrays used in place."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a))
    if hasattr(a, "copy_to_host"):
        return a
    return cuda.as_cuda_array(a)


def _copy_back(d, a):
    d.copy_to_host(a)


def _target(a):
    """(device array to write, finish()) for an output ``a``, host or device."""
    return _gc.target(a, cuda.device_array, _copy_back, _device)


def _flags():
    return cuda.to_device(np.zeros(2, np.int64))


# Numba warns (NumbaPerformanceWarning) whenever a launch has fewer than 128 blocks. Our grids
# are sized to the input (a block per BLOCK // T rows), so every small call would warn, and
# the warning would reach users (and pytest's "error" filter) though nothing is wrong.
# The message may start with ANSI colour codes (Numba highlights its warnings), hence ".*".
_SMALL_GRID = r".*Grid size \d+ will likely result in GPU under-utilization"


def _launch(kern, grid, block=BLOCK):
    """``kern[grid, block]`` without Numba's small-grid warning (only that one is hidden).

    The filter is installed only around building the launch configuration, which is where
    Numba emits it; compile-time and launch warnings still come through. ``catch_warnings``
    swaps the process-wide filter list (before Python 3.14), so two threads launching at
    once could leave this one filter installed: harmless, it matches only this message.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SMALL_GRID)
        return kern[grid, block]


def _grid(items, T):
    per = BLOCK // T
    return max(1, (items + per - 1) // per)


_EMPTY_IDX = {}


def _empty_idx():
    e = _EMPTY_IDX.get("e")
    if e is None:
        e = _EMPTY_IDX["e"] = cuda.device_array((0, 0), np.int64)
    return e


def fill_noise(out, row0, k0, k1, stream, bits64, uniform, loc, scale):
    """out[r, c] = loc + scale * Gumbel (or a uniform) of element (row0 + r, c)."""
    d, finish = _target(out)
    rows, K = out.shape
    items = rows * ((K + 3) // 4)
    if items:
        kern = kernels(out.dtype)["fill_noise"]
        _launch(kern, (items + BLOCK - 1) // BLOCK)(
            d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), bool(uniform), float(loc),
            float(scale))
    finish()


def softmax_rows(x, out, row0, k0, k1, stream, bits64, tau, mode):
    """Fused Gumbel-softmax of each row (mode 0 soft, 1 log, 2 hard); returns the number of
    rows whose perturbed maximum is +inf (see cpu.softmax_rows)."""
    dx = _device(x)
    d, finish = _target(out)
    rows, K = x.shape
    flags = _flags()
    if rows and K:
        T = team_size(K)
        _launch(kernels(out.dtype)["softmax"], _grid(rows, T))(
            dx, d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), float(tau), int(mode),
            T, flags)
    finish()
    return int(flags.copy_to_host()[0])


def argmax_rows(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, d] = first argmax of x[r] + g(noise row (row0 + r) * D + d); returns
    (rows with NaN, rows whose maximum is +inf)."""
    dx = _device(x)
    d, finish = _target(idx)
    rows, K = x.shape
    D = idx.shape[1]
    flags = _flags()
    if rows and D:
        T = team_size(K)
        _launch(kernels(x.dtype)["argmax"], _grid(rows * D, T))(
            dx, d, _empty_idx(), int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), int(D), T,
            flags)
    finish()
    return _gc.flag_counts(flags.copy_to_host())


def multinomial_rows(x, counts, n_draws, row0, k0, k1, stream, bits64):
    """counts[r, :] = histogram of the n_draws Gumbel-max draws of ``argmax_rows``."""
    dx = _device(x)
    d, finish = _target(counts)
    rows, K = x.shape
    flags = _flags()
    ks = kernels(x.dtype)
    if rows and K:
        _launch(ks["zero"], ((rows + 15) // 16, (K + 15) // 16), (16, 16))(d)
        if n_draws:
            T = team_size(K)
            _launch(ks["argmax"], _grid(rows * n_draws, T))(
                dx, _empty_idx(), d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64),
                int(n_draws), T, flags)
    finish()
    return _gc.flag_counts(flags.copy_to_host())


def topk_rows(x, idx, row0, k0, k1, stream, bits64):
    """idx[r, :k] = the k largest of x[r] + g, best first; returns (NaN rows, +inf rows)."""
    dx = _device(x)
    d, finish = _target(idx)
    rows, K = x.shape
    flags = _flags()
    if rows and idx.shape[1]:
        T = team_size(K)
        _launch(kernels(x.dtype)["topk"], _grid(rows, T))(
            dx, d, int(row0), _U(k0), _U(k1), _U(stream), bool(bits64), T, flags)
    finish()
    return _gc.flag_counts(flags.copy_to_host())


def softmax_backward_rows(G, y, gx, gtau, tau):
    """gx = y * (G - <G, y>) / tau per row; gtau[r] = -sum(gz * log y) / tau."""
    dG = _device(G)
    dy = _device(y)
    d, finish = _target(gx)
    dt, finish_t = _target(gtau)
    rows, K = y.shape
    if rows:
        T = team_size(K)
        _launch(kernels(gx.dtype)["backward"], _grid(rows, T))(dG, dy, d, dt, float(tau), T)
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
        _launch(concrete_k, _grid(rows, T))(dy, dl, d, float(tau), T)
    finish()


def require_device():
    """Raise ``RuntimeError`` unless a CUDA GPU (or the CUDA simulator) is usable."""
    if not cuda.is_available():
        raise RuntimeError("backend 'numba-cuda' needs an NVIDIA GPU and driver; "
                           "numba.cuda.is_available() is False on this machine "
                           "(NUMBA_ENABLE_CUDASIM=1 runs the kernels in the simulator)")


def softmax_backward_recompute(G, x, gx, gtau, row0, k0, k1, stream, bits64, tau):
    """Gradients with the soft sample regenerated from the logits and the key (see
    cpu.softmax_backward_recompute): the soft forward kernel writes the sample into ``gx``
    on the device, the backward kernel then works in place. Returns the number of rows whose
    max(x + g) is +inf (the caller raises)."""
    return _gc.softmax_backward_recompute(_target, softmax_rows, softmax_backward_rows, G, x, gx,
                                          gtau, row0, k0, k1, stream, bits64, tau)
