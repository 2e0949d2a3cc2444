"""A server's private data directory (`serve(data_dir=None)`), and the ones killed servers left.

A server without a data_dir works in `<tmp>/chronik_lab-serve-XXXXXXXX`, removed on stop. A
server killed (SIGKILL, a crash) cannot remove it, and a busy one holds gigabytes there, so every
server starting without a data_dir first removes the stale ones: directories of that prefix,
owned by this user, not symlinks, whose broker lock (`.lock`, an flock that dies with its
process) nobody holds. A directory without a `.lock`, or changed in the last MIN_AGE_S seconds,
is left alone: its server may be starting (between creating `.lock` and locking it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from chronik_lab.engine import files
from chronik_lab.wire.logs import log

__all__ = ["PREFIX", "make_private", "remove_stale"]

PREFIX = "chronik_lab-serve-"
MIN_AGE_S = 10.0


def make_private() -> Path:
    return Path(tempfile.mkdtemp(prefix=PREFIX))


def remove_stale(parent: str | Path | None = None) -> list[Path]:
    """Remove the private directories that killed servers left in `parent` (default: the
    temporary directory); the ones removed."""
    root = Path(parent or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if entry.name.startswith(PREFIX) and _stale(Path(entry.path)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    if removed:
        log.info("removed %d private directories left by killed servers", len(removed))
    return removed


def _stale(path: Path) -> bool:
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return False
        if time.time() - st.st_mtime < MIN_AGE_S:
            return False
        fd = files.open_nofollow(path / files.LOCK_NAME, os.O_RDWR)
    except Exception:  # gone, not ours, no lock, a link: leave it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: a live server works there
    finally:
        os.close(fd)  # also releases the lock just taken
    return True
