"""kafka-python as a workload client (imported only when a run asks for it).

Configured like chronik's compat tests' kafka-python 2.0.2 defaults where kafka-python 3 changed
them: no idempotence, no retries (a retried batch would be the client's duplicate, not the
broker's). `api_version=(0, 10, 0)` reproduces the compat tests exactly (no ApiVersions,
Produce v2 with magic-1 message sets, Fetch v2); None lets the client discover versions.
`check_crcs=False` by default: chronik's record batches carry an IEEE CRC-32 that kafka-python 3
rejects (the crc32_ieee_batches switch); pass True to see the client refuse them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from chronik_lab.wire.outcomes import Outcome, classify

CONNECT_TIMEOUT_MS = 5_000


class KafkaPythonClient:
    name = "kafka-python"

    def __init__(
        self, bootstrap: str, api_version: tuple[int, ...] | None = None, check_crcs: bool = False
    ) -> None:
        import kafka  # noqa: F401  (fail here, with the client's own ImportError)

        self.bootstrap = bootstrap
        self.common: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "request_timeout_ms": 5_000,
            "bootstrap_timeout_ms": CONNECT_TIMEOUT_MS,
        }
        if api_version is not None:
            self.common["api_version"] = tuple(api_version)
        self.check_crcs = check_crcs
        self._producer: Any = None

    def open_producer(self, acks: int) -> None:
        from kafka import KafkaProducer

        self._producer = KafkaProducer(
            acks=acks,
            retries=0,
            enable_idempotence=False,
            linger_ms=60_000,  # nothing leaves before flush(): one request per planned batch
            batch_size=16 * 1024 * 1024,
            max_block_ms=CONNECT_TIMEOUT_MS,
            **self.common,
        )

    def send(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float
    ) -> list[Outcome]:
        """Send (partition, value) messages, flush, and say what happened to each."""
        futures = []
        for partition, value in messages:
            try:
                futures.append(self._producer.send(topic, value=value, partition=partition))
            except Exception as exc:  # noqa: BLE001 - every client error becomes an outcome
                futures.append(exc)
        with contextlib.suppress(Exception):  # the futures below say which sends failed
            self._producer.flush(timeout=timeout_s)
        out = []
        for f in futures:
            if isinstance(f, Exception):
                out.append(classify(f))
            elif not f.is_done:  # flush gave up: the broker never answered this one
                out.append(Outcome("info", None, f"no acknowledgement within {timeout_s} s"))
            elif f.failed():
                out.append(classify(f.exception))
            else:
                offset = f.value.offset
                out.append(Outcome("ok", offset if offset >= 0 else None))
        return out

    def close_producer(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=2)
            self._producer = None

    def consume(self, topic: str, partitions: int, stop: Any) -> None:
        """Poll from earliest until `stop(records)` says enough; records are
        (partition, offset, value) tuples of one poll."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            check_crcs=self.check_crcs,
            fetch_max_wait_ms=100,
            **self.common,
        )
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while True:
                polled = consumer.poll(timeout_ms=100, max_records=500)
                got = [
                    (tp.partition, m.offset, m.value)
                    for tp, msgs in sorted(polled.items(), key=lambda kv: kv[0].partition)
                    for m in msgs
                ]
                if stop(got):
                    return
        finally:
            consumer.close()
            time.sleep(0)  # let the client's threads notice
