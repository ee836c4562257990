"""The command line: info and demo run and print what the README says."""
import importlib.util
import os
import subprocess
import sys

from fastgumbel.__main__ import _chi2_sf
from scipy import stats


def run(*args):
    r = subprocess.run([sys.executable, "-m", "fastgumbel", *args], capture_output=True,
                       text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def test_info():
    code, out = run("info")
    assert code == 0
    for word in ("fastgumbel", "numba", "threads", "backend cpu", "spec v1"):
        assert word in out


def test_demo_small(tmp_path):
    fig = tmp_path / "demo.png"
    code, out = run("demo", "--draws", "200000", "--categories", "5", "--seed", "1",
                    "--figure", str(fig))
    assert code == 0, out
    assert "chi-square" in out and "consistent with softmax" in out and "M draws/s" in out
    assert "Gumbel-max trick" in out
    assert len([ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]) == 5
    if importlib.util.find_spec("matplotlib") is not None:
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not fig.exists() and "pip install 'fastgumbel[plot]'" in out


def test_demo_inverse_cdf_many_categories_no_figure(tmp_path):
    code, out = run("demo", "--draws", "300000", "--categories", "100", "--method",
                    "inverse_cdf", "--figure", "")
    assert code == 0, out
    assert "inverse-CDF sampler" in out and "..." in out and "figure" not in out


def test_demo_rejects_bad_options():
    code, out = run("demo", "--categories", "1")
    assert code == 2 and "--categories" in out


def test_chi2_tail_matches_scipy():
    for x, k in [(0.5, 1), (3, 2), (9, 9), (30, 9), (100, 50), (1e-3, 4), (200, 9)]:
        assert abs(_chi2_sf(x, k) - stats.chi2.sf(x, k)) <= 1e-12 + 1e-9 * stats.chi2.sf(x, k)


def test_bench_small():
    code, out = run("bench", "--rows", "64", "--categories", "128", "--repeats", "2")
    assert code == 0, out
    for case in ("gumbel_softmax soft", "gumbel_max", "gumbel noise", "forward + backward"):
        assert case in out


def test_bench_cold_start_table():
    code, out = run("bench", "--cold")
    assert code == 0, out
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()[1:] if ln.strip()}
    assert set(rows) == {"import", "gumbel", "gumbel_softmax", "gumbel_max", "backward"}
    assert all(float(v) >= 0 for vals in rows.values() for v in vals)


_KERNELS_SCRIPT = """
import sys, numpy as np, fastgumbel as fg
for name in sys.argv[1:]:
    x = np.zeros((3, 5), name)
    g = np.ones_like(x)
    fg.gumbel_softmax(x, rng=1), fg.gumbel_max(x, rng=1), fg.gumbel(size=x.shape, dtype=name, rng=1)
    fg.gumbel_softmax_backward(g, 1.0, y_soft=fg.gumbel_softmax(x, rng=1))
    fg.gumbel_softmax_backward(g, 1.0, logits=x, rng=1)
print("ok")
"""


def test_kernels_load_from_a_partly_filled_cache(tmp_path):
    # A process that finds some kernels in Numba's on-disk cache and compiles others, then
    # one that loads all of them: both run (a cached helper that calls the threading
    # layer's C symbol, loaded before the layer had started, once aborted the process).
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for dtypes in (["float32"], ["float64", "float32"], ["float32", "float64"]):
        r = subprocess.run([sys.executable, "-c", _KERNELS_SCRIPT, *dtypes], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def test_bench_rounds_shuffle_the_order():
    # every implementation once per round, in an order that changes between rounds, so
    # that none is always timed right after the same peer
    from fastgumbel._bench import median_alternating
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in "abcd"}
    t = median_alternating(fns, repeats=12, warmup=0)
    assert set(t) == set("abcd") and len(calls) == 48
    assert all(sorted(calls[i:i + 4]) == list("abcd") for i in range(0, 48, 4))
    for n in "abcd":
        assert len({calls[i - 1] for i in range(1, 48) if calls[i] == n}) > 1, n
