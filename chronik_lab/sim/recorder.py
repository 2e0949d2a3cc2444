"""The run recorder: every client and broker step of a run, and the partition states between them.

The broker's tracer calls `Recorder.broker_step` from inside its handlers; the simulated clients
call `Recorder.client_step` before and after each request, which sets the *context* (which
produce request or poll a broker step belongs to). Every step is a row of the trace, which is
never cut or sampled.

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

Cheap per step: a state change costs a fingerprint of the buffer (its entry list, length, first
and last entry: entries are immutable, and the buffer only appends, inserts, trims its head or
is rebuilt by mark_flushed) and of the segment list (only its last segment can grow or be
sealed, and a segment is registered only by a write or a seal), plus a copy of the entry list
by reference (tests/test_recorder.py checks the fingerprints against reading every state). The
entries' spans are read only for the snapshots kept. It reads the partitions through the
broker's observer hook (`Broker.partition_states`): the public accessors build Arrow tables and
DataFrames, far too slow to call after every step. Not thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from chronik_lab.engine.partition import Partition

TRACE_COLUMNS = [
    "step_index",
    "request",
    "poll",
    "actor",
    "cause",
    "step",
    "topic",
    "partition",
    "first_offset",
    "last_offset",
    "count",
    "detail",
    "source",
    "fetch_offset",
    "time_ms",
]
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
_NULLABLE = {"request", "poll", "first_offset", "last_offset", "fetch_offset"}
_STRINGS = {"actor", "cause", "step", "topic", "detail", "source"}
_BOOLS = {"visible", "sealed"}

Flat = tuple[Any, ...]  # a state's rows, flattened: (first, last) per buffer entry, SEGMENT_ROW
SEGMENT_ROW = 5  # base_offset, last_offset, record_count, visible, sealed


class _Kept:
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

    def fields(self) -> list[list[Any]]:
        return list(vars(self).values())

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
        for column in self.fields():
            column[:] = [v for v, k in zip(column, keep, strict=True) if k]


class _PartitionLog:
    """The recorder's view of one partition: fingerprints of its latest state, that state
    itself while it may still be replaced (`pending`: the buffer as entry references --
    immutable objects, so no copy of their records), and the kept snapshots."""

    def __init__(self, part: Partition) -> None:
        self.part = part
        self.kept = _Kept()
        # the latest state: (index, step, buffer_version, entries, segment_version, segments,
        # offsets); None before any state, and once kept at the first poll
        self.pending: tuple[Any, ...] | None = None
        self.open = False  # the last kept snapshot is the latest state: held_until unknown
        self.polled = False
        # buffer fingerprint: the entry list (object), its length, first and last entry
        self.buf_list: list[Any] | None = None
        self.buf_len = 0
        self.buf_first: Any = None
        self.buf_last: Any = None
        self.buf_version = 0
        self.entries: list[Any] = []
        self.frozen: tuple[int, Flat] = (0, ())  # the last spans built, by buffer version
        # segment fingerprint: the list (object), its length, the last segment, its next offset
        # and whether it is sealed. (Registration, which makes a segment visible, happens only
        # in a write or a seal of the last segment, so it moves the fingerprint too.)
        self.seg_list: list[Any] | None = None
        self.seg_last: Any = None
        self.seg_count = 0
        self.seg_tail: tuple[int, bool] = (0, False)
        self.seg_version = 0
        self.segments: Flat = ()
        self.visible = 0
        self.settled: dict[int, Flat] = {}
        self.offsets: tuple[int, ...] | None = None


class Recorder:
    def __init__(self, topic: str, snapshots: bool = True, limit: int = 100_000) -> None:
        self.topic = topic
        self.snapshots = snapshots
        self.limit = limit
        self.stride = 1  # steps per block; the last state of each block is kept
        self.enabled = True
        self.now = lambda: 0  # the broker's clock, set by `attach`
        self.partitions: Mapping[tuple[str, int], Partition] = {}
        self.rows: list[tuple[Any, ...]] = []  # the trace, one tuple per step
        self._context: tuple[str, int | None, int | None] = ("setup", None, None)
        self._logs: dict[tuple[str, int], _PartitionLog] = {}
        self._kept_rows = 0  # buffer + segment rows of the kept snapshots
        self._kept_snapshots = 0

    def attach(self, broker: Any) -> None:
        self.partitions = broker.partition_states  # a live read-only view; see the module doc
        clock = broker.clock
        self.now = lambda: clock.now_ms

    # -- steps ----------------------------------------------------------------------------
    def set_cause(self, cause: str) -> None:
        """Broker steps that follow belong to `cause` (e.g. "linger"), keeping the request."""
        self._context = (cause, self._context[1], self._context[2])

    def client_step(
        self,
        actor: str,
        step: str,
        ref: int,
        partition: int,
        span: tuple[int | None, int | None] | None,
        count: int,
        detail: str,
    ) -> None:
        """A producer (`ref` = request) or consumer (`ref` = poll) step; sets the context."""
        if actor == "producer":
            self._context = ("produce", ref, None)
        else:
            self._context = ("fetch", None, ref)
            if step == "poll":
                self._first_poll(partition)
        first, last = span if span is not None else (None, None)
        cause, request, poll = self._context
        self.rows.append(
            (
                len(self.rows),
                request,
                poll,
                actor,
                cause,
                step,
                self.topic,
                partition,
                first,
                last,
                count,
                detail,
                None,
                None,
                self.now(),
            )
        )

    def broker_step(self, event: dict[str, Any]) -> None:
        """The broker's tracer: one trace row, then a snapshot if the step changed the state."""
        if not self.enabled:
            return
        index = len(self.rows)
        cause, request, poll = self._context
        self.rows.append(
            (
                index,
                request,
                poll,
                "broker",
                cause,
                event["step"],
                self.topic,
                event["partition"],
                event["first_offset"],
                event["last_offset"],
                event["count"],
                event["detail"],
                event.get("source"),
                event.get("fetch_offset"),
                event["time_ms"],
            )
        )
        if self.snapshots:
            log = self._logs.get((event["topic"], event["partition"]))
            if log is None:
                log = self._log((event["topic"], event["partition"]))
            if log is not None:
                self._observe(log, index, event["step"])

    def _log(self, key: tuple[str, int]) -> _PartitionLog | None:
        part = self.partitions.get(key)
        if part is None:
            return None
        log = self._logs[key] = _PartitionLog(part)
        return log

    # -- states -----------------------------------------------------------------------------
    def _observe(self, log: _PartitionLog, index: int, step: str) -> None:
        """Fingerprint the partition; on any change, the new state becomes the pending one.
        (The hot path of a traced run: it runs after every broker step, hence inlined.)"""
        p = log.part
        buf = p.buffer
        entries = buf.entries
        n = len(entries)
        buffer_changed = not (
            entries is log.buf_list
            and n == log.buf_len
            and (n == 0 or (entries[0] is log.buf_first and entries[-1] is log.buf_last))
        )
        if buffer_changed:  # a rebuilt list may hold the very same entries (C-speed compare)
            log.buf_list, log.buf_len = entries, n
            log.buf_first, log.buf_last = (entries[0], entries[-1]) if n else (None, None)
            if entries == log.entries:
                buffer_changed = False
            else:
                log.buf_version += 1
                log.entries = entries.copy()  # the entries are immutable: a copy of references
        segs = p.writer.segments
        last = segs[-1] if segs else None
        segments_changed = False
        if (
            segs is not log.seg_list
            or last is not log.seg_last
            or len(segs) != log.seg_count
            or (last is not None and (last.next_offset, last.sealed) != log.seg_tail)
        ):
            log.seg_list, log.seg_last, log.seg_count = segs, last, len(segs)
            log.seg_tail = (last.next_offset, last.sealed) if last is not None else (0, False)
            state, visible = _segment_state(p, log.settled)
            if state != log.segments:
                segments_changed = True
                log.seg_version += 1
                log.segments, log.visible = state, visible
        pending = 0
        for b in p.pending_batches:
            pending += b.last - b.first + 1
        if p.inflight is not None:
            for b in p.inflight.batches:
                pending += b.last - b.first + 1
        offsets = (
            p.high_watermark,
            p.next_offset,
            p.log_start_offset,
            pending,
            len(buf),
            n,
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

    def _first_poll(self, partition: int) -> None:
        """The consumer's first poll of `partition`: keep the state it reads, at any stride."""
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

    def _keep(self, log: _PartitionLog, state: tuple[Any, ...], held_until: int, pinned: bool):
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
        ) and self.stride <= len(self.rows):
            self._thin()

    def _thin(self) -> None:
        """Double the stride, keep the last state of each new block (and the pinned ones) in
        every partition, then recount the rows the kept states write."""
        self.stride *= 2
        for log in self._logs.values():
            log.kept.thin(self.stride, None if log.pending is None else log.pending[0])
        self._kept_rows = sum(log.kept.rows() for log in self._logs.values())
        self._kept_snapshots = sum(len(log.kept) for log in self._logs.values())

    # -- tables ---------------------------------------------------------------------------
    def tables(self) -> dict[str, Any]:
        """The trace and the three snapshot tables (DataFrames), and `snapshots_stride`: the
        Run's fields from the recorder. Keeps every partition's pending (last) state."""
        end = len(self.rows)
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
            for index, step, version, spans, seg_version, segs, values, held_until in zip(
                *k.fields()[:-1], strict=True
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
            "trace": _frame(TRACE_COLUMNS, self.rows),
            "buffer_snapshots": _frame(BUFFER_COLUMNS, buffer),
            "segment_snapshots": _frame(SEGMENT_COLUMNS, segments),
            "offsets_snapshots": _frame(OFFSETS_COLUMNS, offsets),
            "snapshots_stride": self.stride,
        }


def _step_of(row: tuple[Any, ...]) -> int:
    return row[0]


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


def _frame(columns: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """A DataFrame with the same dtypes whether the run produced rows or not."""
    # One list comprehension per column: zip(*rows) would build the same columns but keeps the
    # cyclic GC busy with a tuple of every row (4x slower on a 100,000-step trace).
    values = [[row[i] for row in rows] for i in range(len(columns))]
    data: dict[str, Any] = {}
    for name, column in zip(columns, values, strict=True):
        if name in _NULLABLE:
            data[name] = _nullable_ints(column)
        elif name in _STRINGS:  # through Arrow: pd.array() checks each value (10x slower)
            data[name] = pd.array(pa.array(column, type=pa.large_string()), dtype="str")
        elif name in _BOOLS:
            data[name] = np.array(column, dtype=bool)
        else:
            data[name] = np.array(column, dtype=np.int64)
    return pd.DataFrame(data, copy=False)


def _nullable_ints(column: list[Any]) -> pd.api.extensions.ExtensionArray:
    """An Int64 array (None -> <NA>), built with numpy: pd.array() checks each value."""
    values = np.array(column, dtype=object)
    missing = np.equal(values, None)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)
