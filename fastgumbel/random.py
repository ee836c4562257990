"""Counter-based random streams: :class:`Key`, :class:`KeySource`, :func:`philox4x32_10`.

A :class:`Key` is an immutable ``(seed, stream)`` pair. Every sampling function turns a key
into noise through Philox4x32-10 with a fixed counter layout (stream spec v1,
``docs/rng.md``), so the same key gives the same samples on every backend, for every
thread count and every chunking. A :class:`KeySource` is the stateful convenience: it
hands out a fresh key (the next stream of its seed) for every call that draws from it.
:class:`fastgumbel.Generator` (``fastgumbel.default_rng(seed)``) is a key source with the
methods of :class:`numpy.random.Generator`; it lives with the public functions it calls
(``fastgumbel/_generator.py``).

The ``rng=`` argument of every function accepts (SPEC 7):

- ``None``: the module's default key source (seeded from OS entropy, reseeded in a forked
  child process);
- an ``int`` seed: ``Key(seed, 0)``, so the call is replayable;
- a :class:`fastgumbel.Generator` (any :class:`KeySource`): its next key (it advances);
- a :class:`Key`: used as is (the call is replayable);
- a :class:`numpy.random.Generator`: a 64-bit seed is drawn from it, stream 0.
"""
from __future__ import annotations

import numbers
import os
import secrets
import threading

import numpy as np


__all__ = ["Key", "KeySource", "resolve_key", "philox4x32_10", "STREAM_SPEC_VERSION"]

#: Version of the counter layout and transforms documented in ``docs/rng.md``.
STREAM_SPEC_VERSION = 1

_SEED_LIMIT = 1 << 64
_STREAM_LIMIT = 1 << 32


def _check_seed(seed, name="seed"):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {seed!r} "
                        f"of type {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < _SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {seed}")
    return seed


class Key:
    """Immutable ``(seed, stream)`` naming one noise field; pure: same key, same samples.

    Parameters
    ----------
    seed : int
        64-bit seed in ``[0, 2**64)``; it becomes the Philox key ``(seed_lo, seed_hi)``.
    stream : int, optional
        32-bit stream id in ``[0, 2**32)``; it takes counter word 1.

    Examples
    --------
    >>> import fastgumbel as fg
    >>> k = fg.Key(42)
    >>> k
    Key(seed=42, stream=0)
    >>> bool((fg.gumbel(size=3, rng=k) == fg.gumbel(size=3, rng=k)).all())
    True
    """

    __slots__ = ("_seed", "_stream", "_kernel_words")

    def __init__(self, seed, stream=0):
        # Python ints in range (the common call, and every key a KeySource hands out) are
        # decided by type: isinstance(., numbers.Integral) alone costs half a microsecond;
        # the limits are literals (folded to constants: no global lookups)
        if not (type(seed) is int and type(stream) is int and 0 <= seed < (1 << 64)
                and 0 <= stream < (1 << 32)):
            seed = _check_seed(seed)
            if isinstance(stream, (bool, np.bool_)) or not isinstance(stream, numbers.Integral):
                raise TypeError(f"stream must be an integer in [0, 2**32), got {stream!r}")
            if not 0 <= int(stream) < _STREAM_LIMIT:
                raise ValueError(f"stream must be an integer in [0, 2**32), got {stream}")
            stream = int(stream)
        self._seed, self._stream, self._kernel_words = seed, stream, None

    @property
    def seed(self):
        return self._seed

    @property
    def stream(self):
        return self._stream

    @property
    def words(self):
        """``(k0, k1, stream)``: the Philox key words and the stream word, as Python ints."""
        return self._seed & 0xFFFFFFFF, self._seed >> 32, self._stream

    def kernel_words(self):
        """:attr:`words` as ``numpy.uint64`` scalars, the kernels' argument type (made once
        per key: a replayed key skips the conversions)."""
        kw = self._kernel_words
        if kw is None:
            kw = self._kernel_words = tuple(np.uint64(w) for w in self.words)
        return kw

    def __eq__(self, other):
        return isinstance(other, Key) and (self._seed, self._stream) == (other._seed, other._stream)

    def __hash__(self):
        return hash((Key, self._seed, self._stream))

    def __repr__(self):
        return f"Key(seed={self._seed}, stream={self._stream})"

    def __reduce__(self):
        return (Key, (self._seed, self._stream))


class KeySource:
    """Stateful source of keys: ``next_key()`` returns ``Key(seed, 0)``, ``Key(seed, 1)``, ...

    The base of :class:`fastgumbel.Generator` (which adds NumPy's drawing methods) and of
    ``fastgumbel.torch.Generator``; every subclass is accepted as ``rng=``.

    Thread-safe: concurrent calls never receive the same stream. A seed gives 2**32
    streams; asking for more raises ``OverflowError`` (use :meth:`spawn` for more).

    Parameters
    ----------
    seed : int or None
        64-bit seed; ``None`` draws one from the OS entropy pool.

    Examples
    --------
    >>> import fastgumbel as fg
    >>> rng = fg.default_rng(7)
    >>> rng.next_key(), rng.next_key()
    (Key(seed=7, stream=0), Key(seed=7, stream=1))
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        KEY_TYPES.add(cls)

    def __init__(self, seed=None):
        self._seed = secrets.randbits(64) if seed is None else _check_seed(seed)
        self._next = 0
        self._spawned = 0
        self._lock = threading.Lock()

    @property
    def seed(self):
        return self._seed

    @property
    def streams_used(self):
        """How many keys this generator has handed out."""
        return self._next

    def next_key(self):
        """Return the next unused :class:`Key` and advance."""
        lock = self._lock
        lock.acquire()          # not `with`: its __enter__ / __exit__ calls cost ~0.1 us more
        try:
            stream = self._next
            if stream >= _STREAM_LIMIT:
                raise OverflowError(f"{type(self).__name__}(seed={self._seed}) has used all 2**32 streams; "
                                    "create a new generator or use spawn()")
            self._next = stream + 1
        finally:
            lock.release()
        return Key(self._seed, stream)

    def spawn(self, n):
        """Return ``n`` child generators with independent seeds (for workers).

        Child ``i`` of the ``j``-th spawn call is seeded with two Philox words of counter
        ``(i, j, 0xFFFFFFFF, 0xFFFFFFFF)`` under this generator's key: a region of the
        counter space no sampling call uses (rows stop far below 2**64 - 1).
        """
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        with self._lock:
            j = self._spawned
            self._spawned = j + 1
        if n == 0:
            return []
        k0, k1 = self._seed & 0xFFFFFFFF, self._seed >> 32
        ctr = np.zeros((int(n), 4), dtype=np.uint32)
        ctr[:, 0] = np.arange(n, dtype=np.uint64).astype(np.uint32)
        ctr[:, 1] = j & 0xFFFFFFFF
        ctr[:, 2:] = 0xFFFFFFFF
        out = philox4x32_10(ctr, np.array([k0, k1], dtype=np.uint32))
        seeds = out[:, 0].astype(np.uint64) | (out[:, 1].astype(np.uint64) << np.uint64(32))
        return [type(self)(int(s)) for s in seeds]

    def __repr__(self):
        return f"{type(self).__name__}(seed={self._seed}, streams_used={self._next})"


#: The exact types that name keys (``type(rng) in KEY_TYPES``: the routers' plain types);
#: every :class:`KeySource` subclass adds itself.
KEY_TYPES = {Key, KeySource}


_default = KeySource()


def _reseed_after_fork():
    global _default
    _default = KeySource()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def resolve_key(rng, name="rng"):
    """Turn any accepted ``rng=`` value into a :class:`Key` (advancing a Generator)."""
    if type(rng) is Key:
        return rng
    if rng is None:
        return _default.next_key()
    if isinstance(rng, KeySource):
        return rng.next_key()
    if type(rng) is int and 0 <= rng < _SEED_LIMIT:    # a seed; the general checks below
        return Key(rng, 0)
    if isinstance(rng, Key):
        return rng
    if isinstance(rng, np.random.Generator):
        return Key(int(rng.integers(0, _SEED_LIMIT, dtype=np.uint64)), 0)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        return Key(_check_seed(rng, name), 0)
    raise TypeError(f"{name} must be None, an int seed, a fastgumbel.Generator, a fastgumbel.Key "
                    f"or a numpy.random.Generator; got {rng!r} of type {type(rng).__name__}")


# ----------------------------------------------------------------------------------------
# Public, vectorized Philox4x32-10 (NumPy; the reference the kernels are tested against).

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def _as_words(a, name, last):
    arr = np.asarray(a)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{name} must be an integer array of uint32 words, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != last:
        raise ValueError(f"{name} must have shape (..., {last}), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 0xFFFFFFFF):
        raise ValueError(f"{name} words must lie in [0, 2**32)")
    return arr.astype(np.uint64)


def philox4x32_10(counter, key):
    """Philox4x32-10 block function (Random123), vectorized over leading dimensions.

    Parameters
    ----------
    counter : array_like of uint32, shape (..., 4)
    key : array_like of uint32, shape (..., 2)
        Broadcast against ``counter``'s leading dimensions.

    Returns
    -------
    ndarray of uint32, shape (..., 4)

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> out = fg.random.philox4x32_10(np.zeros(4, np.uint32), np.zeros(2, np.uint32))
    >>> [hex(int(v)) for v in out]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c = _as_words(counter, "counter", 4)
    k = _as_words(key, "key", 2)
    shape = np.broadcast_shapes(c.shape[:-1], k.shape[:-1])
    c = np.broadcast_to(c, shape + (4,))
    k = np.broadcast_to(k, shape + (2,))
    c0, c1, c2, c3 = (c[..., i].copy() for i in range(4))
    k0, k1 = k[..., 0].copy(), k[..., 1].copy()
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)
