"""kafka-python as a workload client (imported only when a run asks for it).

Configured like chronik's compat tests' kafka-python 2.0.2 defaults where kafka-python 3 changed
them: no idempotence, no retries (a retried batch would be the client's duplicate, not the
broker's). `api_version=(0, 10, 0)` reproduces the compat tests exactly (no ApiVersions,
Produce v2 with magic-1 message sets, Fetch v2); None lets the client discover versions.
`check_crcs=False` by default: chronik's record batches carry an IEEE CRC-32 that kafka-python 3
rejects (the crc32_ieee_batches switch); pass True to see the client refuse them.

Request boundaries without a flush per request (`send_requests`): kafka-python's
RecordAccumulator appends to the last batch of a partition until it is full, and its sender's
`drain_batches_for_one_node` takes at most one batch per partition into a produce request
(kafka-python 3.0, record_accumulator.py). So after a planned request's sends the driver closes
that partition's open batch (`records.close()`, what drain itself does: a closed batch is full,
ready to send, and the next send starts a new batch) and wakes the sender. Each planned request
is then one batch in one produce request, sent without waiting for the previous answer, up to
`window` in flight on the connection (`max_in_flight_requests_per_connection`), answered in
order. This reaches into the accumulator (`_accumulator`, `_sender`): kafka-python has no public
way to end a batch but `flush()`, which waits for every answer.

Under faults (`open_plain_producer`, `send`) the producer keeps kafka-python's own defaults
(idempotence on and retries without end in kafka-python 3) with only the lab's time bounds, and
`producer_config` / `consumer_config` (configs.py) override everything the driver sets.

Three leaks of kafka-python 3.0.12 are closed here, so a `record` against a broker that is down
or goes away leaves no socket or thread behind: KafkaProducer and KafkaConsumer make their
network client (a wake-up socketpair; the consumer's I/O thread) before the bootstrap and drop
it unclosed when the bootstrap fails (`_constructed` closes it); a connect attempt that fails
leaves its socket to the garbage collector (kafka/net/inet.py `sock_connect`;
`close_failed_connects`); and a producer's close() that times out raises before it stops its
sender thread (`close_producer` aborts what is left).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from chronik_lab.wire.configs import FETCH_WAIT_MS
from chronik_lab.wire.outcomes import Outcome, classify, windowed

CONNECT_TIMEOUT_MS = 5_000
MAX_IN_FLIGHT = 16  # produce requests unanswered on the connection
METADATA_BACKOFF_MS = 10  # the least time between two metadata refreshes


class KafkaPythonClient:
    name = "kafka-python"

    def __init__(
        self,
        bootstrap: str,
        api_version: tuple[int, ...] | None = None,
        check_crcs: bool = False,
        producer_config: dict[str, Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        import kafka  # noqa: F401  (fail here, with the client's own ImportError)

        close_failed_connects()
        self.bootstrap = bootstrap
        self.common: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "request_timeout_ms": 5_000,
            "bootstrap_timeout_ms": CONNECT_TIMEOUT_MS,
            "metrics_enabled": False,  # the lab reads none: a third of the sender thread's time
        }
        if api_version is not None:
            self.common["api_version"] = tuple(api_version)
        self.check_crcs = check_crcs
        self.producer_config = dict(producer_config or {})
        self.consumer_config = dict(consumer_config or {})
        self._producer: Any = None

    def open_producer(self, acks: int, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        from kafka import KafkaProducer

        self._producer = _constructed(
            KafkaProducer,
            acks=acks,
            retries=0,  # with no retry, requests in flight cannot be reordered
            enable_idempotence=False,
            linger_ms=60_000,  # a batch leaves when closed (or flushed), not on a timer
            batch_size=16 * 1024 * 1024,
            max_request_size=64 * 1024 * 1024,  # never split a planned request's batches
            max_in_flight_requests_per_connection=max_in_flight,
            max_block_ms=CONNECT_TIMEOUT_MS,
            **self.common | self.producer_config,
        )

    def open_plain_producer(self, acks: int) -> None:
        """A producer on kafka-python's own defaults, bounded in time (see the module doc)."""
        from kafka import KafkaProducer

        bounds = {"max_block_ms": 2 * CONNECT_TIMEOUT_MS, "request_timeout_ms": 5_000}
        self._producer = _constructed(
            KafkaProducer, acks=acks, **self.common | bounds | self.producer_config
        )

    def send(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float
    ) -> list[Outcome]:
        """Send (partition, value) messages the client's own way; what happened to each."""
        return self._settle(self._futures(topic, messages), timeout_s)

    def _futures(self, topic: str, messages: list[tuple[int, bytes]]) -> list[Any]:
        """A future (or the exception send raised) per message."""
        futures: list[Any] = []
        for partition, value in messages:
            try:
                futures.append(self._producer.send(topic, value=value, partition=partition))
            except Exception as exc:  # noqa: BLE001 - every client error becomes an outcome
                futures.append(exc)
        return futures

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
            lambda messages: self._submit(topic, messages, timeout_s, wait_drained=window == 1),
            lambda futures: self._settle(futures, timeout_s),
            window,
        )

    def _submit(
        self, topic: str, messages: list[tuple[int, bytes]], timeout_s: float, wait_drained: bool
    ) -> list[Any]:
        """The sends of one planned request, its batches closed: a future (or the exception
        send raised) per message."""
        from kafka import TopicPartition

        futures = self._futures(topic, messages)
        accumulator = self._producer._accumulator
        closed = []
        for partition in sorted({p for p, _ in messages}):
            tp = TopicPartition(topic, partition)
            with accumulator._tp_lock(tp):
                batches = accumulator._batches.get(tp)
                if batches:
                    batches[-1].records.close()
                    closed.append(batches[-1])
        self._producer._sender.wakeup()
        if wait_drained:  # nothing of the next request may join these batches' produce request
            deadline = time.monotonic() + timeout_s
            while any(b.drained is None for b in closed) and time.monotonic() < deadline:
                time.sleep(0.0001)
        return futures

    def _settle(self, futures: list[Any], timeout_s: float) -> list[Outcome]:
        """Wait for a request's answer; what happened to each of its messages."""
        deadline = time.monotonic() + timeout_s
        out = []
        for f in futures:
            if isinstance(f, Exception):
                out.append(classify(f))
                continue
            with contextlib.suppress(Exception):  # the future below says what happened
                f.get(timeout=max(0.0, deadline - time.monotonic()))
            if not f.is_done:  # the broker never answered this one
                out.append(Outcome("info", None, f"no acknowledgement within {timeout_s} s"))
            elif f.failed():
                out.append(classify(f.exception))
            else:
                offset = f.value.offset
                out.append(Outcome("ok", offset if offset >= 0 else None))
        return out

    def close_producer(self) -> None:
        """Close the producer, waiting at most 2 s for answers; what is still unsent then is
        dropped (the sends' outcomes are already recorded)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            close_producer(producer)

    def consume(self, topic: str, partitions: int, stop: Any) -> None:
        """Poll from earliest until `stop(records)` says enough; records are
        (partition, offset, value) tuples of one poll."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = _constructed(
            KafkaConsumer,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            check_crcs=self.check_crcs,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            **self.common | self.consumer_config,
        )
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while True:
                polled = consumer.poll(timeout_ms=FETCH_WAIT_MS, max_records=500)
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

    def close(self) -> None:
        self.close_producer()


def _constructed(cls: Any, **config: Any) -> Any:
    """`cls(**config)` (a KafkaProducer or KafkaConsumer); if the constructor raises, the
    network client it made is closed before the error goes on (kafka-python does not)."""
    made: list[Any] = []
    make = cls.DEFAULT_CONFIG["kafka_client"]

    def kafka_client(**configs: Any) -> Any:  # kafka-python's documented client factory hook
        made.append(make(**configs))
        # kafka-python 3.0.12 paces metadata refreshes by a retry_backoff_ms of its own (the
        # default, 100 ms, whatever the client was given), counted from the bootstrap's: so a
        # topic's first send or fetch waited 100 ms for its metadata.
        made[-1].cluster.config["retry_backoff_ms"] = METADATA_BACKOFF_MS
        return made[-1]

    try:
        return cls(kafka_client=kafka_client, **config)
    except BaseException:
        for client in made:
            client.close()
        raise


def close_failed_connects() -> None:
    """Make kafka-python close the socket of a connect attempt that failed (refused, timed
    out): its `sock_connect` raises and leaves the socket open. Once per process."""
    from kafka.net.inet import KafkaNetSocket

    connect = KafkaNetSocket.sock_connect
    if getattr(connect, "closes_on_failure", False):
        return

    async def sock_connect(self: Any, net: Any, sock: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await connect(self, net, sock, *args, **kwargs)
        except BaseException:
            sock.close()
            raise

    sock_connect.closes_on_failure = True  # type: ignore[attr-defined]
    KafkaNetSocket.sock_connect = sock_connect


def close_producer(producer: Any, timeout_s: float = 2) -> None:
    """Close a kafka-python KafkaProducer for good, waiting at most `timeout_s` for answers.

    kafka-python 3.0.12's close() raises when its flush times out, before it stops the sender
    thread (and its __del__ then raises again): abort what is left, as its own close does when
    the sender outlives the timeout, and close again."""
    from kafka.errors import KafkaTimeoutError

    try:
        producer.close(timeout=timeout_s)
    except KafkaTimeoutError:
        producer._sender.force_close()
        producer.close(timeout=timeout_s)
