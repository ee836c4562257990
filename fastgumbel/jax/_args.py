"""Trace-time argument handling of the JAX bridge (the checks themselves are in _checks)."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks as chk

try:
    from jax.core import Tracer
except ImportError:     # a JAX that stops exporting it
    from jax._src.core import Tracer


def static(value, name):
    """A concrete 0-d JAX array (``jnp.bool_(True)``, ``jnp.int32(0)``) as a NumPy scalar.

    Arguments that fix shapes or the program (``hard``, ``axis``) cannot be traced."""
    if isinstance(value, Tracer):
        raise TypeError(f"{name} must be a static (Python or NumPy) value, not a traced array; "
                        f"got {value} (mark it static in jax.jit: static_argnames)")
    if isinstance(value, jax.Array) and value.ndim == 0:
        return np.asarray(value)[()]
    return value


def axis(value, ndim):
    return chk.axis_index(static(value, "axis"), ndim)


def category_axis(x, value):
    """The normalized category ``axis`` of ``x``, which must have categories if it has rows."""
    ax = axis(value, x.ndim)
    chk.categories(x.shape[ax], math.prod(x.shape[:ax] + x.shape[ax + 1:]), ax)
    return ax


def flag(value, name):
    return chk.flag(static(value, name), name)


def logits(value):
    """``value`` as a float JAX array with a category axis."""
    x = jnp.asarray(value)
    chk.bridge_float_dtype(x.dtype, "logits")
    chk.has_categories_axis(x.ndim)
    return x


def compute_dtype(dtype):
    """float64 for float64 data; float32 for float32, float16 and bfloat16."""
    return jnp.float64 if np.dtype(dtype) == np.float64 else jnp.float32


def host_float(a):
    """A host array of a float dtype the kernels take (bfloat16 -> float32)."""
    return a if a.dtype.kind == "f" else a.astype(np.float32)     # bfloat16: kind "V"


def is_traced(value):
    return isinstance(value, Tracer)


def precision(mode):
    """JAX's ``mode`` -> ``precision``; ``None`` follows ``jax_high_dynamic_range_gumbel``."""
    default = "high" if getattr(jax.config, "jax_high_dynamic_range_gumbel", False) else "low"
    return chk.jax_mode(mode, default)
