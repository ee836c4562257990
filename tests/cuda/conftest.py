"""Tests of the GPU backends, run in their own pytest process (tests/test_cuda.py starts it).

Two ways to run this directory:

- ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda -m "not gpu"``: the Numba CUDA
  kernels in the CUDA simulator (no GPU needed; small sizes). The CuPy backend cannot run
  there, and tests marked ``gpu`` are deselected, not skipped.
- ``FASTGUMBEL_GPU_TESTS=1 python -m pytest tests/cuda``: on a machine with an NVIDIA GPU,
  both GPU backends and the device-array tests. It fails (does not skip) without a GPU.

The main test run ignores this directory (see tests/conftest.py).
"""
import os

import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
GPU = os.environ.get("FASTGUMBEL_GPU_TESTS") == "1"


def gpu_backends():
    if SIM:
        return ["numba-cuda"]
    return ["numba-cuda", "cupy"]


def pytest_configure(config):
    if not (SIM or GPU):
        raise pytest.UsageError("tests/cuda runs with NUMBA_ENABLE_CUDASIM=1 (simulator) or "
                                "FASTGUMBEL_GPU_TESTS=1 (real GPU)")
    if SIM:
        # the simulator runs the kernels on NumPy scalars, which warn where IEEE arithmetic
        # makes a NaN (inf - inf in the rows with +inf that the kernels detect by a sum);
        # a GPU does not, and the tests check the results
        config.addinivalue_line("filterwarnings",
                                r"ignore:.*invalid value encountered in scalar:RuntimeWarning")
    if GPU and not SIM:
        from numba import cuda
        if not cuda.is_available():
            raise pytest.UsageError("FASTGUMBEL_GPU_TESTS=1 but numba.cuda sees no GPU")


@pytest.fixture(params=gpu_backends())
def backend(request):
    return request.param


# ptx_check.py is a script for a separate, non-simulated process (tests/test_cuda.py);
# sim_fingerprint.py a script to compare the kernels' outputs before and after a change
collect_ignore = ["ptx_check.py", "sim_fingerprint.py"]
