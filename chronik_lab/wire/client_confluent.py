"""confluent-kafka (librdkafka) as a workload client (imported only when a run asks for it).

librdkafka discovers versions with ApiVersions v3 and speaks the flexible versions of the APIs
it picks. No idempotence and no retries, as for the other clients. `check.crcs` is librdkafka's
own default (off): it does not notice chronik's IEEE CRC-32; pass check_crcs=True to have it
check (it then reports the batches as corrupt).
"""

from __future__ import annotations

import uuid
from typing import Any

from chronik_lab.wire.configs import FETCH_WAIT_MS
from chronik_lab.wire.outcomes import Outcome, classify, kind_of_code

CONNECT_TIMEOUT_MS = 5_000


class ConfluentClient:
    name = "confluent-kafka"

    def __init__(
        self,
        bootstrap: str,
        check_crcs: bool = False,
        producer_config: dict[str, Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
        **config: Any,
    ) -> None:
        import confluent_kafka  # noqa: F401

        self.bootstrap = bootstrap
        self.check_crcs = check_crcs
        self.config = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10_000} | config
        self.producer_config = dict(producer_config or {})
        self.consumer_config = dict(consumer_config or {})
        self._producer: Any = None

    def open_producer(self, acks: int) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(
            self.config
            | {
                "acks": str(acks),
                "enable.idempotence": False,
                "retries": 0,
                "linger.ms": 20_000,  # nothing leaves before flush(): one request per batch
                "batch.num.messages": 1_000_000,
                "batch.size": 16 * 1024 * 1024,
                "message.timeout.ms": 40_000,
            }
            | self.producer_config
        )

    def open_plain_producer(self, acks: int) -> None:
        """A producer on librdkafka's own defaults, bounded in time (see the module doc)."""
        from confluent_kafka import Producer

        bounds = {"socket.timeout.ms": 5_000, "message.timeout.ms": 30_000}
        self._producer = Producer(self.config | bounds | {"acks": str(acks)} | self.producer_config)

    def send(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float
    ) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(messages)

        def done(index: int):
            def report(err: Any, msg: Any) -> None:
                if err is None:
                    offset = msg.offset()
                    ok = offset is not None and offset >= 0  # None: acks=0, never answered
                    results[index] = Outcome("ok", offset if ok else None)
                else:
                    results[index] = Outcome(kind_of_code(err.code()), None, str(err))

            return report

        for i, (partition, value) in enumerate(messages):
            try:
                self._producer.produce(topic, value=value, partition=partition, on_delivery=done(i))
            except Exception as exc:  # noqa: BLE001 - e.g. a full local queue
                results[i] = classify(exc)
        self._producer.flush(timeout_s)
        return [
            r if r is not None else Outcome("info", None, "no delivery report") for r in results
        ]

    def close_producer(self) -> None:
        if self._producer is not None:
            self._producer.flush(2)
            self._producer = None

    def close(self) -> None:
        self.close_producer()

    def consume(self, topic: str, partitions: int, stop: Any) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

        consumer = Consumer(
            self.config
            | {
                "group.id": f"chronik-lab-{uuid.uuid4()}",  # required; offsets never committed
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "check.crcs": self.check_crcs,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
                "enable.partition.eof": False,
            }
            | self.consumer_config
        )
        try:
            # Leaders known before assign(): otherwise librdkafka finds no leader for the
            # earliest-offset query and retries it only after a fixed 500 ms.
            consumer.list_topics(topic, timeout=CONNECT_TIMEOUT_MS / 1000)
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
            while True:
                got = []
                for m in consumer.consume(num_messages=500, timeout=FETCH_WAIT_MS / 1000):
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise RuntimeError(f"confluent-kafka consumer: {err}")
                    got.append((m.partition(), m.offset(), m.value()))
                if stop(got):
                    return
        finally:
            consumer.close()
