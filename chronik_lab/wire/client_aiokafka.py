"""aiokafka as a workload client (imported only when a run asks for it).

aiokafka probes ApiVersions and checks record-batch CRCs by default, so it rejects chronik's
IEEE CRC-32 batches (crc32_ieee_batches); check_crcs=False (this driver's default, like the
others) skips the check. Each call runs the client on its own event loop in the calling thread,
made at the first call and closed by `close()` (the workload closes every driver it makes).

Request boundaries: each planned request's messages go into one explicit batch per partition
(`create_batch` / `send_batch`; aiokafka's `flush()` waits out linger_ms rather than sending at
once). aiokafka queues at most one batch per partition (`add_batch` waits until the previous one
is drained) and its sender drains one batch per partition into a produce request, with one
request in flight per broker. So `send_requests` hands over request i+1's batch without waiting
for request i's answer -- it is built while request i is on the wire -- and collects answers in
order.

Under faults (`open_plain_producer`, `send`) the producer keeps aiokafka's own defaults
(idempotence off) with only the lab's time bounds; `producer_config` / `consumer_config`
(configs.py) override everything the driver sets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from chronik_lab.wire.configs import FETCH_WAIT_MS
from chronik_lab.wire.outcomes import Outcome, classify, windowed

CONNECT_TIMEOUT_MS = 5_000
STOP_TIMEOUT_S = 5.0


class AiokafkaClient:
    name = "aiokafka"

    def __init__(
        self,
        bootstrap: str,
        check_crcs: bool = False,
        producer_config: dict[str, Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        import aiokafka  # noqa: F401

        self.bootstrap = bootstrap
        self.check_crcs = check_crcs
        self.producer_config = dict(producer_config or {})
        self.consumer_config = dict(consumer_config or {})
        # The loop is made by the first run; a loop_factory keeps it out of the thread's
        # current-loop slot, which the caller may be using.
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        self._producer: Any = None

    def _run(self, coroutine: Any) -> Any:
        """Run `coroutine` to its end on this driver's event loop."""
        return self._runner.run(coroutine)

    def open_producer(self, acks: int) -> None:
        self._start_producer(
            acks, {"enable_idempotence": False, "max_batch_size": 16 * 1024 * 1024}
        )

    def open_plain_producer(self, acks: int) -> None:
        """A producer on aiokafka's own defaults, bounded in time (see the module doc)."""
        self._start_producer(acks, {"request_timeout_ms": 5_000})

    def _start_producer(self, acks: int, settings: dict[str, Any]) -> None:
        from aiokafka import AIOKafkaProducer

        async def start() -> Any:
            p = AIOKafkaProducer(
                **{"bootstrap_servers": self.bootstrap, "request_timeout_ms": 10_000}
                | settings
                | {"acks": "all" if acks == -1 else acks}
                | self.producer_config
            )
            try:
                await asyncio.wait_for(p.start(), CONNECT_TIMEOUT_MS / 1000)
            except BaseException:
                await p.stop()
                raise
            return p

        self._producer = self._run(start())

    def send_requests(
        self,
        topic: str,
        requests: Iterable[list[tuple[int, bytes]]],
        timeout_s: float,
        window: int,
    ) -> Iterator[list[Outcome]]:
        """Send each request's (partition, value) messages as one batch per partition, up to
        `window` requests unanswered; yield each request's outcomes, in order."""
        yield from windowed(
            requests,
            lambda messages: (len(messages), self._run(self._submit(topic, messages, timeout_s))),
            lambda submitted: self._run(self._settle(*submitted, timeout_s)),
            window,
        )

    def send(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float
    ) -> list[Outcome]:
        """Send (partition, value) messages the client's own way; what happened to each."""

        async def go() -> list[Outcome]:
            futures: list[Any] = []
            for partition, value in messages:
                try:
                    futures.append(await self._producer.send(topic, value, partition=partition))
                except Exception as exc:  # noqa: BLE001
                    futures.append(exc)
            return [await _outcome(f, timeout_s) for f in futures]

        return self._run(go())

    async def _submit(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float
    ) -> list[tuple[list[int], Any]]:
        """One batch per partition handed to the producer: (message indexes, the delivery
        future, or the exception that refused the batch)."""
        by_partition: dict[int, list[int]] = {}
        for i, (partition, _) in enumerate(messages):
            by_partition.setdefault(partition, []).append(i)
        out: list[tuple[list[int], Any]] = []
        for partition, indexes in by_partition.items():
            batch = self._producer.create_batch()
            for i in indexes:
                batch.append(key=None, value=messages[i][1], timestamp=None)
            batch.close()
            try:
                future = await asyncio.wait_for(
                    self._producer.send_batch(batch, topic, partition=partition), timeout_s
                )
            except Exception as exc:  # noqa: BLE001
                future = exc
            out.append((indexes, future))
        return out

    async def _settle(
        self, n: int, parts: list[tuple[list[int], Any]], timeout_s: float
    ) -> list[Outcome]:
        out: list[Outcome] = [Outcome("info")] * n
        for indexes, future in parts:
            try:
                if isinstance(future, Exception):
                    raise future
                meta = await asyncio.wait_for(future, timeout_s)
            except Exception as exc:  # noqa: BLE001
                for i in indexes:
                    out[i] = classify(exc)
                continue
            base = getattr(meta, "offset", -1)  # acks=0: no metadata, never answered
            for k, i in enumerate(indexes):  # a batch's records take consecutive offsets
                out[i] = Outcome("ok", base + k if base >= 0 else None)
        return out

    def close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            # stop() waits for batches still queued: bounded, as a broker may be gone
            with contextlib.suppress(Exception):
                self._run(asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S))

    def consume(self, topic: str, partitions: int, stop: Any) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def go() -> None:
            consumer = AIOKafkaConsumer(
                **{
                    "bootstrap_servers": self.bootstrap,
                    "group_id": None,
                    "enable_auto_commit": False,
                    "auto_offset_reset": "earliest",
                    "check_crcs": self.check_crcs,
                    "fetch_max_wait_ms": FETCH_WAIT_MS,
                    "request_timeout_ms": 10_000,
                }
                | self.consumer_config
            )
            try:
                await asyncio.wait_for(consumer.start(), CONNECT_TIMEOUT_MS / 1000)
                tps = [TopicPartition(topic, p) for p in range(partitions)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                while True:
                    polled = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=500)
                    got = [
                        (tp.partition, m.offset, m.value)
                        for tp, msgs in sorted(polled.items(), key=lambda kv: kv[0].partition)
                        for m in msgs
                    ]
                    if stop(got):
                        return
            finally:
                await consumer.stop()

        self._run(go())

    def close(self) -> None:
        """Stop the producer if it runs, then close the event loop (its leftover tasks
        cancelled, its executor shut down, as asyncio.run does); safe to call twice."""
        try:
            self.close_producer()
        finally:
            self._runner.close()


async def _outcome(future: Any, timeout_s: float) -> Outcome:
    """What one send's future ended as (the exception `send` raised, or its metadata)."""
    try:
        if isinstance(future, Exception):
            raise future
        meta = await asyncio.wait_for(future, timeout_s)
    except Exception as exc:  # noqa: BLE001
        return classify(exc)
    offset = getattr(meta, "offset", -1)
    return Outcome("ok", offset if offset is not None and offset >= 0 else None)
