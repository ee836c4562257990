"""Framework arrays on a GPU through the NumPy-style API, and the GPU check opt-in, without a
GPU: the routing runs in the Numba CUDA simulator (tests/gpu/sim_route.py, own process)."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import fastgumbel as fg
from fastgumbel import _gpu_state, _route

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_framework_arrays_in_the_simulator():
    pytest.importorskip("torch")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, str(ROOT / "tests" / "gpu" / "sim_route.py")], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "sim_route ok" in p.stdout


def test_gpu_checks_is_thread_local_and_nests():
    assert not fg.gpu_checks_enabled()
    seen = []
    with fg.gpu_checks():
        assert fg.gpu_checks_enabled()
        t = threading.Thread(target=lambda: seen.append(fg.gpu_checks_enabled()))
        t.start()
        t.join()
        with fg.gpu_checks(False):
            assert not fg.gpu_checks_enabled()
        assert fg.gpu_checks_enabled()
    assert seen == [False] and not fg.gpu_checks_enabled()
    fg.gpu_checks(True)                  # a plain call sets it from now on
    try:
        assert fg.gpu_checks_enabled()
    finally:
        fg.gpu_checks(False)
    with pytest.raises(TypeError, match="enabled"):
        fg.gpu_checks(1)


def test_check_keyword_reaches_wrappers_that_take_it():
    calls = []

    def new(x, *, check=False, cuda_stream=0):
        calls.append((check, cuda_stream))

    def old(x):
        calls.append("old")

    assert _gpu_state.gpu_kwargs(old, True) == {}
    assert _gpu_state.gpu_kwargs(new, True) == {"check": False}
    assert _gpu_state.gpu_kwargs(new, False) == {"check": True}    # host inputs: checked
    with fg.gpu_checks():
        assert _gpu_state.gpu_kwargs(new, True) == {"check": True}
    with _gpu_state.using_stream("s"):
        assert _gpu_state.gpu_kwargs(new, True) == {"check": False, "cuda_stream": "s"}
    assert _gpu_state.stream_ptr() is None


class _Foreign:
    __module__ = "torch.fake"

    def __init__(self, dev):
        self.dev = dev

    def __dlpack__(self, stream=None):
        raise AssertionError

    def __dlpack_device__(self):
        return (self.dev, 0)


def test_other_dlpack_devices_are_refused_by_name():
    with pytest.raises(TypeError, match="logits is a torch array on DLPack device"):
        fg.gumbel_max(_Foreign(14), rng=0)       # e.g. a oneAPI device


def test_conversion_replaces_nothing_before_all_converted():
    import inspect

    def f(a, b):
        return a

    bound = inspect.signature(f).bind(np.zeros(2), _Foreign(2))
    with pytest.raises(_route.OnGPU):
        _route.convert_args(bound, _route._host_view)
    assert isinstance(bound.arguments["b"], _Foreign)
