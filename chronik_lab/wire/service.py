"""The data APIs over one `Broker`: ApiVersions, Metadata, CreateTopics, Produce, Fetch,
ListOffsets. Each handler takes a decoded request and returns the response struct; the ones
whose work grows with the request (Produce, Fetch, Metadata, CreateTopics, ListOffsets) are
generators that yield after each partition or topic and return the response, so the server can
let other connections in between (server.py, limits.py).

Topics: the engine creates a topic-partition on its first produce; this layer keeps how many
partitions each topic has (topics.py), creates a topic on its first Metadata request as chronik
did (with `partitions` partitions), and answers for partitions that exist here but hold no
record yet as an empty log (high watermark 0). A request's new topics are saved once.

Errors are per partition, as Kafka's: a record batch refused (batches.py), a partition whose
write fails (KAFKA_STORAGE_ERROR: its records stay pending and are retried, so they may yet be
written, as after a Kafka request timeout) -- the other partitions of the request, and every
other client, are served as usual. Fetch errors are the engine's answers:
`OffsetOutOfRangeError` becomes OFFSET_OUT_OF_RANGE, whatever rule the engine's preset follows.

What reached the engine, for tests and for `cl.run` (the lab's bugs depend on request
boundaries): `produced` keeps, for each of the last PRODUCE_LOG_LIMIT partition writes, the
produce request's number, the partition, and how many record batches and records it carried;
`answered` keeps, per partition, the last fetch answered: its offset, how many record bytes it
carried and its error code.

Not thread-safe: the server calls one handler step at a time, holding its lock.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Generator
from typing import Any, NamedTuple

from kafka.protocol.admin import CreateTopicsResponse
from kafka.protocol.consumer import FetchResponse, ListOffsetsResponse
from kafka.protocol.metadata import MetadataResponse
from kafka.protocol.producer import InitProducerIdResponse

from chronik_lab import validate
from chronik_lab.engine.broker import Broker
from chronik_lab.errors import (
    ChronikLabError,
    DataDirError,
    InvalidArgumentError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from chronik_lab.wire.batches import BadRecordsError, decode_records, encode_chunks
from chronik_lab.wire.limits import FETCH_MAX_BYTES, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES
from chronik_lab.wire.logs import Throttle, shown
from chronik_lab.wire.produce_codec import ProduceAnswer
from chronik_lab.wire.protocol import api_versions_body
from chronik_lab.wire.topics import TopicTable

NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC, INVALID_TOPIC, KAFKA_STORAGE_ERROR = 0, 1, 3, 17, 56
LATEST, EARLIEST = -1, -2
# How many records a fetch asks the engine for: max_bytes / this. The engine reads that many
# before it trims to max_bytes, so a bound of the true minimum (7 bytes a record) made a 1 MB
# fetch of 100-byte records read 15 MB. Tiny records may come back fewer than would fit, which
# max_bytes allows (it is an upper bound).
RECORDS_PER_BYTE_DIVISOR = 64
PRODUCE_LOG_LIMIT = 100_000

Steps = Generator[None, None, Any]  # a handler run step by step (see the module doc)


class Written(NamedTuple):
    """One partition's part of a produce request, as it reached the engine."""

    request: int  # the produce request's number on this server, from 1
    topic: str
    partition: int
    batches: int  # record batches in the partition's data (a Kafka client sends one)
    records: int
    base_offset: int  # -1 when refused


class Answered(NamedTuple):
    """The last fetch answered for one partition."""

    offset: int  # the fetch offset asked for
    record_bytes: int  # 0: nothing at that offset
    error_code: int


class FetchAnswer(NamedTuple):
    response: Any
    record_bytes: int  # 0: worth waiting for data
    offsets: dict[tuple[str, int], int]  # the fetch offset asked for, per partition answered


class DataService:
    def __init__(
        self,
        broker: Broker,
        topics: TopicTable,
        partitions: int,
        host: str,
        port: int,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_request_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self.broker, self.topics = broker, topics
        self.partitions = validate.positive_int(partitions, "partitions")
        self.host, self.port = host, port
        self.max_message_bytes = max_message_bytes
        self.max_request_bytes = max_request_bytes  # a produce request's records, decompressed
        self._producer_ids = int(time.time() * 1000)  # unique across restarts
        self.produce_requests = 0
        self.produced: deque[Written] = deque(maxlen=PRODUCE_LOG_LIMIT)
        self.answered: dict[tuple[str, int], Answered] = {}
        self.throttle = Throttle()

    # -- topics ---------------------------------------------------------------------------
    def _save_topics(self, created: list[str], errors: dict[str, int]) -> None:
        """Save the request's new topics once; any the file could not take is undone."""
        try:
            self.topics.save()
        except (OSError, DataDirError) as exc:
            self.throttle.log("topics", logging.WARNING, "cannot save the topics: %s", exc)
        for name in created:
            if name not in self.topics:
                errors[name] = KAFKA_STORAGE_ERROR

    def api_versions(self, req: Any) -> Any:
        return api_versions_body()

    def metadata(self, req: Any) -> Steps:
        wanted = None if req.topics is None else [t.name for t in req.topics]
        if wanted is not None and req.API_VERSION == 0 and not wanted:
            wanted = None  # v0: an empty list means every topic
        wanted = self.topics.names() if wanted is None else list(dict.fromkeys(wanted))
        auto = getattr(req, "allow_auto_topic_creation", True)
        errors: dict[str, int] = {}
        created = []
        for name in wanted:
            if name not in self.topics:
                errors[name] = self.topics.create(name, self.partitions) if auto else UNKNOWN_TOPIC
                if errors[name] == NONE:
                    created.append(name)
                yield
        self._save_topics(created, errors)
        topics = []
        for name in wanted:
            topics.append(self._described(name, errors.get(name, NONE)))
            yield
        m = MetadataResponse
        broker = m.MetadataResponseBroker(node_id=0, host=self.host, port=self.port, rack=None)
        return m(
            throttle_time_ms=0,
            brokers=[broker],
            cluster_id="chronik-lab",
            controller_id=0,
            topics=topics,
        )

    def _described(self, name: str, error: int) -> Any:
        t = MetadataResponse.MetadataResponseTopic
        parts = [
            t.MetadataResponsePartition(
                error_code=NONE,
                partition_index=i,
                leader_id=0,
                leader_epoch=0,
                replica_nodes=[0],
                isr_nodes=[0],
                offline_replicas=[],
            )
            for i in range(self.topics.count(name) if error == NONE else 0)
        ]
        return t(error_code=error, name=name, is_internal=False, partitions=parts)

    def create_topics(self, req: Any) -> Steps:
        r = CreateTopicsResponse
        counts, errors, created = [], {}, []
        for t in req.topics:
            count = self.partitions if t.num_partitions == -1 else t.num_partitions
            if req.validate_only:
                error = self.topics.check(t.name, count)
            else:
                error = self.topics.create(t.name, count)
                if error == NONE:
                    created.append(t.name)
            counts.append(count)
            errors.setdefault(t.name, error)
            yield
        self._save_topics(created, errors)
        results = [
            r.CreatableTopicResult(
                name=t.name,
                error_code=errors[t.name],
                error_message=None,
                num_partitions=count,
                replication_factor=1,
                configs=[],
            )
            for t, count in zip(req.topics, counts, strict=True)
        ]
        return r(throttle_time_ms=0, topics=results)

    # -- produce --------------------------------------------------------------------------
    def init_producer_id(self, req: Any) -> Any:
        """A fresh producer id for idempotent producers (kafka-python 3 and librdkafka ask by
        default). The engine keeps no producer state: sequence numbers are not checked, so a
        retried batch is appended again, as in chronik, which never deduplicated them."""
        self._producer_ids += 1
        return InitProducerIdResponse(
            throttle_time_ms=0, error_code=NONE, producer_id=self._producer_ids, producer_epoch=0
        )

    def produce(self, req: Any) -> Steps:
        self.produce_requests += 1
        room = self.max_request_bytes  # this request's records, decompressed, may still take
        topics = []
        for t in req.topic_data:
            parts = []
            for p in t.partition_data:
                answer, size = self._produce_one(t.name, p.index, p.records, req.acks, room)
                room -= size
                parts.append(answer)
                yield
            topics.append((t.name, parts))
        return ProduceAnswer(topics)

    def _produce_one(
        self, topic: str, index: int, data: Any, acks: int, room: int
    ) -> tuple[tuple[int, int, int, int], int]:
        """(index, error_code, base_offset, log_start_offset) of one partition's write, and the
        bytes its records took decompressed."""
        error, base, batches, records, size = NONE, -1, 0, 0, 0
        if index < 0 or index >= self.topics.count(topic):
            error = UNKNOWN_TOPIC
        else:
            try:
                keys, values, batches, size = decode_records(
                    data, self.max_message_bytes, min(self.max_message_bytes, room)
                )
                records = len(values)
                base = self.broker.produce(topic, index, values, keys, acks=acks).base_offset
            except BadRecordsError as exc:
                error = exc.error_code
            except InvalidArgumentError:
                error = INVALID_TOPIC
            except ChronikLabError as exc:  # a write that failed: this partition only
                error = KAFKA_STORAGE_ERROR
                self._failed(topic, index, exc)
        # every write is logged, refused ones included (base offset -1)
        self.produced.append(Written(self.produce_requests, topic, index, batches, records, base))
        start = self.log_start(topic, index) if error == NONE else -1
        return (index, error, base, start), size

    def _failed(self, topic: str, index: int, exc: BaseException) -> None:
        self.throttle.log(
            ("partition", topic, index),
            logging.WARNING,
            "partition %s-%d answers KAFKA_STORAGE_ERROR: %s",
            shown(topic),
            index,
            exc,
        )

    # -- fetch ----------------------------------------------------------------------------
    def fetch(self, req: Any) -> Steps:
        """A FetchAnswer. Each partition is read once, however often the request names it (a
        fetch's partitions are a map in Kafka), within the answer's byte budget: the request's
        max_bytes (v3+) and FETCH_MAX_BYTES; once it is spent, the partitions left get no
        records (the first non-empty one gets at least one record, KIP-74)."""
        budget = FETCH_MAX_BYTES
        if req.API_VERSION >= 3:
            budget = min(budget, req.max_bytes)
        r = FetchResponse.FetchableTopicResponse
        total = 0
        offsets: dict[tuple[str, int], int] = {}
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                key = (t.topic, p.partition)
                if key in offsets:
                    continue
                offsets[key] = p.fetch_offset
                limit = min(p.partition_max_bytes, budget - total)
                limit = limit if total else max(1, limit)
                data, n = yield from self._fetch_one(*key, p.fetch_offset, limit)
                parts.append(data)
                total += n
                yield
            if parts:
                topics.append(r(topic=t.topic, partitions=parts))
        response = FetchResponse(
            throttle_time_ms=0, error_code=NONE, session_id=0, responses=topics
        )
        return FetchAnswer(response, total, offsets)

    def note_answer(self, answer: FetchAnswer) -> None:
        """Remember, per partition, the fetch answer sent."""
        for t in answer.response.responses:
            for data in t.partitions:
                key = (t.topic, data.partition_index)
                self.answered[key] = Answered(
                    answer.offsets[key], len(data.records or b""), data.error_code
                )

    def _fetch_one(self, topic: str, index: int, offset: int, max_bytes: int) -> Steps:
        """One partition's answer and its record bytes, reading at most `max_bytes` (nothing
        when it is < 1); a step per chunk of records encoded."""
        part = FetchResponse.FetchableTopicResponse.PartitionData
        error, records, hw, start = NONE, b"", 0, 0
        if index < 0 or index >= self.topics.count(topic):
            error = UNKNOWN_TOPIC
        elif max_bytes < 1:  # the answer's budget is spent
            hw, start = self._hw(topic, index), self.log_start(topic, index)
        else:
            try:
                result = self.broker.fetch(
                    topic,
                    index,
                    offset,
                    max_records=max_bytes // RECORDS_PER_BYTE_DIVISOR + 1,
                    max_bytes=max_bytes,
                )
                hw, start = result.high_watermark, result.log_start_offset
                chunks = []
                for chunk in encode_chunks(result.records, self.broker.bugs):
                    chunks.append(chunk)
                    yield
                records = b"".join(chunks)
            except OffsetOutOfRangeError:
                error = OFFSET_OUT_OF_RANGE
                hw, start = self._hw(topic, index), self.log_start(topic, index)
            except UnknownTopicOrPartitionError:
                error = NONE if offset == 0 else OFFSET_OUT_OF_RANGE  # an empty log
            except InvalidArgumentError:
                error = OFFSET_OUT_OF_RANGE  # a negative fetch offset
            except ChronikLabError as exc:  # a due flush that failed: this partition only
                error = KAFKA_STORAGE_ERROR
                self._failed(topic, index, exc)
        data = part(
            partition_index=index,
            error_code=error,
            high_watermark=hw,
            last_stable_offset=hw,
            log_start_offset=start,
            aborted_transactions=None,
            preferred_read_replica=-1,
            records=records,
        )
        return data, len(records)

    # -- list offsets ---------------------------------------------------------------------
    def list_offsets(self, req: Any) -> Steps:
        r = ListOffsetsResponse.ListOffsetsTopicResponse
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                parts.append(self._list_one(t.name, p.partition_index, p.timestamp))
                yield
            topics.append(r(name=t.name, partitions=parts))
        return ListOffsetsResponse(throttle_time_ms=0, topics=topics)

    def _list_one(self, topic: str, index: int, timestamp: int) -> Any:
        part = ListOffsetsResponse.ListOffsetsTopicResponse.ListOffsetsPartitionResponse
        if index < 0 or index >= self.topics.count(topic):
            return part(partition_index=index, error_code=UNKNOWN_TOPIC, old_style_offsets=[])
        # Earliest is the log start; latest (and any timestamp: the lab keeps no time index)
        # is the high watermark, the end a consumer may read up to.
        offset = self.log_start(topic, index) if timestamp == EARLIEST else self._hw(topic, index)
        return part(
            partition_index=index,
            error_code=NONE,
            old_style_offsets=[offset],
            timestamp=-1,
            offset=offset,
            leader_epoch=0,
        )

    def log_start(self, topic: str, index: int) -> int:
        try:
            return self.broker.log_start_offset(topic, index)
        except UnknownTopicOrPartitionError:
            return 0

    def _hw(self, topic: str, index: int) -> int:
        try:
            return self.broker.high_watermark(topic, index)
        except UnknownTopicOrPartitionError:
            return 0
