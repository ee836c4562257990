"""sm_90 SASS of the Numba CUDA kernels, without a GPU: registers, spills and instructions per
element on the hot path (issue 20's static budget).

    python bench/gpu/sass_numba.py [--out DIR] [--only SCENARIO ...] [--spec f32|bf16|f64|f16]
                                   [--detail]

Each kernel of :mod:`fastgumbel.cuda` is compiled by numba-cuda to PTX for compute
capability 9.0 with the exact launch signature (``fastgumbel.cuda._signatures``); the PTX
goes through ``ptxas -arch=sm_90 -v`` (registers, spill bytes) to a cubin, which
``bench/gpu/sass_budget.py`` (the CuPy helper's counting tool) disassembles and counts.
numba-cuda's NVVM may write a newer PTX ISA version than the machine's ptxas reads; the
``.version`` line is lowered to the ptxas's own (the kernels use no newer instruction).
Without a GPU, numba-cuda's lookup of the current device (for the compute capability of
device functions) is pointed at a stand-in of compute capability 9.0, as
``tests/cuda/ptx_check.py`` does.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import types as pytypes
from pathlib import Path

CC = (9, 0)
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("SASS_NUMBA_ROOT", str(ROOT)))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba.cuda.dispatcher as _disp  # noqa: E402
from numba import cuda  # noqa: E402

if not cuda.is_available():
    _disp.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=CC)

_jit = cuda.jit


def _jit_lineinfo(*args, **kw):
    """cuda.jit with line info for device functions too (the kernels' own decorators leave
    it off), so that the SASS lines name the device function lines they come from; line
    info does not change the generated code."""
    kw.setdefault("lineinfo", DEVICE_LINEINFO[0])
    return _jit(*args, **kw)


#: line info for device functions; off for the softmax kernels, whose debug metadata NVVM
#: rejects (ERROR_COMPILATION) with it: their device functions' instructions then carry
#: the kernel line that calls them, and the scenario names cold kernel lines
DEVICE_LINEINFO = [os.environ.get("SASS_NUMBA_DEVICE_LINEINFO", "1") == "1"]


cuda.jit = _jit_lineinfo

import numpy as np  # noqa: E402
from numba import types  # noqa: E402

from fastgumbel.cuda import kernels  # noqa: E402

#: the fastgumbel whose kernels are counted (an extracted revision under --rev)
SRC_ROOT = Path(os.environ.get("SASS_NUMBA_ROOT", str(ROOT)))
#: revisions since the kernel split have _signatures.launch_types and count with AFTER
CURRENT_API = (SRC_ROOT / "fastgumbel" / "cuda" / "_signatures.py").exists()
if CURRENT_API:
    from fastgumbel.cuda._signatures import launch_types  # noqa: E402

SPECS = {"f32": (np.float32, types.float32, types.float32, False),
         "bf16": (np.uint16, types.uint16, types.float32, True),
         "f16": (np.float16, types.float16, types.float32, False),
         "f64": (np.float64, types.float64, types.float64, False)}


def ptxas_version():
    out = subprocess.run(["ptxas", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release (\d+)\.(\d+)", out)
    # ptxas of CUDA 13.x reads PTX ISA 9.x
    return f"{int(m.group(1)) - 4}.{m.group(2)}" if m else "9.0"


def compile_cubin(spec, name, out, bits64=False):
    """PTX and cubin of one kernel in ``out``; returns (ptxas info dict, cubin path)."""
    dt, store, nt, bf16 = SPECS[spec]
    sig = launch_types(store, nt)[name]
    kern = kernels(dt, bf16, bits64)[name]
    ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=CC, lineinfo=True)
    return _assemble(ptx, out, f"{spec}{'_w64' if bits64 else ''}_{name}")


def _assemble(ptx, out, stem):
    """ptxas -v of PTX text into ``out/stem.cubin``; returns (info dict, cubin path)."""
    ptx = re.sub(r"^\.version \d+\.\d+", f".version {ptxas_version()}", ptx, flags=re.M)
    p = out / f"{stem}.ptx"
    p.write_text(ptx)
    cubin = out / f"{stem}.cubin"
    r = subprocess.run(["ptxas", f"-arch=sm_{CC[0]}{CC[1]}", "-v", "-lineinfo", "-o", str(cubin),
                        str(p)],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)
    info = {"registers": int(re.search(r"Used (\d+) registers", r.stderr).group(1)),
            "spill_stores": int(re.search(r"(\d+) bytes spill stores", r.stderr).group(1)),
            "spill_loads": int(re.search(r"(\d+) bytes spill loads", r.stderr).group(1)),
            "stack": int(re.search(r"(\d+) bytes stack frame", r.stderr).group(1))}
    return info, cubin


# ---------------------------------------------------------------- scenarios
# 8192 x 4096 float32, tau = 1, 32-bit words, check=False: a team of 256 threads per row
# (team_size(4096)), 4 groups of 4 columns per thread, all in the register cache.
_ALIGNED = ["x1 = ld(x, r, c + 1) if c + 1 < K else fill",      # partial groups: K % 4 != 0
            "x2 = ld(x, r, c + 2) if c + 2 < K else fill",
            "if c + 1 < K:", "if c + 2 < K:"]
_RARE = ["bs, bi = _better(ld(x, r, col) + g1(k0, k1, stream, row, col), col, bs, bi)",
         "cuda.atomic.add("]
_TRIPS = {"for q in range(lane + cache * T, nq, T)": 0,        # long rows only
          "for q in range(lane, (K + 3) >> 2, T):": 0}         # rows with NaN / +inf only
# kernel lines of the softmax (compiled without device line info, see DEVICE_LINEINFO):
# long rows (the groups past the register cache). The scan of rows with NaN / +inf is marked
# fg:cold at its call, under the test that skips it (the test is in a kernel line of its
# own: were the test inside the scan, without device line info it would carry the scan's
# cold line, its decision block would be cold, and with it everything after: pass 2).
_SOFTMAX_COLD = ["ref, l, chk = long1(x, rr", "long2(x, out, rr", "cuda.atomic.add(flags",
                 # the tau == 1 soft kernel (issue 20, session 6): its three long-row passes
                 "m = lmax(x, rr", "l = lsum(x, rr", "lout(x, out, rr",
                 # ... and its groups outside the row (rows of 4096 columns: none)
                 "m = pass1p(rv, x", "l = weightsp(rv,", "pass2p(rv, out"]
_SOFTMAX_TRIPS = {}
# the search's groups past the register cache (none at 4096 columns: the loop's guard is
# counted, the set-up the compiler puts between the guard and the loop is not)
_LONG_SEARCH = ["= long1(x, r, lane, T, nq, K",
                # every cached group of every thread lies inside the row at 4096 columns
                # (team of 256): the part-row first pass of the float32 search does not run
                "mine, chk = part1(ru, x, r, lane, T, nq, K"]
AFTER = {
    "soft": ("soft_tau1", 16, _SOFTMAX_TRIPS, _SOFTMAX_COLD),
    "soft (tau != 1)": ("soft", 16, _SOFTMAX_TRIPS, _SOFTMAX_COLD),
    "log": ("log", 16, _SOFTMAX_TRIPS, _SOFTMAX_COLD),
    "hard": ("hard", 16, {"for q in range(lane, (n + 3) >> 2, T):": 4}, _LONG_SEARCH),
    "gumbel_max": ("argmax", 16, {}, _LONG_SEARCH + ["r = dd // D",   # one draw per row
                                                     "d = dd - r * D              # (D draws",
                                                     "row = _U((row0 + r) * D + d)"]),
    # 8 rows per thread at this size (fastgumbel.cuda._host.fill_noise)
    "noise": ("fill_noise", 32, {"for r in range(r0, rows,": 8, "while r < rows:": 8},
              ["n0, n1, n2, n3 = lo + sc * n0, lo + sc * n1",
               # loc = 0, scale = 1: the loop of the affine map is not run
               "scaled(out, r0, rows, q, K, row0, kw",
               # 4096 columns: every group whole
               "part(out, r0, rows, q, K, row0, kw",
               # float32 rows on 16 bytes: the 128-bit store loop (vplain), not the scalar one
               "scalar(out, r0, rows, q, K, row0, kw"]),
    "topk (k=8)": ("topk", 16 * 8, {"for p in range(idx.shape[1]):": 8,
                                    "for q in range(lane, nq, T):": 4}, []),
    "backward": ("backward", 16, {"for col in range(lane, n, T):": 16}, []),
}


# The kernels of revision acc3db4 (before issue 20): one softmax kernel with runtime mode /
# word width switches (the other modes' lines are cold), shared-memory tree reductions
# (8 levels for a team of 256), the argmax kernel for gumbel_max.
_B_64 = ["a0, a1, a2, a3 = philox_block(_U(2 * q)", "b0, b1, b2, b3 = philox_block(_U(2 * q + 1)",
         "return (nt(uniform_bits64(", "return (nt(gumbel_bits64(", "return (nt(uniform_bits32(",
         "cuda.atomic.add("]
_B_TRIPS = {"while off > 0:": 8, "for q in range(lane + cache * T, nq, T):": 0}
BEFORE = {
    "soft": ("softmax", 16, {}, ["return (s - M) / t - lse, False", "return zero, e * inv == inv",
                                "z, best = red_argmax("]),
    "log": ("softmax", 16, {}, ["e = exp_((s - M) / t)", "return e * inv, False",
                               "return zero, e * inv == inv", "z, best = red_argmax("]),
    "hard": ("softmax", 16, {}, ["return (s - M) / t - lse, False", "return e * inv, False"]),
    "gumbel_max": ("argmax", 16, {"for q in range(lane, nq, T):": 4}, []),
    "noise": ("fill_noise", 4, {}, ["n0 = lo + sc * n0"]),
    "topk (k=8)": ("topk", 16 * 8, {"for p in range(k):": 8, "for q in range(lane, nq, T):": 4},
                   []),
    "backward": ("backward", 16, {"for col in range(lane, n, T):": 16}, []),
}


def count_before(scenario, out):
    """(ptxas info, Count) of a scenario of :data:`BEFORE`, with the fastgumbel on sys.path
    (an old revision: ``--rev``); its API: ``kernels(dtype)[name]``, ``SIGNATURES`` of
    (dtype, name, types)."""
    from sass_budget import kernels as cubin_kernels
    import fastgumbel.cuda as old
    name, elements, trips, cold = BEFORE[scenario]
    sig = next(sg for dt, nm, sg in old.SIGNATURES if dt is np.float32 and nm == name)
    ptx, _ = cuda.compile_ptx(old.kernels(np.float32)[name].py_func, sig, cc=CC, lineinfo=True)
    info, cubin = _assemble(ptx, out, f"before_{name}")
    src = {f.name: f.read_text() for f in Path(old.__file__).parent.parent.rglob("*.py")}
    src.update({f.name: f.read_text() for f in Path(old.__file__).parent.glob("*.py")})
    c = count_unrolled(cubin, cubin_kernels(cubin)[0], elements, {**_B_TRIPS, **trips},
                       _B_64 + cold, src)
    return info, c


# ---------------------------------------------------------------- unrolled loops
#: instructions that mark one copy of a loop body (memory, MUFU, shuffles): their count in
#: an unrolled body over their count in its one-copy remainder loop is the unroll factor
_MARKS = ("LDG", "STG", "LDS", "STS", "MUFU", "SHFL", "ATOM", "RED")


def _marks(ins, first, last):
    body = [i for i in ins if first <= i.addr <= last]
    n = sum(i.op.startswith(_MARKS) for i in body)
    return n if n else len(body)


def unrolled_trips(cubin, kern, trips, loops, sources):
    """``trips`` with the trip count ``n`` of each source loop that the compiler unrolled
    replaced by a tuple (sass_budget's form: one entry per backward branch of the source
    loop, in address order): NVVM's unrolling of a loop by ``u`` leaves a one-copy
    remainder loop that runs ``n % u`` times and a body of ``u`` copies that runs ``n // u``
    times (``loops``: the ``Count.loops`` of a first count). A loop counted with ``n`` at
    each branch would count its work up to ``u + 1`` times. ``u`` is the ratio of the
    memory / MUFU / shuffle instructions in each loop to the fewest in any of them."""
    from sass_budget import _matches, disassemble
    ins = disassemble(cubin, kern)
    matched = []                     # (spec, source loop, marks) in address order
    for first, last, _n, _size, frames in loops:
        spec = next((s for s in trips if _matches(frames, [s], sources)), None)
        if spec is not None and not isinstance(trips[spec], tuple):
            matched.append((spec, frames[0], _marks(ins, first, last)))
    fixed = dict(trips)
    for spec in {m[0] for m in matched}:
        mine = [(src, mk) for sp, src, mk in matched if sp == spec]
        per = []
        for src, mk in mine:         # one source loop: its remainder and unrolled body
            least = min(m for s2, m in mine if s2 == src)
            per.append((src, max(1, round(mk / least))))
        if all(u == 1 for _s, u in per):
            continue
        n = trips[spec]
        top = {src: max(u for s2, u in per if s2 == src) for src, _u in per}
        fixed[spec] = tuple(n // u if u == top[src] else n % top[src] for src, u in per)
    return fixed


def count_unrolled(cubin, kern, elements, trips, cold, src):
    """sass_budget.count_kernel with the trips of unrolled loops made honest
    (:func:`unrolled_trips`)."""
    from sass_budget import count_kernel
    c = count_kernel(cubin, kern, elements=elements, trips=trips, cold=cold, sources=src)
    fixed = unrolled_trips(cubin, kern, trips, c.loops, src)
    if fixed != trips:
        c = count_kernel(cubin, kern, elements=elements, trips=fixed, cold=cold, sources=src)
    return c


def sources():
    """{file basename: text} for line matching (fastgumbel/cuda first: its names win)."""
    src = {f.name: f.read_text() for f in (SRC_ROOT / "fastgumbel").rglob("*.py")}
    src.update({f.name: f.read_text() for f in (SRC_ROOT / "fastgumbel" / "cuda").glob("*.py")})
    return src


def count(scenario, out, spec="f32"):
    """(ptxas info, sass_budget Count) of one scenario of :data:`AFTER`."""
    from sass_budget import kernels as cubin_kernels
    name, elements, trips, cold = AFTER[scenario]
    info, cubin = compile_cubin(spec, name, out)
    kern = cubin_kernels(cubin)[0]
    c = count_unrolled(cubin, kern, elements, {**_TRIPS, **trips}, _ALIGNED + _RARE + cold,
                       sources())
    return info, c


def _has_signatures(rev):
    """True when revision ``rev`` has the current kernel API (counted with :data:`AFTER`)."""
    return subprocess.run(["git", "cat-file", "-e", f"{rev}:fastgumbel/cuda/_signatures.py"],
                          cwd=ROOT, capture_output=True).returncode == 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/sass_numba")
    ap.add_argument("--only", nargs="*", default=list(AFTER))
    ap.add_argument("--spec", default="f32", choices=sorted(SPECS))
    ap.add_argument("--detail", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--rev", help="count the kernels of this git revision (its own scenarios)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    old_api = a.rev and not _has_signatures(a.rev)
    table = BEFORE if old_api else AFTER
    if a.one is None:
        # one process per scenario: device line info is decided when the kernels are built
        print(f"Numba CUDA kernels{' of ' + a.rev if a.rev else ''}, sm_90, {a.spec}, "
              f"8192x4096, tau = 1 (static count)")
        print(f"{'scenario':16s} {'regs':>4s} {'spill':>7s} {'instr/elem':>10s}", flush=True)
        env = dict(os.environ)
        if a.rev:
            tree = out / f"rev-{a.rev}"
            tree.mkdir(exist_ok=True)
            arch = subprocess.run(["git", "archive", a.rev, "fastgumbel"], cwd=ROOT, check=True,
                                  capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=arch, check=True)
            env["SASS_NUMBA_ROOT"] = str(tree)
        for sc in [x for x in a.only if x in table]:
            env["SASS_NUMBA_DEVICE_LINEINFO"] = "0" if (not old_api and AFTER[sc][0] in (
                "soft_tau1", "soft", "log")) else "1"
            subprocess.run([sys.executable, __file__, "--one", sc, "--out", str(out), "--spec",
                            a.spec] + (["--detail"] if a.detail else []) +
                           (["--rev", a.rev] if a.rev else []), env=env, check=True)
        return
    for sc in [a.one]:
        t0 = time.perf_counter()
        info, c = count_before(sc, out) if not CURRENT_API else count(sc, out, a.spec)
        print(f"{sc:16s} {info['registers']:4d} {info['spill_stores']:3d}/{info['spill_loads']:<3d} "
              f"{c.per_element:10.1f}   ({time.perf_counter() - t0:.0f} s)", flush=True)
        if a.detail:
            for fl, w, text in c.by_line[:20]:
                print(f"      {w / c.elements:6.1f} {fl[0]}:{fl[1]} {text[:70]}")


if __name__ == "__main__":
    main()
