"""Gumbel-max searches of :mod:`fastgumbel.cuda`: ``gumbel_max`` / ``categorical`` /
``multinomial`` (a team per draw) and the hard sample (a team per row, any temperature: its
index is the first maximum of x + g).

Bound-pruned, as the CPU (docs/rng.md, ``cpu._argmax``): per element one Philox share, one
log (E = -log(U)) and the bound ``u = x - ln2 log2_bound(E)`` of x + g (float32 with 32-bit
words: ``u = x - ln2 lg2(E)`` by two MUFU logs, within 2.2e-4 of x + g, band 1e-3:
:func:`._pieces.fast_bound_group`); the team takes the max of u (butterfly); only entries
whose u reaches the threshold (one or two per row) get the exact x + g, their noise
regenerated as the CPU computes it (same operations, same bits), and the team takes the
first maximum (a max, then one min of the column, which also carries the NaN / +inf key). The bounds of the first ``CACHE`` groups
of each thread stay in registers; past that (long rows) a thread prunes against its own
running max of u (a superset of the candidates).

Rows whose logits hold a NaN or +inf (contract item 5): the index of the first NaN entry,
else of the first +inf entry. A thread adds up its bounds (NaN or +inf exactly when such an
entry is there, or when finite values overflow) and only then scans its logits; one team
min of ``col`` (NaN) / ``K + col`` (+inf) gives the answer.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, types

from .._scalar import BOUND_BAND, BOUND_REL, LN2, MASK32, SH32
from . import _pieces as P
from ._nvvm import fmax
from ._regcache import chain
from ._team import BLOCK, CACHE, red_max, red_min, team_item
from ._teammax import key_column, pack, team_fmax, team_max, warp_slot
from ._ubound import UBOUND_BAND, philox_rk, round_keys, ubound

_U = np.uint64


@cuda.jit(device=True)
def _mx(a, b):
    return b if b > a else a


@cuda.jit(device=True)
def _threshold(top, band, rel, low):
    """The candidates' threshold below the reference ``top``: ``top - (band + |top| rel)``,
    but never below ``low``, the dtype's lowest finite value. Without the clamp a row whose
    max is that value (a row masked with ``finfo.min``) gives -inf, every slot past the
    row (u = -inf) passes, and the candidate scan reads past the row."""
    thr = top - (band + abs(top) * rel)
    return thr if thr > low else low


@cuda.jit(device=True)
def _better(s, col, bs, bi):
    """(bs, bi) after offering column ``col`` with value ``s``: the max, first index on ties."""
    if s > bs or (s == bs and col < bi):
        return s, col
    return bs, bi


def first_bad(nt, ld):
    """Device function ``scan(x, r, lane, T, K) -> key``: the least ``col`` of this thread's
    columns (its groups of 4) holding a NaN, else ``K + col`` of a +inf, else ``2 K``."""
    pinf = nt(np.inf)

    @cuda.jit(device=True)
    def scan(x, r, lane, T, K):
        kn = 2 * K
        ki = 2 * K
        for q in range(lane, (K + 3) >> 2, T):
            for col in range(q << 2, min((q << 2) + 4, K)):
                v = ld(x, r, col)
                if v != v and col < kn:
                    kn = col
                if v == pinf and K + col < ki:
                    ki = K + col
        return kn if kn < 2 * K else ki
    return scan


def _cached(ninf, bounds, offer, cache):
    """Device functions ``(pass1, offers)`` over the ``cache`` register-cached groups of a
    thread (unrolled, :func:`._regcache.chain`): the bounds into ``ru`` with their running
    max and check sum; the exact x + g of the groups' candidates."""
    def a1(j, nxt):
        @cuda.jit(device=True)
        def step(ru, x, r, q0, T, nq, K, k0, k1, stream, row, top, chk):
            q = q0 + j * T
            u0 = u1 = u2 = u3 = ninf
            if q < nq:
                u0, u1, u2, u3 = bounds(x, r, q, K, k0, k1, stream, row)
            ru[4 * j], ru[4 * j + 1], ru[4 * j + 2], ru[4 * j + 3] = u0, u1, u2, u3
            top = _mx(_mx(top, u0), _mx(_mx(u1, u2), u3))
            chk += (u0 + u1) + (u2 + u3)
            return nxt(ru, x, r, q0, T, nq, K, k0, k1, stream, row, top, chk)
        return step

    @cuda.jit(device=True)
    def a1_done(ru, x, r, q0, T, nq, K, k0, k1, stream, row, top, chk):
        return top, chk

    def a2(j, nxt):
        @cuda.jit(device=True)
        def step(ru, x, r, q0, T, K, thr, k0, k1, stream, row, bs, bi):
            col = (q0 + j * T) << 2
            for i in range(4):   # (past the row u = -inf < thr; the test is a second guard)
                if col + i < K:
                    bs, bi = offer(x, r, col + i, ru[4 * j + i], thr, k0, k1, stream, row, bs,
                                   bi)
            return nxt(ru, x, r, q0, T, K, thr, k0, k1, stream, row, bs, bi)
        return step

    @cuda.jit(device=True)
    def a2_done(ru, x, r, q0, T, K, thr, k0, k1, stream, row, bs, bi):
        return bs, bi

    return chain(cache, a1, a1_done), chain(cache, a2, a2_done)


def _fast_pass1(ninf, x4, xw, cache):
    """Device functions ``(whole, part)`` of the first pass of :func:`_build_fast_search`
    over the ``cache`` register-cached groups: the bounds of :func:`._ubound.ubound` into
    ``ru`` with their running max and check sum; ``whole`` when every cached group of the
    thread lies inside the row (no tests), ``part`` else (-inf past the row)."""
    def make(whole):
        def a1(j, nxt):
            @cuda.jit(device=True)
            def step(ru, x, r, q0, T, nq, K, rk, st, rlo, rhi, top, chk):
                q = q0 + j * T
                if whole:
                    x0, x1, x2, x3 = xw(x, r, _U(q))
                else:
                    x0 = x1 = x2 = x3 = ninf
                    if q < nq:
                        x0, x1, x2, x3 = x4(x, r, q, K)
                w0, w1, w2, w3 = philox_rk(np.uint32(q), st, rlo, rhi, rk)
                u0, u1, u2, u3 = ubound(x0, w0), ubound(x1, w1), ubound(x2, w2), ubound(x3, w3)
                ru[4 * j], ru[4 * j + 1], ru[4 * j + 2], ru[4 * j + 3] = u0, u1, u2, u3
                top = fmax(fmax(top, u0), fmax(fmax(u1, u2), u3))
                chk += (u0 + u1) + (u2 + u3)
                return nxt(ru, x, r, q0, T, nq, K, rk, st, rlo, rhi, top, chk)
            return step

        @cuda.jit(device=True)
        def done(ru, x, r, q0, T, nq, K, rk, st, rlo, rhi, top, chk):
            return top, chk
        return chain(cache, a1, done)
    return make(True), make(False)


def _first_at(cache):
    """Device function ``at(ru, q0, T, v, col) -> col``: the first cached column whose bound
    is ``v`` (``col`` if none)."""
    def a3(j, nxt):
        @cuda.jit(device=True)
        def step(ru, q0, T, v, col):
            for i in range(4):
                if ru[4 * (cache - 1 - j) + i] == v:
                    col = ((q0 + (cache - 1 - j) * T) << 2) + i
                    break
            return nxt(ru, q0, T, v, col)
        return step

    @cuda.jit(device=True)
    def done(ru, q0, T, v, col):
        return col
    return chain(cache, a3, done)


def _fast_tail(ninf, x4, offer, cache):
    """Device functions ``(long1, long2)`` of :func:`_build_fast_search` for long rows, the
    groups past the register cache: the bounds' max, check sum and the column of their
    first max; then the candidates (the bounds regenerated)."""
    @cuda.jit(device=True)
    def tail(x, r, q, K, rk, st, rlo, rhi):
        x0, x1, x2, x3 = x4(x, r, q, K)
        w0, w1, w2, w3 = philox_rk(np.uint32(q), st, rlo, rhi, rk)
        return ubound(x0, w0), ubound(x1, w1), ubound(x2, w2), ubound(x3, w3)

    @cuda.jit(device=True)
    def long1(x, r, lane, T, nq, K, rk, st, rlo, rhi, top, chk):
        tmax = ninf
        tcol = -1
        for q in range(lane + cache * T, nq, T):   # long rows: the groups past the cache
            us = tail(x, r, q, K, rk, st, rlo, rhi)
            for i in range(4):
                chk += us[i]
                if us[i] > tmax:
                    tmax, tcol = us[i], (q << 2) + i
        return _mx(top, tmax), chk, tcol

    @cuda.jit(device=True)
    def long2(x, r, lane, T, nq, K, st, rlo, rhi, thr, k0, k1, stream, row, bs, bi):
        rk = round_keys(k0, k1)
        for q in range(lane + cache * T, nq, T):   # long rows: their candidates
            us = tail(x, r, q, K, rk, st, rlo, rhi)
            for i in range(4):
                bs, bi = offer(x, r, (q << 2) + i, us[i], thr, k0, k1, stream, row, bs, bi)
        return bs, bi

    return long1, long2


def _build_fast_search(nt, ld, cache):
    """:func:`build_search` for float32 with 32-bit words: the one-MUFU upper bound u of
    x + g (:func:`._ubound.ubound`, round keys once per thread); the team max of u; the exact
    x + g of one element whose u is that max (a lower bound L of the row's max, computed in
    the threads that hold one); then only elements with u >= L - band get the exact x + g
    (the threads whose own max reaches it)."""
    c = P.constants(nt)
    g1 = P.gumbel_at(nt, False)
    x4 = P.load_group(nt, ld, -np.inf)
    xw, vec_ok = P.load_whole(ld, True)
    scan = first_bad(nt, ld)
    ninf, pinf, zero = c.ninf, c.pinf, c.zero
    band, rel = nt(UBOUND_BAND), nt(BOUND_REL)
    low = nt(-np.finfo(nt).max)
    n_reg = max(1, 4 * cache)
    whole1, part1 = _fast_pass1(ninf, x4, xw, cache)
    at = _first_at(cache)

    @cuda.jit(device=True)
    def offer(x, r, col, u, thr, k0, k1, stream, row, bs, bi):
        if u >= thr:
            bs, bi = _better(ld(x, r, col) + g1(k0, k1, stream, row, col), col, bs, bi)
        return bs, bi

    offers = _cached(ninf, None, offer, cache)[1]

    long1, long2 = _fast_tail(ninf, x4, offer, cache)

    @cuda.jit(device=True)
    def find(x, r, row, tid, lane, T, K, k0, k1, stream, sf, si):
        rk = round_keys(k0, k1)
        st, rlo, rhi = np.uint32(stream), np.uint32(row & MASK32), np.uint32(row >> SH32)
        ru = cuda.local.array(n_reg, nt)
        nq = (K + 3) >> 2
        if lane + (cache - 1) * T < K >> 2 and vec_ok(x):   # every cached group inside
            mine, chk = whole1(ru, x, r, lane, T, nq, K, rk, st, rlo, rhi, ninf, zero)
        else:
            mine, chk = part1(ru, x, r, lane, T, nq, K, rk, st, rlo, rhi, ninf, zero)
        tcol = -1
        if lane + cache * T < nq:   # long rows: the groups past the cache
            mine, chk, tcol = long1(x, r, lane, T, nq, K, rk, st, rlo, rhi, mine, chk)
        sl = cuda.shared.array(BLOCK, nt)
        sk = cuda.shared.array(BLOCK, types.int64)
        slot = warp_slot(tid, lane, T)
        top = team_fmax(sf, tid, slot, T, mine)
        lo = ninf
        if top > ninf and mine == top:   # the reference L: one or a few threads per row
            col = at(ru, lane, T, top, tcol)  # fg:cold
            lo = ld(x, r, col) + g1(k0, k1, stream, row, col)  # fg:cold
        lo = team_fmax(sl, tid, slot, T, lo)
        thr = _threshold(lo, band, rel, low)
        bs, bi = ninf, -1
        if lo > ninf and mine >= thr:   # the candidates: a few threads per row
            bs, bi = offers(ru, x, r, lane, T, K, thr, k0, k1, stream, row, bs, bi)  # fg:cold
            bs, bi = long2(x, r, lane, T, nq, K, st, rlo, rhi, thr, k0, k1, stream,  # fg:cold
                           row, bs, bi)  # fg:cold
        key = _NOKEY if bi < 0 else pack(bs, bi)
        if not chk < pinf:
            key = _bad_key(scan(x, r, lane, T, K), K, key)   # fg:cold (a NaN or +inf)
        # one team max: the least bad key if the row has one, else the first argmax of
        # x + g, else none (a row of -inf)
        key = team_max(sk, tid, slot, T, key)
        v = key_column(key)
        if key >> _SH >= _BADHI:
            return (v if v < K else v - K), v   # the first NaN, else +inf, entry
        return (v if key != _NOKEY else -1), 2 * K
    return find


_NOKEY = np.int64(-2 ** 63)        # below every key of pack
_SH = np.int64(32)
_BADHI = np.int64(0x7FFFFFFF)      # above the high word of every key of pack
_LOW = np.int64(0xFFFFFFFF)


@cuda.jit(device=True)
def _bad_key(kb, K, key):
    """The team key of a :func:`first_bad` key ``kb`` (``key`` if ``kb`` is none, 2 K):
    above every :func:`._teammax.pack` key, larger for a smaller ``kb``."""
    if kb < 2 * K:
        return (_BADHI << _SH) | (_LOW - kb)
    return key


@cuda.jit(device=True)
def _answer(sf, si, tid, lane, T, K, key, bs, bi):
    """(index, bad key) of the team: one team max of the candidates' x + g, one team min
    that gives the bad key if the row has one (< 2 K), else 2 K + the least column holding
    the team's max of x + g, else 3 K (a row of -inf)."""
    best = red_max(sf, tid, lane, T, bs)
    v = key if key < 2 * K else (2 * K + bi if bi >= 0 and bs == best else 3 * K)
    v = red_min(si, tid, lane, T, v)
    if v < 2 * K:
        return (v if v < K else v - K), v   # the first NaN, else +inf, entry
    return (v - 2 * K if v < 3 * K else -1), 2 * K


def build_search(nt, ld, bits64, cache=CACHE):
    """Device function ``find(x, r, row, tid, lane, T, K, k0, k1, stream, sf, si) -> (index,
    bad key)``: the first argmax of row r of x plus the Gumbel noise of noise row ``row``
    (-1 for a row of -inf), and the :func:`first_bad` key of the row (``2 K``: none)."""
    if nt is np.float32 and not bits64:
        return _build_fast_search(nt, ld, cache)
    c = P.constants(nt)
    e4 = P.exponential_group(nt, bits64)
    g1 = P.gumbel_at(nt, bits64)
    x4 = P.load_group(nt, ld, -np.inf)
    scan = first_bad(nt, ld)
    lb, ninf, pinf, zero = c.lb, c.ninf, c.pinf, c.zero
    ln2, band, rel = nt(LN2), nt(BOUND_BAND), nt(BOUND_REL)
    low = nt(-np.finfo(nt).max)
    n_reg = max(1, 4 * cache)

    @cuda.jit(device=True)
    def bounds(x, r, q, K, k0, k1, stream, row):
        x0, x1, x2, x3 = x4(x, r, q, K)
        e0, e1, e2, e3 = e4(k0, k1, stream, row, q)
        return (x0 - lb(e0) * ln2, x1 - lb(e1) * ln2, x2 - lb(e2) * ln2, x3 - lb(e3) * ln2)

    @cuda.jit(device=True)
    def offer(x, r, col, u, thr, k0, k1, stream, row, bs, bi):
        if u >= thr:
            bs, bi = _better(ld(x, r, col) + g1(k0, k1, stream, row, col), col, bs, bi)
        return bs, bi

    pass1, offers = _cached(ninf, bounds, offer, cache)

    @cuda.jit(device=True)
    def long1(x, r, lane, T, nq, K, k0, k1, stream, row, top, chk, bs, bi):
        for q in range(lane + cache * T, nq, T):   # long rows: pruned against this thread
            u0, u1, u2, u3 = bounds(x, r, q, K, k0, k1, stream, row)
            chk += (u0 + u1) + (u2 + u3)
            top = _mx(_mx(top, u0), _mx(_mx(u1, u2), u3))
            thr = _threshold(top, band, rel, low)
            col = q << 2
            bs, bi = offer(x, r, col, u0, thr, k0, k1, stream, row, bs, bi)
            bs, bi = offer(x, r, col + 1, u1, thr, k0, k1, stream, row, bs, bi)
            bs, bi = offer(x, r, col + 2, u2, thr, k0, k1, stream, row, bs, bi)
            bs, bi = offer(x, r, col + 3, u3, thr, k0, k1, stream, row, bs, bi)
        return top, chk, bs, bi

    @cuda.jit(device=True)
    def find(x, r, row, tid, lane, T, K, k0, k1, stream, sf, si):
        ru = cuda.local.array(n_reg, nt)
        nq = (K + 3) >> 2
        mine, chk = pass1(ru, x, r, lane, T, nq, K, k0, k1, stream, row, ninf, zero)
        mine, chk, bs, bi = long1(x, r, lane, T, nq, K, k0, k1, stream, row, mine, chk, ninf,
                                  -1)
        top = red_max(sf, tid, lane, T, mine)
        thr = _threshold(top, band, rel, low)
        if top > ninf and mine >= thr:   # a few threads per row hold candidates
            bs, bi = offers(ru, x, r, lane, T, K, thr, k0, k1, stream, row, bs, bi)  # fg:cold
        key = 2 * K
        if not chk < pinf:
            key = scan(x, r, lane, T, K)   # fg:cold (a NaN or +inf)
        return _answer(sf, si, tid, lane, T, K, key, bs, bi)
    return find


def build_argmax(nt, ld, bits64, cache=CACHE):
    """``argmax_k(x, idx, counts, row0, k0, k1, stream, key, D, lt, flags)``: a team of
    ``2**lt`` threads per draw (r, d), noise row (row0 + r) * D + d; writes idx[r, d] (counts
    has shape (0, 0)) or adds the draw's one-hot to counts[r, :] (idx has shape (0, 0)).
    ``flags`` (length 2: rows with NaN, rows whose max is +inf; or length 0: no check)."""
    find = build_search(nt, ld, bits64, cache)

    @cuda.jit
    def argmax_k(x, idx, counts, row0, k0, k1, stream, key, D, lt, flags):
        sf = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        tid, lane, valid, dd = team_item(lt, rows * D)
        k0, k1, stream = P.key_words(key, k0, k1, stream)
        r = dd                          # no 64-bit division for one draw per row
        d = 0
        row = _U(row0 + r)
        if D != 1:
            r = dd // D                 # categorical / multinomial draws
            d = dd - r * D              # (D draws per row)
            row = _U((row0 + r) * D + d)
        bi, bad = find(x, r, row, tid, lane, 1 << lt, K if valid else 0, k0, k1, stream, sf, si)
        if valid and lane == 0:
            if d == 0 and flags.shape[0] > 0 and bad < 2 * K:
                cuda.atomic.add(flags, 0 if bad < K else 1, 1)
            if idx.shape[1] > 0:
                idx[_U(r), _U(d)] = bi
            elif bi >= 0:
                cuda.atomic.add(counts, (r, bi), 1)
    return argmax_k


def build_hard(nt, ld, st, bits64, cache=CACHE):
    """``hard_k(x, out, row0, k0, k1, stream, key, lt, flags)``: the hard sample at any
    temperature: the one-hot of the first argmax of x + g (a row of NaN where the logits
    hold a NaN or +inf, of zeros for a row of -inf); flags[0] counts the +inf rows without
    NaN (length 0: no check)."""
    s4 = P.store_group(st)
    c = P.constants(nt)
    zero, one, nan = c.zero, c.one, c.nan
    find = build_search(nt, ld, bits64, cache)

    @cuda.jit(device=True)
    def hot(col, bi, hit, miss):
        return hit if col == bi else miss

    @cuda.jit
    def hard_k(x, out, row0, k0, k1, stream, key, lt, flags):
        sf = cuda.shared.array(BLOCK, nt)
        si = cuda.shared.array(BLOCK, types.int64)
        rows, K = x.shape
        T = 1 << lt
        tid, lane, valid, rr = team_item(lt, rows)
        k0, k1, stream = P.key_words(key, k0, k1, stream)
        n = K if valid else 0
        bi, bad = find(x, rr, _U(row0 + rr), tid, lane, T, n, k0, k1, stream, sf, si)
        if valid and lane == 0 and flags.shape[0] > 0 and bad >= K and bad < 2 * K:
            cuda.atomic.add(flags, 0, 1)
        isbad = bad < 2 * K
        hit = nan if isbad else one      # one select per element below
        miss = nan if isbad else zero
        for q in range(lane, (n + 3) >> 2, T):
            col = q << 2
            s4(out, rr, q, K, hot(col, bi, hit, miss), hot(col + 1, bi, hit, miss),
               hot(col + 2, bi, hit, miss), hot(col + 3, bi, hit, miss))
    return hard_k
