"""Checks of :func:`fastgumbel.sample_logits`: temperature and filters per row, per-row
keys and positions."""
from __future__ import annotations

import math

import numpy as np

# ----------------------------------------------------------------------------------------
# sample_logits: per-row parameters, seeds and positions (batch shape ``lead``)
#: name -> (value meaning "off", lowest, lowest excluded, highest, integer valued)
SAMPLING_PARAMS = {"temperature": (1.0, 0.0, False, math.inf, False),
                   "top_k": (0, 0, False, math.inf, True),
                   "top_p": (1.0, 0.0, True, 1.0, False),
                   "min_p": (0.0, 0.0, False, 1.0, False)}


def _row_array(value, lead, name, what):
    """``value`` broadcast to the batch shape ``lead``, flattened (C order)."""
    try:
        return np.broadcast_to(value, lead).reshape(-1)
    except ValueError:
        raise ValueError(f"{name} must be {what} or an array of the batch shape {tuple(lead)}; "
                         f"got shape {np.shape(value)}") from None


def sampling_param(value, lead, name):
    """A filter or temperature argument of sample_logits as one value per row: float64
    (int64 for top_k); ``None`` means off."""
    off, lo, lo_open, hi, integer = SAMPLING_PARAMS[name]
    what = "an integer >= 0" if integer else (
        f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]" if hi < math.inf
        else "a finite number >= 0")
    if value is None:
        value = off
    arr = np.asarray(value)
    kinds = "iu" if integer else "iuf"
    if arr.dtype.kind not in kinds or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {what} (or a per-row array); got {value!r}")
    flat = _row_array(arr, lead, name, what)
    vals = flat.astype(np.int64 if integer else np.float64)
    bad = ~((vals > lo) if lo_open else (vals >= lo)) | ~(vals <= hi)
    if not integer:
        bad |= ~np.isfinite(vals)
    if bad.any():
        raise ValueError(f"{name} must be {what}; got {flat[bad][0]!r}"
                         + (f" (in row {int(np.argmax(bad))})" if flat.size > 1 else ""))
    return np.ascontiguousarray(vals)


def row_integers(value, lead, name, limit=1 << 64):
    """Per-row seeds or positions: integers in [0, limit) of the batch shape, as uint64."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer array of the batch shape {tuple(lead)}; "
                        f"got {arr.dtype} {value!r:.80}")
    if arr.shape != tuple(lead):
        raise ValueError(f"{name} must have the batch shape {tuple(lead)}; got {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= limit):
        raise ValueError(f"{name} must lie in [0, {limit}); got values in "
                         f"[{int(arr.min())}, {int(arr.max())}]")
    return np.ascontiguousarray(arr.reshape(-1).astype(np.uint64))


def key_sequence(keys, rows, name="rng"):
    """A sequence of per-row keys must have one key per row."""
    if len(keys) != rows:
        raise ValueError(f"{name} holds {len(keys)} keys; expected one per row ({rows})")


def widen_bfloat16(arr):
    """An ml_dtypes bfloat16 array (JAX's) as float32 (exact); anything else unchanged."""
    dt = getattr(arr, "dtype", None)
    if dt is not None and getattr(dt, "name", "") == "bfloat16" and isinstance(arr, np.ndarray):
        return arr.astype(np.float32)
    return arr
