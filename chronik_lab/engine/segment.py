"""One segment: an Arrow IPC stream file named by its 20-digit base offset, and its batch index.

The in-memory index keeps, per record batch, its first offset, its byte position and its length,
so a read at offset X finds its batch by binary search and decodes only the batches it returns,
memory-mapped and zero-copy (or, for a run of many small batches, all at once: fastread.py).

Integrity (see framing.py for the CRC-32C each batch carries): a batch this process wrote is
verified by construction; a recovered batch's metadata checksum is checked when the file is
opened, and its body checksum and structure (Arrow's full validation, offsets contiguous, no
null offset or timestamp) the first time it is read in this process -- at recovery already for
the last segment, whose tail a crash may have torn.
"""

from __future__ import annotations

import bisect
import mmap
import os
import stat
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from chronik_lab.engine import fastframe, fastread, files, framing
from chronik_lab.engine.framing import EOS, HEAD_LEN, HEADER, FrameError
from chronik_lab.engine.records import LazyBatch
from chronik_lab.errors import CorruptSegmentError, SegmentWriteError

SUFFIX = ".arrows"  # the IPC *stream* format: appendable, and a torn tail cuts cleanly
# Verify a batch on every read instead of once per process (benchmarks/bench_engine.py
# measures both; once is the default, see benchmarks/README.md for the figures).
VERIFY_EVERY_READ = False
# A read of at least this many batches averaging at most this many bytes (a single-record
# batch is ~0.5 KB) decodes them as one (fastread): pyarrow's ~3 us per message is most of
# such a read. Bigger batches are decoded one by one, zero-copy from the map.
BULK_MIN_BATCHES = 8
BULK_MAX_MESSAGE_BYTES = 2048


def segment_path(directory: Path, base_offset: int) -> Path:
    # Zero-padded to 20 digits "so that ls sorts the files numerically" (Kafka's Log.scala).
    return directory / f"{base_offset:020d}{SUFFIX}"


class Segment:
    """A segment file and its batch index. Created empty for writing, or opened to recover.

    Invariants (as in Kafka's LogSegment): `base_offset` is the first offset in the file and
    greater than any offset of any earlier segment; record batches follow each other with
    contiguous offsets, `next_offset` one past the last; a sealed segment is immutable, and only
    the active one holds an open file. Nothing is served that was not verified. A failed write
    is cut back to the last complete batch and leaves this object unchanged, so the file never
    holds half a batch for long. Not thread-safe.
    """

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
        self._verified: list[bool] = []  # body checksum and structure checked in this process
        self._fd: int | None = None  # open for appends while active
        self._close_fd: weakref.finalize | None = None
        self._dirty = False  # a failed write could not be cut back yet: cut before the next

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
    def create(cls, directory: Path, base_offset: int, created_ms: int, fsync: bool) -> Segment:
        """A new segment file holding the stream header. Exclusive: an existing file (or link)
        of that name is never opened, so nothing flushed can be truncated."""
        seg = cls(segment_path(directory, base_offset), base_offset, created_ms)
        try:
            fd = files.create_exclusive(seg.path)
        except OSError as exc:
            raise SegmentWriteError(seg.path, exc) from exc
        try:
            files.pwrite_all(fd, [HEADER], 0)
            if fsync:
                os.fsync(fd)
                files.fsync_dir(directory)
        except OSError as exc:
            os.close(fd)
            seg.path.unlink(missing_ok=True)  # ours, and it held no batch
            raise SegmentWriteError(seg.path, exc) from exc
        seg._fd, seg.size_bytes = fd, len(HEADER)
        seg._close_fd = weakref.finalize(seg, os.close, fd)  # a dropped segment leaks no fd
        return seg

    def append(self, records: Sequence[LazyBatch] | pa.RecordBatch, fsync: bool = False) -> None:
        """Write one record batch -- a built one, or contiguous entries framed as the record
        batch `build_batch` would make of them (fastframe: the same bytes, without building
        it); it is in the file (the OS's page cache) when this returns. On a failed write
        (SegmentWriteError) the file is cut back to its last complete batch and this segment
        is unchanged, so the same batch can be appended again."""
        if self._fd is None:
            raise RuntimeError(f"segment {self.path.name} is sealed")
        entries = [LazyBatch.wrap(records)] if isinstance(records, pa.RecordBatch) else records
        first, last = entries[0].first, entries[-1].last
        if first != self.next_offset:
            raise RuntimeError(f"non-contiguous append at {first}, expected {self.next_offset}")
        head, body = fastframe.encode_entries(entries)
        end = self._write([head, body], fsync)
        self._index(first, self.size_bytes, end - self.size_bytes, verified=True)
        self.next_offset = last + 1
        self.size_bytes = end

    def seal(self, fsync: bool = False) -> None:
        """Write the end-of-stream marker and close: from now on the file never changes."""
        if self._fd is not None:
            if self.batch_count:
                self.size_bytes = self._write([EOS], fsync)
            elif fsync:
                os.fsync(self._fd)
            self.close_file()
        self.sealed = True

    def close_file(self) -> None:
        if self._close_fd is not None:
            self._close_fd()
        self._fd = self._close_fd = None

    def _write(self, parts: list[object], fsync: bool) -> int:
        assert self._fd is not None
        start = self.size_bytes
        try:
            if self._dirty:
                os.ftruncate(self._fd, start)
                self._dirty = False
            end = files.pwrite_all(self._fd, parts, start)
            if fsync:
                os.fsync(self._fd)
        except OSError as exc:
            try:  # a partial batch must not stay in the file: cut back to the last whole one
                os.ftruncate(self._fd, start)
            except OSError:
                self._dirty = True
            raise SegmentWriteError(self.path, exc) from exc
        return end

    def _index(self, first: int, position: int, length: int, verified: bool) -> None:
        self._firsts.append(first)
        self._positions.append(position)
        self._lengths.append(length)
        self._verified.append(verified)

    # -- reading --------------------------------------------------------------------------
    def read(self, offset: int, max_records: int) -> list[pa.RecordBatch]:
        """Record batches covering offset .. offset+max_records-1 (or to the end), sliced."""
        if not self._firsts or offset >= self.next_offset or max_records <= 0:
            return []
        i = max(0, bisect.bisect_right(self._firsts, offset) - 1)  # floor batch
        out: list[pa.RecordBatch] = []
        wanted = max_records
        # One map per read, so its pages leave the RSS as soon as the caller drops what it
        # read; the map lives on as long as a buffer points into it.
        data = self._map()
        end = bisect.bisect_left(self._firsts, offset + max_records, i)  # past the last needed
        if self._small_run(i, end):
            batch = fastread.decode_run(data, self._positions[i:end])
            if batch is not None:
                return [batch.slice(max(0, offset - self._firsts[i]), max_records)]
        count = len(self._firsts)
        while i < count and wanted > 0:
            batch = self._read_batch(data, i)
            start = max(0, offset - self._firsts[i])
            rows = batch.num_rows
            if start == 0 and rows <= wanted:
                piece = batch  # the whole batch: no slice to make
            else:
                piece = batch.slice(start, wanted)
                rows = piece.num_rows
            out.append(piece)
            wanted -= rows
            i += 1
        return out

    def _small_run(self, i: int, end: int) -> bool:
        """Whether batches i..end-1 are worth decoding in one go (fastread): many, small, and
        all verified already (fastread trusts their layout)."""
        if end - i < BULK_MIN_BATCHES or VERIFY_EVERY_READ:
            return False
        size = self._positions[end - 1] + self._lengths[end - 1] - self._positions[i]
        return size <= BULK_MAX_MESSAGE_BYTES * (end - i) and all(self._verified[i:end])

    def _map(self) -> pa.Buffer:
        try:
            fd = files.open_nofollow(self.path)
        except OSError as exc:  # removed or replaced under the broker
            raise CorruptSegmentError(self.path, None, f"cannot be opened: {exc}") from None
        try:
            size = os.fstat(fd).st_size
            end = self._positions[-1] + self._lengths[-1]
            if size < end:  # reading past the end of a map is a SIGBUS, not an error
                raise CorruptSegmentError(self.path, None, f"{size} bytes, its index ends at {end}")
            return pa.py_buffer(mmap.mmap(fd, end, access=mmap.ACCESS_READ))
        finally:
            os.close(fd)

    def _read_batch(self, data: pa.Buffer, i: int) -> pa.RecordBatch:
        message = data.slice(self._positions[i], self._lengths[i])
        try:
            if self._verified[i] and not VERIFY_EVERY_READ:
                return framing.decode(message)
            if framing.message_length(message.slice(0, HEAD_LEN).to_pybytes()) != message.size:
                raise FrameError("message length differs from the index")
            framing.verify_body(message)
            batch = framing.decode(message)
            framing.check_structure(batch, self._firsts[i])
        except FrameError as exc:
            raise CorruptSegmentError(self.path, i, str(exc)) from None
        self._verified[i] = True
        return batch

    # -- recovery -------------------------------------------------------------------------
    @classmethod
    def recover(
        cls, path: Path, expected_base: int | None = None, last: bool = True, repair: bool = True
    ) -> Segment | None:
        """Open an existing file: rebuild its index, cut a torn tail back to the last complete
        record batch (with a warning), and return it sealed; None if it held no complete batch.

        Only the `last` segment of a partition may be cut, and only a torn tail: the bytes
        after the last complete batch are the start of a message that was never finished.
        Anything else is a CorruptSegmentError, raised before the file is changed. With
        `repair=False` (Broker.check) a torn tail is an error too and every batch is verified.
        """
        base = _base_from_name(path)
        if expected_base is not None and base != expected_base:
            raise CorruptSegmentError(path, None, f"starts at {base}, expected {expected_base}")
        seg = cls(path, base, created_ms=0)
        data, size = _map_whole(path)
        good_end, _ = seg._scan(data, size, verify=last or not repair)
        del data
        if good_end < size and (not last or not repair):
            where = "not the last segment" if not last else "check() repairs nothing"
            reason = f"torn at byte {good_end} of {size}, and {where}"
            raise CorruptSegmentError(path, seg.batch_count, reason)
        if not last and not seg.batch_count:
            raise CorruptSegmentError(path, None, "holds no record batch, and not the last")
        if good_end < size:
            warnings.warn(
                f"{path.name}: cut a torn tail of {size - good_end} bytes after the last "
                f"complete record batch (crash during a write)",
                RuntimeWarning,
                stacklevel=3,
            )
            _truncate(path, good_end if seg.batch_count else 0)
        if not seg.batch_count:
            return None
        seg.sealed = True
        seg.size_bytes = good_end
        return seg

    def _scan(self, data: pa.Buffer, size: int, verify: bool) -> tuple[int, bool]:
        """Index every complete record batch; return (end of the last good message, whether
        the end-of-stream marker closed the file). Raises CorruptSegmentError."""
        start = data.slice(0, min(size, len(HEADER))).to_pybytes()
        if start != HEADER[: len(start)]:
            raise CorruptSegmentError(
                self.path, None, "not an Arrow IPC stream of chronik_lab records"
            )
        pos = len(HEADER)
        if size < pos:
            return 0, False  # cut while the header was written: a torn tail
        while pos < size:
            try:
                head = data.slice(pos, min(HEAD_LEN, size - pos)).to_pybytes()
                length = framing.message_length(head)
                if length == 0:
                    if size - pos != len(EOS):
                        raise FrameError("data after the end-of-stream marker")
                    return size, True
                if length is None or pos + length > size:
                    return pos, False  # the file ends inside this message: a torn tail
                self._take(data.slice(pos, length), pos, verify)
            except FrameError as exc:
                reason = f"at byte {pos}: {exc}"
                raise CorruptSegmentError(self.path, self.batch_count, reason) from None
            pos += length
        return pos, False

    def _take(self, message: pa.Buffer, pos: int, verify: bool) -> None:
        """Index one message whose metadata checksum holds. Its row count comes from that
        metadata, so an unverified body is not even read until its first fetch."""
        batch = framing.decode(message)
        if verify:
            framing.verify_body(message)
            framing.check_structure(batch, self.next_offset)
        self._index(self.next_offset, pos, message.size, verified=verify)
        self.next_offset += batch.num_rows

    def __repr__(self) -> str:
        state = "sealed" if self.sealed else "active"
        return f"Segment({self.path.name}, {self.base_offset}..{self.last_offset}, {state})"


def _map_whole(path: Path) -> tuple[pa.Buffer, int]:
    """The whole file as one zero-copy buffer, opened without following a symlink."""
    fd = files.open_nofollow(path)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CorruptSegmentError(path, None, "not a regular file")
        if not st.st_size:
            return pa.py_buffer(b""), 0
        return pa.py_buffer(mmap.mmap(fd, st.st_size, access=mmap.ACCESS_READ)), st.st_size
    finally:
        os.close(fd)


def _truncate(path: Path, size: int) -> None:
    fd = files.open_nofollow(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def _base_from_name(path: Path) -> int:
    stem = path.name.removesuffix(SUFFIX)
    if len(stem) != 20 or not stem.isascii() or not stem.isdigit():
        raise CorruptSegmentError(path, None, "name is not a 20-digit base offset")
    return int(stem)
