"""PyTorch bridge: differentiable Gumbel-Softmax, Gumbel-max and categorical draws on tensors.

``fastgumbel.torch.gumbel_softmax`` is a drop-in for ``torch.nn.functional.gumbel_softmax``
that runs the fused fastgumbel kernels, takes a temperature tensor that requires grad, and
returns gradients from the analytic backward kernel (:func:`fastgumbel.gumbel_softmax_backward`).
The operations are ``torch.library`` custom ops (``torch.ops.fastgumbel.*``) with an autograd
formula and a fake (meta) implementation, so they work under ``torch.compile(fullgraph=True)``.
Tensors cross into NumPy and back through shared memory (no copies); CPU tensors only in this
version (float16, float32, float64).

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
import contextlib
import numbers

import numpy as np
import torch
from torch._library.opaque_object import register_opaque_type
from torch._opaque_base import OpaqueBase

from . import _api, _backends
from . import _checks as chk
from .random import Generator as _Generator
from .random import Key

__all__ = ["gumbel_softmax", "gumbel_max", "categorical", "Generator", "default_rng",
           "key_tensor"]

_NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


class Generator(_Generator, OpaqueBase):
    """A :class:`fastgumbel.Generator` that ``torch.compile`` passes to ops by reference.

    Under ``torch.compile`` each call of a compiled function advances it at run time (the
    key draw is the op ``torch.ops.fastgumbel.next_key``), exactly as in eager mode. It is
    also accepted by every NumPy-style function as ``rng=``.

    Examples
    --------
    >>> import fastgumbel.torch as fgt
    >>> g = fgt.default_rng(5)
    >>> g.next_key()
    Key(seed=5, stream=0)
    """


register_opaque_type(Generator, typ="reference")


def default_rng(seed=None):
    """A :class:`Generator` from an int seed (``None``: OS entropy).

    Examples
    --------
    >>> import fastgumbel.torch as fgt
    >>> fgt.default_rng(1).seed
    1
    """
    return Generator(seed)


def key_tensor(key):
    """The int64 tensor ``[k0, k1, stream]`` of a :class:`fastgumbel.Key` (or an int seed).

    Pass it as ``generator=`` to use that key without making it a compile-time constant.

    Examples
    --------
    >>> import fastgumbel as fg, fastgumbel.torch as fgt
    >>> fgt.key_tensor(fg.Key(2**32 + 7, stream=3))
    tensor([7, 1, 3])
    """
    if not isinstance(key, Key):
        key = Key(key)
    return torch.tensor(key.words, dtype=torch.int64)


def _key_of(t):
    """The :class:`fastgumbel.Key` of a key tensor (inside the ops)."""
    k0, k1, stream = (int(v) for v in t.tolist())
    return Key(k0 | (k1 << 32), stream)


@torch.library.custom_op("fastgumbel::next_key", mutates_args=(),
                         tags=(torch.Tag.nondeterministic_seeded,))
def _next_key(gen: Generator) -> torch.Tensor:
    return torch.tensor(gen.next_key().words, dtype=torch.int64)


@_next_key.register_fake
def _(gen):
    return torch.empty(3, dtype=torch.int64)


def _resolve(generator):
    if generator is None:
        return torch.randint(0, 1 << 32, (3,), dtype=torch.int64)
    if isinstance(generator, torch.Tensor):
        if generator.shape != (3,) or generator.dtype not in (torch.int64, torch.int32):
            raise ValueError("a key tensor must be int64 [k0, k1, stream] of shape (3,) "
                             f"(see fastgumbel.torch.key_tensor); got {generator.dtype} "
                             f"of shape {tuple(generator.shape)}")
        return generator.to(torch.int64)
    if isinstance(generator, Generator):
        if torch.compiler.is_compiling():
            return torch.ops.fastgumbel.next_key(generator)
        return torch.tensor(generator.next_key().words, dtype=torch.int64)
    if isinstance(generator, _Generator):
        if torch.compiler.is_compiling():
            raise TypeError("a fastgumbel.Generator cannot be advanced inside torch.compile "
                            "(its state would be frozen into the graph); use "
                            "fastgumbel.torch.Generator / fastgumbel.torch.default_rng(seed)")
        return torch.tensor(generator.next_key().words, dtype=torch.int64)
    if isinstance(generator, Key):
        return torch.tensor(generator.words, dtype=torch.int64)
    if isinstance(generator, torch.Generator):
        raise TypeError("generator is a torch.Generator, which cannot drive fastgumbel's "
                        "Philox streams portably (its state is a Mersenne Twister on the CPU "
                        "and an opaque Philox offset on CUDA); pass a fastgumbel.torch.Generator,"
                        " a fastgumbel.Key, an int seed, a key tensor, or None (torch's global "
                        "RNG draws the key, so torch.manual_seed applies)")
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return torch.tensor(Key(int(generator)).words, dtype=torch.int64)
    raise TypeError("generator must be None, a fastgumbel.torch.Generator, a fastgumbel."
                    f"Generator, a fastgumbel.Key, an int seed or a key tensor; got {generator!r}")


def _check_logits(logits, dim):
    """Check ``logits`` and ``dim`` as the NumPy-style API checks them; the dim, normalized."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor; got {type(logits).__name__}")
    if logits.dtype not in _NUMPY_DTYPES:
        raise TypeError(f"logits must be a float16, float32 or float64 array; got dtype "
                        f"{logits.dtype} (convert with .float())")
    if logits.device.type != "cpu":
        raise TypeError(f"logits is on device {logits.device}; fastgumbel.torch runs on CPU "
                        "tensors (use a CPU tensor)")
    chk.has_categories_axis(logits.dim())
    return chk.axis_index(dim, logits.dim(), "dim")


def _np(t):
    return t.detach().numpy()


# ----------------------------------------------------------------------------------------
# gumbel_softmax: forward op, backward op, autograd


def _torch_threads():
    """The CPU kernels run with at most ``torch.get_num_threads()`` threads."""
    n = torch.get_num_threads()
    if n >= _backends.get_num_threads():
        return contextlib.nullcontext()
    return _backends.threads(max(n, 1))


@torch.library.custom_op("fastgumbel::gumbel_softmax", mutates_args=())
def _gumbel_softmax(logits: torch.Tensor, tau: torch.Tensor, key: torch.Tensor, hard: bool,
                    dim: int) -> torch.Tensor:
    out = torch.empty_like(logits, memory_format=torch.contiguous_format)
    with _torch_threads():
        _api.gumbel_softmax(_np(logits), float(tau), hard=hard, axis=dim, rng=_key_of(key),
                            out=out.numpy())
    return out


@_gumbel_softmax.register_fake
def _(logits, tau, key, hard, dim):
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


@torch.library.custom_op("fastgumbel::gumbel_softmax_backward", mutates_args=())
def _gumbel_softmax_backward(grad: torch.Tensor, saved: torch.Tensor, tau: torch.Tensor,
                             key: torch.Tensor, recompute: bool,
                             dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    with _torch_threads():
        if recompute:   # saved holds the logits: the kernel regenerates the soft sample
            gl, gt = _api.gumbel_softmax_backward(_np(grad), float(tau), logits=_np(saved),
                                                  rng=_key_of(key), axis=dim)
        else:
            gl, gt = _api.gumbel_softmax_backward(_np(grad), float(tau), y_soft=_np(saved),
                                                  axis=dim)
    return (torch.from_numpy(np.ascontiguousarray(gl)),
            torch.tensor(float(gt), dtype=tau.dtype))


@_gumbel_softmax_backward.register_fake
def _(grad, saved, tau, key, recompute, dim):
    return (torch.empty(saved.shape, dtype=saved.dtype),
            torch.empty((), dtype=tau.dtype))


def _setup_context(ctx, inputs, output):
    logits, tau, key, hard, dim = inputs
    ctx.hard, ctx.dim = hard, dim
    # soft: keep the sample; hard: keep the logits and regenerate the soft sample
    ctx.save_for_backward(logits if hard else output, tau, key)


def _backward(ctx, grad):
    saved, tau, key = ctx.saved_tensors
    gl, gt = torch.ops.fastgumbel.gumbel_softmax_backward(grad, saved, tau, key, ctx.hard,
                                                          ctx.dim)
    return gl, (gt if ctx.needs_input_grad[1] else None), None, None, None


_gumbel_softmax.register_autograd(_backward, setup_context=_setup_context)


def gumbel_softmax(logits, tau=1.0, hard=False, dim=-1, generator=None, *, eps=1e-10):
    """Gumbel-Softmax sample ``softmax((logits + g) / tau)``, differentiable in logits and tau.

    A drop-in for :func:`torch.nn.functional.gumbel_softmax`, computed by fastgumbel's fused
    kernel; the gradient comes from the analytic backward kernel (no autograd graph through
    the softmax). The noise ``g`` is the field of the key (see the module docstring), the
    same field :func:`fastgumbel.gumbel` reads.

    Parameters
    ----------
    logits : Tensor (CPU, float16/32/64)
    tau : float or 0-d Tensor
        Temperature > 0; a tensor that requires grad receives ``d loss / d tau``.
    hard : bool
        Straight-through: the forward value is the one-hot of the soft sample's argmax and
        the gradient is that of the soft sample.
    dim : int
        The category dimension.
    generator : None, fastgumbel.torch.Generator, fastgumbel.Generator, Key, int or Tensor
        Source of the key; see the module docstring (``None`` uses torch's global RNG).
    eps : float
        Ignored (deprecated in torch as well); accepted for drop-in compatibility.

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
    """
    dim = _check_logits(logits, dim)
    hard = chk.flag(hard, "hard")
    if isinstance(tau, torch.Tensor):
        if tau.numel() != 1:
            raise TypeError(f"tau must be a scalar; got a tensor of shape {tuple(tau.shape)}")
        if not tau.is_floating_point():
            raise TypeError(f"tau must be a floating-point tensor; got {tau.dtype}")
        t = tau.reshape(())
    elif isinstance(tau, numbers.Real) and not isinstance(tau, bool):
        t = torch.tensor(float(tau), dtype=torch.float64)
    else:
        raise TypeError(f"tau must be a positive real number or a 0-d tensor; got {tau!r}")
    key = _resolve(generator)
    return torch.ops.fastgumbel.gumbel_softmax(logits, t, key, hard, dim)


# ----------------------------------------------------------------------------------------
# discrete draws (not differentiable)


def _lead_shape(shape, dim):
    d = dim % len(shape)
    return tuple(shape[:d]) + tuple(shape[d + 1:])


@torch.library.custom_op("fastgumbel::categorical", mutates_args=())
def _categorical(logits: torch.Tensor, key: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    x = _np(logits)
    with _torch_threads():
        if n < 0:
            res = _api.gumbel_max(x, axis=dim, rng=_key_of(key))
        else:
            res = _api.categorical(x, n, axis=dim, rng=_key_of(key))
    return torch.from_numpy(np.ascontiguousarray(res))


@_categorical.register_fake
def _(logits, key, n, dim):
    lead = _lead_shape(logits.shape, dim)
    return logits.new_empty(lead + ((n,) if n >= 0 else ()), dtype=torch.int64)


def categorical(logits, num_samples=None, dim=-1, generator=None):
    """Categorical draws with replacement from ``softmax(logits)`` along ``dim`` (int64).

    ``num_samples=None`` gives one draw per row (shape of ``logits`` without ``dim``), the
    same as :func:`gumbel_max`; an int ``n`` gives ``n`` draws per row along a new last
    dimension, equal to :func:`fastgumbel.categorical` with the same key.

    Examples
    --------
    >>> import torch, fastgumbel.torch as fgt
    >>> d = fgt.categorical(torch.zeros(2, 5), 1000, generator=0)
    >>> d.shape, d.dtype, int(d.min()) >= 0, int(d.max()) <= 4
    (torch.Size([2, 1000]), torch.int64, True, True)
    """
    dim = _check_logits(logits, dim)
    n = chk.count(num_samples, "num_samples", allow_none=True)
    n = -1 if n is None else n
    return torch.ops.fastgumbel.categorical(logits.detach(), _resolve(generator), n, dim)


def gumbel_max(logits, dim=-1, generator=None):
    """One categorical draw per row by the Gumbel-max trick, ``argmax(logits + g, dim)``.

    Examples
    --------
    >>> import torch, fastgumbel as fg, fastgumbel.torch as fgt
    >>> x = torch.tensor([[0.0, 1.0, 2.0], [0.0, -float("inf"), -float("inf")]])
    >>> fgt.gumbel_max(x, generator=fg.Key(3))[1]
    tensor(0)
    """
    return categorical(logits, None, dim, generator)
