"""aiokafka as a workload client (imported only when a run asks for it).

aiokafka probes ApiVersions and checks record-batch CRCs by default, so it rejects chronik's
IEEE CRC-32 batches (crc32_ieee_batches); check_crcs=False (this driver's default, like the
others) skips the check. Each call runs the client on its own event loop in the calling thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chronik_lab.wire.outcomes import Outcome, classify

CONNECT_TIMEOUT_MS = 5_000


class AiokafkaClient:
    name = "aiokafka"

    def __init__(self, bootstrap: str, check_crcs: bool = False) -> None:
        import aiokafka  # noqa: F401

        self.bootstrap = bootstrap
        self.check_crcs = check_crcs
        self._loop = asyncio.new_event_loop()
        self._producer: Any = None

    def open_producer(self, acks: int) -> None:
        from aiokafka import AIOKafkaProducer

        async def start() -> Any:
            p = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all" if acks == -1 else acks,
                enable_idempotence=False,
                max_batch_size=16 * 1024 * 1024,
                request_timeout_ms=10_000,
            )
            try:
                await asyncio.wait_for(p.start(), CONNECT_TIMEOUT_MS / 1000)
            except BaseException:
                await p.stop()
                raise
            return p

        self._producer = self._loop.run_until_complete(start())

    def send(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float
    ) -> list[Outcome]:
        async def go() -> list[Outcome]:
            # One explicit batch per partition (aiokafka's flush() waits out linger_ms rather
            # than sending at once): each planned request leaves as one produce request.
            by_partition: dict[int, list[int]] = {}
            for i, (partition, _) in enumerate(messages):
                by_partition.setdefault(partition, []).append(i)
            out: list[Outcome] = [Outcome("info")] * len(messages)
            for partition, indexes in by_partition.items():
                batch = self._producer.create_batch()
                for i in indexes:
                    batch.append(key=None, value=messages[i][1], timestamp=None)
                batch.close()
                try:
                    future = await self._producer.send_batch(batch, topic, partition=partition)
                    meta = await asyncio.wait_for(future, timeout_s)
                except Exception as exc:  # noqa: BLE001
                    for i in indexes:
                        out[i] = classify(exc)
                    continue
                for n, i in enumerate(indexes):  # a batch's records take consecutive offsets
                    out[i] = Outcome("ok", meta.offset + n if meta.offset >= 0 else None)
            return out

        return self._loop.run_until_complete(go())

    def close_producer(self) -> None:
        if self._producer is not None:
            self._loop.run_until_complete(self._producer.stop())
            self._producer = None

    def consume(self, topic: str, partitions: int, stop: Any) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def go() -> None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                check_crcs=self.check_crcs,
                fetch_max_wait_ms=100,
                request_timeout_ms=10_000,
            )
            await asyncio.wait_for(consumer.start(), CONNECT_TIMEOUT_MS / 1000)
            try:
                tps = [TopicPartition(topic, p) for p in range(partitions)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                while True:
                    polled = await consumer.getmany(timeout_ms=100, max_records=500)
                    got = [
                        (tp.partition, m.offset, m.value)
                        for tp, msgs in sorted(polled.items(), key=lambda kv: kv[0].partition)
                        for m in msgs
                    ]
                    if stop(got):
                        return
            finally:
                await consumer.stop()

        self._loop.run_until_complete(go())

    def close(self) -> None:
        self.close_producer()
        self._loop.close()
