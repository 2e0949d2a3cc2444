"""`chronik-lab` as a user runs it, for the tests of the command line and of the server as a
process: one command run to its end, or `serve` in a child process for a `with` block."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
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
