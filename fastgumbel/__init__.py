"""fastgumbel: fast, exact Gumbel sampling with counter-based random streams.

The NumPy-style API (all functions take ``rng=``; see :mod:`fastgumbel.random`):

- noise: :func:`uniform`, :func:`gumbel`
- relaxed samples: :func:`gumbel_softmax` (soft or hard), :func:`gumbel_log_softmax`
- discrete samples: :func:`gumbel_max`, :func:`categorical`, :func:`multinomial`,
  :func:`gumbel_topk`
- serving: :func:`sample_logits` (temperature, top-k, top-p, min-p, per-row keys)
- gradients and density: :func:`gumbel_softmax_backward`, :func:`concrete_log_prob`
- lower-variance gradients: :func:`conditional_gumbel`, :func:`gumbel_rao_backward`
- CPU threads: :func:`threads` (a context manager), :func:`set_num_threads`,
  :func:`get_num_threads`
- GPU results: :func:`gpu_checks` (opt-in check for NaN / +inf rows; docs/gpu.md)
"""
from . import random
from ._api import (categorical, gumbel, gumbel_log_softmax, gumbel_max, gumbel_softmax,
                   gumbel_topk, multinomial, sample_logits, uniform)
from ._api_grad import (concrete_log_prob, conditional_gumbel, gumbel_rao_backward,
                        gumbel_softmax_backward)
from ._backends import get_num_threads, set_num_threads, threads
from ._generator import Generator, default_rng
from ._gpu_state import gpu_checks, gpu_checks_enabled
from .random import Key

__version__ = "0.1.0"

__all__ = ["Generator", "Key", "default_rng", "random", "uniform", "gumbel", "gumbel_softmax",
           "gumbel_log_softmax", "gumbel_max", "categorical", "multinomial", "gumbel_topk",
           "gumbel_softmax_backward", "concrete_log_prob", "conditional_gumbel",
           "gumbel_rao_backward", "sample_logits", "threads", "set_num_threads",
           "get_num_threads", "gpu_checks", "gpu_checks_enabled", "__version__"]
