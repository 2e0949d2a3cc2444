"""The engine benchmark keeps running: a --quick smoke run prints every figure with a verdict.

Timings are not asserted (they belong to the benchmark's own printout, not to unit tests); the
run does check, and fail on, any figure whose data read back differs from what was written.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("bulk", "small", "segments", "rss", "checksum")


@pytest.mark.slow
def test_bench_engine_quick_run_prints_every_figure_with_its_verdict(tmp_path: Path) -> None:
    pytest.importorskip("mockafka")  # the `bench` extra: the small-requests baseline
    script = ROOT / "benchmarks" / "bench_engine.py"
    cmd = [sys.executable, str(script), "--quick", "--repeat", "1", "--tmp", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    for name in FIGURES:
        row = re.compile(rf"{name}\s+[\d.]+ (s|MB)\s.*\s(PASS|MISS)\s")
        skipped = f"  {name}: SKIP"
        assert any(row.match(line) or line.startswith(skipped) for line in lines), run.stdout
    assert list(tmp_path.iterdir()) == []  # every log it wrote is gone
