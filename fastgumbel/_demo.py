"""``python -m fastgumbel demo``: the Gumbel-max trick checked by Monte Carlo at scale.

Draws ``argmax(logits + Gumbel noise)`` many times (10**8 by default), counts the
categories with fused counting (no index array), and compares the frequencies with
``softmax(logits)``: a table with a per-category p-value, the chi-square test over all
categories, and the throughput. Then a figure of Gumbel-Softmax samples and their mean
across temperatures (matplotlib, the ``plot`` extra).
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

#: Draws per kernel call: rows x draws-per-row of the tiled logits.
BATCH_ROWS = 64
BATCH_PER_ROW = 1 << 16
TAUS = (0.1, 0.5, 1.0, 2.0, 5.0)


def chi2_sf(x, dof):
    """Upper tail of the chi-square distribution: Q(dof/2, x/2), regularized gamma."""
    a, z = dof / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    lg = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # series for P, then 1 - P
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - total * math.exp(lg))
    # continued fraction for Q (modified Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(lg) * h


def pooled_chi_square(counts, p, min_expected=5.0):
    """Chi-square statistic and degrees of freedom, cells with expected count below
    ``min_expected`` pooled (smallest first) until every cell reaches it.

    Examples
    --------
    >>> import numpy as np
    >>> stat, dof = pooled_chi_square(np.array([50, 45, 3, 2]), np.array([.5, .45, .03, .02]))
    >>> dof, round(stat, 6)
    (2, 0.0)
    """
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    expected = np.asarray(p, np.float64) * total
    keep = expected >= min_expected
    cells_o = list(counts[keep])
    cells_e = list(expected[keep])
    small = np.argsort(expected[~keep], kind="stable")
    o_small, e_small = counts[~keep][small], expected[~keep][small]
    acc_o = acc_e = 0.0
    for o, e in zip(o_small, e_small):
        acc_o += o
        acc_e += e
        if acc_e >= min_expected:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:   # a remainder below the threshold joins the smallest kept cell
        if cells_e:
            j = int(np.argmin(cells_e))
            cells_o[j] += acc_o
            cells_e[j] += acc_e
        else:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
    o = np.array(cells_o)
    e = np.array(cells_e)
    return float(((o - e) ** 2 / e).sum()), len(e) - 1


class Progress:
    """A progress bar on stderr (only when stderr is a terminal); no dependencies."""

    def __init__(self, total, stream=None, width=30):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.on = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()

    def update(self, done):
        if not self.on:
            return
        f = done / self.total if self.total else 1.0
        fill = int(f * self.width)
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        print(f"\r  [{'#' * fill}{'.' * (self.width - fill)}] {f:6.1%}  {done:,} draws  "
              f"{rate / 1e6:7.1f} M/s", end="", file=self.stream, flush=True)

    def close(self):
        if self.on:
            print("\r" + " " * (self.width + 60) + "\r", end="", file=self.stream, flush=True)


def monte_carlo(logits, draws, seed, backend="auto", method="gumbel", progress=None):
    """Counts of ``draws`` categorical draws from ``softmax(logits)`` (1-D), in batches of
    ``BATCH_ROWS x BATCH_PER_ROW`` through :func:`fastgumbel.multinomial`.

    The batches take consecutive keys of ``fastgumbel.default_rng(seed)``, so the counts are
    a function of (logits, draws, seed, method). Returns (counts, seconds).

    Examples
    --------
    >>> import numpy as np
    >>> c, _ = monte_carlo(np.zeros(4), 10_000, seed=1)
    >>> int(c.sum()), c.shape
    (10000, (4,))
    """
    import fastgumbel as fg

    logits = np.asarray(logits, np.float32)
    K = logits.size
    rng = fg.default_rng(seed)
    tiled = np.broadcast_to(logits, (BATCH_ROWS, K))
    fg.multinomial(tiled[:1], 1, rng=0, method=method, backend=backend)   # compile first
    counts = np.zeros(K, np.int64)
    done = 0
    t0 = time.perf_counter()
    while done < draws:
        left = draws - done
        per_row = min(BATCH_PER_ROW, max(1, left // BATCH_ROWS))
        rows = min(BATCH_ROWS, left // per_row)
        c = fg.multinomial(tiled[:rows], per_row, rng=rng, method=method, backend=backend)
        counts += c.sum(axis=0)
        done += rows * per_row
        if progress is not None:
            progress.update(done)
    return counts, time.perf_counter() - t0


def print_table(logits, p, counts, out=sys.stdout, full=32):
    """Category, logit, softmax probability, empirical frequency, count and the two-sided
    p-value of that count (binomial, normal approximation: chi-square with 1 dof)."""
    N = counts.sum()
    print(f"{'category':>8} {'logit':>8} {'softmax p':>12} {'empirical':>12} {'count':>14} "
          f"{'p-value':>8}", file=out)
    K = len(p)
    shown = range(K) if K <= full else list(range(full // 2)) + list(range(K - full // 4, K))
    prev = -1
    for i in shown:
        if i != prev + 1:
            print(f"{'...':>8}", file=out)
        prev = i
        e = N * p[i]
        z2 = (counts[i] - e) ** 2 / (e * (1 - p[i])) if 0 < p[i] < 1 else 0.0
        print(f"{i:>8} {logits[i]:>8.3f} {p[i]:>12.8f} {counts[i] / N:>12.8f} {counts[i]:>14,} "
              f"{chi2_sf(z2, 1):>8.4f}", file=out)


def figure(path, seed, taus=TAUS, K=5, samples=20_000):
    """Write a PNG: for each temperature, a few Gumbel-Softmax samples, their Monte Carlo
    mean, and softmax(logits). Returns the path, or None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import fastgumbel as fg

    logits = np.linspace(1.5, -1.5, K).astype(np.float32)
    p = np.exp(logits) / np.exp(logits).sum()
    cats = np.arange(K)
    fig, axes = plt.subplots(1, len(taus), figsize=(3.2 * len(taus), 3.4), sharey=True)
    rng = fg.default_rng(seed)
    for ax, tau in zip(axes, taus):
        y = fg.gumbel_softmax(np.broadcast_to(logits, (samples, K)), tau, rng=rng)
        for s in y[:8]:
            ax.plot(cats, s, color="0.6", lw=0.8, alpha=0.7)
        ax.plot(cats, y.mean(axis=0), "o-", color="C0", lw=2,
                label=f"mean of {samples:,} samples")
        ax.plot(cats, p, "s--", color="C3", lw=1.5, label="softmax(logits)")
        ax.set_title(f"tau = {tau:g}")
        ax.set_xticks(cats)
        ax.set_xlabel("category")
    axes[0].set_ylabel("Gumbel-Softmax sample y")
    axes[0].legend(loc="upper right", fontsize=7)
    fig.suptitle("Gumbel-Softmax samples (grey), their mean and softmax(logits) across "
                 "temperatures: as tau -> 0 the samples become one-hot and the mean "
                 "tends to softmax(logits)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(draws, K, seed, backend, method, figure_path, out=sys.stdout):
    """The demo; returns the exit status (0: the draws agree with softmax(logits))."""
    import fastgumbel as fg

    logits = np.linspace(2.0, -2.0, K).astype(np.float32)
    p64 = np.exp(logits.astype(np.float64) - logits.max())
    p = p64 / p64.sum()
    from ._discrete import choose_method
    how = choose_method(method, draws, K)
    label = {"gumbel": "Gumbel-max trick: argmax(logits + Gumbel noise)",
             "inverse_cdf": "inverse-CDF sampler"}[how]
    print(f"{label}, {draws:,} draws over {K} categories "
          f"(seed {seed}, {backend} backend, fused counting)", file=out)
    bar = Progress(draws)
    counts, secs = monte_carlo(logits, draws, seed, backend, how, bar)
    bar.close()
    print(file=out)
    print_table(logits, p, counts, out)
    stat, dof = pooled_chi_square(counts, p)
    pval = chi2_sf(stat, dof) if dof > 0 else 1.0
    verdict = "consistent with" if pval > 1e-3 else "NOT consistent with"
    print(f"\nchi-square = {stat:.2f} on {dof} degrees of freedom, p-value = {pval:.4f} "
          f"({verdict} softmax(logits))", file=out)
    extra = f" ({draws * K / secs / 1e6:,.0f} M noise values/s)" if how == "gumbel" else ""
    print(f"throughput: {draws / secs / 1e6:,.1f} M draws/s{extra} in {secs:.2f} s", file=out)
    if figure_path:
        if figure(figure_path, seed) is None:
            print("figure: matplotlib is not installed; pip install 'fastgumbel[plot]' "
                  "(or matplotlib) and rerun to get the Gumbel-Softmax figure", file=out)
        else:
            print(f"figure: Gumbel-Softmax samples across temperatures -> {figure_path}",
                  file=out)
    return 0 if pval > 1e-6 else 1
