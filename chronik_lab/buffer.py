"""The fetch-side buffer: records produced but not yet flushed, so fetch can serve them.

Modelled on chronik's `PartitionBuffer` (fetch_handler.rs). Invariants of the correct buffer:
every offset appears once, in increasing order, and every one is above the last flushed offset
(`flushed_through`), so the buffer and the visible segments never both hold a record. Each entry
is a record batch with contiguous offsets. Not thread-safe.
"""

from __future__ import annotations

import pyarrow as pa

from .bugs import BugSet
from .records import SCHEMA, first_offset, last_offset, slice_offsets


class PartitionBuffer:
    def __init__(self, bugs: BugSet, flushed_through: int = -1) -> None:
        self.bugs = bugs
        self.batches: list[pa.RecordBatch] = []
        self.flushed_through = flushed_through  # the last offset known to be in a segment

    def update_buffer(self, batches: list[pa.RecordBatch]) -> list[tuple[int, int]]:
        """Add records for fetch to serve; return the (first, last) offset ranges added."""
        added: list[tuple[int, int]] = []
        for batch in batches:
            if not self.bugs.blind_append_buffer:
                # fc6e6ce: skip offsets already buffered or already flushed. Produce requests
                # arrive in offset order, so "new" means above both marks.
                floor = max(self.flushed_through, self.high_offset())
                batch = slice_offsets(batch, floor + 1, last_offset(batch) + 1)
            if batch.num_rows:
                self.batches.append(batch)
                added.append((first_offset(batch), last_offset(batch)))
        return added

    def mark_flushed(self, up_to: int) -> None:
        """Records up to `up_to` are in a segment now: stop serving them from the buffer."""
        self.flushed_through = max(self.flushed_through, up_to)
        if self.bugs.mark_flushed_clears_all:
            # fc6e6ce's mark_flushed: clear everything, records above up_to included.
            self.batches.clear()
            return
        # 8eb1c4d: keep the records above the flushed offset; they are not in a segment yet.
        kept = [slice_offsets(b, up_to + 1, last_offset(b) + 1) for b in self.batches]
        self.batches = [b for b in kept if b.num_rows]

    def high_offset(self) -> int:
        return last_offset(self.batches[-1]) if self.batches else -1

    def read(self, lo: int, hi: int) -> list[pa.RecordBatch]:
        """Buffered records with lo <= offset < hi, in buffer order (duplicates and all)."""
        out = [slice_offsets(b, lo, hi) for b in self.batches]
        return [b for b in out if b.num_rows]

    def to_table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=SCHEMA)

    def __len__(self) -> int:
        return sum(b.num_rows for b in self.batches)
