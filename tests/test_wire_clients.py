"""Real Kafka clients against the wire server, end to end: kafka-python (a dependency),
confluent-kafka and aiokafka (the `test` extra). Every server is stopped by a `with` block or a
finally."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

import chronik_lab as cl
from chronik_lab import wire

pytest.importorskip("kafka")
CLIENTS = ["kafka-python", "confluent-kafka", "aiokafka"]
SEED_IDS = [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]
NO_CRC_SWITCH = sorted(cl.PRESETS["v0.7.5"] - {"crc32_ieee_batches"})


def _run(scenario: cl.Scenario, client: str, **options) -> cl.Run:
    for module in ("kafka", "confluent_kafka", "aiokafka"):
        if client.startswith(module.split("_")[0]):
            pytest.importorskip(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the partial-history warning
        return cl.run(scenario, client=client, **options)


@pytest.mark.parametrize("client", CLIENTS)
def test_fixed_broker_gives_every_client_each_id_once_at_its_offset(client):
    s = cl.Scenario(messages=30, batch_sizes=(10, 20), acks=-1, bugs="fixed", flush_batches=2)
    run = _run(s, client)
    assert run.sent["offset"].tolist() == list(range(30))
    assert run.received_ids == list(range(30))
    assert run.received["offset"].tolist() == list(range(30))
    assert run.report.ok


@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_sees_the_seeds_duplication_at_offsets_0_to_19(client):
    run = _run(cl.SEED, client)
    assert run.received_ids == SEED_IDS  # chronik's fetch range: empty at 20, the client stops
    assert run.received["offset"].tolist() == list(range(20))
    assert run.report.counts["duplicate"] > 0
    assert not run.segment_snapshots.empty  # the engine's state while the client ran


@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_loses_records_under_v076_as_the_simulation_does(client):
    run = _run(cl.SEED.with_bugs("v0.7.6"), client)
    simulated = cl.run(cl.SEED.with_bugs("v0.7.6"))
    assert run.received_ids == simulated.received_ids
    assert run.received["message_id"].nunique() < 10
    assert run.report.counts["lost-write"] + run.report.counts["unseen"] > 0


@pytest.mark.parametrize("api_version", [(0, 10, 0), None], ids=["0.10.0", "discovered"])
@pytest.mark.parametrize("bugs", ["fixed", "v0.7.5"])
def test_kafka_python_with_and_without_version_discovery(api_version, bugs):
    run = _run(cl.SEED.with_bugs(bugs), "kafka-python", api_version=api_version)
    expected = list(range(10)) if bugs == "fixed" else SEED_IDS
    assert run.received_ids == expected
    assert run.received["offset"].tolist() == list(range(len(expected)))


@pytest.mark.slow  # waits out its consumers' timeouts
def test_under_kafkas_fetch_range_the_client_resets_and_reads_the_seed_again():
    kafka_rule = sorted(cl.PRESETS["v0.7.5"] - {"chronik_fetch_range"})
    run = _run(cl.SEED.with_bugs(kafka_rule), "kafka-python")
    assert run.received_ids[:40] == SEED_IDS * 2  # OFFSET_OUT_OF_RANGE at 20: from 0 again
    assert run.consumer_capped


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_crc_checking_clients_refuse_chroniks_ieee_crc_batches(client):
    run = _run(cl.SEED, client, check_crcs=True)
    assert run.received.empty
    clean = _run(cl.SEED.with_bugs(NO_CRC_SWITCH), client, check_crcs=True)
    assert clean.received_ids == SEED_IDS


def test_a_run_whose_consumer_failed_warns_that_its_history_is_partial():
    with pytest.warns(RuntimeWarning, match="partial"):
        cl.run(cl.SEED, client="kafka-python", check_crcs=True)


def _values(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"id": i}).encode() for i in range(start, start + n)]


def _produce(bootstrap: str, values: list[bytes], topic: str = "g") -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks=-1, retries=0, enable_idempotence=False)
    try:
        for v in values:
            p.send(topic, v, partition=0).get(timeout=10)
    finally:
        p.close(timeout=5)


def _group_consumer(bootstrap: str, group: str = "lab", topic: str = "g"):
    from kafka import KafkaConsumer

    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    c.subscribe([topic])
    return c


def _take(consumer, n: int | None = None) -> list[int]:
    """Ids read until n arrived (then commit) or the consumer timed out."""
    got = []
    deadline = time.monotonic() + 20
    for m in consumer:
        got.append(json.loads(m.value)["id"])
        if (n is not None and len(got) >= n) or time.monotonic() > deadline:
            break
    return got


@pytest.mark.slow  # waits out its consumers' timeouts
def test_a_second_group_member_resumes_after_the_committed_offset():
    with cl.serve(bugs="fixed", partitions=1) as server:
        _produce(server.bootstrap, _values(10))
        first = _group_consumer(server.bootstrap)
        try:
            assert _take(first, 6) == list(range(6))
            first.commit()
        finally:
            first.close()
        second = _group_consumer(server.bootstrap)
        try:
            assert _take(second) == [6, 7, 8, 9]
            second.commit()
        finally:
            second.close()
        third = _group_consumer(server.bootstrap)
        try:
            assert _take(third) == []  # nothing more
        finally:
            third.close()


@pytest.mark.slow
def test_restart_with_a_data_dir_loses_nothing_and_repeats_nothing(tmp_path):
    data = tmp_path / "data"
    with cl.serve(bugs="fixed", partitions=1, data_dir=data) as server:
        _produce(server.bootstrap, _values(10))
        c = _group_consumer(server.bootstrap)
        try:
            before = _take(c, 6)
            c.commit()
        finally:
            c.close()
    with cl.serve(bugs="fixed", partitions=1, data_dir=data) as server:
        _produce(server.bootstrap, _values(5, start=10))
        c = _group_consumer(server.bootstrap)
        try:
            after = _take(c)
        finally:
            c.close()
    assert before == list(range(6))
    assert after == list(range(6, 15))


@pytest.mark.slow
def test_a_broker_that_stops_mid_run_gives_a_partial_history():
    threads = set(threading.enumerate())
    server = cl.serve(bugs="fixed", partitions=1)
    stopper = threading.Timer(1.0, server.stop)
    stopper.start()
    try:
        rec = wire.record(
            server.bootstrap, messages=20, batch_sizes=[1] * 20, acks=-1, pause_ms=150
        )
    finally:
        stopper.join()
        server.stop()
    assert rec.partial and rec.error
    types = rec.history.loc[rec.history["f"] == "send", "type"]
    assert (types == "ok").any() and (types != "ok").any()
    report = cl.check(rec.history)  # the checker reads a partial history as it is
    assert report.counts["duplicate"] == 0
    # the client's threads (the producer's sender, whose close timed out) ended with the run
    assert not [t for t in threading.enumerate() if t not in threads and t.is_alive()]


@pytest.mark.parametrize(
    "client", [pytest.param("kafka-python", marks=pytest.mark.slow), "aiokafka"]
)  # kafka-python waits out its metadata timeout
def test_an_unreachable_broker_gives_failed_sends_and_one_line_and_leaks_nothing(client):
    pytest.importorskip(client.split("-")[0])
    threads, sockets = set(threading.enumerate()), _open_sockets()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        rec = wire.record("127.0.0.1:1", messages=3, client=client)
        gc.collect()  # an unclosed socket or event loop says so when it is collected
    assert rec.partial and "\n" not in rec.error
    assert rec.history["type"].tolist() == ["fail"] * 3
    # (the log capture may keep a failed connect's socket alive: look at the fds themselves)
    assert _open_sockets() - sockets == set()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
    assert not [t for t in threading.enumerate() if t not in threads and t.is_alive()]


def _open_sockets() -> set[str]:
    """This process's open sockets, as /proc names them ("socket:[inode]")."""
    targets = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # an fd closed while we look
            targets.add(os.readlink(fd))
    return {t for t in targets if t.startswith("socket:")}


@pytest.mark.slow  # waits out its consumers' timeouts
def test_the_readme_five_line_kafka_python_example_sees_the_duplication():
    # The example of the README's "Speak Kafka" section, as written there.
    from kafka import KafkaConsumer, KafkaProducer

    with cl.serve(bugs="v0.7.5", flush_batches=2, partitions=1) as server:
        p = KafkaProducer(
            bootstrap_servers=server.bootstrap, acks=-1, linger_ms=60000, enable_idempotence=False
        )
        for batch in ([0, 1, 2, 3], [4, 5, 6, 7, 8, 9]):
            [p.send("t", b'{"id": %d}' % i, partition=0) for i in batch]
            p.flush()
        c = KafkaConsumer(
            "t",
            bootstrap_servers=server.bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=2000,
            check_crcs=False,
        )
        got = [(m.offset, json.loads(m.value)["id"]) for m in c]
        c.close()
        p.close()
    assert got == list(enumerate(SEED_IDS))


@pytest.mark.parametrize("client", CLIENTS)
def test_acks_0_sends_are_unknown_and_still_read_back(client):
    s = cl.Scenario(messages=10, batch_sizes="auto", acks=0, bugs="fixed", flush_batches=2)
    run = _run(s, client)  # librdkafka reports no offset (None) for acks=0
    sends = run.history[run.history["f"] == "send"]
    assert set(sends["type"]) == {"info"}
    assert run.received_ids == list(range(10))
