"""The NumPy-style public functions: signatures, docstrings, and one routing decorator.

Each function states its contract and hands the call to the core (:mod:`fastgumbel._core`,
:mod:`fastgumbel._discrete`, :mod:`fastgumbel._creation`); :func:`routed` first sends calls
with device, DLPack or Dask arrays where they are served (:mod:`fastgumbel._route`).

Noise contract (stream spec v1, ``docs/rng.md``): for a key and the input viewed with the
sampling axis moved last and flattened to ``(rows, K)``, element ``(r, c)`` always reads
the same Gumbel variate. So ``gumbel_max(x, rng=k)`` is ``argmax(x + gumbel(size=x.shape,
rng=k))`` and the hard sample is the one-hot of the soft sample's argmax.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import _checks as chk
from . import _core, _creation, _discrete, _route, _sampling

__all__ = ["routed", "uniform", "gumbel", "gumbel_softmax", "gumbel_log_softmax", "gumbel_max",
           "categorical", "multinomial", "gumbel_topk", "sample_logits"]


def routed(f=None, *, dask=True, fast=None):
    """Make ``f`` serve every array kind: one scan of the arguments (:func:`_route.scan`);
    plain NumPy calls go straight to ``f``. ``dask=False``: the function has no lazy form
    (a Dask argument is read as an array, i.e. computed).

    ``fast``: a function of ``f``'s signature that serves the common NumPy call (the
    core's fast paths) or returns ``None``, run before the scan: it accepts only NumPy
    arrays and plain values (what the scan leaves to ``f``) and has no side effects when
    it returns ``None``. The public function then has ``f``'s own signature
    (:func:`_with_signature`), so a call with wrong arguments raises the ``TypeError`` that
    names it."""
    if f is None:
        return functools.partial(routed, dask=dask, fast=fast)
    sig = inspect.signature(f)

    def general(*args, **kwargs):
        kind = _route.scan(args, kwargs)
        if kind is None or (kind == _route.DASK and not dask):
            return f(*args, **kwargs)
        if kind == _route.DASK:
            return _route.dask_function(f.__name__)(*args, **kwargs)
        if kind == _route.DLPACK:       # the call again on NumPy views: the fast path first
            return _route.call_dlpack(public, sig.bind(*args, **kwargs))
        return _route.call_device(f, public, sig.bind(*args, **kwargs))

    public = general
    if fast is not None:
        if inspect.signature(fast) != sig:
            raise TypeError(f"the fast path of {f.__name__} must have its signature {sig}")
        public = _with_signature(f, fast, general)
    return functools.wraps(f)(public)


def _with_signature(f, fast, general):
    """``fast(...)``, else ``general(...)``, as a function with ``f``'s parameters (written
    out, so that the arguments are passed on by name, not packed into ``*args, **kwargs``
    and unpacked twice: 0.3-0.4 us of an 8x16 call). Made by ``exec`` in ``f``'s module
    (doctest finds it there); the defaults are ``f``'s objects."""
    params = inspect.signature(f).parameters.values()
    if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params):
        raise TypeError(f"routed(fast=) takes plain and keyword-only parameters; {f.__name__} "
                        "has others")
    defaults = {f"_d_{p.name}": p.default for p in params if p.default is not p.empty}
    head, call, star = [], [], False
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star:
            head.append("*")
            star = True
        head.append(p.name + (f"=_d_{p.name}" if p.default is not p.empty else ""))
        call.append(p.name if p.kind is p.POSITIONAL_OR_KEYWORD else f"{p.name}={p.name}")
    src = (f"def _make(fast, general, {', '.join(defaults)}):\n"
           f"    def {f.__name__}({', '.join(head)}):\n"
           f"        res = fast({', '.join(call)})\n"
           f"        return res if res is not None else general({', '.join(call)})\n"
           f"    return {f.__name__}\n")
    made = {}
    exec(src, f.__globals__, made)     # noqa: S102 (the source is built from f's names)
    return made["_make"](fast, general, **defaults)


# The fast paths (``routed(fast=)``): the common NumPy call of the sampler below each.


def _softmax_fast(logits, tau=1.0, *, hard=False, axis=-1, rng=None, out=None,
                  precision="default", backend="auto"):
    if type(hard) is bool:
        return _core.softmax_fast(logits, tau, _core.HARD if hard else _core.SOFT, axis, rng,
                                  out, precision, backend)
    return None


def _log_softmax_fast(logits, tau=1.0, *, axis=-1, rng=None, out=None, precision="default",
                      backend="auto"):
    return _core.softmax_fast(logits, tau, _core.LOG, axis, rng, out, precision, backend)


def _gumbel_max_fast(logits, *, axis=-1, rng=None, out=None, precision="default",
                     backend="auto"):
    return _core.gumbel_max_fast(logits, axis, rng, out, precision, backend)


@routed
def uniform(low=0.0, high=1.0, size=None, *, dtype=np.float32, rng=None, like=None, out=None,
            precision="default", backend="auto"):
    """Uniform samples on ``[low, high)``; for the default ``(0, 1)`` the open interval.

    NumPy's argument order (``numpy.random.Generator.uniform(low, high, size)``). For
    ``low=0, high=1`` element ``c`` of row ``r`` (``size`` flattened to rows of its last
    dimension) is the uniform of stream spec v1: never exactly 0 or 1, relative precision
    down to 2**-33 near 0 (float32), largest value ``1 - 2**-24``. Other bounds take the
    same uniform ``u`` (same key, same element) to ``low + (high - low) * u``, computed in
    float64 and rounded once to ``dtype``; a value that rounds up to ``high`` is replaced
    by the largest ``dtype`` number below it, so ``low <= x < high`` always holds (bounds
    rounded to ``dtype``), as NumPy documents. ``low == high`` gives ``low``.

    Parameters
    ----------
    low, high : float or array_like of floats
        Bounds, broadcast as in NumPy; ``high - low`` must be finite (else
        ``OverflowError``) and >= 0 (else ``ValueError``).
    size : int or tuple of ints, optional
        Output shape. ``None``: the broadcast shape of ``low`` and ``high`` (one scalar for
        scalar bounds), or ``out.shape`` when ``out`` is given. Given, the bounds must
        broadcast to it.
    dtype : {numpy.float32, numpy.float64, numpy.float16}
    rng : None, int, Generator, Key or numpy.random.Generator
        See :mod:`fastgumbel.random`.
    like : array, optional
        Array whose type the result takes: NumPy, a CPU array with ``__dlpack__``
        (torch, JAX; zero-copy, see :mod:`fastgumbel._route`), a CUDA device array
        (CuPy, Numba; see ``docs/gpu.md``), or a Dask array (lazy).
    out : numpy.ndarray, CPU torch tensor or CUDA device array, optional
        Written in place; its dtype is used.
    precision : {"default", "high"}
        "high" uses 64 random bits per element (always the case for float64).
    backend : {"auto", "cpu", "numba-cuda", "cupy"}
        "auto" follows the arrays: CUDA device arrays run on a GPU backend, NumPy on the
        CPU. A GPU backend named for NumPy input copies the data over and back.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> u = fg.uniform(size=(2, 3), rng=0)
    >>> u.shape, u.dtype, bool(((0 < u) & (u < 1)).all())
    ((2, 3), dtype('float32'), True)
    >>> v = fg.uniform([0.0, 10.0], [1.0, 20.0], size=(1000, 2), dtype=np.float64, rng=0)
    >>> bool((v[:, 1] >= 10).all() and (v[:, 1] < 20).all())
    True
    """
    return _creation.uniform(low, high, size, dtype, rng, like, out, precision, backend)


@routed
def gumbel(loc=0.0, scale=1.0, size=None, *, dtype=np.float32, rng=None, like=None, out=None,
           precision="default", backend="auto"):
    """Gumbel (type I extreme value) samples: ``loc + scale * g`` with g standard Gumbel.

    NumPy's argument order (``numpy.random.Generator.gumbel(loc, scale, size)``). Every
    value is finite. The float32 transform keeps relative precision in both tails: g
    reaches 22.87 (float32) or 45.05 (float64, and ``precision="high"``), where the naive
    ``-log(-log(u))`` on a 24-bit uniform stops near 16.6.

    Parameters
    ----------
    loc, scale : float or array_like of floats
        Location (finite) and scale (finite, > 0; NumPy also takes 0), broadcast as in
        NumPy. Scalars are applied in the kernel, arrays after it (in float64).
    size : int or tuple of ints, optional
        Output shape. ``None``: the broadcast shape of ``loc`` and ``scale`` (one scalar
        for scalar parameters), or ``out.shape`` when ``out`` is given. Given, the
        parameters must broadcast to it.
    dtype, rng, like, out, precision, backend
        As for :func:`uniform`.

    Returns
    -------
    ndarray or scalar

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> g = fg.gumbel(0, 1, 100_000, rng=1)
    >>> g.shape, round(float(g.mean()), 1)   # Euler-Mascheroni constant 0.577...
    ((100000,), 0.6)
    >>> fg.gumbel([0.0, 5.0], 2.0, rng=1).shape    # size None: the parameters' shape
    (2,)
    >>> x = np.array([0.0, 1.0, 2.0], np.float32)
    >>> int(fg.gumbel_max(x, rng=5)) == int(np.argmax(x + fg.gumbel(size=3, rng=5)))
    True
    """
    return _creation.gumbel(loc, scale, size, dtype, rng, like, out, precision, backend)


@routed(fast=_softmax_fast)
def gumbel_softmax(logits, tau=1.0, *, hard=False, axis=-1, rng=None, out=None,
                   precision="default", backend="auto"):
    """Sample the Gumbel-Softmax (Concrete) distribution: ``softmax((logits + g) / tau)``.

    Parameters
    ----------
    logits : array_like of float16/32/64
        Unnormalized log-probabilities; ``-inf`` masks a category (probability exactly 0).
    tau : float or array_like
        Temperature, finite and > 0. Small tau approaches one-hot samples. A per-row
        temperature is an array constant along ``axis``: either with size 1 there (torch's
        ``(B, 1)`` for ``(B, K)`` logits) or without that axis (TFP's batch shape ``(B,)``),
        broadcasting to the logits' rows. Row r gives the bits of the scalar call with its
        own tau (the same noise).
    hard : bool
        Return the one-hot of the soft sample's argmax instead (the forward value of the
        straight-through estimator; pair it with :func:`gumbel_softmax_backward`).
    axis : int
        The category axis.
    rng, out, precision, backend
        As for :func:`uniform`; ``out`` must have the shape and dtype of ``logits``.

    Returns
    -------
    ndarray, same shape and dtype as ``logits``
        Rows sum to 1. A row with a NaN logit is all NaN; a row whose logits are all
        ``-inf`` is all 0. A ``+inf`` logit raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.2]], np.float32))
    >>> y = fg.gumbel_softmax(x, 0.5, rng=fg.Key(0))
    >>> float(y.sum()).__round__(5)
    1.0
    >>> h = fg.gumbel_softmax(x, 0.5, hard=True, rng=fg.Key(0))
    >>> int(h.argmax()) == int(y.argmax()), float(h.sum())
    (True, 1.0)
    """
    mode = _core.softmax_mode(hard)     # the common call took the fast path (routed)
    return _core.softmax_general(logits, tau, mode, axis, rng, out, precision, backend)


@routed(fast=_log_softmax_fast)
def gumbel_log_softmax(logits, tau=1.0, *, axis=-1, rng=None, out=None, precision="default",
                       backend="auto"):
    """Log of the Gumbel-Softmax sample, ``log_softmax((logits + g) / tau)``, computed directly.

    Accurate where the soft sample underflows to 0 (large logit gaps or small tau). A row
    whose logits are all ``-inf`` is all ``-inf``; NaN rows are NaN. ``tau`` may be per row,
    as for :func:`gumbel_softmax`.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.array([0.0, -200.0])
    >>> ly = fg.gumbel_log_softmax(x, 0.1, rng=3)
    >>> bool(np.isfinite(ly).all()), float(np.exp(ly).sum())
    (True, 1.0)
    """
    return _core.softmax_general(logits, tau, _core.LOG, axis, rng, out, precision, backend)


@routed(fast=_gumbel_max_fast)
def gumbel_max(logits, *, axis=-1, rng=None, out=None, precision="default", backend="auto"):
    """One categorical draw per row by the Gumbel-max trick: ``argmax(logits + g)``.

    Returns
    -------
    ndarray of int64, shape of ``logits`` without ``axis``
        The first maximum wins a tie. A row whose logits are all ``-inf`` gives -1. NaN or
        ``+inf`` logits raise ``ValueError``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, 0.0]])
    >>> fg.gumbel_max(x, rng=0)[1]    # -inf logits are masked categories
    np.int64(2)
    """
    return _discrete.gumbel_max_general(logits, axis, rng, out, precision, backend)


@routed
def categorical(logits, n=None, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto", draw_chunks=None):
    """Categorical draws with replacement from ``softmax(logits)`` along ``axis``.

    Parameters
    ----------
    n : int or None
        ``None``: one draw per row (for ``method="gumbel"``, identical to
        :func:`gumbel_max`). An int: ``n`` draws per row, returned along a new last axis.
    method : {"gumbel", "inverse_cdf", "auto"}
        Three exact samplers of the same distribution, each a fixed function of the key:

        - ``"gumbel"`` (the reference): draw ``d`` of row ``r`` is the Gumbel-max of noise
          row ``r * n + d``; ``n * K`` Gumbel variates per row.
        - ``"inverse_cdf"``: the row's CDF is built once in float64 (masked ``-inf``
          categories have probability exactly 0 and are never drawn); draw ``j`` is the
          smallest ``i`` with ``U_j < cdf[i]``, ``U_j`` the float64 uniform of the row's draw
          field (``docs/rng.md``), found through a guide table in O(1) expected steps.
          Costs ``K`` exponentials per row plus a few operations per draw; ``precision``
          does not apply (always 64-bit uniforms and a float64 CDF).
        - ``"auto"``: ``"inverse_cdf"`` when its cost ``3 K + 2 n`` is below ``n K``
          (about ``n >= 4``), else ``"gumbel"``. See :func:`fastgumbel._discrete.choose_method`.
    draw_chunks : int, "auto" or None
        Dask input only: draws per task (the ``n`` draws of a row are split over tasks;
        ``None`` / ``"auto"``: sized by the method). The result does not depend on it; a
        NumPy input computes all draws here and only checks the value.

    Returns
    -------
    ndarray of int64, shape ``lead`` or ``lead + (n,)`` where ``lead`` is ``logits.shape``
    without ``axis``. Rows whose logits are all ``-inf`` give -1; NaN or ``+inf`` logits
    raise ``ValueError``.

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> d = fg.categorical(np.zeros((2, 5)), 1000, rng=0)
    >>> d.shape, int(d.min()) >= 0, int(d.max()) <= 4
    ((2, 1000), True, True)
    >>> x = np.array([0.0, -np.inf, 0.0])      # the middle category is masked
    >>> d = fg.categorical(x, 100_000, rng=1, method="inverse_cdf")
    >>> np.bincount(d, minlength=3)[1], abs(float(d.mean()) - 1.0) < 0.01
    (np.int64(0), True)
    """
    chk.draw_chunks(draw_chunks)
    return _discrete.categorical(logits, n, axis, rng, method, precision, backend)


@routed
def multinomial(logits, n, *, axis=-1, rng=None, method="gumbel", precision="default",
                backend="auto", draw_chunks=None):
    """Counts of ``n`` categorical draws per row, without building the draws.

    For ``"gumbel"`` and ``"inverse_cdf"`` the counts are exactly the histogram of
    ``categorical(logits, n, rng=key, method=method)``, computed by fused counting: no
    index array is allocated, and the draws of a row are counted by several threads when
    there are fewer rows than threads. ``"binomial"`` draws the counts directly, by
    sequential conditional binomials (``c_i ~ Binomial(n - c_0 - ... - c_{i-1},
    p_i / (p_i + ... + p_{K-1}))``, each by inversion from its mode with one float64 uniform
    of the row's binomial field, ``docs/rng.md``): its cost grows like ``sqrt(n K)``, not
    ``n``, so it serves ``n`` in the billions. ``"auto"`` picks the cheapest by the cost
    model of :func:`fastgumbel._discrete.choose_method` (``counts=True``). The default, ``"gumbel"``, is the
    reference semantics (stream spec v1). A row whose logits are all ``-inf`` has zero
    counts.

    Parameters
    ----------
    n : int
        Draws per row (at most ``2**31`` per row for ``"inverse_cdf"``).
    method : {"gumbel", "inverse_cdf", "binomial", "auto"}
    draw_chunks : int, "auto" or None
        Dask input only: draws per task, as for :func:`categorical` (the counts of the
        tasks add up; ``"binomial"`` is one task per row block, its cost does not grow
        with ``n``).

    Returns
    -------
    ndarray of int64, same shape as ``logits``

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> c = fg.multinomial(np.log([0.5, 0.25, 0.25]), 1000, rng=0)
    >>> int(c.sum()), c.shape
    (1000, (3,))
    >>> c = fg.multinomial(np.log([0.5, 0.25, 0.25]), 10**12, rng=0, method="auto")
    >>> int(c.sum()), [round(v / 1e12, 4) for v in c.tolist()]   # by conditional binomials
    (1000000000000, [0.5, 0.25, 0.25])
    """
    chk.draw_chunks(draw_chunks)
    return _discrete.multinomial(logits, n, axis, rng, method, precision, backend)


@routed
def gumbel_topk(logits, k, *, axis=-1, rng=None, precision="default", backend="auto"):
    """``k`` draws without replacement per row: the top-k of ``logits + g``, best first.

    ``result[..., 0]`` equals :func:`gumbel_max` for the same key (same noise field).
    Partial selection: a size-k heap behind a threshold test, whole chunks skipped when
    their maximum does not beat the k-th best, and a long row split over threads when
    there are fewer rows than threads. Masked (``-inf``) categories are never drawn; if a
    row has fewer than ``k`` unmasked categories the remaining slots are -1.

    Returns
    -------
    ndarray of int64, shape ``lead + (k,)``

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> t = fg.gumbel_topk(np.zeros(10), 4, rng=0)
    >>> len(set(t.tolist())) == 4
    True
    """
    return _discrete.gumbel_topk(logits, k, axis, rng, precision, backend)


@routed(dask=False)
def sample_logits(logits, *, temperature=1.0, top_k=None, top_p=None, min_p=None, axis=-1,
                  rng=None, positions=None, return_logprobs=False, out=None):
    """Sample one token per row of ``logits`` as a language-model server does.

    ``p = softmax(logits / temperature)`` per row, then the filters (each off by default):
    ``top_k`` keeps the tokens with fewer than k strictly larger ``p``; ``top_p`` then keeps,
    in the renormalized top-k distribution, the tokens whose strictly larger kept tokens hold
    less than ``top_p`` of the mass; ``min_p`` keeps ``p_i >= min_p * max p``; ties are kept
    together. The token is the first argmax over kept tokens of ``logits / temperature + g``
    (exact sampling); temperature 0 is greedy. Thresholds by bisection, no sort.

    Parameters
    ----------
    logits : array_like, float16/32/64 (bfloat16 as a torch tensor or an ml_dtypes array)
    temperature, top_k, top_p, min_p : scalars or arrays of the batch shape
        temperature >= 0; top_k int >= 0 (0 or None: off); top_p in (0, 1] (1 or None:
        off); min_p in [0, 1] (0 or None: off).
    axis : int
    rng : None, int, Generator, Key, numpy.random.Generator, or per-row keys
        One key: row ``r`` reads noise row ``r`` (or ``positions[r]``): with no filter,
        ``gumbel_max(x / t, rng=key)``. Per-row keys (seeds with the batch shape, or a
        sequence of :class:`fastgumbel.Key`): row ``r`` reads noise row ``positions[r]``
        (or 0) of its own key, whatever the batch (docs/rng.md, "Per-row keys").
    positions : int array of the batch shape, optional (e.g. the token's sequence index)
    return_logprobs : bool
        Also return each token's log-probability in the filtered, renormalized
        distribution (0 for greedy rows), float32 (float64 for float64 logits).
    out : ndarray of int64 with the batch shape, optional

    Returns
    -------
    ids : int64 array of the batch shape (-1 for an all ``-inf`` row); with
        ``return_logprobs=True`` a pair ``(ids, logprobs)``

    Examples
    --------
    >>> import numpy as np, fastgumbel as fg
    >>> x = np.log(np.array([[0.5, 0.3, 0.1, 0.1]], np.float32))
    >>> ids, lp = fg.sample_logits(x, top_k=2, rng=np.array([7]), return_logprobs=True)
    >>> bool(np.isclose(lp[0], np.log([0.5 / 0.8, 0.3 / 0.8])[ids[0]]))
    True
    >>> int(fg.sample_logits(x, temperature=0.0)[0])
    0
    """
    return _sampling.sample_logits(logits, temperature, top_k, top_p, min_p, axis, rng,
                                   positions, return_logprobs, out)
