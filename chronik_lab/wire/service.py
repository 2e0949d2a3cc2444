"""The data APIs over one `Broker`: ApiVersions, Metadata, CreateTopics, Produce, Fetch,
ListOffsets. Each handler takes a decoded request and returns the response struct.

Topics: the engine creates a topic-partition on its first produce; this layer keeps how many
partitions each topic has (`topics`, saved beside the segments in `wire-topics.json`), creates a
topic on its first Metadata request as chronik did (with `partitions` partitions), and answers
for partitions that exist here but hold no record yet as an empty log (high watermark 0).

Fetch errors are the engine's answers: `OffsetOutOfRangeError` becomes OFFSET_OUT_OF_RANGE,
whatever rule the engine's preset follows for where that range ends.

What reached the engine, for tests and for `cl.run` (the lab's bugs depend on request
boundaries): `produced` keeps, for each of the last PRODUCE_LOG_LIMIT partition writes, the
produce request's number, the partition, and how many record batches and records it carried;
`answered` keeps, per partition, the last fetch answered: its offset, how many record bytes it
carried and its error code.

Not thread-safe: the server calls one handler at a time, holding its lock.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

from kafka.protocol.admin import CreateTopicsResponse
from kafka.protocol.consumer import FetchResponse, ListOffsetsResponse
from kafka.protocol.metadata import MetadataResponse
from kafka.protocol.producer import InitProducerIdResponse

from chronik_lab import validate
from chronik_lab.engine.broker import Broker
from chronik_lab.errors import (
    InvalidArgumentError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from chronik_lab.wire.batches import BadRecordsError, decode_records, encode_batch
from chronik_lab.wire.produce_codec import ProduceAnswer
from chronik_lab.wire.protocol import api_versions_body

NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC = 0, 1, 3
INVALID_TOPIC, TOPIC_EXISTS, INVALID_PARTITIONS = 17, 36, 37
TOPICS_FILE = "wire-topics.json"
LATEST, EARLIEST = -1, -2
# How many records a fetch asks the engine for: max_bytes / this. The engine reads that many
# before it trims to max_bytes, so a bound of the true minimum (7 bytes a record) made a 1 MB
# fetch of 100-byte records read 15 MB. Tiny records may come back fewer than would fit, which
# max_bytes allows (it is an upper bound).
RECORDS_PER_BYTE_DIVISOR = 64
PRODUCE_LOG_LIMIT = 100_000


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


def write_json(path: Path, data: object) -> None:
    """Replace a small JSON file atomically (a crash leaves the old one or the new one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


class DataService:
    def __init__(self, broker: Broker, partitions: int, host: str, port: int) -> None:
        self.broker = broker
        self.partitions = validate.positive_int(partitions, "partitions")
        self.host, self.port = host, port
        self._file = broker.data_dir / TOPICS_FILE
        self.topics: dict[str, int] = {}
        self._producer_ids = int(time.time() * 1000)  # unique across restarts
        self.produce_requests = 0
        self.produced: deque[Written] = deque(maxlen=PRODUCE_LOG_LIMIT)
        self.answered: dict[tuple[str, int], Answered] = {}
        if self._file.is_file():
            self.topics = {str(k): int(v) for k, v in json.loads(self._file.read_text()).items()}
        for topic, number in broker.partitions():  # recovered segments name their topics
            self.topics[topic] = max(self.topics.get(topic, 0), number + 1)

    # -- topics ---------------------------------------------------------------------------
    def create_topic(self, name: str, partitions: int) -> int:
        """An error code: NONE when created, or why not."""
        try:
            validate.topic_name(name)
        except InvalidArgumentError:
            return INVALID_TOPIC
        if name in self.topics:
            return TOPIC_EXISTS
        if partitions < 1:
            return INVALID_PARTITIONS
        self.topics[name] = partitions
        write_json(self._file, self.topics)
        return NONE

    def api_versions(self, req: Any) -> Any:
        return api_versions_body()

    def metadata(self, req: Any) -> Any:
        wanted = None if req.topics is None else [t.name for t in req.topics]
        if wanted is not None and req.API_VERSION == 0 and not wanted:
            wanted = None  # v0: an empty list means every topic
        auto = getattr(req, "allow_auto_topic_creation", True)
        if wanted is None:
            wanted = sorted(self.topics)
        m = MetadataResponse
        topics = []
        for name in wanted:
            error = NONE
            if name not in self.topics:
                error = self.create_topic(name, self.partitions) if auto else UNKNOWN_TOPIC
            parts = [
                m.MetadataResponseTopic.MetadataResponsePartition(
                    error_code=NONE,
                    partition_index=i,
                    leader_id=0,
                    leader_epoch=0,
                    replica_nodes=[0],
                    isr_nodes=[0],
                    offline_replicas=[],
                )
                for i in range(self.topics.get(name, 0) if error == NONE else 0)
            ]
            topics.append(
                m.MetadataResponseTopic(
                    error_code=error, name=name, is_internal=False, partitions=parts
                )
            )
        broker = m.MetadataResponseBroker(node_id=0, host=self.host, port=self.port, rack=None)
        return m(
            throttle_time_ms=0,
            brokers=[broker],
            cluster_id="chronik-lab",
            controller_id=0,
            topics=topics,
        )

    def create_topics(self, req: Any) -> Any:
        r = CreateTopicsResponse
        results = []
        for t in req.topics:
            count = self.partitions if t.num_partitions == -1 else t.num_partitions
            error = NONE if req.validate_only and t.name not in self.topics else None
            if error is None:
                error = self.create_topic(t.name, count)
            results.append(
                r.CreatableTopicResult(
                    name=t.name,
                    error_code=error,
                    error_message=None,
                    num_partitions=count,
                    replication_factor=1,
                    configs=[],
                )
            )
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

    def produce(self, req: Any) -> ProduceAnswer:
        self.produce_requests += 1
        topics = []
        for t in req.topic_data:
            parts = [
                self._produce_one(t.name, p.index, p.records, req.acks) for p in t.partition_data
            ]
            topics.append((t.name, parts))
        return ProduceAnswer(topics)

    def _produce_one(
        self, topic: str, index: int, data: Any, acks: int
    ) -> tuple[int, int, int, int]:
        """(index, error_code, base_offset, log_start_offset) of one partition's write."""
        error, base, batches, records = NONE, -1, 0, 0
        if index < 0 or index >= self.topics.get(topic, 0):
            error = UNKNOWN_TOPIC
        else:
            try:
                keys, values, batches = decode_records(data)
                records = len(values)
                base = self.broker.produce(topic, index, values, keys, acks=acks).base_offset
            except BadRecordsError as exc:
                error = exc.error_code
            except InvalidArgumentError:
                error = INVALID_TOPIC
        # every write is logged, refused ones included (base offset -1)
        self.produced.append(Written(self.produce_requests, topic, index, batches, records, base))
        return index, error, base, self.log_start(topic, index) if error == NONE else -1

    # -- fetch ----------------------------------------------------------------------------
    def fetch(self, req: Any) -> tuple[Any, int]:
        """The response and how many record bytes it carries (0: worth waiting for data)."""
        budget = req.max_bytes if req.API_VERSION >= 3 else 2**31 - 1
        r = FetchResponse.FetchableTopicResponse
        total = 0
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                limit = max(1, min(p.partition_max_bytes, budget - total))
                data, n = self._fetch_one(t.topic, p.partition, p.fetch_offset, limit)
                parts.append(data)
                total += n
            topics.append(r(topic=t.topic, partitions=parts))
        return FetchResponse(
            throttle_time_ms=0, error_code=NONE, session_id=0, responses=topics
        ), total

    def note_answer(self, req: Any, response: Any) -> None:
        """Remember, per partition, the fetch `response` that answered `req` (sent as is)."""
        for t, answer in zip(req.topics, response.responses, strict=True):
            for p, data in zip(t.partitions, answer.partitions, strict=True):
                self.answered[(t.topic, p.partition)] = Answered(
                    p.fetch_offset, len(data.records or b""), data.error_code
                )

    def _fetch_one(self, topic: str, index: int, offset: int, max_bytes: int) -> tuple[Any, int]:
        part = FetchResponse.FetchableTopicResponse.PartitionData
        error, records, hw, start = NONE, b"", 0, 0
        if index < 0 or index >= self.topics.get(topic, 0):
            error = UNKNOWN_TOPIC
        else:
            try:
                result = self.broker.fetch(
                    topic,
                    index,
                    offset,
                    max_records=max_bytes // RECORDS_PER_BYTE_DIVISOR + 1,
                    max_bytes=max_bytes,
                )
                records = encode_batch(result.records, self.broker.bugs)
                hw, start = result.high_watermark, result.log_start_offset
            except OffsetOutOfRangeError:
                error = OFFSET_OUT_OF_RANGE
                hw, start = self._hw(topic, index), self.log_start(topic, index)
            except UnknownTopicOrPartitionError:
                error = NONE if offset == 0 else OFFSET_OUT_OF_RANGE  # an empty log
            except InvalidArgumentError:
                error = OFFSET_OUT_OF_RANGE  # a negative fetch offset
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
    def list_offsets(self, req: Any) -> Any:
        r = ListOffsetsResponse.ListOffsetsTopicResponse
        topics = []
        for t in req.topics:
            parts = [self._list_one(t.name, p.partition_index, p.timestamp) for p in t.partitions]
            topics.append(r(name=t.name, partitions=parts))
        return ListOffsetsResponse(throttle_time_ms=0, topics=topics)

    def _list_one(self, topic: str, index: int, timestamp: int) -> Any:
        part = ListOffsetsResponse.ListOffsetsTopicResponse.ListOffsetsPartitionResponse
        if index < 0 or index >= self.topics.get(topic, 0):
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
