"""The kernels of :mod:`fastgumbel.cuda`: noise, top-k, backward, density, and
:func:`kernels`, which builds every kernel of one specialization (compute dtype, array
storage, word width) once.

Softmax (soft / log): :mod:`._softmax`; Gumbel-max searches (gumbel_max, categorical,
multinomial, the hard sample): :mod:`._argmax`. Top-k: ``k`` argmax passes, each over the
entries ranked below the previous pick (``O(k K)`` work: meant for small ``k``), ranked by
an integer order key so that NaN entries come first (by index), then +inf, then finite
values (contract item 5).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, types

from .._scalar import MASK32, SH32, order_key_f32, order_key_f64
from . import _pieces as P
from ._argmax import build_argmax, build_hard
from ._pieces import LOG, SOFT
from ._softmax import build_softmax
from ._team import BLOCK, CACHE, red_argmax, red_max, red_or, red_sum, team_item
from ._ubound import aligned_rows, round_keys, store4

_U = np.uint64
_NONE = np.int64(-2 ** 63)          # below every order key: "nothing left" for top-k
_NAN_KEY = np.int64(2 ** 63 - 1)    # above every order key: NaN ranks first


def build_fill_noise(nt, st, bits64, uniform):
    """``fill_noise_k(out, row0, k0, k1, stream, key, loc, scale)``: a thread per group of 4
    columns (x), rows over y with a grid-stride loop (no division per thread); 2-D blocks,
    so that short rows still fill them. 32-bit words: the Philox round keys once per thread;
    the affine map (loc, scale) chosen once per thread, not per row."""
    s4 = P.store_group(st)
    if bits64:
        g4 = P.noise_group(nt, bits64, uniform)

        @cuda.jit(device=True)
        def noise(kw, row, q):
            return g4(kw[0], kw[1], kw[2], row, q)

        @cuda.jit(device=True)
        def keys(k0, k1, stream):
            return k0, k1, stream
    else:
        g4 = P.noise_group_rk(nt, uniform)

        @cuda.jit(device=True)
        def noise(kw, row, q):
            return g4(kw[0], kw[1], np.uint32(row & MASK32), np.uint32(row >> SH32), q)

        @cuda.jit(device=True)
        def keys(k0, k1, stream):
            return round_keys(k0, k1), np.uint32(stream)

    def make_rows(affine, whole, vector=False):
        @cuda.jit(device=True)
        def rows_loop(out, r0, rows, q, K, row0, kw, lo, sc):
            c = q << 2
            step = cuda.gridDim.y * cuda.blockDim.y
            r = r0
            while r < rows:         # (a range would divide for its trip count)
                n0, n1, n2, n3 = noise(kw, _U(row0 + r), q)
                if affine:
                    n0, n1, n2, n3 = lo + sc * n0, lo + sc * n1, lo + sc * n2, lo + sc * n3
                if whole and vector:    # float32 rows on 16 bytes: one 128-bit store
                    store4(out, _U(r), _U(c), n0, n1, n2, n3)
                elif whole:             # the group inside the row: no tests
                    st(out, r, c, n0)
                    st(out, r, c + 1, n1)
                    st(out, r, c + 2, n2)
                    st(out, r, c + 3, n3)
                else:
                    s4(out, r, q, K, n0, n1, n2, n3)
                r += step
        return rows_loop

    scalar, part, scaled = make_rows(False, True), make_rows(False, False), make_rows(True, False)
    vplain = make_rows(False, True, store4 is not None and nt is np.float32)

    @cuda.jit
    def fill_noise_k(out, row0, k0, k1, stream, key, loc, scale):
        rows, K = out.shape
        q, r0 = cuda.grid(2)
        if q >= (K + 3) >> 2:
            return
        k0, k1, stream = P.key_words(key, k0, k1, stream)
        kw = keys(k0, k1, stream)
        if loc != 0.0 or scale != 1.0:
            scaled(out, r0, rows, q, K, row0, kw, nt(loc), nt(scale))
        elif (q << 2) + 3 < K and aligned_rows(out):
            vplain(out, r0, rows, q, K, row0, kw, nt(loc), nt(scale))
        elif (q << 2) + 3 < K:      # float16 / bfloat16 or unaligned rows
            scalar(out, r0, rows, q, K, row0, kw, nt(loc), nt(scale))
        else:   # the last group of a row whose length is not a multiple of 4
            part(out, r0, rows, q, K, row0, kw, nt(loc), nt(scale))
    return fill_noise_k


def _ranked(nt):
    """Device function ``rank(s) -> int64``: the top-k order key of a perturbed logit."""
    okey = order_key_f32 if nt is np.float32 else order_key_f64

    @cuda.jit(device=True)
    def rank(s):
        return _NAN_KEY if s != s else np.int64(okey(s))
    return rank


def build_topk(nt, ld, bits64):
    """``topk_k(x, idx, row0, k0, k1, stream, key, lt, flags)``: a team per row, ``k`` argmax
    passes over order keys, each over the entries ranked below the previous pick (a smaller
    key, or the same key at a larger column); -inf entries are never picked (-1)."""
    g4 = P.noise_group(nt, bits64, False)
    x4 = P.load_group(nt, ld, -np.inf)
    rank = _ranked(nt)
    ninf = nt(-np.inf)

    @cuda.jit(device=True)
    def offer(s, col, v, i, pk, pi):
        if s > ninf or s != s:
            kk = rank(s)
            if (kk < pk or (kk == pk and col > pi)) and (i < 0 or kk > v):
                return kk, col
        return v, i

    @cuda.jit
    def topk_k(x, idx, row0, k0, k1, stream, key, lt, flags):
        sk = cuda.shared.array(BLOCK, types.int64)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        T = 1 << lt
        tid, lane, valid, rr, k0, k1, stream, row, nq = P.row_team(lt, rows, K, row0, key, k0,
                                                                   k1, stream)
        pk = _NAN_KEY
        pi = np.int64(-1)
        bits = np.int64(0)
        for p in range(idx.shape[1]):
            v = _NONE
            i = np.int64(-1)
            for q in range(lane, nq, T):
                x0, x1, x2, x3 = x4(x, rr, q, K)
                n0, n1, n2, n3 = g4(k0, k1, stream, row, q)
                s0, s1, s2, s3 = x0 + n0, x1 + n1, x2 + n2, x3 + n3
                if p == 0:
                    for s in (s0, s1, s2, s3):
                        bits |= 1 if s != s else (2 if s == np.inf else 0)
                col = q << 2
                v, i = offer(s0, col, v, i, pk, pi)
                v, i = offer(s1, col + 1, v, i, pk, pi)
                v, i = offer(s2, col + 2, v, i, pk, pi)
                v, i = offer(s3, col + 3, v, i, pk, pi)
            v, i = red_argmax(sk, si, tid, lane, T, v, i)
            if p == 0:
                bits = red_or(si, tid, lane, T, bits)
                if valid and lane == 0 and flags.shape[0] > 0:
                    if bits & 1:
                        cuda.atomic.add(flags, 0, 1)
                    if bits & 2:
                        cuda.atomic.add(flags, 1, 1)
            if valid and lane == 0:
                idx[rr, p] = i
            pk = v if i >= 0 else _NONE
            pi = i
    return topk_k


def build_backward(nt, ld, st):
    """``backward_k(G, y, gx, gtau, tau, lt)``: a team per row; gx = y (G - <G, y>) / tau and
    gtau = -sum(gz log y) / tau (one reciprocal per row, a multiply per element)."""
    c = P.constants(nt)
    zero, one, tiny, log_ = c.zero, c.one, c.tiny, c.log

    @cuda.jit
    def backward_k(G, y, gx, gtau, tau, lt):
        sh = cuda.shared.array(BLOCK, nt)
        rows, K = y.shape
        T = 1 << lt
        tid, lane, valid, rr = team_item(lt, rows)
        n = K if valid else 0
        rt = one / nt(tau)
        acc = zero
        for col in range(lane, n, T):
            acc += ld(G, rr, col) * ld(y, rr, col)
        dot = red_sum(sh, tid, lane, T, acc)
        acc = zero
        for col in range(lane, n, T):
            yc = ld(y, rr, col)
            gz = yc * (ld(G, rr, col) - dot)
            acc += gz * log_(yc if yc > tiny else tiny)
            st(gx, rr, col, gz * rt)
        tot = red_sum(sh, tid, lane, T, acc)
        if valid and lane == 0:
            gtau[rr] = -tot * rt
    return backward_k


@cuda.jit
def zero_k(a):
    """a[:, :] = 0 (counts before the multinomial's atomic adds); a 2-D grid of (16, 16)."""
    i, j = cuda.grid(2)
    if i < a.shape[0] and j < a.shape[1]:
        a[i, j] = 0


@cuda.jit
def concrete_k(y, logits, out, tau, lt):
    """Per-row part of the Concrete log-density in float64 (see cpu.concrete_rows)."""
    sh = cuda.shared.array(BLOCK, types.float64)
    si = cuda.shared.array(BLOCK, types.int64)
    rows, K = y.shape
    T = 1 << lt
    tid, lane, valid, rr = team_item(lt, rows)
    n = K if valid else 0
    sum_l = 0.0
    sum_ly = 0.0
    M = -math.inf
    outside = 0
    for col in range(lane, n, T):
        yc = float(y[rr, col])
        if yc <= 0.0:
            outside = 1
        ly = 0.0 if yc <= 0.0 else math.log(yc)
        lc = float(logits[rr, col])
        sum_l += lc
        sum_ly += ly
        a = lc - tau * ly
        M = a if a > M else M
    outside = red_or(si, tid, lane, T, outside)
    sum_l = red_sum(sh, tid, lane, T, sum_l)
    sum_ly = red_sum(sh, tid, lane, T, sum_ly)
    M = red_max(sh, tid, lane, T, M)
    S = 0.0
    finite = M > -math.inf and M < math.inf
    for col in range(lane, n, T):
        if finite and outside == 0:
            S += math.exp(float(logits[rr, col]) - tau * math.log(float(y[rr, col])) - M)
    S = red_sum(sh, tid, lane, T, S)
    if valid and lane == 0:
        if outside != 0:
            out[rr] = -math.inf
        elif not finite:
            out[rr] = sum_l - (tau + 1.0) * sum_ly - K * M
        else:
            out[rr] = sum_l - (tau + 1.0) * sum_ly - K * (M + math.log(S))


def build(nt, bf16=False, bits64=False, cache=CACHE):
    """Every kernel of one specialization, by name: compute dtype ``nt`` (numpy.float32 or
    numpy.float64), ``bf16`` (float arrays hold bfloat16 bits as uint16), word width, and
    ``cache`` groups of 4 per thread kept in registers by the row kernels."""
    ld, st = P.io(nt, bf16)
    ratio = nt is np.float64 or not bits64
    return {"fill_noise": build_fill_noise(nt, st, bits64, False),
            "fill_uniform": build_fill_noise(nt, st, bits64, True),
            "soft": build_softmax(nt, ld, st, bits64, False, SOFT, cache),
            "soft_tau1": build_softmax(nt, ld, st, bits64, ratio, SOFT, cache),
            "log": build_softmax(nt, ld, st, bits64, False, LOG, cache),
            "hard": build_hard(nt, ld, st, bits64, cache),
            "argmax": build_argmax(nt, ld, bits64, cache),
            "topk": build_topk(nt, ld, bits64),
            "backward": build_backward(nt, ld, st),
            "zero": zero_k}


_built = {}


def kernels(dtype, bf16=False, bits64=False, cache=CACHE):
    """The kernel dict for an array dtype (and storage, word width), built once: float64
    arrays run the float64 kernels; float32, float16 and bfloat16 (``bf16``: uint16 arrays)
    the float32 ones (loaded and stored in their dtype, computed in float32: the CPU's
    float16 results, rounded once)."""
    nt = np.float64 if (np.dtype(dtype) == np.float64 and not bf16) else np.float32
    k = (nt, bool(bf16), bool(bits64), cache)
    ks = _built.get(k)
    if ks is None:
        ks = _built[k] = build(nt, bool(bf16), bool(bits64), cache)
    return ks
