#!/usr/bin/env bash
# The GPU check, in one command: what the machine has, the GPU tests of both backends
# (tests/cuda), the bridges on the GPU (tests/gpu: torch CUDA, JAX GPU), then the kernel and
# bridge benchmarks, whose tables are appended to bench/RESULTS.md. Written for one call on
# a lent GPU machine (the `device` tool), and as well for a GPU machine of your own. Logs go
# to $OUT (env.txt, tests.txt, bridges.txt, bench.txt, bench_bridges.txt, RESULTS.md).
# Needs python3 with numba-cuda, cupy-cuda13x, torch with CUDA and jax[cuda] (the lent image
# has them); the package runs from the working tree (PYTHONPATH), nothing is installed. The
# tests run on 4 processes when pytest-xdist is installed.
#
# Time: every step has a timeout, and the whole run stays under BUDGET_S seconds (default
# 450, i.e. 7.5 minutes): a step gets min(its own limit, what is left of the budget).
# DRY_RUN=1 prints the steps with their limits and runs nothing (tests/test_device_check.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/fastgumbel-device}
BUDGET_S=${BUDGET_S:-450}
DRY_RUN=${DRY_RUN:-0}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:$PWD/bench/gpu/numpy25_shim NUMBA_CACHE_DIR=/tmp/fastgumbel-numba-cache
export XLA_PYTHON_CLIENT_PREALLOCATE=false     # torch and JAX share the GPU's memory
START=$SECONDS

# step NAME LIMIT_S LOG CMD...: run CMD under min(LIMIT_S, budget left), tee'd to LOG
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    local left=$((BUDGET_S - (SECONDS - START)))
    if [ "$limit" -gt "$left" ]; then limit=$left; fi
    if [ "$DRY_RUN" = 1 ]; then
        echo "step $name: timeout ${limit}s -> $log: $*"
        return 0
    fi
    if [ "$limit" -lt 5 ]; then
        echo "step $name skipped: time budget spent" | tee -a "$OUT/$log"
        return 0
    fi
    timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$log"
    local rc=${PIPESTATUS[0]}
    echo "$name rc=$rc ($((SECONDS - START))s elapsed)" | tee -a "$OUT/$log"
}

step env 15 env.txt nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
step versions 40 env.txt python3 -c "
import platform, numpy, numba, numba_cuda, cupy, torch, jax
print('python', platform.python_version(), 'numpy', numpy.__version__, 'numba', numba.__version__,
      'numba-cuda', numba_cuda.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__,
      'jax', jax.__version__, jax.devices())"
step info 40 env.txt python3 -m fastgumbel info
XDIST=$(python3 -c "import xdist" 2>/dev/null && echo "-n 4")
step tests "${TEST_S:-180}" tests.txt env FASTGUMBEL_GPU_TESTS=1 python3 -m pytest -q $XDIST -p no:benchmark -rfE tests/cuda
step bridges "${BRIDGE_S:-110}" bridges.txt env FASTGUMBEL_GPU_TESTS=1 python3 -m pytest -q -p no:benchmark -rfE -x tests/gpu
step bench "${BENCH_S:-80}" bench.txt python3 bench/gpu/bench_gpu.py --results bench/RESULTS.md "$@"
step bench_bridges "${BENCH_BRIDGES_S:-60}" bench_bridges.txt python3 bench/gpu/bench_bridges_gpu.py --results bench/RESULTS.md
if [ "$DRY_RUN" != 1 ]; then cp bench/RESULTS.md "$OUT/"; fi
echo "device_check done in $((SECONDS - START))s"
