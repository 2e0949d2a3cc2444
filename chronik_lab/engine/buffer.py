"""The fetch-side buffer: records produced but not yet flushed, so fetch can serve them.

Modelled on chronik's `PartitionBuffer`, `update_buffer` and `mark_flushed` (fetch_handler.rs).
The correct buffer follows chronik's v1.0.0 code: `update_buffer` skips the offsets buffered
*now* (a HashSet there) and keeps the buffer sorted by offset; `mark_flushed(up_to)` keeps the
records with offset > up_to. There is no floor at the flushed offset -- chronik never had one --
so with acks=-1, whose flush runs before the request's own update_buffer, a request's records
re-enter the buffer after being flushed. The fixed engine stays exact because fetch's Phase 2
serves only offsets above the last visible segment (fetch.py), not because of a guard here.

Under `blind_append_buffer` (v0.7.4, v0.7.5) update_buffer appends without a check or a sort.
Under `buffer_keeps_last_1000` (every tag through v1.0.0) update_buffer then drops the oldest
records beyond the last 1000 (`records.drain(0..trim)`), flushed or not.
"""

from __future__ import annotations

import bisect
import itertools
import sys
from collections.abc import Iterable

import pyarrow as pa

from chronik_lab.bugs import BugSet
from chronik_lab.engine.records import SCHEMA, LazyBatch

BUFFER_CAP = 1000  # chronik's update_buffer: "keep last 1000 records"


class PartitionBuffer:
    """A partition's buffered records, as `entries` in buffer order.

    Invariants: each entry is a `LazyBatch` of contiguous offsets, built as Arrow when first
    read, and never changed -- a trim or mark_flushed puts a slice in its place; `entries`
    changes only through update_buffer and mark_flushed, and every change moves `version`;
    `len()` is the number of records in `entries`. Until a blind append (never in the correct
    engine) the entries are sorted by offset and disjoint: each offset is buffered at most once,
    and reads and the dedup bisect instead of scanning. Not thread-safe.
    """

    def __init__(self, bugs: BugSet, flushed_through: int = -1) -> None:
        self.bugs = bugs
        # Entries stay Python lists until a fetch reads them (see records.LazyBatch): most are
        # flushed, and dropped, without ever being converted on their own.
        self.entries: list[LazyBatch] = []
        self._rows = 0  # records in `entries`, kept as they change: len() runs on every update
        self._ordered = True  # entries sorted by offset and disjoint: no blind append so far
        self.flushed_through = flushed_through  # the last offset marked flushed (chronik's
        # flushed_offset: tracked, never used as a floor)
        # chronik's buffer.base_offset and buffer.high_watermark, which gate the buffer-first
        # fetch (v0.7.4, v0.7.5): the first record's offset when the buffer was created (moved
        # only by a trim), and the producer's high watermark at the last update_buffer.
        self.base_offset: int | None = None
        self.high_watermark = 0
        self.version = 0  # moves with every change to `entries` (not with the fields above)

    @property
    def batches(self) -> list[pa.RecordBatch]:
        """The entries as record batches, in buffer order (built on first use, then cached)."""
        return [entry.batch() for entry in self.entries]

    def spans(self) -> list[tuple[int, int, int]]:
        """(first offset, last offset, count) of each entry, without building any Arrow."""
        return [(e.first, e.last, e.num_rows) for e in self.entries]

    def update_buffer(
        self, batches: Iterable[LazyBatch | pa.RecordBatch], high_watermark: int | None = None
    ) -> list[tuple[int, int]]:
        """Add records for fetch to serve; return the (first, last) offset ranges added.

        `high_watermark`: the producer's, recorded as chronik's update_buffer did (None: keep).
        """
        added: list[tuple[int, int]] = []
        entries = self.entries
        for entry in batches:
            if type(entry) is not LazyBatch:
                entry = LazyBatch.wrap(entry)
            first, last = entry.first, entry.last
            if last < first:  # no records
                continue
            if self.base_offset is None:
                self.base_offset = first
            if high_watermark is not None:
                self.high_watermark = high_watermark
            above = not entries or first > entries[-1].last
            if above or self.bugs.blind_append_buffer:
                self._ordered &= above
                entries.append(entry)  # records.extend(records): no check, no sort
                self._rows += last - first + 1
                added.append((first, last))
                continue
            for piece in self._unbuffered(entry):  # 8eb1c4d: HashSet dedup, then sort
                self._insert_sorted(piece)
                added.append((piece.first, piece.last))
        if self._rows > BUFFER_CAP and self.bugs.buffer_keeps_last_1000:
            self._trim(BUFFER_CAP)  # over the cap only when this call added records
        if added:
            self.version += 1
        return added

    def _unbuffered(self, entry: LazyBatch) -> list[LazyBatch]:
        """The parts of `entry` whose offsets are not buffered now. Only the dedup path calls
        it, whose entries are sorted and disjoint: it starts at the first entry ending at or
        above `entry`, found by bisection (a flush re-buffering into a long buffer)."""
        entries = self.entries
        if not entries or entry.first > entries[-1].last:
            return [entry]  # the usual case: above everything buffered
        pieces, lo = [], entry.first
        start = bisect.bisect_left(entries, entry.first, key=_last)
        for e in itertools.islice(entries, start, None):
            if e.first > entry.last:
                break
            if e.first > lo:
                pieces.append(entry.slice_offsets(lo, e.first))
            lo = e.last + 1
        if lo <= entry.last:
            pieces.append(entry.slice_offsets(lo, entry.last + 1))
        return pieces

    def _insert_sorted(self, piece: LazyBatch) -> None:
        self._rows += piece.num_rows
        if not self.entries or piece.first > self.entries[-1].last:
            self.entries.append(piece)
        else:  # below a buffered record: where the sort by offset puts it
            bisect.insort(self.entries, piece, key=lambda e: e.first)

    def _trim(self, cap: int) -> None:
        """Drop the oldest records (in buffer order) beyond the last `cap`."""
        excess = self._rows - cap
        if excess <= 0:
            return
        self._rows = cap
        entries = self.entries
        whole = 0  # the leading entries dropped whole, deleted in one go (not pop(0) each)
        while (rows := entries[whole].last - entries[whole].first + 1) <= excess:
            excess -= rows
            whole += 1
        del entries[:whole]
        if excess:
            head = entries[0]
            entries[0] = head.slice_offsets(head.first + excess, head.last + 1)
        self.base_offset = entries[0].first

    def mark_flushed(self, up_to: int) -> None:
        """Records up to `up_to` are in a segment now: stop serving them from the buffer."""
        self.flushed_through = max(self.flushed_through, up_to)
        above = [e for e in self.entries if e.last > up_to]
        if above and self.bugs.mark_flushed_clears_all:
            # fc6e6ce's mark_flushed: clear everything, records above up_to included.
            self.entries.clear()
            self._rows = 0
            self._ordered = True
            self.version += 1
            return
        # 8eb1c4d: keep the records above the flushed offset; they are not in a segment yet.
        # (Entries wholly flushed, the usual case, are dropped without slicing them.)
        kept = [e if e.first > up_to else e.slice_offsets(up_to + 1, e.last + 1) for e in above]
        if kept != self.entries:  # the same entries (nothing at or below up_to): no change
            self.entries = kept
            self._rows = sum(e.last - e.first + 1 for e in kept) if kept else 0
            self.version += 1

    def high_offset(self) -> int:
        return self.entries[-1].last if self.entries else -1

    def read(self, lo: int, hi: int, limit: int = sys.maxsize) -> list[pa.RecordBatch]:
        """The first `limit` buffered records with lo <= offset < hi, in buffer order
        (duplicates and all). Stops once it has them: a buggy buffer can be long."""
        out: list[pa.RecordBatch] = []
        entries = self.entries
        # Sorted and disjoint (no blind append so far): start at the first entry ending at or
        # above lo and stop past hi. Otherwise every entry, in buffer order, skipping cheaply.
        start = bisect.bisect_left(entries, lo, key=_last) if self._ordered else 0
        for entry in itertools.islice(entries, start, None):
            if limit <= 0 or (self._ordered and entry.first >= hi):
                break
            if entry.last < lo or entry.first >= hi:
                continue
            piece = entry.slice_offsets(lo, hi)
            if piece.num_rows > limit:  # contiguous: the first `limit` offsets
                piece = piece.slice_offsets(piece.first, piece.first + limit)
            if piece.num_rows:
                out.append(piece.batch())
                limit -= piece.num_rows
        return out

    def to_table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=SCHEMA)

    def __len__(self) -> int:
        return self._rows


def _last(entry: LazyBatch) -> int:
    return entry.last
