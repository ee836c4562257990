"""Run in the Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1) by tests/test_route_gpu.py:
framework arrays on a "GPU" (objects whose DLPack device is CUDA) reach the GPU backend as
device arrays and come back in the caller's library; out= is written in place; a CPU
framework argument among them is read through NumPy; checks follow fastgumbel.gpu_checks."""
import sys

import numpy as np
import torch
from numba import cuda

import fastgumbel as fg
from fastgumbel import _backends, _gpu_state, _route


class GpuTensor:
    """A stand-in for a torch CUDA tensor: DLPack device (kDLCUDA, 0), data in ``a``."""
    __module__ = "torch.fake"

    def __init__(self, a):
        self.a = np.ascontiguousarray(a)
        self.shape, self.dtype = self.a.shape, self.a.dtype

    def __dlpack__(self, stream=None):
        raise AssertionError("not read through host DLPack")

    def __dlpack_device__(self):
        return (2, 0)


views = []


def device_view(obj):
    d = cuda.to_device(obj.a)           # the simulator's device array (a copy here)
    views.append((obj, d))
    return d


def to_torch(res, template):
    return GpuTensor(res.copy_to_host())


_route.device_view = device_view
_route.to_torch = to_torch

x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
key = fg.Key(3)
y = fg.gumbel_softmax(GpuTensor(x), 0.5, rng=key)
assert isinstance(y, GpuTensor), type(y)
# soft samples agree with the CPU to a few ulps (docs/gpu.md), draws exactly
assert np.allclose(y.a, fg.gumbel_softmax(x, 0.5, rng=key), rtol=1e-5, atol=1e-6), "soft"
d = fg.gumbel_max(GpuTensor(x), rng=key)
assert isinstance(d, GpuTensor) and np.array_equal(d.a, fg.gumbel_max(x, rng=key)), "max"
c = fg.categorical(GpuTensor(x), 6, rng=key)
assert np.array_equal(c.a, fg.categorical(x, 6, rng=key)), "categorical"
# another axis: staged through the host, same bits, same kind of result
y0 = fg.gumbel_softmax(GpuTensor(x), 0.5, axis=0, rng=key)
assert isinstance(y0, GpuTensor)
assert np.allclose(y0.a, fg.gumbel_softmax(x, 0.5, axis=0, rng=key), rtol=1e-5,
                   atol=1e-6), "axis 0"
# a CPU torch tensor next to a GPU one: read on the host, template is the GPU one
t = fg.gumbel_softmax(GpuTensor(x), torch.tensor(0.5), rng=key)
assert isinstance(t, GpuTensor) and np.array_equal(t.a, y.a), "cpu tau"
# NaN rows: without the opt-in no error (documented result), with it the CPU's ValueError
bad = x.copy()
bad[1, 2] = np.nan
new_wrappers = _gpu_state.accepts(_backends.load("numba-cuda").argmax_rows, "check")
try:
    fg.gumbel_max(GpuTensor(bad), rng=key)
    assert new_wrappers, "a wrapper without check= checks always"
except ValueError:
    assert not new_wrappers, "raised without gpu_checks"
with fg.gpu_checks():
    try:
        fg.gumbel_max(GpuTensor(bad), rng=key)
    except ValueError as e:
        assert "NaN in 1 row" in str(e)
    else:
        # a backend wrapper from before the check= contract always checks and raises;
        # one that takes check= must raise here
        raise AssertionError("gpu_checks did not raise")
print("sim_route ok", len(views))
sys.exit(0)
