"""One segment: an Arrow IPC stream file named by its 20-digit base offset.

Invariants (as in Kafka's LogSegment): `base_offset` is the first offset in the file and greater
than any offset of any earlier segment; record batches follow each other with contiguous offsets;
a sealed segment is immutable. The in-memory index keeps, per record batch, its first offset, its
byte position and its length, so a read at offset X finds its batch by binary search and decodes
only the batches it returns, memory-mapped and zero-copy. Not thread-safe.
"""

from __future__ import annotations

import bisect
import os
import warnings
from pathlib import Path

import pyarrow as pa

from chronik_lab.engine.records import SCHEMA, first_offset, last_offset
from chronik_lab.errors import CorruptSegmentError

SUFFIX = ".arrows"  # the IPC *stream* format: appendable, and a torn tail cuts cleanly


def segment_path(directory: Path, base_offset: int) -> Path:
    # Zero-padded to 20 digits "so that ls sorts the files numerically" (Kafka's Log.scala).
    return directory / f"{base_offset:020d}{SUFFIX}"


def _stream_header() -> bytes:
    """The bytes every segment starts with: the schema message of an IPC stream."""
    sink = pa.BufferOutputStream()
    pa.ipc.new_stream(sink, SCHEMA).close()
    return sink.getvalue().to_pybytes()[:-8]  # drop the end-of-stream marker


HEADER = _stream_header()
# pyarrow's messages when a buffer ends before the message does: the file was cut mid-write.
_SHORT_READ = ("bytes available", "Expected to read", "Expected to be able to read")


class Segment:
    """A segment file and its batch index. Created empty for writing, or opened to recover."""

    def __init__(self, path: Path, base_offset: int, created_ms: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.created_ms = created_ms
        self.next_offset = base_offset  # one past the last offset written
        self.size_bytes = 0
        self.sealed = False
        self._firsts: list[int] = []  # first offset of each record batch
        self._positions: list[int] = []
        self._lengths: list[int] = []
        self._sink: pa.NativeFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    # -- metadata -------------------------------------------------------------------------
    @property
    def last_offset(self) -> int:
        return self.next_offset - 1

    @property
    def record_count(self) -> int:
        return self.next_offset - self.base_offset

    @property
    def batch_count(self) -> int:
        return len(self._firsts)

    # -- writing --------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, base_offset: int, created_ms: int) -> Segment:
        seg = cls(segment_path(directory, base_offset), base_offset, created_ms)
        seg._sink = pa.OSFile(str(seg.path), "wb")
        seg._writer = pa.ipc.new_stream(seg._sink, SCHEMA)
        return seg

    def append(self, batch: pa.RecordBatch, fsync: bool = False) -> None:
        """Write one record batch; it is in the file (the OS's page cache) when this returns."""
        if self._writer is None or self._sink is None:
            raise RuntimeError(f"segment {self.path.name} is sealed")
        if first_offset(batch) != self.next_offset:
            raise RuntimeError(
                f"non-contiguous append at {first_offset(batch)}, expected {self.next_offset}"
            )
        start = self._sink.tell() or len(HEADER)  # the schema is written with the first batch
        self._writer.write_batch(batch)
        end = self._sink.tell()
        if fsync:
            os.fsync(self._sink.fileno())
        self._index(first_offset(batch), start, end - start)
        self.next_offset = last_offset(batch) + 1
        self.size_bytes = end

    def seal(self, fsync: bool = False) -> None:
        """Write the end-of-stream marker and close: from now on the file never changes."""
        if self._writer is not None and self._sink is not None:
            if self.batch_count:
                self._writer.close()  # writes the end-of-stream marker
                self.size_bytes = self._sink.tell()
            if fsync:
                os.fsync(self._sink.fileno())
            self._sink.close()
        self._writer = self._sink = None
        self.sealed = True

    def _index(self, first: int, position: int, length: int) -> None:
        self._firsts.append(first)
        self._positions.append(position)
        self._lengths.append(length)

    # -- reading --------------------------------------------------------------------------
    def read(self, offset: int, max_records: int) -> list[pa.RecordBatch]:
        """Record batches covering offset .. offset+max_records-1 (or to the end), sliced."""
        if not self._firsts or offset >= self.next_offset or max_records <= 0:
            return []
        i = max(0, bisect.bisect_right(self._firsts, offset) - 1)  # floor batch
        out: list[pa.RecordBatch] = []
        wanted = max_records
        # One map per read, so its pages leave the RSS as soon as the caller drops what it
        # read. The file handle closes on leaving the block; the map lives on as long as a
        # buffer points into it.
        with pa.memory_map(str(self.path), "r") as mm:
            while i < len(self._firsts) and wanted > 0:
                batch = self._read_batch(mm, i)
                start = max(0, offset - self._firsts[i])
                piece = batch.slice(start, wanted)
                out.append(piece)
                wanted -= piece.num_rows
                i += 1
        return out

    def _read_batch(self, mm: pa.MemoryMappedFile, i: int) -> pa.RecordBatch:
        # read_buffer is a zero-copy slice of the map (read_at would copy). Only this batch's
        # range: Arrow advises the kernel it will need what read_buffer covers, which costs
        # time in proportion to its size (~1 ms for a whole 256 MB segment).
        mm.seek(self._positions[i])
        buf = mm.read_buffer(self._lengths[i])
        try:
            return pa.ipc.read_record_batch(pa.ipc.read_message(buf), SCHEMA)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptSegmentError(self.path, f"batch {i}: {exc}") from None

    # -- recovery -------------------------------------------------------------------------
    @classmethod
    def recover(
        cls, path: Path, expected_base: int | None = None, last: bool = True
    ) -> Segment | None:
        """Open an existing file: rebuild its index, cut a torn tail back to the last complete
        record batch (with a warning), and return it sealed; None if it held no complete batch.

        Only the `last` segment of a partition is repaired: a crash can tear only the file being
        written, so a torn or empty earlier one is corruption. Every check runs before the file
        is changed, so a corrupt log is reported exactly as it was found.
        """
        base = _base_from_name(path)
        if expected_base is not None and base != expected_base:
            raise CorruptSegmentError(path, f"starts at {base}, expected {expected_base}")
        seg = cls(path, base, created_ms=0)
        size = path.stat().st_size
        # The whole file as one zero-copy buffer (read_at would copy the rest at every message).
        data = pa.memory_map(str(path), "r").read_buffer() if size else None
        head = data.slice(0, min(size, len(HEADER))).to_pybytes() if data else b""
        if head != HEADER[: len(head)]:
            raise CorruptSegmentError(path, "not an Arrow IPC stream of chronik_lab records")
        good_end = seg._scan(data, size) if size >= len(HEADER) else 0
        if not last and (good_end < size or not seg.batch_count):
            raise CorruptSegmentError(path, f"torn at byte {good_end}, and not the last segment")
        if good_end < size:
            warnings.warn(
                f"{path.name}: cut a torn tail of {size - good_end} bytes after the last "
                f"complete record batch (crash during a write)",
                RuntimeWarning,
                stacklevel=3,
            )
            del data
            os.truncate(path, good_end if seg.batch_count else 0)
        if not seg.batch_count:
            return None
        seg.sealed = True
        seg.size_bytes = path.stat().st_size
        return seg

    def _scan(self, data: pa.Buffer, size: int) -> int:
        """Index every complete record batch; return the end of the last good message."""
        pos = len(HEADER)
        while pos < size:
            try:
                msg = pa.ipc.read_message(data.slice(pos))
            except EOFError:  # the end-of-stream marker of a sealed segment
                return size if size - pos == 8 else pos
            except (pa.ArrowInvalid, OSError) as exc:
                if any(s in str(exc) for s in _SHORT_READ):
                    return pos  # the file ends inside this message: a torn tail
                raise CorruptSegmentError(self.path, f"at byte {pos}: {exc}") from None
            length = 8 + msg.metadata.size + msg.body.size
            batch = self._decode(msg, pos)
            self._index(first_offset(batch), pos, length)
            self.next_offset = last_offset(batch) + 1
            pos += length
        return pos

    def _decode(self, msg: pa.ipc.Message, pos: int) -> pa.RecordBatch:
        try:
            batch = pa.ipc.read_record_batch(msg, SCHEMA)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptSegmentError(self.path, f"at byte {pos}: {exc}") from None
        if batch.num_rows == 0 or first_offset(batch) != self.next_offset:
            raise CorruptSegmentError(
                self.path, f"at byte {pos}: batch does not continue at offset {self.next_offset}"
            )
        return batch

    def __repr__(self) -> str:
        state = "sealed" if self.sealed else "active"
        return f"Segment({self.path.name}, {self.base_offset}..{self.last_offset}, {state})"


def _base_from_name(path: Path) -> int:
    stem = path.name.removesuffix(SUFFIX)
    if len(stem) != 20 or not stem.isdigit():
        raise CorruptSegmentError(path, "name is not a 20-digit base offset")
    return int(stem)
