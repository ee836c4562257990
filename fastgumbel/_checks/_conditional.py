"""Checks of the conditional field (``conditional_gumbel``, ``gumbel_rao_backward``)."""
from __future__ import annotations

import numbers

import numpy as np

#: Conditional field (docs/rng.md): rows below 2**40, samples per row below 2**23.
CONDITIONAL_ROWS = 1 << 40
CONDITIONAL_SAMPLES = 1 << 23


def conditional_samples(samples, *, allow_none=True):
    """``samples`` of a conditional call: None (one sample, no leading axis) or 1 .. 2**23-1."""
    if samples is None and allow_none:
        return None
    if samples is None or isinstance(samples, (bool, np.bool_)) \
            or not isinstance(samples, numbers.Integral):
        raise TypeError(f"samples must be a positive integer; got {samples!r}")
    if not 1 <= samples < CONDITIONAL_SAMPLES:
        raise ValueError(f"samples must be in [1, 2**23); got {samples}")
    return int(samples)


def argmax_index(index, lead, K, rows):
    """``index`` (one category per row, the shape of logits without the sampling axis) as a
    flat int64 array of ``rows`` values in [0, K)."""
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index must be an integer array; got dtype {idx.dtype}")
    if idx.shape != tuple(lead):
        raise ValueError(f"index has shape {idx.shape}; the logits without their sampling "
                         f"axis have shape {tuple(lead)}")
    if rows >= CONDITIONAL_ROWS:
        raise ValueError(f"{rows} rows exceed the 2**40 rows of the conditional field")
    flat = idx.reshape(rows).astype(np.int64)
    bad = (flat < 0) | (flat >= K)
    if bad.any():
        raise ValueError(f"index must lie in [0, {K}); got {int(flat[np.argmax(bad)])}")
    return np.ascontiguousarray(flat)


def conditional_logits(x, idx, dtype):
    """Rows ``x`` (rows, K) that the conditional law is defined for: no NaN, no +inf, and a
    finite logit at ``idx`` (a -inf logit has probability 0 of being the argmax)."""
    top = x.max(axis=1)                  # one pass, no input-sized temporary; NaN propagates
    if np.isnan(top).any():
        raise ValueError("logits contain NaN: the argmax, and so the conditional law, is "
                         "not defined")
    if np.isposinf(top).any():
        raise ValueError("logits contain +inf: the distribution is not defined; use a large "
                         "finite logit, or mask the others with -inf")
    sel = x[np.arange(x.shape[0]), idx]
    if np.isneginf(sel).any():
        r = int(np.argmax(np.isneginf(sel)))
        raise ValueError(f"index {int(idx[r])} of row {r} points at a -inf logit: that "
                         "category has probability 0 of being the argmax")
    with np.errstate(over="ignore"):
        gap = (top - sel) + 128              # the noise at the index exceeds the gap by < 64
    over = ~(gap <= np.finfo(dtype).max)
    if over.any():
        r = int(np.argmax(over))
        raise ValueError(f"logit {float(sel[r])!r} at index {int(idx[r])} of row {r} lies "
                         f"{float(top[r])!r} - ({float(sel[r])!r}) below the row's maximum: "
                         f"its conditional noise would overflow {np.dtype(dtype)}")
