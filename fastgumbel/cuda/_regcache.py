"""The register cache of the row kernels: values of the first ``cache`` groups of each thread,
kept in a local array between the passes of a row, unrolled when the kernel is built.

A loop over the cached groups is written as a chain of device functions, one per group
``j`` with ``j`` a compile-time constant, each handling its group and calling the next
(:func:`chain`). Every index into the local array is then a constant and NVVM keeps the
array in registers. A plain ``for j in range(cache)`` in the kernel is not unrolled (the
body, a Philox block and a logarithm per column, is over LLVM's unrolling threshold), and
numba-cuda's ``literal_unroll`` unrolls only tuples of mixed types: the array would then
live in local memory.
"""
from __future__ import annotations


def chain(cache, make_step, done):
    """The device function of groups ``0 .. cache - 1``: ``make_step(j, nxt)`` returns the
    device function of group ``j`` (which ends by calling ``nxt`` with the same arguments it
    got, updated); ``done`` (a device function of the same arguments) ends the chain."""
    f = done
    for j in reversed(range(cache)):
        f = make_step(j, f)
    return f
