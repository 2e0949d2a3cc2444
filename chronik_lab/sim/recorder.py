"""The run recorder: every client and broker step of a run, and the state after each one.

The broker's tracer calls `Recorder.broker_step` from inside its handlers; the simulated clients
call `Recorder.client_step` before and after each request, which sets the *context* (which
produce request or poll a broker step belongs to). After every broker step that changed a
partition's buffer, segments or offsets, the recorder snapshots that partition:

- buffer: one row per buffer *entry* (a contiguous batch), not per record, so a run that buffers
  a million records in one request still adds one row;
- segments: one row per segment file, with its range and whether fetch may see it;
- offsets: high watermark, log end, log start, pending / buffered record counts.

Snapshots stop for good (and `truncated` becomes True) once any snapshot table would pass
`limit` rows, so a long run stays bounded; the three tables then agree up to the same step.
It reads the partitions through the broker's observer hook (`Broker.partition_states`, and
`PartitionBuffer.spans()`): the public accessors build Arrow tables and DataFrames, far too slow
to call after every step.
Not thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

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
]
_NULLABLE = {"request", "poll", "first_offset", "last_offset", "fetch_offset"}
_STRINGS = {"actor", "cause", "step", "topic", "detail", "source"}
_BOOLS = {"visible", "sealed"}


class Recorder:
    def __init__(self, topic: str, snapshots: bool = True, limit: int = 100_000) -> None:
        self.topic = topic
        self.snapshots = snapshots
        self.limit = limit
        self.truncated = False
        self.enabled = True
        self.now = lambda: 0  # the broker's clock, set by `attach`
        self.partitions: Mapping[tuple[str, int], Partition] = {}
        self.trace: dict[str, list[Any]] = {c: [] for c in TRACE_COLUMNS}
        self.buffer: dict[str, list[Any]] = {c: [] for c in BUFFER_COLUMNS}
        self.segments: dict[str, list[Any]] = {c: [] for c in SEGMENT_COLUMNS}
        self.offsets: dict[str, list[Any]] = {c: [] for c in OFFSETS_COLUMNS}
        self._context: tuple[str, int | None, int | None] = ("setup", None, None)
        self._last: dict[int, tuple[Any, Any, Any]] = {}  # partition -> last snapshot keys

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
        first, last = span if span is not None else (None, None)
        self._row(actor, step, partition, first, last, count, detail, None, None)

    def broker_step(self, event: dict[str, Any]) -> None:
        """The broker's tracer: one trace row, then a snapshot if the step changed the state."""
        if not self.enabled:
            return
        index = self._row(
            "broker",
            event["step"],
            event["partition"],
            event["first_offset"],
            event["last_offset"],
            event["count"],
            event["detail"],
            event.get("source"),
            event.get("fetch_offset"),
            event["time_ms"],
        )
        if self.snapshots and not self.truncated:
            part = self.partitions.get((event["topic"], event["partition"]))
            if part is not None:
                self._snapshot(index, event["step"], part)

    def _row(
        self, actor, step, partition, first, last, count, detail, source, fetch_offset, time_ms=None
    ):
        t = self.trace
        index = len(t["step_index"])
        cause, request, poll = self._context
        for column, value in (
            ("step_index", index),
            ("request", request),
            ("poll", poll),
            ("actor", actor),
            ("cause", cause),
            ("step", step),
            ("topic", self.topic),
            ("partition", partition),
            ("first_offset", first),
            ("last_offset", last),
            ("count", count),
            ("detail", detail),
            ("source", source),
            ("fetch_offset", fetch_offset),
            ("time_ms", self.now() if time_ms is None else time_ms),
        ):
            t[column].append(value)
        return index

    # -- snapshots ------------------------------------------------------------------------
    def _snapshot(self, index: int, step: str, p: Partition) -> None:
        entries = p.buffer.spans()
        segments = [
            (s.base_offset, s.last_offset, s.record_count, p.registry.is_visible(s), s.sealed)
            for s in p.writer.segments
        ]
        buffered = sum(n for _, _, n in entries)
        offsets = (
            p.high_watermark,
            p.log_end_offset,
            p.log_start_offset,
            sum(b.num_rows for b in p.unflushed_batches),
            buffered,
            len(entries),
            sum(1 for s in segments if s[3]),
        )
        last = self._last.get(p.number, (None, None, None))
        if (entries, segments, offsets) == last:
            return
        new_rows = (entries != last[0]) * len(entries) + (segments != last[1]) * len(segments)
        rows = len(self.buffer["step_index"]) + len(self.segments["step_index"]) + new_rows
        if rows > self.limit or len(self.offsets["step_index"]) >= self.limit:
            self.truncated = True
            return
        self._last[p.number] = (entries, segments, offsets)
        head = (index, step, p.number)
        if entries != last[0]:
            position = 0
            for slot, (first, last_offset, n) in enumerate(entries):
                _append(self.buffer, (*head, slot, position, first, last_offset, n))
                position += n
        if segments != last[1]:
            for seg in segments:
                _append(self.segments, (*head, *seg))
        _append(self.offsets, (*head, *offsets))

    # -- tables ---------------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "trace": _frame(self.trace),
            "buffer_history": _frame(self.buffer),
            "segment_history": _frame(self.segments),
            "offsets_history": _frame(self.offsets),
        }


def _append(columns: dict[str, list[Any]], row: tuple[Any, ...]) -> None:
    for values, value in zip(columns.values(), row, strict=True):
        values.append(value)


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A DataFrame with the same dtypes whether the run produced rows or not."""
    data = {}
    for name, values in columns.items():
        if name in _NULLABLE:
            data[name] = pd.array(values, dtype="Int64")
        elif name in _STRINGS:
            data[name] = pd.array(values, dtype="str")
        elif name in _BOOLS:
            data[name] = pd.array(values, dtype="bool")
        else:
            data[name] = pd.array(values, dtype="int64")
    return pd.DataFrame(data)
