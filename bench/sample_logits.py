"""fg.sample_logits against the token sampler a user writes with torch on the CPU, side by
side in one process: float32 logits, 2 threads each, calls interleaved, medians.

The peer is the sort-based path of vLLM's CPU sampler (``apply_top_k_top_p``: sort the
row, mask below the k-th value, softmax + cumsum of the sorted row for top-p, scatter back;
min-p from the softmax and its max), then its exponential race
``(probs / q.exponential_()).argmax``; without filters, the exponential race alone.

    python bench/sample_logits.py [--repeats 7]    # prints a Markdown table
"""
import argparse
import statistics
import time

import numba
import numpy as np
import torch

import fastgumbel as fg

SHAPES = [(64, 128 * 1024), (8, 256 * 1024)]
FILTERS = [("none", dict()), ("top-k 50", dict(top_k=50)), ("top-p 0.9", dict(top_p=0.9)),
           ("min-p 0.05", dict(min_p=0.05)), ("top-k 50 + top-p 0.9", dict(top_k=50, top_p=0.9))]


def torch_sample(logits, temperature, top_k=None, top_p=None, min_p=None, generator=None):
    """The peer: what vLLM's CPU path does for a batch with these filters."""
    logits = logits / temperature
    if top_k is not None or top_p is not None:
        srt, order = logits.sort(dim=-1, descending=False)
        if top_k is not None:
            kth = srt.gather(1, (srt.size(1) - top_k) * torch.ones(srt.size(0), 1,
                                                                   dtype=torch.long))
            srt.masked_fill_(srt < kth, -float("inf"))
        if top_p is not None:
            cum = srt.softmax(dim=-1).cumsum(dim=-1)
            mask = cum <= 1 - top_p
            mask[:, -1] = False
            srt.masked_fill_(mask, -float("inf"))
        logits = srt.scatter(dim=-1, index=order, src=srt)
    if min_p is not None:
        probs = logits.softmax(dim=-1)
        top = probs.amax(dim=-1, keepdim=True)
        logits = logits.masked_fill(probs < min_p * top, -float("inf"))
    probs = logits.softmax(dim=-1)
    q = torch.empty_like(probs).exponential_(generator=generator)
    return probs.div(q).argmax(dim=-1)


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def run(repeats):
    torch.set_num_threads(2)
    numba.set_num_threads(2)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for B, V in SHAPES:
        x = (np.random.default_rng(0).standard_normal((B, V)) * 2).astype(np.float32)
        xt = torch.from_numpy(x)
        seeds = np.arange(B)
        pos = np.full(B, 17)
        for name, kw in FILTERS:
            ours = lambda: fg.sample_logits(x, temperature=0.8, rng=seeds, positions=pos, **kw)
            peer = lambda: torch_sample(xt, 0.8, generator=gen, **kw)
            ours(), peer()                                    # compile, warm up
            a, b = [], []
            for _ in range(repeats):
                a.append(timed(ours))
                b.append(timed(peer))
            ta, tb = statistics.median(a), statistics.median(b)
            rows.append((f"{B} x {V // 1024}k", name, tb * 1e3, ta * 1e3, tb / ta))
            if name == "none":          # the race alone, its probabilities given
                probs = (xt / 0.8).softmax(dim=-1)
                race = lambda: probs.div(torch.empty_like(probs).exponential_(
                    generator=gen)).argmax(dim=-1)
                race()
                a, b = [], []
                for _ in range(repeats):
                    a.append(timed(ours))
                    b.append(timed(race))
                ta, tb = statistics.median(a), statistics.median(b)
                rows.append((f"{B} x {V // 1024}k", "none, vs. the race alone (probs given)",
                             tb * 1e3, ta * 1e3, tb / ta))
    print("| batch x vocab | filters | torch (ms) | fastgumbel (ms) | speed-up |")
    print("|---|---|---|---|---|")
    for shape, name, tb, ta, r in rows:
        print(f"| {shape} | {name} | {tb:.1f} | {ta:.2f} | **{r:.1f}x** |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    run(ap.parse_args().repeats)
