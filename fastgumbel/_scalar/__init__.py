"""Scalar math, written once.

Everything here is a plain function of scalars, compiled by Numba: inlined into the CPU
kernels of :mod:`fastgumbel.cpu` (where LLVM vectorizes the loops around it) and meant to
be compiled unchanged as CUDA device functions. Nothing here allocates or branches on
data in a way that stops vectorization: choices are ``a if c else b`` selects.

Contents
--------
- :mod:`._bits`: bit casts between floats and integers of the same width (LLVM
  ``bitcast``), unsigned conversions, ``fma``, the AVX-512 vector-width mark, and one
  Philox4x32-10 block (Random123), on 32-bit values held in ``uint64``;
- :mod:`._logexp`: ``log``/``exp`` for float32 and float64 as polynomial code (no libm
  calls, so the loops vectorize on a Numba without SVML);
- :mod:`._transforms`: the bits -> uniform -> Gumbel transforms of stream spec v1
  (``docs/rng.md``).

The accuracy of the polynomial functions is measured by ``tests/test_transform.py`` over
the whole range the kernels use; the figures are in ``docs/rng.md``.
"""
from __future__ import annotations

from ._bits import (MASK32, SH32, bf16_to_f32, f32_as_i32, f32_to_bf16, f64_as_i64, floor_f,
                    fma, i32_as_f32, i64_as_f64, mul32_wide, order_key_f32, order_key_f64,
                    philox_block, philox_block32, u32_to_f32, u32_to_f64, wide_vectors)
from ._logexp import (BOUND_BAND, BOUND_REL, LN2, exp_f32, exp_f64, exp_nonpos_any,
                      exp_nonpos_f32, exp_nonpos_f64,
                      log2_bound_f32, log2_bound_f64, log_any, log_ef_f32, log_f32, log_f64,
                      log_kf_f64)
from ._transforms import (exponential_bits32, exponential_bits64, gumbel_bits32, gumbel_bits64,
                          uniform_bits32, uniform_bits64)

__all__ = [
    "philox_block", "gumbel_bits32", "gumbel_bits64", "exponential_bits32", "exponential_bits64",
    "uniform_bits32", "uniform_bits64",
    "log_f32", "log_f64", "log_ef_f32", "log_kf_f64", "exp_f32", "exp_f64", "exp_nonpos_f32",
    "exp_nonpos_f64", "log_any", "exp_nonpos_any", "fma", "wide_vectors",
    "MASK32", "SH32", "f32_as_i32", "i32_as_f32", "f64_as_i64", "i64_as_f64", "floor_f",
    "u32_to_f32", "u32_to_f64", "bf16_to_f32", "f32_to_bf16", "mul32_wide", "philox_block32", "order_key_f32", "order_key_f64",
    "log2_bound_f32", "log2_bound_f64", "BOUND_BAND", "BOUND_REL", "LN2",
]
