"""The server's small JSON state files in the data_dir (`wire-topics.json`, `wire-offsets.json`),
under the segments' rule: nothing in a data_dir is followed through a symlink, and a file is
created only where nothing (file or link) has the name.

A write goes to `<name>.tmp` (created exclusively, O_NOFOLLOW), then replaces the file in one
rename, so a crash leaves the old content or the new, never half of either. A stale `.tmp` left
by a crash is removed first (an unlink never follows a link); a symlink where the file itself
should be is refused (DataDirError) rather than replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from chronik_lab.engine import files
from chronik_lab.errors import DataDirError

__all__ = ["MAX_STATE_BYTES", "read_json", "write_json"]

MAX_STATE_BYTES = 64 * 1024 * 1024  # far above what the server's limits let these files reach


def read_json(path: Path) -> object | None:
    """The file's JSON value; None when there is no file. DataDirError for a symlink, a file
    too large, or one that is not JSON."""
    try:
        fd = files.open_nofollow(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataDirError(path, f"cannot be read: {exc}") from None
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_STATE_BYTES + 1)
    if len(raw) > MAX_STATE_BYTES:
        raise DataDirError(path, f"is larger than {MAX_STATE_BYTES:,} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DataDirError(path, f"is not valid JSON: {exc}") from None


def write_json(path: Path, data: object, fsync: bool = False) -> None:
    """Replace `path` with `data` as JSON, atomically. OSError or DataDirError when it cannot;
    the old file is then untouched."""
    text = json.dumps(data, sort_keys=True).encode()
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a crash's leftover, or a planted link: removed, never followed
    with contextlib.suppress(FileNotFoundError):
        files.refuse_symlink(path)
    fd = files.create_exclusive(tmp)
    try:
        files.pwrite_all(fd, [text], 0)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        files.fsync_dir(path.parent)
