"""The eager autograd of the torch bridge: one ``torch.autograd.Function`` with reverse mode
(analytic backward kernel, or torch ops when a graph of the gradient is asked for: double
backward), forward mode (``jvp``: ``torch.autograd.forward_ad``, ``torch.func.jvp``,
``jacfwd``) and a ``vmap`` rule (``torch.func.vmap``, ``jacrev``), plus the non-differentiable
discrete draws with their own ``vmap`` rule.

Outside torch.func transforms the Function is applied through autograd's C++ entry point
directly (``Function.apply`` binds the arguments by ``inspect.signature`` on every call,
about 10 us, before reaching it).
"""
import numpy as np
import torch

from .. import _discrete
from . import _sample
from ._args import tau_args
from ._keys import key_of, words_of

try:        # autograd's C++ entry point (what Function.apply ends in) and its guard
    _C_APPLY = torch._C._FunctionBase.__dict__["apply"]
    _transforms_active = torch._C._are_functorch_transforms_active
except (AttributeError, KeyError):      # another torch: the public entry point only
    _C_APPLY = None
_DIRECT = {}


def apply(cls, *args):
    """``cls.apply(*args)``, without the Python binding when no torch.func transform runs."""
    if _C_APPLY is None or _transforms_active():
        return cls.apply(*args)
    direct = _DIRECT.get(cls)
    if direct is None:
        direct = _DIRECT[cls] = _C_APPLY.__get__(None, cls)
    return direct(*args)


def _forward_mode():
    """Whether forward-mode AD may run: a forward_ad dual level or a torch.func transform."""
    return (getattr(torch.autograd.forward_ad, "_current_level", 0) >= 0
            or _C_APPLY is None or _transforms_active())


def _tau_tensor(tau_t, tau):
    """tau as what the formulas divide by: the tensor that takes its gradient, else the
    kernel's value (a float, or a keepdims array as a tensor)."""
    if tau_t is not None:
        return tau_t
    return tau if isinstance(tau, float) else torch.from_numpy(tau)


def _tau_of(tau_t, tau, logits, dim):
    """The kernel's tau value of a call (read from ``tau_t`` under torch.func transforms)."""
    return tau if tau is not None else tau_args(tau_t, logits, dim)[1]


def _slice(a, d, i):
    return a if d is None else a.select(d, i)


class GumbelSoftmax(torch.autograd.Function):
    """``(logits, tau_t, key, hard, dim, tau) -> y`` (soft) or ``(one_hot, y)`` (hard):
    ``tau_t`` the tau tensor that takes a gradient (or ``None``), ``tau`` its value for the
    kernel (``None``: read it from ``tau_t``), ``key`` a Key or a key tensor."""

    @staticmethod
    def forward(logits, tau_t, key, hard, dim, tau):
        tau = _tau_of(tau_t, tau, logits, dim)
        out, y = _sample.forward(logits, tau, words_of(key), hard, dim, True)
        return (out, y) if hard else out

    @staticmethod
    def setup_context(ctx, inputs, output):
        logits, tau_t, key, hard, dim, tau = inputs
        y = output[1] if hard else output
        ctx.set_materialize_grads(False)
        ctx.hard, ctx.dim = hard, dim
        ctx.tau = _tau_of(tau_t, tau, logits, dim) if tau_t is None else None
        ctx.out_dtype = logits.dtype
        ctx.save_for_backward(y, tau_t)
        if _forward_mode():     # only then can jvp be asked for
            ctx.save_for_forward(y, tau_t)

    @staticmethod
    def backward(ctx, g_out, g_soft=None):
        y, tau_t = ctx.saved_tensors
        g = g_out if g_soft is None else (g_soft if g_out is None else g_out + g_soft)
        if g is None:
            return None, None, None, None, None, None
        need_tau = ctx.needs_input_grad[1]
        tau = _tau_tensor(tau_t, ctx.tau)
        gl = None
        plain = not (torch.is_grad_enabled() or _C_APPLY is None or _transforms_active()
                     or (need_tau and tau_t.dim() > 0))    # no graph of the gradient, no vmap
        if plain and not need_tau:
            gl, gt = _sample.backward_fast(g, y, tau, ctx.dim), None
        elif (plain and y.dtype in (torch.float32, torch.float64)
              and _sample.categories(y, ctx.dim) > _sample.SHORT_ROWS):
            try:
                gl, gt = _sample.backward_kernel(g, y, tau_t.item(), ctx.dim)
            except RuntimeError:    # a batched gradient (legacy vmap) has no NumPy view
                pass
        if gl is None:
            gl, gt = _sample.soft_vjp(g.to(y.dtype), y, tau, ctx.dim)
        gl = gl.to(ctx.out_dtype)
        if need_tau:
            gt = gt.sum_to_size(tau_t.shape).to(tau_t.dtype)
        return gl, (gt if need_tau else None), None, None, None, None

    @staticmethod
    def jvp(ctx, dx, dtau, *_):
        y, tau_t = ctx.saved_tensors
        tau = _tau_tensor(tau_t, ctx.tau)
        dy = _sample.soft_jvp(dx if dx is None else dx.to(y.dtype), dtau, y, tau, ctx.dim)
        return (dy.to(ctx.out_dtype), dy) if ctx.hard else dy.to(ctx.out_dtype)

    @staticmethod
    def vmap(info, in_dims, logits, tau_t, key, hard, dim, tau):
        """One call per batch element (``out[i] = f(logits[i], tau[i], key[i])``): a key
        batched by ``randomness="different"`` gives each element its own noise; an
        unbatched key (``"same"``, or a given generator) the same noise for each."""
        ld, td, kd = in_dims[:3]
        d = dim if ld is None else dim + 1
        logits = logits if ld is None else logits.movedim(ld, 0)
        outs = []
        for i in range(info.batch_size):
            outs.append(GumbelSoftmax.apply(
                _slice(logits, 0 if ld is not None else None, i), _slice(tau_t, td, i),
                _slice(key, kd, i), hard, dim if ld is None else d - 1,
                tau if td is None else None))
        if hard:
            return (torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])), (0, 0)
        return torch.stack(outs), 0


class Discrete(torch.autograd.Function):
    """``(logits, key, n, dim) -> int64 draws``: :func:`fastgumbel.gumbel_max` (``n < 0``)
    or :func:`fastgumbel.categorical`; not differentiable; a ``vmap`` rule as above."""

    @staticmethod
    def forward(logits, key, n, dim):
        return draws(logits, words_of(key), n, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output)

    @staticmethod
    def backward(ctx, g):
        return None, None, None, None

    @staticmethod
    def vmap(info, in_dims, logits, key, n, dim):
        ld, kd = in_dims[:2]
        logits = logits if ld is None else logits.movedim(ld, 0)
        outs = [Discrete.apply(_slice(logits, 0 if ld is not None else None, i),
                               _slice(key, kd, i), n, dim) for i in range(info.batch_size)]
        return torch.stack(outs), 0


def draws(logits, key, n, dim):
    """Gumbel-max (``n < 0``) or ``n`` categorical draws per row, int64, as a new tensor."""
    lead = tuple(s for i, s in enumerate(logits.shape) if i != dim % max(logits.dim(), 1))
    shape = lead + ((n,) if n >= 0 else ())
    if logits.is_meta:
        return torch.empty(shape, dtype=torch.int64, device="meta")
    x = _sample._rows(logits)
    key = key_of(key)
    with _sample.torch_threads():
        if n < 0:
            res = _discrete.gumbel_max(x.numpy(), dim, key, None, "default", "cpu")
        else:
            res = _discrete.categorical(x.numpy(), n, dim, key, "gumbel", "default", "cpu")
    return torch.from_numpy(np.ascontiguousarray(res)).reshape(shape)

