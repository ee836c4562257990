"""PyTorch bridge: differentiable Gumbel-Softmax, Gumbel-max and categorical draws on tensors.

``fastgumbel.torch.gumbel_softmax`` is a drop-in for ``torch.nn.functional.gumbel_softmax``
that runs the fused fastgumbel kernels, takes a temperature tensor that requires grad, and
returns gradients from the analytic backward kernel (:func:`fastgumbel.gumbel_softmax_backward`).
Eager calls run the kernels through one ``torch.autograd.Function`` (reverse mode, forward
mode, ``torch.func`` transforms, double backward); traced calls (``torch.compile``) use
``torch.library`` custom ops (``torch.ops.fastgumbel.*``) with fake (meta) implementations,
tau and the key as graph inputs, so they work under ``torch.compile(fullgraph=True)`` and a
changing tau compiles once (a Python float: twice, Dynamo's automatic dynamic). Tensors cross into NumPy and back through shared memory (no
copies); float16, bfloat16, float32, float64 (bfloat16 and float16 are computed in float32),
CPU and CUDA tensors (the GPU kernels on torch's current stream, no host sync, CUDA-graph
safe: ``docs/gpu.md``), and meta tensors (shapes only).

Supported torch: 2.4 and later (tested with 2.13). On a torch without opaque objects (a
private API of recent versions) a :class:`Generator` draws its key outside the compiled
graph (a graph break).

The ``generator`` argument
--------------------------
The noise of a call is fixed by a fastgumbel key: the Philox4x32-10 key words and a stream id
(``docs/rng.md``). The key is resolved *outside* the sampling op and passed to it as an int64
tensor ``[k0, k1, stream]``, so the op itself is a pure function and a compiled graph
replays exactly what eager mode computes.

- ``None`` (default, as in ``F.gumbel_softmax``): the key is drawn from torch's global RNG
  (``torch.randint``), so ``torch.manual_seed`` makes runs reproducible, and under
  ``torch.compile`` every call of the compiled function draws a fresh key (the draw is an
  op in the graph; like every random op under Inductor, its values differ from eager mode).
- :class:`Generator` (``fastgumbel.torch.default_rng(seed)``): a :class:`fastgumbel.Generator`
  that torch.compile holds by reference; the draw of its next key is a graph op
  (``torch.ops.fastgumbel.next_key``), so the generator advances once per call, in eager
  and in compiled code alike, and the compiled result equals the eager one.
- a plain :class:`fastgumbel.Generator`: advanced once per call in eager mode. Dynamo cannot
  put its Python counter into a graph (it would replay one key forever), so inside
  ``torch.compile`` the call breaks the graph and runs eagerly (correct, but a graph break),
  and ``fullgraph=True`` raises naming :class:`Generator`, which is the one to use there.
- a :class:`fastgumbel.Key` or an int seed: that key, every call (replayable). Under
  ``torch.compile`` it is a constant of the graph: a different Key recompiles, so for keys
  that change per step pass a key tensor instead.
- an int64 tensor ``[k0, k1, stream]`` (:func:`key_tensor`): a graph input, no recompiles.

Under ``torch.func.vmap`` with ``generator=None`` the key comes from torch's RNG, so vmap's
``randomness=`` applies: ``"error"`` (the default) raises, ``"different"`` gives every batch
element its own noise, ``"same"`` the same noise for each. With a given key every batch
element reads the noise that key gives it alone (``out[i] == f(x[i])``).

A ``torch.Generator`` is rejected: it is a Mersenne Twister (CPU) or a Philox offset
(CUDA) whose state is not exposed portably, so it cannot address the Philox streams that make
fastgumbel's noise identical on every backend, thread count and chunking.

Examples
--------
>>> import torch, fastgumbel as fg, fastgumbel.torch as fgt
>>> logits = torch.randn(4, 6, requires_grad=True)
>>> tau = torch.tensor(0.5, requires_grad=True)
>>> y = fgt.gumbel_softmax(logits, tau, hard=True, generator=fg.Key(0))
>>> y.sum(-1).tolist()
[1.0, 1.0, 1.0, 1.0]
>>> (y * torch.arange(6.0)).sum().backward()
>>> logits.grad.shape, tau.grad.shape
(torch.Size([4, 6]), torch.Size([]))
"""

import torch

from .. import _checks as chk
from . import _args, _autograd, _eager, _keys, _rao, _sample
from ._keys import Generator, default_rng, key_tensor
from ._sample_logits import sample_logits

__all__ = ["gumbel_softmax", "gumbel_max", "categorical", "sample_logits", "Generator",
           "default_rng", "key_tensor"]

_fwAD = torch.autograd.forward_ad


def _needs_autograd(logits, tau_t):
    """Whether a call must record autograd (reverse or forward mode); torch.func transforms
    are checked before."""
    if torch.is_grad_enabled() and (logits.requires_grad
                                    or (tau_t is not None and tau_t.requires_grad)):
        return True
    if not _autograd._forward_mode():          # no forward-mode level: no dual tensors
        return False
    return any(t is not None and _fwAD.unpack_dual(t).tangent is not None
               for t in (logits, tau_t))


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1, *, generator=None,
                   estimator="straight-through", samples=None):
    """Gumbel-Softmax sample ``softmax((logits + g) / tau)``, differentiable in logits and tau.

    A drop-in for :func:`torch.nn.functional.gumbel_softmax` (same positional order; ``eps``
    has no effect and warns when given, as in torch) by fastgumbel's fused kernel; the
    gradient is the analytic backward (no autograd graph through the softmax). The noise
    ``g`` is the field of the key (module docstring), the one :func:`fastgumbel.gumbel` reads.

    Parameters
    ----------
    logits : Tensor (CPU, CUDA or meta; float16, bfloat16, float32, float64)
        A 0-d tensor is one category (the sample is 1, as in torch).
    tau : float, NumPy scalar, or Tensor
        Temperature > 0: a number, a 0-d tensor of any real dtype, or a per-row tensor that
        broadcasts against ``logits`` with size 1 on ``dim`` (e.g. ``(B, 1)``) or without
        ``dim`` (e.g. ``(B,)``). A tensor that requires grad receives ``d loss / d tau``.
    hard : bool
        Straight-through: the forward value is the one-hot of the soft sample's argmax and
        the gradient is that of the soft sample. ``0``/``1`` and 0-d bool tensors work.
    eps : float
        Ignored, as in torch (deprecated there); a value other than 1e-10 warns.
    dim : int
        The category dimension (any integer-like value).
    generator : None, fastgumbel.torch.Generator, fastgumbel.Generator, Key, int or Tensor
        Source of the key; keyword only. See the module docstring (``None`` uses torch's
        global RNG).
    estimator : "straight-through" (default) or "gumbel-rao"
        The gradient of a ``hard=True`` sample. ``"gumbel-rao"`` (needs ``hard=True``): the
        same one-hot forward as with the same key; the backward for logits and tau is
        :func:`fastgumbel.gumbel_rao_backward` with that key and ``index`` the one-hot's
        category: the soft sample's vector-Jacobian product averaged over ``samples``
        conditional Gumbel samples (``docs/gumbel_rao.md``). Reverse mode only (no jvp,
        torch.func transforms or double backward); custom ops under ``torch.compile``. NaN
        or ``+inf`` logits give NaN gradients in their rows, an all ``-inf`` row zeros.
    samples : int
        Conditional samples per backward, required by ``"gumbel-rao"`` (in [1, 2**23)).

    Returns
    -------
    Tensor, shape and dtype of ``logits``

    Examples
    --------
    >>> import torch, fastgumbel as fg, fastgumbel.torch as fgt
    >>> x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    >>> y = fgt.gumbel_softmax(x, 0.5, generator=fg.Key(1))
    >>> g = torch.from_numpy(fg.gumbel(size=(2, 3), dtype="f8", rng=fg.Key(1)))   # same noise
    >>> torch.allclose(y, torch.softmax((x + g) / 0.5, -1))
    True
    >>> y[:, 0].sum().backward()
    >>> x.grad.shape
    torch.Size([2, 3])
    >>> tau = torch.tensor([[0.5], [2.0]], requires_grad=True)     # one temperature per row
    >>> fgt.gumbel_softmax(x.detach(), tau, generator=fg.Key(1))[:, 0].sum().backward()
    >>> tau.grad.shape
    torch.Size([2, 1])
    """
    if (out := _eager.gumbel_softmax(logits, tau, hard, eps, dim, generator, estimator,
                                     samples)) is not None:     # the common eager call
        return out
    _args.warn_eps(eps)
    dim = _args.logits_dim(logits, dim)
    hard = _args.hard_flag(hard)
    S = chk.estimator(estimator, hard, samples)
    if S is not None:
        return _gumbel_rao(logits, tau, dim, generator, S)
    if torch.compiler.is_compiling() or logits.is_cuda:
        return _traced_softmax(logits, tau, hard, dim, generator)
    if _autograd._transforms_active is None or _autograd._transforms_active():
        tau_t, value = _args.tau_args(tau, logits, dim, read=False)
        key = _keys.resolve(generator, True)
        out = _autograd.GumbelSoftmax.apply(logits, tau_t, key, hard, dim, value)
        return out[0] if hard else out
    tau_t, value = _args.tau_args(tau, logits, dim)
    key = _keys.resolve(generator, False)
    if _needs_autograd(logits, tau_t):
        out = _autograd.apply(_autograd.GumbelSoftmax, logits, tau_t, key, hard, dim, value)
        return out[0] if hard else out
    return _sample.forward(logits, value, key, hard, dim, False)[0]


def _gumbel_rao(logits, tau, dim, generator, samples):
    """``estimator="gumbel-rao"``: a custom op pair in traced code, else :mod:`._rao`."""
    if logits.is_cuda:
        raise TypeError("estimator='gumbel-rao' runs on CPU tensors only in this version "
                        f"(logits are on {logits.device}); use estimator='straight-through'"
                        " on CUDA")
    if torch.compiler.is_compiling():
        from . import _ops
        key = _keys.resolve(generator, True)
        return _ops.gumbel_softmax_rao(logits, _args.tau_graph(tau, logits, dim), key, dim,
                                       samples)
    if _autograd._transforms_active is not None and _autograd._transforms_active():
        raise TypeError("estimator='gumbel-rao' does not run under torch.func transforms "
                        "(grad, vjp, vmap, jvp, jacrev): its backward reads the tensors' "
                        "values on the host; use loss.backward() or torch.autograd.grad")
    tau_t, value = _args.tau_args(tau, logits, dim)
    return _rao.GumbelRao.apply(logits, tau_t, _keys.resolve(generator, False), dim, value,
                                samples)


def _traced_softmax(logits, tau, hard, dim, generator):
    from . import _ops
    tau_t = _args.tau_graph(tau, logits, dim)
    key = _key_tensor(generator, logits)
    if hard and (logits.requires_grad or tau_t.requires_grad):
        return _ops.gumbel_softmax_st(logits, tau_t, key, dim)[0]
    return _ops.gumbel_softmax(logits, tau_t, key, hard, dim)


def _key_tensor(generator, logits):
    """The key tensor of a traced call, or of a call on CUDA tensors (:mod:`._cuda_keys`)."""
    if logits.is_cuda:
        from . import _cuda_keys
        return _cuda_keys.resolve(generator, logits)
    return _keys.resolve(generator, True)


# ----------------------------------------------------------------------------------------
# discrete draws (not differentiable)


def categorical(logits, num_samples=None, dim=-1, generator=None):
    """Categorical draws with replacement from ``softmax(logits)`` along ``dim`` (int64).

    ``num_samples=None`` gives one draw per row (shape of ``logits`` without ``dim``), the
    same as :func:`gumbel_max`; an int ``n`` gives ``n`` draws per row along a new last
    dimension, equal to :func:`fastgumbel.categorical` with the same key. Integer-like
    ``num_samples`` and ``dim`` (NumPy integers, 0-d integer tensors) are accepted.

    Examples
    --------
    >>> import torch, fastgumbel.torch as fgt
    >>> d = fgt.categorical(torch.zeros(2, 5), 1000, generator=0)
    >>> d.shape, d.dtype, int(d.min()) >= 0, int(d.max()) <= 4
    (torch.Size([2, 1000]), torch.int64, True, True)
    """
    dim = _args.logits_dim(logits, dim)
    n = _args.count(num_samples, "num_samples")
    if torch.compiler.is_compiling() or logits.is_cuda:
        from . import _ops
        return _ops.categorical(logits.detach(), _key_tensor(generator, logits), n, dim)
    if _autograd._transforms_active is None or _autograd._transforms_active():
        return _autograd.Discrete.apply(logits, _keys.resolve(generator, True), n, dim)
    return _autograd.draws(logits, _keys.resolve(generator, False), n, dim)


def gumbel_max(logits, dim=-1, generator=None):
    """One categorical draw per row by the Gumbel-max trick, ``argmax(logits + g, dim)``.

    The index of a 0-d tensor is 0 (as ``torch.argmax``).

    Examples
    --------
    >>> import torch, fastgumbel as fg, fastgumbel.torch as fgt
    >>> x = torch.tensor([[0.0, 1.0, 2.0], [0.0, -float("inf"), -float("inf")]])
    >>> fgt.gumbel_max(x, generator=fg.Key(3))[1]
    tensor(0)
    """
    return categorical(logits, None, dim, generator)
