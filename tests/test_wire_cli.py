"""`chronik-lab serve` and `chronik-lab record` as a user runs them: real processes, real
sockets on 127.0.0.1. Every server process is interrupted (Ctrl-C) or killed in a finally."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest
from served import run_cli
from served import served as serve_process

import chronik_lab as cl

pytest.importorskip("kafka")


@pytest.fixture
def served(request) -> Iterator[tuple[subprocess.Popen, str]]:
    bugs = getattr(request, "param", "fixed")
    with serve_process("--bugs", bugs, "--flush-batches", "2", "--partitions", "1") as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("served", ["v0.7.5"], indirect=True)
def test_record_against_serve_writes_a_history_that_check_reads(served, tmp_path):
    proc, bootstrap = served
    out = tmp_path / "history.parquet"
    done = run_cli(
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
    checked = run_cli("check", str(out))
    assert checked.returncode == 1 and "duplicate" in checked.stdout
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, exit 0
    assert proc.wait(timeout=15) == 0


@pytest.mark.slow
def test_record_against_no_broker_fails_in_one_line_and_keeps_the_partial_history(tmp_path):
    out = tmp_path / "history.jsonl"
    done = run_cli("record", "--bootstrap", "127.0.0.1:1", "--messages", "3", "-o", str(out))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "partial history" in done.stderr
    assert cl.read_history(out)["type"].tolist() == ["fail"] * 3


def test_serve_refuses_an_unknown_preset_in_one_line():
    done = run_cli("serve", "--port", "0", "--bugs", "v9")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
