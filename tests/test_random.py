"""Philox known answers, the stream layout, Key/Generator semantics and rng= resolution."""
import threading

import numpy as np
import pytest

import fastgumbel as fg
from conftest import philox_scalar, ref_uniform32, ref_words, ref_gumbel

# Random123 kat_vectors, philox4x32 10: counter, key -> output
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers(ctr, key, expected):
    assert philox_scalar(ctr, key) == list(expected)
    out = fg.random.philox4x32_10(np.array(ctr, np.uint32), np.array(key, np.uint32))
    assert out.dtype == np.uint32
    assert out.tolist() == list(expected)


def test_philox_vectorized_matches_scalar():
    rs = np.random.default_rng()
    ctr = rs.integers(0, 2**32, size=(50, 4), dtype=np.uint64).astype(np.uint32)
    key = rs.integers(0, 2**32, size=(50, 2), dtype=np.uint64).astype(np.uint32)
    out = fg.random.philox4x32_10(ctr, key)
    for i in range(50):
        assert out[i].tolist() == philox_scalar(ctr[i].tolist(), key[i].tolist())
    # broadcasting a single key
    assert fg.random.philox4x32_10(ctr, key[0]).shape == (50, 4)


@pytest.mark.parametrize("bad,err", [(np.zeros(3, np.uint32), ValueError),
                                     (np.zeros(4, np.float32), TypeError),
                                     (np.array([-1, 0, 0, 0]), ValueError),
                                     (np.array([2**32, 0, 0, 0]), ValueError)])
def test_philox_rejects_bad_counter(bad, err):
    with pytest.raises(err, match="counter"):
        fg.random.philox4x32_10(bad, np.zeros(2, np.uint32))


@pytest.mark.parametrize("bits64,dtype,precision", [(False, np.float32, "default"),
                                                    (True, np.float64, "default"),
                                                    (True, np.float32, "high")])
def test_kernel_noise_follows_layout(bits64, dtype, precision):
    """The kernels read exactly the words of the documented counter layout."""
    key = fg.Key(0x1234_5678_9ABC_DEF0, 77)
    rows, K = 5, 4099  # several Philox blocks, a partial last block, two chunks
    w = ref_words(key, rows, K, bits64)
    g = fg.gumbel(size=(rows, K), dtype=dtype, rng=key, precision=precision)
    ref = ref_gumbel(w, bits64).astype(np.float64)
    tol = 4e-7 if dtype == np.float32 else 4e-15
    assert np.max(np.abs(g - ref) / np.maximum(np.abs(ref), 1)) < tol
    if not bits64:
        u = fg.uniform(size=(rows, K), rng=key)
        assert np.array_equal(u.view(np.uint32), ref_uniform32(w).view(np.uint32))


def test_rows_beyond_32_bits_use_the_high_counter_word():
    # the counter's words 2 and 3 hold the row: rows 0 and 2**32 must differ
    key = fg.Key(5)
    a = ref_words(key, 1, 8, False, row0=0)
    b = ref_words(key, 1, 8, False, row0=2**32)
    assert not np.array_equal(a, b)


def test_key_is_pure_and_generator_advances():
    k = fg.Key(99, 3)
    assert np.array_equal(fg.gumbel(size=10, rng=k), fg.gumbel(size=10, rng=k))
    rng = fg.default_rng(99)
    a, b = fg.gumbel(size=10, rng=rng), fg.gumbel(size=10, rng=rng)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, fg.gumbel(size=10, rng=fg.Key(99, 0)))
    assert np.array_equal(b, fg.gumbel(size=10, rng=fg.Key(99, 1)))
    assert rng.streams_used == 2


def test_int_seed_is_key_stream_zero_and_numpy_generator_draws_a_seed():
    assert np.array_equal(fg.gumbel(size=6, rng=42), fg.gumbel(size=6, rng=fg.Key(42, 0)))
    a = fg.gumbel(size=6, rng=np.random.default_rng(1))
    b = fg.gumbel(size=6, rng=np.random.default_rng(1))
    assert np.array_equal(a, b)
    seed = int(np.random.default_rng(1).integers(0, 2**64, dtype=np.uint64))
    assert np.array_equal(a, fg.gumbel(size=6, rng=fg.Key(seed)))


def test_default_rng_none_differs_between_calls():
    assert not np.array_equal(fg.gumbel(size=8), fg.gumbel(size=8))
    assert fg.default_rng(None).seed != fg.default_rng(None).seed


def test_key_equality_hash_repr_pickle():
    import pickle
    k = fg.Key(2**64 - 1, 2**32 - 1)
    assert k == fg.Key(2**64 - 1, 2**32 - 1) and hash(k) == hash(fg.Key(2**64 - 1, 2**32 - 1))
    assert k != fg.Key(2**64 - 1, 0)
    assert repr(k) == "Key(seed=18446744073709551615, stream=4294967295)"
    assert pickle.loads(pickle.dumps(k)) == k
    assert k.words == (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


@pytest.mark.parametrize("seed,err", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError),
                                      ("7", TypeError), (True, TypeError), (np.float64(3), TypeError)])
def test_bad_seeds(seed, err):
    with pytest.raises(err, match="seed"):
        fg.default_rng(seed)
    with pytest.raises(err, match="seed"):
        fg.Key(seed)


@pytest.mark.parametrize("rng", ["abc", 1.0, np.random.RandomState(0), object()])
def test_bad_rng_values(rng):
    with pytest.raises(TypeError, match="rng must be"):
        fg.gumbel(size=3, rng=rng)


def test_bad_streams():
    with pytest.raises(ValueError, match="stream"):
        fg.Key(1, 2**32)
    with pytest.raises(TypeError, match="stream"):
        fg.Key(1, 0.5)


def test_generator_exhaustion_is_an_error():
    g = fg.Generator(1)
    g._next = 2**32 - 1
    assert g.next_key().stream == 2**32 - 1
    with pytest.raises(OverflowError, match="streams"):
        g.next_key()


def test_generator_threads_never_share_a_stream():
    g = fg.Generator(3)
    got = []
    lock = threading.Lock()

    def work():
        mine = [g.next_key().stream for _ in range(500)]
        with lock:
            got.extend(mine)

    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(got) == list(range(4000))


def test_spawn_gives_distinct_reproducible_children():
    a = [c.seed for c in fg.Generator(10).spawn(4)]
    b = [c.seed for c in fg.Generator(10).spawn(4)]
    assert a == b and len(set(a)) == 4 and 10 not in a
    g = fg.Generator(10)
    first, second = g.spawn(2), g.spawn(2)
    assert {c.seed for c in first}.isdisjoint({c.seed for c in second})
    with pytest.raises(ValueError, match="n must be"):
        g.spawn(-1)
