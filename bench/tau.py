"""General temperature against tau = 1 and against torch, side by side in one process.

    python bench/tau.py [--rows 4096] [--cols 1024] [--threads 2] [--rounds 7]
                        [--taus 1,0.5,0.1,0.3]

For each tau (the first is the baseline; 0.5 and 0.1 are 1 / n, which the CPU computes as
powers of the tau == 1 weights; 0.3 takes the general formula): ``fg.gumbel_softmax`` soft
and hard, and forward+backward (``gumbel_softmax_backward`` from the saved sample,
``tau_grad=False``; and with the tau gradient against torch with a tensor tau that requires
grad) at 4096x1024 float32, against ``torch.nn.functional.gumbel_softmax`` (and its autograd
backward) at the same tau. The
calls alternate in rounds (every call once per round), so machine noise falls on all of
them alike; medians over rounds. Prints a Markdown table for bench/RESULTS.md.

``--settle`` (ms, default 20) sleeps before each timed block. torch's OpenMP threads spin
for a few ms after each parallel region (libgomp's default wait policy), and in that time
they hold the cores the next block's threads need: without the pause, a fastgumbel block
right after a torch block measured 5.3 ms instead of 3.9 (4096x1024, 2 threads, session
10). ``--settle 0`` measures that interference too.
"""
import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))   # this checkout

from ab_versions import per_call  # noqa: E402  (bench/ is the script's folder)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--taus", default="1,0.5,0.1,0.3")
    ap.add_argument("--settle", type=float, default=20.0)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    import fastgumbel as fg
    torch.set_num_threads(args.threads)
    fg.set_num_threads(args.threads)
    x = np.random.default_rng(0).standard_normal((args.rows, args.cols)).astype(np.float32)
    xt = torch.from_numpy(x.copy())
    G = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    Gt = torch.from_numpy(G.copy())
    key = fg.Key(1)
    taus = tuple(float(v) for v in args.taus.split(","))
    cases = {}
    for tau in taus:
        def fwd_bwd(tau=tau):
            y = fg.gumbel_softmax(x, tau, rng=key)
            return fg.gumbel_softmax_backward(G, tau, y_soft=y, tau_grad=False)

        def torch_fwd_bwd(tau=tau):
            xg = xt.detach().requires_grad_(True)
            F.gumbel_softmax(xg, tau=tau).backward(Gt)
            return xg.grad

        def fwd_bwd_tau(tau=tau):
            y = fg.gumbel_softmax(x, tau, rng=key)
            return fg.gumbel_softmax_backward(G, tau, y_soft=y)

        def torch_fwd_bwd_tau(tau=tau):
            xg = xt.detach().requires_grad_(True)
            tg = torch.tensor(tau, requires_grad=True)
            F.gumbel_softmax(xg, tau=tg).backward(Gt)
            return xg.grad, tg.grad

        cases[("soft", tau, "fg")] = lambda tau=tau: fg.gumbel_softmax(x, tau, rng=key)
        cases[("soft", tau, "torch")] = lambda tau=tau: F.gumbel_softmax(xt, tau=tau)
        cases[("hard", tau, "fg")] = lambda tau=tau: fg.gumbel_softmax(x, tau, hard=True,
                                                                      rng=key)
        cases[("hard", tau, "torch")] = lambda tau=tau: F.gumbel_softmax(xt, tau=tau, hard=True)
        cases[("fwd+bwd", tau, "fg")] = fwd_bwd
        cases[("fwd+bwd", tau, "torch")] = torch_fwd_bwd
        cases[("fwd+bwd, tau grad too", tau, "fg")] = fwd_bwd_tau
        cases[("fwd+bwd, tau grad too", tau, "torch")] = torch_fwd_bwd_tau
    for f in cases.values():       # compile and warm
        f()
    times = {k: [] for k in cases}
    for _ in range(args.rounds):
        for k, f in cases.items():
            time.sleep(args.settle / 1e3)
            times[k].append(per_call(f, args.calls))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.rows}x{args.cols} float32, {args.threads} threads, median of {args.rounds} "
          f"rounds x {args.calls} calls, {args.settle:g} ms pause before each block (ms)\n")
    print(f"| call | tau | fastgumbel | torch | vs torch | vs fastgumbel at tau = {taus[0]:g} |")
    print("|---|---|---|---|---|---|")
    for what in ("soft", "hard", "fwd+bwd", "fwd+bwd, tau grad too"):
        for tau in taus:
            a = med[(what, tau, "fg")]
            b = med[(what, tau, "torch")]
            base = med[(what, taus[0], "fg")]
            print(f"| {what} | {tau} | {a * 1e3:.2f} | {b * 1e3:.2f} | {b / a:.1f}x | "
                  f"{a / base:.2f} |")


if __name__ == "__main__":
    main()
