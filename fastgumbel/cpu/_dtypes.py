"""Dtype helpers of the CPU kernels (compiled code only): constants of an array's dtype,
and the bit-level order keys that the max reductions run on."""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from .._scalar import (f32_as_i32, f64_as_i64, i32_as_f32, i64_as_f64, log2_bound_f32,
                       log2_bound_f64, order_key_f32, order_key_f64)

_U = np.uint64


def typed(value, arr):
    """``value`` cast to the dtype of ``arr`` (compiled code only)."""
    raise NotImplementedError


def tiny_of(arr):
    """Smallest positive normal number of ``arr``'s dtype (compiled code only)."""
    raise NotImplementedError


@overload(typed)
def _typed(value, arr):
    dt = arr.dtype
    return lambda value, arr: dt(value)


@overload(tiny_of)
def _tiny_of(arr):
    dt = arr.dtype
    tiny = float(np.finfo(np.dtype(str(dt))).tiny)
    return lambda arr: dt(tiny)


def eps_of(arr):
    """Machine epsilon (ulp of 1) of ``arr``'s dtype (compiled code only)."""
    raise NotImplementedError


def exp_shift(arr, bits64):
    """The shift C of the tau == 1 softmax (cpu._ratio_chunk) for ``arr``'s dtype and the
    word width, or 0 where that path is not exact (float32 with 64-bit words); compiled code
    only."""
    raise NotImplementedError


@overload(eps_of)
def _eps_of(arr):
    dt = arr.dtype
    eps = float(np.finfo(np.dtype(str(dt))).eps)
    return lambda arr: dt(eps)


@overload(exp_shift)
def _exp_shift(arr, bits64):
    dt = arr.dtype
    if dt == types.float32:
        return lambda arr, bits64: dt(0.0 if bits64 else 32.0)
    return lambda arr, bits64: dt(64.0)


def order_key(v):
    """Signed integer of ``v``'s width that orders like the float (compiled code only)."""
    raise NotImplementedError


def key_value(k):
    """The float whose :func:`order_key` is ``k`` (compiled code only)."""
    raise NotImplementedError


# Max reductions run on order keys: an integer max vectorizes without fast-math flags, is
# exact, and is independent of the lane count. (Numba widens int32 arithmetic to int64, hence
# the explicit casts: float32 keys stay 32-bit.) (A float max would need LLVM's no-NaN
# assumption; NaN rows are detected separately and give NaN whatever the key max is.)
@overload(order_key, inline="always")
def _order_key(v):
    if v == types.float32:
        return lambda v: order_key_f32(v)
    return lambda v: order_key_f64(v)


@overload(key_value, inline="always")
def _key_value(k):
    if k == types.int32:
        return lambda k: i32_as_f32(np.int32(k ^ ((k >> np.int32(31)) & np.int32(0x7FFFFFFF))))
    return lambda k: i64_as_f64(k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF)))


def log2_bound(v):
    """e + f for a positive normal v = 2**e (1 + f), read off v's bits: at most log2(v) and
    within 0.0861 of it (compiled code only). float64 reads the high 32 bits (f truncated to
    20 bits: still at most log2(v)), converted from int32 as every x86 vector unit can."""
    raise NotImplementedError


@overload(log2_bound, inline="always")
def _log2_bound(v):
    if v == types.float32:
        return lambda v: log2_bound_f32(v)
    return lambda v: log2_bound_f64(v)


def tau_at(tau, r):
    """The temperature of row ``r``: ``tau`` itself for a scalar, ``tau[r]`` for a per-row
    float64 array (compiled code only). Each kernel is compiled once per kind, so the
    scalar kernels are the code they were before per-row temperatures."""
    raise NotImplementedError


@overload(tau_at)
def _tau_at(tau, r):
    if isinstance(tau, types.Array):
        return lambda tau, r: tau[r]
    return lambda tau, r: tau
