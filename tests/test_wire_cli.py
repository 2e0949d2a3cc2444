"""`chronik-lab serve` and `chronik-lab record` as a user runs them: real processes, real
sockets on 127.0.0.1. Every server process is interrupted (Ctrl-C) or killed in a finally."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import chronik_lab as cl

pytest.importorskip("kafka")
ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ | {"PYTHONPATH": str(ROOT)}


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chronik_lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


@pytest.fixture
def served(request) -> Iterator[tuple[subprocess.Popen, str]]:
    bugs = getattr(request, "param", "fixed")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chronik_lab",
            "serve",
            "--port",
            "0",
            "--bugs",
            bugs,
            "--flush-batches",
            "2",
            "--partitions",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        line = proc.stdout.readline()  # the server prints one line once it listens
        match = re.search(r"serving (127\.0\.0\.1:\d+) as (\S+)", line)
        assert match, line + proc.stderr.read()
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize("served", ["v0.7.5"], indirect=True)
def test_record_against_serve_writes_a_history_that_check_reads(served, tmp_path):
    proc, bootstrap = served
    out = tmp_path / "history.parquet"
    done = _cli(
        "record",
        "--bootstrap",
        bootstrap,
        "--messages",
        "10",
        "--batch-sizes",
        "4,6",
        "--acks",
        "all",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    history = cl.read_history(out)
    polls = history[history["f"] == "poll"]["value"].tolist()
    assert polls[:20] == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]
    checked = _cli("check", str(out))
    assert checked.returncode == 1 and "duplicate" in checked.stdout
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, exit 0
    assert proc.wait(timeout=15) == 0


@pytest.mark.slow
def test_record_against_no_broker_fails_in_one_line_and_keeps_the_partial_history(tmp_path):
    out = tmp_path / "history.jsonl"
    done = _cli("record", "--bootstrap", "127.0.0.1:1", "--messages", "3", "-o", str(out))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "partial history" in done.stderr
    assert cl.read_history(out)["type"].tolist() == ["fail"] * 3


def test_serve_refuses_an_unknown_preset_in_one_line():
    done = _cli("serve", "--port", "0", "--bugs", "v9")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
