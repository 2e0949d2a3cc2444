"""Broker: topics x partitions over a data directory, with chronik's produce and fetch paths.

`Broker(data_dir=None)` works in a private temporary directory removed on `close()`; with a path,
segments persist there and `Broker(data_dir=same)` recovers every flushed record, offsets
continuing where they stopped. Topic-partitions are created on first produce, and found again on
open from their `<topic>-<partition>` directories. Not thread-safe.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa

from chronik_lab import validate
from chronik_lab.bugs import BugSet
from chronik_lab.engine.clock import SimClock
from chronik_lab.engine.fetch import FetchResult, fetch
from chronik_lab.engine.partition import BrokerConfig, Partition, Tracer
from chronik_lab.engine.produce import (
    ProduceResult,
    complete_due_flush,
    flush_partition,
    flush_partition_if_needed,
    maybe_roll,
    pending_table,
    produce_to_partition,
)
from chronik_lab.engine.records import Payload
from chronik_lab.errors import BrokerClosedError, InvalidArgumentError, UnknownTopicOrPartitionError


class Broker:
    def __init__(
        self,
        data_dir: str | Path | None = None,
        bugs: str | Iterable[str] | None = "fixed",
        flush_batches: int = 10,
        *,
        segment_bytes: int = 256 * 1024 * 1024,
        segment_ms: int = 30_000,
        linger_ms: int | None = None,
        flush_ms: int = 0,
        fsync: bool = False,
        clock: SimClock | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.bugs = BugSet(bugs)
        self.config = BrokerConfig(
            flush_batches=validate.positive_int(flush_batches, "flush_batches"),
            segment_bytes=validate.positive_int(segment_bytes, "segment_bytes"),
            segment_ms=validate.positive_int(segment_ms, "segment_ms"),
            linger_ms=None
            if linger_ms is None
            else validate.non_negative_int(linger_ms, "linger_ms"),
            fsync=bool(fsync),
            flush_ms=validate.non_negative_int(flush_ms, "flush_ms"),
        )
        if clock is not None and not isinstance(clock, SimClock):
            raise InvalidArgumentError("clock must be a chronik_lab.SimClock")
        self.clock = clock or SimClock()
        self.tracer = tracer
        self._owns_dir = data_dir is None
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="chronik_lab-")
        elif not isinstance(data_dir, (str, Path)):
            raise InvalidArgumentError(f"data_dir must be a path, not {type(data_dir).__name__}")
        self.data_dir = Path(data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a file of that name, or no permission
            raise InvalidArgumentError(f"data_dir {str(data_dir)!r} is not usable: {exc}") from None
        self._partitions: dict[tuple[str, int], Partition] = {}
        self._closed = False
        self._recover()

    # -- the requests ---------------------------------------------------------------------
    def produce(
        self,
        topic: str,
        partition: int,
        values: Payload,
        keys: Payload | None = None,
        acks: int = -1,
    ) -> ProduceResult:
        """Append records; returns their offsets. Creates the topic-partition if new."""
        self._check_open()
        known = self._existing(topic, partition)
        if known is not None:  # the common case, and the hot path of small requests
            return produce_to_partition(known, values, keys, validate.acks_value(acks))
        key = (validate.topic_name(topic), validate.partition_number(partition))
        acks = validate.acks_value(acks)
        p = self._partitions.get(key)  # known, but named by a str or int subclass
        new = p is None
        if new:
            p = self._new_partition(*key)
        try:
            return produce_to_partition(p, values, keys, acks)
        except InvalidArgumentError:
            if new:  # bad values leave no trace, not even the topic-partition they named
                del self._partitions[key]
            raise

    def fetch(
        self,
        topic: str,
        partition: int,
        offset: int = 0,
        max_records: int | None = None,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """Records from `offset` up to the high watermark, as a client would receive them."""
        self._check_open()
        p = self._partition(topic, partition)
        offset = validate.non_negative_int(offset, "offset")
        max_records = validate.positive_int_or_none(max_records, "max_records")
        max_bytes = validate.positive_int_or_none(max_bytes, "max_bytes")
        complete_due_flush(p)  # a segment write that finished by now is visible to this fetch
        return fetch(p, offset, max_records, max_bytes)

    def flush(self, topic: str | None = None, partition: int | None = None) -> None:
        """Force a flush of pending batches: of one partition, of a topic, or of everything."""
        self._check_open()
        for p in self._select(topic, partition):
            flush_partition(p, "forced")

    def advance(self, ms: int) -> None:
        """Move the simulated clock; like chronik's background task, flush lingering batches
        and rotate segments that got too old."""
        self._check_open()
        self.clock.advance(ms)
        for p in self._partitions.values():
            complete_due_flush(p)
            flush_partition_if_needed(p)
            maybe_roll(p)

    # -- state, for charts and checks -----------------------------------------------------
    def partitions(self) -> list[tuple[str, int]]:
        return sorted(self._partitions)

    def high_watermark(self, topic: str, partition: int) -> int:
        return self._partition(topic, partition).high_watermark

    def log_end_offset(self, topic: str, partition: int) -> int:
        return self._partition(topic, partition).log_end_offset

    def log_start_offset(self, topic: str, partition: int) -> int:
        return self._partition(topic, partition).log_start_offset

    def segments(self, topic: str, partition: int) -> pd.DataFrame:
        """One row per segment file: its range, size, and whether fetch may see it."""
        p = self._partition(topic, partition)
        rows = [
            {
                "base_offset": s.base_offset,
                "last_offset": s.last_offset,
                "record_count": s.record_count,
                "batch_count": s.batch_count,
                "size_bytes": s.size_bytes,
                "visible": p.registry.is_visible(s),
                "sealed": s.sealed,
                "created_ms": s.created_ms,
                "path": str(s.path),
            }
            for s in p.writer.segments
        ]
        columns = [
            "base_offset",
            "last_offset",
            "record_count",
            "batch_count",
            "size_bytes",
            "visible",
            "sealed",
            "created_ms",
            "path",
        ]
        return pd.DataFrame(rows, columns=columns)

    def buffer(self, topic: str, partition: int) -> pa.Table:
        """The fetch-side buffer, in buffer order (duplicates and all, under the bugs)."""
        return self._partition(topic, partition).buffer.to_table()

    def pending(self, topic: str, partition: int) -> pa.Table:
        """Records produced but not flushed yet (not in the buffer's sense: not in a segment)."""
        return pending_table(self._partition(topic, partition))

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Flush what is pending, seal the active segments; remove a private data_dir.

        Requests fail after close; the state queries (segments, buffer, watermarks) still
        describe the log as it was closed, for post-mortems.
        """
        if self._closed:
            return
        try:
            for p in self._partitions.values():
                flush_partition(p, "close")
                p.writer.close()
        finally:
            self._closed = True
            if self._owns_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Broker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Broker(data_dir={str(self.data_dir)!r}, bugs={sorted(self.bugs.names)}, "
            f"partitions={len(self._partitions)})"
        )

    # -- internals ------------------------------------------------------------------------
    def _partition(self, topic: str, partition: int, create: bool = False) -> Partition:
        known = self._existing(topic, partition)
        if known is not None:
            return known
        key = (validate.topic_name(topic), validate.partition_number(partition))
        p = self._partitions.get(key)
        if p is None:
            if not create:
                raise UnknownTopicOrPartitionError(*key)
            p = self._new_partition(*key)
        return p

    def _existing(self, topic: object, partition: object) -> Partition | None:
        """A known topic-partition, found without validating its name again (every key was
        validated when it was created). Exact types only: True == 1, and a list is unhashable.
        """
        if type(topic) is str and type(partition) is int:
            return self._partitions.get((topic, partition))
        return None

    def _new_partition(self, topic: str, partition: int) -> Partition:
        p = Partition(
            topic,
            partition,
            self.bugs,
            self.config,
            self.clock,
            self.data_dir / f"{topic}-{partition}",
            self.tracer,
        )
        self._partitions[(topic, partition)] = p
        return p

    def _recover(self) -> None:
        for directory in sorted(self.data_dir.iterdir()):
            topic, _, number = directory.name.rpartition("-")
            if not directory.is_dir() or not number.isdigit():
                continue
            try:
                key = (validate.topic_name(topic), validate.partition_number(int(number)))
            except InvalidArgumentError:
                continue  # not ours: leave foreign directories alone
            self._new_partition(*key).recover()

    def _select(self, topic: str | None, partition: int | None) -> list[Partition]:
        if topic is not None and partition is not None:
            return [self._partition(topic, partition)]
        if partition is not None:
            raise InvalidArgumentError("flush(partition=...) needs a topic too")
        return [p for (t, _), p in self._partitions.items() if topic is None or t == topic]

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerClosedError("the broker is closed")
