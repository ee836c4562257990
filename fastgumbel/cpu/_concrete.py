"""The per-row part of the Concrete (Gumbel-softmax) log-density."""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._numba import kernel
from ._dtypes import tau_at


@kernel
def concrete_rows(y, logits, out, tau):
    """Per-row part of the Concrete log-density, in float64 (``tau``: a float, or one per row):

    sum(l) - (tau + 1) * sum(log y) - K * logsumexp(l - tau * log y).
    Rows with any y <= 0, or whose logits are all -inf, give -inf; NaN propagates.
    (np.float64(v), not float(v): Numba types float() of a float32 as float32.)
    """
    rows, K = y.shape
    for r in prange(rows):
        t = np.float64(tau_at(tau, r))
        yr = y[r]
        lr = logits[r]
        sum_l = 0.0
        sum_ly = 0.0
        M = -np.inf
        outside = False
        for j in range(K):
            yj = np.float64(yr[j])
            outside |= yj <= 0.0
            ly = 0.0 if yj <= 0.0 else math.log(yj)   # NaN propagates
            lj = np.float64(lr[j])
            sum_l += lj
            sum_ly += ly
            a = lj - t * ly
            M = a if a > M else M
        if outside:
            out[r] = -np.inf
            continue
        if M == -np.inf:      # every logit is -inf (or K == 0): no distribution, density 0
            out[r] = -np.inf
            continue
        if M == np.inf:
            out[r] = sum_l - (t + 1.0) * sum_ly - K * M
            continue
        S = 0.0
        for j in range(K):
            yj = np.float64(yr[j])
            S += math.exp(np.float64(lr[j]) - t * math.log(yj) - M)
        out[r] = sum_l - (t + 1.0) * sum_ly - K * (M + math.log(S))
