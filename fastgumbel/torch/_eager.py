"""The common eager call of :func:`fastgumbel.torch.gumbel_softmax` in a few steps: a CPU
float32/float64 contiguous tensor sampled along its last dim, a number as tau, no
torch.func transform, no forward-mode AD, not traced. Its reverse mode is one lean
``torch.autograd.Function`` (the gradient in torch ops, differentiable again: double
backward works), or for a small soft sample torch's own softmax node with the kernel's
sample as its output (:func:`_native_soft`). Any other call returns ``None`` here and takes the general path, which
gives the same values and gradients (tests/test_torch.py).

At 8x16 the general path's argument reading, its autograd Function (one that also carries
forward mode and a vmap rule) and the one-hot in torch ops cost as much as the sampling
(bench/RESULTS.md, issue 18, session 5).
"""
import torch

from .. import _checks as chk
from . import _autograd, _keys, _sample
from ._args import COMPUTE, DEFAULT_EPS


def gumbel_softmax(logits, tau, hard, eps, dim, generator, estimator, samples):
    """The sample of the common call (the arguments of the public function), or ``None``."""
    if (type(hard) is not bool or type(dim) is not int or samples is not None
            or type(eps) is not float or eps != DEFAULT_EPS or type(estimator) is not str
            or estimator != "straight-through"):
        return None
    if (torch.compiler.is_compiling() or type(logits) is not torch.Tensor or not logits.is_cpu
            or (logits.dtype != torch.float32 and logits.dtype != torch.float64)):
        return None
    if type(tau) is not float:
        if type(tau) is not int:
            return None
        tau = float(tau)
    nd = logits.dim()
    if (nd == 0 or (dim != -1 and dim != nd - 1) or not logits.is_contiguous()
            or logits.numel() == 0 or _autograd._forward_mode()):
        return None
    t = chk.tau_value(tau, COMPUTE[logits.dtype])
    key = _keys.eager_words(generator)
    if logits.requires_grad and torch.is_grad_enabled():
        if not hard and logits.numel() < NATIVE_ELEMS and _native_ok():
            return _native_soft(logits, t, key)
        out = _apply(logits, t, key, hard)
        return out[0] if hard else out
    return _sample.direct_sample(logits, t, key, hard)


#: soft samples with grad of fewer elements take torch's own nodes (:func:`_native_soft`);
#: from 4096 on, ``_sample.backward_fast`` may take another formula (many short rows)
NATIVE_ELEMS = 4096
_hooks = getattr(torch._C._autograd, "_top_saved_tensors_default_hooks", None)
_tracing = getattr(torch._C, "_get_tracing_state", None)


def _native_ok():
    """Whether :func:`_native_soft` may run: no saved-tensor hooks (one like
    ``save_on_cpu`` packs the softmax's output before the kernel writes it) and no
    ``torch.jit`` trace (it would record the softmax)."""
    return (_hooks is not None and _tracing is not None and _hooks(False) is None
            and not _tracing())


def _native_soft(logits, tau, key):
    """The soft sample with grad, its backward in torch's own nodes, not a Python one (a
    Python node's backward cost more than the whole 8x16 sample, bench/RESULTS.md, issue
    18): ``softmax(logits / tau)`` makes the nodes (``SoftmaxBackward0``, whose gradient
    ``y (g - <g, y>)`` reads only its output ``y``; ``DivBackward0``, ``g / tau``), then
    the kernel writes the sample over that output through a NumPy view, which autograd
    does not see. The gradient is :class:`Sample`'s, the same ops on the same values (same
    bits), and differentiable again."""
    y = torch.softmax(logits if tau == 1.0 else logits / tau, -1)
    return _sample.direct_into(logits, tau, key, y)


class Sample(torch.autograd.Function):
    """``(logits, tau, key words, hard) -> y`` (soft) or ``(one_hot, y)`` (hard), ``tau`` a
    checked float: the soft sample ``y`` is an output, so the gradient formed from it in
    torch ops is differentiable again."""

    @staticmethod
    def forward(ctx, logits, tau, key, hard):
        out = _sample.direct_sample(logits, tau, key, hard, True)
        if hard:    # one of the two outputs may take no gradient (a soft one always does)
            ctx.set_materialize_grads(False)
        ctx.tau = tau
        ctx.save_for_backward(out[1] if hard else out)
        return out

    @staticmethod
    def backward(ctx, g, g_soft=None):
        y, = ctx.saved_tensors
        if g_soft is not None:
            g = g_soft if g is None else g + g_soft
        if g is None:
            return None, None, None, None
        if torch.is_grad_enabled():     # a graph of the gradient (double backward)
            gl = _sample.soft_vjp(g.to(y.dtype), y, ctx.tau, -1)[0]
        else:
            gl = _sample.backward_fast(g, y, ctx.tau, -1)
        return gl, None, None, None


#: ``Sample.apply`` by autograd's C++ entry point (no transform runs on this path:
#: ``_forward_mode`` is False), or the public one on a torch without it
_apply = Sample.apply if _autograd._C_APPLY is None else _autograd._C_APPLY.__get__(None, Sample)
