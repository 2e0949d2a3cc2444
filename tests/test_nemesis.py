"""Process faults on a broker command the lab starts: ready when it listens, kill -9 and restart,
SIGSTOP / SIGCONT, and nothing left behind -- the whole process group is signalled and reaped."""

from __future__ import annotations

import sys
import time

import psutil
import pytest
from faulty import children, free_port, listener_cmd, living

from chronik_lab.errors import InvalidArgumentError
from chronik_lab.wire.faults import FaultSpecError
from chronik_lab.wire.nemesis import BrokerProcess, BrokerUnreachableError, Nemesis, reachable


def _stopped(pid: int, want: bool = True) -> bool:
    """Whether the process reaches the wanted stopped state within a second (signals land
    asynchronously)."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        if (psutil.Process(pid).status() == psutil.STATUS_STOPPED) == want:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
def test_start_waits_until_it_listens_and_stop_ends_the_whole_group():
    before = living()
    port = free_port()
    # A wrapper shell whose child listens: the signals must reach the child too.
    cmd = ["sh", "-c", f'{sys.executable} -c "$0" {port} & wait', listener_cmd(port)[2]]
    with BrokerProcess(cmd, f"127.0.0.1:{port}") as broker:
        assert reachable(f"127.0.0.1:{port}", 0.5)
        group = psutil.Process(broker.process.pid).children(recursive=True)
        assert group
    assert not children(before)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in group)


def test_kill_leaves_it_down_and_start_brings_it_back_on_the_same_address():
    before = living()
    port = free_port()
    with BrokerProcess(listener_cmd(port), f"127.0.0.1:{port}") as broker:
        first = broker.process.pid
        broker.kill()
        assert not broker.alive and broker.process.returncode == -9
        assert not reachable(f"127.0.0.1:{port}", 0.2)
        broker.start()
        assert broker.alive and broker.process.pid != first and broker.starts == 2
    assert not children(before)


def test_pause_stops_the_process_and_resume_continues_it():
    before = living()
    port = free_port()
    with BrokerProcess(listener_cmd(port), f"127.0.0.1:{port}") as broker:
        broker.pause()
        assert _stopped(broker.process.pid)
        broker.resume()
        assert _stopped(broker.process.pid, want=False)
    assert not children(before)


def test_a_command_that_exits_is_unreachable_with_its_exit_code_and_last_line(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('no such topic store'); sys.exit(3)"]
    port = free_port()
    broker = BrokerProcess(cmd, f"127.0.0.1:{port}", log_path=tmp_path / "broker.log")
    started = time.monotonic()
    with pytest.raises(BrokerUnreachableError) as info:
        broker.start()
    assert time.monotonic() - started < 10  # it did not wait out the timeout
    assert info.value.exit_code == 3 and "no such topic store" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_a_command_listening_elsewhere_times_out_and_is_stopped():
    before = living()
    port = free_port()
    broker = BrokerProcess(listener_cmd(free_port()), f"127.0.0.1:{port}", ready_timeout_s=1)
    with pytest.raises(BrokerUnreachableError, match="never became reachable within 1 s"):
        broker.start()
    assert not broker.alive and not children(before)


def test_bad_commands_and_addresses_are_refused():
    with pytest.raises(InvalidArgumentError, match="empty"):
        BrokerProcess("", "127.0.0.1:9")
    with pytest.raises(InvalidArgumentError, match="broker-ready must be HOST:PORT"):
        BrokerProcess("true", "nowhere")
    with pytest.raises(InvalidArgumentError, match="cannot run the broker command"):
        BrokerProcess(["/no/such/broker"], "127.0.0.1:9").start()


def test_the_nemesis_kills_restarts_pauses_resumes_on_schedule_and_heals():
    before = living()
    port = free_port()
    with BrokerProcess(listener_cmd(port), f"127.0.0.1:{port}") as broker:
        nemesis = Nemesis(broker, ["kill:at=100ms,ms=100", "pause:at=300ms,ms=100"]).start()
        deadline = time.monotonic() + 20  # a restart waits for the listener: slow on a busy host
        while len(nemesis.events) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        nemesis.heal()
        kinds = [e.kind for e in nemesis.events]
        assert kinds[:4] in (["kill", "restart", "pause", "resume"],
                             ["pause", "resume", "kill", "restart"])  # fmt: skip
        assert broker.alive and broker.starts == 2 and nemesis.error is None
        assert _stopped(broker.process.pid, want=False)
    assert not children(before)


def test_heal_during_a_pause_resumes_at_once():
    port = free_port()
    with BrokerProcess(listener_cmd(port), f"127.0.0.1:{port}") as broker:
        nemesis = Nemesis(broker, ["pause:at=50ms,ms=60000"]).start()
        time.sleep(0.3)
        started = time.monotonic()
        nemesis.heal()
        assert time.monotonic() - started < 2
        assert [e.kind for e in nemesis.events] == ["pause", "resume"]
        assert _stopped(broker.process.pid, want=False)


def test_request_faults_are_not_the_nemesis_s():
    with pytest.raises(FaultSpecError, match="cannot be applied here"):
        Nemesis(BrokerProcess("true", "127.0.0.1:9"), ["drop-response"])
