"""A small discrete optimization in NumPy: straight-through vs Gumbel-Rao (issue 23).

N independent categorical variables with K categories each, logits ``theta`` (N, K); a
sample picks category i_n of each; the loss is ``sum_n (c[n, i_n] - t)**2``, a quadratic
of the one-hot sample ``z`` (``c[n] . z[n]``), so its gradient w.r.t. ``z`` is
``2 (c[n] . z[n] - t) c[n]``. The forward is ``fg.gumbel_softmax(theta, tau, hard=True)``;
the backward is the straight-through gradient (``fg.gumbel_softmax_backward``) or the
Gumbel-Rao one (``fg.gumbel_rao_backward``, K conditional samples). Plain SGD, one key per
step. The exact expected loss under ``softmax(theta)`` is tracked; the table gives the
steps until it first comes within ``frac`` of the initial gap to its minimum, medians over
seeds, for a few learning rates (lower-variance gradients tolerate larger steps).

    python bench/gumbel_rao_train.py
"""
import numpy as np

import fastgumbel as fg


def problem(seed, n=64, k=8):
    rs = np.random.default_rng(seed)
    return rs.standard_normal((n, k)), 0.3


def expected_loss(theta, c, t):
    p = np.exp(theta - np.logaddexp.reduce(theta, axis=1, keepdims=True))
    return float((p * (c - t) ** 2).sum())


def steps_to(seed, tau, samples, lr=0.05, frac=0.1, max_steps=3000):
    c, t = problem(seed)
    theta = np.zeros_like(c)
    best = float(((c - t) ** 2).min(axis=1).sum())
    gap0 = expected_loss(theta, c, t) - best
    for step in range(max_steps):
        if expected_loss(theta, c, t) - best <= frac * gap0:
            return step
        key = fg.Key(seed, step)
        z = fg.gumbel_softmax(theta, tau, hard=True, rng=key)
        G = 2 * ((c * z).sum(axis=1, keepdims=True) - t) * c
        if samples == 0:
            grad = fg.gumbel_softmax_backward(G, tau, logits=theta, rng=key)[0]
        else:
            idx = np.argmax(z, axis=1)
            grad = fg.gumbel_rao_backward(G, theta, tau, idx, samples=samples, rng=key)[0]
        theta -= lr * grad
    return max_steps


def main(seeds=5, methods=(0, 4, 16), lrs=(1.0, 3.0), frac=0.01):
    print(f"64 variables x 8 categories, plain SGD, steps until the expected loss is within "
          f"{frac:.0%} of the initial gap to its minimum (median over {seeds} seeds; 3000 = "
          "not reached in 3000 steps)")
    names = ["ST" if k == 0 else f"GR K={k}" for k in methods]
    print("| tau | lr | " + " | ".join(names) + " |")
    print("|---|---|" + "---:|" * len(methods))
    for tau in (0.5, 1.0):
        for lr in lrs:
            cells = [np.median([steps_to(s, tau, k, lr=lr, frac=frac) for s in range(seeds)])
                     for k in methods]
            print(f"| {tau} | {lr} | " + " | ".join(f"{v:.0f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
