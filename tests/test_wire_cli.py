"""`chronik-lab serve` and `chronik-lab record` as a user runs them: real processes, real
sockets on 127.0.0.1. Every server process is interrupted (Ctrl-C) or killed in a finally."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from served import run_cli
from served import served as serve_process

import chronik_lab as cl
from chronik_lab.cli import main
from chronik_lab.cli.common import EXIT_PARTIAL

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
def test_record_against_no_broker_is_one_error_line_exit_2_and_keeps_the_history(tmp_path):
    out = tmp_path / "history.jsonl"
    done = run_cli("record", "--bootstrap", "127.0.0.1:1", "--messages", "3", "-o", str(out))
    assert done.returncode == 2  # the README's table: an Error: line is bad input, not anomalies
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("Error: no answer from 127.0.0.1:1: ")
    assert cl.read_history(out)["type"].tolist() == ["fail"] * 3


@pytest.mark.slow
def test_record_whose_broker_stops_mid_run_exits_5_with_the_partial_history(tmp_path):
    out = tmp_path / "history.jsonl"
    with cl.serve(port=0, partitions=2) as server:  # two partitions: one request at a time

        def stop_after_a_few_requests() -> None:
            deadline = time.monotonic() + 60
            while server.requests < 20 and time.monotonic() < deadline:
                time.sleep(0.001)
            server.stop()

        stopper = threading.Thread(target=stop_after_a_few_requests)
        stopper.start()
        done = CliRunner().invoke(
            main,
            ["record", "--bootstrap", server.bootstrap, "--messages", "300",
             "--batch-sizes", "none", "--partitions", "2", "-o", str(out)],
        )  # fmt: skip
        stopper.join(timeout=60)
    assert done.exit_code == EXIT_PARTIAL == 5, done.output
    assert done.stderr.startswith("partial history written to")  # not an Error: line
    sends = cl.read_history(out).query("f == 'send'")
    assert (sends["type"] == "ok").sum() > 0 and (sends["type"] == "fail").sum() > 0
    assert len(sends) == 300  # every planned send is in the history, the unattempted as fail


@pytest.mark.slow
def test_serve_and_record_defaults_reproduce_the_seed(tmp_path):
    """The README's sequence with no flags but the version: `serve --bugs v0.7.5`, `record`."""
    with serve_process("--bugs", "v0.7.5") as (proc, bootstrap):
        first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
        runs = [run_cli("record", "--bootstrap", bootstrap, "-o", str(p)) for p in (first, second)]
        for done in runs:
            assert done.returncode == 0, done.stderr
        topics = [done.stdout.split()[1] for done in runs]
        assert topics[0] != topics[1] and all(t.startswith("chronik-lab-") for t in topics)
        for path in (first, second):  # a second run reads none of the first one's records
            history = cl.read_history(path)
            polls = history[history["f"] == "poll"]["value"].tolist()
            assert polls == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]
        checked = run_cli("check", str(second))
        assert checked.returncode == 1 and "duplicate 10" in checked.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("serve", "--port", "70000"), "--port 70000 is too large: at most 65,535"),
        (("serve", "--flush-batches", "9" * 12), "--flush-batches 999999999999 is too large"),
        (("record", "--bootstrap", "x:1", "--messages", "9" * 12), "--messages 999999999999"),
        (("record", "--bootstrap", "x:1", "--partitions", "9" * 12), "--partitions 99999999"),
    ],
)
def test_serve_and_record_bound_their_int_flags(args, said, tmp_path):
    # a process with a timeout: a serve that took the number would serve until killed
    done = run_cli(*args, *(["-o", str(tmp_path / "h.csv")] if args[0] == "record" else []),
                   timeout=30)  # fmt: skip
    assert done.returncode == 2 and said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "h.csv").exists()


def test_serve_refuses_an_unknown_preset_in_one_line():
    done = run_cli("serve", "--port", "0", "--bugs", "v9")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
