"""The body of :func:`fastgumbel.sample_logits`: serving-style token sampling.

Same layer as :mod:`fastgumbel._core` (its rows, allocation and error helpers). Each row
``r`` reads noise row ``nrow[r]`` of key ``key[r]`` (stream spec v1 with the per-row
addition of ``docs/rng.md``):

- one key (``rng`` as everywhere else): ``key[r]`` is that key, ``nrow[r] = r`` (so with no
  filter the call is ``gumbel_max(x / t, rng=key)``), or ``positions[r]`` when given;
- per-row keys (an integer array of seeds with the batch shape: ``Key(seed, 0)`` each; or a
  sequence of :class:`fastgumbel.Key`; a list of ints is an array of seeds): ``key[r]`` is row r's, ``nrow[r] = positions[r]``,
  or 0 without positions. A row's token then depends on its key, position and logits only.
"""
from __future__ import annotations

import numpy as np

from . import _backends
from . import _checks as chk
from ._core import Rows, alloc, host_only, key_args, raise_bad_rows
from .random import Key, resolve_key


def per_row(rng):
    """Is ``rng`` a per-row key argument (an array or a sequence) rather than one key?"""
    return isinstance(rng, (np.ndarray, list, tuple))


def row_keys(rng, lead, rows, positions):
    """(k0, k1, stream, noise row) per row, uint64 arrays of length ``rows``."""
    pos = None if positions is None else chk.row_integers(positions, lead, "positions")
    if per_row(rng):
        if isinstance(rng, np.ndarray) or not any(isinstance(k, Key) for k in rng):  # seeds
            seeds = chk.row_integers(rng, lead, "rng")
            k0 = seeds & np.uint64(0xFFFFFFFF)
            k1 = seeds >> np.uint64(32)
            stream = np.zeros(rows, np.uint64)
        else:
            chk.key_sequence(rng, rows)
            for k in rng:
                if not isinstance(k, Key):
                    raise TypeError("rng as a sequence of keys must hold only fastgumbel.Key "
                                    "objects; got "
                                    f"{type(k).__name__} {k!r}")
            k0, k1, stream = np.array([k.words for k in rng], np.uint64).reshape(rows, 3).T
        nrow = np.zeros(rows, np.uint64) if pos is None else pos
        return (np.ascontiguousarray(k0), np.ascontiguousarray(k1),
                np.ascontiguousarray(stream), nrow)
    words = key_args(resolve_key(rng))
    nrow = np.arange(rows, dtype=np.uint64) if pos is None else pos
    return tuple(np.full(rows, w, np.uint64) for w in words) + (nrow,)


def sample_logits(logits, temperature, top_k, top_p, min_p, axis, rng, positions,
                  return_logprobs, out):
    """Token ids (and log-probabilities) per row; see :func:`fastgumbel.sample_logits`."""
    host_only(logits, rng, positions, temperature, top_k, top_p, min_p)
    logits = chk.widen_bfloat16(logits)
    mod = _backends.cpu()
    rows = Rows(logits, axis, mod)
    rows.require_categories()
    want = chk.flag(return_logprobs, "return_logprobs")
    lead = rows.lead
    params = [chk.sampling_param(v, lead, name) for v, name in
              ((temperature, "temperature"), (top_k, "top_k"), (top_p, "top_p"),
               (min_p, "min_p"))]
    if not per_row(rng):
        chk.noise_rows(rows.rows, 1)
    i64 = np.dtype(np.int64)
    target = None if out is None else chk.out_array(out, lead, i64)[..., None]
    buf, finish = alloc(target, lead + (1,), None, i64, i64, (rows.x,))
    keys = row_keys(rng, lead, rows.rows, positions)
    logp = np.empty(rows.rows if want else 0, np.float64)
    if rows.rows:
        raise_bad_rows(*mod.sample_rows(rows.x, *params, *keys, rows.x.dtype == np.float64,
                                        buf.reshape(-1), logp))
    res = finish()
    ids = res.reshape(lead) if out is None else out
    if not want:
        return ids
    return ids, logp.astype(rows.cdtype).reshape(lead)
