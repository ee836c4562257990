"""Host-side pieces shared by the GPU backends :mod:`fastgumbel.cuda` and
:mod:`fastgumbel.cupy`.

The backends differ in how they allocate device memory and launch kernels; what they do
around a launch is the same, and lives here. Nothing here imports CuPy or Numba CUDA: each
backend passes in its own allocation and copy functions.

Examples
--------
>>> import numpy as np
>>> host = np.zeros(3)
>>> d, finish = target(host, empty=np.empty, copy_back=lambda d, a: a.__setitem__(..., d),
...                    device=np.asarray)
>>> d[:] = 7.0
>>> finish()
>>> host
array([7., 7., 7.])
>>> flag_counts(np.array([2, 0], np.uint64))
(2, 0)
"""
from __future__ import annotations

import numpy as np

__all__ = ["target", "flag_counts", "softmax_backward_recompute"]


def _nothing():
    pass


def target(a, empty, copy_back, device):
    """(device array to write, ``finish()``) for a kernel output ``a``.

    A NumPy array gets a fresh device buffer ``empty(a.shape, a.dtype)`` that ``finish()``
    copies back into ``a`` with ``copy_back(d, a)``; a device array is written in place
    (``device(a)``) and ``finish()`` does nothing.
    """
    if isinstance(a, np.ndarray):
        d = empty(a.shape, a.dtype)

        def finish():
            copy_back(d, a)

        return d, finish
    return device(a), _nothing


def flag_counts(f):
    """``(rows with NaN, rows whose maximum is +inf)`` from the kernels' two flag counters,
    copied to the host."""
    return int(f[0]), int(f[1])


def softmax_backward_recompute(target, softmax_rows, softmax_backward_rows, G, x, gx, gtau,
                               row0, k0, k1, stream, bits64, tau):
    """Gradients with the soft sample regenerated from the logits and the key, for a backend
    given by its ``target``, ``softmax_rows`` and ``softmax_backward_rows``: the soft forward
    kernel writes the sample into ``gx`` on the device, the backward kernel then works in
    place. Returns the number of rows whose max(x + g) is +inf (the caller raises)."""
    d, finish = target(gx)
    posinf = softmax_rows(x, d, row0, k0, k1, stream, bits64, tau, 0)
    softmax_backward_rows(G, d, d, gtau, tau)
    finish()
    return posinf
