"""`chronik-lab` as a user runs it, for the tests of the command line and of the server as a
process: one command run to its end, or `serve` in a child process for a `with` block; and what
tests that start a server of their own share (a free port, waiting for it to answer)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ | {"PYTHONPATH": str(ROOT)}


def default_sigint() -> None:
    """`preexec_fn` of a child that a test interrupts: SIGINT as a terminal's Ctrl-C meets it.
    A shell starts a background job with SIGINT ignored and a child inherits that, so under
    `make test &` the test's Ctrl-C would reach nobody (and the test fail) however it is sent."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: str, timeout: float = 90, env=None) -> subprocess.CompletedProcess:
    """`chronik-lab ARGS` to its end (a timeout kills it)."""
    return subprocess.run(
        [sys.executable, "-m", "chronik_lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or ENV,
    )


@contextmanager
def served(
    *args: str, env=None, preexec: Callable[[], None] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`chronik-lab serve --port 0 ARGS` in a child; (process, bootstrap) once it listens.
    Interrupted (Ctrl-C) at the end if still running, killed if that does not stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronik_lab", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or ENV,
        preexec_fn=_then(default_sigint, preexec),
    )
    try:
        line = proc.stdout.readline()  # the server prints one line once it listens
        match = re.search(r"serving (127\.0\.0\.1:\d+)", line)
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


def _then(first: Callable[[], None], second: Callable[[], None] | None) -> Callable[[], None]:
    def both() -> None:
        first()
        if second is not None:
            second()

    return both


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Until `url` answers (`proc`, the server, must not exit meanwhile), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc is None or proc.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")
