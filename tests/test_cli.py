"""The command line: info and demo run and print what the README says."""
import importlib.util
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


def test_bench_cold_start_table(background):
    # `python -m fastgumbel bench --cold`, run in the background (tests/_background.py)
    code, out = background["cold"].result()
    assert code == 0, out
    names = {"import", "gumbel", "gumbel_softmax", "gumbel_max", "backward"}
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()
            if ln.split() and ln.split()[0] in names}
    assert set(rows) == names and "empty cache s" in out
    assert all(len(vals) == 2 and float(v) >= 0 for vals in rows.values() for v in vals)


def test_kernels_load_from_a_partly_filled_cache(background):
    # A process that finds some kernels in Numba's on-disk cache and compiles others, then
    # one that loads all of them: both run (a cached helper that calls the threading
    # layer's C symbol, loaded before the layer had started, once aborted the process).
    # tests/_background.py (the cache step) runs the processes in turn on one cache dir.
    from _background import CACHE_RUNS
    code, out = background["cache"].result()
    assert code == 0, out
    assert [ln.split()[1:] for ln in out.splitlines() if ln.startswith("ok ")] == \
        [list(r) for r in CACHE_RUNS]


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
