"""``fastgumbel.Generator``: a key source (:class:`fastgumbel.random.KeySource`) with the
methods of :class:`numpy.random.Generator` (``random``, ``uniform``, ``gumbel``,
``exponential``, ``standard_exponential``, ``choice``), NumPy's signatures and float64
defaults, so ``fastgumbel.default_rng(seed)`` stands in for ``numpy.random.default_rng(seed)``.
Each method call takes one key (the generator advances by one stream) and runs the public
functions of :mod:`fastgumbel._api`."""
from __future__ import annotations

import math

import numpy as np

from . import _api
from . import _checks
from .random import KeySource

__all__ = ["Generator", "default_rng"]


class Generator(KeySource):
    """A :class:`~fastgumbel.random.KeySource` (``seed``, thread-safe ``next_key()``,
    ``spawn``) with the drawing methods of :class:`numpy.random.Generator`; each method
    call takes the next key.

    Examples
    --------
    >>> import fastgumbel as fg
    >>> type(fg.default_rng(7).spawn(1)[0]).__name__      # children keep the methods
    'Generator'
    """

    def random(self, size=None, dtype=np.float64, out=None):
        """Uniforms on the open interval (0, 1), as ``numpy.random.Generator.random``
        (whose interval is [0, 1)): :func:`fastgumbel.uniform` with this generator's next key.

        ``dtype`` is float32 or float64; ``out`` an ndarray of that dtype, C-contiguous.
        ``size=None`` (without ``out``) gives a Python float, as NumPy does.

        Examples
        --------
        >>> import fastgumbel as fg
        >>> rng = fg.default_rng(0)
        >>> u = rng.random((2, 3))
        >>> u.shape, u.dtype, type(rng.random()).__name__
        ((2, 3), dtype('float64'), 'float')
        """
        dt = _checks.generator_dtype(dtype, "random")
        if out is not None:
            _checks.generator_out(out, size, dt)
        res = _api.uniform(size=size, dtype=dt, rng=self.next_key(), out=out)
        return _numpy_result(res, size, out)

    def uniform(self, low=0.0, high=1.0, size=None):
        """Uniforms on ``[low, high)``, float64, as ``numpy.random.Generator.uniform``:
        :func:`fastgumbel.uniform` (the open interval for the default bounds).

        Examples
        --------
        >>> import fastgumbel as fg
        >>> x = fg.default_rng(0).uniform(-1.0, [1.0, 2.0, 3.0], size=(4, 3))
        >>> x.shape, bool((x >= -1).all() and (x < [1.0, 2.0, 3.0]).all())
        ((4, 3), True)
        """
        res = _api.uniform(low, high, size, dtype=np.float64, rng=self.next_key())
        return _numpy_result(res, size)

    def gumbel(self, loc=0.0, scale=1.0, size=None):
        """Gumbel samples ``loc + scale * g``, float64, as ``numpy.random.Generator.gumbel``:
        :func:`fastgumbel.gumbel` (``scale`` must be > 0; NumPy also takes 0).

        Examples
        --------
        >>> import fastgumbel as fg
        >>> g = fg.default_rng(0).gumbel(0, 1, 1000)
        >>> g.shape, g.dtype
        ((1000,), dtype('float64'))
        """
        res = _api.gumbel(loc, scale, size, dtype=np.float64, rng=self.next_key())
        return _numpy_result(res, size)

    def standard_exponential(self, size=None, dtype=np.float64, method="zig", out=None):
        """Standard exponential samples, as ``numpy.random.Generator.standard_exponential``.

        A derived stream (``docs/rng.md``): ``E = exp(-g)`` with ``g`` the float64 Gumbel
        noise of the key (:func:`fastgumbel.gumbel`, 64-bit words), computed in float64 and
        rounded once to ``dtype``; since ``g = -log(-log U)``, ``E`` is ``-log U``: an
        exponential by inversion, positive and finite. ``method`` is accepted for
        compatibility (NumPy: "zig", the default, or else inversion) and changes nothing.

        Examples
        --------
        >>> import fastgumbel as fg
        >>> e = fg.default_rng(0).standard_exponential(100_000, dtype="float32")
        >>> e.dtype, bool((e > 0).all()), round(float(e.mean()), 1)
        (dtype('float32'), True, 1.0)
        """
        dt = _checks.generator_dtype(dtype, "standard_exponential")
        if out is not None:
            _checks.generator_out(out, size, dt)
            size = out.shape
        e = _exponential(self.next_key(), size, dt)
        if out is None:
            return _numpy_result(e, size)
        np.copyto(out, e)
        return out

    def exponential(self, scale=1.0, size=None):
        """Exponential samples of mean ``scale``, float64, as
        ``numpy.random.Generator.exponential``: ``scale`` times :meth:`standard_exponential`
        (``scale`` must be > 0; NumPy also takes 0).

        Examples
        --------
        >>> import fastgumbel as fg
        >>> fg.default_rng(0).exponential([1.0, 10.0], size=(5, 2)).shape
        (5, 2)
        """
        _, scale_a = _checks.gumbel_params(0.0, scale)
        shape = size if not scale_a.ndim else _checks.params_shape(size, None, scale=scale_a)
        res = scale_a * _exponential(self.next_key(), shape, np.float64)
        return _numpy_result(res, size)

    def choice(self, a, size=None, replace=True, p=None, axis=0, shuffle=True):
        """Random sample from ``a``, as ``numpy.random.Generator.choice``.

        Draws go through the package's samplers with one key: with replacement,
        :func:`fastgumbel.categorical` (``method="auto"``) of the logits ``log(p)`` (zeros
        when ``p`` is None; ``p = 0`` items are masked and never drawn); without
        replacement, :func:`fastgumbel.gumbel_topk` of the same logits, whose order is that
        of successive draws without replacement (already shuffled: ``shuffle`` is accepted
        and changes nothing). Memory and time grow with the population (``O(len(a) +
        size)``), not only with ``size``.

        Parameters
        ----------
        a : int or array_like
            An int (or 0-d array) ``n``: items ``range(n)``. An array: items along ``axis``.
        size : int or tuple of ints, optional
            ``None``: one item (a Python int for an int ``a``).
        replace : bool
        p : array_like of floats, optional
            1-D, one probability per item, >= 0, summing to 1 (within ``sqrt(eps)``).
        axis : int
        shuffle : bool

        Examples
        --------
        >>> import numpy as np, fastgumbel as fg
        >>> rng = fg.default_rng(0)
        >>> d = rng.choice(5, 1000, p=[0.1, 0.0, 0.2, 0.3, 0.4])
        >>> d.shape, int((d == 1).sum())
        ((1000,), 0)
        >>> sorted(rng.choice(10, 10, replace=False).tolist()) == list(range(10))
        True
        >>> rng.choice(np.arange(12).reshape(3, 4), 2, axis=1).shape
        (3, 2)
        """
        shape = _checks.size_shape(size)
        n = math.prod(shape)
        pop, arr, ax = _checks.choice_population(a, axis, n)
        probs = None if p is None else _checks.choice_p(p, pop)
        _checks.choice_count(n, pop, probs, bool(replace))
        key = self.next_key()
        idx = _choice_indices(key, pop, n, probs, bool(replace))
        idx = idx[0] if size is None else idx.reshape(shape)
        if arr is None:
            return int(idx) if size is None else idx
        return np.take(arr, idx, axis=ax)


def _numpy_result(res, size, out=None):
    """NumPy's result kinds: a Python float for one draw with ``size=None``, an array
    (0-d for ``size=()``) otherwise."""
    if out is not None or not isinstance(res, (np.ndarray, np.generic)) or res.ndim:
        return res
    return float(res) if size is None else np.asarray(res)


def _exponential(key, size, dtype):
    """``exp(-g)``, ``g`` the float64 Gumbel noise of ``key``, rounded once to ``dtype``."""
    g = _api.gumbel(size=size, dtype=np.float64, rng=key)
    if not isinstance(g, np.ndarray):
        return np.exp(-g).astype(dtype)
    np.negative(g, out=g)
    # computed in float64 and rounded once into the result
    return np.exp(g, out=g if dtype == np.float64 else np.empty(g.shape, dtype),
                  casting="same_kind")


def _choice_indices(key, pop, n, probs, replace):
    """``n`` int64 item indices out of ``range(pop)`` drawn with ``key``."""
    if n == 0:
        return np.empty(0, np.int64)
    if probs is None:
        logits = np.zeros(pop)
    else:
        with np.errstate(divide="ignore"):
            logits = np.log(probs)
    if replace:
        return _api.categorical(logits, n, rng=key, method="auto")
    return _api.gumbel_topk(logits, n, rng=key)


def default_rng(seed=None):
    """Return a :class:`Generator`: from an int seed, from OS entropy (``None``), or as is.

    Examples
    --------
    >>> import fastgumbel as fg
    >>> fg.default_rng(3).seed
    3
    """
    if isinstance(seed, Generator):
        return seed
    return Generator(seed)
