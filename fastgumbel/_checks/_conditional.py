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
    flat = np.ascontiguousarray(idx.reshape(rows).astype(np.int64, copy=False))
    if rows and (flat.min() < 0 or flat.max() >= K):   # no temporaries: O(1) extra memory
        bad = (flat < 0) | (flat >= K)
        raise ValueError(f"index must lie in [0, {K}); got {int(flat[np.argmax(bad)])}")
    return flat


#: Rows per block of :func:`conditional_logits`: its temporaries are a few arrays of this
#: many elements, whatever the input's size.
CHECK_ROWS = 1024


def conditional_logits(x, idx, dtype):
    """Rows ``x`` (rows, K) that the conditional law is defined for: no NaN, no +inf, and a
    finite logit at ``idx`` (a -inf logit has probability 0 of being the argmax). Checked
    in blocks of :data:`CHECK_ROWS` rows (the error names the row in the whole array)."""
    for r0 in range(0, x.shape[0], CHECK_ROWS):
        _conditional_block(x[r0:r0 + CHECK_ROWS], idx[r0:r0 + CHECK_ROWS], dtype, r0)


def _conditional_block(x, idx, dtype, r0):
    top = x.max(axis=1)                  # one pass, no input-sized temporary; NaN propagates
    if np.isnan(top).any():
        raise ValueError("logits contain NaN: the argmax, and so the conditional law, is "
                         "not defined")
    if np.isposinf(top).any():
        raise ValueError("logits contain +inf: the distribution is not defined; use a large "
                         "finite logit, or mask the others with -inf")
    sel = np.take_along_axis(x, idx[:, None], axis=1)[:, 0]
    if np.isneginf(sel).any():
        r = int(np.argmax(np.isneginf(sel)))
        raise ValueError(f"index {int(idx[r])} of row {r0 + r} points at a -inf logit: that "
                         "category has probability 0 of being the argmax")
    over = conditional_undefined(top, sel, dtype)
    if over.any():
        r = int(np.argmax(over))
        raise ValueError(f"logit {float(sel[r])!r} at index {int(idx[r])} of row {r0 + r} lies "
                         f"{float(top[r])!r} - ({float(sel[r])!r}) below the row's maximum: "
                         f"its conditional noise would overflow {np.dtype(dtype)}")


def conditional_undefined(top, sel, dtype):
    """Rows (their maximum ``top``, their logit ``sel`` at the index) whose conditional law
    is undefined or whose noise would overflow ``dtype``: NaN or ``+inf`` in the row, a
    ``-inf`` logit at the index, or a gap ``top - sel`` beyond the dtype's range."""
    with np.errstate(over="ignore", invalid="ignore"):
        gap = np.subtract(top, sel)
        gap += 128                           # the noise at the index exceeds the gap by < 64
    return ~(gap <= np.finfo(dtype).max)


def estimator(name, hard, samples):
    """``samples`` of a bridge's ``gumbel_softmax(estimator=name, samples=samples)``: an int
    for ``"gumbel-rao"`` (needs ``hard=True``), ``None`` for ``"straight-through"``."""
    if not isinstance(name, str) or name not in ("straight-through", "gumbel-rao"):
        raise ValueError(f"estimator must be 'straight-through' or 'gumbel-rao'; got {name!r}")
    if name == "straight-through" and samples is not None:
        raise ValueError(f"samples is for estimator='gumbel-rao'; got samples={samples!r} "
                         "with estimator='straight-through'")
    if name == "straight-through":
        return None
    if not hard:    # it replaces the straight-through backward of the one-hot sample
        raise ValueError("estimator='gumbel-rao' needs hard=True; got hard=False")
    if samples is None:
        raise TypeError("estimator='gumbel-rao' needs samples=K (conditional samples per "
                        "backward, a positive integer); got samples=None")
    return conditional_samples(samples, allow_none=False)
