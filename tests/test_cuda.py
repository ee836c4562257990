"""GPU backends, checked without a GPU (this machine and CI).

- the Numba CUDA suite (tests/cuda) in the CUDA simulator, in its own process;
- every Numba CUDA kernel compiled to PTX for sm_90 (tests/cuda/ptx_check.py, own process);
- the CUDA C of the CuPy backend compiled for sm_90 by NVRTC (the backend's own path, to a
  cubin) and by nvcc (to PTX), with no warnings;
- philox.cuh (the CUDA C Philox and bits -> uniform -> Gumbel transforms) built for the host
  by g++ and by nvcc and compared with the CPU backend bit for bit, on many counters and on
  every word near the extreme bit patterns;
- backend dispatch and package data.

A real GPU runs tests/cuda with FASTGUMBEL_GPU_TESTS=1 (see tests/cuda/conftest.py).
"""
import importlib.resources
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

import fastgumbel as fg
from fastgumbel import _arrays, _backends, _scalar

from _background import KERNELS, NVCC, ROOT, entry_points, env as _env   # tests/_background.py


def test_numba_cuda_kernels_in_simulator(background):
    code, out = background["sim"].result()
    assert code == 0, out[-6000:]
    assert " passed" in out and "failed" not in out and "skipped" not in out, out[-2000:]


def test_numba_cuda_kernels_compile_to_ptx_sm90(background):
    code, out = background["ptx"].result()
    assert code == 0, out[-6000:]
    from fastgumbel import cuda as fgc
    names = {name for _, _, _, name, _ in fgc.SIGNATURES} | {"concrete"}
    compiled = {line.split()[0] for line in out.splitlines() if "bytes of PTX" in line}
    assert compiled == names, (names - compiled, out)   # every kernel, float32 at least
    assert "bf16" in out and "float64/w64" in out, out
    assert "kernels for sm_90 in" in out, out


def test_cuda_c_compiles_with_nvrtc_sm90(background):
    """The CuPy backend's exact source and options, compiled by NVRTC from the cu13 wheels
    to an sm_90 cubin (tests/_background.py nvrtc_compile, in its own process)."""
    code, out = background["nvrtc"].result()
    assert code == 0, out[-6000:]
    r = json.loads(out.strip().splitlines()[-1])
    if "skip" in r:
        pytest.skip(r["skip"])
    assert r["inlined"] and r["created"] and r["named"], r
    assert r["compiled"], r["log"]
    assert "warning" not in r["log"].lower(), r["log"]
    assert r["unmangled"] == []          # extern "C": every entry keeps its name
    assert r["cubin_size"] > 0


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
def test_cuda_c_compiles_with_nvcc_sm90(background):
    """nvcc, every warning an error, to PTX for sm_90 (NVRTC's test makes the cubin)."""
    assert background["nvcc"]
    for cu, ptx, proc in background["nvcc"]:
        code, out = proc.result()
        assert code == 0, out
        data = ptx.read_text()
        assert ".target sm_90" in data
        for n in entry_points():
            assert f".entry {n}(" in data, n   # unmangled (extern "C") entry


def _host_builds(tmp_path):
    """host_check built by g++ and, when present, by nvcc (as CUDA source, host side)."""
    src = ROOT / "tests" / "cuda" / "host_check.cpp"
    builds = []
    with importlib.resources.as_file(KERNELS) as kdir:
        gxx = shutil.which("g++") or shutil.which("c++")
        if gxx:
            exe = tmp_path / "host_check_gxx"
            subprocess.run([gxx, "-O2", "-std=c++17", "-ffp-contract=off", "-Wall", "-Wextra",
                            "-Werror", f"-I{kdir}", "-o", str(exe), str(src)], check=True,
                           timeout=300)
            builds.append(exe)
        if NVCC:
            exe = tmp_path / "host_check_nvcc"
            subprocess.run([NVCC, "-O2", "-std=c++17", "-x", "cu", "-fmad=false",
                            "-Xcompiler", "-ffp-contract=off", f"-I{kdir}", "-o", str(exe),
                            str(src)], check=True, timeout=300)
            builds.append(exe)
    assert builds, "no host compiler (g++ or nvcc) found"
    return builds


@pytest.fixture(scope="module")
def host_checks(tmp_path_factory):
    return _host_builds(tmp_path_factory.mktemp("host_check"))


def _run(exe, mode, data, tmp_path):
    i, o = tmp_path / f"{mode}.in", tmp_path / f"{mode}.out"
    data.tofile(i)
    subprocess.run([str(exe), mode, str(i), str(o)], check=True, timeout=300)
    return o.read_bytes()


@njit(cache=False)   # not cached: the on-disk cache would miss edits of _scalar/
def _cpu_transforms(w, g32, u32, g64, u64):
    for i in range(w.shape[0]):
        g32[i] = _scalar.gumbel_bits32(w[i])
        u32[i] = _scalar.uniform_bits32(w[i])
    for i in range(w.shape[0] // 2):
        g64[i] = _scalar.gumbel_bits64(w[2 * i], w[2 * i + 1])
        u64[i] = _scalar.uniform_bits64(w[2 * i], w[2 * i + 1])


@njit(cache=False)   # not cached: the on-disk cache would miss edits of _scalar/
def _cpu_math(x32, x64, o32, o64):
    for i in range(x32.shape[0]):
        o32[i, 0] = _scalar.log_f32(x32[i])
        o32[i, 1] = _scalar.exp_f32(x32[i])
    for i in range(x64.shape[0]):
        o64[i, 0] = _scalar.log_f64(x64[i])
        o64[i, 1] = _scalar.exp_f64(x64[i])


EXTREMES = np.array([0, 2**31 - 1, 2**31, 2**32 - 1], np.int64)


def test_host_philox_matches_cpu(host_checks, tmp_path):
    rs = np.random.default_rng(11)
    n = 50_000
    ctr = rs.integers(0, 2**32, (n, 6), dtype=np.uint64)
    pats = np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1], np.uint64)
    grid = np.stack(np.meshgrid(*[pats] * 6, indexing="ij"), -1).reshape(-1, 6)  # 6**6 = 46656
    ctr = np.concatenate([ctr, grid]).astype(np.uint32)
    ref = fg.random.philox4x32_10(ctr[:, :4], ctr[:, 4:])
    rec = np.dtype([("w", "<u4", 4), ("g32", "<f4", 4), ("u32", "<f4", 4), ("g64", "<f8", 2),
                    ("u64", "<f8", 2)])
    w = ref.reshape(-1)
    g32, u32 = np.empty(w.size, np.float32), np.empty(w.size, np.float32)
    g64, u64 = np.empty(w.size // 2), np.empty(w.size // 2)
    _cpu_transforms(w, g32, u32, g64, u64)
    for exe in host_checks:
        out = np.frombuffer(_run(exe, "bits", ctr, tmp_path), rec)
        assert np.array_equal(out["w"], ref), exe.name
        assert np.array_equal(out["g32"].reshape(-1).view(np.uint32), g32.view(np.uint32))
        assert np.array_equal(out["u32"].reshape(-1).view(np.uint32), u32.view(np.uint32))
        assert np.array_equal(out["g64"].reshape(-1).view(np.uint64), g64.view(np.uint64))
        assert np.array_equal(out["u64"].reshape(-1).view(np.uint64), u64.view(np.uint64))


def test_host_transform_matches_cpu_on_extreme_words(host_checks, tmp_path):
    """Every 32-bit word within 2**14 of 0, 2**31 - 1, 2**31, 2**32 - 1, plus random words;
    64-bit pairs with those words as the high half and random / extreme low halves."""
    near = (EXTREMES[:, None] + np.arange(-2**14, 2**14)[None, :]).reshape(-1)
    near = near[(near >= 0) & (near < 2**32)]
    rs = np.random.default_rng(12)
    words = np.concatenate([near, rs.integers(0, 2**32, 2**16)])
    lo = np.where(np.arange(words.size) % 3 == 0, rs.integers(0, 2**32, words.size),
                  np.resize(EXTREMES, words.size))
    pairs = np.stack([lo, words], -1).reshape(-1)   # (low, high) pairs, high near extremes
    w = np.concatenate([words, pairs]).astype(np.uint32)
    if w.size % 2:
        w = w[:-1]
    g32, u32 = np.empty(w.size, np.float32), np.empty(w.size, np.float32)
    g64, u64 = np.empty(w.size // 2), np.empty(w.size // 2)
    _cpu_transforms(w, g32, u32, g64, u64)
    assert np.isfinite(g32).all() and np.isfinite(g64).all()
    n = w.size
    for exe in host_checks:
        raw = _run(exe, "words", w, tmp_path)
        hg32 = np.frombuffer(raw, np.uint32, n, 0)
        hu32 = np.frombuffer(raw, np.uint32, n, 4 * n)
        hg64 = np.frombuffer(raw, np.uint64, n // 2, 8 * n)
        hu64 = np.frombuffer(raw, np.uint64, n // 2, 8 * n + 4 * n)
        assert np.array_equal(hg32, g32.view(np.uint32)), exe.name
        assert np.array_equal(hu32, u32.view(np.uint32)), exe.name
        assert np.array_equal(hg64, g64.view(np.uint64)), exe.name
        assert np.array_equal(hu64, u64.view(np.uint64)), exe.name


def test_host_log_exp_match_cpu(host_checks, tmp_path):
    rs = np.random.default_rng(13)
    x32 = np.concatenate([np.exp2(rs.uniform(-125, 127, 100_000)), rs.uniform(-100, 100, 100_000),
                          [np.inf, -np.inf, np.nan, 88.72, -87.33, 88.73, -87.34, 1.0, 0.0]]
                         ).astype(np.float32)
    x64 = np.concatenate([np.exp2(rs.uniform(-1021, 1023, 100_000)),
                          rs.uniform(-720, 720, 100_000),
                          [np.inf, -np.inf, np.nan, 709.7, -708.3, 709.8, -708.5, 1.0, 0.0]])
    o32 = np.empty((x32.size, 2), np.float32)
    o64 = np.empty((x64.size, 2))
    _cpu_math(x32, x64, o32, o64)
    pos32 = (x32 > 0) & np.isfinite(x32)
    pos64 = (x64 > 0) & np.isfinite(x64)
    for exe in host_checks:
        h32 = np.frombuffer(_run(exe, "math32", x32, tmp_path), np.uint32).reshape(-1, 2)
        h64 = np.frombuffer(_run(exe, "math64", x64, tmp_path), np.uint64).reshape(-1, 2)
        assert np.array_equal(h32[pos32, 0], o32[pos32, 0].view(np.uint32)), exe.name
        assert np.array_equal(h64[pos64, 0], o64[pos64, 0].view(np.uint64)), exe.name
        assert np.array_equal(h32[:, 1], o32[:, 1].view(np.uint32)), exe.name   # exp: all inputs
        assert np.array_equal(h64[:, 1], o64[:, 1].view(np.uint64)), exe.name


# ---------------------------------------------------------------- backend choice, packaging

def test_backend_names_and_gpu_requirement():
    assert _backends.BACKENDS == ("auto", "cpu", "numba-cuda", "cupy")
    assert _backends.backend_for("auto", np.zeros(3)).__name__ == "fastgumbel.cpu"
    for name in ("numba-cuda", "cupy"):
        status = _backends.backend_status(name)
        assert status in ("available", "no GPU", "not installed")
        if status == "no GPU":
            with pytest.raises(RuntimeError, match=f"backend '{name}' needs an NVIDIA GPU"):
                fg.gumbel_max(np.zeros(3), backend=name)
        elif status == "available":   # a machine with a GPU
            x = np.zeros(3)
            assert fg.gumbel_max(x, backend=name, rng=1) == fg.gumbel_max(x, rng=1)


def test_device_arrays_are_recognised_without_imports():
    class CAI:
        __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False),
                                    "version": 3}

    assert _arrays.device_kind(CAI()) == "cuda"
    assert _arrays.device_kind(np.zeros(2)) is None
    assert _arrays.foreign_array_kind(CAI()) is None
    code = ("import sys, fastgumbel as fg, numpy as np; fg.gumbel_softmax(np.zeros(3), rng=0); "
            "print(sorted(m for m in ('cupy', 'numba.cuda', 'torch', 'jax') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_kernel_sources_are_package_data():
    names = {p.name for p in KERNELS.iterdir()}
    assert {"philox.cuh", "gumbel.cu"} <= names
    cfg = (ROOT / "pyproject.toml").read_text()
    assert '"fastgumbel.cupy.kernels" = ["*.cu", "*.cuh"]' in cfg


@njit(cache=False)   # not cached: the on-disk cache would miss edits of _scalar/
def _cpu_ext32(w, e, ex):
    for i in range(w.shape[0]):
        e[i] = _scalar.exponential_bits32(w[i])
        ex[i] = 0.0


def test_host_exponential_exp_nonpos_and_bf16_match_cpu(host_checks, tmp_path):
    """fg_exponential_bits32 (the E of the one-log soft sample), fg_exp_nonpos_f32 and the
    bfloat16 conversions of philox.cuh against the CPU / NumPy on every word near the extreme
    patterns, one word in every 2**12 (every float32 exponent range, both signs, NaN, inf),
    and random words; bfloat16 against round-to-nearest-even with NaN -> 0x7FC0."""
    near = (EXTREMES[:, None] + np.arange(-2**14, 2**14)[None, :]).reshape(-1)
    w = np.concatenate([near % 2**32, np.arange(0, 2**32, 2**12),
                        np.random.default_rng(5).integers(0, 2**32, 200_000)]).astype(np.uint32)
    e = np.empty(w.size, np.float32)
    _cpu_ext32(w, e, np.empty(w.size, np.float32))
    x = w.view(np.float32)
    with np.errstate(all="ignore"):
        ok = x <= 64
        ex = np.zeros(w.size, np.float32)
        ex[ok] = _cpu_exp_nonpos(x[ok])
        u = w.astype(np.uint64)
        bf = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    bf = np.where(np.isnan(x), np.uint16(0x7FC0), bf)
    rec = np.dtype([("e", "<f4"), ("ex", "<f4"), ("bf", "<u2"), ("back", "<f4")])
    for exe in host_checks:
        out = np.frombuffer(_run(exe, "ext32", w, tmp_path), rec)
        assert np.array_equal(out["e"].view(np.uint32), e.view(np.uint32)), exe.name
        assert np.array_equal(out["ex"].view(np.uint32), ex.view(np.uint32)), exe.name
        assert np.array_equal(out["bf"], bf), exe.name
        assert np.array_equal(out["back"].view(np.uint32), bf.astype(np.uint32) << 16)


@njit(cache=False)
def _cpu_exp_nonpos_loop(x, o):
    for i in range(x.shape[0]):
        o[i] = _scalar.exp_nonpos_f32(x[i])


def _cpu_exp_nonpos(x):
    o = np.empty(x.size, np.float32)
    _cpu_exp_nonpos_loop(np.ascontiguousarray(x), o)
    return o
