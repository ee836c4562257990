"""GPU benchmark of the bridges: a training step through ``fastgumbel.torch`` on CUDA tensors
and through ``fastgumbel.jax`` on a GPU, next to the frameworks' own Gumbel-Softmax.

Cases (per size, float32; bfloat16 for torch too):

- torch eager forward + backward, hard sample with a learned tau (a CUDA tensor) and with a
  number: ``fastgumbel.torch.gumbel_softmax`` vs ``torch.nn.functional.gumbel_softmax``;
- the same step captured in a CUDA graph and replayed (fastgumbel only: torch's
  ``F.gumbel_softmax`` draws with ``exponential_``, also graph-safe, so both);
- JAX: ``jax.jit(jax.grad(loss))`` with ``fastgumbel.jax.gumbel_softmax`` vs the same loss
  with ``jax.nn.softmax((x + jax.random.gumbel(key, x.shape)) / tau)``.

Timing: CUDA events (torch) or ``block_until_ready`` around ``--repeats`` calls after a
warm-up; the median of 5 such runs. ``--results FILE`` appends a markdown table.

Usage (on a GPU machine, from the repository root)::

    python bench/gpu/bench_bridges_gpu.py --sizes 4096x1024,256x32000 --repeats 30
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import time


def _torch_cases(torch, fgt, n, k, dtype):
    import torch.nn.functional as F
    x = torch.randn(n, k, device="cuda", dtype=dtype, requires_grad=True)
    tau = torch.tensor(0.5, device="cuda", requires_grad=True)
    w = torch.randn(n, k, device="cuda", dtype=dtype)
    gen = fgt.default_rng(0)

    def fg_step(t):
        y = fgt.gumbel_softmax(x, t, hard=True, generator=gen)
        (y * w).sum().backward()

    def torch_step(t):
        y = F.gumbel_softmax(x, t, hard=True)
        (y * w).sum().backward()

    cases = {"fastgumbel hard, learned tau": lambda: fg_step(tau),
             "torch F.gumbel_softmax hard, learned tau": lambda: torch_step(tau),
             "fastgumbel hard, tau=0.5": lambda: fg_step(0.5),
             "torch F.gumbel_softmax hard, tau=0.5": lambda: torch_step(0.5)}
    for name, f in list(cases.items()):
        if "tau=0.5" in name:
            cases[name + " (CUDA graph)"] = _graphed(torch, f)
    return cases


def _graphed(torch, f):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            f()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        f()
    return g.replay


def _time_torch(torch, f, repeats):
    for _ in range(3):
        f()
    runs = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(repeats):
            f()
        b.record()
        b.synchronize()
        runs.append(a.elapsed_time(b) / repeats)
    return statistics.median(runs)


def _jax_cases(n, k):
    import jax
    import jax.numpy as jnp

    import fastgumbel.jax as fgj
    x = jax.device_put(jnp.asarray(jax.random.normal(jax.random.key(0), (n, k))))
    w = jnp.arange(k, dtype=jnp.float32)
    key = jax.random.key(1)

    def fg_loss(x, tau, key):
        return (fgj.gumbel_softmax(key, x, tau, hard=True) * w).sum()

    def jax_loss(x, tau, key):
        y = jax.nn.softmax((x + jax.random.gumbel(key, x.shape)) / tau)
        hot = jax.nn.one_hot(jnp.argmax(y, -1), k)
        return ((hot - jax.lax.stop_gradient(y) + y) * w).sum()

    out = {}
    for name, loss in (("fastgumbel.jax hard, jit(grad)", fg_loss),
                       ("jax.nn softmax + jax.random.gumbel, jit(grad)", jax_loss)):
        step = jax.jit(jax.grad(loss, argnums=(0, 1)))
        out[name] = (lambda s: lambda: s(x, jnp.float32(0.5), key))(step)
    return jax, out


def _time_jax(jax, f, repeats):
    jax.block_until_ready(f())
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            r = f()
        jax.block_until_ready(r)
        runs.append((time.perf_counter() - t0) * 1e3 / repeats)
    return statistics.median(runs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="4096x1024,256x32000")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--frameworks", default="torch,jax")
    p.add_argument("--results", help="append a markdown table to this file")
    a = p.parse_args(argv)
    rows = []
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    device = "?"
    if "torch" in a.frameworks:
        import torch

        import fastgumbel.torch as fgt
        device = torch.cuda.get_device_name()
        for n, k in sizes:
            for dt in (torch.float32, torch.bfloat16):
                for name, f in _torch_cases(torch, fgt, n, k, dt).items():
                    ms = _time_torch(torch, f, a.repeats)
                    rows.append((f"{n}x{k}", str(dt).replace("torch.", ""), name, ms))
                    print(f"{n}x{k} {dt} {name}: {ms:.3f} ms", flush=True)
    if "jax" in a.frameworks:
        for n, k in sizes:
            jax, cases = _jax_cases(n, k)
            device = device if device != "?" else str(jax.devices()[0])
            for name, f in cases.items():
                ms = _time_jax(jax, f, a.repeats)
                rows.append((f"{n}x{k}", "float32", name, ms))
                print(f"{n}x{k} float32 {name}: {ms:.3f} ms", flush=True)
    if a.results and rows:
        lines = [f"\n### GPU bridges: training step, {device} "
                 f"({datetime.date.today()}, bench/gpu/bench_bridges_gpu.py)\n",
                 "| size | dtype | case | ms per step |", "|---|---|---|---|"]
        lines += [f"| {s} | {d} | {c} | {ms:.3f} |" for s, d, c, ms in rows]
        with open(a.results, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
