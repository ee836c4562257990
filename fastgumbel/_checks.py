"""Argument validation shared by the public functions.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad
value) with a message that names the argument and repeats the value it was given.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np
from numpy.exceptions import AxisError

FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
PRECISIONS = ("default", "high")

#: Noise rows of one key (``r_lo, r_hi``: two 32-bit counter words, docs/rng.md).
ROW_LIMIT = 1 << 64
#: Draws per row of the inverse-CDF draw field (docs/rng.md).
MAX_DRAWS_PER_ROW = 1 << 31


def float_dtype(dtype, name):
    """``dtype`` of an array argument, if it is float16/32/64."""
    dt = np.dtype(dtype)
    if dt not in FLOATS:
        kind = {"i": "integer", "u": "unsigned integer", "b": "boolean", "c": "complex",
                "f": "unsupported float"}.get(dt.kind, "non-float")
        raise TypeError(f"{name} must be a float16, float32 or float64 array; got {kind} dtype "
                        f"{dt} (convert with .astype(numpy.float32))")
    return dt


def float_array(a, name):
    """``a`` as a float16/32/64 ndarray (no copy when it already is one)."""
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and not arr.dtype.isnative:     # byte-swapped: native copy
        arr = arr.astype(arr.dtype.newbyteorder("="))
    float_dtype(arr.dtype, name)
    return arr


def has_categories_axis(ndim, name="logits"):
    """The sampled array must have an axis to sample along."""
    if ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (the categories); "
                         "got a 0-d array")


def categories(K, rows, axis, name="logits"):
    """Rows to sample need at least one category."""
    if K == 0 and rows:
        raise ValueError(f"{name} has no categories (size 0 along axis {axis})")


def noise_rows(rows, n):
    """``rows * n`` noise rows must fit the 2**64 rows of a key."""
    if rows * max(n, 1) >= ROW_LIMIT:
        raise ValueError(f"rows * n = {rows * n} exceeds the 2**64 noise rows of a key")


def cdf_draws(n):
    if n > MAX_DRAWS_PER_ROW:
        raise ValueError(f"n={n} exceeds the {MAX_DRAWS_PER_ROW} draws per row of the "
                         "inverse_cdf draw field; split the draws over more rows")


def topk_k(k, K):
    if k > K:
        raise ValueError(f"k={k} exceeds the number of categories ({K})")


def compute_dtype(dtype):
    """Kernels run in float32 or float64; float16 is computed in float32."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def result_float_dtype(dtype, name="dtype"):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be numpy.float16, float32 or float64; got {dtype!r}") from None
    if dt not in FLOATS:
        raise TypeError(f"{name} must be numpy.float16, float32 or float64; got {dt}")
    return dt


def axis_index(axis, ndim, name="axis"):
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name} must be an integer; got {axis!r}") from None
    if not -ndim <= a < ndim:
        raise AxisError(f"{name}={axis} is out of range for an array of {ndim} dimension(s)")
    return a % ndim


#: (smallest normal, largest finite) of the compute dtypes: a Python float between them is a
#: valid tau without the rounding checks below.
_NORMAL_RANGE = {np.dtype(d): (float(np.finfo(d).tiny), float(np.finfo(d).max))
                 for d in (np.float32, np.float64)}


def tau_value(tau, dtype, name="tau"):
    """tau as a float that is finite and > 0 once rounded to ``dtype``."""
    if type(tau) is float:
        lim = _NORMAL_RANGE.get(dtype)
        if lim is not None and lim[0] <= tau <= lim[1]:
            return tau
    if isinstance(tau, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive real number; got {tau!r}")
    if np.ndim(tau) != 0:
        raise TypeError(f"{name} must be a scalar; got an array of shape {np.shape(tau)}")
    try:
        t = float(tau)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive real number; got {tau!r}") from None
    if math.isnan(t) or t <= 0 or math.isinf(t):
        raise ValueError(f"{name} must be a finite number > 0; got {tau!r}")
    with np.errstate(over="ignore", under="ignore"):    # judged just below
        tc = np.dtype(dtype).type(t)
    if not (0 < tc < np.inf) or tc < np.finfo(dtype).tiny:
        raise ValueError(f"{name}={tau!r} is not a positive normal {np.dtype(dtype)} number")
    return t


def tau_batch(tau, ndim, axis, lead, dtype, name="tau", grow=False):
    """A per-row temperature (an array-like with ``np.ndim(tau) > 0``) for an array of
    ``ndim`` dimensions sampled along ``axis`` (normalized), whose other dimensions are
    ``lead``. Returns ``(batch, shape)``: the values as a float64 array without the category
    axis, and the batch shape it broadcasts to (``lead``, or larger if ``grow``).

    Two forms: ``ndim(tau) == ndim`` with size 1 along ``axis`` (torch's ``(B, 1)``), or
    ``ndim(tau) < ndim``, broadcasting against ``lead`` (TFP's batch shape ``(B,)``). Every
    value must be finite and > 0 once rounded to ``dtype`` (a positive normal number)."""
    a = np.asarray(tau)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a positive real number or an array of them; got "
                        f"an array of dtype {a.dtype}")
    if a.ndim == ndim:
        if a.shape[axis] != 1:
            raise ValueError(
                f"{name} has shape {a.shape}, which varies along the category axis {axis} of "
                f"the logits (shape {lead[:axis] + ('K',) + lead[axis:]}); a per-row "
                f"temperature has size 1 there (e.g. {lead[:axis] + (1,) + lead[axis:]}) or "
                f"leaves that axis out (e.g. {lead})")
        b = a.reshape(a.shape[:axis] + a.shape[axis + 1:])
    elif a.ndim < ndim:
        b = a
    else:
        raise ValueError(f"{name} has shape {a.shape}: more dimensions than the logits "
                         f"({ndim}); a per-row temperature has the logits' shape without "
                         f"the categories, {lead}, or size 1 along the category axis")
    try:
        full = np.broadcast_shapes(b.shape, lead)
    except ValueError:
        full = None
    if full is None or (full != tuple(lead) and not grow):
        raise ValueError(f"{name} of shape {a.shape} does not broadcast to the rows of the "
                         f"logits, whose shape without the category axis {axis} is "
                         f"{tuple(lead)}")
    bf = b.astype(np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        tc = bf.astype(dtype)
        ok = np.isfinite(bf) & (bf > 0) & np.isfinite(tc) & (tc >= np.finfo(dtype).tiny)
    if not ok.all():
        where = tuple(int(i) for i in np.argwhere(~ok.reshape(b.shape))[0])
        raise ValueError(f"{name} must be finite and > 0 (a positive normal "
                         f"{np.dtype(dtype)} number) in every element; got "
                         f"{b[where]!r} at index {where} of {name} (shape {a.shape})")
    return bf, full


def count(n, name, *, allow_none=False):
    if n is None and allow_none:
        return None
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer; got {n!r}")
    if n < 0:
        raise ValueError(f"{name} must be >= 0; got {n}")
    if n >= 2**63:
        raise ValueError(f"{name} must be < 2**63; got {n}")
    return int(n)


def size_shape(size, name="size"):
    if size is None:
        return ()
    try:
        dims = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints; got {size!r}") from None
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{name} must be an int or a tuple of ints; got {size!r}")
        if d < 0:
            raise ValueError(f"{name} must not contain negative dimensions; got {size!r}")
    return tuple(int(d) for d in dims)


def precision_bits64(precision, dtype, name="precision"):
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"{name} must be 'default' or 'high'; got {precision!r}")
    return precision == "high" or np.dtype(dtype) == np.float64


def flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def out_array(out, shape, dtype, name="out"):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}; expected {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}; expected {np.dtype(dtype)}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


# ----------------------------------------------------------------------------------------
# framework bridges


def bridge_float_dtype(dtype, name):
    """``dtype`` of a bridge's float operand: float16/32/64, or bfloat16 (float32 math)."""
    dt = np.dtype(dtype)
    if dt.name == "bfloat16":
        return dt
    try:
        return float_dtype(dt, name)
    except TypeError:
        raise TypeError(f"{name} must be a bfloat16, float16, float32 or float64 array; got "
                        f"dtype {dt}") from None


#: JAX's ``mode`` values of ``jax.random.gumbel`` / ``categorical`` -> our ``precision``.
JAX_MODES = {"low": "default", "high": "high", "highest": "high"}


def jax_mode(mode, default, name="mode"):
    """The ``precision`` of a JAX ``mode`` (``None``: ``default``, JAX's configured mode)."""
    m = default if mode is None else mode
    if not isinstance(m, str) or m not in JAX_MODES:
        raise ValueError(f"{name} must be None, 'low', 'high' or 'highest'; got {mode!r}")
    return JAX_MODES[m]

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
