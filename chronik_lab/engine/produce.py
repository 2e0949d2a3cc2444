"""The produce handler, modelled on chronik's `produce_to_partition` (produce_handler.rs).

A request takes offsets next_offset .. next_offset+n-1 and joins `pending_batches`. The order of
the steps after that matters, and is chronik's:

1. with acks=-1, `flush_partition_if_needed` runs *before* the high watermark moves;
2. the high watermark moves to last_offset + 1;
3. `update_buffer` with this request's records, so fetch can serve them before they are flushed;
4. `flush_partition_if_needed` runs again.

Before 3ed116d (v0.7.4, `flush_every_request`) steps 3-4 were one unconditional
`flush_partition`, and only the flush called update_buffer.

A flush whose write fails raises SegmentWriteError from whichever request triggered it; the
batches it did not write stay pending (still offsets of the log, like a Kafka request that timed
out and may yet be written) and the next flush retries them.

An idempotent request (producer fields given) is first checked against the partition's producer
state (producer_state.py): a retry of a batch in the producer's window is answered with its
original offsets and appends nothing (`ProduceResult.duplicate`); a gap or a fenced epoch raises
and appends nothing. Its batch joins the producer's window as soon as it is pending, before any
flush: from then on its offsets are taken, whatever a flush does.

Step 1 is why, in the seed, the second request's flush wrote 0-9 while 4-9 were not buffered yet:
with the cumulative update_buffer bug, the buffer became [0-3] + [0-9] + [4-9].
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from chronik_lab.engine.partition import Partition
from chronik_lab.engine.records import (
    NO_PRODUCER,
    SCHEMA,
    LazyBatch,
    Payload,
    Producer,
    group_by_size,
    make_request,
)
from chronik_lab.engine.segment import Segment
from chronik_lab.errors import SegmentWriteError


@dataclass(frozen=True)
class ProduceResult:
    """The offsets one produce request took, `base_offset..last_offset` (contiguous, at least
    one), and the partition's high watermark after it: last_offset + 1 in the correct engine
    (lower under hw_only_acks_all with acks 0 or 1). `duplicate`: an idempotent producer's
    retry of a batch already in the log, appended nothing, and these are its original offsets
    (Kafka answers such a retry with success and the cached offsets). Immutable."""

    topic: str
    partition: int
    base_offset: int
    last_offset: int
    high_watermark: int
    duplicate: bool = False


def produce_to_partition(
    p: Partition,
    values: Payload,
    keys: Payload | None,
    acks: int,
    producer: Producer = NO_PRODUCER,
) -> ProduceResult:
    # Validate the request before any state moves: bad input changes nothing.
    batch = make_request(p.next_offset, values, keys, p.clock.now_ms, producer)
    base, last = batch.first, batch.last
    idempotent = producer[0] >= 0
    if idempotent and not p.bugs.no_producer_dedup:
        # Redpanda <= 21.10.2 (redpanda#3039) kept no window: a retried batch was appended
        # again (there by way of an OutOfOrderSequence and the client's epoch bump).
        state = p.producers
        # the next batch of the partition's last idempotent producer, in order: no check to run
        duplicate = None if producer == state.expected_next else state.check(producer, base, last)
        if duplicate is not None:
            _, _, first, end = duplicate
            return ProduceResult(p.topic, p.number, first, end, p.high_watermark, duplicate=True)
    if p.inflight is not None:
        complete_due_flush(p)
    # Kafka appends to its log before it answers (chronik did not: ack_before_durable, read at
    # recovery). After the flush above, which may empty the log of what it wrote, and before
    # the batch is pending. A failed append raises WalWriteError: nothing appended.
    p.wal.append(batch)
    p.next_offset = last + 1
    p.add_pending(batch)
    if idempotent:
        p.producers.record(producer, base, last)
    if p.tracer is not None:  # no detail strings to build when nobody listens
        p.emit("pending_push", base, last, f"{len(p.pending_batches)} pending batches", acks=acks)

    if acks == -1:
        flush_partition_if_needed(p)
    if acks == -1 or not p.bugs.hw_only_acks_all:
        # 3ed116d: the high watermark moves for every acks level, not only for acks=-1.
        p.high_watermark = last + 1
        if p.tracer is not None:
            p.emit("hw_update", base, last, f"high watermark {p.high_watermark}")
    if p.bugs.flush_every_request:
        # v0.7.4: no update_buffer here (the flush fills the buffer), and every request ends
        # with flush_partition, whatever is pending -- one flush at a time, as ever.
        if p.inflight is None and p.pending_batches:
            flush_partition(p, "every request", wait=False)
    else:
        added = p.buffer.update_buffer((batch,), p.high_watermark)
        if p.tracer is not None:
            _emit_update(p, added, "produce")
        flush_partition_if_needed(p)
    return ProduceResult(p.topic, p.number, base, last, p.high_watermark)


def flush_partition_if_needed(p: Partition) -> bool:
    """Flush when enough batches wait, or linger_ms has passed since the last flush."""
    if not p.pending_batches or p.inflight is not None:
        return False  # one flush at a time per partition, as under chronik's flush lock
    cfg = p.config
    # chronik also flushed when the segment reached its size limit; here maybe_roll seals a
    # segment at that size right after the flush that filled it, so that check never fires.
    # The reason is only ever shown in the trace: no string to build when nobody listens.
    traced = p.tracer is not None
    if len(p.pending_batches) >= cfg.flush_batches:
        count = len(p.pending_batches)
        reason = f"{count} pending batches >= {cfg.flush_batches}" if traced else ""
    elif cfg.linger_ms is not None and p.clock.now_ms - p.last_flush_ms >= cfg.linger_ms:
        reason = f"linger {cfg.linger_ms} ms" if traced else ""
    else:
        return False
    flush_partition(p, reason, wait=False)
    return True


def flush_partition(p: Partition, reason: str = "forced", wait: bool = True) -> None:
    """Write every pending batch to the active segment.

    With `wait` (a forced flush, close) the write completes before this returns. Otherwise,
    when `flush_ms` > 0, the flush stays in flight until the clock reaches its end. A write
    that fails raises SegmentWriteError and leaves what it did not write pending.
    """
    if wait:
        complete_due_flush(p, force=True)
    if not p.pending_batches:
        return
    pending = p.pending_batches
    if p.tracer is not None:
        p.emit("flush_start", pending[0].first, pending[-1].last, reason)
    if wait or p.config.flush_ms == 0:
        _complete_flush(p, reason, len(pending))
    else:
        p.start_flight(reason, p.clock.now_ms + p.config.flush_ms)


def complete_due_flush(p: Partition, force: bool = False) -> None:
    """Finish the in-flight flush if its time has come (or at once, with `force`)."""
    flight = p.inflight
    if flight is not None and (force or p.clock.now_ms >= flight.done_ms):
        p.land_flight()  # back in front of the pending batches, before the write
        _complete_flush(p, flight.reason, len(flight.batches))


def _complete_flush(p: Partition, reason: str, count: int) -> None:
    """Write the first `count` pending batches, one record batch per `group_by_size` group
    (one for any flush under 1 GiB). A group leaves `pending_batches` only once it is in the
    segment file, so a failed write loses nothing and the partition stays usable."""
    while count > 0:
        group = group_by_size(p.pending_batches[:count])
        try:
            # One record batch for all the requests since the last flush, framed straight
            # from their lists (fastframe). On failure nothing changed, all still pending.
            segment = p.writer.append(group)
        except SegmentWriteError:
            p.failed_through = max(p.failed_through, p.pending_batches[count - 1].last)
            raise
        p.drop_written(len(group))
        count -= len(group)
        traced = p.tracer is not None  # every trace event below is skipped when nobody listens
        if traced:
            _emit_write(p, group, segment)
        base, last = group[0].first, group[-1].last
        if p.high_watermark <= last <= p.failed_through:
            # A produce whose own flush failed raised before moving the high watermark; the
            # retry that wrote its records commits them (they are in the log now).
            p.high_watermark = last + 1
        if p.bugs.cumulative_update_buffer:
            # e4f2615 (v0.7.5): flush also pushed every pending record into the fetch buffer,
            # although the produce path had already buffered them -- the seed's duplicates.
            added = p.buffer.update_buffer(group, p.high_watermark)
            if traced:
                _emit_update(p, added, "flush")
        if not p.bugs.no_mark_flushed:
            # fc6e6ce: once a record is in a segment, the buffer stops serving it.
            p.buffer.mark_flushed(last)
            if traced:
                p.emit("mark_flushed", base, last, f"up to {last}")
        p.last_flush_ms = p.clock.now_ms
        if traced:
            p.emit("flush_end", base, last, reason)
        maybe_roll(p)
    # What the segments hold now need not be replayed from the write-ahead log any more.
    unflushed = p.unflushed_batches
    if unflushed:
        p.wal.compact(unflushed)
    else:
        p.wal.reset()


def _emit_write(p: Partition, group: list[LazyBatch], segment: Segment) -> None:
    base, last = group[0].first, group[-1].last
    p.emit(
        "segment_write",
        base,
        last,
        segment.path.name,
        segment_base=segment.base_offset,
        visible=p.registry.is_visible(segment),
    )


def maybe_roll(p: Partition) -> None:
    if not p.writer.should_roll():
        return
    try:
        segment = p.writer.roll()
    except SegmentWriteError as exc:
        # The flush that got here is in the file; an unsealed segment is still a correct one.
        # Rotation is retried after the next flush, and close() reports it if it still fails.
        p.emit("rotation_failed", detail=str(exc))
        return
    if segment is not None:
        p.emit("rotation", segment.base_offset, segment.last_offset, segment.path.name)


def _emit_update(p: Partition, added: list[tuple[int, int]], source: str) -> None:
    """One trace event per update_buffer call, with every offset range it added."""
    if p.tracer is None:
        return
    if len(added) == 1:  # the usual update: one range, the same event without the scans
        ((a, b),) = added
        p.emit("update_buffer", a, b, f"{a}-{b}", count=b - a + 1, source=source, ranges=added)
        return
    detail = ", ".join(f"{a}-{b}" for a, b in added) or "nothing new"
    first = min((a for a, _ in added), default=None)
    last = max((b for _, b in added), default=None)
    count = sum(b - a + 1 for a, b in added)
    p.emit("update_buffer", first, last, detail, count=count, source=source, ranges=added)


def pending_table(p: Partition) -> pa.Table:
    return pa.Table.from_batches([b.batch() for b in p.unflushed_batches], schema=SCHEMA)
