"""The soft and log samples of :mod:`fastgumbel.cuda` (the hard sample is a Gumbel-max search:
:mod:`._argmax`). A team of threads per row; the first ``CACHE`` groups of 4 columns of
each thread keep their values in registers between the passes (unrolled: every index into
the local array is a constant).

The soft sample at ``tau == 1`` (float32 with 32-bit words, or float64;
:func:`build_soft_ratio`) is the one-log ratio form of the CPU (docs/rng.md): ``w = exp(x -
ref) / E`` with ``E = -log(U)`` the exponential whose -log is the Gumbel noise (``exp(x + g
- M) = exp(x - M) / E``), ``ref = M - C`` with ``M`` the row max of the logits (C = 32 / 64
keeps every w finite): one log, one exp and one division per element. The team max of the
logits first (butterfly), then the weights and their team sum, then ``w / S``: no
rescaling. Rows with a NaN or +inf (or only -inf) show in ``S`` (NaN); only then are the
logits scanned for the exact answer.

Other temperatures and the log sample (:func:`build_softmax`): ``s = x + g`` and ``w =
exp((s - ref) rt)``, ``rt = 1 / tau`` (a multiply, no division per element). Each thread
keeps a reference ``ref`` (its max of ``s``) and the sum ``l`` of its weights relative to
it; the team takes the max of the references (butterfly), each thread rescales its sum
once (one exp per thread, not per merge) and the sums are added (butterfly); pass 2 scales
the weights it kept by one factor per thread. Past the register cache (long rows) pass 1
folds groups online (a rescale only when a group raises the thread's max) and pass 2
re-reads the logits and regenerates the noise. Each thread adds up its values (one add per
element: NaN, or +inf, exactly when such an entry is there, or when finite values
overflow); only when that sum says so are the logits scanned for NaN / +inf.

A row whose logits hold a NaN or +inf comes out all NaN.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, types

from . import _pieces as P
from ._nvvm import div_approx, exp_approx, fmax
from ._pieces import SOFT
from ._regcache import chain
from ._team import BLOCK, CACHE, red_fmax, red_max, red_or, red_sum

_U = np.uint64


def _weights(c):
    """Device functions ``(wt(v, e, ref, rt), resc(old, new, rt))``: the weight of a value
    relative to a reference, and the factor that moves a sum from one reference to another
    (``e`` is 1 here: the ratio form at tau == 1 is :func:`build_soft_ratio`)."""
    exp_ = c.exp

    @cuda.jit(device=True)
    def wt(v, e, ref, rt):
        return exp_((v - ref) * rt)

    @cuda.jit(device=True)
    def resc(old, new, rt):
        return exp_((old - new) * rt)
    return wt, resc


def _values(nt, c, ld, bits64):
    """Device function ``vals(x, r, q, K, k0, k1, stream, row) -> (v0..v3, e0..e3)``: the
    values ``x + g`` of group q, -inf past the row (and E = 1: :func:`_weights`)."""
    x4 = P.load_group(nt, ld, -np.inf)
    one = c.one
    g4 = P.noise_group(nt, bits64, False)

    @cuda.jit(device=True)
    def vals(x, r, q, K, k0, k1, stream, row):
        x0, x1, x2, x3 = x4(x, r, q, K)
        n0, n1, n2, n3 = g4(k0, k1, stream, row, q)
        return x0 + n0, x1 + n1, x2 + n2, x3 + n3, one, one, one, one
    return vals


@cuda.jit(device=True)
def _mx(a, b):
    return b if b > a else a


def bad_row_scan(nt, ld):
    """Device function ``scan(x, r, lane, T, K) -> bits``: 1 if this thread's columns (its
    groups of 4) of row r hold a NaN, 2 if a +inf."""
    pinf = nt(np.inf)

    @cuda.jit(device=True)
    def scan(x, r, lane, T, K):
        b = 0
        for q in range(lane, (K + 3) >> 2, T):
            for col in range(q << 2, min((q << 2) + 4, K)):
                v = ld(x, r, col)
                b |= 1 if v != v else (2 if v == pinf else 0)
        return b
    return scan


def _long_rows(nt, c, vals, wt, resc, s4, shift, mode, cache):
    """Device functions ``(long1, long2)``: the groups of a thread past its register cache
    (long rows). ``long1`` folds them into the thread's (ref, l, check sum) online, with a
    rescale only when a group raises the reference; ``long2`` recomputes their values
    (logits re-read, noise regenerated) and writes the output."""
    ninf, zero, nan = c.ninf, c.zero, c.nan

    @cuda.jit(device=True)
    def long1(x, rr, lane, T, nq, K, k0, k1, stream, row, rt, ref, l, chk):
        for q in range(lane + cache * T, nq, T):
            v0, v1, v2, v3, e0, e1, e2, e3 = vals(x, rr, q, K, k0, k1, stream, row)
            chk += (v0 + v1) + (v2 + v3)
            m4 = _mx(_mx(v0, v1), _mx(v2, v3))
            if m4 - shift > ref:
                l = l * resc(ref, m4 - shift, rt) if ref > ninf else zero
                ref = m4 - shift
            ru = ref if ref > ninf else zero
            l += (wt(v0, e0, ru, rt) + wt(v1, e1, ru, rt)) + (wt(v2, e2, ru, rt)
                                                             + wt(v3, e3, ru, rt))
        return ref, l, chk

    @cuda.jit(device=True)
    def long2(x, out, rr, lane, T, nq, K, k0, k1, stream, row, rt, bad, live, Mref, lse, inv):
        M = Mref + shift
        for q in range(lane + cache * T, nq, T):
            v0, v1, v2, v3, e0, e1, e2, e3 = vals(x, rr, q, K, k0, k1, stream, row)
            if bad:
                v0 = v1 = v2 = v3 = nan
            elif not live:
                v0 = v1 = v2 = v3 = zero if mode == SOFT else ninf
            elif mode == SOFT:
                v0, v1 = wt(v0, e0, Mref, rt) * inv, wt(v1, e1, Mref, rt) * inv
                v2, v3 = wt(v2, e2, Mref, rt) * inv, wt(v3, e3, Mref, rt) * inv
            else:
                v0, v1 = (v0 - M) * rt - lse, (v1 - M) * rt - lse
                v2, v3 = (v2 - M) * rt - lse, (v3 - M) * rt - lse
            s4(out, rr, q, K, v0, v1, v2, v3)
    return long1, long2


def _cached(nt, c, vals, wt, s4, mode, cache):
    """Device functions ``(pass1, weights, pass2)`` over the ``cache`` register-cached groups
    ``q0 + j T`` of a thread (unrolled, :func:`._regcache.chain`): values (and E) into
    ``rv`` (``re``) with the running max and check sum; their weights and sum (the weights
    replace the values for the soft sample); the output of pass 2."""
    ninf, one, nan = c.ninf, c.one, c.nan

    def p1(j, nxt):
        @cuda.jit(device=True)
        def step(rv, re, x, rr, q0, T, nq, K, k0, k1, stream, row, m, chk):
            q = q0 + j * T
            v0 = v1 = v2 = v3 = ninf
            e0 = e1 = e2 = e3 = one
            if q < nq:
                v0, v1, v2, v3, e0, e1, e2, e3 = vals(x, rr, q, K, k0, k1, stream, row)
            rv[4 * j], rv[4 * j + 1], rv[4 * j + 2], rv[4 * j + 3] = v0, v1, v2, v3
            re[4 * j], re[4 * j + 1], re[4 * j + 2], re[4 * j + 3] = e0, e1, e2, e3
            m = _mx(_mx(m, v0), _mx(_mx(v1, v2), v3))
            chk += (v0 + v1) + (v2 + v3)
            return nxt(rv, re, x, rr, q0, T, nq, K, k0, k1, stream, row, m, chk)
        return step

    @cuda.jit(device=True)
    def p1_done(rv, re, x, rr, q0, T, nq, K, k0, k1, stream, row, m, chk):
        return m, chk

    def ws(j, nxt):
        @cuda.jit(device=True)
        def step(rv, re, ref, rt, l):
            for i in range(4 * j, 4 * j + 4):
                w = wt(rv[i], re[i], ref, rt)
                l += w
                if mode == SOFT:
                    rv[i] = w
            return nxt(rv, re, ref, rt, l)
        return step

    @cuda.jit(device=True)
    def ws_done(rv, re, ref, rt, l):
        return l

    def p2(j, nxt):
        @cuda.jit(device=True)
        def step(rv, out, rr, q0, T, nq, K, fc, M, rt, lse, live, bad):
            q = q0 + j * T
            if q < nq:
                for i in range(4 * j, 4 * j + 4):
                    v = rv[i] * fc if mode == SOFT else ((rv[i] - M) * rt - lse if live
                                                         else ninf)
                    rv[i] = nan if bad else v
                s4(out, rr, q, K, rv[4 * j], rv[4 * j + 1], rv[4 * j + 2], rv[4 * j + 3])
            nxt(rv, out, rr, q0, T, nq, K, fc, M, rt, lse, live, bad)
        return step

    @cuda.jit(device=True)
    def p2_done(rv, out, rr, q0, T, nq, K, fc, M, rt, lse, live, bad):
        pass

    return chain(cache, p1, p1_done), chain(cache, ws, ws_done), chain(cache, p2, p2_done)


def build_softmax(nt, ld, st, bits64, ratio, mode, cache=CACHE):
    """``softmax_k(x, out, row0, k0, k1, stream, key, tau, lt, flags)``: a team of ``2**lt``
    threads per row; mode SOFT or LOG; ``ratio``: the tau == 1 form (soft only). ``flags``:
    an int64 array of 2 counting the rows whose max is +inf (no NaN) in flags[0], or of
    length 0 (no check)."""
    if ratio and mode == SOFT:
        return build_soft_ratio(nt, ld, st, bits64, cache)
    c = P.constants(nt)
    vals = _values(nt, c, ld, bits64)
    wt, resc = _weights(c)
    s4 = P.store_group(st)
    scan = bad_row_scan(nt, ld)
    ninf, pinf, zero, one, log_ = c.ninf, c.pinf, c.zero, c.one, c.log
    shift = zero
    n_reg = max(1, 4 * cache)
    long1, long2 = _long_rows(nt, c, vals, wt, resc, s4, shift, mode, cache)
    pass1, weights, pass2 = _cached(nt, c, vals, wt, s4, mode, cache)

    @cuda.jit
    def softmax_k(x, out, row0, k0, k1, stream, key, tau, lt, flags):
        sf = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int32)
        rv = cuda.local.array(n_reg, nt)
        re = cuda.local.array(n_reg, nt)
        rows, K = x.shape
        T = 1 << lt
        tid, lane, valid, rr, k0, k1, stream, row, nq = P.row_team(lt, rows, K, row0, key, k0,
                                                                   k1, stream)
        rt = one / nt(tau)
        m, chk = pass1(rv, re, x, rr, lane, T, nq, K, k0, k1, stream, row, ninf, zero)
        refc = m - shift if m > ninf else zero
        l = weights(rv, re, refc, rt, zero)
        ref, l, chk = long1(x, rr, lane, T, nq, K, k0, k1, stream, row, rt,
                            m - shift if m > ninf else ninf, l, chk)
        Mref = red_max(sf, tid, lane, T, ref)
        live = Mref > ninf
        S = red_sum(sf, tid, lane, T, l * resc(ref, Mref, rt) if live and ref > ninf else zero)
        bits = 0
        if not chk < pinf:
            bits = scan(x, rr, lane, T, K if valid else 0)   # fg:cold (a NaN or +inf)
        bits = red_or(si, tid, lane, T, bits)
        if valid and lane == 0 and flags.shape[0] > 0 and bits == 2:
            cuda.atomic.add(flags, 0, 1)
        inv = one / S if S > zero else zero
        lse = log_(S) if S > zero else zero
        fc = resc(refc, Mref, rt) * inv if live and m > ninf else zero
        pass2(rv, out, rr, lane, T, nq, K, fc, Mref + shift, rt, lse, live, bits != 0)
        long2(x, out, rr, lane, T, nq, K, k0, k1, stream, row, rt, bits != 0, live, Mref, lse,
              inv)
    return softmax_k


def _ratio_weight(c):
    """Device function ``wt(v, e, ref)``: the weight ``exp(v - ref) / e`` of the tau == 1
    ratio form; NaN for a NaN ``v`` (the kernel finds NaN rows by their sum)."""
    if c.one.dtype == np.float32:
        # E is in [2**-33, 23]: one MUFU.RCP and a multiply (2 ulp) instead of the IEEE
        # division's refinement, the exp by MUFU.EX2 (3 ulp) instead of the polynomial (the
        # soft values agree with the CPU within rounding)
        @cuda.jit(device=True)
        def wt(v, e, ref):
            return div_approx(exp_approx(v - ref), e)
        return wt
    exp_ = c.exp

    @cuda.jit(device=True)
    def wt(v, e, ref):
        return exp_(v - ref) / e
    return wt


def _ratio_cached(c, ld, st, x4, e4, wt, s4, cache, whole):
    """Device functions ``(pass1, weights, pass2)`` of the tau == 1 soft sample over the
    ``cache`` register-cached groups ``q0 + j T`` of a thread (unrolled,
    :func:`._regcache.chain`): the logits into ``rv`` and their max (NaN ignored); their
    weights ``exp(x - ref) / E`` in place and their sum; the weights times ``fc`` out.
    ``whole``: built for threads whose cached groups all lie inside the row (no tests per
    group or column); else each group is tested, and each column of a partial group."""
    ninf = c.ninf

    def p1(j, nxt):
        @cuda.jit(device=True)
        def step(rv, x, rr, q0, T, nq, K, m):
            q = q0 + j * T
            v0 = v1 = v2 = v3 = ninf
            if whole:
                v0, v1, v2, v3 = ld(x, rr, 4 * q), ld(x, rr, 4 * q + 1), ld(
                    x, rr, 4 * q + 2), ld(x, rr, 4 * q + 3)
            elif q < nq:
                v0, v1, v2, v3 = x4(x, rr, q, K)
            rv[4 * j], rv[4 * j + 1], rv[4 * j + 2], rv[4 * j + 3] = v0, v1, v2, v3
            m = fmax(fmax(m, fmax(v0, v1)), fmax(v2, v3))
            return nxt(rv, x, rr, q0, T, nq, K, m)
        return step

    @cuda.jit(device=True)
    def p1_done(rv, x, rr, q0, T, nq, K, m):
        return m

    def ws(j, nxt):
        @cuda.jit(device=True)
        def step(rv, q0, T, nq, k0, k1, stream, row, ref, l):
            q = q0 + j * T
            if whole or q < nq:
                e0, e1, e2, e3 = e4(k0, k1, stream, row, q)
                w0, w1 = wt(rv[4 * j], e0, ref), wt(rv[4 * j + 1], e1, ref)
                w2, w3 = wt(rv[4 * j + 2], e2, ref), wt(rv[4 * j + 3], e3, ref)
                rv[4 * j], rv[4 * j + 1], rv[4 * j + 2], rv[4 * j + 3] = w0, w1, w2, w3
                l += (w0 + w1) + (w2 + w3)
            return nxt(rv, q0, T, nq, k0, k1, stream, row, ref, l)
        return step

    @cuda.jit(device=True)
    def ws_done(rv, q0, T, nq, k0, k1, stream, row, ref, l):
        return l

    def p2(j, nxt):
        @cuda.jit(device=True)
        def step(rv, out, rr, q0, T, nq, K, fc):
            q = q0 + j * T
            w0, w1, w2, w3 = rv[4 * j] * fc, rv[4 * j + 1] * fc, rv[4 * j + 2] * fc, rv[
                4 * j + 3] * fc
            if whole:
                st(out, rr, 4 * q, w0)
                st(out, rr, 4 * q + 1, w1)
                st(out, rr, 4 * q + 2, w2)
                st(out, rr, 4 * q + 3, w3)
            elif q < nq:
                s4(out, rr, q, K, w0, w1, w2, w3)
            nxt(rv, out, rr, q0, T, nq, K, fc)
        return step

    @cuda.jit(device=True)
    def p2_done(rv, out, rr, q0, T, nq, K, fc):
        pass

    return chain(cache, p1, p1_done), chain(cache, ws, ws_done), chain(cache, p2, p2_done)


def _ratio_long(x4, e4, wt, s4, cache):
    """Device functions ``(lmax, lsum, lout)`` of the groups of a thread past its register
    cache (long rows), each pass re-reading the logits (and regenerating the noise): their
    max, the sum of their weights, their output."""
    @cuda.jit(device=True)
    def lmax(x, rr, lane, T, nq, K, m):
        for q in range(lane + cache * T, nq, T):
            v0, v1, v2, v3 = x4(x, rr, q, K)
            m = fmax(fmax(m, fmax(v0, v1)), fmax(v2, v3))
        return m

    @cuda.jit(device=True)
    def lsum(x, rr, lane, T, nq, K, k0, k1, stream, row, ref, l):
        for q in range(lane + cache * T, nq, T):
            v0, v1, v2, v3 = x4(x, rr, q, K)
            e0, e1, e2, e3 = e4(k0, k1, stream, row, q)
            l += (wt(v0, e0, ref) + wt(v1, e1, ref)) + (wt(v2, e2, ref) + wt(v3, e3, ref))
        return l

    @cuda.jit(device=True)
    def lout(x, out, rr, lane, T, nq, K, k0, k1, stream, row, ref, fc):
        for q in range(lane + cache * T, nq, T):
            v0, v1, v2, v3 = x4(x, rr, q, K)
            e0, e1, e2, e3 = e4(k0, k1, stream, row, q)
            s4(out, rr, q, K, wt(v0, e0, ref) * fc, wt(v1, e1, ref) * fc,
               wt(v2, e2, ref) * fc, wt(v3, e3, ref) * fc)
    return lmax, lsum, lout


def _fill_row(s4):
    """Device function ``fill(out, rr, lane, T, nq, K, v)``: v in this thread's columns."""
    @cuda.jit(device=True)
    def fill(out, rr, lane, T, nq, K, v):
        for q in range(lane, nq, T):
            s4(out, rr, q, K, v, v, v, v)
    return fill


def build_soft_ratio(nt, ld, st, bits64, cache=CACHE):
    """``softmax_k(...)`` of :func:`build_softmax` for the soft sample at tau == 1 (float32
    with 32-bit words, or float64): the CPU's one-log ratio form ``w = exp(x - ref) / E``,
    ``ref = M - C`` (docs/rng.md). The team max ``M`` of the logits first (NaN ignored),
    then the weights and their team sum ``S``, then ``w / S``: no rescaling, no check sum.

    Rows with a NaN or +inf (or only -inf) are found by ``S``: a NaN logit gives a NaN
    weight, ``M = +inf`` or ``-inf`` gives ``inf - inf``; finite rows cannot overflow ``S``
    (each weight is under ``e**C / 2**-33``). Only then (a test per block, or per team when
    the team is the block) are the logits scanned for the exact NaN / +inf answer."""
    c = P.constants(nt)
    x4 = P.load_group(nt, ld, -np.inf)
    e4 = P.exponential_group(nt, bits64)
    wt = _ratio_weight(c)
    s4 = P.store_group(st)
    scan = bad_row_scan(nt, ld)
    fill = _fill_row(s4)
    ninf, pinf, zero, one, nan, shift = c.ninf, c.pinf, c.zero, c.one, c.nan, c.C
    pass1, weights, pass2 = _ratio_cached(c, ld, st, x4, e4, wt, s4, cache, True)
    pass1p, weightsp, pass2p = _ratio_cached(c, ld, st, x4, e4, wt, s4, cache, False)
    lmax, lsum, lout = _ratio_long(x4, e4, wt, s4, cache)
    n_reg = max(1, 4 * cache)

    @cuda.jit
    def softmax_k(x, out, row0, k0, k1, stream, key, tau, lt, flags):
        sf = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int32)
        rv = cuda.local.array(n_reg, nt)
        rows, K = x.shape
        T = 1 << lt
        tid, lane, valid, rr, k0, k1, stream, row, nq = P.row_team(lt, rows, K, row0, key, k0,
                                                                   k1, stream)
        # whole: this thread's cached groups lie inside its row (the partial path's lines are
        # named cold in bench/gpu/sass_numba.py's scenario, rows of 4096 columns)
        whole = valid and 4 * (lane + (cache - 1) * T) + 3 < K
        if whole:
            m = pass1(rv, x, rr, lane, T, nq, K, ninf)
        else:
            m = pass1p(rv, x, rr, lane, T, nq, K, ninf)
        # long rows: groups past the register cache (each call under a test of its own line,
        # see bench/gpu/sass_numba.py)
        more = lane + cache * T < nq
        if more:
            m = lmax(x, rr, lane, T, nq, K, m)
        ref = red_fmax(sf, tid, lane, T, m) - shift
        if whole:
            l = weights(rv, lane, T, nq, k0, k1, stream, row, ref, zero)
        else:
            l = weightsp(rv, lane, T, nq, k0, k1, stream, row, ref, zero)
        if more:
            l = lsum(x, rr, lane, T, nq, K, k0, k1, stream, row, ref, l)
        S = red_sum(sf, tid, lane, T, l)
        odd = not S < pinf
        if (cuda.syncthreads_or(1 if odd else 0) if T < BLOCK else odd):
            bits = scan(x, rr, lane, T, K if valid and odd else 0)   # fg:cold (NaN / inf)
            bits = red_or(si, tid, lane, T, bits)
            if valid and lane == 0 and flags.shape[0] > 0 and bits == 2:
                cuda.atomic.add(flags, 0, 1)
            if odd:
                fill(out, rr, lane, T, nq, K, nan if bits != 0 else zero)   # fg:cold
        if valid and not odd:
            fc = one / S
            if whole:
                pass2(rv, out, rr, lane, T, nq, K, fc)
            else:
                pass2p(rv, out, rr, lane, T, nq, K, fc)
            if more:
                lout(x, out, rr, lane, T, nq, K, k0, k1, stream, row, ref, fc)
    return softmax_k
