"""JAX PRNG keys -> fastgumbel keys (see the package docstring for the mapping)."""
import jax
import jax.numpy as jnp
import numpy as np

from ..random import Key


def key_data(key):
    """The ``uint32`` data words of one typed or raw JAX key, checked at trace time."""
    if isinstance(key, (jax.Array, np.ndarray)) and \
            jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.ndim:
            raise ValueError(f"key must be one JAX PRNG key; got a batch of keys of shape "
                             f"{key.shape} (batch keys with jax.vmap)")
        data = jax.random.key_data(key)
        impl = str(jax.random.key_impl(key))
    elif isinstance(key, (jax.Array, np.ndarray)):
        data, impl = jnp.asarray(key), "raw"
    else:
        raise TypeError(f"key must be a JAX PRNG key (jax.random.key or jax.random.PRNGKey); "
                        f"got {key!r}")
    if data.dtype != jnp.uint32 or data.shape not in ((2,), (4,)):
        raise ValueError(f"key must be one JAX PRNG key with 2 (threefry2x32) or 4 (rbg, "
                         f"unsafe_rbg) uint32 data words; got {impl} key data of dtype "
                         f"{data.dtype} and shape {data.shape} (batch keys with jax.vmap)")
    return data


def key_words(key):
    """``uint32[3]``: the fastgumbel key's seed words ``(hi, lo)`` and its stream (traceable).

    Two data words ``(d0, d1)``: ``(d0, d1, 0)``. Four data words ``(d0, d1, d2, d3)``:
    ``(d0, d1, d0 ^ d1 ^ d2 ^ d3)``.

    Examples
    --------
    >>> import jax, fastgumbel.jax as fgj
    >>> fgj.key_words(jax.random.key(5)).tolist()
    [0, 5, 0]
    >>> fgj.key_words(jax.random.key(5, impl="rbg")).tolist()     # data (0, 5, 0, 5)
    [0, 5, 0]
    >>> with jax.enable_x64(True):
    ...     fgj.key_words(jax.random.key(2**32 + 5)).tolist()
    [1, 5, 0]
    """
    d = key_data(key)
    if d.shape == (2,):
        return jnp.concatenate([d, jnp.zeros(1, jnp.uint32)])
    return jnp.stack([d[0], d[1], d[0] ^ d[1] ^ d[2] ^ d[3]])


def fg_key(words):
    """The fastgumbel :class:`~fastgumbel.Key` of ``key_words`` (host side)."""
    w = np.asarray(words)
    return Key((int(w[0]) << 32) | int(w[1]), int(w[2]))
