"""The suite's slow separate-process checks, run in the background.

They are started as soon as the session's tests are selected (tests/conftest.py), so they
run while the rest of the suite does (which leaves a core idle while Numba compiles), and
the tests that wait for them are moved to the end of the session. The GPU-offline checks of
tests/test_cuda.py: the CUDA simulator suite (tests/cuda), the PTX compile of the Numba
kernels, nvcc on the CUDA C (to PTX), and NVRTC on the CuPy backend's source (to a cubin);
and the checks that compile the CPU kernels in fresh processes with an empty cache: the
same bits for a narrower vector ISA (tests/test_arrays.py), kernels loaded from a partly
filled cache and the cold-start table (tests/test_cli.py).
``python tests/_background.py nvrtc`` is the NVRTC step (it prints one JSON line);
``python tests/_background.py cache DIR`` the partly-filled cache step.
"""
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the CuPy backend's CUDA C, found without importing fastgumbel.cupy (which imports cupy)
KERNELS = importlib.resources.files("fastgumbel") / "cupy" / "kernels"
NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc")
                                else None)

#: test name -> the background step it waits for
WAITERS = {"test_numba_cuda_kernels_in_simulator": "sim",
           "test_numba_cuda_kernels_compile_to_ptx_sm90": "ptx",
           "test_cuda_c_compiles_with_nvcc_sm90": "nvcc",
           "test_cuda_c_compiles_with_nvrtc_sm90": "nvrtc",
           "test_vector_width_does_not_change_any_bit": "isa",
           "test_kernels_load_from_a_partly_filled_cache": "cache",
           "test_bench_cold_start_table": "cold"}

#: The isa step: a hash of the kernels' results, then facts about the machine code of the
#: float32 kernels (compiled in this process: its cache dir is new). Lines start with a tag.
BITS_SCRIPT = """
import hashlib, json, re, numpy as np, fastgumbel as fg
from fastgumbel import cpu
from fastgumbel.cpu._softmax import _SOFTMAX_KERNELS
x = np.random.default_rng(0).standard_normal((16, 3000)).astype(np.float32)
h = hashlib.sha256()
y = fg.gumbel_softmax(x, 0.7, rng=3)
for a in (y, fg.gumbel_log_softmax(x, rng=3), fg.gumbel_max(x, rng=3),
          fg.gumbel(size=(16, 3000), rng=3),
          fg.gumbel(size=(4, 500), dtype=np.float64, rng=3),
          *fg.gumbel_softmax_backward(np.cos(x), 0.7, y_soft=y)):
    h.update(np.ascontiguousarray(a).tobytes())
print("HASH", h.hexdigest())
asm = {}
# the soft/hard row kernels also hold the short-row group path (cpu/_short.py), whose
# column reads across rows are strided by design (gathers under AVX-512): the log kernel
# (the general-tau row loops, without that path) is checked instead; the tau == 1 ratio
# loops of the soft kernel are not covered by this asm check
for k in (cpu.fill_noise, _SOFTMAX_KERNELS[cpu.LOG][0], cpu.argmax_by_row,
          cpu.softmax_backward_rows):
    code = "".join(a for s, a in k.inspect_asm().items() if "float32" in str(s))
    asm[k.__name__] = {"gathers": len(re.findall(r"vgather|vscatter", code)),
                       "packed_fma": len(re.findall(r"vfmadd\\w*ps\\s+%[yz]mm", code)),
                       "zmm": code.count("zmm")}
print("ASM", json.dumps(asm))
"""

#: The cache step's child: the kernels of the given dtypes, each called once.
KERNELS_SCRIPT = """
import sys, numpy as np, fastgumbel as fg
for name in sys.argv[1:]:
    x = np.zeros((3, 5), name)
    g = np.ones_like(x)
    fg.gumbel_softmax(x, rng=1), fg.gumbel_max(x, rng=1), fg.gumbel(size=x.shape, dtype=name, rng=1)
    fg.gumbel_softmax_backward(g, 1.0, y_soft=fg.gumbel_softmax(x, rng=1))
    fg.gumbel_softmax_backward(g, 1.0, logits=x, rng=1)
print("ok")
"""
#: The dtypes of the cache step's three processes: one compiles float32, the next loads
#: float32 and compiles float64, the last loads both.
CACHE_RUNS = (["float32"], ["float64", "float32"], ["float32", "float64"])


def isa_features():
    """(this machine's LLVM CPU features, the same with its widest vector extension
    switched off), the second None where there is no AVX2 or AVX-512 to switch off."""
    import llvmlite.binding as llvm
    feats = llvm.get_host_cpu_features().flatten().split(",")
    wide = ([f for f in feats if f.startswith("+avx512")]
            or [f for f in feats if f in ("+avx2", "+avx")])
    narrow = ",".join("-" + f[1:] if f in wide else f for f in feats) if wide else None
    return feats, narrow


def env(**extra):
    """The environment of a child process: this checkout first, no simulator or GPU flags."""
    e = dict(os.environ)
    e.pop("NUMBA_ENABLE_CUDASIM", None)
    e.pop("FASTGUMBEL_GPU_TESTS", None)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [e.get("PYTHONPATH")] if p])
    e.update(extra)
    return e


class Proc:
    """A command started in the background, its output going to the file ``log`` (not a
    pipe, which nobody reads until the session's end: a full pipe would stall the command);
    ``result()`` waits for it."""

    def __init__(self, args, environ, log, cwd=ROOT):
        self.log = Path(log)
        with open(self.log, "w") as f:
            self.p = subprocess.Popen(args, cwd=cwd, env=environ, stdout=f,
                                      stderr=subprocess.STDOUT)

    def result(self, timeout=900):
        self.p.wait(timeout=timeout)
        return self.p.returncode, self.log.read_text(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def start(steps):
    """Start the named steps (values of :data:`WAITERS`); a dict step -> Proc, with the
    nvcc step a list of (source, ptx path, Proc) and ``"dir"`` the scratch directory."""
    d = Path(tempfile.mkdtemp(prefix="fastgumbel-bg-"))
    procs = {"dir": d}
    if "sim" in steps:
        procs["sim"] = Proc([sys.executable, "-m", "pytest", "-q", "-m", "not gpu",
                             "tests/cuda"], env(NUMBA_ENABLE_CUDASIM="1"), d / "sim.log")
    if "ptx" in steps:
        procs["ptx"] = Proc([sys.executable, "tests/cuda/ptx_check.py"], env(), d / "ptx.log")
    if "nvrtc" in steps:
        procs["nvrtc"] = Proc([sys.executable, str(Path(__file__)), "nvrtc"], env(),
                              d / "nvrtc.log")
    if "isa" in steps:
        _, narrow = isa_features()
        for name, extra in (("host", {}), ("narrow", {"NUMBA_CPU_FEATURES": narrow})):
            if name == "host" or narrow:
                procs["isa-" + name] = Proc([sys.executable, "-c", BITS_SCRIPT],
                                            env(NUMBA_CACHE_DIR=str(d / f"isa-{name}"), **extra),
                                            d / f"isa-{name}.log")
    if "cache" in steps:
        procs["cache"] = Proc([sys.executable, str(Path(__file__)), "cache", str(d / "cache")],
                              env(), d / "cache.log")
    if "cold" in steps:
        procs["cold"] = Proc([sys.executable, "-m", "fastgumbel", "bench", "--cold"], env(),
                             d / "cold.log")
    if NVCC and "nvcc" in steps:
        with importlib.resources.as_file(KERNELS) as kdir:
            cus = sorted(Path(kdir).glob("*.cu"))
        procs["nvcc"] = []
        for cu in cus:
            ptx = d / (cu.stem + ".ptx")
            # nvcc's front end and NVVM only (-ptx): ptxas runs once, in the NVRTC step
            procs["nvcc"].append((cu, ptx, Proc(
                [NVCC, "-std=c++17", "-arch=sm_90", "-fmad=false", "-ptx", "-Werror",
                 "all-warnings", "-o", str(ptx), str(cu)], env(), d / (cu.stem + ".nvcc.log"))))
    return procs


def stop(procs):
    for key, v in procs.items():
        if key != "dir":
            for _, _, proc in (v if isinstance(v, list) else [(None, None, v)]):
                proc.stop()
    shutil.rmtree(procs["dir"], ignore_errors=True)


def entry_points():
    """The extern \"C\" entry points of gumbel.cu that the CuPy backend looks up."""
    src = KERNELS.joinpath("gumbel.cu").read_text()
    names = ["fg_fill_noise_f16", "fg_fill_noise_bf16", "fg_fill_noise_f32", "fg_fill_noise_f64"]
    for op, sfxs in (("softmax", "f16 bf16 f32 f64"), ("argmax", "f16 bf16 f32 f64"),
                     ("topk", "f16 bf16 f32 f64"), ("backward", "f32 f64"), ("concrete", "f32 f64")):
        for sfx in sfxs.split():
            for team in (32, 256, 512):
                names.append(f"fg_{op}_{sfx}_t{team}")
    assert "FG_SAMPLER_ENTRIES(T, TI, SUF, 512)" in src
    return names


def nvrtc_compile(names):
    """The CuPy backend's exact source and options compiled by NVRTC for sm_90: a dict of
    the step results (asserted by tests/test_cuda.py)."""
    from cuda.bindings import nvrtc
    import fastgumbel.cupy as fcp
    ok = nvrtc.nvrtcResult.NVRTC_SUCCESS
    src = fcp.source()
    r = {"inlined": '#include "philox.cuh"' not in src and "fg_philox" in src}
    err, prog = nvrtc.nvrtcCreateProgram(src.encode(), b"gumbel.cu", 0, [], [])
    r["created"] = err == ok
    r["named"] = all(nvrtc.nvrtcAddNameExpression(prog, n.encode())[0] == ok for n in names)
    opts = [o.encode() for o in fcp.NVRTC_OPTIONS] + [b"--gpu-architecture=sm_90"]
    err, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    log = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, log)
    r["compiled"], r["log"] = err == ok, log.decode(errors="replace")
    lowered = [nvrtc.nvrtcGetLoweredName(prog, n.encode()) for n in names] if err == ok else []
    r["unmangled"] = [n for n, (e, low) in zip(names, lowered) if e != ok or low.decode() != n]
    err, cubin_size = nvrtc.nvrtcGetCUBINSize(prog) if r["compiled"] else (None, 0)
    r["cubin_size"] = int(cubin_size) if err == ok else 0
    return r


def partly_filled_cache(cache_dir):
    """The cache step: :data:`CACHE_RUNS` in turn, each in a fresh process on one Numba
    cache directory; prints "ok" and the dtypes per run, and exits 1 at the first failure."""
    for dtypes in CACHE_RUNS:
        r = subprocess.run([sys.executable, "-c", KERNELS_SCRIPT, *dtypes],
                           env=env(NUMBA_CACHE_DIR=cache_dir), capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0 or r.stdout.strip() != "ok":
            print("failed:", dtypes, r.stdout, r.stderr)
            sys.exit(1)
        print("ok", *dtypes)


if __name__ == "__main__" and sys.argv[1:2] == ["cache"]:
    partly_filled_cache(sys.argv[2])

if __name__ == "__main__" and sys.argv[1:] == ["nvrtc"]:
    try:
        importlib.import_module("cuda.bindings.nvrtc")
    except ImportError:
        print(json.dumps({"skip": "cuda.bindings.nvrtc is not installed"}))
        sys.exit(0)
    print(json.dumps(nvrtc_compile(entry_points())))
