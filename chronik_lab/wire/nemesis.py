"""Process faults for a broker the lab starts itself: kill -9 and restart, SIGSTOP / SIGCONT.

`BrokerProcess(cmd, ready)` starts a command (a shell-like string or an argument list) in its own
session and process group, and waits until `ready` ("HOST:PORT") accepts a TCP connection; every
signal goes to the whole group, so a broker started through a wrapper script is killed with its
children. `Nemesis(broker, faults)` applies `kill` and `pause` faults (wire/faults.py) on their
schedule from one thread and logs each step as a `FaultEvent` (kinds `kill` / `restart`, `pause` /
`resume`); `heal()` ends the schedule and leaves the broker running and not paused. `every`
counts from the end of the previous fault (a kill's period starts once the broker listens again),
as Jepsen's nemesis sleeps between operations.

Nothing is left behind: `stop()` (and leaving a `with` block, by an error or Ctrl-C too) sends
SIGCONT, SIGTERM, then SIGKILL after STOP_TIMEOUT_S, and reaps the process. A process that
cannot clean up (the recorder killed with kill -9) is covered by a watchdog started beside each
broker: a small Python process reading a pipe whose other end only the lab's process holds;
when that process ends, the pipe closes and the watchdog kills the broker's process group. The
lab ends the watchdog itself (SIGKILL) before it lets go of the pipe, so a watchdog never
signals a group whose number the system may have given to someone else.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from chronik_lab.errors import ChronikLabError, InvalidArgumentError
from chronik_lab.wire.faults import FaultSpec, parse_faults
from chronik_lab.wire.links import FaultEvent, parse_address

__all__ = ["BrokerProcess", "BrokerUnreachableError", "Nemesis"]

# The watchdog: waits for end of file on its stdin, then kills the process group argv[1].
WATCHDOG = (
    "import os, signal, sys\n"
    "sys.stdin.buffer.read()\n"
    "for sig in (signal.SIGCONT, signal.SIGKILL):\n"
    "    try:\n"
    "        os.killpg(int(sys.argv[1]), sig)\n"
    "    except OSError:\n"
    "        pass\n"
)
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02


class BrokerUnreachableError(ChronikLabError):
    """A broker that never accepted a connection at `address` within `waited_s` seconds;
    `exit_code` is set when the process the lab started had ended."""

    def __init__(self, address: str, waited_s: float, exit_code: int | None = None,
                 output: str = "") -> None:  # fmt: skip
        self.address, self.waited_s, self.exit_code = address, waited_s, exit_code
        ended = "" if exit_code is None else f"; the broker command exited with {exit_code}"
        tail = f": {output.strip().splitlines()[-1]}" if output.strip() else ""
        super().__init__(
            f"the broker at {address} never became reachable within {waited_s:.0f} s{ended}{tail}"
        )


def reachable(address: str, timeout_s: float) -> bool:
    """True when a TCP connection to `address` succeeds within `timeout_s`."""
    host, port = parse_address(address, "address")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.05, timeout_s)):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)


class BrokerProcess:
    """A broker command run by the lab. Invariants: at most one process at a time; after
    `stop()` none is left (the whole process group was signalled and reaped). One thread
    drives it (the nemesis's, or the caller's)."""

    def __init__(self, cmd: str | Sequence[str], ready: str, *, log_path: str | Path | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S) -> None:  # fmt: skip
        self.argv = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
        if not self.argv:
            raise InvalidArgumentError("the broker command is empty")
        parse_address(ready, "broker-ready")
        self.ready, self.ready_timeout_s = ready, ready_timeout_s
        self.log_path = None if log_path is None else Path(log_path)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    def start(self) -> BrokerProcess:
        """Start the command and wait until it listens (BrokerUnreachableError otherwise)."""
        if self.process is not None and self.process.poll() is None:
            return self
        self._log = self._log or (open(self.log_path, "ab") if self.log_path else None)  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL,
                stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach its children
            )  # fmt: skip
        except OSError as exc:
            raise InvalidArgumentError(f"cannot run the broker command {self.argv[0]!r}: "
                                       f"{exc.strerror or exc}") from None  # fmt: skip
        self.starts += 1
        try:
            self._watch()
            self.wait_ready()
        except BaseException:  # Ctrl-C or SIGTERM while it starts: no process left behind
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < self.ready_timeout_s:
            if reachable(self.ready, 0.2):
                return
            if self.process is not None and self.process.poll() is not None:
                break
        code = None if self.process is None else self.process.poll()
        self.stop()
        raise BrokerUnreachableError(self.ready, time.monotonic() - started, code, self._tail())

    def kill(self) -> None:
        """kill -9 the broker's process group and reap it."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_S)
        self._unwatch()

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """End the broker (SIGCONT, SIGTERM, SIGKILL after STOP_TIMEOUT_S) and reap it."""
        if self.process is not None:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
            self._signal(signal.SIGKILL)  # children that outlived their parent
            self._wait_group_gone()
        self._unwatch()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _watch(self) -> None:
        """Start the watchdog of the broker's group (see the module doc)."""
        self._unwatch()
        assert self.process is not None
        self._watchdog = subprocess.Popen(
            [sys.executable, "-S", "-c", WATCHDOG, str(self.process.pid)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C is the lab's to handle, not its
        )  # fmt: skip

    def _unwatch(self) -> None:
        """End the watchdog first, then close its pipe: it never fires on a group gone."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        watchdog.kill()
        watchdog.wait()
        assert watchdog.stdin is not None
        watchdog.stdin.close()

    def _signal(self, sig: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def _wait_group_gone(self) -> None:
        """Until no process of the group is left (signal 0 finds none), at most STOP_TIMEOUT_S."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and self.process is not None:
            try:
                os.killpg(self.process.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(POLL_S)

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-2000:].decode("utf-8", "replace")

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()


class Nemesis:
    """Applies process faults to `broker` on their schedule, from its own thread.

    Invariants: faults are applied one at a time, in time order; after `heal()` returns the
    thread has ended and the broker runs, not paused (restarted if a kill left it down)."""

    def __init__(self, broker: BrokerProcess, faults: Sequence[str | FaultSpec], seed: int = 0,
                 *, origin: float | None = None,
                 on_event: Callable[[FaultEvent], None] | None = None) -> None:  # fmt: skip
        self.broker = broker
        self.faults = parse_faults(list(faults), families=("process",))
        self.origin = time.monotonic() if origin is None else origin
        self.on_event = on_event
        self.events: list[FaultEvent] = []
        self.error: BaseException | None = None
        self._triggers = [f.trigger(seed, i) for i, f in enumerate(self.faults)]
        self._healing = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Nemesis:
        if self.faults:
            self._thread = threading.Thread(target=self._run, name="chronik-lab-nemesis",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return self

    def stop(self) -> None:
        """End the schedule (a fault under way is cut short), leaving the broker as it is."""
        self._healing.set()
        if self._thread is not None:
            self._thread.join()

    def heal(self) -> None:
        """End the schedule; the broker runs, not paused (restarted if it was down)."""
        self.stop()
        self.broker.resume()
        if not self.broker.alive:
            self.broker.start()
            self._event("restart", "restarted the broker (healing)")

    def _run(self) -> None:
        try:
            while not self._healing.wait(POLL_S):
                now_ms = (time.monotonic() - self.origin) * 1000
                for trigger in self._triggers:
                    if trigger.due(now_ms) and not self._healing.is_set():
                        self._apply(trigger.spec)
                        trigger.rearm((time.monotonic() - self.origin) * 1000)
        except BaseException as exc:  # noqa: BLE001 - e.g. a restart that never listened
            self.error = exc

    def _apply(self, spec: FaultSpec) -> None:
        if spec.kind == "kill":
            self.broker.kill()
            self._event("kill", "killed the broker (SIGKILL)", spec)
            self._healing.wait(spec.ms / 1000)
            self.broker.start()
            self._event("restart", "restarted the broker; it listens again", spec)
        else:
            self.broker.pause()
            self._event("pause", "paused the broker (SIGSTOP)", spec)
            self._healing.wait(spec.ms / 1000)
            self.broker.resume()
            self._event("resume", f"resumed the broker (SIGCONT) after {spec.ms} ms", spec)

    def _event(self, kind: str, action: str, spec: FaultSpec | None = None) -> None:
        event = FaultEvent(round(time.monotonic() - self.origin, 6), kind, action,
                           spec="" if spec is None else spec.text)  # fmt: skip
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
