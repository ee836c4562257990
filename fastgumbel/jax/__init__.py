"""JAX bridge: Gumbel-Softmax, categorical draws and Gumbel noise with a JAX PRNG key.

``gumbel_softmax(key, logits, tau, hard, axis)``, ``categorical(key, logits, axis, shape,
replace, mode)`` (the arguments, shapes and layout of :func:`jax.random.categorical`),
``gumbel_max`` and ``gumbel(key, shape, dtype, mode)`` (of :func:`jax.random.gumbel`) run
the fused fastgumbel CPU kernels from inside XLA. They work eagerly and under ``jax.jit``,
``jax.vmap`` (batch keys, logits or tau with ``vmap``), ``jax.grad``, ``jax.jvp``,
``jax.jacfwd`` / ``jacrev`` (:func:`gumbel_softmax` is a ``jax.custom_jvp`` whose tangent
is jnp code on the sample, so reverse mode comes by transposition; see ``_softmax``).

Keys
----
Every JAX PRNG implementation is accepted, typed (``jax.random.key(seed, impl=...)``) or
raw (``jax.random.PRNGKey``, ``uint32[2]`` or ``uint32[4]``). The key's data words name the
fastgumbel key ``Key(seed=(d0 << 32) | d1, stream=s)``:

- threefry2x32 (two words ``d0, d1``): ``s = 0``. ``jax.random.key(k)`` has data
  ``(k >> 32, k & 0xFFFFFFFF)``, so it draws exactly the noise of ``fastgumbel.Key(k)`` and
  of ``rng=k`` in the NumPy-style API (seeds >= 2**32 need ``jax_enable_x64`` in JAX);
- rbg and unsafe_rbg (four words ``d0, d1, d2, d3``): ``s = d0 ^ d1 ^ d2 ^ d3``. A fresh
  rbg key ``jax.random.key(k, impl="rbg")`` has data ``(d0, d1, d0, d1)``, hence ``s = 0``
  and the noise of ``fastgumbel.Key(k)``, as with threefry.

Keys made by ``jax.random.split`` / ``fold_in`` name pseudo-random fastgumbel keys. Use a
fresh key for every draw, as with any JAX key. The noise is fastgumbel's stream
(``docs/rng.md``), not the values ``jax.random`` would draw from the same key.

``mode``
--------
``None``, ``"low"``, ``"high"`` or ``"highest"``, as in JAX. ``"low"`` (JAX's default,
unless ``jax_high_dynamic_range_gumbel`` is set) is fastgumbel's ``precision="default"``;
``"high"`` and ``"highest"`` are ``precision="high"`` (64-bit uniform words for float32 and
bfloat16 too: Gumbel values up to 45 instead of 22.9). float64 always uses 64-bit words.

Dtypes
------
bfloat16, float16, float32 and float64. bfloat16 is computed in float32 and rounded.
Indices have JAX's default integer dtype (int32 unless x64 is enabled).

Errors and values only known when the code runs
-----------------------------------------------
Arguments are checked when the function is traced and raise ``TypeError`` or ``ValueError``
naming the argument and its value: shapes, dtypes, ``axis``, ``hard``, ``replace``,
``mode``, and ``tau`` whenever its value is known (a Python or NumPy number or a concrete
array, also under ``jit`` when it is not an argument of the jitted function). Values only
known at run time never raise inside the host call; they give defined results:

- a traced ``tau`` that is not a positive normal number: the whole sample is NaN (a bad
  element of a per-row ``tau``: its rows);
- NaN logits: in ``gumbel_softmax`` the row is NaN; in ``categorical`` / ``gumbel_max``
  the index of the row's first NaN (as ``jnp.argmax(logits + g)`` in
  :func:`jax.random.categorical`); without replacement, -1 in every slot;
- ``+inf`` logits: ``gumbel_softmax`` gives a NaN row (softmax of ``inf - inf``),
  ``categorical`` the index of the first ``+inf`` (-1 slots without replacement);
- a row of all ``-inf``: ``gumbel_softmax`` gives zeros, ``categorical`` -1.

Host path
---------
The kernels are Numba CPU code, not XLA. On the CPU backend each call is a
``jax.experimental.buffer_callback``: XLA hands over its buffers and the kernel reads and
writes them in place (no copies, one host call per forward however many keys ``vmap``
batches: the host loops over the batch). Gradients need no further host call. On a GPU
backend the call falls back to ``jax.pure_callback`` (operands copied to the host and back).

Examples
--------
>>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
>>> logits = jnp.log(jnp.array([[0.6, 0.3, 0.1]]))
>>> y = fgj.gumbel_softmax(jax.random.key(0), logits, 0.5)
>>> y.shape, y.dtype, round(float(y.sum()), 5)
((1, 3), dtype('float32'), 1.0)
"""
from . import _args
from ._draws import categorical, gumbel, gumbel_max
from ._keys import key_words
from ._softmax import _gumbel_softmax, temperature

__all__ = ["gumbel_softmax", "categorical", "gumbel_max", "gumbel", "key_words"]


def gumbel_softmax(key, logits, tau=1.0, hard=False, axis=-1, *, mode=None):
    """Gumbel-Softmax sample ``softmax((logits + g) / tau)`` with the noise of a JAX key.

    Differentiable in ``logits`` and ``tau`` in forward and reverse mode (``jax.jvp``,
    ``jax.grad``, ``jacfwd``, ``jacrev``, higher orders), usable under ``jax.jit`` and
    ``jax.vmap``.

    Parameters
    ----------
    key : JAX PRNG key of any implementation, typed or raw
        See the package docstring for how it names the fastgumbel key.
    logits : array of bfloat16/float16/32/64
    tau : float or array
        Temperature > 0 (checked when its value is known; a bad traced tau gives NaN). A
        per-row temperature is an array constant along the categories: the logits' shape
        with size 1 along ``axis`` (``(B, 1)`` for ``(B, K)`` logits) or their shape without
        ``axis`` (``(B,)``), broadcasting; its gradient has its shape. A bad traced element
        makes its rows NaN.
    hard : bool (or a 0-d bool array)
        Straight-through: forward value one-hot of the soft sample's first maximum,
        derivatives of the soft sample.
    axis : int (or a 0-d integer array)
        The category axis.
    mode : None, "low", "high" or "highest"
        Bits per uniform, as for :func:`gumbel` (package docstring).

    Returns
    -------
    Array, shape and dtype of ``logits``

    Examples
    --------
    >>> import jax, jax.numpy as jnp, fastgumbel.jax as fgj
    >>> x = jnp.zeros((2, 4))
    >>> loss = lambda x, t: (fgj.gumbel_softmax(jax.random.key(1), x, t) ** 2).sum()
    >>> gx, gt = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, 0.5)
    >>> gx.shape, gt.shape
    ((2, 4), ())
    >>> h = fgj.gumbel_softmax(jax.random.key(1), x, 0.5, hard=True)
    >>> h.sum(-1).tolist()
    [1.0, 1.0]
    """
    words = key_words(key)
    x = _args.logits(logits)
    hard = _args.flag(hard, "hard")
    ax = _args.category_axis(x, axis)
    return _gumbel_softmax(words, x, temperature(tau, x, ax), hard, ax, _args.precision(mode))
