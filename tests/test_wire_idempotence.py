"""Kafka's idempotent producer over the wire: three real clients with idempotence on, against
`cl.serve()` losing some of their Produce answers (`drop_produce_responses`: written, then the
connection closes unanswered). Each retries, the broker recognises the retry, and every message
is in the log once, at the offset its producer was told. Without dedup (`no_producer_dedup`)
the same retries duplicate. InitProducerId with a transactional id gets a clear error."""

from __future__ import annotations

import asyncio

import pytest

import chronik_lab as cl

pytest.importorskip("kafka")
T = "idem"
N = 12
DROPPED = [2, 5]  # Produce requests whose answers are lost


def kafka_python(bootstrap: str) -> dict[int, int]:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        retries=10,
        retry_backoff_ms=20,
        request_timeout_ms=5000,
        max_block_ms=10000,
    )
    try:
        return {i: producer.send(T, b"%d" % i, partition=0).get(10).offset for i in range(N)}
    finally:
        producer.close(5)


def confluent(bootstrap: str) -> dict[int, int]:
    from confluent_kafka import Producer

    told: dict[int, int] = {}

    def delivered(err, msg) -> None:
        assert err is None, err
        told[int(msg.value())] = msg.offset()

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "max.in.flight.requests.per.connection": 5,
            "linger.ms": 0,
            "retry.backoff.ms": 20,
            "message.timeout.ms": 20000,
        }
    )
    for i in range(N):
        producer.produce(T, b"%d" % i, partition=0, on_delivery=delivered)
        producer.flush(10)  # one message per request, so the dropped answers hit messages
    assert producer.flush(20) == 0
    return told


def aiokafka(bootstrap: str) -> dict[int, int]:
    from aiokafka import AIOKafkaProducer

    async def main() -> dict[int, int]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            retry_backoff_ms=20,
            request_timeout_ms=5000,
        )
        await producer.start()
        try:
            told = {}
            for i in range(N):
                meta = await producer.send_and_wait(T, b"%d" % i, partition=0)
                told[i] = meta.offset
            return told
        finally:
            await producer.stop()

    return asyncio.run(asyncio.wait_for(main(), 60))


CLIENTS = {"kafka-python": kafka_python, "confluent-kafka": confluent, "aiokafka": aiokafka}
MODULES = {"kafka-python": "kafka", "confluent-kafka": "confluent_kafka", "aiokafka": "aiokafka"}


def stored(server) -> tuple[list[int], list[int]]:
    with server.lock:
        records = server.broker.fetch(T, 0).records
    ids = [int(v) for v in records.column("value").to_pylist()]
    return ids, records.column("producer_id").to_pylist()


@pytest.mark.parametrize(
    "client",
    [
        pytest.param(c, marks=pytest.mark.slow) if c == "confluent-kafka" else c
        for c in sorted(CLIENTS)
    ],
)  # librdkafka takes about a second to give up on the lost answers and retry
def test_lost_answers_are_retried_and_every_message_kept_once_at_its_offset(client) -> None:
    pytest.importorskip(MODULES[client])
    with cl.serve(partitions=1, drop_produce_responses=DROPPED) as server:
        told = CLIENTS[client](server.bootstrap)
        ids, producers = stored(server)
        retried = server.produce_requests > N  # the lost answers' requests came again
    assert ids == list(range(N))  # once each, in order
    assert told == {i: i for i in range(N)}  # each at the offset the producer was told
    assert retried
    assert len(set(producers)) == 1 and producers[0] >= 0  # the producer's id is kept


def test_without_dedup_the_same_retries_duplicate() -> None:
    with cl.serve(partitions=1, drop_produce_responses=DROPPED, bugs="no_producer_dedup") as s:
        kafka_python(s.bootstrap)
        ids, _ = stored(s)
    assert sorted(set(ids)) == list(range(N))
    assert len(ids) == N + len(DROPPED)  # each lost answer's message written twice


def test_fetched_batches_keep_the_producers_fields() -> None:
    from kafka import KafkaConsumer

    with cl.serve(partitions=1) as server:
        kafka_python(server.bootstrap)
        consumer = KafkaConsumer(
            T, bootstrap_servers=server.bootstrap, auto_offset_reset="earliest",
            consumer_timeout_ms=3000,
        )  # fmt: skip
        try:
            seen = []
            for message in consumer:
                seen.append(message.value)
                if len(seen) == N:
                    break
        finally:
            consumer.close()
        with server.lock:
            from chronik_lab.wire.batches import encode_batch

            records = server.broker.fetch(T, 0).records
            raw = encode_batch(records, server.broker.bugs)
    assert seen == [b"%d" % i for i in range(N)]
    from kafka.record.default_records import DefaultRecordBatch

    first = DefaultRecordBatch(raw)
    assert first.producer_id == records.column("producer_id")[0].as_py() >= 0
    assert (first.producer_epoch, first.base_sequence) == (0, 0)


def test_a_transactional_init_producer_id_gets_a_clear_error_not_a_hang() -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    with cl.serve(partitions=1) as server, pytest.raises(KafkaError) as info:
        producer = KafkaProducer(
            bootstrap_servers=server.bootstrap, transactional_id="tx", max_block_ms=5000
        )
        try:
            producer.init_transactions()
        finally:
            producer.close(1)
    assert "TransactionalIdAuthorization" in type(info.value).__name__ + str(info.value)


def confluent_transactions(bootstrap: str) -> str:
    from confluent_kafka import KafkaException, Producer

    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "tx"})
    with pytest.raises(KafkaException) as info:
        producer.init_transactions(10)
    return info.value.args[0].name()


def aiokafka_transactions(bootstrap: str) -> str:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    async def main() -> str:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, transactional_id="tx", request_timeout_ms=5000
        )
        try:
            with pytest.raises(KafkaError) as info:
                await producer.start()
        finally:
            await producer.stop()
        return type(info.value).__name__

    return asyncio.run(asyncio.wait_for(main(), 30))


TRANSACTIONAL = {"confluent-kafka": confluent_transactions, "aiokafka": aiokafka_transactions}


@pytest.mark.parametrize("client", sorted(TRANSACTIONAL))
def test_every_client_s_transactional_init_gets_the_authorization_error(client) -> None:
    pytest.importorskip(MODULES[client])
    with cl.serve(partitions=1) as server:
        error = TRANSACTIONAL[client](server.bootstrap)
    assert error.replace("_", "").lower() == "transactionalidauthorizationfailed"
