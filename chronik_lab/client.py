"""Simulated clients: a producer that sends message ids, a consumer that polls like kafka-python.

Both talk to a `Broker` in-process and write what they did into a shared `History` (one row per
record an operation touched, Jepsen-style), so a run can be checked exactly as a consumer dump
from a real broker would be. Nothing here reads wall time or random state: the same plan gives
the same calls, in the same order, every time. Not thread-safe.

The producer sends message ids 0..n-1 with the value `{"id": i}` (chronik's compat test,
`test_single_partition_no_dup.py`). A request of k messages spread over several partitions becomes
one `Broker.produce` per partition, in partition order, as a Kafka ProduceRequest carries one
batch per partition.

The consumer does what kafka-python's does with `auto_offset_reset="earliest"`: it starts every
partition at the log start offset, fetches from its position with `max_records`, skips the leading
records whose (client-visible) offset is below that position, accepts the rest as they come
(kafka-python does not re-check order inside a response), and moves its position to the last
accepted record's offset + 1. A drain stops once each partition is caught up (position >= the
high watermark of the last fetch, or a poll accepted nothing) -- or at a hard cap on polls, so no
buggy broker can make a scenario loop forever. One deliberate difference: on OffsetOutOfRange (a
buggy broker that renumbered offsets can push the position past the high watermark)
kafka-python would reset to earliest and read everything again; here the failed poll ends that
partition's consumption, so the run stays finite; the failure shows in the trace (`poll_error`)
and in `Consumer.failed` (not in the history, whose rows each need a message id).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .broker import Broker
from .errors import OffsetOutOfRangeError, ScenarioError, UnknownTopicOrPartitionError

__all__ = [
    "Consumer",
    "History",
    "Producer",
    "ProduceCall",
    "decode_ids",
    "encode_value",
    "plan_requests",
]

# Called before (phase "before") and after ("after") each client step, so a run can attribute
# every broker step to the request or poll that caused it.
ClientHook = Callable[..., None]


def encode_value(message_id: int) -> bytes:
    """The value chronik's compat test sends: `json.dumps({'id': i})`."""
    return json.dumps({"id": message_id}).encode()


def decode_ids(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Message ids from `{"id": i}` values, vectorised (no Python loop per record)."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    text = pc.cast(values, pa.string())
    found = pc.extract_regex(text, r'"id":\s*(?P<id>-?\d+)')
    ids = pc.struct_field(found, [0])
    if ids.null_count:
        raise ScenarioError('a fetched value does not carry a message id ({"id": i})')
    return pc.cast(ids, pa.int64()).to_numpy(zero_copy_only=False)


def partition_of(message_id: int, partitions: int, keyed: bool, seed: int = 0) -> int:
    """By a deterministic hash of the key str(id) (crc32: Python's hash() is salted per
    process), or round-robin starting at partition `seed % partitions`."""
    if partitions == 1:
        return 0
    if keyed:
        return zlib.crc32(str(message_id).encode()) % partitions
    return (message_id + seed) % partitions


@dataclass(frozen=True)
class ProduceCall:
    """One `Broker.produce`: part of client request `request`, for one partition."""

    request: int
    partition: int
    message_ids: tuple[int, ...]


def plan_requests(
    messages: int,
    batch_sizes: Sequence[int] | None,
    partitions: int = 1,
    keyed: bool = False,
    seed: int = 0,
) -> list[list[ProduceCall]]:
    """The produce calls of each client request, in send order."""
    sizes = [1] * messages if batch_sizes is None else list(batch_sizes)
    if sum(sizes) != messages:
        raise ScenarioError(f"batch_sizes {sizes} sum to {sum(sizes)}, not messages={messages}")
    requests: list[list[ProduceCall]] = []
    start = 0
    for index, size in enumerate(sizes):
        by_partition: dict[int, list[int]] = {}
        for i in range(start, start + size):
            by_partition.setdefault(partition_of(i, partitions, keyed, seed), []).append(i)
        calls = [ProduceCall(index, p, tuple(ids)) for p, ids in sorted(by_partition.items())]
        requests.append(calls)
        start += size
    return requests


@dataclass
class History:
    """The Jepsen-style history of a run, plus the sent and received tables, as column lists."""

    op_index: int = 0
    rows: dict[str, list[Any]] = field(
        default_factory=lambda: {
            k: [] for k in ("op_index", "process", "f", "type", "partition", "offset", "value")
        }
    )
    sent: dict[str, list[Any]] = field(
        default_factory=lambda: {k: [] for k in ("message_id", "partition", "offset", "request")}
    )
    received: dict[str, list[Any]] = field(
        default_factory=lambda: {
            k: []
            for k in ("poll", "partition", "offset", "server_offset", "message_id", "op_index")
        }
    )

    def next_op(self) -> int:
        self.op_index += 1
        return self.op_index - 1

    def add(self, op: int, process: str, f: str, type_: str, partition: int, offsets, values):
        n = len(offsets)
        r = self.rows
        r["op_index"] += [op] * n
        r["process"] += [process] * n
        r["f"] += [f] * n
        r["type"] += [type_] * n
        r["partition"] += [partition] * n
        r["offset"] += list(offsets)
        r["value"] += list(values)


class Producer:
    """Sends the planned requests; records every message it sent and the offsets it got back."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        acks: int,
        history: History,
        hook: ClientHook,
        keyed: bool = False,
    ) -> None:
        self.keyed = keyed
        self.broker = broker
        self.topic = topic
        self.acks = acks
        self.history = history
        self.hook = hook

    def send(self, calls: list[ProduceCall]) -> None:
        for call in calls:
            ids = call.message_ids
            detail = f"ids {ids[0]}-{ids[-1]}, acks={self.acks}"
            self.hook("producer", "send", call.request, call.partition, None, len(ids), detail)
            op = self.history.next_op()
            keys = [str(i) for i in ids] if self.keyed else None
            result = self.broker.produce(
                self.topic, call.partition, [encode_value(i) for i in ids], keys, acks=self.acks
            )
            offsets = range(result.base_offset, result.last_offset + 1)
            self.hook(
                "producer",
                "ack",
                call.request,
                call.partition,
                (result.base_offset, result.last_offset),
                len(ids),
                f"offsets {result.base_offset}-{result.last_offset}, hw {result.high_watermark}",
            )
            # acks=0: the client is not told whether the write happened -- Jepsen's "info".
            type_ = "info" if self.acks == 0 else "ok"
            self.history.add(op, "producer", "send", type_, call.partition, offsets, ids)
            s = self.history.sent
            s["message_id"] += ids
            s["partition"] += [call.partition] * len(ids)
            s["offset"] += offsets
            s["request"] += [call.request] * len(ids)


class Consumer:
    """kafka-python's consumer loop over every partition of one topic (see the module doc)."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        partitions: int,
        max_records: int,
        history: History,
        hook: ClientHook,
        max_polls: int,
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.partitions = range(partitions)
        self.max_records = max_records
        self.history = history
        self.hook = hook
        self.max_polls = max_polls
        self.polls = 0
        self.positions: dict[int, int] = {}
        self.failed: set[int] = set()  # partitions whose consumption ended on a fetch error
        self.capped = False  # True once the hard cap on polls stopped the consumer

    def drain(self) -> None:
        """Poll every partition until each is caught up, failed, or the poll cap is reached."""
        todo = [p for p in self.partitions if p not in self.failed]
        while todo:
            still = []
            for p in todo:
                if self.polls >= self.max_polls:
                    self.capped = True
                    return
                if self._poll(p):
                    still.append(p)
            todo = still

    def _poll(self, p: int) -> bool:
        """One fetch of one partition; True when the partition is not caught up yet."""
        if p not in self.positions:
            try:  # "earliest": the log start offset, once the partition exists
                self.positions[p] = self.broker.log_start_offset(self.topic, p)
            except UnknownTopicOrPartitionError:
                return False  # nothing was ever produced there: nothing to read yet
        position = self.positions[p]
        poll = self.polls
        self.polls += 1
        op = self.history.next_op()
        self.hook("consumer", "poll", poll, p, (position, None), 0, f"fetch from {position}")
        try:
            result = self.broker.fetch(self.topic, p, position, max_records=self.max_records)
        except OffsetOutOfRangeError as exc:
            # No history row: the history format needs a message id on every row, and a failed
            # poll touched none. The failure stays in the trace and in `failed`.
            self.failed.add(p)
            self.hook("consumer", "poll_error", poll, p, (position, None), 0, str(exc))
            return False
        records = result.records
        client = records.column("offset").to_numpy()
        # kafka-python (PartitionRecords) skips the *leading* records below the fetch position
        # -- a compressed batch fetched from its middle -- and takes everything after them.
        start = int(np.argmax(client >= position)) if (client >= position).any() else len(client)
        offsets = client[start:]
        ids = decode_ids(records.column("value").slice(start))
        server = records.column("server_offset").to_numpy()[start:]
        span = (int(offsets[0]), int(offsets[-1])) if len(offsets) else None
        self.hook(
            "consumer",
            "consume",
            poll,
            p,
            span,
            len(offsets),
            f"{records.num_rows} fetched, {len(offsets)} accepted, hw {result.high_watermark}",
        )
        if not len(offsets):
            return False  # an empty poll: caught up (or stuck, which the checker will see)
        self.history.add(op, "consumer", "poll", "ok", p, offsets.tolist(), ids.tolist())
        rec = self.history.received
        n = len(offsets)
        rec["poll"] += [poll] * n
        rec["partition"] += [p] * n
        rec["offset"] += offsets.tolist()
        rec["server_offset"] += server.tolist()
        rec["message_id"] += ids.tolist()
        rec["op_index"] += [op] * n
        self.positions[p] = int(offsets[-1]) + 1
        return self.positions[p] < result.high_watermark
