"""Producer ids for Kafka's idempotent producer (InitProducerId), and the request's fields.

Kafka hands out producer ids in blocks from its controller, so an id is never reused across
broker restarts. Here the next free id lives in `data_dir/producer-ids` (decimal, one line),
saved before an id is handed out, and is at least one past every id found in the log on
recovery, so losing the file cannot make two producers share an id.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from chronik_lab.engine import files
from chronik_lab.engine.records import Producer
from chronik_lab.errors import DataDirError, InvalidArgumentError

FILE_NAME = "producer-ids"
_MAX_ID = (1 << 63) - 1
_MAX_EPOCH = (1 << 15) - 1
_MAX_SEQUENCE = (1 << 31) - 1


def producer_fields(producer_id: object, producer_epoch: object, base_sequence: object) -> Producer:
    """Validate a request's producer fields: all three or none (checked by the caller: at least
    one is given here), each an int in Kafka's range (int64 >= 0, int16 >= 0, int32 >= 0)."""
    fields = (
        ("producer_id", producer_id, _MAX_ID),
        ("producer_epoch", producer_epoch, _MAX_EPOCH),
        ("base_sequence", base_sequence, _MAX_SEQUENCE),
    )
    missing = [name for name, value, _ in fields if value is None]
    if missing:
        raise InvalidArgumentError(
            f"an idempotent produce needs producer_id, producer_epoch and base_sequence; "
            f"missing {', '.join(missing)}"
        )
    for name, value, top in fields:
        if type(value) is not int or not 0 <= value <= top:
            raise InvalidArgumentError(f"{name} must be an int in 0..{top}, not {value!r}")
    return producer_id, producer_epoch, base_sequence  # type: ignore[return-value]


class ProducerIds:
    """The producer ids of one data_dir. Invariants: `next_id` was never handed out, and the
    file holds a value >= every id handed out + 1 before that id is returned. Not
    thread-safe (the broker serialises requests)."""

    def __init__(self, data_dir: Path, fsync: bool, highest_seen: int) -> None:
        self.path = data_dir / FILE_NAME
        self.fsync = fsync
        self.next_id = max(self._read(), highest_seen + 1)

    def allocate(self) -> int:
        pid = self.next_id
        if pid > _MAX_ID:
            raise InvalidArgumentError("no producer id left in this data_dir (2^63 handed out)")
        self._save(pid + 1)
        self.next_id = pid + 1
        return pid

    def _read(self) -> int:
        try:
            fd = files.open_nofollow(self.path)
        except FileNotFoundError:
            return 0
        try:
            text = os.read(fd, 64).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        if not text.isdigit():
            raise DataDirError(self.path, f"holds {text[:40]!r}, not a producer id")
        return int(text)

    def _save(self, next_id: int) -> None:
        """Write the file anew and rename it into place: a crash leaves the old or the new."""
        temp = self.path.with_name(FILE_NAME + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # left by a crash; unlink removes a link itself, never its target
        fd = files.create_exclusive(temp)
        try:
            files.pwrite_all(fd, [f"{next_id}\n".encode()], 0)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        if self.fsync:
            files.fsync_dir(self.path.parent)
