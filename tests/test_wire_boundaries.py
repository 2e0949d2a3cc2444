"""Request boundaries through real clients: each planned produce request of a scenario must reach
the engine as exactly one produce request carrying one record batch, in plan order, even though
the drivers keep several requests in flight -- the engine's bugs depend on those boundaries and
on when each flush happens. And the consumer's end condition (`Server.caught_up`): the broker's
last fetch answer was empty at the consumer's position. Every server a test starts is stopped by
its `with` block."""

from __future__ import annotations

import socket

import pytest
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka_frames import read_frame, record_batch

import chronik_lab as cl
from chronik_lab import wire

CLIENTS = ["kafka-python", "confluent-kafka", "aiokafka"]
PRODUCE_STEPS = ["step", "partition", "first_offset", "last_offset", "count", "detail", "source"]
TOPIC = "chronik-test"


def _skip_unless_installed(client: str) -> None:
    pytest.importorskip(
        {"kafka-python": "kafka", "confluent-kafka": "confluent_kafka"}.get(client, client)
    )


@pytest.mark.parametrize("client", CLIENTS)
def test_each_planned_request_reaches_the_server_as_one_request_of_one_batch(client):
    _skip_unless_installed(client)
    sizes = list(cl.seed_sizes(1_000))  # 200 requests: far more than the pipeline's window
    with cl.serve(bugs="v0.7.5", flush_batches=2, partitions=1) as server:
        rec = wire.record(
            server.bootstrap,
            topic=TOPIC,
            messages=1_000,
            batch_sizes=sizes,
            acks=-1,
            client=client,
            done=lambda positions: server.caught_up(TOPIC, positions),
        )
        written = server.produced
    assert rec.error is None
    assert [w.records for w in written] == sizes
    assert {w.batches for w in written} == {1}
    assert {(w.topic, w.partition) for w in written} == {(TOPIC, 0)}
    numbers = [w.request for w in written]
    assert numbers == sorted(set(numbers))  # one planned request per produce request, in order
    starts = [0, *[sum(sizes[:i]) for i in range(1, len(sizes))]]
    assert [w.base_offset for w in written] == starts
    assert rec.sent["offset"].tolist() == list(range(1_000))


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    ("bugs", "messages"),
    [("v0.7.5", 200), ("v0.7.5", 1_000), ("fixed", 1_000)],
    ids=["v0.7.5-200", "v0.7.5-1000", "fixed-1000"],
)
def test_a_client_run_takes_the_simulations_produce_and_flush_steps(client, bugs, messages):
    """The engine's own trace of the produce side (every pending push, flush, segment write,
    buffer update and high-watermark move, with offsets and counts) is the simulation's, step
    for step, and the client receives the simulation's ids. At 200 messages v0.7.5 duplicates
    every id; at 1,000 its buffer cap has dropped them all (all unseen, in both)."""
    _skip_unless_installed(client)
    s = cl.Scenario(messages=messages, batch_sizes="auto", acks=-1, bugs=bugs, flush_batches=2)
    simulated, real = cl.run(s), cl.run(s, client=client)
    assert _produce_side(real.trace).equals(_produce_side(simulated.trace))
    assert real.received_ids == simulated.received_ids
    assert real.report.counts == simulated.report.counts
    assert not real.consumer_capped


def _produce_side(trace):
    broker = trace[(trace["actor"] == "broker") & ~trace["step"].str.startswith("fetch")]
    return broker[PRODUCE_STEPS].reset_index(drop=True)


# -- the server's records of what reached it, at the byte level ---------------------------------


def _call(sock: socket.socket, request, version: int):
    request.with_header(correlation_id=1, client_id="test")
    sock.sendall(request.encode(version=version, header=True, framed=True))
    frame = read_frame(sock)
    response = {ProduceRequest: ProduceResponse, FetchRequest: FetchResponse}.get(type(request))
    return None if response is None else response.decode(frame, version=version, header=True)


def _produce(records: bytes) -> ProduceRequest:
    part = ProduceRequest.TopicProduceData.PartitionProduceData(index=0, records=records)
    data = ProduceRequest.TopicProduceData(name="t", partition_data=[part])
    return ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[data])


def _fetch(offset: int) -> FetchRequest:
    p = FetchRequest.FetchTopic.FetchPartition(
        partition=0, fetch_offset=offset, partition_max_bytes=1 << 20
    )
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=1 << 20,
        topics=[FetchRequest.FetchTopic(topic="t", partitions=[p])],
    )


@pytest.fixture
def sock():
    with cl.serve(bugs="fixed", partitions=1) as server:
        s = socket.create_connection((server.host, server.port), timeout=5)
        try:
            s.settimeout(5)
            req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="t")])
            req.with_header(correlation_id=1, client_id="test")
            s.sendall(req.encode(version=1, header=True, framed=True))
            read_frame(s)
            yield server, s
        finally:
            s.close()


def test_the_produce_log_counts_batches_so_two_in_one_request_show(sock):
    server, s = sock
    _call(s, _produce(record_batch(b"a", b"b")), 7)
    _call(s, _produce(record_batch(b"c") + record_batch(b"d", b"e", b"f")), 7)
    assert [
        (w.request, w.partition, w.batches, w.records, w.base_offset) for w in server.produced
    ] == [
        (1, 0, 1, 2, 0),
        (2, 0, 2, 4, 2),
    ]


def test_caught_up_only_after_an_empty_answer_at_the_consumers_position(sock):
    server, s = sock
    assert not server.caught_up("t", {0: None})  # nothing answered yet
    _call(s, _fetch(0), 11)
    assert server.caught_up("t", {0: None})  # an empty log, read from its start
    _call(s, _produce(record_batch(b"a", b"b", b"c")), 7)
    _call(s, _fetch(0), 11)  # records: not the end
    assert not server.caught_up("t", {0: 3})
    _call(s, _fetch(3), 11)  # empty at the high watermark
    assert server.caught_up("t", {0: 3})
    assert not server.caught_up("t", {0: 2})  # a consumer behind that answer is not
    assert not server.caught_up("t", {0: 3, 1: None})  # nor one with a partition never asked


def test_an_out_of_range_answer_is_not_caught_up(sock):
    server, s = sock
    _call(s, _produce(record_batch(b"a")), 7)
    answer = _call(s, _fetch(5), 11).responses[0].partitions[0]
    assert answer.error_code == 1  # the consumer resets and reads again: not the end
    assert not server.caught_up("t", {0: 5})


def test_a_consumer_that_received_nothing_is_at_the_log_start(sock):
    server, s = sock
    _call(s, _produce(record_batch(b"a")), 7)
    _call(s, _fetch(1), 11)  # empty, but not where such a consumer reads
    assert not server.caught_up("t", {0: None})
