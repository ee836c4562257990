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


def thread_count(n, limit, name="n"):
    """A thread count: an integer in [1, limit] (``limit``: the size of Numba's pool)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an integer number of threads; got {n!r}")
    if not 1 <= n <= limit:
        raise ValueError(f"{name}={n} threads is outside [1, {limit}] (the pool size, set by "
                         "NUMBA_NUM_THREADS before the first kernel)")
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
    over = conditional_undefined(top, sel, dtype)
    if over.any():
        r = int(np.argmax(over))
        raise ValueError(f"logit {float(sel[r])!r} at index {int(idx[r])} of row {r} lies "
                         f"{float(top[r])!r} - ({float(sel[r])!r}) below the row's maximum: "
                         f"its conditional noise would overflow {np.dtype(dtype)}")


def conditional_undefined(top, sel, dtype):
    """Rows (their maximum ``top``, their logit ``sel`` at the index) whose conditional law
    is undefined or whose noise would overflow ``dtype``: NaN or ``+inf`` in the row, a
    ``-inf`` logit at the index, or a gap ``top - sel`` beyond the dtype's range."""
    with np.errstate(over="ignore", invalid="ignore"):
        gap = (top - sel) + 128              # the noise at the index exceeds the gap by < 64
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


# distribution parameters (fastgumbel.gumbel / uniform and the Generator methods)


def _real_param(v, name):
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be a real number or array; got {v!r}")
    return arr


def gumbel_params(loc, scale, scale_name="scale"):
    """``loc`` and ``scale`` as arrays, checked: real, ``loc`` finite, ``scale`` finite > 0."""
    loc_a = _real_param(loc, "loc")
    scale_a = _real_param(scale, scale_name)
    if not np.all(np.isfinite(loc_a)):
        raise ValueError(f"loc must be finite; got {loc!r}")
    if not np.all(scale_a > 0) or not np.all(np.isfinite(scale_a)):
        raise ValueError(f"{scale_name} must be finite and > 0; got {scale!r}")
    return loc_a, scale_a


def uniform_bounds(low, high):
    """``low`` and ``high`` as float64 arrays with ``high - low`` finite and >= 0
    (NumPy's ``Generator.uniform`` rules: ``OverflowError``, ``ValueError``)."""
    lo = _real_param(low, "low").astype(np.float64, copy=False)
    hi = _real_param(high, "high").astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        span = hi - lo
    if not np.all(np.isfinite(span)):
        raise OverflowError(f"high - low must be finite; got low={low!r}, high={high!r}")
    if np.any(span < 0):
        raise ValueError(f"high must be >= low; got low={low!r}, high={high!r}")
    return lo, hi


def params_shape(size, out_shape, **params):
    """The result shape of a call with array parameters: ``size``, else ``out``'s shape,
    else the parameters' broadcast shape; the parameters must broadcast to it (NumPy)."""
    shapes = {name: np.shape(v) for name, v in params.items()}
    desc = " and ".join(f"{name} {s}" for name, s in shapes.items())
    try:
        together = np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(f"{desc} do not broadcast together") from None
    if size is None and out_shape is None:
        return together
    shape = size_shape(size) if size is not None else tuple(out_shape)
    try:
        ok = np.broadcast_shapes(shape, together) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{desc} do not broadcast to size {shape}")
    return shape


def generator_dtype(dtype, method):
    """A ``Generator`` method's float dtype: float32 or float64, as NumPy's."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOATS[1:]:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64 for {method}; "
                        f"got {dtype!r}")
    return dt



def generator_out(out, size, dtype):
    """``out=`` of a ``Generator`` method, as NumPy checks it: an ndarray of ``dtype``,
    C-contiguous and writable, of shape ``size`` when both are given."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}; expected {np.dtype(dtype)} (the dtype "
                        "argument)")
    if not (out.flags.c_contiguous and out.flags.writeable and out.flags.aligned):
        raise ValueError("out must be C-contiguous, writable and aligned")
    if size is not None and size_shape(size) != out.shape:
        raise ValueError(f"size {size!r} must match out.shape {out.shape} when both are given")
    return out


def choice_population(a, axis, n):
    """``(pop_size, array or None, axis)`` of ``Generator.choice``'s ``a``: an integer (or
    0-d array holding one) is ``range(a)``; an array-like is sampled along ``axis``."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        try:
            pop = operator.index(arr.item())
        except TypeError:
            raise ValueError(f"a must be a sequence or an integer; got {a!r}") from None
        if pop <= 0 and n:
            raise ValueError(f"a must be a positive integer unless no samples are taken; "
                             f"got {a!r}")
        return pop, None, 0
    ax = axis_index(axis, arr.ndim)
    pop = arr.shape[ax]
    if pop == 0 and n:
        raise ValueError(f"a cannot be empty unless no samples are taken; got shape "
                         f"{arr.shape} along axis {axis}")
    return pop, arr, ax


def choice_p(p, pop):
    """``p`` as float64 probabilities: 1-D, one per population item, finite, >= 0, summing
    to 1 within ``sqrt(eps)`` of its float dtype (NumPy's rule)."""
    arr = np.asarray(p)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"p must be real probabilities; got dtype {arr.dtype}")
    atol = math.sqrt(np.finfo(np.float64).eps)
    if arr.dtype.kind == "f":
        atol = max(atol, math.sqrt(np.finfo(arr.dtype).eps))
    arr = arr.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"p must be 1-dimensional; got shape {arr.shape}")
    if arr.size != pop:
        raise ValueError(f"a and p must have the same size; got {pop} items and {arr.size} "
                         "probabilities")
    if np.isnan(arr).any():
        raise ValueError(f"p contains NaN: {p!r}")
    if (arr < 0).any():
        raise ValueError(f"p must be non-negative; got {p!r}")
    total = math.fsum(arr)
    if not abs(total - 1.0) <= atol:
        raise ValueError(f"p must sum to 1 (within {atol:.3g}); its sum is {total!r}")
    return arr


def choice_count(n, pop, p, replace):
    """Draws without replacement need enough items (with non-zero probability)."""
    if replace:
        return
    if n > pop:
        raise ValueError(f"cannot take a larger sample ({n}) than the population ({pop}) "
                         "when replace is False")
    if p is not None and n > np.count_nonzero(p):
        raise ValueError(f"fewer non-zero entries in p ({np.count_nonzero(p)}) than size "
                         f"({n}) when replace is False")

def draw_chunks(value, name="draw_chunks"):
    """Draws per task of a Dask graph: ``None`` / ``"auto"`` (None) or an int >= 1."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return None
    d = count(value, name)
    if d == 0:
        raise ValueError(f"{name} must be >= 1 (draws per task) or 'auto'; got 0")
    return d
