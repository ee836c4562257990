"""Static instruction budget of the GPU kernels, from their sm_90 SASS (no GPU needed).

    python bench/gpu/sass_budget.py                 # the CuPy kernels of this checkout
    python bench/gpu/sass_budget.py --rev acc3db4   # the CuPy kernels of another revision
    python bench/gpu/sass_budget.py --detail soft   # plus loops and the costliest lines

What it reports, per kernel and scenario (8192x4096 float32, tau = 1, aligned rows, unless
the scenario says otherwise): registers, stack frame and spill bytes (ptxas -v of the
compile, and the STL/LDL instructions in the SASS), and the *instructions issued per
element* on the hot path of one thread.

How the instructions are counted
--------------------------------
1. Compile exactly as the backend does: ``fastgumbel.cupy.source()`` through NVRTC with
   ``fastgumbel.cupy.NVRTC_OPTIONS`` (``--fmad=false`` ...) for ``sm_90``, plus
   ``--generate-line-info`` (source line records only; the SASS is the same instruction for
   instruction, checked by ``same_code_without_lineinfo``) and ``-Xptxas -v`` (registers and
   spills).
2. Disassemble with ``nvdisasm -c -gi`` (the line records with their inline stacks: each
   instruction knows every source line it was inlined through).
3. Cut each kernel into basic blocks (at labels and after branches / EXIT / RET) and follow
   the edges from the entry. Code reached only through ``CALL`` (the IEEE division and
   sqrt slow paths, taken for denormal or huge operands) is not on the hot path; nor are
   blocks after the last EXIT that nothing branches to.
4. *Cold* blocks: a scenario names source lines that the hot path does not execute (a mode
   or word width the scenario does not use, the rare rescale of an online softmax, a
   NaN/inf fix-up, the recompute of a cached group); a block is cold when most of its
   instructions other than tests, branches and parameter loads (ISETP/FSETP/BRA/BSSY/BSYNC/
   LDC ...) come through such a line (any frame of the inline stack), except that a block
   ending in a conditional branch (a decision: the test of a cold branch is executed) is cold
   only when 90 % of those instructions are (the compiler hoists a few setup instructions
   into the first block of a cold region); every block reachable only through cold blocks
   is cold. Lines that carry the marker ``fg:cold`` in the
   source are cold in every scenario. Call-site blocks (``CALL``) are cold too.
5. Loops are the backward branches (``BRA`` to a lower address): every block between the
   target and the branch is in the loop. A scenario gives the trip count of each loop that
   runs (matched by a source line of the branch, the loop's ``for``/``while``), default 1;
   a loop that runs zero times at the shape gets 0. When the compiler unrolls a loop it
   leaves several backward branches for one source loop (a remainder loop and the unrolled
   body, in address order); a tuple of trip counts gives them in that order (16 source
   iterations unrolled by 4: ``(0, 4)``). A block's weight is the product of the
   trip counts of the loops around it.
6. Issued instructions = sum over hot blocks of (instructions in the block x weight):
   predicated-off instructions count (they take an issue slot), so do BSSY/BSYNC, branches,
   barriers and shuffles. One-time parts (setup, team reductions, the final store of an
   argmax) count once per thread. Dividing by the elements one thread handles at the shape
   (16 for a 4096-column row on a 256-thread team) gives instructions per element.

This is a model, not a measurement: it does not see warp divergence (a warp issues the union
of its lanes' paths), dual issue, or memory stalls, and the cold lines are the scenario's
claims. ``--detail`` prints the loops and the weighted cost per source line so they can be
checked.

Counting other cubins (for instance Numba CUDA's, bench/gpu/sass_numba.py)::

    from sass_budget import disassemble, resources, count_kernel
    ins = disassemble("k.cubin", "kernel_name")          # list of Instr
    res = resources("k.cubin", "kernel_name")            # registers, stack, spill instrs
    c = count_kernel("k.cubin", "kernel_name", elements=16,
                     trips={"for q in range": 4},         # loop -> trip count (line text or
                     cold=["if s > m:"],                  #   (file, line)); cold lines
                     sources={"kern.py": text})           # file -> text, for matching text
    print(c.per_element, c.total, c.loops)

``trips`` and ``cold`` entries are either source text (a substring of exactly the lines to
match; needs ``sources`` for files whose text this script cannot read itself) or
``(file_basename, line_number)`` pairs.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCH = "sm_90"


# ---------------------------------------------------------------- tools
def tool(name):
    """Path of a CUDA binary tool (nvdisasm, cuobjdump): PATH, the CUDA toolkit, or the
    nvidia-cuda-nvdisasm / nvidia-cuda-cuobjdump wheels (``pip install`` them if missing)."""
    found = shutil.which(name)
    if found:
        return found
    dirs = [Path(p) / "nvidia" / "cu13" / "bin" for p in site.getsitepackages()]
    dirs += [Path("/usr/local/cuda/bin")] + sorted(Path("/usr/local").glob("cuda-*/bin"))
    for d in dirs:
        if (d / name).exists():
            return str(d / name)
    raise FileNotFoundError(f"{name} not found: pip install nvidia-cuda-{name}")


# ---------------------------------------------------------------- compile (the backend's way)
def cupy_source(rev=None):
    """The CuPy backend's source as NVRTC gets it (gumbel.cu with philox.cuh inlined), of
    this checkout or of git revision ``rev``."""
    if rev is None:
        sys.path.insert(0, str(ROOT))
        from fastgumbel.cupy import kernels  # noqa: F401  (package data only)
        kdir = ROOT / "fastgumbel" / "cupy" / "kernels"
        header, body = (kdir / "philox.cuh").read_text(), (kdir / "gumbel.cu").read_text()
    else:
        show = functools.partial(subprocess.check_output, cwd=ROOT, text=True)
        header = show(["git", "show", f"{rev}:fastgumbel/cupy/kernels/philox.cuh"])
        body = show(["git", "show", f"{rev}:fastgumbel/cupy/kernels/gumbel.cu"])
    return body.replace('#include "philox.cuh"', header, 1)


def nvrtc_options(rev=None):
    """NVRTC_OPTIONS of fastgumbel/cupy/__init__.py (read as text: no cupy import)."""
    path = "fastgumbel/cupy/__init__.py"
    text = ((ROOT / path).read_text() if rev is None else
            subprocess.check_output(["git", "show", f"{rev}:{path}"], cwd=ROOT, text=True))
    m = re.search(r"^NVRTC_OPTIONS\s*=\s*\(([^)]*)\)", text, re.M)
    return tuple(re.findall(r'"([^"]+)"', m.group(1)))


def compile_nvrtc(src, options, out, name="gumbel.cu", lineinfo=True):
    """Compile ``src`` with NVRTC for sm_90; write the cubin to ``out``; return
    {kernel: {"registers", "stack", "spill_stores", "spill_loads"}} from ptxas -v."""
    from cuda.bindings import nvrtc
    err, prog = nvrtc.nvrtcCreateProgram(src.encode(), name.encode(), 0, [], [])
    opts = list(options) + [f"--gpu-architecture={ARCH}", "--ptxas-options=-v"]
    opts += ["--generate-line-info"] if lineinfo else []
    opts = [o.encode() for o in opts]
    err, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    log = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, log)
    log = log.decode(errors="replace")
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"NVRTC failed:\n{log[-4000:]}")
    _, n = nvrtc.nvrtcGetCUBINSize(prog)
    buf = b" " * n
    nvrtc.nvrtcGetCUBIN(prog, buf)
    Path(out).write_bytes(buf)
    return parse_ptxas_log(log)


def parse_ptxas_log(log):
    """{kernel: registers, stack, spill_stores, spill_loads} from ptxas -v output."""
    res, cur = {}, None
    for line in log.splitlines():
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            cur = res.setdefault(m.group(1), {})
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
                      line)
        if m and cur is not None:
            cur.update(stack=int(m.group(1)), spill_stores=int(m.group(2)),
                       spill_loads=int(m.group(3)))
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            cur = res.setdefault(m.group(1), {})
        m = re.search(r"Used (\d+) registers", line)
        if m and cur is not None:
            cur["registers"] = int(m.group(1))
    return res


# ---------------------------------------------------------------- disassembly
@dataclasses.dataclass
class Instr:
    addr: int
    pred: str          # "@P0", "@!P1" or ""
    op: str            # opcode with modifiers, e.g. "FFMA", "BRA", "LDG.E.128"
    text: str          # the instruction without address
    frames: tuple      # ((file_basename, line), ...) innermost first
    target: str = ""   # branch / call target label


_LINE = re.compile(r'//## File "([^"]+)", line (\d+)(?: inlined at "([^"]+)", line (\d+))?')
_INS = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)\s*(.*?)\s*;")


@functools.lru_cache(maxsize=8)
def _disassemble_all(cubin, mtime):
    out = subprocess.run([tool("nvdisasm"), "-c", "-gi", str(cubin)], check=True,
                         capture_output=True, text=True).stdout
    funcs, cur, labels, frames, pending = {}, None, {}, (), []
    for line in out.splitlines():
        m = re.match(r"\s*\.section\s+\.text\.([^,\s]+)", line)
        if m:
            cur = funcs.setdefault(m.group(1), ([], {}))
            frames, pending = (), []
            continue
        if cur is None:
            continue
        m = re.match(r"^(\.?[A-Za-z_$][\w.$]*):\s*$", line)
        if m:
            cur[1][m.group(1)] = len(cur[0])    # label -> index of next instruction
            continue
        m = _LINE.search(line)
        if m:
            pending.append((os.path.basename(m.group(1)), int(m.group(2))))
            if m.group(3) is None:               # outermost record closes the stack
                frames, pending = tuple(dict.fromkeys(pending)), []
            continue
        m = _INS.search(line)
        if m:
            text = (m.group(2) or "") + m.group(3) + " " + m.group(4)
            tgt = re.search(r"`\(([^)]+)\)", m.group(4))
            cur[0].append(Instr(int(m.group(1), 16), (m.group(2) or "").strip(), m.group(3),
                                text.strip(), frames, tgt.group(1) if tgt else ""))
    return funcs


def disassemble(cubin, kernel):
    """The instructions of ``kernel`` in ``cubin`` (nvdisasm -c -gi), with their labels as
    the attribute ``labels`` of the returned list ({label: instruction index})."""
    cubin = Path(cubin)
    ins, labels = _disassemble_all(cubin, cubin.stat().st_mtime)[kernel]
    out = _InstrList(ins)
    out.labels = labels
    return out


class _InstrList(list):
    labels: dict


def kernels(cubin):
    """Names of the kernels in ``cubin``."""
    cubin = Path(cubin)
    return sorted(_disassemble_all(cubin, cubin.stat().st_mtime))


def resources(cubin, kernel, ptxas=None):
    """{"registers", "stack", "local", "shared", "spill_stores", "spill_loads",
    "spill_instrs"}: cuobjdump -res-usage, ptxas -v figures when given (``ptxas`` dict of
    :func:`compile_nvrtc`), and the number of STL/LDL instructions in the SASS."""
    out = subprocess.run([tool("cuobjdump"), "-res-usage", str(cubin)], check=True,
                         capture_output=True, text=True).stdout
    res = {}
    m = re.search(r"Function " + re.escape(kernel) + r":\s*\n\s*REG:(\d+) STACK:(\d+) "
                  r"SHARED:(\d+) LOCAL:(\d+)", out)
    if m:
        res.update(registers=int(m.group(1)), stack=int(m.group(2)), shared=int(m.group(3)),
                   local=int(m.group(4)))
    if ptxas and kernel in ptxas:
        res.update({k: v for k, v in ptxas[kernel].items() if k.startswith("spill")})
    ins = disassemble(cubin, kernel)
    res["spill_instrs"] = sum(i.op.startswith(("STL", "LDL")) for i in ins)
    return res


# ---------------------------------------------------------------- control flow
_ENDS = ("BRA", "EXIT", "RET", "BRX", "JMP", "JMX")
# tests and branches: the decision of a cold branch is executed, only its body is cold
_CONTROL = {"ISETP", "FSETP", "DSETP", "HSETP2", "PLOP3", "BRA", "BSSY", "BSYNC", "WARPSYNC",
            "P2R", "R2P", "NOP", "EXIT", "LDC", "ULDC", "S2R", "S2UR"}   # (+ parameter loads)


@dataclasses.dataclass
class Block:
    start: int            # index of the first instruction
    end: int              # one past the last
    succ: list
    cold: bool = False
    weight: float = 1.0


def blocks(ins):
    """Basic blocks of a kernel's instruction list (see :func:`disassemble`)."""
    starts = {0} | set(ins.labels.values())
    for k, i in enumerate(ins):
        if i.op.split(".")[0] in _ENDS or i.op.startswith("CALL"):
            starts.add(k + 1)
    starts = sorted(s for s in starts if s < len(ins))
    index = {s: n for n, s in enumerate(starts)}
    out = []
    for n, s in enumerate(starts):
        e = starts[n + 1] if n + 1 < len(starts) else len(ins)
        last = ins[e - 1]
        base = last.op.split(".")[0]
        succ = []
        if base == "BRA" and last.target in ins.labels:
            succ.append(index[ins.labels[last.target]])
        # falls through unless an unconditional branch / exit (BRA P1, x is conditional)
        conditional = bool(last.pred) or re.search(r"^(@\S+\s+)?BRA\S*\s+!?U?P\d", last.text)
        if (base not in _ENDS or conditional) and e < len(ins) and index[e] not in succ:
            succ.append(index[e])
        out.append(Block(s, e, succ))
    return out


def _matches(frames, specs, sources):
    for spec in specs:
        if isinstance(spec, tuple):
            if spec in frames:
                return True
        else:
            for f, ln in frames:
                text = sources.get(f)
                if text is not None and spec in _line(text, ln):
                    return True
    return False


@functools.lru_cache(maxsize=16)
def _lines(text):
    return text.splitlines()


def _line(text, ln):
    lines = _lines(text)
    return lines[ln - 1] if 0 < ln <= len(lines) else ""


@dataclasses.dataclass
class Count:
    kernel: str
    total: float
    elements: float
    per_element: float
    loops: list           # (first addr, branch addr, trips, size, branch lines)
    by_line: list         # ((file, line), weighted instructions, text), costliest first
    called: int           # instructions only reachable through CALL (not counted)
    cold_instrs: int      # instructions in cold blocks (not counted)


def count_kernel(cubin, kernel, elements, trips=None, cold=(), sources=None):
    """Issued instructions per element on the hot path of one thread (module docstring).

    elements: elements one thread handles at the shape; trips: {line text or (file, line):
    trip count} for the loops (default 1); cold: line texts or (file, line) of cold lines;
    sources: {file basename: text} for matching line texts."""
    ins = disassemble(cubin, kernel)
    sources = dict(sources or {})
    trips = dict(trips or {})
    marked = [(f, n + 1) for f, t in sources.items()
              for n, ln in enumerate(t.splitlines()) if "fg:cold" in ln]
    cold = list(cold) + marked
    bl = blocks(ins)
    for b in bl:
        whole = ins[b.start:b.end]
        body = [i for i in whole if i.op.split(".")[0] not in _CONTROL]
        n_cold = sum(_matches(i.frames, cold, sources) for i in body)
        if len(b.succ) > 1:     # a decision: cold only when (nearly) all of it is
            b.cold = n_cold >= 0.9 * len(body) > 0
        else:
            b.cold = n_cold * 2 > len(body) > 0
        b.cold = b.cold or any(i.op.startswith("CALL") for i in whole)
    hot = _reach(bl, 0, lambda b: not b.cold)
    all_reach = _reach(bl, 0, lambda b: True)
    loops, seen = [], {}
    for k, b in enumerate(bl):
        last = ins[b.end - 1]
        if last.op.startswith("BRA") and last.target in ins.labels:
            t = ins.labels[last.target]
            if t <= b.end - 1 and k in hot:
                n = 1
                for spec, v in trips.items():
                    if _matches(last.frames, [spec], sources):
                        if isinstance(v, tuple):   # successive loops of one source loop
                            seen[spec] = seen.get(spec, -1) + 1
                            v = v[min(seen[spec], len(v) - 1)]
                        n = v
                        break
                loops.append((ins[t].addr, last.addr, n, b.end - t, last.frames))
                for b2 in bl:
                    if b2.start >= t and b2.end <= b.end:
                        b2.weight *= n
    total, by_line = 0.0, collections.Counter()
    for k, b in enumerate(bl):
        if k in hot:
            total += (b.end - b.start) * b.weight
            for i in ins[b.start:b.end]:
                by_line[i.frames[0] if i.frames else ("?", 0)] += b.weight
    called = sum(b.end - b.start for k, b in enumerate(bl) if k not in all_reach)
    cold_n = sum(b.end - b.start for k, b in enumerate(bl) if k in all_reach and k not in hot)
    lines = [(fl, w, _line(sources.get(fl[0], ""), fl[1]).strip()) for fl, w in
             by_line.most_common()]
    return Count(kernel, total, elements, total / elements, loops, lines, called, cold_n)


def _reach(bl, start, ok):
    seen, todo = set(), [start]
    while todo:
        k = todo.pop()
        if k in seen or not ok(bl[k]):
            continue
        seen.add(k)
        todo.extend(bl[k].succ)
    return seen


def same_code_without_lineinfo(src, options, kernel):
    """True when the kernel's SASS is the same with and without --generate-line-info."""
    with tempfile.TemporaryDirectory() as d:
        a, b = Path(d) / "a.cubin", Path(d) / "b.cubin"
        compile_nvrtc(src, options, a, lineinfo=True)
        compile_nvrtc(src, options, b, lineinfo=False)
        return [i.text for i in disassemble(a, kernel)] == [i.text for i in disassemble(b, kernel)]


# ---------------------------------------------------------------- scenarios
# 8192 x 4096 float32, tau = 1, 32-bit words, aligned rows. Team of 256 threads per row
# (team_size(4096)), so a thread handles 16 elements (4 groups of 4).
SHAPE = (8192, 4096)

# The kernels of revision acc3db4 (before issue 20): runtime mode / word width / uniform
# switches, so the scenario names the lines of the other modes as cold.
_B_64 = ["fg_philox((fg_u32)(2 * q)", "fg_philox((fg_u32)(2 * q + 1)", "fg_uniform_bits64(",
         "fg_gumbel_bits64(a.x", "fg_gumbel_bits64(b.x", "fg_uniform_bits32(a.x)",
         "fg_uniform_bits32(a.z)"]
_B_RARE = ["if (s > m) { l = l * fg_exp", "fg_perturbed4(xr, q, K, vec, k0, k1, stream, row, bits64, s)",
           # unaligned loads and stores (the scenario's rows are 16-byte aligned)
           "for (int j = 0; j < 4; ++j) s[j] = c + j < K ? (T)fg_ld(row[c + j])",
           "for (int j = 0; j < 4; ++j) if (c + j < K) fg_st(row + c + j, v[j]);"]
_B_SOFT = ["else if (mode == 1) v[j] = (s[j] - M) / t - lse;", "v[j] = bad ? fg_nan<T>() : (T)((4 * q + j == first)",
           "first = fg_team_reduce<TEAM>(first"]
# (the skipped soft store of the hard mode shares its line with the test: counted, ~2.5/elem)
_B_HARD = ["else if (mode == 1) v[j] = (s[j] - M) / t - lse;"]
_B_LOG = ["T e = fg_exp((s[j] - M) / t);", "v[j] = e * inv;", "if (mode == 2 && e * inv == inv",
          "v[j] = bad ? fg_nan<T>() : (T)((4 * q + j == first)", "first = fg_team_reduce<TEAM>(first"]
_B_PASS2 = "for (long long q = lane, it = 0; q < nq; q += TEAM, ++it) {"
_B_TAIL = "for (long long q = lane + (long long)FG_CACHE * TEAM; q < nq; q += TEAM) {"
BEFORE = {
    "soft": ("fg_softmax_f32_t256", 16, {_B_PASS2: 4, _B_TAIL: 0}, _B_64 + _B_RARE + _B_SOFT),
    "log": ("fg_softmax_f32_t256", 16, {_B_PASS2: 4, _B_TAIL: 0}, _B_64 + _B_RARE + _B_LOG),
    # hard: the write loop is unrolled by 2 and unswitched on `bad` (two loops of 2 groups
    # per trip, 89 and 79 instructions): counted as one trip of each
    "hard": ("fg_softmax_f32_t256", 16,
             {_B_PASS2: 4, _B_TAIL: 0, "for (long long q = lane; q < nq; q += TEAM) {": 1},
             _B_64 + _B_RARE + _B_HARD),
    "gumbel_max": ("fg_argmax_f32_t256", 16, {"for (long long q = lane; q < nq; q += TEAM) {": 4},
                   _B_64 + _B_RARE + ["atomicAdd(reinterpret_cast<unsigned long long*>(counts"]),
    "multinomial": ("fg_argmax_f32_t256", 16,
                    {"for (long long q = lane; q < nq; q += TEAM) {": 4}, _B_64 + _B_RARE),
    "noise": ("fg_fill_noise_f32", 4, {}, _B_64 + ["g[j] = lo + sc * g[j];"]),
    # top-k with k = 8: 8 passes over the 4 cached groups; per element and pass
    "topk (k=8)": ("fg_topk_f32_t256", 16 * 8,
                   {"for (long long p = 0; p < k; ++p) {": 8, _B_PASS2: 4}, _B_64 + _B_RARE),
    "backward": ("fg_backward_f32_t256", 16,
                 {"for (long long c = lane; c < n; c += TEAM) acc": (0, 4),
                  "for (long long c = lane; c < n; c += TEAM) {": (0, 4)}, []),
}


# The kernels after issue 20: rare paths are marked `fg:cold` in the source: NaN / +inf rows,
# and the exact x + g of the argmax's reference element and candidates (one to a few per
# row, so one warp of the eight runs each: about 100 instructions per warp, under one
# instruction per element over the row); the scenarios name the other modes' calls.
# Groups beyond the register cache (FG_CACHE = 4 per thread) run zero times at 4096 columns.
_C_TAIL = "for (int q = lane + FG_CACHE * TEAM; q < nq; q += TEAM) {"
_C_WRITE = "for (int q = lane; q < nq; q += TEAM) {"
_C_HARD = "const int i = fg_row_argmax<T, TI, TEAM>(xr, n, lane, k, row, bits64 != 0, &special"
_C_S1 = "fg_soft1<TI, TEAM>(xr, orow, n, lane, k, row"
_C_S0 = "fg_soft_any<T, TI, TEAM, 0>(xr, orow, n, lane"
_C_L = "fg_soft_any<T, TI, TEAM, 1>(xr, orow, n, lane"
# argmax: the path of 64-bit words / float64 (its reduction is merged with shared code)
_C_GEN = ["fg_perturbed4(xr, q, K, vx, k, row, bits64, s);", "a = fg_team_arg<TEAM>(a, sh_a);"]
# rows 16-byte aligned: the element-wise loads and stores of the row tail are cold
_C_AL = ["for (int j = 0; j < 4; ++j) s[j] = c + j < K ? (T)fg_ld(row[c + j])",
         "for (int j = 0; j < 4; ++j) if (c + j < K) fg_st(row + c + j, v[j]);", "// part row"]
# pass 2 of fg_soft_any: groups beyond the register cache recomputed (none at 4096 columns)
_C_RECOMP = ["fg_perturbed4(xr, q, K, vx, k, row, bits64, v);",
             "for (int j = 0; j < 4; ++j) v[j] = fg_exp_le0((v[j] - M) * it_);"]
# the draw -> (logits row, noise row) map of categorical / multinomial (D != 1 draws per row)
_C_DRAWS = ["xrow = rr / D;", "const long long d = rr - xrow * D;",
            "row = (row0 + (unsigned long long)xrow) * (unsigned long long)D + d;", "first = d == 0;"]
# soft, soft or log at tau = 0.5, hard: the same scenarios for this checkout and 9c54fab
_C_SOFTMAX = {
    "soft": ("fg_softmax_f32_t256", 16, {_C_TAIL: 0}, [_C_HARD, _C_S0, _C_L] + _C_AL),
    # fg_soft_any<T, TI, TEAM, 0> (soft) and <.., 1> (log) share their first passes, which the
    # compiler merges under the line records of one of them: naming either call cold would drop
    # shared code. Counted together: the union of both paths, an upper bound of each. (The
    # word width is a run-time argument there: the 64-bit word lines are cold.)
    "soft or log tau=0.5 (union)": ("fg_softmax_f32_t256", 16,
                                 {_C_TAIL: 0, "for (int q = lane, it = 0; q < nq; q += TEAM, ++it) {": 4},
                                 [_C_HARD, _C_S1] + _C_AL + _B_64 + _C_RECOMP),
    "hard": ("fg_softmax_f32_t256", 16, {_C_TAIL: 0, _C_WRITE: 4}, [_C_S0, _C_L, _C_S1] + _C_GEN + _C_AL),
}
CURRENT = {
    **_C_SOFTMAX,
    "gumbel_max": ("fg_argmax_f32_t256", 16, {_C_TAIL: 0}, _C_GEN + _C_AL + _C_DRAWS),
    "multinomial": ("fg_argmax_f32_t256", 16, {_C_TAIL: 0}, _C_GEN + _C_AL),
    # noise: gridDim.y = rows / 8 (fastgumbel.cupy.fill_noise), so a thread fills 8 rows
    "noise": ("fg_fill_noise_f32", 32, {"for (unsigned long long row = row0 + blockIdx.y; row < end;": 8},
              _C_AL + ["fg_noise4<T>(k.k0, k.k1, k.st, row, (fg_u64)q, bits64 != 0, uniform != 0, g);"]),
    # top-k: rows without NaN / +inf that fit the register cache take the plain value order;
    # the class order of the others (lines marked "odd rows") is cold
    "topk (k=8)": ("fg_topk_f32_t256", 16 * 8,
                   {"for (long long p = 0; p < kk; ++p) {": 8,
                    "for (int q = lane, it = 0; q < nq; q += TEAM, ++it) {": 4},
                   _B_64 + _C_AL + ["fg_perturbed4(xr, q, K, vx, k, row, bits64, v);", "// odd rows"]),
    "backward": ("fg_backward_f32_t256", 16,
                 {"for (int c = lane; c < n; c += TEAM) acc": (0, 4),
                  "for (int c = lane; c < n; c += TEAM) {": (0, 4)}, []),
}


# Revision 9c54fab (issue 20, session 4: the first rewrite), counted with the model of this
# file: the same scenarios as CURRENT for that source (its kernels have no part-row branch,
# one draw map for every D, and its host gives the noise kernel rows / 4 row slices).
AT_9C54FAB = {
    **_C_SOFTMAX,
    "gumbel_max": ("fg_argmax_f32_t256", 16, {_C_TAIL: 0}, _C_GEN + _C_AL + ["xrow = rr / D;"]),
    "multinomial": ("fg_argmax_f32_t256", 16, {_C_TAIL: 0}, _C_GEN + _C_AL),
    "noise": ("fg_fill_noise_f32", 16, {"for (long long r = blockIdx.y; r < rows; r += gridDim.y) {": 4},
              _C_AL + ["fg_noise4<T>(k.k0, k.k1, k.st, row, (fg_u64)q, bits64 != 0, uniform != 0, g);"]),
    "topk (k=8)": ("fg_topk_f32_t256", 16 * 8,
                   {"for (long long p = 0; p < kk; ++p) {": 8,
                    "for (int q = lane, it = 0; q < nq; q += TEAM, ++it) {": 4},
                   _B_64 + _C_AL + ["fg_perturbed4(xr, q, K, vx, k, row, bits64, v);"]),
    "backward": CURRENT["backward"],
}


def scenarios(rev):
    """The scenario table for the source of ``rev`` (None: this checkout): revisions with the
    issue-20 kernels (``fg_soft1``) before this one get AT_9C54FAB, older ones BEFORE."""
    if rev is None:
        return CURRENT
    src = cupy_source(rev)
    if "fg_soft1" not in src:
        return BEFORE
    return AT_9C54FAB


def report(rev=None, detail=(), out=sys.stdout):
    src = cupy_source(rev)
    opts = nvrtc_options(rev)
    with tempfile.TemporaryDirectory() as d:
        cubin = Path(d) / "gumbel.cubin"
        ptxas = compile_nvrtc(src, opts, cubin)
        rows = []
        for name, (kern, elems, trips, cold) in scenarios(rev).items():
            c = count_kernel(cubin, kern, elems, trips, cold, {"gumbel.cu": src})
            r = resources(cubin, kern, ptxas)
            rows.append((name, kern, c, r))
            if name in detail or "all" in detail:
                _print_detail(c, out)
    print(f"\nsm_90 SASS, NVRTC options {' '.join(opts)}, {SHAPE[0]}x{SHAPE[1]} float32, tau = 1,"
          f" source {rev or 'checkout'}", file=out)
    print("| kernel | entry | instr / element | instr / thread | registers | stack / spill "
          "bytes | STL+LDL |", file=out)
    print("|---|---|---:|---:|---:|---|---:|", file=out)
    for name, kern, c, r in rows:
        print(f"| {name} | `{kern}` | {c.per_element:.1f} | {c.total:.0f} | "
              f"{r.get('registers')} | {r.get('stack')} / {r.get('spill_stores', '?')} | "
              f"{r['spill_instrs']} |", file=out)
    return rows


def _print_detail(c, out):
    print(f"\n== {c.kernel}: {c.total:.0f} issued per thread, {c.per_element:.1f} per element"
          f" ({c.elements} elements); {c.cold_instrs} instructions cold, {c.called} only "
          "reached by CALL", file=out)
    for first, last, n, size, frames in c.loops:
        print(f"   loop {first:#x}..{last:#x}: {size} instr x {n}   {frames[:2]}", file=out)
    for (f, ln), w, text in c.by_line[:40]:
        print(f"   {w:8.1f}  {f}:{ln:<5} {text[:90]}", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", help="git revision of the kernels (default: this checkout)")
    ap.add_argument("--detail", nargs="*", default=(), help="scenarios to detail ('all')")
    a = ap.parse_args(argv)
    report(a.rev, a.detail)


if __name__ == "__main__":
    main()
