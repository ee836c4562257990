"""bench/gpu/device_check.sh without a GPU: its syntax, and the steps and time limits it
would run (DRY_RUN=1), all within the 8 minutes a lent GPU allows."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu" / "device_check.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _dry(tmp_path, **env):
    e = dict(os.environ, DRY_RUN="1", OUT=str(tmp_path), **env)
    p = subprocess.run(["bash", str(SCRIPT)], env=e, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_syntax():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_dry_run_lists_every_step_within_the_budget(tmp_path):
    out = _dry(tmp_path)
    steps = dict(re.findall(r"^step (\w+): timeout (\d+)s", out, re.M))
    assert list(steps) == ["env", "versions", "info", "tests", "bridges", "bench",
                           "bench_bridges"]
    assert "tests/gpu" in out and "tests/cuda" in out and "bench_bridges_gpu.py" in out
    budget = int(re.search(r"BUDGET_S=\$\{BUDGET_S:-(\d+)\}", SCRIPT.read_text()).group(1))
    assert budget <= 450                     # the whole run: 7.5 minutes, under the 8 allowed
    assert all(int(v) <= budget for v in steps.values())
    assert not (tmp_path / "tests.txt").exists()            # nothing ran


def test_a_small_budget_caps_every_step(tmp_path):
    out = _dry(tmp_path, BUDGET_S="50")
    limits = [int(v) for v in re.findall(r"timeout (\d+)s", out)]
    assert limits and max(limits) <= 50
