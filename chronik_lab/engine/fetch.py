"""The fetch handler, modelled on chronik's `fetch_records` (fetch_handler.rs).

Correct order (fc6e6ce's two phases, with a1d9255's visible active segment):
Phase 1 reads the visible segments, from the floor segment of the fetch offset up to
min(high watermark, last visible offset + 1). Phase 2 reads the buffer above the last visible
offset, up to the high watermark. Each offset then comes from exactly one place. Then the
response encoding: each record keeps its own offset.

Kafka's range rule (Log.read / Partition.fetchRecords): an offset below the log start or above
the log end offset is out of range; an offset from the high watermark up to the log end returns
nothing (the records exist, but are not committed yet). chronik's rule (`chronik_fetch_range`,
fetch_handler.rs `fetch_partition` at every tag from v0.7.4 through v1.0.0) raises only below the
log start and answers empty for any offset at or above the high watermark, however far above the
log end -- so a consumer pushed past the log end by renumbered offsets is never told to reset.
`max_bytes` still returns one record (KIP-74), so a consumer can always make progress.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from chronik_lab.engine.partition import Partition
from chronik_lab.engine.records import FETCH_SCHEMA, SCHEMA, first_offset, last_offset, record_sizes
from chronik_lab.errors import OffsetOutOfRangeError


@dataclass(frozen=True)
class FetchResult:
    """One fetch's answer: `records` as the client receives them, the high watermark the fetch
    read up to, and the log start offset.

    `records` has the columns of FETCH_SCHEMA: offset (as the client sees it), timestamp, key,
    value, and server_offset (as stored; the two differ only under renumber_response_offsets).
    Invariants of the correct engine: the offsets are the fetch offset, +1, +2, ... all below
    `high_watermark`, each once. `len()` is the number of records. Immutable and safe to share
    between threads: its columns may map a segment file, which stays readable while they live.
    """

    records: pa.Table
    high_watermark: int
    log_start_offset: int

    def __len__(self) -> int:
        return self.records.num_rows


def fetch(p: Partition, offset: int, max_records: int | None, max_bytes: int | None) -> FetchResult:
    if _out_of_range(p, offset):
        raise OffsetOutOfRangeError(offset, p.log_start_offset, p.log_end_offset)
    # From the high watermark up, both fetch paths read nothing: an empty answer.
    # No max_records: no cap at all. The correct engine returns at most hw - offset records,
    # but buggy ones can return more (the seed's 20 for 10), and must be allowed to.
    limit = max_records if max_records is not None else sys.maxsize
    hw = fetch_high_watermark(p)
    if p.bugs.buffer_first_fetch:
        batches = _buffer_first(p, offset, limit, hw)
    else:
        batches = _segments_then_buffer(p, offset, limit, hw)
    batches = _take(batches, limit)
    if max_bytes is not None:
        batches = _take(batches, _fit_bytes(batches, max_bytes))
    return _respond(p, offset, batches, hw)


def fetch_high_watermark(p: Partition) -> int:
    """The high watermark fetch reads up to (and reports).

    Before 3ed116d (v0.7.4, `hw_only_acks_all`) fetch_partition took it from the segments
    registered in the metadata store alone -- the last visible offset + 1 -- not from the
    producer; 3ed116d added the buffer's (the producer's) high watermark to it.
    """
    if p.registry.max_offset() + 1 != p.high_watermark and p.bugs.hw_only_acks_all:
        return p.registry.max_offset() + 1
    return p.high_watermark


def _out_of_range(p: Partition, offset: int) -> bool:
    if offset < p.log_start_offset:
        return True
    # chronik never raised above the log: offset >= high watermark was an empty wait.
    return offset > p.log_end_offset and not p.bugs.chronik_fetch_range


def _respond(p: Partition, offset: int, batches: list[pa.RecordBatch], hw: int) -> FetchResult:
    records = encode_response(p, batches)
    if p.tracer is not None:  # no spans or details to compute when nobody listens
        p.emit(
            "fetch_response",
            *_span(records),
            f"{records.num_rows} records from {offset}",
            count=records.num_rows,
            fetch_offset=offset,
        )
    return FetchResult(records, hw, p.log_start_offset)


def _segments_then_buffer(p: Partition, offset: int, limit: int, hw: int) -> list[pa.RecordBatch]:
    max_segment_offset = p.registry.max_offset()
    segment_end = min(hw, max_segment_offset + 1)
    # Phase 1: the visible segments, floor segment first (binary search, no scan of the log).
    out: list[pa.RecordBatch] = []
    position, wanted = offset, limit
    for segment in p.registry.segments_from(offset):
        if position >= segment_end or wanted <= 0:
            break
        start = max(position, segment.base_offset)
        batches = segment.read(start, min(wanted, segment_end - start))
        if batches:  # contiguous from `start`: count them, no need to read their offsets
            out += batches
            read = sum(b.num_rows for b in batches)
            wanted -= read
            position = start + read
    _emit_batches(p, "fetch_phase1", out, f"segments up to {segment_end - 1}", offset)
    # Phase 2: only buffered records above the last visible segment offset, so nothing that a
    # segment already returned can come back a second time.
    phase2: list[pa.RecordBatch] = []
    if wanted > 0:
        phase2 = p.buffer.read(max(position, max_segment_offset + 1), hw, wanted)
    _emit_batches(p, "fetch_phase2", phase2, f"buffer above {max_segment_offset}", offset)
    return out + phase2


def _buffer_first(p: Partition, offset: int, limit: int, hw: int) -> list[pa.RecordBatch]:
    # v0.7.4/v0.7.5: when base_offset <= offset < the buffer's own high watermark, every buffered
    # record in [offset, hw), in buffer order, duplicates included ...
    buffer = p.buffer
    served = buffer.base_offset is not None and buffer.base_offset <= offset < buffer.high_watermark
    from_buffer = buffer.read(offset, hw, limit) if served else []
    wanted = limit - sum(b.num_rows for b in from_buffer)
    _emit_batches(p, "fetch_buffer", from_buffer, "buffer first", offset)
    # ... then segments from the last *pushed* offset + 1, not from the highest one served.
    start = last_offset(from_buffer[-1]) + 1 if from_buffer else offset
    from_segments: list[pa.RecordBatch] = []
    segment_end = min(hw, p.registry.max_offset() + 1)
    for segment in p.registry.segments_from(start):
        begin = max(start, segment.base_offset)
        if begin >= segment_end or wanted <= 0:
            break
        batches = segment.read(begin, min(wanted, segment_end - begin))
        from_segments += batches
        wanted -= sum(b.num_rows for b in batches)
    _emit_batches(p, "fetch_segments", from_segments, f"segments from {start}", offset)
    return from_buffer + from_segments


def encode_response(p: Partition, batches: list[pa.RecordBatch]) -> pa.Table:
    table = pa.Table.from_batches(batches, schema=SCHEMA)
    server = table.column("offset")
    if table.num_rows and not _consecutive(server) and p.bugs.renumber_response_offsets:
        # kafka_records.rs: one batch with base_offset = records[0].offset and
        # offset_delta = position, so the client sees offsets the server never stored.
        base = server[0].as_py()
        client = pa.array(np.arange(base, base + table.num_rows, dtype=np.int64))
        table = table.set_column(0, SCHEMA.field("offset"), client)  # keeps not-null
    return table.append_column(FETCH_SCHEMA.field("server_offset"), server)


def _take(batches: list[pa.RecordBatch], n: int) -> list[pa.RecordBatch]:
    """The first n records of a list of batches (zero-copy slices)."""
    out = []
    for batch in batches:
        if n <= 0:
            break
        rows = batch.num_rows
        piece = batch if rows <= n else batch.slice(0, n)  # whole batches as they are
        out.append(piece)
        n -= min(rows, n)
    return out


def _fit_bytes(batches: list[pa.RecordBatch], max_bytes: int) -> int:
    """How many leading records fit in max_bytes -- at least one (KIP-74)."""
    total = 0
    count = 0
    for batch in batches:
        cumulative = total + np.cumsum(record_sizes(batch))
        fits = int(np.searchsorted(cumulative, max_bytes, side="right"))
        count += fits
        if fits < batch.num_rows:
            break
        total = int(cumulative[-1]) if len(cumulative) else total
    return max(1, count)


def _emit_batches(
    p: Partition, step: str, batches: list[pa.RecordBatch], detail: str, offset: int
) -> None:
    """A fetch phase's trace event; nothing to compute when nobody listens."""
    if p.tracer is not None:
        count = sum(b.num_rows for b in batches)
        p.emit(step, *_span_batches(batches), detail, count=count, fetch_offset=offset)


def _span_batches(batches: list[pa.RecordBatch]) -> tuple[int | None, int | None]:
    if not batches:
        return None, None
    return first_offset(batches[0]), last_offset(batches[-1])


def _span(table: pa.Table) -> tuple[int | None, int | None]:
    if not table.num_rows:
        return None, None
    col = table.column("server_offset")
    return col[0].as_py(), col[table.num_rows - 1].as_py()


def _consecutive(offsets: pa.ChunkedArray) -> bool:
    """Offsets with no gap and no repeat: renumbering them would change nothing."""
    values = offsets.to_numpy()
    return bool((values == values[0] + np.arange(len(values))).all())
