"""Tensor-level samples and gradients of the torch bridge: the kernels on NumPy views of
CPU tensors (no copies for float32/float64), and the gradient formulas in torch ops.

Notation: ``y = softmax((x + g) / tau)`` along ``dim`` (the soft sample); the hard sample is
the one-hot of its first maximum (``docs/rng.md``: the hard kernel's own answer).
"""
import contextlib

import numpy as np
import torch

from .. import _backends, _core
from ._args import COMPUTE
from ._keys import key_of

_TORCH_OF = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
_DIRECT = (torch.float32, torch.float64)
#: rows this short (categories) take the gradient in torch ops rather than a row loop: the
#: backward kernel and torch's fused softmax backward cost per row (measured crossover
#: between 33 and 64 categories with tau's gradient, bench/RESULTS.md)
SHORT_ROWS = 32
#: torch's fused softmax backward, ``y * (g - <g, y>)`` (the binding in torch's namespace is
#: the cheapest call; the op itself where it is not there)
_softmax_backward_data = getattr(torch, "_softmax_backward_data",
                                 torch.ops.aten._softmax_backward_data)


def _rows(logits):
    """``logits`` (no grad) as the tensor the kernels read: its compute dtype, at least 1-d."""
    x = logits.detach()
    if x.dim() == 0:
        x = x.reshape(1)
    cdt = _TORCH_OF[COMPUTE[x.dtype]]
    return x if x.dtype == cdt else x.to(cdt)


_NULL = contextlib.nullcontext()


def torch_threads(size=None):
    """The CPU kernels run with at most ``torch.get_num_threads()`` threads. A softmax call
    of ``size`` elements below the serial kernels' size (``cpu.SERIAL_ELEMS``) runs on the
    calling thread anyway: no limit is set (setting and restoring Numba's count cost more
    than the 8x16 kernel itself, bench/RESULTS.md issue 18, speed18)."""
    if size is not None and size < _backends.cpu().SERIAL_ELEMS:
        return _NULL
    n = torch.get_num_threads()
    if n >= _backends.get_num_threads():
        return contextlib.nullcontext()
    return _backends.threads(max(n, 1))


def _kernel(x, tau, mode, dim, key):
    """One kernel call: ``x`` (float16/32/64, no grad), ``tau`` a float checked for the
    compute dtype or a keepdims float64 array (per-row), ``key`` words; a new tensor,
    through the core (any layout)."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    with torch_threads(x.numel()):
        _core.softmax_family(x.numpy(), tau, mode, dim, key_of(key), out.numpy(), "default",
                             "cpu")
    return out


def _new_like(x, xn, small):
    """``(tensor, its NumPy view)`` of a new array like ``x`` (``xn``: its NumPy view): a
    small one from NumPy (``torch.from_numpy``: half the cost of ``torch.empty_like`` and a
    view of it)."""
    if small:
        a = np.empty(xn.shape, xn.dtype)
        return torch.from_numpy(a), a
    t = torch.empty_like(x)
    return t, t.numpy()


def _direct(logits, tau, mode, key, one_hot=False, out=None):
    """The common call straight to the CPU kernel: ``logits`` float32/64, C-contiguous,
    non-empty, sampled along its last dim; its arguments checked by the caller. A new
    tensor, or ``out`` (a contiguous tensor like ``logits``) written through a NumPy view;
    ``one_hot`` (mode SOFT): ``(the one-hot of its rows, the soft sample)``. A small array
    runs on the calling thread."""
    x = logits.detach() if logits.requires_grad else logits
    xn = x.numpy()
    small = xn.size < _backends.cpu().SERIAL_ELEMS
    if out is None:
        out, on = _new_like(x, xn, small)
    else:
        on = out.detach().numpy()
    h, hn = _new_like(x, xn, small) if one_hot else (None, None)
    if xn.ndim != 2:
        K = xn.shape[-1]
        xn, on = xn.reshape(-1, K), on.reshape(-1, K)
        hn = hn.reshape(-1, K) if one_hot else None
    k0, k1, stream = key
    args = (xn, on, k0, k1, stream, x.dtype == torch.float64, tau, mode, hn)
    if small:
        posinf = _backends.cpu().softmax_rows_c(*args)
    else:
        with torch_threads():
            posinf = _backends.cpu().softmax_rows_c(*args)
    if posinf:
        _core.raise_bad_rows(0, posinf)
    return (h, out) if one_hot else out


def direct_sample(logits, tau, key, hard, keep_soft=False):
    """The soft or (``hard``) one-hot sample by :func:`_direct`; ``hard`` and ``keep_soft``:
    ``(one_hot, soft sample)``."""
    if hard and keep_soft:
        return _direct(logits, tau, _core.SOFT, key, True)
    return _direct(logits, tau, _core.HARD if hard else _core.SOFT, key)


def direct_into(logits, tau, key, out):
    """The soft sample by :func:`_direct` written into ``out`` (a contiguous tensor like
    ``logits``, which may require grad), returned."""
    return _direct(logits, tau, _core.SOFT, key, out=out)


def categories(y, dim):
    """Size of the category dim (1 for a 0-d tensor)."""
    return y.shape[dim] if y.dim() else 1


def one_hot_of(y, dim):
    """The one-hot of the first maximum of the soft sample ``y`` along ``dim``, as the hard
    kernel gives it: a row of ``y`` that is all 0 (logits all ``-inf``) stays 0, a NaN row
    is NaN."""
    top, idx = y.max(dim, keepdim=True)
    h = torch.zeros_like(y).scatter_(dim, idx, 1.0)
    live = top > 0
    if not bool(live.all()):
        h.mul_(live).add_(top - top)
    return h


def forward(logits, tau, key, hard, dim, keep_soft):
    """``(out, y_soft)``: the sample in the logits' dtype and shape, and (``keep_soft``, or
    when it is the output) the soft sample in the compute dtype, else ``None``.

    ``tau`` is a float or a keepdims array of the compute dtype; ``key`` its words."""
    if (type(tau) is float and logits.dtype in _DIRECT and dim == logits.dim() - 1
            and logits.is_contiguous() and logits.numel() and not logits.is_meta):
        if hard and not keep_soft:
            return _direct(logits, tau, _core.HARD, key), None
        if hard:
            return _direct(logits, tau, _core.SOFT, key, True)
        y = _direct(logits, tau, _core.SOFT, key)
        return y, y
    if logits.is_meta:
        out = torch.empty(logits.shape, dtype=logits.dtype, device="meta")
        return out, (out.to(_TORCH_OF[COMPUTE[logits.dtype]]) if keep_soft or not hard
                     else None)
    x = _rows(logits)
    direct = x.dtype == logits.dtype or logits.dtype == torch.float16
    if hard and not keep_soft:
        src = logits.detach().reshape(x.shape) if direct else x
        out = _kernel(src, tau, _core.HARD, dim, key)
        return out.to(logits.dtype).reshape(logits.shape), None
    y = _kernel(x, tau, _core.SOFT, dim, key)
    out = one_hot_of(y, dim) if hard else y
    return out.to(logits.dtype).reshape(logits.shape), y.reshape(logits.shape)


# ----------------------------------------------------------------------------------------
# gradients: torch ops (differentiable: double backward), or the backward kernel


def soft_vjp(g, y, tau, dim):
    """``(d loss / d logits, per-row d loss / d tau (keepdims))`` from ``g = d loss / d y``:
    ``y (g - <g, y>) / tau`` and ``-<g - <g, y>, y log y> / tau`` (``0 log 0 = 0``)."""
    s = (g * y).sum(dim, keepdim=True)
    d = g - s
    gl = y * d / tau
    gt = -(d * torch.xlogy(y, y)).sum(dim, keepdim=True) / tau
    return gl, gt


def soft_jvp(dx, dtau, y, tau, dim):
    """Tangent of ``y`` for tangents ``dx`` of the logits and ``dtau`` of tau (either may be
    ``None``): ``a - y <a, 1>`` with ``a = (y dx - y log(y) dtau) / tau``."""
    a = None if dx is None else y * dx
    if dtau is not None:
        b = torch.xlogy(y, y) * dtau
        a = -b if a is None else a - b
    if a is None:
        return torch.zeros_like(y)
    a = a / tau
    return a - y * a.sum(dim, keepdim=True)


def backward_kernel(g, y, tau, dim):
    """``(grad_logits, grad_tau)`` of a scalar float ``tau`` by the backward kernel."""
    G = g if g.dtype == y.dtype else g.to(y.dtype)
    with torch_threads():
        gl, gt = _core.softmax_backward(G.detach().numpy(), tau, y.detach().numpy(), None,
                                        None, dim, "default", "cpu")
    return torch.from_numpy(np.ascontiguousarray(gl)), torch.tensor(float(gt), dtype=y.dtype)


def backward_fast(g, y, tau, dim):
    """``d loss / d logits`` alone (tau takes no gradient), by torch's fused softmax
    backward."""
    G = g if g.dtype == y.dtype else g.to(y.dtype)
    if categories(y, dim) <= 2 * SHORT_ROWS and y.numel() >= 4096:
        # many short rows: four elementwise ops beat the fused op's per-row loop
        # (3000 x 10 float32, 1 thread: 37 us against 211 us; bench/RESULTS.md)
        yg = y * G
        gl = torch.addcmul(yg, y, yg.sum(dim, keepdim=True), value=-1)
    else:
        gl = _softmax_backward_data(G, y, dim, y.dtype)
    return gl if type(tau) is float and tau == 1.0 else gl.div_(tau)
