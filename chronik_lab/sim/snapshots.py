"""The partition states of a run, kept as snapshots in bounded memory.

A broker step that changes a partition's buffer, segments or offsets gives that partition a new
*state*. The recorder keeps states as *snapshots*, in three tables:

- offsets: one row per kept snapshot -- high watermark, log end, log start, pending / buffered
  record counts -- and `held_until`: the step at which the partition's state next changed (the
  trace's length if it never did). A snapshot is the partition's exact state just before every
  step in (step_index, held_until];
- buffer: one row per buffer *entry* (a contiguous batch, not a record), written only when the
  buffer differs from the partition's previous kept snapshot ("change-only"): the last rows at
  or before a snapshot hold for it, unless its offsets row says the buffer is empty;
- segments: one row per segment file (range, whether fetch may see it), change-only likewise.

The whole run, in bounded memory: while the buffer + segment rows (and the offsets rows) fit in
`limit`, every state is kept (`stride` 1). Past it, the recorder doubles its stride and thins
what it kept: at stride k it keeps, per partition, the last state of each block of k steps
(steps b*k .. b*k+k-1), that is the state at every k-th step, and drops the rest. At any stride
it also keeps the state just before each partition's first poll (what the prose's "when the
consumer first fetched" reads) and each partition's last state. A chart drawn from a thinned
snapshots says so ("the state at every 64th step").

Cheap per step (`Snapshots.observe` runs after every broker step): whether a state changed is
three int comparisons, the engine's own versions
(`PartitionBuffer.version`, `SegmentLog.version`, `Partition.unflushed_version`: each moves
exactly when its structure changes); a change costs a copy of the entry list by reference
(entries are immutable) or a read of the segment list (tests/test_recorder.py checks the
versions against reading every state in full). The entries' spans are read only for the
snapshots kept. It reads the partitions through the broker's observer hook
(`Broker.partition_states`): the public accessors build Arrow tables and DataFrames, far too
slow to call after every step. Not thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chronik_lab.engine.partition import Partition
from chronik_lab.sim.trace import frame

__all__ = ["BUFFER_COLUMNS", "OFFSETS_COLUMNS", "SEGMENT_COLUMNS", "Snapshots"]

BUFFER_COLUMNS = [
    "step_index",
    "step",
    "partition",
    "slot",
    "position",
    "first_offset",
    "last_offset",
    "count",
]
SEGMENT_COLUMNS = [
    "step_index",
    "step",
    "partition",
    "base_offset",
    "last_offset",
    "record_count",
    "visible",
    "sealed",
]
OFFSETS_COLUMNS = [
    "step_index",
    "step",
    "partition",
    "high_watermark",
    "log_end_offset",
    "log_start_offset",
    "pending_records",
    "buffer_records",
    "buffer_entries",
    "visible_segments",
    "held_until",
]
Flat = tuple[Any, ...]  # a state's rows, flattened: (first, last) per buffer entry, SEGMENT_ROW
SEGMENT_ROW = 5  # base_offset, last_offset, record_count, visible, sealed


class Kept:
    """A partition's kept snapshots, in step order, one list per field.

    Columns of ints and of flat tuples of atomic values, not an object per snapshot: the cyclic
    GC stops tracking a tuple of atomic values the first time it sees it, so a hundred thousand
    kept snapshots cost no collection time (an object or a nested tuple each made full
    collections a third of a traced run's time). Versions: equal buffer (segment) versions mean
    the same entries (segments), so the tables write them once.
    """

    def __init__(self) -> None:
        self.index: list[int] = []  # the step whose state this is
        self.step: list[str] = []  # that step's name
        self.buffer_version: list[int] = []
        self.spans: list[Flat] = []  # (first, last) of each buffer entry, in buffer order
        self.segment_version: list[int] = []
        self.segments: list[Flat] = []  # SEGMENT_ROW values per segment
        self.offsets: list[tuple[int, ...]] = []  # high_watermark .. visible_segments
        self.held_until: list[int] = []  # the step of the partition's next state (-1: unknown)
        self.pinned: list[bool] = []  # kept at any stride: the state a first poll read

    def __len__(self) -> int:
        return len(self.index)

    def add(
        self,
        index,
        step,
        buffer_version,
        spans,
        segment_version,
        segments,
        offsets,
        held_until,
        pinned,
    ):
        self.index.append(index)
        self.step.append(step)
        self.buffer_version.append(buffer_version)
        self.spans.append(spans)
        self.segment_version.append(segment_version)
        self.segments.append(segments)
        self.offsets.append(offsets)
        self.held_until.append(held_until)
        self.pinned.append(pinned)

    def columns(self) -> list[list[Any]]:
        """Every column, each attribute set in __init__ (thinning filters them all alike)."""
        return [
            self.index,
            self.step,
            self.buffer_version,
            self.spans,
            self.segment_version,
            self.segments,
            self.offsets,
            self.held_until,
            self.pinned,
        ]

    def rows(self) -> int:
        """The buffer and segment rows these snapshots write (change-only)."""
        rows, buffer, segments = 0, None, None
        for b, spans, s, segs in zip(
            self.buffer_version, self.spans, self.segment_version, self.segments, strict=True
        ):
            rows += (b != buffer) * len(spans) // 2 + (s != segments) * len(segs) // SEGMENT_ROW
            buffer, segments = b, s
        return rows

    def thin(self, stride: int, pending: int | None) -> None:
        """Keep the last snapshot of each block of `stride` steps, and the pinned ones; the
        last is dropped when the pending state (at step `pending`) shares its block."""
        if not self.index:
            return
        blocks = [i // stride for i in self.index]
        after = [*blocks[1:], None if pending is None else pending // stride]
        keep = [p or b != a for b, a, p in zip(blocks, after, self.pinned, strict=True)]
        for column in self.columns():
            column[:] = [v for v, k in zip(column, keep, strict=True) if k]


class PartitionLog:
    """The recorder's view of one partition: the engine versions it last saw, its latest state
    while it may still be replaced (`pending`: the buffer as entry references -- immutable
    objects, so no copy of their records), and the kept snapshots."""

    def __init__(self, part: Partition) -> None:
        self.part: Partition | None = part  # None: its broker restarted, not seen since
        self.kept = Kept()
        # the latest state: (index, step, buffer_version, entries, segment_version, segments,
        # offsets); None before any state, and once kept at the first poll
        self.pending: tuple[Any, ...] | None = None
        self.open = False  # the last kept snapshot is the latest state: held_until unknown
        self.polled = False
        # The engine's versions at the last look (-1: never looked). The recorder numbers
        # the states it saw itself (buf_version, seg_version): a table writes a buffer (the
        # segments) again only where that number moved.
        self.buffer_seen = -1
        self.segments_seen = -1
        self.unflushed_seen = -1
        self.buf_version = 0
        self.entries: list[Any] = []
        self.frozen: tuple[int, Flat] = (0, ())  # the last spans built, by buffer version
        self.seg_version = 0
        self.segments: Flat = ()
        self.visible = 0
        self.settled: dict[int, Flat] = {}
        self.unflushed = 0  # records pending or in flight
        self.offsets: tuple[int, ...] | None = None


class Snapshots:
    """Every partition's kept states, thinned to stay within `limit` rows.

    Invariants: `stride` is a power of two; per partition the kept snapshots are in step order,
    each the partition's exact state just before every step in (step_index, held_until]; at
    stride k they are the last state of each block of k steps, the state before the first poll
    and the last state. Not thread-safe.
    """

    def __init__(self, topic: str, limit: int = 100_000) -> None:
        self.topic = topic
        self.limit = limit
        self.stride = 1  # steps per block; the last state of each block is kept
        self.partitions: Mapping[tuple[str, int], Partition] = {}
        self._logs: dict[tuple[str, int], PartitionLog] = {}
        self._kept_rows = 0  # buffer + segment rows of the kept snapshots
        self._kept_snapshots = 0
        self._steps = 0  # the trace's length at the last step seen

    def attach(self, partitions: Mapping[tuple[str, int], Partition]) -> None:
        """Read these partitions from now on: a broker's, or after a restart the new broker's,
        whose partitions start their versions afresh -- every state is read in full again."""
        self.partitions = partitions
        for key, log in self._logs.items():
            log.part = partitions.get(key)
            log.buffer_seen = log.segments_seen = log.unflushed_seen = -1
            log.settled.clear()  # keyed by id(segment): the old broker's objects are gone

    def observe(self, key: tuple[str, int], index: int, step: str) -> None:
        """Step `index` (named `step`) of partition `key` ran: take its state if it changed."""
        self._steps = index + 1
        log = self._logs.get(key)
        if log is None or log.part is None:
            part = self.partitions.get(key)
            if part is None:
                return
            if log is None:
                log = self._logs[key] = PartitionLog(part)
            log.part = part
        self._observe(log, index, step)

    def _observe(self, log: PartitionLog, index: int, step: str) -> None:
        """Compare the engine's versions; on any change, the new state becomes the pending one.
        (The hot path of a traced run: it runs after every broker step, hence inlined.)"""
        p = log.part
        buf = p.buffer
        buffer_changed = buf.version != log.buffer_seen
        if buffer_changed:
            log.buffer_seen = buf.version
            log.buf_version += 1
            log.entries = buf.entries.copy()  # the entries are immutable: a copy of references
        writer = p.writer
        segments_changed = writer.version != log.segments_seen
        if segments_changed:
            log.segments_seen = writer.version
            log.seg_version += 1
            log.segments, log.visible = _segment_state(p, log.settled)
        if p.unflushed_version != log.unflushed_seen:
            log.unflushed_seen = p.unflushed_version
            log.unflushed = _unflushed_records(p)
        offsets = (
            p.high_watermark,
            p.next_offset,
            p.log_start_offset,
            log.unflushed,
            len(buf),
            len(log.entries),
            log.visible,
        )
        if not buffer_changed and not segments_changed and offsets == log.offsets:
            return
        log.offsets = offsets
        # The previous state held until here. Keep it if it was the last of its block of
        # `stride` steps; else drop it: this state, or a later one in the block, stands for it.
        # The new state is pending first: thinning (in _keep) must see it as the successor.
        previous = log.pending
        log.pending = (
            index,
            step,
            log.buf_version,
            log.entries,
            log.seg_version,
            log.segments,
            offsets,
        )
        if previous is not None:
            if previous[0] // self.stride != index // self.stride:
                self._keep(log, previous, index, False)
        elif log.open:  # kept at the first poll, before its successor was known
            log.kept.held_until[-1] = index
            log.open = False

    def first_poll(self, partition: int, steps: int) -> None:
        """The consumer's first poll of `partition`, with `steps` in the trace so far: keep the
        state it reads, at any stride."""
        self._steps = steps
        log = self._logs.get((self.topic, partition))
        if log is None or log.polled:
            return
        log.polled = True
        if log.pending is not None:
            state, log.pending = log.pending, None
            self._keep(log, state, -1, True)
            log.open = True
        elif len(log.kept):
            log.kept.pinned[-1] = True

    def _keep(self, log: PartitionLog, state: tuple[Any, ...], held_until: int, pinned: bool):
        """Keep a pending state (its spans read now); past the budget, thin until within it."""
        index, step, version, entries, seg_version, segments, offsets = state
        built, spans = log.frozen
        if version != built:
            spans = tuple([x for e in entries for x in (e.first, e.last)])
            log.frozen = (version, spans)
        k = log.kept
        if not k.index or k.buffer_version[-1] != version:
            self._kept_rows += len(spans) // 2
        if not k.index or k.segment_version[-1] != seg_version:
            self._kept_rows += len(segments) // SEGMENT_ROW
        k.add(index, step, version, spans, seg_version, segments, offsets, held_until, pinned)
        self._kept_snapshots += 1
        while (
            self._kept_rows > self.limit or self._kept_snapshots > self.limit
        ) and self.stride <= self._steps:
            self._thin()

    def _thin(self) -> None:
        """Double the stride, keep the last state of each new block (and the pinned ones) in
        every partition, then recount the rows the kept states write."""
        self.stride *= 2
        for log in self._logs.values():
            log.kept.thin(self.stride, None if log.pending is None else log.pending[0])
        self._kept_rows = sum(log.kept.rows() for log in self._logs.values())
        self._kept_snapshots = sum(len(log.kept) for log in self._logs.values())

    def tables(self, end: int) -> dict[str, Any]:
        """The three snapshot tables (DataFrames) and `snapshots_stride`, for a trace of `end`
        steps. Keeps every partition's pending (last) state."""
        self._steps = end
        for log in self._logs.values():
            if log.pending is not None:
                state, log.pending = log.pending, None
                self._keep(log, state, end, False)
            elif log.open:
                log.kept.held_until[-1] = end
                log.open = False
        buffer: list[tuple[Any, ...]] = []
        segments: list[tuple[Any, ...]] = []
        offsets: list[tuple[Any, ...]] = []
        for (_, number), log in self._logs.items():
            k = log.kept
            buffer_before = segments_before = None
            columns = (k.index, k.step, k.buffer_version, k.spans, k.segment_version, k.segments)
            for index, step, version, spans, seg_version, segs, values, held_until in zip(
                *columns, k.offsets, k.held_until, strict=True
            ):
                head = (index, step, number)
                if version != buffer_before:
                    position = 0
                    for slot in range(len(spans) // 2):
                        first, last = spans[2 * slot], spans[2 * slot + 1]
                        buffer.append((*head, slot, position, first, last, last - first + 1))
                        position += last - first + 1
                if seg_version != segments_before:
                    for at in range(0, len(segs), SEGMENT_ROW):
                        segments.append((*head, *segs[at : at + SEGMENT_ROW]))
                offsets.append((*head, *values, held_until))
                buffer_before, segments_before = version, seg_version
        if len(self._logs) > 1:  # in step order, as recorded (a step is one partition's)
            for rows in (buffer, segments, offsets):
                rows.sort(key=_step_of)
        return {
            "buffer_snapshots": frame(BUFFER_COLUMNS, buffer),
            "segment_snapshots": frame(SEGMENT_COLUMNS, segments),
            "offsets_snapshots": frame(OFFSETS_COLUMNS, offsets),
            "snapshots_stride": self.stride,
        }


def _step_of(row: tuple[Any, ...]) -> int:
    return row[0]


def _unflushed_records(p: Partition) -> int:
    """Records pending a flush or in the flush in flight."""
    pending = 0
    for b in p.pending_batches:
        pending += b.last - b.first + 1
    if p.inflight is not None:
        for b in p.inflight.batches:
            pending += b.last - b.first + 1
    return pending


def _segment_state(p: Partition, settled: dict[int, Flat]) -> tuple[Flat, int]:
    """The segments' SEGMENT_ROW values, flat, and how many segments are visible. A sealed,
    registered segment never changes again: its values are read once (`settled`)."""
    registry = p.registry
    out: list[Any] = []
    visible = 0
    for s in p.writer.segments:
        row = settled.get(id(s))
        if row is None:
            seen = registry.is_visible(s)
            row = (s.base_offset, s.last_offset, s.record_count, seen, s.sealed)
            if seen and s.sealed:
                settled[id(s)] = row  # the engine's list keeps `s` alive: its id stays its own
        visible += row[3]
        out.extend(row)
    return tuple(out), visible
