"""Keys of the torch bridge: :class:`Generator` (held by reference under ``torch.compile``),
:func:`default_rng`, :func:`key_tensor`, and the resolution of ``generator=``."""
import numbers
import threading

import torch

from .._generator import Generator as _Generator
from ..random import Key

try:    # recent torch: opaque reference objects, so that compiled graphs advance a Generator
    from torch._library.opaque_object import OpaqueBase, register_opaque_type
except ImportError:     # older torch: a plain subclass; compiled code breaks the graph for it
    OpaqueBase, register_opaque_type = object, None

#: True when a :class:`Generator` can be passed to a graph op (torch's opaque objects).
OPAQUE = register_opaque_type is not None


class Generator(_Generator, OpaqueBase):
    """A :class:`fastgumbel.Generator` that ``torch.compile`` passes to ops by reference.

    Under ``torch.compile`` each call of a compiled function advances it at run time (the
    key draw is the op ``torch.ops.fastgumbel.next_key``), exactly as in eager mode. It is
    also accepted by every NumPy-style function as ``rng=``. (On torch without opaque
    objects, compiled code draws its key outside the graph: a graph break.)

    Examples
    --------
    >>> import fastgumbel.torch as fgt
    >>> g = fgt.default_rng(5)
    >>> g.next_key()
    Key(seed=5, stream=0)
    """


if OPAQUE:
    try:
        register_opaque_type(Generator, typ="reference")
    except TypeError:   # a torch whose private API differs: the graph-break path
        OPAQUE = False


def default_rng(seed=None):
    """A :class:`Generator` from an int seed (``None``: OS entropy).

    Examples
    --------
    >>> import fastgumbel.torch as fgt
    >>> fgt.default_rng(1).seed
    1
    """
    return Generator(seed)


def key_tensor(key):
    """The int64 tensor ``[k0, k1, stream]`` of a :class:`fastgumbel.Key` (or an int seed).

    Pass it as ``generator=`` to use that key without making it a compile-time constant.

    Examples
    --------
    >>> import fastgumbel as fg, fastgumbel.torch as fgt
    >>> fgt.key_tensor(fg.Key(2**32 + 7, stream=3))
    tensor([7, 1, 3])
    """
    if not isinstance(key, Key):
        key = Key(key)
    return torch.tensor(key.words, dtype=torch.int64)


def words_of(key):
    """``(k0, k1, stream)`` of a key: words already, a :class:`fastgumbel.Key`, or a key
    tensor."""
    if isinstance(key, (tuple, list)):
        return key
    if isinstance(key, Key):
        return key.words
    return key.tolist()


def key_of(words):
    """The :class:`fastgumbel.Key` of key words."""
    k0, k1, stream = words_of(words)
    return Key(int(k0) | (int(k1) << 32), int(stream))


def _register_next_key():
    """The graph op that advances a :class:`Generator` (False where torch cannot take an
    opaque object as an op argument)."""
    def next_key(gen: Generator) -> torch.Tensor:
        return torch.tensor(gen.next_key().words, dtype=torch.int64)

    try:
        op = torch.library.custom_op("fastgumbel::next_key", mutates_args=(),
                                     tags=(torch.Tag.nondeterministic_seeded,))(next_key)
    except (TypeError, ValueError, RuntimeError):
        return False
    op.register_fake(lambda gen: torch.empty(3, dtype=torch.int64))
    return True


OPAQUE = OPAQUE and _register_next_key()


def _eager_next_key(gen):
    """The key of a Generator drawn outside the graph (torch without opaque objects)."""
    return torch.tensor(gen.next_key().words, dtype=torch.int64)


def _random_words():
    return torch.randint(0, 1 << 32, (3,), dtype=torch.int64)


_LOCAL = threading.local()      # a thread's buffer of eager key words (threads never share one)


def eager_words(generator):
    """The key words ``(k0, k1, stream)`` of an eager call. From torch's RNG they are the
    values ``torch.randint(0, 2**32, (3,))`` would give (the same draw, ``random_``, into a
    buffer kept per thread: half the cost of a new tensor)."""
    if generator is not None:
        return resolve(generator, False)
    buf = getattr(_LOCAL, "words", None)
    if buf is None:
        buf = _LOCAL.words = torch.empty(3, dtype=torch.int64)
    return buf.random_(0, 1 << 32).tolist()


def resolve(generator, as_tensor):
    """The key of ``generator``: its words ``(k0, k1, stream)`` (eager calls) or, with
    ``as_tensor`` (graph tracing and torch.func transforms), an int64 tensor of them."""
    if generator is None:   # torch's RNG: manual_seed applies; vmap's randomness= applies
        return _random_words() if as_tensor else eager_words(None)
    if isinstance(generator, torch.Tensor):
        if generator.shape != (3,) or generator.dtype not in (torch.int64, torch.int32):
            raise ValueError("a key tensor must be int64 [k0, k1, stream] of shape (3,) "
                             f"(see fastgumbel.torch.key_tensor); got {generator.dtype} "
                             f"of shape {tuple(generator.shape)}")
        return generator.to(torch.int64) if as_tensor else generator.tolist()
    if isinstance(generator, Generator) and torch.compiler.is_compiling():
        if OPAQUE:
            return torch.ops.fastgumbel.next_key(generator)
        return torch.compiler.disable(_eager_next_key)(generator)
    if isinstance(generator, _Generator):
        if torch.compiler.is_compiling():
            raise TypeError("a fastgumbel.Generator cannot be advanced inside torch.compile "
                            "(its state would be frozen into the graph); use "
                            "fastgumbel.torch.Generator / fastgumbel.torch.default_rng(seed)")
        key = generator.next_key()
    elif isinstance(generator, Key):
        key = generator
    elif isinstance(generator, torch.Generator):
        raise TypeError("generator is a torch.Generator, which cannot drive fastgumbel's "
                        "Philox streams portably (its state is a Mersenne Twister on the CPU "
                        "and an opaque Philox offset on CUDA); pass a fastgumbel.torch.Generator,"
                        " a fastgumbel.Key, an int seed, a key tensor, or None (torch's global "
                        "RNG draws the key, so torch.manual_seed applies)")
    elif isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        key = Key(int(generator))
    else:
        raise TypeError("generator must be None, a fastgumbel.torch.Generator, a fastgumbel."
                        f"Generator, a fastgumbel.Key, an int seed or a key tensor; got "
                        f"{generator!r}")
    return torch.tensor(key.words, dtype=torch.int64) if as_tensor else key.words
