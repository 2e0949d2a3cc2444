"""Simulated clients: a producer that sends message ids, a consumer that polls like kafka-python.

Both talk to a `Broker` in-process and write what they did into a shared `Operations` (one row per
record an operation touched, Jepsen-style), so a run can be checked exactly as a consumer dump
from a real broker would be. Nothing here reads wall time or random state: the same plan gives
the same calls, in the same order, every time. Not thread-safe.

The producer sends message ids 0..n-1 with the value `{"id": i}` (chronik's compat test,
`test_single_partition_no_dup.py`). A request of k messages spread over several partitions becomes
one `Broker.produce` per partition, in partition order, as a Kafka ProduceRequest carries one
batch per partition.

The consumer does what kafka-python's does: it starts every partition at the log start offset
(`auto_offset_reset="earliest"`, chronik's compat test), fetches from its position with
`max_records`, skips the leading records whose (client-visible) offset is below that position,
accepts the rest as they come (kafka-python does not re-check order inside a response), and moves
its position to the last accepted record's offset + 1. A drain stops once each partition is
caught up (its position equals the high watermark of the last fetch, or a poll accepted nothing)
-- or at a hard cap on polls, so no buggy broker can make a scenario loop forever. A position
*past* the high watermark (renumbered offsets can put it there) is not caught up: the consumer
polls again, as kafka-python keeps polling until a poll brings nothing.

On OFFSET_OUT_OF_RANGE the consumer resets by its `auto_offset_reset` policy, as Kafka's
consumers do: "earliest" to the log start offset, "latest" to the high watermark (what
ListOffsets answers a consumer), and "none" ends that partition's consumption (kafka-python raises
to the application). Each reset shows in the trace (`poll_error`) and in `Consumer.resets`; the
history has no row for a failed poll (its rows each need a message id). Resetting to earliest
after an out-of-range is a classic source of re-delivered records: under Kafka's range rule a
position pushed past the log end re-reads the partition from the start, again and again; the
lab stops a partition after MAX_RESETS resets (and counts it as capped, like the poll cap: a
real consumer would loop on); under chronik's rule (`chronik_fetch_range`) the fetch is empty
and nothing is read again.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chronik_lab.engine.broker import Broker
from chronik_lab.errors import OffsetOutOfRangeError, ScenarioError, UnknownTopicOrPartitionError
from chronik_lab.sim.operations import Operations

__all__ = [
    "Consumer",
    "Producer",
    "ProduceCall",
    "decode_ids",
    "encode_value",
    "plan_requests",
    "poll_cap",
]

# Called before (phase "before") and after ("after") each client step, so a run can attribute
# every broker step to the request or poll that caused it. None: no hook (and no detail
# strings built for one).
ClientHook = Callable[..., None]


def encode_value(message_id: int) -> bytes:
    """The value chronik's compat test sends: `json.dumps({'id': i})`, byte for byte."""
    return b'{"id": %d}' % message_id


def decode_ids(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Message ids from `{"id": i}` values, vectorised (no Python loop per record)."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    if isinstance(values, pa.ChunkedArray) and values.num_chunks > 1:
        # A fetch of many small segment batches has as many chunks: the regex kernel's cost
        # is per chunk (~15 us), combining them first is ~0.3 us a record.
        values = values.combine_chunks()
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


@dataclass(frozen=True, eq=False)
class ProduceCall:
    """One `Broker.produce`: part of client request `request`, for one partition."""

    request: int
    partition: int
    message_ids: np.ndarray  # int64


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
    ids = np.arange(messages, dtype=np.int64)
    if partitions == 1:  # one call per request, a view of `ids` each
        starts = list(accumulate(sizes, initial=0))
        return [
            [ProduceCall(index, 0, ids[start:stop])]
            for index, (start, stop) in enumerate(pairwise(starts))
        ]
    if keyed:
        parts = np.array([partition_of(i, partitions, True) for i in range(messages)], np.int64)
    else:
        parts = (ids + seed) % partitions
    requests: list[list[ProduceCall]] = []
    start = 0
    for index, size in enumerate(sizes):
        chunk, where = ids[start : start + size], parts[start : start + size]
        requests.append([ProduceCall(index, int(p), chunk[where == p]) for p in np.unique(where)])
        start += size
    return requests


RESET_POLICIES = ("earliest", "latest", "none")  # Kafka's auto.offset.reset values
MAX_RESETS = 3  # per partition: enough to show the re-delivery loop, cheap for explain's runs


def poll_cap(messages: int) -> int:
    """The hard cap on a consumer after `messages` were sent: the simulated consumer's polls
    (a real client's run reads at most as many records, wire/workload.py). A correct log needs
    far fewer; only a loop -- a reset to the earliest offset, again and again -- reaches it."""
    return 10 * messages + 100


class Producer:
    """Sends the planned requests; records every message it sent and the offsets it got back."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        acks: int,
        history: Operations,
        hook: ClientHook | None,
        keyed: bool = False,
    ) -> None:
        self.keyed = keyed
        self.broker = broker
        self.topic = topic
        self.acks = acks
        self.history = history
        self.hook = hook

    def settle(self) -> None:
        """Nothing is ever in flight: each request is answered as it is sent."""

    flush = settle

    def send(self, calls: list[ProduceCall]) -> None:
        hook, history, produce = self.hook, self.history, self.broker.produce
        # acks=0: the client is not told whether the write happened -- Jepsen's "info".
        type_ = "info" if self.acks == 0 else "ok"
        for call in calls:
            ids = call.message_ids
            id_list = ids.tolist()
            n = len(id_list)
            if hook is not None:
                detail = f"ids {id_list[0]}-{id_list[-1]}, acks={self.acks}"
                hook("producer", "send", call.request, call.partition, None, n, detail)
            op = history.next_op()
            keys = [b"%d" % i for i in id_list] if self.keyed else None  # bytes: stays lazy
            values = [b'{"id": %d}' % i for i in id_list]  # encode_value, inlined: 1M calls
            result = produce(self.topic, call.partition, values, keys, acks=self.acks)
            first, last = result.base_offset, result.last_offset
            if hook is not None:
                detail = f"offsets {first}-{last}, hw {result.high_watermark}"
                hook("producer", "ack", call.request, call.partition, (first, last), n, detail)
            # The offsets first..last, as an array only if the history's tables are asked for.
            history.add_send(op, type_, call.partition, call.request, first, ids)


class Consumer:
    """kafka-python's consumer loop over every partition of one topic (see the module doc)."""

    def __init__(
        self,
        broker: Broker,
        topic: str,
        partitions: int,
        max_records: int,
        history: Operations,
        hook: ClientHook | None,
        max_polls: int,
        auto_offset_reset: str = "earliest",
    ) -> None:
        if auto_offset_reset not in RESET_POLICIES:
            raise ScenarioError(
                f"auto_offset_reset must be one of {', '.join(RESET_POLICIES)}, "
                f"not {auto_offset_reset!r}"
            )
        self.auto_offset_reset = auto_offset_reset
        self.broker = broker
        self.topic = topic
        self.partitions = range(partitions)
        self.max_records = max_records
        self.history = history
        self.hook = hook if hook is not None else _no_hook  # a few calls per poll: keep it simple
        self.max_polls = max_polls
        self.polls = 0
        self.positions: dict[int, int] = {}
        self.failed: set[int] = set()  # partitions whose consumption ended on a fetch error
        self.resets = 0  # positions reset by auto_offset_reset after an out-of-range fetch
        self._resets_of: dict[int, int] = {}
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
            start = self._start(p)
            if start is None:
                return False  # nothing was ever produced there: nothing to read yet
            self.positions[p] = start
        position = self.positions[p]
        poll = self.polls
        self.polls += 1
        op = self.history.next_op()
        self.hook("consumer", "poll", poll, p, (position, None), 0, f"fetch from {position}")
        try:
            result = self.broker.fetch(self.topic, p, position, max_records=self.max_records)
        except OffsetOutOfRangeError as exc:
            # No history row: the history format needs a message id on every row, and a failed
            # poll touched none. The failure stays in the trace (and in `failed` or `resets`).
            return self._reset(p, poll, position, exc)
        records = result.records
        client = records.column("offset").to_numpy()
        # kafka-python (PartitionRecords) skips the *leading* records below the fetch position
        # -- a compressed batch fetched from its middle -- and takes everything after them.
        start = int(np.argmax(client >= position)) if (client >= position).any() else len(client)
        # Copies, not views: a view into the fetched batch keeps the segment file's map alive
        # for as long as the history holds it (a map per poll: a 200,000-record batch read in
        # 400 polls held 1.8 GB of maps until the run ended).
        offsets = client[start:].copy()
        ids = decode_ids(records.column("value").slice(start))
        server = records.column("server_offset").to_numpy()[start:].copy()
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
        self._received(op, p, poll, offsets, ids, server)
        # Past the high watermark is not caught up either; nor is a position forgotten (a group
        # member's crash or rebalance: the partition starts again at its committed offset).
        return self.positions.get(p) != result.high_watermark

    def _start(self, p: int) -> int | None:
        """Where a partition's consumption starts: "earliest", the log start offset, once the
        partition exists (None before)."""
        try:
            return self.broker.log_start_offset(self.topic, p)
        except UnknownTopicOrPartitionError:
            return None

    def _received(self, op: int, p: int, poll: int, offsets, ids, server) -> None:
        """A poll's accepted records: the application has them, the position moves past them."""
        self.history.add_poll(op, p, poll, offsets, ids, server)
        self.positions[p] = int(offsets[-1]) + 1

    def _reset(self, p: int, poll: int, position: int, exc: OffsetOutOfRangeError) -> bool:
        """auto_offset_reset after an out-of-range fetch; True when the partition goes on."""
        if self.auto_offset_reset == "none":
            self.failed.add(p)
            self.hook("consumer", "poll_error", poll, p, (position, None), 0, str(exc))
            return False
        if self._resets_of.get(p, 0) >= MAX_RESETS:  # a reset loop: stop it, as the poll cap would
            self.capped = True
            self.hook("consumer", "poll_error", poll, p, (position, None), 0, f"{exc}; reset cap")
            return False
        self._resets_of[p] = self._resets_of.get(p, 0) + 1
        if self.auto_offset_reset == "earliest":
            target = exc.log_start_offset
        else:
            target = self.broker.high_watermark(self.topic, p)
        self.resets += 1
        self.positions[p] = target
        detail = f"{exc}; reset to {self.auto_offset_reset} ({target})"
        self.hook("consumer", "poll_error", poll, p, (position, None), 0, detail)
        return True


def _no_hook(*args: object) -> None:
    return None
