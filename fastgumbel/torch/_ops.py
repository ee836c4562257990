"""``torch.library`` custom ops of the torch bridge, for traced code (``torch.compile``,
``torch.export``): the samplers as opaque pure functions of ``(logits, tau, key)`` with fake
(meta) implementations, tau and the key as tensor inputs of the graph (no constant that
recompiles), and gradient formulas in torch ops, which Inductor compiles with the graph.
Eager calls do not come here (:mod:`fastgumbel.torch._autograd` serves them directly)."""
import torch

from . import _cuda, _rao, _sample
from ._args import COMPUTE, tau_args
from ._autograd import draws
from ._keys import words_of
from ._sample import _TORCH_OF


@torch.library.custom_op("fastgumbel::gumbel_softmax", mutates_args=())
def gumbel_softmax(logits: torch.Tensor, tau: torch.Tensor, key: torch.Tensor, hard: bool,
                   dim: int) -> torch.Tensor:
    """Soft sample, or hard sample without gradient."""
    value = tau_args(tau.detach(), logits, dim)[1]
    return _sample.forward(logits, value, words_of(key), hard, dim, False)[0]


@gumbel_softmax.register_fake
def _(logits, tau, key, hard, dim):
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


@torch.library.custom_op("fastgumbel::gumbel_softmax_st", mutates_args=())
def gumbel_softmax_st(logits: torch.Tensor, tau: torch.Tensor, key: torch.Tensor,
                      dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through: the hard sample and the soft sample it comes from (kept for the
    gradient, in the compute dtype)."""
    value = tau_args(tau.detach(), logits, dim)[1]
    return _sample.forward(logits, value, words_of(key), True, dim, True)


@gumbel_softmax_st.register_fake
def _(logits, tau, key, dim):
    y = torch.empty(logits.shape, dtype=_TORCH_OF[COMPUTE[logits.dtype]])
    return torch.empty_like(logits, memory_format=torch.contiguous_format), y


def _grads(ctx, g, y, tau):
    gl, gt = _sample.soft_vjp(g.to(y.dtype), y, tau.to(y.dtype), ctx.dim)
    gt = (gt.sum_to_size(tau.shape).to(device=tau.device, dtype=tau.dtype)
          if ctx.needs_input_grad[1] else None)
    return gl.to(ctx.dtype), gt


def _setup_soft(ctx, inputs, output):
    logits, tau, key, hard, dim = inputs
    ctx.dim, ctx.dtype = dim, logits.dtype
    ctx.save_for_backward(output, tau)


def _backward_soft(ctx, g):
    y, tau = ctx.saved_tensors
    return (*_grads(ctx, g, y, tau), None, None, None)


def _setup_st(ctx, inputs, output):
    logits, tau, key, dim = inputs
    ctx.dim, ctx.dtype = dim, logits.dtype
    ctx.save_for_backward(output[1], tau)


def _backward_st(ctx, g_out, g_soft):
    y, tau = ctx.saved_tensors
    g = g_out if g_soft is None else g_soft.to(y.dtype) + g_out.to(y.dtype)
    return (*_grads(ctx, g, y, tau), None, None)


gumbel_softmax.register_autograd(_backward_soft, setup_context=_setup_soft)
gumbel_softmax_st.register_autograd(_backward_st, setup_context=_setup_st)


@torch.library.custom_op("fastgumbel::categorical", mutates_args=())
def categorical(logits: torch.Tensor, key: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Gumbel-max (``n < 0``) or ``n`` categorical draws per row."""
    return draws(logits, words_of(key), n, dim)


@categorical.register_fake
def _(logits, key, n, dim):
    lead = tuple(s for i, s in enumerate(logits.shape) if i != dim % max(logits.dim(), 1))
    return logits.new_empty(lead + ((n,) if n >= 0 else ()), dtype=torch.int64)


_cuda.register(gumbel_softmax, gumbel_softmax_st, categorical)     # their CUDA kernels


# ----------------------------------------------------------------------------------------
# Gumbel-Rao (estimator="gumbel-rao"): the hard sample, and its backward as a second op


@torch.library.custom_op("fastgumbel::gumbel_softmax_rao", mutates_args=())
def gumbel_softmax_rao(logits: torch.Tensor, tau: torch.Tensor, key: torch.Tensor, dim: int,
                       samples: int) -> torch.Tensor:
    """The hard sample (as ``hard=True``); its gradient is :func:`gumbel_rao_backward`."""
    value = tau_args(tau.detach(), logits, dim)[1]
    return _sample.forward(logits, value, words_of(key), True, dim, False)[0]


@gumbel_softmax_rao.register_fake
def _(logits, tau, key, dim, samples):
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


@torch.library.custom_op("fastgumbel::gumbel_rao_backward", mutates_args=())
def gumbel_rao_backward(g: torch.Tensor, logits: torch.Tensor, hot: torch.Tensor,
                        tau: torch.Tensor, key: torch.Tensor, dim: int, samples: int,
                        want_tau: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_logits, grad_tau in tau's shape and dtype) of the Gumbel-Rao estimator;
    ``want_tau=False``: grad_tau is zeros and the kernel skips the tau term."""
    value = tau_args(tau.detach(), logits, dim)[1]
    gl, gt = _rao.host_backward(g, logits, hot, value, words_of(key), dim, samples, want_tau)
    return gl, (_rao.tau_grad(gt, tau) if want_tau else torch.zeros_like(tau))


@gumbel_rao_backward.register_fake
def _(g, logits, hot, tau, key, dim, samples, want_tau):
    return torch.empty_like(logits, memory_format=torch.contiguous_format), torch.empty_like(tau)


def _setup_rao(ctx, inputs, output):
    logits, tau, key, dim, samples = inputs
    ctx.dim, ctx.samples = dim, samples
    ctx.save_for_backward(logits, output, tau, key)


def _backward_rao(ctx, g):
    logits, hot, tau, key = ctx.saved_tensors
    want = ctx.needs_input_grad[1]
    gl, gt = gumbel_rao_backward(g, logits, hot, tau, key, ctx.dim, ctx.samples, want)
    return gl, (gt if want else None), None, None, None


gumbel_softmax_rao.register_autograd(_backward_rao, setup_context=_setup_rao)
