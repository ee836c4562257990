"""The sampler bodies: validate, view the input as ``(rows, K)`` with the sampling axis
last, resolve the key, call the backend kernel, and shape the result.

Each function here serves NumPy arrays, and CUDA device arrays where the kernel can read
and write them in place (C-contiguous, sampling axis last, no ``out=`` for a sampler).
Where it cannot, it raises :class:`NeedsHost` *before* the key is resolved (so a Generator
is not advanced twice) and the routing layer runs the call again on host copies.

Noise contract (stream spec v1, ``docs/rng.md``): for a key and the input viewed with the
sampling axis moved last and flattened to ``(rows, K)``, element ``(r, c)`` always reads
the same Gumbel variate; ``row0`` shifts the rows (a Dask block passes its first row).
"""
from __future__ import annotations

import math

import numpy as np

from . import _backends
from . import _checks as chk
from . import _gpu_state
from ._arrays import c_contiguous, device_empty, device_kind, empty_aligned, kernel_view
from .random import KEY_TYPES, Key, resolve_key

SOFT, LOG, HARD = 0, 1, 2


class NeedsHost(Exception):
    """A device array this path cannot serve in place: run the call on host copies."""


def key_args(key):
    return key.kernel_words()


def softmax_mode(hard):
    return HARD if chk.flag(hard, "hard") else SOFT


def raise_bad_rows(nan_rows, inf_rows, name="logits"):
    if nan_rows:
        raise ValueError(f"{name} contain NaN in {nan_rows} row(s): an integer sample cannot "
                         "represent it (soft samples propagate NaN instead)")
    if inf_rows:
        raise ValueError(f"{name} contain +inf in {inf_rows} row(s): the distribution is not "
                         "defined; use a large finite logit, or mask the others with -inf")


def launch(fn, device, *args):
    """``fn(*args)``, a backend wrapper, with the GPU keywords of the calling thread
    (``check``, ``cuda_stream``; :mod:`fastgumbel._gpu_state`); ``device``: whether the
    arrays are device arrays. Its result: bad-row counts, or ``None`` when not checked."""
    return fn(*args, **_gpu_state.gpu_kwargs(fn, device is not None))


def bad_rows(counts, name="logits"):
    """:func:`raise_bad_rows` for the ``(NaN rows, +inf rows)`` of a kernel (``None``: a GPU
    call that was not checked)."""
    if counts is not None:
        raise_bad_rows(*counts, name=name)


def host_only(*arrays):
    """Raise :class:`NeedsHost` if any argument is a CUDA device array."""
    if any(device_kind(a) is not None for a in arrays):
        raise NeedsHost


def device_of(a, mod):
    """``"cupy"`` / ``"numba-cuda"``: the kind of device array results take; ``None`` on host."""
    kind = device_kind(a)
    if kind == "cuda":
        kind = "cupy" if _backends.name_of(mod) == "cupy" else "numba-cuda"
    return kind


class Rows:
    """An input array seen as C-contiguous ``(rows, K)``, sampling axis last.

    A device array is viewed in place, or :class:`NeedsHost` is raised (another axis, a
    strided layout); a host array is moved and copied as needed.
    """

    def __init__(self, arr, axis, mod=None, name="logits"):
        self.device = None if mod is None else device_of(arr, mod)
        if self.device is None:
            arr = chk.float_array(arr, name)
        self.dtype = chk.float_dtype(arr.dtype, name)
        ndim = len(arr.shape)
        chk.has_categories_axis(ndim, name)
        self.axis = chk.axis_index(axis, ndim)
        self.cdtype = chk.compute_dtype(self.dtype)
        if self.device is not None:
            if self.axis != ndim - 1 or not c_contiguous(arr):
                raise NeedsHost
            moved = arr
        else:
            moved = arr if self.axis == ndim - 1 else np.moveaxis(arr, self.axis, -1)
        shape = tuple(moved.shape)      # the CUDA simulator's shape takes no negative index
        self.lead = shape[:-1]
        self.K = shape[-1]
        self.rows = math.prod(self.lead)
        if self.device is None and (moved.dtype != self.cdtype or not moved.flags.c_contiguous):
            moved = np.ascontiguousarray(moved, dtype=self.cdtype)
        self.x = moved.reshape(self.rows, self.K)
        if self.device is None:
            self.x = kernel_view(self.x)

    def require_categories(self, name="logits"):
        chk.categories(self.K, self.rows, self.axis, name)

    def empty(self, shape, dtype):
        """A new result array on the input's side (host arrays 64-byte aligned)."""
        if self.device is None:
            return empty_aligned(shape, dtype)
        return device_empty(self.device, shape, dtype)


def kernel_tau(tau, rows, dtype, mod):
    """``tau`` as the kernels take it, and the shape of its batch (``None`` for a scalar).

    A scalar gives a float (:func:`_checks.tau_value`); a per-row array
    (:func:`_checks.tau_batch`) one float64 per row of ``rows``, or a float when it holds a
    single value (the same bits either way: row r reads its own tau only)."""
    if type(tau) is float or np.ndim(tau) == 0:
        return chk.tau_value(tau, dtype), None
    b, _ = chk.tau_batch(tau, len(rows.lead) + 1, rows.axis, rows.lead, dtype)
    if b.size == 1:
        return float(b.reshape(-1)[0]), b.shape
    if _backends.name_of(mod) != "cpu":
        raise TypeError(f"a per-row tau (shape {np.shape(tau)}) runs on the CPU backend only; "
                        f"the {_backends.name_of(mod)} kernels take a scalar tau (call once "
                        "per temperature, or use backend='cpu' on host arrays)")
    return np.ascontiguousarray(np.broadcast_to(b, rows.lead)).reshape(-1), b.shape


def tau_grad(gtau, rows, batch_shape, tau_shape, dtype, cdtype):
    """Sum the per-row tau gradients ``gtau`` to the shape of tau (``tau_shape``; batch
    ``batch_shape`` without the category axis; ``None``: a scalar tau)."""
    if batch_shape is None:
        return cdtype.type(np.sum(gtau, dtype=np.float64)).astype(dtype)
    g = gtau.reshape(rows.lead).astype(np.float64)
    extra = g.ndim - len(batch_shape)
    g = g.sum(axis=tuple(range(extra)))
    g = g.sum(axis=tuple(i for i, n in enumerate(batch_shape) if n == 1 and g.shape[i] != 1),
              keepdims=True)
    return g.astype(cdtype).astype(dtype).reshape(tau_shape)


def alloc(out, moved_shape, axis, dtype, kdtype, inputs, name="out", device=None):
    """Kernel target ``(rows, cols)`` and a ``finish()`` that returns the result.

    ``moved_shape`` is the result's shape with the kernel's columns last; ``axis`` is where
    that last axis goes in the result (``None``: it stays last). A given ``out`` is written
    in place when its layout allows, else through a buffer; it is never read. On a
    ``device`` the buffer is a device array of ``dtype`` (the GPU kernels load and store
    float16 themselves) and ``out`` is ``None``.
    """
    rows, cols = math.prod(moved_shape[:-1]), moved_shape[-1]
    if device is not None:
        buf = device_empty(device, (rows, cols), dtype)
        return buf, lambda: buf.reshape(moved_shape)
    final = list(moved_shape[:-1])
    final.insert(len(final) if axis is None else axis, cols)
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
    om = out if axis is None else np.moveaxis(out, axis, -1)
    if (np.dtype(dtype) == kdtype and om.flags.c_contiguous
            and not any(np.may_share_memory(out, a) for a in inputs)):
        return om.reshape(rows, cols), lambda: out
    buf = np.empty((rows, cols), kdtype)

    def finish_copy():
        with np.errstate(over="ignore"):
            np.copyto(om, buf.reshape(moved_shape), casting="unsafe")
        return out

    return buf, finish_copy


# ----------------------------------------------------------------------------------------
# the fast path of the common NumPy call

#: Results of fewer bytes are plain ``numpy.empty`` arrays on the fast path, not 64-byte
#: aligned ones (making those costs more than the kernel of an 8x16 array).
_SMALL_BYTES = 1 << 16
#: dtypes the kernels take as they are (native float32 and float64)
_KERNEL_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))
_F64 = np.dtype(np.float64)


def _fast_rows(logits, axis, rng, precision, backend):
    """``logits`` as a ``(rows, K)`` view for the common call, or ``None`` to take the
    general path; no side effects (a Generator is advanced only when the kernel is called).

    The common call: a C-contiguous float32/64 NumPy array sampled along its last axis, a
    Key, a Generator or None as rng, the CPU backend. It is recognised by types and flags
    alone, and the kernel is called with views. After a large kernel the interpreter's own
    data is out of cache, where each Python-level step of the general path (axis moves,
    checks) costs several times its warm time (bench/RESULTS.md). Anything else, including
    every input that raises, takes the general path; so do read-only inputs (JAX arrays
    arrive read-only through DLPack), whose results the general path allocates 64-byte
    aligned for JAX to adopt without a copy.
    """
    if (type(logits) is not np.ndarray or logits.dtype not in _KERNEL_DTYPES
            or not logits.flags.carray      # C-contiguous, aligned, writeable
            or not (rng is None or type(rng) in KEY_TYPES or type(rng) is int)
            or (backend != "auto" and backend != "cpu")
            or (precision != "default" and precision != "high")
            or type(axis) is not int):
        return None
    nd = logits.ndim
    if nd == 2 and (axis == -1 or axis == 1) and logits.size:
        return logits
    if nd == 0 or (axis != -1 and axis != nd - 1) or not logits.size:
        return None
    return logits.reshape(-1, logits.shape[-1])


def _fast_out(out, shape, dtype, logits):
    """True when ``out`` can take the kernel's result directly on the fast path."""
    return (type(out) is np.ndarray and out.shape == shape and out.dtype == dtype
            and out.flags.carray and not np.may_share_memory(out, logits))


def _fast_bits64(dtype, precision):
    """The kernel's ``bits64`` on the fast path (``precision`` checked there)."""
    return precision == "high" or dtype == np.float64


def _fast_key_args(rng, dtype, precision):
    """The kernel's key words and bits64 on the fast path (advances a Generator)."""
    return (*resolve_key(rng).kernel_words(), _fast_bits64(dtype, precision))


#: mode + 4 * itemsize -> the CPU serial kernel's compiled entry point for arrays of fewer
#: than ``_serial_elems`` elements (:func:`fastgumbel.cpu.softmax_entry`), kept here after
#: the first call: the small call then skips two frames (``cpu()``, ``softmax_rows_c``)
_ENTRY = {}
_serial_elems = 0


def _cpu_softmax(x, buf, k0, k1, stream, bits64, t, mode):
    """``cpu.softmax_rows_c`` (row0 0), keeping its serial entry point in ``_ENTRY``."""
    global _serial_elems
    cpu = _backends.cpu()
    posinf = cpu.softmax_rows_c(x, buf, k0, k1, stream, bits64, t, mode)
    if x.size < cpu.SERIAL_ELEMS:
        entry = cpu.softmax_entry(mode, x.dtype)
        if entry is not None:
            _ENTRY[mode + 4 * x.itemsize] = entry
            _serial_elems = cpu.SERIAL_ELEMS
    return posinf


def softmax_fast(logits, tau, mode, axis, rng, out, precision, backend):
    """The softmax family on the fast path (:func:`_fast_rows`), or ``None``."""
    x = _fast_rows(logits, axis, rng, precision, backend)
    if x is None or type(tau) is not float or (
            out is not None and not _fast_out(out, logits.shape, logits.dtype, logits)):
        return None
    dt = x.dtype
    t = chk.tau_value(tau, dt)
    if out is not None:
        buf = out.reshape(x.shape)
    elif x.nbytes < _SMALL_BYTES:           # alignment gains nothing here; costs 1-2 us
        buf = np.empty(x.shape, dt)
    else:
        buf = empty_aligned(x.shape, dt)
    k0, k1, stream = (rng if type(rng) is Key else resolve_key(rng)).words   # one frame less
    bits64 = precision == "high" or dt == _F64
    entry = _ENTRY.get(mode + 4 * x.itemsize) if x.size < _serial_elems else None
    if entry is not None:
        posinf = entry(x, buf, 0, k0, k1, stream, bits64, t)
    else:
        posinf = _cpu_softmax(x, buf, k0, k1, stream, bits64, t, mode)
    if posinf:
        raise_bad_rows(0, posinf)
    if out is not None:
        return out
    return buf if x is logits else buf.reshape(logits.shape)


def gumbel_max_fast(logits, axis, rng, out, precision, backend):
    """:func:`gumbel_max` on the fast path (:func:`_fast_rows`), or ``None``."""
    x = _fast_rows(logits, axis, rng, precision, backend)
    if x is None:
        return None
    lead = logits.shape[:-1]
    if out is not None and not _fast_out(out, lead, np.int64, logits):
        return None
    idx = np.empty(lead, np.int64) if out is None else out
    raise_bad_rows(*_backends.cpu().argmax_rows(x, idx.reshape(-1, 1), 0,
                                                *_fast_key_args(rng, logits.dtype, precision)))
    return idx


# ----------------------------------------------------------------------------------------
# the softmax family


def softmax_family(logits, tau, mode, axis, rng, out, precision, backend, row0=0):
    """Soft (``SOFT``), log (``LOG``) and one-hot (``HARD``) samples."""
    if row0 == 0:
        res = softmax_fast(logits, tau, mode, axis, rng, out, precision, backend)
        if res is not None:
            return res
    return softmax_general(logits, tau, mode, axis, rng, out, precision, backend, row0)


def softmax_general(logits, tau, mode, axis, rng, out, precision, backend, row0=0):
    """:func:`softmax_family` for any input (the fast path gives the same bits)."""
    mod = _backends.backend_for(backend, logits)
    rows = Rows(logits, axis, mod)
    if rows.device is not None and out is not None:
        raise NeedsHost
    t, _ = kernel_tau(tau, rows, rows.cdtype, mod)
    bits64 = chk.precision_bits64(precision, rows.dtype)
    key = resolve_key(rng)
    buf, finish = alloc(out, rows.lead + (rows.K,), rows.axis, rows.dtype, rows.cdtype,
                        (logits,), device=rows.device)
    if buf.size:
        posinf = launch(mod.softmax_rows, rows.device, rows.x, buf, int(row0),
                        *key_args(key), bits64, t, mode)
        raise_bad_rows(0, posinf)
    return finish()


# ----------------------------------------------------------------------------------------
# gradients and density (host arrays; a device call is staged)


def _backward_source(grad, y_soft, logits):
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
    return Gd, src, src_name


def softmax_backward(grad, tau, y_soft, logits, rng, axis, precision, backend, want_tau=True):
    """(grad_logits, grad_tau) of :func:`fastgumbel.gumbel_softmax_backward` (grad_tau
    ``None`` for ``want_tau`` False: the CPU kernels then get an empty ``gtau`` and take no
    log; the GPU kernels compute it all the same)."""
    want_tau = chk.flag(want_tau, "tau_grad")
    host_only(grad, y_soft, logits)
    mod = _backends.backend_for(backend, grad, y_soft, logits)
    Gd, src, src_name = _backward_source(grad, y_soft, logits)
    dt = src.dtype
    gr = Rows(Gd, axis, name="grad")
    sr = Rows(src, axis, name=src_name)
    t, tb = kernel_tau(tau, gr, gr.cdtype, mod)
    if y_soft is None:
        if not isinstance(rng, (Key, int, np.integer)) or isinstance(rng, bool):
            raise ValueError("recompute mode needs the replayable rng of the forward pass "
                             f"(a fastgumbel.Key or an int seed); got {rng!r}")
        key = resolve_key(rng)
    bits64 = chk.precision_bits64(precision, gr.dtype)
    gx, finish = alloc(None, gr.lead + (gr.K,), gr.axis, dt, gr.cdtype, ())
    gtau = np.zeros(gr.rows if want_tau or mod is not _backends.cpu() else 0, gr.cdtype)
    if gx.size:
        if y_soft is None:
            raise_bad_rows(0, launch(mod.softmax_backward_recompute, None, gr.x, sr.x, gx,
                                     gtau, 0, *key_args(key), bits64, t))
        else:
            mod.softmax_backward_rows(gr.x, sr.x, gx, gtau, t)
    if not want_tau:
        return finish(), None
    return finish(), tau_grad(gtau, gr, tb, np.shape(tau), dt, gr.cdtype)


def _concrete_shape(shape, tau, axis):
    """(shape, axis) of a density call after a per-row ``tau`` (TFP's batch temperatures)
    broadcast the batch shape of ``y`` and ``logits``: ``shape`` may grow."""
    ndim = len(shape)
    chk.has_categories_axis(ndim, "y")
    a = chk.axis_index(axis, ndim)
    lead = shape[:a] + shape[a + 1:]
    _, full = chk.tau_batch(tau, ndim, a, lead, np.float64, grow=True)
    pos = len(full) - (ndim - 1 - a)       # the category axis keeps its place from the end
    return full[:pos] + (shape[a],) + full[pos:], pos


def concrete_log_prob(y, logits, tau, axis, backend):
    """:func:`fastgumbel.concrete_log_prob`: computed in float64, in the inputs' dtype."""
    host_only(y, logits)
    mod = _backends.backend_for(backend, y, logits)
    Y = chk.float_array(y, "y")
    L = chk.float_array(logits, "logits")
    shape = np.broadcast_shapes(Y.shape, L.shape)
    if type(tau) is not float and np.ndim(tau) != 0:
        shape, axis = _concrete_shape(shape, tau, axis)
    # broadcast copies, not broadcast views: kernels get plain arrays
    Y, L = (a if a.shape == shape else np.array(np.broadcast_to(a, shape)) for a in (Y, L))
    dt = np.result_type(Y.dtype, L.dtype)
    if np.isposinf(L).any():
        raise ValueError("logits contain +inf: the distribution is not defined")
    yr = Rows(Y, axis, name="y")
    lr = Rows(L, axis, name="logits")
    t, _ = kernel_tau(tau, yr, np.float64, mod)
    res = np.empty(yr.rows, np.float64)
    if yr.rows:
        mod.concrete_rows(yr.x, lr.x, res, t)
    K = yr.K
    if isinstance(t, float):
        res += math.lgamma(K) + (K - 1) * math.log(t) if K else 0.0
    elif K:     # math.log per value, as the scalar call takes it (np.log may differ by an ulp)
        u, inv = np.unique(t, return_inverse=True)
        res += math.lgamma(K) + (K - 1) * np.array([math.log(v) for v in u.tolist()])[inv]
    with np.errstate(over="ignore"):     # a float64 density beyond the dtype: -inf
        out = res.reshape(yr.lead).astype(dt)
    return out[()] if out.ndim == 0 else out
