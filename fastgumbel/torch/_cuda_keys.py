"""Keys of calls on CUDA tensors, safe under CUDA graph capture.

- ``generator=None``: the key words are drawn on the device by ``torch.randint`` (torch's
  CUDA generator: ``torch.manual_seed`` applies, and a captured graph gets fresh words on
  every replay through torch's own graph-safe Philox offsets).
- a Generator (:class:`fastgumbel.torch.Generator`, :class:`fastgumbel.Generator`; eager
  calls; under ``torch.compile`` the ``next_key`` op of ``._keys``): on CUDA it draws from a device-side counter, one per
  device: an int32 tensor ``[k0, k1, stream]`` of a child generator (``gen.spawn``, so its
  keys never meet the host's), made at the generator's first CUDA call; every call copies
  it as the call's key and adds 1 to its stream word, both device ops, so a captured graph
  advances it on each replay. Its first CUDA call must come before a capture (the usual
  warm-up), since filling the counter inside a graph would reset it on each replay.
- a fixed key (:class:`fastgumbel.Key`, an int seed, a key tensor): that key, every call
  and every replay; a CUDA key tensor is read on the device.
"""
import weakref

import torch

from .._generator import Generator as _Generator
from . import _keys

_COUNTERS = weakref.WeakKeyDictionary()     # Generator -> {device index: int32 tensor}


def _capturing():
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def counter(gen, device):
    """``(counter, step)``: the device-side key counter of ``gen`` on ``device`` (made on
    first use) and the int32 ``[0, 0, 1]`` added to it per call."""
    per = _COUNTERS.setdefault(gen, {})
    c = per.get(device.index)
    if c is None:
        if _capturing():
            raise RuntimeError("a fastgumbel Generator's first call on a CUDA device must come "
                               "before CUDA graph capture (run the step once eagerly to warm "
                               "it up, as torch's graph docs recommend)")
        k0, k1, _ = (w - (1 << 32) if w >= 1 << 31 else w     # int32 bits
                     for w in gen.spawn(1)[0].next_key().words)
        at = torch.arange(3, dtype=torch.int32, device=device)   # kernels, no H2D copy
        c = ((at == 0).to(torch.int32) * k0 + (at == 1).to(torch.int32) * k1,
             (at == 2).to(torch.int32))
        per[device.index] = c
    return c


def next_device_key(gen, device):
    """The next key of ``gen`` as an int32 device tensor; advances its device counter."""
    c, step = counter(gen, device)
    key = c.clone()
    c.add_(step)
    return key


def resolve(generator, logits):
    """The key tensor of a call on the CUDA tensor ``logits`` (eager or traced)."""
    if generator is None:
        return torch.randint(0, 1 << 32, (3,), dtype=torch.int64, device=logits.device)
    if isinstance(generator, _Generator) and not torch.compiler.is_compiling():
        return next_device_key(generator, logits.device)
    return _keys.resolve(generator, True)
