"""``gumbel_softmax(..., hard=True, estimator="gumbel-rao", samples=K)`` in torch: the hard
sample forward (the same one-hot as ``hard=True`` with the same key) and the Gumbel-Rao
backward, :func:`fastgumbel.gumbel_rao_backward` with ``index`` the one-hot's category
(Paulus, Maddison and Krause 2020; ``docs/gumbel_rao.md``). Eager calls use
:class:`GumbelRao`; traced code (``torch.compile``) the custom ops in :mod:`._ops`.

Reverse mode only: forward-mode AD (``jvp``) is not defined for it and raises torch's
error, ``torch.func`` transforms raise a ``TypeError`` (the backward reads the tensors'
values on the host), and there is no double backward. A row whose conditional law is
undefined (NaN or ``+inf`` logits) gets NaN gradients, an all ``-inf`` row zeros.
"""
import numpy as np
import torch

from .. import _rao
from . import _sample
from ._args import tau_args
from ._keys import key_of, words_of


def host_backward(g, logits, hot, tau, key, dim, samples, want_tau=True):
    """``(grad_logits, grad_tau)`` as tensors: grad_logits in the logits' dtype, grad_tau
    in the compute dtype with the shape of the kernel's ``tau`` value (0-d or keepdims);
    ``want_tau=False``: grad_tau is ``None`` (the kernel skips its work)."""
    x = logits.detach()
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    if x.dim() == 0:            # one category: the sample is the constant 1
        return torch.zeros_like(logits), (torch.zeros(np.shape(tau), dtype=cdt)
                                          if want_tau else None)
    if x.dtype == torch.bfloat16:
        x = x.float()           # as the forward computes it
    G = g.detach().to(x.dtype)
    with _sample.torch_threads():
        gx, gt = _rao.bridge_backward(G.numpy(), x.numpy(), tau,
                                      hot.detach().to(x.dtype).numpy(), samples, dim,
                                      key_of(key), "default", want_tau)
    gl = torch.from_numpy(np.ascontiguousarray(gx)).to(logits.dtype)
    return gl, (torch.as_tensor(np.asarray(gt)).to(cdt) if want_tau else None)


def tau_grad(gt, tau_t):
    """tau's gradient with the shape and dtype of the tau tensor ``tau_t`` (keepdims)."""
    return gt.reshape(tau_t.shape).to(tau_t.dtype)


class GumbelRao(torch.autograd.Function):
    """``(logits, tau_t, key, dim, tau, samples) -> one-hot``: ``tau_t`` the tau tensor that
    takes a gradient (or ``None``), ``tau`` its kernel value (``None``: read from
    ``tau_t``), ``key`` a Key, key words or a key tensor."""

    @staticmethod
    def forward(logits, tau_t, key, dim, tau, samples):
        tau = tau if tau is not None else tau_args(tau_t, logits, dim)[1]
        return _sample.forward(logits, tau, words_of(key), True, dim, False)[0]

    @staticmethod
    def setup_context(ctx, inputs, output):
        logits, tau_t, key, dim, tau, samples = inputs
        ctx.set_materialize_grads(False)
        ctx.dim, ctx.samples, ctx.words = dim, samples, list(words_of(key))
        ctx.tau = tau if tau is not None else tau_args(tau_t, logits, dim)[1]
        ctx.save_for_backward(logits, output, tau_t)

    @staticmethod
    def backward(ctx, g):
        if g is None:
            return None, None, None, None, None, None
        logits, hot, tau_t = ctx.saved_tensors
        want = ctx.needs_input_grad[1]
        gl, gt = host_backward(g, logits, hot, ctx.tau, ctx.words, ctx.dim, ctx.samples, want)
        return gl, (tau_grad(gt, tau_t) if want else None), None, None, None, None
