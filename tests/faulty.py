"""Helpers the fault tests share: a free loopback port for a broker the lab restarts (it must
come back on the same port), a stand-in broker command, and the processes a test left."""

from __future__ import annotations

import os
import socket
import sys

import psutil

# A stand-in broker: listens on the port given, accepts connections, never answers.
LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "s.listen()\n"
    "time.sleep(600)\n"
)


def living() -> set[int]:
    """The pids of this process's living descendants now (pass to `children` after)."""
    return _living()


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick for port 0, released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listener_cmd(port: int) -> list[str]:
    return [sys.executable, "-c", LISTENER, str(port)]


def chronik_serve_cmd(port: int, data_dir: str, *flags: str) -> list[str]:
    """`chronik-lab serve --data-dir D` as a separate process on `port`."""
    return [sys.executable, "-m", "chronik_lab", "serve", "--port", str(port),
            "--data-dir", data_dir, "--partitions", "1", *flags]  # fmt: skip


def _living() -> set[int]:
    return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}  # fmt: skip


# The descendants alive when this module was imported (a session's browser or kernels under
# pytest-xdist belong to other tests): `children()` leaves them out.
_BEFORE = _living()


def children(before: set[int] | None = None) -> list[int]:
    """This process's living descendants started since `before` (default: this module's import);
    a test must leave none behind."""
    return sorted(_living() - (_BEFORE if before is None else before))
