"""CUDA implementations of the torch bridge's custom ops (``torch.ops.fastgumbel.*``):
inputs read in place, outputs allocated by torch on the device, launches on torch's current
stream (:mod:`._launch`), no host synchronization (unless :func:`fastgumbel.gpu_checks`).

- A temperature known on the host (a number, a CPU tensor) runs the fused softmax kernel;
  a temperature on the device (a learned tau, a per-row tau) is never read back: the noise
  kernel writes ``g`` and the softmax of ``(x + g) / tau`` is torch's (same noise, so the
  same sample up to rounding). A device tau that is not positive and finite gives NaN rows.
- The one-hot of a soft sample is taken without a branch on its values: NaN rows stay NaN,
  all-zero rows (logits all ``-inf``) stay zero.
- Rows whose maximum is NaN or ``+inf`` give the results of ``docs/gpu.md`` (a NaN row, the
  index of the first NaN, else first ``+inf``), or the CPU's ValueError under
  :func:`fastgumbel.gpu_checks`.
"""
import numpy as np
import torch

from .. import _checks as chk
from .._core import HARD, SOFT, bad_rows, raise_bad_rows
from . import _launch
from ._args import COMPUTE

_TORCH_COMPUTE = {k: getattr(torch, np.dtype(v).name) for k, v in COMPUTE.items()}


def rows_of(t, dim):
    """``(t2, moved_shape)``: ``t`` with ``dim`` last, C-contiguous, as ``(rows, K)`` (a
    view when it already is; a 0-d tensor is one row of one category)."""
    if t.dim() == 0:
        return t.reshape(1, 1).contiguous(), (1,)
    m = t if dim == t.dim() - 1 else t.movedim(dim, -1)
    shape = tuple(m.shape)
    rows = 1
    for s in shape[:-1]:
        rows *= s
    return m.contiguous().reshape(rows, shape[-1]), shape


def back(t2, shape, dim, like):
    """A ``(rows, K)`` result in the layout of ``like`` (C-contiguous, as the fake says)."""
    if like.dim() == 0:
        return t2.reshape(())
    o = t2.reshape(shape)
    return o if dim == like.dim() - 1 else o.movedim(-1, dim).contiguous()


def _bits64(dtype):
    return chk.precision_bits64("default", COMPUTE[dtype])


def _host_tau(tau, logits, dim):
    """tau's value when it is known on the host (a CPU 0-d tensor: a float, checked), else
    ``None`` (a device tensor or per-row: used on the device)."""
    if _launch.on_device(tau) or tau.dim() > 0:
        return None
    return chk.tau_value(tau.item(), COMPUTE[logits.dtype])


def fused(x2, tau, key, mode, dtype):
    """The fused kernel on ``x2`` (rows, K) in ``dtype`` (its input and output): a new
    tensor."""
    x2 = x2 if x2.dtype == dtype else x2.to(dtype)
    out = torch.empty(x2.shape, dtype=dtype, device=x2.device)
    if out.numel():
        k0, k1, s, kd = _launch.key_words(key, x2.device)
        posinf = _launch.launch("softmax_rows", x2.device, _launch.wrap(x2), _launch.wrap(out),
                                0, k0, k1, s, _bits64(dtype), tau, mode, key_dev=kd,
                                bf16=dtype == torch.bfloat16)
        if posinf:
            raise_bad_rows(0, posinf)
    return out


def noise(shape, dtype, key, device):
    """The Gumbel noise of the key for a ``(rows, K)`` input (the field the fused kernel
    reads), in ``dtype`` (float32 or float64)."""
    g = torch.empty(shape, dtype=dtype, device=device)
    if g.numel():
        k0, k1, s, kd = _launch.key_words(key, device)
        _launch.launch("fill_noise", device, _launch.wrap(g), 0, k0, k1, s, _bits64(dtype),
                       False, 0.0, 1.0, key_dev=kd)
    return g


def _device_tau(tau, logits, dim, shape, rows, cdt):
    """A tau tensor as a ``(rows, 1)`` (or 0-d) device tensor of the compute dtype, NaN
    where it is not positive and finite (checked on the device: no sync)."""
    t = tau.detach().to(device=logits.device, dtype=cdt, non_blocking=True)
    if t.dim():
        keep = chk.tau_keepdims_shape(tuple(t.shape), tuple(logits.shape), dim)
        t = t.reshape(keep).movedim(dim, -1).expand(shape[:-1] + (1,)).reshape(rows, 1)
    ok = (t > 0) & torch.isfinite(t)
    return torch.where(ok, t, torch.full_like(t, float("nan")))


def soft(logits, tau, key, dim, dtype):
    """``(y2, shape)``: the soft sample as ``(rows, K)`` in ``dtype``."""
    x2, shape = rows_of(logits.detach(), dim)
    value = _host_tau(tau, logits, dim)
    if value is not None:
        return fused(x2, value, key, SOFT, dtype), shape
    cdt = _TORCH_COMPUTE[logits.dtype]
    t = _device_tau(tau, logits, dim, shape, x2.shape[0], cdt)
    g = noise(x2.shape, cdt, key, x2.device)
    return torch.softmax((x2.to(cdt) + g) / t, -1).to(dtype), shape


def one_hot(y2, dtype):
    """One-hot of the first maximum of each row of ``y2``, no branch on values (NaN rows
    NaN, all-zero rows zero)."""
    top, idx = y2.max(-1, keepdim=True)
    h = torch.zeros_like(y2).scatter_(-1, idx, 1.0)
    return (h * (top > 0) + (top - top)).to(dtype)


# ----------------------------------------------------------------------------------------
# the ops' CUDA kernels (same signatures as their CPU implementations in ._ops)


def gumbel_softmax(logits, tau, key, hard, dim):
    """``fastgumbel::gumbel_softmax`` on CUDA."""
    if hard and _host_tau(tau, logits, dim) is not None:
        x2, shape = rows_of(logits.detach(), dim)
        out = fused(x2, _host_tau(tau, logits, dim), key, HARD, logits.dtype)
        return back(out, shape, dim, logits)
    y2, shape = soft(logits, tau, key, dim, logits.dtype)
    return back(one_hot(y2, logits.dtype) if hard else y2, shape, dim, logits)


def gumbel_softmax_st(logits, tau, key, dim):
    """``fastgumbel::gumbel_softmax_st`` on CUDA: (one-hot, soft sample in the compute
    dtype)."""
    y2, shape = soft(logits, tau, key, dim, _TORCH_COMPUTE[logits.dtype])
    return back(one_hot(y2, logits.dtype), shape, dim, logits), back(y2, shape, dim, logits)


def categorical(logits, key, n, dim):
    """``fastgumbel::categorical`` on CUDA: Gumbel-max (``n < 0``) or ``n`` draws per row."""
    x2, shape = rows_of(logits.detach(), dim)
    lead = () if logits.dim() == 0 else shape[:-1]
    rows, K = x2.shape
    D = 1 if n < 0 else n
    chk.categories(K, rows, dim)
    chk.noise_rows(rows, D)
    idx = torch.empty((rows, D), dtype=torch.int64, device=x2.device)
    if idx.numel():
        k0, k1, s, kd = _launch.key_words(key, x2.device)
        bad_rows(_launch.launch("argmax_rows", x2.device, _launch.wrap(x2), _launch.wrap(idx),
                                0, k0, k1, s, _bits64(x2.dtype), key_dev=kd,
                                bf16=x2.dtype == torch.bfloat16))
    return idx.reshape(lead + ((n,) if n >= 0 else ()))


def register(soft_op, st_op, draws_op):
    """Register the CUDA kernels of the three custom ops."""
    soft_op.register_kernel("cuda")(gumbel_softmax)
    st_op.register_kernel("cuda")(gumbel_softmax_st)
    draws_op.register_kernel("cuda")(categorical)
