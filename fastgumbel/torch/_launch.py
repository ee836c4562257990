"""GPU launches of the torch bridge: CUDA tensors as views for the GPU backends (no copies),
and the backend wrappers run on torch's current stream with the key read on the device.

- A tensor reaches a backend as a ``__cuda_array_interface__`` view of its memory
  (:class:`DeviceView`, ``stream: None``: no synchronization); bfloat16 travels as uint16
  with ``bf16=True`` (``docs/gpu.md``).
- CuPy (preferred when installed) launches on its current stream: the call runs inside
  ``cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)``; Numba CUDA gets
  ``cuda_stream=numba.cuda.external_stream(...)``. ``FASTGUMBEL_TORCH_GPU_BACKEND``
  (``cupy`` or ``numba-cuda``) picks one.
- The key is an int32 device tensor ``[k0, k1, stream]`` passed as ``key_dev`` (its data
  pointer), so a CUDA graph replays whatever key a captured op wrote there.
- ``check=``: :func:`fastgumbel.gpu_checks` (off: no host synchronization at all).
"""
import importlib.util
import os

import torch

from .. import _backends, _gpu_state

#: ``__cuda_array_interface__`` type strings (bfloat16 as its bits)
TYPESTR = {torch.float16: "<f2", torch.bfloat16: "<u2", torch.float32: "<f4",
           torch.float64: "<f8", torch.int64: "<i8", torch.int32: "<i4"}
_ENV = "FASTGUMBEL_TORCH_GPU_BACKEND"


class DeviceView:
    """The memory of a C-contiguous CUDA tensor as a ``__cuda_array_interface__`` (v3)."""

    def __init__(self, t):
        self.shape = tuple(t.shape)
        self.__cuda_array_interface__ = {
            "shape": self.shape, "typestr": TYPESTR[t.dtype], "data": (t.data_ptr(), False),
            "version": 3, "strides": None, "stream": None}


class _CuPy:
    name = "cupy"

    def __init__(self):
        import cupy
        self.cupy = cupy
        self.mod = _backends.load("cupy")

    def wrap(self, t):
        return self.cupy.asarray(DeviceView(t))

    def run(self, fn, device, args, kw):
        ptr = torch.cuda.current_stream(device).cuda_stream
        with self.cupy.cuda.Device(device.index), self.cupy.cuda.ExternalStream(ptr):
            return fn(*args, **kw)


class _Numba:
    name = "numba-cuda"

    def __init__(self):
        from numba import cuda
        self.cuda = cuda
        self.mod = _backends.load("numba-cuda")
        self._streams = {}

    def wrap(self, t):
        return self.cuda.as_cuda_array(DeviceView(t), sync=False)

    def stream(self, ptr):
        s = self._streams.get(ptr)
        if s is None:
            s = self._streams[ptr] = self.cuda.external_stream(ptr)
        return s

    def run(self, fn, device, args, kw):
        ptr = torch.cuda.current_stream(device).cuda_stream
        if _gpu_state.accepts(fn, "cuda_stream"):
            kw["cuda_stream"] = self.stream(ptr)
        with self.cuda.gpus[device.index]:
            return fn(*args, **kw)


_LAUNCHER = []


def launcher():
    """The GPU backend of torch CUDA tensors: CuPy if installed, else Numba CUDA (cached)."""
    if not _LAUNCHER:
        name = os.environ.get(_ENV)
        if name not in ("cupy", "numba-cuda"):
            name = "cupy" if importlib.util.find_spec("cupy") is not None else "numba-cuda"
        try:
            _LAUNCHER.append(_CuPy() if name == "cupy" else _Numba())
        except ImportError as e:
            raise RuntimeError(f"fastgumbel.torch on CUDA tensors needs CuPy or numba-cuda: "
                               f"pip install 'fastgumbel[cupy]' ({e})") from None
    return _LAUNCHER[0]


def on_device(t):
    """Whether the tensor ``t`` lives on the GPU (read on the host would synchronize)."""
    return t.is_cuda


def key_words(key, device):
    """``(k0, k1, stream, key_dev)`` of a key tensor: a CUDA tensor stays on the device
    (``key_dev``, int32, the scalars unused); a CPU tensor is read on the host (no sync)."""
    if on_device(key):
        kd = key.to(device=device, dtype=torch.int32)
        return 0, 0, 0, kd.contiguous()
    k0, k1, s = (int(w) & 0xFFFFFFFF for w in key.tolist())
    return k0, k1, s, None


def launch(name, device, *args, key_dev=None, bf16=False):
    """Backend wrapper ``name`` on ``args`` (backend arrays from :func:`wrap`) on torch's
    current stream of ``device``; returns its result (flag counts only when checked)."""
    ln = launcher()
    fn = getattr(ln.mod, name)
    kw = {}
    if key_dev is not None:
        if not _gpu_state.accepts(fn, "key_dev"):
            raise RuntimeError(f"the {ln.name} backend's {name} takes no key_dev (an older "
                               "fastgumbel GPU backend); a device key cannot be passed")
        kw["key_dev"] = key_dev.data_ptr()
    if _gpu_state.accepts(fn, "check"):
        kw["check"] = _gpu_state.gpu_checks_enabled()
    if bf16:
        kw["bf16"] = True
    return ln.run(fn, device, args, kw)


def wrap(t):
    """A backend device array viewing the C-contiguous CUDA tensor ``t`` (no copy)."""
    return launcher().wrap(t)
