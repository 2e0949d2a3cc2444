"""The history benchmarks keep running: gen_history.py writes a small history whose planted counts
the out-of-core check finds, and bench_check.py's outofcore figure prints its row. Timings are
not asserted (they belong to the benchmark's printout)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chronik_lab as cl

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gen_history_plants_what_the_checker_finds_and_the_figure_runs(tmp_path):
    out = tmp_path / "h"
    gen = [sys.executable, str(ROOT / "benchmarks" / "gen_history.py"), str(out),
           "--rows", "60000", "--partitions", "4", "--block", "10000"]  # fmt: skip
    subprocess.run(gen, check=True, capture_output=True, timeout=120)
    expected = json.loads((out / "expected.json").read_text())
    report = cl.check(out, engine="duckdb", memory_limit="64MiB")
    assert report.counts["duplicate"] == expected["duplicate"] > 0
    assert report.counts["lost-write"] == expected["lost-write"] > 0
    assert report.stats["received"] + report.stats["sent"] == expected["rows"]
    bench = [sys.executable, str(ROOT / "benchmarks" / "bench_check.py"), "--figure",
             "outofcore", "--data", str(out), "--memory-limit", "64MiB"]  # fmt: skip
    done = subprocess.run(bench, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"outofcore\s+[\d.]+ s\s+[\d,]+ MB .*(PASS|MISS)", done.stdout), done.stdout
    assert "same answer as the baseline: True; planted counts found: True" in done.stdout
