"""Ctrl-C during a report leaves no kernel behind (issue 19 item 10), nor anything a kernel
started: a notebook's process pool (cl.explain and cl.sweep start one) was orphaned when only the
kernel process was killed -- two "ipykernel" processes, parent PID 1, on a 2-core machine -- and
held the report's output pipes for minutes. Each run is a real report in a child process,
interrupted (SIGINT) at a known moment; every process the report started inherits a tag in its
environment, and none may carry it afterwards. Bounded: each report is waited for at most 60 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from served import default_sigint

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
TAG = "CHRONIK_LAB_KERNEL_TRIAL"
POOL = """import concurrent.futures, pathlib, time

pool = concurrent.futures.ProcessPoolExecutor(2)
busy = [pool.submit(time.sleep, 120) for _ in range(2)]
time.sleep(1)  # the workers are up
pathlib.Path("started").write_text("the pool is running")
time.sleep(120)
"""


def _tagged(tag: str) -> list:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TAG) == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue  # gone, or not ours to read
    return found


def _interrupted_report(out: Path, notebooks: Path, when) -> list[str]:
    """Run a report, interrupt it once `when()` is true, and return what survived it (each
    survivor is killed here: none may outlive the test)."""
    tag = uuid.uuid4().hex
    code = (
        "from chronik_lab.report.build import build_report; "
        f"build_report({str(out)!r}, {str(notebooks)!r}, progress=False, jobs=2)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), TAG: tag}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL,
        preexec_fn=default_sigint,  # the test's Ctrl-C reaches it however pytest was started
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not when() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    left = _tagged(tag)
    psutil.wait_procs(left, timeout=10)  # a process killed a moment ago may still be exiting
    left = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    shown = []
    for p in left:
        with_cmd = " ".join(p.cmdline()[-2:]) if p.is_running() else "?"
        shown.append(f"{p.pid}: {with_cmd}")
        p.kill()
    return shown


@pytest.mark.slow
def test_ctrl_c_kills_a_kernels_process_pool_with_it(tmp_path):
    from standins import write_notebook

    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    write_notebook(notebooks / "01_pool.ipynb", POOL)
    started = notebooks / "started"
    assert _interrupted_report(tmp_path / "out", notebooks, started.exists) == []
    assert started.exists()


@pytest.mark.slow
def test_ctrl_c_while_kernels_start_and_stop_leaves_none_behind(tmp_path):
    from standins import write_notebook

    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    for i in range(12):
        write_notebook(notebooks / f"{i:02d}_quick.ipynb", "x = 1")
    for delay in (2.0, 3.0, 4.0):  # kernels start and stop all through this span
        at = time.monotonic() + delay
        out = tmp_path / f"out-{delay}"
        assert _interrupted_report(out, notebooks, lambda at=at: time.monotonic() > at) == []
