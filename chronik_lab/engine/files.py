"""The few file-system calls the engine makes, each with the guard it needs.

- Nothing inside a data_dir is followed through a symlink (`O_NOFOLLOW`, `lstat`): a link there
  could make a write or a torn-tail repair land outside the data_dir.
- Segment files are created exclusively (`O_EXCL`): no open can ever truncate a file someone
  flushed to.
- With fsync, a directory is fsynced after a file or directory is created in it, so the new
  name survives a power loss along with the data.
- The data_dir's `.lock` (as Kafka's): an exclusive `flock`, released by closing it, so a killed
  broker never leaves a stale lock. The holder writes its pid there for the error message.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from chronik_lab.errors import DataDirError, DataDirLockedError

LOCK_NAME = ".lock"
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def refuse_symlink(path: Path) -> os.stat_result:
    """lstat `path`; a symlink is refused (DataDirError)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise DataDirError(path, "is a symlink; chronik_lab never follows links inside data_dir")
    return st


def create_exclusive(path: Path) -> int:
    """A new file opened for writing; fails if anything (file or link) already has the name."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)


def open_nofollow(path: Path, flags: int = os.O_RDONLY) -> int:
    try:
        return os.open(path, flags | _NOFOLLOW, 0o644)  # the mode, when O_CREAT creates it
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataDirError(path, "is a symlink; chronik_lab never follows links") from None
        raise


def pwrite_all(fd: int, parts: Iterable[object], offset: int) -> int:
    """Write every part at `offset` onwards, through short writes; return the end offset.
    One `pwritev` for all the parts (one system call per flush); a short write goes on part
    by part from where it stopped."""
    # bytes as they are; anything else (a pa.Buffer, a bytearray) as a view of its bytes
    views = [p if type(p) is bytes else memoryview(p).cast("B") for p in parts]  # type: ignore
    total = sum(map(len, views))  # bytes, or a view cast to bytes: len() is the byte count
    done = os.pwritev(fd, views, offset) if total else 0
    if done == total:
        return offset + total
    for view in views:
        skip = min(done, len(view))
        view, done, offset = memoryview(view)[skip:], done - skip, offset + skip
        while view.nbytes:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written
    return offset


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dir(path: Path, fsync: bool) -> None:
    """Create a directory in an existing one (or accept a real one already there)."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        st = refuse_symlink(path)
        if not stat.S_ISDIR(st.st_mode):
            raise DataDirError(path, "exists and is not a directory") from None
        return
    if fsync:
        fsync_dir(path.parent)


def name_max(directory: Path) -> int:
    """The longest file name the file system of `directory` accepts (255 almost everywhere)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def lock_data_dir(data_dir: Path) -> int:
    """Take the data_dir's lock; return its fd (closing it releases the lock)."""
    fd = open_nofollow(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        raise DataDirLockedError(data_dir, pid) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None
