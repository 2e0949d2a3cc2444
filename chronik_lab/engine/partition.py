"""The state of one topic-partition, shared by the produce and fetch handlers, and the broker's
settings (`BrokerConfig`) every partition reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from chronik_lab.bugs import BugSet
from chronik_lab.engine.buffer import PartitionBuffer
from chronik_lab.engine.clock import SimClock
from chronik_lab.engine.producer_state import ProducerState
from chronik_lab.engine.records import LazyBatch
from chronik_lab.engine.registry import SegmentRegistry
from chronik_lab.engine.segment_log import SegmentLog
from chronik_lab.engine.wal import WriteAheadLog

Tracer = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class BrokerConfig:
    """A broker's settings, shared by all its partitions.

    Invariants (Broker checks them before building one; the class itself checks nothing):
    `flush_batches`, `segment_bytes` and `segment_ms` are at least 1, `linger_ms` is None or at
    least 0, `flush_ms` at least 0. Immutable, so safe to share between threads.
    """

    flush_batches: int = 10  # chronik's debug-build threshold (release: 100)
    segment_bytes: int = 256 * 1024 * 1024  # chronik rotated at 256 MB ...
    segment_ms: int = 30_000  # ... or 30 s
    linger_ms: int | None = None  # flush pending batches this long after the last flush
    fsync: bool = False  # as in Kafka: durability by replication, not by fsync
    # How long a flush's segment write takes, in simulated ms. 0: the flush completes inside the
    # request that triggered it. More: requests keep arriving while it is in flight, so the
    # buffer holds records above the offset the flush will mark -- as under chronik's async I/O.
    flush_ms: int = 0


class InflightFlush(NamedTuple):
    """A flush whose segment write has not finished yet (flush_ms > 0): its batches, oldest
    first and contiguous, are not in a segment yet. Immutable."""

    batches: list[LazyBatch]
    reason: str
    done_ms: int  # the simulated time at which the write completes


@dataclass
class Partition:
    """One topic-partition: its offsets, unflushed batches, buffer, segments and registry.

    Invariants of the correct engine: log_start_offset <= high_watermark <= next_offset; every
    offset below next_offset is either in a segment, or not yet flushed -- in a pending batch or
    the in-flight flush (`unflushed_batches`) -- and then also in the buffer once its request
    reached update_buffer (a pending record is buffered too: that is how fetch serves it before
    the flush). The buffer never holds a flushed offset, so the visible segments and the buffer
    never both serve one, and everything below the high watermark is readable from exactly one
    of them. `pending_batches` and `inflight` change only through the methods below, each of
    which moves `unflushed_version` (as `buffer.version` and `writer.version` follow theirs).

    Not thread-safe: the broker serialises requests, as chronik's per-partition lock did.
    """

    topic: str
    number: int
    bugs: BugSet
    config: BrokerConfig
    clock: SimClock
    directory: Path
    tracer: Tracer | None = None
    next_offset: int = 0
    high_watermark: int = 0
    log_start_offset: int = 0
    last_flush_ms: int = 0
    pending_batches: list[LazyBatch] = field(default_factory=list)
    failed_through: int = -1  # the last offset pending when a segment write failed
    inflight: InflightFlush | None = None
    registry: SegmentRegistry = field(default_factory=SegmentRegistry)
    # Moves whenever `pending_batches` or `inflight` changes, and only then: observers compare
    # it instead of the batches.
    unflushed_version: int = field(default=0, init=False)
    buffer: PartitionBuffer = field(init=False)
    writer: SegmentLog = field(init=False)
    producers: ProducerState = field(init=False)  # the idempotent producers' windows
    wal: WriteAheadLog = field(init=False)  # every unflushed request, in a file (wal.py)

    def __post_init__(self) -> None:
        self.buffer = PartitionBuffer(self.bugs)
        self.producers = ProducerState(self.bugs)
        self.wal = WriteAheadLog(self.directory, self.config.fsync)
        self.writer = SegmentLog(
            self.directory,
            self.registry,
            self.bugs,
            self.clock,
            self.config.segment_bytes,
            self.config.segment_ms,
            self.config.fsync,
        )

    def recover(self) -> None:
        """Reopen from disk: the segments, then the acknowledged requests no flush had written
        yet (the write-ahead log) pending again, as before the kill, and buffered for fetch;
        offsets continue after them."""
        # Kafka rebuilds its producer state from the log on recovery; chronik kept its
        # producers in memory only (produce_handler.rs `producer_info`, every tag to v1.0.0),
        # so a batch retried across a restart is appended again.
        rebuild = not self.bugs.producer_state_lost_on_restart
        self.writer.recover(self.producers if rebuild else None)
        replayed = self.wal.recover(self.writer.next_offset)
        if replayed and self.bugs.ack_before_durable:
            # chronik answered acks=1 and -1 with the batches only in pending_batches (memory)
            # until a flush wrote them: a kill lost them (3f95f0d, v1.3.51, wrote a WAL first).
            self.wal.discard()
            replayed = []
        for batch in replayed if rebuild else ():
            if batch.producer[0] >= 0:
                self.producers.record(batch.producer, batch.first, batch.last)
        self.next_offset = self.high_watermark = self.writer.next_offset
        for batch in replayed:
            self.add_pending(batch)
            self.next_offset = self.high_watermark = batch.last + 1
        # Segments gone from the front (retention, or by hand) move the log start, so a fetch
        # below it is out of range instead of being served silently from a later offset.
        segments = self.writer.segments
        self.log_start_offset = segments[0].base_offset if segments else self.writer.next_offset
        self.buffer.flushed_through = self.writer.next_offset - 1
        if replayed:
            self.buffer.update_buffer(replayed, self.high_watermark)
        self.last_flush_ms = self.clock.now_ms

    # -- the unflushed batches: every change goes through these ---------------------------
    def add_pending(self, batch: LazyBatch) -> None:
        """A produce request's records join the batches waiting for a flush."""
        self.pending_batches.append(batch)
        self.unflushed_version += 1

    def start_flight(self, reason: str, done_ms: int) -> None:
        """Every pending batch goes to a flush whose write completes at `done_ms`."""
        self.inflight = InflightFlush(self.pending_batches, reason, done_ms)
        self.pending_batches = []
        self.unflushed_version += 1

    def land_flight(self) -> None:
        """End the in-flight flush: its batches go back in front of the pending ones (they are
        older) before they are written, so a write that fails leaves them pending."""
        if self.inflight is not None:
            self.pending_batches = self.inflight.batches + self.pending_batches
            self.inflight = None
            self.unflushed_version += 1

    def drop_written(self, count: int) -> None:
        """The first `count` pending batches are in a segment now."""
        del self.pending_batches[:count]
        self.unflushed_version += 1

    @property
    def unflushed_batches(self) -> list[LazyBatch]:
        """Everything not yet in a segment: the in-flight flush's batches, then the pending."""
        inflight = self.inflight.batches if self.inflight else []
        return inflight + self.pending_batches

    @property
    def log_end_offset(self) -> int:
        return self.next_offset

    def emit(
        self,
        step: str,
        first: int | None = None,
        last: int | None = None,
        detail: str = "",
        count: int | None = None,
        **extra: Any,
    ) -> None:
        """Report a handler step to the tracer (scenarios record every step for the charts)."""
        if self.tracer is None:
            return
        if count is None:
            count = 0 if first is None or last is None else last - first + 1
        event = {
            "step": step,
            "topic": self.topic,
            "partition": self.number,
            "first_offset": first,
            "last_offset": last,
            "count": count,
            "detail": detail,
            "time_ms": self.clock.now_ms,
            **extra,
        }
        self.tracer(event)
