"""Host calls from XLA: ``buffer_callback`` on the CPU, ``pure_callback`` elsewhere.

On the CPU backend :func:`jax.experimental.buffer_callback.buffer_callback` hands the host
function XLA's own buffers: the operands are read and the results written in place through
NumPy views, with no copy either way. On other backends (a GPU) the buffers live on the
device, so :func:`jax.pure_callback` stages them through the host instead.

``command_buffer_compatible`` stays off: it would let a GPU command buffer replay the
Python callback's first run instead of calling it, which a random draw must not do.

Both use ``vmap_method="broadcast_all"``: a vmapped call reaches the host once, every
operand carrying the same leading batch dimensions (the key words first), and the host runs
the body once per batch element.
"""
import jax
import numpy as np

try:
    from jax.experimental.buffer_callback import buffer_callback
except ImportError:     # JAX < 0.7: copies through pure_callback
    buffer_callback = None


def _batched(body, outs, args):
    """Run ``body(outs, *args)`` once per leading batch element (``args[0]``: key words)."""
    lead = args[0].shape[:-1]
    if not lead:
        body(outs, *args)
        return
    n = int(np.prod(lead))
    flat_o = [o.reshape((n,) + o.shape[len(lead):]) for o in outs]
    flat_a = [a.reshape((n,) + a.shape[len(lead):]) for a in args]
    for i in range(n):
        body([o[i] for o in flat_o], *(a[i] for a in flat_a))


def _via_buffers(body, specs):
    def host(ctx, outs, *args):
        del ctx
        _batched(body, [np.asarray(o) for o in outs], [np.asarray(a) for a in args])
    return buffer_callback(host, list(specs), vmap_method="broadcast_all")


def _via_copies(body, specs):
    def host(*args):
        args = [np.asarray(a) for a in args]
        lead = args[0].shape[:-1]
        outs = [np.empty(lead + tuple(s.shape), s.dtype) for s in specs]
        _batched(body, outs, args)
        return outs
    return lambda *a: jax.pure_callback(host, list(specs), *a, vmap_method="broadcast_all")


def host_call(body, specs, *args):
    """Results of ``body(outs, words, *rest)``, which fills the NumPy arrays ``outs``.

    ``specs``: ``jax.ShapeDtypeStruct`` per result (unbatched shapes). ``args[0]`` are the
    key words (``uint32[3]``). Returns a list of arrays.
    """
    use_buffers = buffer_callback is not None and jax.default_backend() == "cpu"
    call = (_via_buffers if use_buffers else _via_copies)(body, specs)
    return call(*args)
