"""Numba CUDA backend: the kernels of :mod:`fastgumbel.cpu` for NVIDIA GPUs.

The scalar math is not copied: the kernels call the ``@njit`` functions of
:mod:`fastgumbel._scalar` (``philox_block``, ``gumbel_bits32/64``, ``uniform_bits32/64``,
``log_f32/f64``, ``exp_f32/f64``), which Numba CUDA compiles as device functions. The random
bits follow stream spec v1 (``docs/rng.md``), so the words and uniforms are bit-identical to
the CPU backend's; Gumbel values and softmax outputs agree within float rounding (NVVM may
contract ``a * b + c`` into one FMA, which the CPU build does not).

Every host function has the name, arguments and return value of its counterpart in
:mod:`fastgumbel.cpu`. Arrays may be NumPy arrays (copied to the device and the results
copied back) or device arrays (Numba device arrays, or any object with
``__cuda_array_interface__``; used in place). Kernels are compiled lazily on first launch
(per specialization); :data:`SIGNATURES` lists the signatures that ``tests/cuda/ptx_check.py``
compiles to PTX without a GPU.

Layout of the package (the design notes sit with the code they describe):

- :mod:`._team`: teams of threads per row, :data:`BLOCK`, :data:`CACHE`, the team
  reductions (warp shuffles; shared memory between warps);
- :mod:`._pieces`: device functions per specialization: the key, loads and stores
  (bfloat16 as uint16 bits), Philox noise / exponentials of a group of 4 columns;
- :mod:`._softmax`: soft and log samples (the one-log ratio form at tau == 1);
- :mod:`._argmax`: bound-pruned Gumbel-max searches (gumbel_max, categorical,
  multinomial, the hard sample);
- :mod:`._kernels`: noise, top-k, backward, Concrete density, and :func:`kernels`;
- :mod:`._host`: the host functions below; :mod:`._signatures`: the launch signatures.
"""
from __future__ import annotations

from ._host import (argmax_rows, concrete_rows, fill_noise, multinomial_rows, require_device,
                    softmax_backward_recompute, softmax_backward_rows, softmax_rows, topk_rows)
from ._kernels import kernels
# CONCRETE_SIGNATURES (for ptx_check) and CACHE are module attributes outside __all__
from ._signatures import CONCRETE_SIGNATURES, SIGNATURES  # noqa: F401
from ._team import BLOCK, CACHE, team_size  # noqa: F401

__all__ = ["BLOCK", "team_size", "require_device", "fill_noise", "softmax_rows", "argmax_rows",
           "multinomial_rows", "topk_rows", "softmax_backward_rows", "softmax_backward_recompute",
           "concrete_rows", "SIGNATURES", "kernels"]
