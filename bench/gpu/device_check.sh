#!/usr/bin/env bash
# The GPU check, in one command: what the machine has, the GPU tests on both backends, then
# the benchmark, whose table is appended to bench/RESULTS.md. Written for one call on a lent
# GPU machine (the `device` tool), and as well for a GPU machine of your own. Logs go to
# $OUT (env.txt, tests.txt, bench.txt, RESULTS.md with the new table).
# Needs python3 with numba-cuda, cupy-cuda13x and torch with CUDA (the lent image has them);
# the package runs from the working tree (PYTHONPATH), nothing is installed. The tests run on
# 4 processes when pytest-xdist is installed.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/fastgumbel-device}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:$PWD/bench/gpu/numpy25_shim NUMBA_CACHE_DIR=/tmp/fastgumbel-numba-cache
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv 2>&1 | tee "$OUT/env.txt"
python3 - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import platform, numpy, numba, numba_cuda, cupy, torch
print("python", platform.python_version(), "numpy", numpy.__version__, "numba", numba.__version__,
      "numba-cuda", numba_cuda.__version__, "cupy", cupy.__version__, "torch", torch.__version__)
PY
python3 -m fastgumbel info 2>&1 | tee -a "$OUT/env.txt"
XDIST=$(python3 -c "import xdist" 2>/dev/null && echo "-n 4")
FASTGUMBEL_GPU_TESTS=1 timeout "${TEST_S:-240}" python3 -m pytest -q $XDIST -p no:benchmark -rfE tests/cuda \
    2>&1 | tee "$OUT/tests.txt"
echo "tests rc=$?" | tee -a "$OUT/tests.txt"
timeout "${BENCH_S:-150}" python3 bench/gpu/bench_gpu.py --results bench/RESULTS.md "$@" \
    2>&1 | tee "$OUT/bench.txt"
echo "bench rc=$?" | tee -a "$OUT/bench.txt"
cp bench/RESULTS.md "$OUT/"
