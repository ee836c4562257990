"""SHA-256 of every fastgumbel.cuda host function's output in the Numba CUDA simulator.

``python tests/cuda/sim_fingerprint.py OUT.json`` before and after a change of the Numba CUDA
kernels, then compare the two files: float32 / float64 / float16, both precisions, soft / log
/ hard, rows within the register cache and rows past it (pass 2 regenerates x + g), rows
with -inf, +inf and NaN. The simulator runs the CPU-compiled scalar functions, so the hashes
are those of the simulator, not of a GPU. A few minutes on 2 cores.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np  # noqa: E402

from fastgumbel import cuda as fgc  # noqa: E402

U = np.uint64
KEY = (U(0x1234567), U(0x89abcdef), U(3))

def h(*arrs):
    m = hashlib.sha256()
    for a in arrs:
        a = np.ascontiguousarray(a)
        m.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return m.hexdigest()[:16]

def inputs(dtype):
    rs = np.random.default_rng(7)
    out = {}
    shapes = {"short": (5, 13), "k1": (3, 1), "mid": (2, 300), "long": (2, 1500)}
    for name, (r, K) in shapes.items():
        out[name] = (rs.standard_normal((r, K)) * 3).astype(dtype)
    x = (rs.standard_normal((4, 9)) * 2).astype(dtype)
    x[0, :] = -np.inf
    x[1, ::2] = -np.inf
    x[2, 3] = np.inf
    x[3, 5] = np.nan
    out["special"] = x
    return out

def main(path):
    res = {}
    for dtype in (np.float32, np.float64, np.float16):
        dn = np.dtype(dtype).name
        for b64 in (False, True):
            for shape in ((3, 1), (4, 9), (2, 37)):
                for uni, loc, sc in ((False, 0.0, 1.0), (False, 0.5, 2.0), (True, 0.0, 1.0)):
                    o = np.empty(shape, dtype)
                    fgc.fill_noise(o, 11, *KEY, b64, uni, loc, sc)
                    res[f"noise {dn} {b64} {shape} {uni} {loc}"] = h(o)
            for name, x in inputs(dtype).items():
                K = x.shape[1]
                for mode in (0, 1, 2):
                    for tau in ((0.7,) if dtype is np.float16 else (0.7, 1.0)):
                        o = np.empty_like(x)
                        n = fgc.softmax_rows(x, o, 5, *KEY, b64, tau, mode)
                        res[f"softmax {dn} {b64} {name} {mode} {tau}"] = [n, h(o)]
                idx = np.empty((x.shape[0], 2), np.int64)
                flags = fgc.argmax_rows(x, idx, 9, *KEY, b64)
                res[f"argmax {dn} {b64} {name}"] = [list(flags), h(idx)]
                kk = min(3, K)
                idx = np.empty((x.shape[0], kk), np.int64)
                res[f"topk {dn} {b64} {name}"] = [list(fgc.topk_rows(x, idx, 9, *KEY, b64)), h(idx)]
                if dtype is np.float16:
                    continue
                cnt = np.empty(x.shape, np.int64)
                res[f"multinomial {dn} {b64} {name}"] = [
                    list(fgc.multinomial_rows(x, cnt, 4, 2, *KEY, b64)), h(cnt)]
                if name == "special":
                    continue
                y = np.empty_like(x)
                fgc.softmax_rows(x, y, 0, *KEY, b64, 0.8, 0)
                G = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
                gx, gt = np.empty_like(x), np.empty(x.shape[0], dtype)
                fgc.softmax_backward_rows(G, y, gx, gt, 0.8)
                res[f"backward {dn} {b64} {name}"] = h(gx, gt)
                gx, gt = np.empty_like(x), np.empty(x.shape[0], dtype)
                n = fgc.softmax_backward_recompute(G, x, gx, gt, 0, *KEY, b64, 0.8)
                res[f"recompute {dn} {b64} {name}"] = [n, h(gx, gt)]
                if b64:
                    yy = np.random.default_rng(2).dirichlet(np.ones(K), x.shape[0]).astype(dtype)
                    if K > 1:
                        yy[0, 0] = 0.0
                    o = np.empty(x.shape[0])
                    fgc.concrete_rows(yy, x, o, 0.8)
                    res[f"concrete {dn} {name}"] = h(o)
    with open(path, "w") as f:
        json.dump(res, f, indent=0, sort_keys=True)
    print(len(res), "fingerprints ->", path)

if __name__ == "__main__":
    main(sys.argv[1])
