"""The NumPy-style public functions: validate, view the input as ``(rows, K)`` with the
sampling axis last, resolve the key, call the backend kernel, and shape the result.

Noise contract (stream spec v1, ``docs/rng.md``): for a key and the input viewed with the
sampling axis moved last and flattened to ``(rows, K)``, element ``(r, c)`` always reads
the same Gumbel variate. So ``gumbel_max(x, rng=k)`` is ``argmax(x + gumbel(x.shape,
rng=k))`` and the hard sample is the one-hot of the soft sample's argmax.
"""
from __future__ import annotations

import math

import numpy as np

from . import _checks as chk
from ._device import device_io
from ._dispatch import _loaded, backend_for, dask_routed, load
from ._interop import bridged, empty_aligned
from .random import Generator, Key, resolve_key

__all__ = ["uniform", "gumbel", "gumbel_softmax", "gumbel_log_softmax", "gumbel_max",
           "categorical", "multinomial", "gumbel_topk", "gumbel_softmax_backward",
           "concrete_log_prob"]

_ROW_LIMIT = 1 << 64


def _key_args(key):
    k0, k1, stream = key.words
    return np.uint64(k0), np.uint64(k1), np.uint64(stream)


class _Rows:
    """An input array seen as C-contiguous ``(rows, K)``, sampling axis last."""

    def __init__(self, arr, axis, name="logits"):
        if arr.ndim == 0:
            raise ValueError(f"{name} must have at least one dimension (the categories); "
                             "got a 0-d array")
        self.axis = chk.axis_index(axis, arr.ndim)
        moved = arr if self.axis == arr.ndim - 1 else np.moveaxis(arr, self.axis, -1)
        self.lead = moved.shape[:-1]
        self.K = moved.shape[-1]
        self.rows = math.prod(self.lead)
        self.dtype = arr.dtype
        self.cdtype = chk.compute_dtype(arr.dtype)
        if moved.dtype != self.cdtype or not moved.flags.c_contiguous:
            moved = np.ascontiguousarray(moved, dtype=self.cdtype)
        self.x = moved.reshape(self.rows, self.K)

    def require_categories(self, name="logits"):
        if self.K == 0 and self.rows:
            raise ValueError(f"{name} has no categories (size 0 along axis {self.axis})")


def _alloc(out, moved_shape, axis, dtype, kdtype, inputs, name="out"):
    """Kernel target ``(rows, cols)`` and a ``finish()`` that returns the result.

    ``moved_shape`` is the result's shape with the kernel's columns last; ``axis`` is where
    that last axis goes in the result (``None``: it stays last). A given ``out`` is written
    in place when its layout allows, else through a buffer; it is never read.
    """
    rows, cols = math.prod(moved_shape[:-1]), moved_shape[-1]
    final = list(moved_shape[:-1])
    if axis is not None:
        final.insert(axis, cols)
    else:
        final.append(cols)

    if axis is not None and axis == len(final) - 1:
        axis = None          # the kernel's columns are already last

    def place(a):
        return a if axis is None else np.moveaxis(a, -1, axis)

    if out is None:
        buf = empty_aligned((rows, cols), kdtype)

        def finish():
            res = place(buf.reshape(moved_shape))
            if kdtype == dtype:
                return res
            with np.errstate(over="ignore"):   # float16 log-probabilities below -65504: -inf
                return res.astype(dtype)

        return buf, finish
    chk.out_array(out, final, dtype, name)
    om = place_back = out if axis is None else np.moveaxis(out, axis, -1)
    if (np.dtype(dtype) == kdtype and om.flags.c_contiguous
            and not any(np.may_share_memory(out, a) for a in inputs)):
        return om.reshape(rows, cols), lambda: out
    buf = np.empty((rows, cols), kdtype)

    def finish_copy():
        with np.errstate(over="ignore"):
            np.copyto(place_back, buf.reshape(moved_shape), casting="unsafe")
        return out

    return buf, finish_copy


def _raise_bad_rows(nan_rows, inf_rows, name="logits"):
    if nan_rows:
        raise ValueError(f"{name} contain NaN in {nan_rows} row(s): an integer sample cannot "
                         "represent it (soft samples propagate NaN instead)")
    if inf_rows:
        raise ValueError(f"{name} contain +inf in {inf_rows} row(s): the distribution is not "
                         "defined; use a large finite logit, or mask the others with -inf")


# ----------------------------------------------------------------------------------------
# creation functions


def _noise(size, dtype, rng, like, out, precision, backend, uniform, loc=0.0, scale=1.0, row0=0):
    cpu = backend_for(backend, *(a for a in (like, out) if a is not None), name="like")
    if like is not None and not isinstance(like, np.ndarray):
        raise TypeError(f"like must be an array (NumPy, or a DLPack tensor); got "
                        f"{type(like).__name__}")
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
        dt = chk.result_float_dtype(out.dtype, "out.dtype")
        shape = out.shape if size is None else chk.size_shape(size)
    else:
        dt = chk.result_float_dtype(dtype)
        shape = chk.size_shape(size)
    bits64 = chk.precision_bits64(precision, dt)
    kdt = chk.compute_dtype(dt)
    key = resolve_key(rng)
    moved = shape if shape else (1,)
    target = out
    if out is not None and not shape:      # a 0-d out holds the one sample
        chk.out_array(out, (), dt)
        target = out[np.newaxis]
    buf, finish = _alloc(target, moved, None, dt, kdt, ())
    if buf.size:
        cpu.fill_noise(buf, int(row0), *_key_args(key), bits64, uniform, float(loc), float(scale))
    res = finish()
    if out is not None:
        res = out
    if uniform and dt == np.float16:
        # rounding a float32 uniform to float16 (11 bits) can give 0 or 1: keep (0, 1) open
        np.clip(res, np.float16(2.0**-24), np.float16(1 - 2.0**-11), out=res)
    return res.reshape(())[()] if (not shape and out is None) else res


@device_io
@bridged
@dask_routed
def uniform(size=None, *, dtype=np.float32, rng=None, like=None, out=None, precision="default",
            backend="auto"):
    """Uniform samples on the open interval (0, 1): never exactly 0 or 1.

    Element ``c`` of row ``r`` (``size`` flattened to rows of its last dimension) is the
    uniform of stream spec v1: relative precision down to 2**-33 near 0 (float32) and the
    largest value is ``1 - 2**-24``.

    Parameters
    ----------
    size : int or tuple of ints, optional
        Output shape; ``None`` gives one scalar (or ``out.shape`` when ``out`` is given).
    dtype : {numpy.float32, numpy.float64, numpy.float16}
    rng : None, int, Generator, Key or numpy.random.Generator
        See :mod:`fastgumbel.random`.
    like : array, optional
        Array whose type the result takes: NumPy, a CPU array with ``__dlpack__``
        (torch, JAX; zero-copy, see :mod:`fastgumbel._interop`), or a CUDA device array
        (CuPy, Numba; see ``docs/gpu.md``).
    out : numpy.ndarray, CPU torch tensor or CUDA device array, optional
        Written in place; its dtype is used.
    precision : {"default", "high"}
        "high" uses 64 random bits per element (always the case for float64).
    backend : {"auto", "cpu", "numba-cuda", "cupy"}
        "auto" follows the arrays: CUDA device arrays run on a GPU backend, NumPy on the
        CPU. A GPU backend named for NumPy input copies the data over and back.

    Examples
    --------
    >>> import fastgumbel as fg
    >>> u = fg.uniform((2, 3), rng=0)
    >>> u.shape, u.dtype, bool(((0 < u) & (u < 1)).all())
    ((2, 3), dtype('float32'), True)
    """
    return _noise(size, dtype, rng, like, out, precision, backend, True)


@device_io
@bridged
@dask_routed
def gumbel(size=None, loc=0.0, scale=1.0, *, dtype=np.float32, rng=None, like=None, out=None,
           precision="default", backend="auto"):
    """Gumbel (type I extreme value) samples: ``loc + scale * g`` with g standard Gumbel.

    Every value is finite. The float32 transform keeps relative precision in both tails:
    g reaches 22.87 (float32) or 45.05 (float64, and ``precision="high"``), where the naive
    ``-log(-log(u))`` on a 24-bit uniform stops near 16.6.

    Parameters
    ----------
    size : int or tuple of ints, optional
    loc, scale : float or array_like
        Location and scale (> 0); arrays broadcast against ``size``.
    dtype, rng, like, out, precision, backend
        As for :func:`uniform`.

    Returns
    -------
    ndarray or scalar

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> g = fg.gumbel(100_000, rng=1)
    >>> round(float(g.mean()), 1)   # Euler-Mascheroni constant 0.577...
    0.6
    >>> x = np.array([0.0, 1.0, 2.0], np.float32)
    >>> int(fg.gumbel_max(x, rng=5)) == int(np.argmax(x + fg.gumbel(3, rng=5)))
    True
    """
    arr_params = np.ndim(loc) or np.ndim(scale)
    loc_a = np.asarray(loc)
    scale_a = np.asarray(scale)
    for name, v in (("loc", loc_a), ("scale", scale_a)):
        if v.dtype.kind not in "fiu" or v.dtype == np.bool_:
            raise TypeError(f"{name} must be a real number or array; got {v!r}")
    if not np.all(np.isfinite(loc_a)):
        raise ValueError(f"loc must be finite; got {loc!r}")
    if not np.all(scale_a > 0) or not np.all(np.isfinite(scale_a)):
        raise ValueError(f"scale must be finite and > 0; got {scale!r}")
    if not arr_params:
        return _noise(size, dtype, rng, like, out, precision, backend, False, float(loc),
                      float(scale))
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    shape = chk.size_shape(size) if size is not None else (
        out.shape if isinstance(out, np.ndarray) else np.broadcast_shapes(loc_a.shape,
                                                                          scale_a.shape))
    if np.broadcast_shapes(shape, loc_a.shape, scale_a.shape) != shape:
        raise ValueError(f"loc {loc_a.shape} and scale {scale_a.shape} do not broadcast to "
                         f"size {shape}")
    g = _noise(shape, dtype if out is None else out.dtype, rng, like, None, precision, backend,
               False)
    with np.errstate(over="ignore"):     # beyond the dtype's range: +-inf, as in the kernel
        res = (loc_a + scale_a * g).astype(g.dtype, copy=False)
    if out is None:
        return res
    chk.out_array(out, shape, out.dtype)
    np.copyto(out, res)
    return out


# ----------------------------------------------------------------------------------------
# samplers


def _softmax_family(logits, tau, mode, axis, rng, out, precision, backend, row0=0):
    cpu = backend_for(backend, logits)
    x = chk.float_array(logits, "logits")
    rows = _Rows(x, axis)
    t = chk.tau_value(tau, rows.cdtype)
    bits64 = chk.precision_bits64(precision, rows.dtype)
    key = resolve_key(rng)
    buf, finish = _alloc(out, rows.lead + (rows.K,), rows.axis, rows.dtype, rows.cdtype, (x,))
    if buf.size:
        posinf = cpu.softmax_rows(rows.x, buf, int(row0), *_key_args(key), bits64, t, mode)
        _raise_bad_rows(0, posinf)
    return finish()


#: dtypes the kernels take as they are (native float32 and float64)
_KERNEL_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


def _fast_rows(logits, axis, rng, precision, backend):
    """``logits`` as a ``(rows, K)`` view for the common call, or ``None`` to take the
    general path; no side effects (a Generator is advanced only by :func:`_fast_key`).

    The common call: a C-contiguous float32/64 NumPy array sampled along its last axis, a
    Key, a Generator or None as rng, the CPU backend. It is recognised by types and flags
    alone, and the kernel is called with views. After a 3-4 ms kernel over large arrays the
    interpreter's own data is out of cache, where each Python-level step of the general path
    (array-type scans, axis moves, checks) costs 5-10x its warm time: measured 0.36 ms per
    4096x1024 soft sample after another library's call, 0.2 ms primed (bench/RESULTS.md).
    Anything else, including every input that raises, takes the general path.
    """
    if (type(logits) is not np.ndarray or logits.dtype not in _KERNEL_DTYPES
            or not logits.flags.c_contiguous or logits.size == 0 or logits.ndim == 0
            or type(axis) is not int or (axis != -1 and axis != logits.ndim - 1)
            or (backend != "auto" and backend != "cpu")
            or (precision != "default" and precision != "high")
            or not (rng is None or type(rng) is Key or type(rng) is Generator)):
        return None
    return logits.reshape(-1, logits.shape[-1])


def _fast_out(out, shape, dtype, logits):
    """True when ``out`` can take the kernel's result directly on the fast path."""
    return (type(out) is np.ndarray and out.shape == shape and out.dtype == dtype
            and out.flags.c_contiguous and out.flags.writeable
            and not np.may_share_memory(out, logits))


def _fast_key_args(rng, dtype, precision):
    """The kernel's key words and bits64 on the fast path (advances a Generator)."""
    k0, k1, stream = resolve_key(rng).words
    return (np.uint64(k0), np.uint64(k1), np.uint64(stream),
            precision == "high" or dtype == np.float64)


def _softmax_fast(logits, tau, mode, axis, rng, out, precision, backend):
    """The softmax family on the fast path (:func:`_fast_rows`), or ``None``."""
    x = _fast_rows(logits, axis, rng, precision, backend)
    if x is None or type(tau) is not float or (
            out is not None and not _fast_out(out, logits.shape, logits.dtype, logits)):
        return None
    t = chk.tau_value(tau, logits.dtype)
    buf = empty_aligned(x.shape, logits.dtype) if out is None else out.reshape(x.shape)
    _raise_bad_rows(0, _cpu().softmax_rows(x, buf, 0, *_fast_key_args(rng, logits.dtype,
                                                                         precision), t, mode))
    return buf.reshape(logits.shape) if out is None else out


def _gumbel_max_fast(logits, axis, rng, out, precision, backend):
    """:func:`gumbel_max` on the fast path (:func:`_fast_rows`), or ``None``."""
    x = _fast_rows(logits, axis, rng, precision, backend)
    if x is None:
        return None
    lead = logits.shape[:-1]
    if out is not None and not _fast_out(out, lead, np.int64, logits):
        return None
    idx = np.empty(lead, np.int64) if out is None else out
    _raise_bad_rows(*_cpu().argmax_rows(x, idx.reshape(-1, 1), 0,
                                        *_fast_key_args(rng, logits.dtype, precision)))
    return idx


def _cpu():
    """The CPU backend module (loaded once)."""
    return _loaded.get("cpu") or load("cpu")


@device_io
@bridged
@dask_routed
def gumbel_softmax(logits, tau=1.0, *, hard=False, axis=-1, rng=None, out=None,
                   precision="default", backend="auto"):
    """The general path of :func:`gumbel_softmax` (any array type, axis, layout)."""
    mode = 2 if chk.flag(hard, "hard") else 0
    return _softmax_family(logits, tau, mode, axis, rng, out, precision, backend)


_gumbel_softmax_general = gumbel_softmax


def gumbel_softmax(logits, tau=1.0, *, hard=False, axis=-1, rng=None, out=None,
                   precision="default", backend="auto"):
    """Sample the Gumbel-Softmax (Concrete) distribution: ``softmax((logits + g) / tau)``.

    Parameters
    ----------
    logits : array_like of float16/32/64
        Unnormalized log-probabilities; ``-inf`` masks a category (probability exactly 0).
    tau : float
        Temperature, finite and > 0. Small tau approaches one-hot samples.
    hard : bool
        Return the one-hot of the soft sample's argmax instead (the forward value of the
        straight-through estimator; pair it with :func:`gumbel_softmax_backward`).
    axis : int
        The category axis.
    rng, out, precision, backend
        As for :func:`uniform`; ``out`` must have the shape and dtype of ``logits``.

    Returns
    -------
    ndarray, same shape and dtype as ``logits``
        Rows sum to 1. A row with a NaN logit is all NaN; a row whose logits are all
        ``-inf`` is all 0. A ``+inf`` logit raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.2]], np.float32))
    >>> y = fg.gumbel_softmax(x, 0.5, rng=fg.Key(0))
    >>> float(y.sum()).__round__(5)
    1.0
    >>> h = fg.gumbel_softmax(x, 0.5, hard=True, rng=fg.Key(0))
    >>> int(h.argmax()) == int(y.argmax()), float(h.sum())
    (True, 1.0)
    """
    if type(hard) is bool:
        res = _softmax_fast(logits, tau, 2 if hard else 0, axis, rng, out, precision, backend)
        if res is not None:
            return res
    return _gumbel_softmax_general(logits, tau, hard=hard, axis=axis, rng=rng, out=out,
                                   precision=precision, backend=backend)


@device_io
@bridged
@dask_routed
def gumbel_log_softmax(logits, tau=1.0, *, axis=-1, rng=None, out=None, precision="default",
                       backend="auto"):
    """The general path of :func:`gumbel_log_softmax` (any array type, axis, layout)."""
    return _softmax_family(logits, tau, 1, axis, rng, out, precision, backend)


_gumbel_log_softmax_general = gumbel_log_softmax


def gumbel_log_softmax(logits, tau=1.0, *, axis=-1, rng=None, out=None, precision="default",
                       backend="auto"):
    """Log of the Gumbel-Softmax sample, ``log_softmax((logits + g) / tau)``, computed directly.

    Accurate where the soft sample underflows to 0 (large logit gaps or small tau). A row
    whose logits are all ``-inf`` is all ``-inf``; NaN rows are NaN.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.array([0.0, -200.0])
    >>> ly = fg.gumbel_log_softmax(x, 0.1, rng=3)
    >>> bool(np.isfinite(ly).all()), float(np.exp(ly).sum())
    (True, 1.0)
    """
    res = _softmax_fast(logits, tau, 1, axis, rng, out, precision, backend)
    if res is not None:
        return res
    return _gumbel_log_softmax_general(logits, tau, axis=axis, rng=rng, out=out,
                                       precision=precision, backend=backend)


METHODS = ("gumbel", "inverse_cdf", "auto")
COUNT_METHODS = METHODS + ("binomial",)

#: Cost model of ``method="auto"``, in units of one Gumbel variate of the Gumbel-max pass:
#: ``gumbel`` costs ``n * K`` per row; ``inverse_cdf`` costs ``CDF_BUILD_COST * K`` to build
#: the table plus ``CDF_DRAW_COST`` per draw; ``binomial`` (counts only) costs
#: ``BINOMIAL_COST * K`` plus ``BINOMIAL_STEP_COST * sqrt(n * K)`` search steps.
CDF_BUILD_COST = 3.0
CDF_DRAW_COST = 2.0
BINOMIAL_COST = 30.0
BINOMIAL_STEP_COST = 1.0


def choose_method(method, n, K, counts=False):
    """The sampler ``method`` names for ``n`` draws per row over ``K`` categories.

    ``"auto"`` picks the cheapest by the cost model above: ``"inverse_cdf"`` when
    ``3 K + 2 n < n K`` (about ``n >= 4`` once K is past a few dozen), else ``"gumbel"``;
    for counts (``counts=True``, :func:`multinomial`) also ``"binomial"`` when
    ``30 K + sqrt(n K)`` is cheaper still (about ``n > 15 K``). Calibrated on this
    machine's CPU kernels: one unit is about 3 ns (one inverse-CDF draw costs 2).

    Examples
    --------
    >>> from fastgumbel._api import choose_method
    >>> choose_method("auto", 1, 1000), choose_method("auto", 10_000, 1000)
    ('gumbel', 'inverse_cdf')
    >>> choose_method("auto", 10**6, 1000, counts=True)
    'binomial'
    """
    valid = COUNT_METHODS if counts else METHODS
    if not isinstance(method, str) or method not in valid:
        raise ValueError(f"method must be one of {', '.join(map(repr, valid))}; got {method!r}")
    if method != "auto":
        return method
    n = 1 if n is None else n
    cost = {"gumbel": float(n) * K, "inverse_cdf": CDF_BUILD_COST * K + CDF_DRAW_COST * n}
    if counts:
        cost["binomial"] = BINOMIAL_COST * K + BINOMIAL_STEP_COST * math.sqrt(float(n) * K)
    return min(cost, key=cost.get)


#: Draws per row of the inverse-CDF draw field (``fastgumbel._cpu_draws``, docs/rng.md).
MAX_DRAWS_PER_ROW = 1 << 31


def _kernels_for(mod, name):
    """``mod``'s kernel ``name``, or the CPU backend's when a GPU backend has none (the
    inverse-CDF and binomial samplers: spec-defined, so the result is the same)."""
    kern = getattr(mod, name, None)
    return kern if kern is not None else getattr(load("cpu"), name)


def _categories(logits, axis):
    nd = np.ndim(logits)
    return np.shape(logits)[chk.axis_index(axis, nd)] if nd else 0


def _draws(logits, axis, rng, precision, backend, n, method="gumbel"):
    cpu = backend_for(backend, logits)
    x = chk.float_array(logits, "logits")
    rows = _Rows(x, axis)
    rows.require_categories()
    if method == "gumbel" and rows.rows * max(n, 1) >= _ROW_LIMIT:
        raise ValueError(f"rows * n = {rows.rows * n} exceeds the 2**64 noise rows of a key")
    if method == "inverse_cdf" and n > MAX_DRAWS_PER_ROW:
        raise ValueError(f"n={n} exceeds the {MAX_DRAWS_PER_ROW} draws per row of the "
                         "inverse_cdf draw field; split the draws over more rows")
    bits64 = chk.precision_bits64(precision, rows.dtype)
    key = resolve_key(rng)
    return cpu, rows, bits64, key


@device_io
@bridged
@dask_routed
def gumbel_max(logits, *, axis=-1, rng=None, out=None, precision="default", backend="auto"):
    """The general path of :func:`gumbel_max` (any array type, axis, layout)."""
    return _gumbel_max(logits, axis, rng, out, precision, backend, 0)


_gumbel_max_general = gumbel_max


def gumbel_max(logits, *, axis=-1, rng=None, out=None, precision="default", backend="auto"):
    """One categorical draw per row by the Gumbel-max trick: ``argmax(logits + g)``.

    Returns
    -------
    ndarray of int64, shape of ``logits`` without ``axis``
        The first maximum wins a tie. A row whose logits are all ``-inf`` gives -1. NaN or
        ``+inf`` logits raise ``ValueError``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, 0.0]])
    >>> fg.gumbel_max(x, rng=0)[1]    # -inf logits are masked categories
    np.int64(2)
    """
    res = _gumbel_max_fast(logits, axis, rng, out, precision, backend)
    if res is not None:
        return res
    return _gumbel_max_general(logits, axis=axis, rng=rng, out=out, precision=precision,
                               backend=backend)


def _gumbel_max(logits, axis, rng, out, precision, backend, row0):
    cpu, rows, bits64, key = _draws(logits, axis, rng, precision, backend, 1)
    i64 = np.dtype(np.int64)
    target = None if out is None else chk.out_array(out, rows.lead, i64)[..., None]
    buf, finish = _alloc(target, rows.lead + (1,), None, i64, i64, (rows.x,))
    if rows.rows:
        _raise_bad_rows(*cpu.argmax_rows(rows.x, buf, int(row0), *_key_args(key), bits64))
    res = finish()
    return res[..., 0] if out is None else out


@device_io
@bridged
@dask_routed
def categorical(logits, n=None, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto"):
    """Categorical draws with replacement from ``softmax(logits)`` along ``axis``.

    Parameters
    ----------
    n : int or None
        ``None``: one draw per row (for ``method="gumbel"``, identical to
        :func:`gumbel_max`). An int: ``n`` draws per row, returned along a new last axis.
    method : {"gumbel", "inverse_cdf", "auto"}
        Three exact samplers of the same distribution, each a fixed function of the key:

        - ``"gumbel"`` (the reference): draw ``d`` of row ``r`` is the Gumbel-max of noise
          row ``r * n + d``; ``n * K`` Gumbel variates per row.
        - ``"inverse_cdf"``: the row's CDF is built once in float64 (masked ``-inf``
          categories have probability exactly 0 and are never drawn); draw ``j`` is the
          smallest ``i`` with ``U_j < cdf[i]``, ``U_j`` the float64 uniform of the row's draw
          field (``docs/rng.md``), found through a guide table in O(1) expected steps.
          Costs ``K`` exponentials per row plus a few operations per draw; ``precision``
          does not apply (always 64-bit uniforms and a float64 CDF).
        - ``"auto"``: ``"inverse_cdf"`` when its cost ``3 K + 2 n`` is below ``n K``
          (about ``n >= 4``), else ``"gumbel"``. See :func:`choose_method`.

    Returns
    -------
    ndarray of int64, shape ``lead`` or ``lead + (n,)`` where ``lead`` is ``logits.shape``
    without ``axis``. Rows whose logits are all ``-inf`` give -1; NaN or ``+inf`` logits
    raise ``ValueError``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> d = fg.categorical(np.zeros((2, 5)), 1000, rng=0)
    >>> d.shape, int(d.min()) >= 0, int(d.max()) <= 4
    ((2, 1000), True, True)
    >>> x = np.array([0.0, -np.inf, 0.0])      # the middle category is masked
    >>> d = fg.categorical(x, 100_000, rng=1, method="inverse_cdf")
    >>> np.bincount(d, minlength=3)[1], abs(float(d.mean()) - 1.0) < 0.01
    (np.int64(0), True)
    """
    return _categorical(logits, n, axis, rng, method, precision, backend, 0)


def _categorical(logits, n, axis, rng, method, precision, backend, row0):
    n_ = chk.count(n, "n", allow_none=True)
    how = choose_method(method, n_, _categories(logits, axis))
    if n_ is None and how == "gumbel":
        return _gumbel_max(logits, axis, rng, None, precision, backend, row0)
    cpu, rows, bits64, key = _draws(logits, axis, rng, precision, backend,
                                    1 if n_ is None else n_, how)
    idx = empty_aligned((rows.rows, 1 if n_ is None else n_), np.int64)
    if idx.size:
        kern = cpu.argmax_rows if how == "gumbel" else _kernels_for(cpu, "categorical_cdf")
        args = (bits64,) if how == "gumbel" else ()
        _raise_bad_rows(*kern(rows.x, idx, int(row0), *_key_args(key), *args))
    return idx.reshape(rows.lead) if n_ is None else idx.reshape(rows.lead + (n_,))


@device_io
@bridged
@dask_routed
def multinomial(logits, n, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto"):
    """Counts of ``n`` categorical draws per row, without building the draws.

    For ``"gumbel"`` and ``"inverse_cdf"`` the counts are exactly the histogram of
    ``categorical(logits, n, rng=key, method=method)``, computed by fused counting: no
    index array is allocated, and the draws of a row are counted by several threads when
    there are fewer rows than threads. ``"binomial"`` draws the counts directly, by
    sequential conditional binomials (``c_i ~ Binomial(n - c_0 - ... - c_{i-1},
    p_i / (p_i + ... + p_{K-1}))``, each by inversion from its mode with one float64 uniform
    of the row's binomial field, ``docs/rng.md``): its cost grows like ``sqrt(n K)``, not
    ``n``, so it serves ``n`` in the billions. ``"auto"`` picks the cheapest by the cost
    model of :func:`choose_method` (``counts=True``). The default, ``"gumbel"``, is the
    reference semantics (stream spec v1). A row whose logits are all ``-inf`` has zero
    counts.

    Parameters
    ----------
    n : int
        Draws per row (at most ``2**31`` per row for ``"inverse_cdf"``).
    method : {"gumbel", "inverse_cdf", "binomial", "auto"}

    Returns
    -------
    ndarray of int64, same shape as ``logits``

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> c = fg.multinomial(np.log([0.5, 0.25, 0.25]), 1000, rng=0)
    >>> int(c.sum()), c.shape
    (1000, (3,))
    >>> c = fg.multinomial(np.log([0.5, 0.25, 0.25]), 10**12, rng=0, method="auto")
    >>> int(c.sum()), [round(v / 1e12, 4) for v in c.tolist()]   # by conditional binomials
    (1000000000000, [0.5, 0.25, 0.25])
    """
    return _multinomial(logits, n, axis, rng, method, precision, backend, 0)


def _multinomial(logits, n, axis, rng, method, precision, backend, row0):
    n_ = chk.count(n, "n")
    how = choose_method(method, n_, _categories(logits, axis), counts=True)
    cpu, rows, bits64, key = _draws(logits, axis, rng, precision, backend, n_, how)
    counts = np.zeros((rows.rows, rows.K), np.int64)
    if counts.size and n_:
        if how == "gumbel":
            kern = getattr(cpu, "multinomial_gumbel", cpu.multinomial_rows)
            bad = kern(rows.x, counts, n_, int(row0), *_key_args(key), bits64)
        else:
            kern = _kernels_for(cpu, "multinomial_binomial" if how == "binomial"
                                else "multinomial_cdf")
            bad = kern(rows.x, counts, n_, int(row0), *_key_args(key))
        _raise_bad_rows(*bad)
    return np.moveaxis(counts.reshape(rows.lead + (rows.K,)), -1, rows.axis)


@device_io
@bridged
@dask_routed
def gumbel_topk(logits, k, *, axis=-1, rng=None, precision="default", backend="auto"):
    """``k`` draws without replacement per row: the top-k of ``logits + g``, best first.

    ``result[..., 0]`` equals :func:`gumbel_max` for the same key (same noise field).
    Partial selection: a size-k heap behind a threshold test, whole chunks skipped when
    their maximum does not beat the k-th best, and a long row split over threads when
    there are fewer rows than threads. Masked (``-inf``) categories are never drawn; if a
    row has fewer than ``k`` unmasked categories the remaining slots are -1.

    Returns
    -------
    ndarray of int64, shape ``lead + (k,)``

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> t = fg.gumbel_topk(np.zeros(10), 4, rng=0)
    >>> len(set(t.tolist())) == 4
    True
    """
    return _gumbel_topk(logits, k, axis, rng, precision, backend, 0)


def _gumbel_topk(logits, k, axis, rng, precision, backend, row0):
    k_ = chk.count(k, "k")
    cpu, rows, bits64, key = _draws(logits, axis, rng, precision, backend, 1)
    if k_ > rows.K:
        raise ValueError(f"k={k_} exceeds the number of categories ({rows.K})")
    idx = empty_aligned((rows.rows, k_), np.int64)
    if idx.size:
        _raise_bad_rows(*cpu.topk_rows(rows.x, idx, int(row0), *_key_args(key), bits64))
    return idx.reshape(rows.lead + (k_,))


# ----------------------------------------------------------------------------------------
# gradients and density


@device_io
@bridged
def gumbel_softmax_backward(grad, tau, *, y_soft=None, logits=None, rng=None, axis=-1,
                            precision="default", backend="auto"):
    """Gradients of a loss through ``y = gumbel_softmax(logits, tau)``: w.r.t. logits and tau.

    Two modes, same result:

    - saved: pass the forward's soft sample ``y_soft``;
    - recompute: pass ``logits`` and the replayable ``rng`` (a :class:`Key` or int seed)
      of the forward; the sample is regenerated and nothing but the key is kept.

    For ``hard=True`` forwards (straight-through), pass the gradient with respect to the
    hard output as ``grad``: the estimator's gradient is the soft one.

    Returns
    -------
    grad_logits : ndarray, shape of ``grad``, dtype of ``y_soft`` or ``logits``
        ``y * (grad - sum(grad * y)) / tau`` along ``axis``.
    grad_tau : numpy scalar of the same dtype
        ``-sum(y * (grad - sum(grad * y)) * log(y)) / tau`` summed over all rows.

    ``grad`` is cast to the forward's dtype (that of ``y_soft`` or ``logits``).

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.2]]))
    >>> k = fg.Key(11)
    >>> y = fg.gumbel_softmax(x, 0.7, rng=k)
    >>> g = np.array([[1.0, 0.0, 0.0]])
    >>> a = fg.gumbel_softmax_backward(g, 0.7, y_soft=y)
    >>> b = fg.gumbel_softmax_backward(g, 0.7, logits=x, rng=k)
    >>> bool(np.allclose(a[0], b[0])), bool(np.isclose(a[1], b[1]))
    (True, True)
    """
    cpu = backend_for(backend, grad, y_soft, logits)
    G = chk.float_array(grad, "grad")
    if (y_soft is None) == (logits is None):
        raise ValueError("give exactly one of y_soft= (saved mode) or logits= with rng= "
                         "(recompute mode)")
    src_name = "y_soft" if y_soft is not None else "logits"
    src = chk.float_array(y_soft if y_soft is not None else logits, src_name)
    if src.shape != G.shape:
        raise ValueError(f"{src_name} has shape {src.shape}; grad has shape {G.shape}")
    # the forward's dtype decides: it fixes the noise (recompute) and the sample's precision
    dt = src.dtype
    with np.errstate(over="ignore"):
        Gd = G.astype(dt, copy=False)
    if Gd is not G and np.count_nonzero(np.isinf(Gd)) > np.count_nonzero(np.isinf(G)):
        raise ValueError(f"grad has values outside the {dt} range of the forward pass "
                         f"(largest magnitude {float(np.abs(G).max()):g})")
    gr = _Rows(Gd, axis, "grad")
    sr = _Rows(src, axis, src_name)
    t = chk.tau_value(tau, gr.cdtype)
    if y_soft is None:
        if not isinstance(rng, (Key, int, np.integer)) or isinstance(rng, bool):
            raise ValueError("recompute mode needs the replayable rng of the forward pass "
                             f"(a fastgumbel.Key or an int seed); got {rng!r}")
        key = resolve_key(rng)
    bits64 = chk.precision_bits64(precision, gr.dtype)
    gx, finish = _alloc(None, gr.lead + (gr.K,), gr.axis, dt, gr.cdtype, ())
    gtau = np.zeros(gr.rows, gr.cdtype)
    if gx.size:
        if y_soft is None:
            _raise_bad_rows(0, cpu.softmax_backward_recompute(gr.x, sr.x, gx, gtau, 0,
                                                              *_key_args(key), bits64, t))
        else:
            cpu.softmax_backward_rows(gr.x, sr.x, gx, gtau, t)
    return finish(), gr.cdtype.type(np.sum(gtau, dtype=np.float64)).astype(dt)


@device_io
@bridged
def concrete_log_prob(y, logits, tau, *, axis=-1, backend="auto"):
    """Log-density of the Concrete (Gumbel-Softmax) distribution at ``y`` on the simplex.

    ``log p(y) = log((K-1)!) + (K-1) log tau + sum_k [l_k - (tau+1) log y_k]
    - K logsumexp_k(l_k - tau log y_k)``, the density that
    ``torch.distributions.RelaxedOneHotCategorical(tau, logits=l).log_prob`` computes.
    Computed in float64, returned in the inputs' dtype. ``y`` and ``logits`` broadcast.
    Points with any ``y_k <= 0``, and rows whose logits are all ``-inf``, give ``-inf``;
    the sum-to-one constraint is not checked.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> lp = fg.concrete_log_prob(np.array([0.5, 0.5]), np.zeros(2), 1.0)
    >>> round(float(lp), 6)    # K = 2, tau = 1: the density is 1 on the simplex
    0.0
    """
    cpu = backend_for(backend, y, logits)
    Y = chk.float_array(y, "y")
    L = chk.float_array(logits, "logits")
    shape = np.broadcast_shapes(Y.shape, L.shape)
    # broadcast copies, not broadcast views: kernels get plain arrays
    Y, L = (a if a.shape == shape else np.array(np.broadcast_to(a, shape)) for a in (Y, L))
    dt = np.result_type(Y.dtype, L.dtype)
    if np.isposinf(L).any():
        raise ValueError("logits contain +inf: the distribution is not defined")
    yr = _Rows(Y, axis, "y")
    lr = _Rows(L, axis, "logits")
    t = chk.tau_value(tau, np.float64)
    res = np.empty(yr.rows, np.float64)
    if yr.rows:
        cpu.concrete_rows(yr.x, lr.x, res, t)
    K = yr.K
    res += math.lgamma(K) + (K - 1) * math.log(t) if K else 0.0
    with np.errstate(over="ignore"):     # a float64 density beyond the dtype: -inf
        out = res.reshape(yr.lead).astype(dt)
    return out[()] if out.ndim == 0 else out
