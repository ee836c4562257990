#!/usr/bin/env bash
# On a machine with an NVIDIA GPU of your own: the GPU test suite
# on both backends, then the benchmark, whose table is appended to bench/RESULTS.md.
# Needs the cuda and cupy extras (numba-cuda[cu13], cupy-cuda13x) and torch with CUDA.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m fastgumbel info
FASTGUMBEL_GPU_TESTS=1 python -m pytest -q tests/cuda
python bench/gpu/bench_gpu.py --results bench/RESULTS.md "$@"
