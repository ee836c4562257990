"""Numba CPU backend: fused kernels over a 2-D C-contiguous ``(rows, K)`` view.

Every kernel takes the global index of its first row (``row0``), the key words
``(k0, k1, stream)`` and ``bits64`` (64 random bits per element: float64, or
``precision="high"``), and regenerates the noise of each row chunk by chunk (``CHUNK``
columns at a time, in a per-thread buffer) from stream spec v1: nothing depends on the
thread count, and no input-sized temporary is allocated.

Rows are independent: the work is parallel over rows (and, for the noise fills, over row
chunks), which each thread claims in blocks from a shared counter (:mod:`._schedule`)
so that a thread that starts late does not hold the call up. Reductions inside a row run in
a fixed order, so results are bit-identical for any number of threads and any schedule.

Kernels compile on first use (``cache=True``, settings in :mod:`fastgumbel._numba`), not at
import. Importing this package first picks Numba's threading layer (:mod:`._threading`),
before any kernel can start the thread pool.

Modules: building blocks (:mod:`._dtypes`, :mod:`._schedule`, :mod:`._prefetch`,
:mod:`._reduce`, :mod:`._noise`: the noise of a chunk and ``fill_noise``); Gumbel-max
(:mod:`._argmax`); the softmax family (:mod:`._softmax_steps`, :mod:`._ratio` for tau == 1,
:mod:`._short` for groups of short rows at tau == 1,
:mod:`._softmax`); gradients and density (:mod:`._backward`, :mod:`._concrete`); many draws
(:mod:`._cdf` inverse CDF, :mod:`._binomial`, :mod:`._counts` Gumbel-max counts,
:mod:`._topk`); partials of a column block of longer rows, for the Dask category chunks
(:mod:`._colpart`); Gumbel noise given the argmax (:mod:`._conditional`) and the Gumbel-Rao
backward (:mod:`._rao`; its tau gradient summed over rows exactly by :mod:`._exactsum`);
serving-style token sampling (:mod:`._threshold`, :mod:`._sample`).
"""
from __future__ import annotations

from . import _threading

# before any module that compiles a kernel: the layer must be chosen before Numba's pool starts
_threading.configure()

from ._argmax import argmax_by_chunk, argmax_by_row, argmax_rows  # noqa: E402
from ._backward import softmax_backward_recompute, softmax_backward_rows  # noqa: E402
from ._binomial import multinomial_binomial  # noqa: E402
from ._cdf import categorical_cdf, multinomial_cdf  # noqa: E402
from ._colpart import argmax_cols, softmax_cols, softmax_cols_finish, topk_cols  # noqa: E402
from ._concrete import concrete_rows  # noqa: E402
from ._conditional import conditional_rows  # noqa: E402
from ._rao import gumbel_rao_rows  # noqa: E402
from ._exactsum import SLOTS as EXACT_SLOTS, exact_total  # noqa: E402
from ._counts import multinomial_gumbel, multinomial_rows  # noqa: E402
from ._noise import CHUNK, fill_noise, fill_noise_at  # noqa: E402
from ._softmax import (SERIAL_ELEMS, one_hot, softmax_by_chunk, softmax_by_row,  # noqa: E402
                       softmax_entry, softmax_rows, softmax_rows_c)
from ._softmax_steps import HARD, LOG, SOFT  # noqa: E402
from ._sample import sample_rows  # noqa: E402
from ._threading import get_num_threads, set_num_threads, threads  # noqa: E402
from ._topk import topk_rows  # noqa: E402

__all__ = ["CHUNK", "fill_noise", "fill_noise_at", "one_hot", "softmax_rows", "softmax_rows_c", "softmax_entry", "argmax_rows", "multinomial_rows", "topk_rows",
           "categorical_cdf", "multinomial_cdf", "multinomial_gumbel", "multinomial_binomial",
           "softmax_backward_rows", "softmax_backward_recompute", "concrete_rows",
           "conditional_rows", "gumbel_rao_rows", "EXACT_SLOTS", "exact_total",
           "SOFT", "LOG", "HARD", "SERIAL_ELEMS", "softmax_by_row", "softmax_by_chunk",
           "argmax_by_row", "argmax_by_chunk", "sample_rows", "threads", "set_num_threads",
           "get_num_threads", "argmax_cols", "softmax_cols", "softmax_cols_finish", "topk_cols"]
