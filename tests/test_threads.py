"""fastgumbel.threads / set_num_threads / get_num_threads, and the torch bridge's limit."""
import numba
import numpy as np
import pytest

import fastgumbel as fg


def test_context_manager_sets_and_restores():
    before = fg.get_num_threads()
    with fg.threads(1):
        assert fg.get_num_threads() == 1 == numba.get_num_threads()
    assert fg.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with fg.threads(1):
            raise RuntimeError
    assert fg.get_num_threads() == before


def test_same_bits_for_any_thread_count():
    x = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
    with fg.threads(1):
        one = fg.gumbel_softmax(x, 0.5, rng=3)
    full = fg.gumbel_softmax(x, 0.5, rng=3)
    assert np.array_equal(one, full)


@pytest.mark.parametrize("n, exc, msg", [
    (0, ValueError, r"n=0 threads is outside \[1, "),
    (10**6, ValueError, "outside"),
    (1.5, TypeError, "n must be an integer number of threads; got 1.5"),
    (True, TypeError, "got True"),
])
def test_bad_counts(n, exc, msg):
    with pytest.raises(exc, match=msg):
        fg.set_num_threads(n)
    with pytest.raises(exc, match=msg):
        with fg.threads(n):
            pass


def test_torch_bridge_uses_at_most_torch_threads(monkeypatch):
    torch = pytest.importorskip("torch")
    import fastgumbel.torch as fgt
    seen = []
    cpu = fg._backends.cpu()

    def spy_on(name):      # softmax_rows (through the core), softmax_rows_c (eager calls)
        real = getattr(cpu, name)

        def spy(*args, **kwargs):
            seen.append(fg.get_num_threads())
            return real(*args, **kwargs)
        monkeypatch.setattr(cpu, name, spy)

    spy_on("softmax_rows")
    spy_on("softmax_rows_c")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # arrays of at least cpu.SERIAL_ELEMS elements run the threaded kernels
        n = cpu.SERIAL_ELEMS // 4
        fgt.gumbel_softmax(torch.zeros(4, n), 0.5, generator=fg.Key(0))      # eager kernel
        x = torch.zeros(4, n, dtype=torch.float16, requires_grad=True)       # through the core
        fgt.gumbel_softmax(x, 0.5, generator=fg.Key(0)).sum().backward()
        # smaller ones run on the calling thread (one thread): no limit is set for them
        fgt.gumbel_softmax(torch.zeros(4, 5), 0.5, generator=fg.Key(0))
    finally:
        torch.set_num_threads(old)
    assert seen[:2] == [1, 1] and len(seen) == 3
    assert fg.get_num_threads() == numba.config.NUMBA_NUM_THREADS
