"""The fetch-side buffer: records produced but not yet flushed, so fetch can serve them.

Modelled on chronik's `PartitionBuffer` (fetch_handler.rs). Invariants of the correct buffer:
every offset appears once, in increasing order, and every one is above the last flushed offset
(`flushed_through`), so the buffer and the visible segments never both hold a record. Each entry
holds records with contiguous offsets: a `LazyBatch`, whose record batch is built when first read.
Not thread-safe.

Unlike chronik's buffer, which kept only its last 1000 records (through v1.0), this one is not
capped: a cap drops unflushed records that fetch must still serve, and no preset needs it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import pyarrow as pa

from chronik_lab.bugs import BugSet
from chronik_lab.engine.records import SCHEMA, LazyBatch


class PartitionBuffer:
    def __init__(self, bugs: BugSet, flushed_through: int = -1) -> None:
        self.bugs = bugs
        # Entries stay Python lists until a fetch reads them (see records.LazyBatch): most are
        # flushed, and dropped, without ever being converted on their own.
        self.entries: list[LazyBatch] = []
        self.flushed_through = flushed_through  # the last offset known to be in a segment

    @property
    def batches(self) -> list[pa.RecordBatch]:
        """The entries as record batches, in buffer order (built on first use, then cached)."""
        return [entry.batch() for entry in self.entries]

    def spans(self) -> list[tuple[int, int, int]]:
        """(first offset, last offset, count) of each entry, without building any Arrow."""
        return [(e.first, e.last, e.num_rows) for e in self.entries]

    def update_buffer(self, batches: Iterable[LazyBatch | pa.RecordBatch]) -> list[tuple[int, int]]:
        """Add records for fetch to serve; return the (first, last) offset ranges added."""
        added: list[tuple[int, int]] = []
        for entry in map(LazyBatch.wrap, batches):
            if not self.bugs.blind_append_buffer:
                # fc6e6ce: skip offsets already buffered or already flushed. Produce requests
                # arrive in offset order, so "new" means above both marks.
                floor = max(self.flushed_through, self.high_offset())
                if entry.first <= floor:
                    entry = entry.slice_offsets(floor + 1, entry.last + 1)
            if entry.num_rows:
                self.entries.append(entry)
                added.append((entry.first, entry.last))
        return added

    def mark_flushed(self, up_to: int) -> None:
        """Records up to `up_to` are in a segment now: stop serving them from the buffer."""
        self.flushed_through = max(self.flushed_through, up_to)
        if self.bugs.mark_flushed_clears_all:
            # fc6e6ce's mark_flushed: clear everything, records above up_to included.
            self.entries.clear()
            return
        # 8eb1c4d: keep the records above the flushed offset; they are not in a segment yet.
        # (Entries wholly flushed, the usual case, are dropped without slicing them.)
        self.entries = [
            e if e.first > up_to else e.slice_offsets(up_to + 1, e.last + 1)
            for e in self.entries
            if e.last > up_to
        ]

    def high_offset(self) -> int:
        return self.entries[-1].last if self.entries else -1

    def read(self, lo: int, hi: int, limit: int = sys.maxsize) -> list[pa.RecordBatch]:
        """The first `limit` buffered records with lo <= offset < hi, in buffer order
        (duplicates and all). Stops once it has them: a buggy buffer can be long."""
        out: list[pa.RecordBatch] = []
        for entry in self.entries:
            if limit <= 0:
                break
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
        return sum(e.num_rows for e in self.entries)
