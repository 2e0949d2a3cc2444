"""A partition's write-ahead log: every produce request, in the file before it is answered.

A flush writes pending batches to a segment only every `flush_batches` requests (or linger_ms),
as chronik did; until then they were only in memory, so a killed process lost records it had
acknowledged (issue 19). Kafka appends to its log before it answers. Here each request is
appended to `<partition dir>/pending.wal` before `produce` returns, and recovery replays the
requests the segments do not hold back into the pending batches -- so `flush_batches`, linger
and every preset's flush timing stay what they were, and a kill loses nothing acknowledged.

The file is a short header (`MAGIC`), then one entry per request: its length and the CRC-32C of
its bytes (8 bytes), then the request -- for one still held as lists (most) or as Arrow arrays
(the wire's long requests: written from the arrays' buffers, no copy per record), a fixed header
(offsets, timestamp, producer fields) and the value and key lengths and bytes, as they came;
for one already built as Arrow, its record batch message as a segment frames it. Framing a small
request costs ~1 us (an Arrow message with its metadata would cost ~9 us and 550 bytes: this is
on every produce's path). It is written through the page cache: a process kill loses nothing in it;
a power loss can, unless the broker runs with `fsync=True` (then every append is fsynced).
After a flush leaves nothing unflushed, the file is cut back to its header; while batches stay
unflushed for long (a flush in flight, a failing disk) it is rewritten with just those once it
passes REWRITE_BYTES. A torn tail (a request whose append was cut by the kill, so never
answered) is cut on recovery, as a segment's is.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
from array import array
from pathlib import Path

import numpy as np
import pyarrow as pa

from chronik_lab.engine import fastframe, files, framing
from chronik_lab.engine.framing import FrameError
from chronik_lab.engine.records import LazyBatch, binary_offsets
from chronik_lab.errors import CorruptSegmentError, WalWriteError

HEADER = b"chronik_lab write-ahead log 1\n"
_PREFIX = struct.Struct("<II")  # the entry's length (after these 8 bytes), its CRC-32C
# a request held as lists: kind 0, first offset, count, timestamp, producer fields, keyed
_LISTS = struct.Struct("<BqiqqhiB")
_ARROW = b"\x01"  # kind 1: the request's record batch message, as framing writes it

FILE_NAME = "pending.wal"
REWRITE_BYTES = 64 * 1024 * 1024


def _write(fd: int, data: bytes, offset: int) -> int:
    """pwrite all of `data` at `offset` (through short writes); return the end offset. One
    system call, with none of files.pwrite_all's part handling: this runs on every produce.
    (Its own function, so the tests that fail segment writes leave the log alone.)"""
    done = os.pwrite(fd, data, offset)
    while done < len(data):
        done += os.pwrite(fd, memoryview(data)[done:], offset + done)
    return offset + done


class WriteAheadLog:
    """The write-ahead log of one partition directory.

    Invariants: the file, once opened, starts with the stream header and holds whole request
    messages only (a failed append is cut back before `append` raises); every request answered
    since the last flush that left nothing unflushed is in it, in offset order, contiguous.
    Created exclusively and opened without following links, as segments are. Not thread-safe.
    """

    def __init__(self, directory: Path, fsync: bool) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self.fsync = fsync
        self.size = 0  # bytes of the file that hold whole messages (0: not opened yet)
        self._fd: int | None = None

    def append(self, batch: LazyBatch) -> None:
        """Write one request; it is in the file (the page cache) when this returns."""
        entry = _encode(batch)
        try:
            fd = self._open()
            end = _write(fd, entry, self.size)
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            self._cut_back()
            raise WalWriteError(self.path, exc) from exc
        self.size = end

    def reset(self) -> None:
        """Nothing is unflushed any more: cut the file back to its header."""
        if self._fd is None or self.size <= len(HEADER):
            return
        try:
            os.ftruncate(self._fd, len(HEADER))
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            return  # the flush is done; the replay skips what the segments already hold
        self.size = len(HEADER)

    def discard(self) -> None:
        """Forget every request in the file (recovery under ack_before_durable)."""
        if self._fd is not None:
            os.ftruncate(self._fd, len(HEADER))
            self.size = len(HEADER)

    def compact(self, unflushed: list[LazyBatch]) -> None:
        """Rewrite the file with only `unflushed` when it grew past REWRITE_BYTES (batches
        that stay unflushed long, while others are flushed). A failure keeps the old file."""
        if self.size < REWRITE_BYTES:
            return
        temp = self.path.with_name(FILE_NAME + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # a crashed rewrite's; unlink never follows a link
        try:
            fd = files.create_exclusive(temp)
        except OSError:
            return
        try:
            data = b"".join([HEADER, *map(_encode, unflushed)])
            size = _write(fd, data, 0)
            if self.fsync:
                os.fsync(fd)
            os.replace(temp, self.path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            return
        self.close()
        self._fd, self.size = fd, size

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def recover(self, next_offset: int) -> list[LazyBatch]:
        """The requests at or after `next_offset` (where the segments end), in order; a torn
        tail is cut with a warning. A corrupt message or a gap is a CorruptSegmentError."""
        try:
            fd = files.open_nofollow(self.path, os.O_RDWR)
        except FileNotFoundError:
            return []
        self._fd = fd
        data = _read_all(fd)
        if data[: len(HEADER)] != HEADER[: len(data)]:
            raise CorruptSegmentError(self.path, None, "not a chronik_lab write-ahead log")
        batches, pos = self._scan(data, next_offset)
        if pos < len(HEADER):  # empty, or cut while its header was written: start anew
            self.close()
            self.path.unlink()
            return []
        if pos < len(data):
            warnings.warn(
                f"{self.path}: cut a torn tail of {len(data) - pos} bytes (a request whose "
                f"append a crash interrupted, never acknowledged)",
                RuntimeWarning,
                stacklevel=3,
            )
            os.ftruncate(fd, pos)
        self.size = pos
        return batches

    def _scan(self, data: bytes, expected: int) -> tuple[list[LazyBatch], int]:
        batches: list[LazyBatch] = []
        pos = len(HEADER)
        if len(data) < pos:
            return [], 0
        while pos + _PREFIX.size <= len(data):
            length, crc = _PREFIX.unpack_from(data, pos)
            end = pos + _PREFIX.size + length
            if end > len(data):
                break  # the kill cut this request's append: it was never answered
            body = data[pos + _PREFIX.size : end]
            try:
                if framing.crc32c(body) != crc:
                    raise FrameError("entry checksum mismatch")
                entry = _decode(body)
            except FrameError as exc:
                raise CorruptSegmentError(self.path, len(batches), str(exc)) from None
            if entry.last >= expected:
                if entry.first > expected:
                    reason = f"request at offset {entry.first}, expected {expected}"
                    raise CorruptSegmentError(self.path, len(batches), reason)
                batches.append(entry.slice_offsets(expected, entry.last + 1))
                expected = entry.last + 1
            pos = end
        return batches, pos

    def _open(self) -> int:
        if self._fd is None:
            files.make_dir(self.directory, self.fsync)
            fd = files.create_exclusive(self.path)
            try:
                _write(fd, HEADER, 0)
                if self.fsync:
                    os.fsync(fd)
                    files.fsync_dir(self.directory)
            except OSError:
                os.close(fd)
                self.path.unlink(missing_ok=True)
                raise
            self._fd, self.size = fd, len(HEADER)
        return self._fd

    def _cut_back(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)


def _encode(batch: LazyBatch) -> bytes:
    """One request's entry: its prefix (length, CRC-32C), then its bytes."""
    held = batch.lists()
    columns = batch.columns() if held is None else None
    if columns is not None:  # the wire's long requests: their arrays' buffers, as lists'd be
        payload = _columns_payload(batch, *columns)
    elif held is None:  # built as Arrow already (str values, other sequences)
        head, body = fastframe.encode_entries([batch])
        payload = b"".join((_ARROW, head, bytes(body)))
    else:
        values, keys, stamp = held
        n = batch.num_rows
        fixed = _LISTS.pack(0, batch.first, n, stamp, *batch.producer, keys is not None)
        parts = [fixed, _lengths(values)]
        if keys is not None:
            parts.append(_lengths(keys))
        parts += filter(None, values)  # None and b"" add no bytes
        if keys is not None:
            parts += filter(None, keys)
        payload = b"".join(parts)
    return _PREFIX.pack(len(payload), framing.crc32c(payload)) + payload


def _columns_payload(
    batch: LazyBatch, values: pa.Array, keys: pa.Array | None, stamp: int
) -> bytes:
    """A request held as Arrow arrays, in the layout of one held as lists (kind 0): the same
    bytes, read back as lists."""
    fixed = _LISTS.pack(0, batch.first, batch.num_rows, stamp, *batch.producer, keys is not None)
    spans = [_span(values)] if keys is None else [_span(values), _span(keys)]
    return b"".join([fixed, *(lengths for lengths, _ in spans), *(items for _, items in spans)])


def _span(column: pa.Array) -> tuple[bytes, bytes | memoryview]:
    """A binary array's int32 lengths (-1 for null) and its items' bytes, straight from its
    buffers (through lists only if a null item has bytes of its own: Arrow allows it)."""
    offsets = binary_offsets(column)
    lengths = np.diff(offsets)
    if column.null_count:
        null = ~column.is_valid().to_numpy(zero_copy_only=False)
        if lengths[null].any():
            items = column.to_pylist()
            return _lengths(items), b"".join(filter(None, items))
        lengths[null] = -1
    data = column.buffers()[2]
    items = memoryview(data)[offsets[0] : offsets[-1]] if data is not None else b""
    return lengths.astype("<i4").tobytes(), items


def _lengths(items: list[bytes | None]) -> bytes:
    """int32 lengths, -1 for None."""
    if None in items:
        return array("i", [-1 if v is None else len(v) for v in items]).tobytes()
    return array("i", map(len, items)).tobytes()


def _decode(body: bytes) -> LazyBatch:
    """The request of an entry whose checksum holds (so a bad layout is a bug, not a crash)."""
    if body[:1] == _ARROW:
        message = pa.py_buffer(body[1:])
        batch = framing.decode(message)
        framing.check_structure(batch, batch.column(0)[0].as_py())
        entry = LazyBatch.wrap(batch)
        entry.producer = tuple(batch.column(i)[0].as_py() for i in (4, 5, 6))  # type: ignore[assignment]
        return entry
    if len(body) < _LISTS.size:
        raise FrameError("entry too short")
    kind, first, n, stamp, pid, epoch, seq, keyed = _LISTS.unpack_from(body, 0)
    pos = _LISTS.size
    if kind != 0 or n <= 0 or first < 0 or len(body) < pos + 4 * n * (2 if keyed else 1):
        raise FrameError("bad entry header")
    value_lengths = np.frombuffer(body, "<i4", n, pos)
    pos += 4 * n
    key_lengths = np.frombuffer(body, "<i4", n, pos) if keyed else None
    pos += 4 * n if keyed else 0
    values, pos = _split(body, pos, value_lengths)
    keys = None
    if key_lengths is not None:
        keys, pos = _split(body, pos, key_lengths)
    if pos != len(body):
        raise FrameError("entry length differs from its records")
    nbytes = int(np.maximum(value_lengths, 0).sum())
    nbytes += 0 if key_lengths is None else int(np.maximum(key_lengths, 0).sum())
    return LazyBatch(first, n, values, keys, stamp, None, nbytes, (pid, epoch, seq))


def _split(body: bytes, pos: int, lengths: np.ndarray) -> tuple[list, int]:
    out: list[bytes | None] = []
    for length in lengths.tolist():
        if length < 0:
            out.append(None)
            continue
        if pos + length > len(body):
            raise FrameError("record bytes past the end of the entry")
        out.append(body[pos : pos + length])
        pos += length
    return out, pos


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, done)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)
