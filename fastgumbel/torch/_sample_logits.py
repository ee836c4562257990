"""``fastgumbel.torch.sample_logits``: token sampling on CPU torch tensors.

A thin wrapper: tensors become NumPy views (bfloat16 logits are widened to float32, exactly),
:func:`fastgumbel.sample_logits` runs, and the results come back as tensors. Sampling has no
gradient, so tensors that require grad are read detached. Re-exported as
:func:`fastgumbel.torch.sample_logits`.

Examples
--------
>>> import torch, fastgumbel as fg
>>> from fastgumbel.torch import sample_logits
>>> logits = torch.randn(3, 100, dtype=torch.bfloat16)
>>> ids, lp = sample_logits(logits, temperature=0.7, top_p=0.9,
...                         rng=torch.tensor([1, 2, 3]), positions=torch.tensor([0, 5, 9]),
...                         return_logprobs=True)
>>> ids.dtype, lp.dtype, tuple(ids.shape)
(torch.int64, torch.float32, (3,))
>>> bool((ids == sample_logits(logits.float(), temperature=0.7, top_p=0.9,
...                            rng=torch.tensor([1, 2, 3]),
...                            positions=torch.tensor([0, 5, 9]))).all())
True
"""
import numpy as np
import torch

from .. import _api
from ..random import Key

__all__ = ["sample_logits"]


def _host(t, name):
    """A NumPy view of a CPU tensor (bfloat16 widened); other values unchanged."""
    if not isinstance(t, torch.Tensor):
        return t
    if t.device.type != "cpu":
        raise TypeError(f"{name} is a tensor on {t.device}; fastgumbel.torch.sample_logits "
                        "runs on CPU tensors in this version (move it with .cpu())")
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def sample_logits(logits, *, temperature=1.0, top_k=None, top_p=None, min_p=None, dim=-1,
                  rng=None, positions=None, return_logprobs=False, out=None):
    """:func:`fastgumbel.sample_logits` on tensors: same arguments (``dim`` for ``axis``),
    each may be a CPU tensor; ``rng`` an int64 tensor of per-row seeds, or as in
    :func:`fastgumbel.sample_logits`; ``None`` draws one key from torch's global RNG (so
    ``torch.manual_seed`` makes runs reproducible). Returns int64 token ids (and float32
    log-probabilities, float64 for float64 logits); ``out``: an int64 tensor written in
    place."""
    if rng is None:
        rng = Key(int(torch.randint(0, 2**63 - 1, ())))
    target = None
    if out is not None:
        if not isinstance(out, torch.Tensor) or out.dtype != torch.int64:
            raise TypeError(f"out must be an int64 tensor; got {out!r:.60}")
        target = _host(out, "out")
    res = _api.sample_logits(
        _host(logits, "logits"), temperature=_host(temperature, "temperature"),
        top_k=_host(top_k, "top_k"), top_p=_host(top_p, "top_p"),
        min_p=_host(min_p, "min_p"), axis=dim, rng=_host(rng, "rng"),
        positions=_host(positions, "positions"), return_logprobs=return_logprobs,
        out=target)
    if not return_logprobs:
        return out if out is not None else torch.from_numpy(np.asarray(res))
    ids, lp = res
    return (out if out is not None else torch.from_numpy(np.asarray(ids)),
            torch.from_numpy(np.asarray(lp)))
