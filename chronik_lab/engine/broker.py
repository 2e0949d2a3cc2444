"""Broker: topics x partitions over a data directory, with chronik's produce and fetch paths.

The public entry to the engine (`cl.Broker`), and `partition_key`, which says which directory
names of a data_dir are partitions.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType

import pandas as pd
import pyarrow as pa

from chronik_lab import validate
from chronik_lab.bugs import BugSet
from chronik_lab.engine import files
from chronik_lab.engine.audit import Problem, audit
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
from chronik_lab.engine.producer_ids import ProducerIds, producer_fields
from chronik_lab.engine.records import NO_PRODUCER, Payload
from chronik_lab.errors import (
    BrokerAdvanceError,
    BrokerClosedError,
    BrokerCloseError,
    ChronikLabError,
    DataDirError,
    InvalidArgumentError,
    InvalidTopicError,
    ProducerError,
    UnknownTopicOrPartitionError,
    WalWriteError,
)


class Broker:
    """Topic-partitions over one data directory, served by chronik's produce and fetch paths.

    `Broker(data_dir=None)` works in a private temporary directory removed on `close()` (or, for
    a broker never closed, when it is garbage-collected or the interpreter exits); with a path,
    segments persist there and `Broker(data_dir=same)` recovers every flushed record, offsets
    continuing where they stopped. Topic-partitions are created on first produce, and found
    again on open from their `<topic>-<partition>` directories; any other directory there is
    ignored with a warning, never adopted.

    Invariants: one broker at a time per data_dir -- it holds the directory's `.lock`
    (DataDirLockedError for a second one) until `close()`; every (topic, partition) it holds was
    validated when it was created, and its directory name fits the file system; bad input
    (InvalidArgumentError) changes nothing, not even the topic-partition it named. After a
    successful `close()` every request raises BrokerClosedError while the state queries
    (segments, buffer, watermarks) still describe the log as it was closed; a failed `close()`
    (BrokerCloseError) leaves the broker open, to be closed again.

    Observers (the run recorder, charts) read the live partitions through `partition_states`,
    a read-only mapping, instead of building tables after every step.

    Not thread-safe: one request at a time (the wire server holds its lock around each).
    """

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
            fsync=validate.boolean(fsync, "fsync"),
            flush_ms=validate.non_negative_int(flush_ms, "flush_ms"),
        )
        if clock is not None and not isinstance(clock, SimClock):
            raise InvalidArgumentError("clock must be a chronik_lab.SimClock")
        self.clock = clock or SimClock()
        self.tracer = validate.callable_or_none(tracer, "tracer")
        self._owns_dir = data_dir is None
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="chronik_lab-")
        self.data_dir = Path(validate.directory_path(data_dir, "data_dir"))
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            lock = files.lock_data_dir(self.data_dir)
            self._name_max = files.name_max(self.data_dir)
        except (OSError, DataDirError) as exc:  # e.g. a file of that name, or no permission
            raise InvalidArgumentError(f"data_dir {str(data_dir)!r} is not usable: {exc}") from None
        # Releases the lock (and removes a private data_dir) on close(), or for a broker never
        # closed when it is collected or at exit; it holds no reference to the broker.
        temp = self.data_dir if self._owns_dir else None
        self._release = weakref.finalize(self, _release, lock, temp)
        self._partitions: dict[tuple[str, int], Partition] = {}
        self._closed = False
        try:
            self._recover()
            seen = (pid for p in self._partitions.values() for pid in p.producers.producers)
            top = max(seen, default=-1)
            self._producer_ids = ProducerIds(self.data_dir, self.config.fsync, top)
        except BaseException:
            self._release()
            raise

    # -- the requests ---------------------------------------------------------------------
    def produce(
        self,
        topic: str,
        partition: int,
        values: Payload,
        keys: Payload | None = None,
        acks: int = -1,
        *,
        producer_id: int | None = None,
        producer_epoch: int | None = None,
        base_sequence: int | None = None,
    ) -> ProduceResult:
        """Append records; returns their offsets. Creates the topic-partition if new. Values
        and keys: lists of bytes, str or None, or Arrow binary arrays (taken as they are).

        With `producer_id`, `producer_epoch` and `base_sequence` (all three, or none) the
        request is an idempotent producer's batch (Kafka's KIP-98): a retry of one of the
        producer's last 5 batches appends nothing and is answered with its original offsets
        (`duplicate=True`); a sequence gap raises OutOfOrderSequenceError and an older epoch
        InvalidProducerEpochError, appending nothing."""
        self._check_open()
        producer = NO_PRODUCER
        if producer_id is not None or producer_epoch is not None or base_sequence is not None:
            if (
                type(producer_id) is int
                and type(producer_epoch) is int
                and type(base_sequence) is int
                and not (producer_id >> 63 or producer_epoch >> 15 or base_sequence >> 31)
            ):  # in range (x >> k is 0 exactly for 0 <= x < 2^k): the hot path, inline
                producer = (producer_id, producer_epoch, base_sequence)
            else:
                producer = producer_fields(producer_id, producer_epoch, base_sequence)
        known = self._existing(topic, partition)
        if known is not None:  # the common case, and the hot path of small requests
            return produce_to_partition(known, values, keys, validate.acks_value(acks), producer)
        key = (validate.topic_name(topic), validate.partition_number(partition))
        acks = validate.acks_value(acks)
        p = self._partitions.get(key)  # known, but named by a str or int subclass
        new = p is None
        if new:
            p = self._new_partition(*key)
        try:
            return produce_to_partition(p, values, keys, acks, producer)
        except (InvalidArgumentError, ProducerError, WalWriteError):
            if new:  # a refused request leaves no trace, not even the topic-partition it named
                del self._partitions[key]
            raise

    def init_producer_id(self) -> tuple[int, int]:
        """A new idempotent producer: (producer_id, epoch 0), as Kafka's InitProducerId without
        a transactional id. Ids are never handed out twice for one data_dir, restarts
        included: the next free one is saved in `data_dir/producer-ids` before it is given."""
        self._check_open()
        return self._producer_ids.allocate(), 0

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
        # Past sys.maxsize a limit is no limit, and Arrow's slices take only an ssize_t.
        max_records = _cap(validate.positive_int_or_none(max_records, "max_records"))
        max_bytes = _cap(validate.positive_int_or_none(max_bytes, "max_bytes"))
        complete_due_flush(p)  # a segment write that finished by now is visible to this fetch
        return fetch(p, offset, max_records, max_bytes)

    def flush(self, topic: str | None = None, partition: int | None = None) -> None:
        """Force a flush of pending batches: of one partition, of a topic, or of everything.
        A failed write raises SegmentWriteError; what it did not write stays pending."""
        self._check_open()
        for p in self._select(topic, partition):
            flush_partition(p, "forced")

    def advance(self, ms: int) -> None:
        """Move the simulated clock; like chronik's background task, flush lingering batches
        and rotate segments that got too old. Every partition is tried, whatever failed before
        it; failed writes stay pending and raise one BrokerAdvanceError at the end."""
        self._check_open()
        self.clock.advance(ms)
        failures: dict[tuple[str, int], BaseException] = {}
        for key, p in self._partitions.items():
            try:
                complete_due_flush(p)
                flush_partition_if_needed(p)
                maybe_roll(p)
            except ChronikLabError as exc:
                failures[key] = exc
        if failures:
            raise BrokerAdvanceError(failures)

    # -- state, for charts and checks -----------------------------------------------------
    def partitions(self) -> list[tuple[str, int]]:
        return sorted(self._partitions)

    @property
    def partition_states(self) -> Mapping[tuple[str, int], Partition]:
        """The observer hook: a live, read-only view of (topic, partition) -> Partition.

        For observers that look after every step (the run recorder): reading a Partition's
        fields (offsets, `buffer.spans()`, `writer.segments`) costs nothing, where the public
        accessors build tables. Each structure's version says whether it changed since the
        last look: `buffer.version`, `writer.version`, `unflushed_version` (pending batches
        and in-flight flush). Observers must not change what they read.
        """
        return MappingProxyType(self._partitions)

    def check(self) -> list[Problem]:
        """Walk every segment on disk and report what is wrong, without raising or repairing:
        unreadable or torn files, checksum and structure failures, offsets that do not
        continue, sizes and segment lists that differ between this broker and the disk,
        foreign entries. An empty list: the log is sound. For tests and post-mortems
        (diskcache's `check()` is the model); it reads every byte of the log."""
        return audit(self.data_dir, self._partitions)

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
        Requests fail after close; the state queries still work, for post-mortems."""
        if self._closed:
            return
        failures: dict[tuple[str, int], BaseException] = {}
        for key, p in self._partitions.items():  # every one, whatever failed before it
            try:
                flush_partition(p, "close")
                p.writer.close()
                p.wal.close()
            except ChronikLabError as exc:
                failures[key] = exc
        if failures:  # stays open: free the cause (disk space, ...) and close() again
            raise BrokerCloseError(failures)
        self._closed = True
        self._release()

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
        name = f"{topic}-{partition}"  # exact str and int (validate), so no __format__ of theirs
        if len(os.fsencode(name)) > self._name_max:
            raise InvalidTopicError(
                topic,
                f"with partition {partition} its directory name is {len(name)} bytes, over this "
                f"file system's limit of {self._name_max}",
            )
        p = Partition(
            topic,
            partition,
            self.bugs,
            self.config,
            self.clock,
            self.data_dir / name,
            self.tracer,
        )
        self._partitions[(topic, partition)] = p
        return p

    def _recover(self) -> None:
        for name in sorted(os.listdir(self.data_dir)):
            key = partition_key(name)
            path = self.data_dir / name
            if key is not None:
                files.refuse_symlink(path)
                if path.is_dir():
                    self._new_partition(*key).recover()
                    continue
            if name != files.LOCK_NAME and path.is_dir():
                warnings.warn(
                    f"{path}: not a <topic>-<partition> directory of this broker; ignored",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def _select(self, topic: str | None, partition: int | None) -> list[Partition]:
        if topic is not None and partition is not None:
            return [self._partition(topic, partition)]
        if partition is not None:
            raise InvalidArgumentError("flush(partition=...) needs a topic too")
        if topic is not None:
            topic = validate.topic_name(topic)
        return [p for (t, _), p in self._partitions.items() if topic is None or t == topic]

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerClosedError("the broker is closed")


def partition_key(name: str) -> tuple[str, int] | None:
    """(topic, partition) for a directory name this broker would have made, else None: only
    `<valid topic>-<partition in ASCII digits, no leading zero>`, so `t-01` or `t-²` are never
    taken for partition 1 or 2."""
    topic, _, number = name.rpartition("-")
    if not (number.isascii() and number.isdigit()) or str(int(number)) != number:
        return None
    try:
        return validate.topic_name(topic), validate.partition_number(int(number))
    except InvalidArgumentError:
        return None


def _cap(limit: int | None) -> int | None:
    return None if limit is None else min(limit, sys.maxsize)


def _release(lock_fd: int, temp_dir: Path | None) -> None:
    os.close(lock_fd)  # releases the flock
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)
