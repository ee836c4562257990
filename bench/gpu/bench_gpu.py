"""GPU benchmark: fastgumbel (Numba CUDA and CuPy kernels) against copy bandwidth and torch CUDA.

First run on a GPU on 2026-11-26 (NVIDIA H200, through bench/gpu/device_check.sh); the
table is in bench/RESULTS.md.

One run measures, on the current device:

- the device-to-device copy bandwidth (CuPy ``copyto``, or torch ``copy_``), the floor;
- fastgumbel's kernels launched directly on device arrays (both backends): the fused soft
  forward, hard forward, ``gumbel_max``, and the saved-mode backward;
- torch CUDA: ``F.gumbel_softmax`` (soft, hard), the exponential-race idiom
  ``argmax(logits - log(Exp(1)))``, and the autograd backward of ``F.gumbel_softmax``;

at 8192x4096 and 1024x131072 (override with ``--sizes``), float32 and float16, and prints
time, achieved GB/s (bytes the operation must move: soft forward reads and writes each
element once, gumbel_max reads it once, the backward reads grad and y and writes grad_x),
the fraction of copy bandwidth, and the speed-up over torch.

float16: fastgumbel's sampling kernels load and store float16 and compute in float32; the
backward runs on float32 arrays in both rows of the table.

Usage (from the repository root, on a GPU machine)::

    python bench/gpu/bench_gpu.py                       # both sizes, float32 and float16
    python bench/gpu/bench_gpu.py --sizes 4096x1024 --dtypes float32 --repeats 50
    python bench/gpu/bench_gpu.py --results bench/RESULTS.md   # also append a markdown table

Timing: CUDA events around ``--repeats`` back-to-back launches after ``--warmup`` launches;
the figure is the mean time per launch (launches are asynchronous, so Python overhead is
hidden while the GPU is busy). Kernels are first checked against the CPU backend on a slice.
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import fastgumbel as fg  # noqa: E402



def parse_size(s):
    r, k = s.lower().split("x")
    return int(r), int(k)


class Timer:
    """Mean milliseconds per call of ``fn`` with CUDA events (CuPy or torch streams)."""

    def __init__(self, lib):
        self.lib = lib

    def _events(self):
        """(start event, end event, elapsed milliseconds between two events) of the library."""
        if self.lib == "cupy":
            import cupy
            return cupy.cuda.Event(), cupy.cuda.Event(), cupy.cuda.get_elapsed_time
        if self.lib == "torch":
            import torch
            return (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True),
                    lambda a, b: a.elapsed_time(b))
        from numba import cuda
        return cuda.event(), cuda.event(), lambda a, b: a.elapsed_time(b)

    def __call__(self, fn, repeats, warmup):
        for _ in range(warmup):
            fn()
        a, b, elapsed = self._events()
        a.record()
        for _ in range(repeats):
            fn()
        b.record()
        b.synchronize()
        return elapsed(a, b) / repeats


def _kernel_cases(soft, gmax, bwd, n, item):
    """name -> (callable, bytes moved) of a GPU backend, from its softmax launch ``soft(mode)``,
    its Gumbel-max launch and its float32 backward launch, for ``n`` elements of ``item``
    bytes."""
    def fwd_bwd():   # the same work as torch's forward + autograd backward
        soft()
        bwd()

    return {"soft forward": (soft, 2 * n * item), "hard forward": (lambda: soft(2), 2 * n * item),
            "gumbel_max": (gmax, n * item), "backward (saved y, float32)": (bwd, 3 * n * 4),
            "forward + autograd backward": (fwd_bwd, 5 * n * item)}


def numba_cases(rows, K, dtype, key):
    """name -> (callable, bytes moved) for the Numba CUDA kernels on device arrays."""
    from numba import cuda
    from fastgumbel import cuda as fgc
    k0, k1, st = (np.uint64(w) for w in key.words)
    x = cuda.to_device(np.random.default_rng(0).standard_normal((rows, K)).astype(dtype))
    out = cuda.device_array((rows, K), dtype)       # float16 in and out, float32 math
    y32 = cuda.device_array((rows, K), np.float32)  # the backward runs in float32
    idx = cuda.device_array((rows, 1), np.int64)
    gtau = cuda.device_array(rows, np.float32)
    flags = cuda.to_device(np.zeros(2, np.int64))
    ks = fgc.kernels(dtype)
    T = fgc.team_size(K)
    grid = (rows + fgc.BLOCK // T - 1) // (fgc.BLOCK // T)
    item = np.dtype(dtype).itemsize
    n = rows * K

    def soft(mode=0):
        ks["softmax"][grid, fgc.BLOCK](x, out, 0, k0, k1, st, False, 1.0, mode, T, flags)

    def gmax():
        ks["argmax"][grid, fgc.BLOCK](x, idx, idx, 0, k0, k1, st, False, 1, T, flags)

    def bwd():
        ks["backward"][grid, fgc.BLOCK](y32, y32, y32, gtau, 1.0, T)

    return _kernel_cases(soft, gmax, bwd, n, item)


def cupy_cases(rows, K, dtype, key):
    import cupy
    from fastgumbel import cupy as fcp
    k0, k1, st = (np.uint32(w) for w in key.words)
    x = cupy.asarray(np.random.default_rng(0).standard_normal((rows, K)).astype(dtype))
    out = cupy.empty((rows, K), dtype)       # float16 in and out, float32 math
    y32 = cupy.empty((rows, K), cupy.float32)
    idx = cupy.empty((rows, 1), cupy.int64)
    gtau = cupy.empty(rows, cupy.float32)
    flags = cupy.zeros(2, cupy.uint64)
    dummy = cupy.empty(1, cupy.int64)
    item = np.dtype(dtype).itemsize
    n = rows * K
    R, KK = np.int64(rows), np.int64(K)

    def soft(mode=0):
        fcp._launch("softmax", dtype, rows, K, (x, out, R, KK, np.uint64(0), k0, k1, st,
                                                 np.int32(0), np.float64(1.0), np.int32(mode),
                                                 flags))

    def gmax():
        fcp._launch("argmax", dtype, rows, K, (x, idx, dummy, np.int32(0), R, KK, np.int64(1),
                                                np.uint64(0), k0, k1, st, np.int32(0), flags))

    def bwd():
        fcp._launch("backward", np.float32, rows, K, (y32, y32, y32, gtau, R, KK,
                                                       np.float64(1.0)))

    fcp.module()  # compile outside the timing

    return _kernel_cases(soft, gmax, bwd, n, item)


def torch_cases(rows, K, dtype):
    import torch
    import torch.nn.functional as F
    tdt = {np.float32: torch.float32, np.float16: torch.float16}[dtype]
    x = torch.randn(rows, K, device="cuda", dtype=tdt)
    xg = x.clone().requires_grad_(True)
    G = torch.randn(rows, K, device="cuda", dtype=tdt)
    item = np.dtype(dtype).itemsize
    n = rows * K

    def race():
        return torch.argmax(x - torch.empty_like(x).exponential_().log(), dim=-1)

    def fwd_bwd():
        y = F.gumbel_softmax(xg, tau=1.0)
        y.backward(G)

    return {"soft forward": (lambda: F.gumbel_softmax(x, tau=1.0), 2 * n * item),
            "hard forward": (lambda: F.gumbel_softmax(x, tau=1.0, hard=True), 2 * n * item),
            "gumbel_max": (race, n * item),
            "forward + autograd backward": (fwd_bwd, 5 * n * item)}


def copy_bandwidth(rows, K, dtype, timer, repeats, warmup, lib):
    n = rows * K
    if lib == "cupy":
        import cupy
        a = cupy.ones((rows, K), dtype)
        b = cupy.empty_like(a)
        ms = timer(lambda: cupy.copyto(b, a), repeats, warmup)
    elif lib == "torch":
        import torch
        a = torch.ones(rows, K, device="cuda", dtype=getattr(torch, np.dtype(dtype).name))
        b = torch.empty_like(a)
        ms = timer(lambda: b.copy_(a), repeats, warmup)
    else:
        from numba import cuda
        a = cuda.to_device(np.ones((rows, K), dtype))
        b = cuda.device_array_like(a)
        ms = timer(lambda: b.copy_to_device(a), repeats, warmup)
    return 2 * n * np.dtype(dtype).itemsize / (ms * 1e-3) / 1e9, ms


def check_against_cpu(backends):
    """Small correctness check of each backend against the CPU before timing."""
    x = np.random.default_rng(1).standard_normal((64, 1000)).astype(np.float32)
    k = fg.Key(3)
    ref = fg.gumbel_softmax(x, 0.5, rng=k)
    for b in backends:
        y = fg.gumbel_softmax(x, 0.5, rng=k, backend=b)
        err = float(np.abs(y - ref).max())
        same = bool(np.array_equal(fg.gumbel_max(x, rng=k), fg.gumbel_max(x, rng=k, backend=b)))
        print(f"check {b:10s}: max |soft - cpu| = {err:.2e}, gumbel_max equal: {same}")
        if err > 1e-5 or not same:
            raise SystemExit(f"backend {b} disagrees with the CPU backend")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=parse_size, default=[(8192, 4096), (1024, 131072)])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    p.add_argument("--backends", nargs="+", default=["numba-cuda", "cupy"])
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--results", help="append a markdown table to this file")
    a = p.parse_args(argv)

    have_torch = False
    if not a.no_torch:
        try:
            import torch
            have_torch = torch.cuda.is_available()
        except ImportError:
            pass
    lib = "cupy" if "cupy" in a.backends else ("torch" if have_torch else "numba")
    if lib == "cupy":
        import cupy
        dev = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
    elif lib == "torch":
        dev = torch.cuda.get_device_name()
    else:
        from numba import cuda
        dev = str(getattr(cuda.get_current_device(), "name", "CUDA simulator"))
    print(f"device: {dev}")
    check_against_cpu(a.backends)

    rows_out = []
    for rows, K in a.sizes:
        for dname in a.dtypes:
            dtype = getattr(np, dname)
            copy_gbs, copy_ms = copy_bandwidth(rows, K, dtype, Timer(lib), a.repeats, a.warmup, lib)
            print(f"\n{rows}x{K} {dname}: device copy {copy_gbs:.0f} GB/s ({copy_ms:.3f} ms)")
            results = {}
            key = fg.Key(0)
            for b in a.backends:
                cases = numba_cases(rows, K, dtype, key) if b == "numba-cuda" else \
                    cupy_cases(rows, K, dtype, key)
                timer = Timer("numba" if b == "numba-cuda" else "cupy")
                for case, (fn, nbytes) in cases.items():
                    results[(b, case)] = (timer(fn, a.repeats, a.warmup), nbytes)
            if have_torch:
                for case, (fn, nbytes) in torch_cases(rows, K, dtype).items():
                    results[("torch", case)] = (Timer("torch")(fn, a.repeats, a.warmup), nbytes)
            print(f"{'impl':12s} {'case':28s} {'ms':>9s} {'GB/s':>8s} {'of copy':>8s} "
                  f"{'vs torch':>9s}")
            for (impl, case), (ms, nbytes) in results.items():
                gbs = nbytes / (ms * 1e-3) / 1e9
                t = results.get(("torch", case))
                ratio = f"{t[0] / ms:8.2f}x" if (t and impl != "torch") else ""
                print(f"{impl:12s} {case:28s} {ms:9.3f} {gbs:8.0f} {gbs / copy_gbs:8.0%} "
                      f"{ratio:>9s}")
                rows_out.append((f"{rows}x{K}", dname, impl, case, ms, gbs, gbs / copy_gbs,
                                 (t[0] / ms) if (t and impl != "torch") else None))
    if a.results:
        with open(a.results, "a") as f:
            f.write(f"\n## GPU: {dev} ({datetime.date.today()}, bench/gpu/bench_gpu.py)\n\n")
            f.write("| size | dtype | impl | case | ms | GB/s | of copy | vs torch |\n")
            f.write("|---|---|---|---|---|---|---|---|\n")
            for s, d, impl, case, ms, gbs, frac, rt in rows_out:
                f.write(f"| {s} | {d} | {impl} | {case} | {ms:.3f} | {gbs:.0f} | {frac:.0%} | "
                        f"{'' if rt is None else f'{rt:.2f}x'} |\n")


if __name__ == "__main__":
    main()
