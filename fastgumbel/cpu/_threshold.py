"""Threshold searches of the token sampler (:mod:`._sample`) without sorting a row.

The filters of :func:`fastgumbel.sample_logits` keep the tokens whose scaled logit ``y`` is at
least a threshold ``T``: top-k's ``T`` is the k-th largest ``y``; top-p's is the largest
value ``v`` whose kept mass ``W(v) = sum of exp(y - max y) over y >= v`` reaches ``top_p``
times the mass of the top-k set. Both are "the largest ``v`` among the row's values with
``W(v) >= target``" for a non-increasing weight function ``W`` (a count, or a mass), found
by bisection on the value: each step is one vectorized pass that counts (and sums) the
entries at or above the midpoint, until the open bracket holds at most ``CAP`` entries;
those are gathered and sorted (a few hundred values), and the answer is read off their
running sum in descending order, equal values counted together (ties are kept together).
"""
from __future__ import annotations

import numpy as np

from .._numba import helper
from ._reduce import LANES, _lanes_total

#: Entries of the final bracket that are sorted exactly.
CAP = 512


@helper
def tally(y, e, n, T, mass, acc):
    """(count of y[:n] >= T, their weight): the sum of e over them in float64 (fixed order:
    LANES partial sums), or the count again when ``mass`` is False."""
    cnt = 0
    if not mass:
        for j in range(n):
            cnt += 1 if y[j] >= T else 0
        return cnt, float(cnt)
    for j in range(LANES):
        acc[j] = 0.0
    full = n - n % LANES
    for b0 in range(0, full, LANES):
        ys = y[b0:b0 + LANES]
        es = e[b0:b0 + LANES]
        for j in range(LANES):
            keep = ys[j] >= T
            cnt += 1 if keep else 0
            acc[j] += np.float64(es[j]) if keep else 0.0
    for j in range(full, n):
        if y[j] >= T:
            cnt += 1
            acc[j - full] += np.float64(e[j])
    return cnt, _lanes_total(acc)


@helper
def _resolve(y, e, n, lo, hi, w_hi, target, mass, cv, cw):
    """The answer inside the bracket [lo, hi): the entries there (at most CAP) sorted in
    descending order, their weights added to W(hi) = ``w_hi`` group by group of equal
    values; the first value where the sum reaches ``target``."""
    m = 0
    for b0 in range(0, n, LANES):     # blocks tested with a vectorized any first
        ys = y[b0:min(b0 + LANES, n)]
        hit = False
        for j in range(ys.shape[0]):
            hit |= (ys[j] >= lo) & (ys[j] < hi)
        if hit:
            for j in range(ys.shape[0]):
                v = ys[j]
                if v >= lo and v < hi:
                    cv[m] = v
                    cw[m] = np.float64(e[b0 + j]) if mass else 1.0
                    m += 1
    _sort_down(cv, cw, m)
    acc = w_hi
    q = 0
    while q < m:
        v = cv[q]
        while q < m and cv[q] == v:
            acc += cw[q]
            q += 1
        if acc >= target:
            return v
    return lo


@helper
def _sort_down(cv, cw, m):
    """Sort cv[:m] in descending order, cw[:m] along (Shell sort, Ciura's gaps: a few
    hundred entries; NumPy's argsort under Numba was 10x slower here)."""
    for gap in (132, 57, 23, 10, 4, 1):
        for i in range(gap, m):
            v = cv[i]
            w = cw[i]
            j = i
            while j >= gap and cv[j - gap] < v:
                cv[j] = cv[j - gap]
                cw[j] = cw[j - gap]
                j -= gap
            cv[j] = v
            cw[j] = w


@helper
def _compact(y, e, n, lo, hi, mass, zy, ze):
    """Copy the entries of y[:n] in [lo, hi) (and their e) to zy, ze; returns how many."""
    m = 0
    for j in range(n):
        v = y[j]
        zy[m] = v
        if mass:
            ze[m] = e[j]
        m += 1 if (v >= lo and v < hi) else 0
    return m


@helper
def search(y, e, n, lo, hi, c_lo, c_hi, w_hi, target, mass, acc, cv, cw, zy, ze):
    """The largest value v of y[:n] with W(v) >= target, given a bracket: W(lo) >= target
    (``c_lo`` entries at or above lo), W(hi) = ``w_hi`` < target (``c_hi`` entries), lo < hi,
    both finite. Bisection on the value; once the bracket holds at most an eighth of the
    entries they are copied to ``zy``/``ze`` (as large as y) and the passes run over those
    (W there is W(hi) at the copy plus their own sum); the last bracket is sorted
    (:func:`_resolve`)."""
    c0 = 0                       # entries and weight above the copied bracket
    w0 = 0.0
    copied = False
    while c_lo - c_hi > CAP:
        if not copied and 8 * (c_lo - c_hi) <= n:
            n = _compact(y, e, n, lo, hi, mass, zy, ze)
            c0 = c_hi
            w0 = w_hi
            copied = True
        ya = zy if copied else y
        ea = ze if copied else e
        mid = y.dtype.type(np.float64(lo) + (np.float64(hi) - np.float64(lo)) * 0.5)
        if not (mid > lo and mid < hi):
            return lo               # adjacent values: lo is the only one in the bracket
        c, w = tally(ya, ea, n, mid, mass, acc)
        c += c0
        w += w0
        if w >= target:
            lo = mid
            c_lo = c
        else:
            hi = mid
            c_hi = c
            w_hi = w
    if copied:
        return _resolve(zy, ze, n, lo, hi, w_hi, target, mass, cv, cw)
    return _resolve(y, e, n, lo, hi, w_hi, target, mass, cv, cw)
