"""`chronik-lab proxy` and `chronik-lab record --fault ...` as a user runs them: real processes
on 127.0.0.1, each ended by the test (Ctrl-C, SIGTERM, or its own end)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import psutil
import pytest
from faulty import chronik_serve_cmd, free_port
from served import ENV, run_cli, served

import chronik_lab as cl
from chronik_lab.wire.nemesis import reachable

pytestmark = pytest.mark.slow


@contextmanager
def _ended(args: list[str]):
    """`python -m chronik_lab ARGS` in a child with pipes; killed at the end if still running."""
    proc = subprocess.Popen([sys.executable, "-m", "chronik_lab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_record_under_a_fault_writes_a_history_with_nemesis_rows_that_check_reads(tmp_path):
    out = tmp_path / "history.parquet"
    with served("--partitions", "1") as (_, bootstrap):
        done = run_cli(
            "record", "--bootstrap", bootstrap, "--messages", "40", "--fault", "lost-ack",
            "--producer-config", "enable_idempotence=false",
            "--producer-config", "request_timeout_ms=1000", "-o", str(out),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    topic, summary = done.stdout.splitlines()
    assert re.fullmatch(r"topic chronik-lab-\S+ \(a fresh one; --topic NAME to choose\)", topic)
    assert re.match(
        r"40 sent \(40 ok, 0 info, 0 fail\), 1 faults applied, 40 distinct ids", summary
    )
    history = cl.read_history(out)
    assert history.loc[history["process"] == "nemesis", "f"].tolist() == ["drop-response"]
    checked = run_cli("check", str(out))
    # the ids of the third Produce request: the client's batching decides how many (9 or 10)
    assert checked.returncode == 1 and re.search(r"anomalies: duplicate \d+[,\n]", checked.stdout)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--fault", "bogus"], "Error: bad fault 'bogus': unknown kind 'bogus'. A fault is"),
        (["--producer-config", "nope=1"], "Error: kafka-python has no producer setting 'nope'"),
        (["--producer-config", "retries"], "Error: --producer-config takes KEY=VALUE"),
        (["--fault", "kill:every=1s"], "Error: kill:every=1s: process faults need broker_cmd"),
        (["--producers", "2", "--batch-sizes", "4,6"], "Error: --batch-sizes applies to a calm"),
    ],
)
def test_bad_fault_flags_are_one_line_and_exit_2(args, says):
    done = run_cli("record", "--bootstrap", "127.0.0.1:9", "-o", "x.parquet", *args)
    assert done.returncode == 2
    assert done.stderr.startswith(says) and done.stderr.count("\n") == 1, done.stderr


def test_a_broker_that_never_listens_is_exit_2_in_one_line(tmp_path):
    port = free_port()
    done = run_cli(
        "record", "--broker-cmd", f"{sys.executable} -c 'import sys; sys.exit(4)'",
        "--broker-ready", f"127.0.0.1:{port}", "--fault", "lost-ack", "-o", str(tmp_path / "h.csv"),
    )  # fmt: skip
    assert done.returncode == 2
    assert "never became reachable" in done.stderr and "exited with 4" in done.stderr


@pytest.mark.parametrize("when", ["while it starts", "mid-run", "mid-run, twice"])
def test_sigterm_to_record_stops_the_broker_it_started(tmp_path, when):
    port = free_port()
    cmd = " ".join(chronik_serve_cmd(port, str(tmp_path / "d")))
    args = ["record", "--broker-cmd", cmd, "--broker-ready", f"127.0.0.1:{port}", "--messages",
            "100000", "--producers", "1", "-o", str(tmp_path / "h.parquet")]  # fmt: skip
    with _ended(args) as proc:
        deadline = time.monotonic() + 60
        brokers: list[psutil.Process] = []
        while not brokers and time.monotonic() < deadline:
            time.sleep(0.2)
            brokers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                       if "serve" in p.cmdline()]  # fmt: skip
        assert brokers, proc.stderr.read() if proc.poll() is not None else "no broker started"
        if when.startswith("mid-run"):
            assert reachable(f"127.0.0.1:{port}", 30)
            time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        if when.endswith("twice"):  # a second one while it cleans up is ignored
            time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
        gone, alive = psutil.wait_procs(brokers, timeout=10)
        assert not alive


def test_kill_9_of_record_still_ends_the_broker_it_started(tmp_path):
    port = free_port()
    cmd = " ".join(chronik_serve_cmd(port, str(tmp_path / "d")))
    args = ["record", "--broker-cmd", cmd, "--broker-ready", f"127.0.0.1:{port}", "--messages",
            "100000", "-o", str(tmp_path / "h.parquet")]  # fmt: skip
    with _ended(args) as proc:
        assert reachable(f"127.0.0.1:{port}", 60), "the broker never listened"
        started = psutil.Process(proc.pid).children(recursive=True)  # the broker, its watchdog
        assert any("serve" in p.cmdline() for p in started)
        proc.kill()  # kill -9: the recorder cleans up nothing
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(started, timeout=15)
        assert not alive, [p.cmdline() for p in alive]


def test_proxy_prints_its_address_and_each_fault_then_stops_on_ctrl_c():
    from kafka import KafkaProducer

    server = cl.serve(partitions=1)
    with server, _ended(["proxy", "--upstream", server.bootstrap, "--fault", "lost-ack"]) as proc:
        line = proc.stdout.readline()
        match = re.match(r"chronik-lab proxy on (127\.0\.0\.1:\d+) -> (\S+) \(1 faults\)", line)
        assert match and match.group(2) == server.bootstrap, line
        producer = KafkaProducer(bootstrap_servers=match.group(1), request_timeout_ms=1000,
                                 enable_idempotence=False)  # fmt: skip
        for i in range(4):
            producer.send("t", b"%d" % i, partition=0).get(timeout=10)
        producer.close()
        event = proc.stdout.readline()
        assert re.match(r"\s*[\d.]+ s  drop-response connection \d+ produce #\d+: dropped", event)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_proxy_stops_cleanly_on_sigterm():
    server = cl.serve(partitions=1)
    with server, _ended(["proxy", "--upstream", server.bootstrap]) as proc:
        line = proc.stdout.readline()
        address = re.match(r"chronik-lab proxy on (127\.0\.0\.1:\d+)", line).group(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0  # stopped as on Ctrl-C, not killed where it stood
        assert not reachable(address, 0.5)


def test_proxy_refuses_a_process_fault_in_one_line():
    done = run_cli("proxy", "--upstream", "127.0.0.1:9", "--fault", "kill-restart")
    assert done.returncode == 2 and "needs a broker the lab starts" in done.stderr
