"""One launch of each main kernel on an 8192x4096 float32 device array, for a profiler:
``ncu --section SpeedOfLight ... python bench/gpu/profile_once.py`` (bench/gpu/device_check.sh
PROFILE=1). Warm-up launches first, so that compilation stays out of the profile window."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cupy  # noqa: E402

import fastgumbel as fg  # noqa: E402


def main():
    x = cupy.asarray(np.random.default_rng(0).standard_normal((8192, 4096)).astype(np.float32))
    for backend in ("cupy", "numba-cuda"):
        for _ in range(2):   # the second round is the one to profile (-c / --launch-skip)
            fg.gumbel_softmax(x, 1.0, rng=1, backend=backend)
            fg.gumbel_max(x, rng=1, backend=backend)
    cupy.cuda.runtime.deviceSynchronize()
    print("done")


if __name__ == "__main__":
    main()
