"""The fault proxy in front of the lab's own server: raw frames and a real client, every fault
kind applied and logged, answers in request order, bad peers cost one connection. Every proxy
and server is stopped by its `with` block."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from kafka.protocol.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka_frames import read_frame, record_batch

import chronik_lab as cl
from chronik_lab.errors import InvalidArgumentError
from chronik_lab.wire.faults import FaultSpecError
from chronik_lab.wire.proxy import UNREACHABLE_HOLD_S, proxy

TIMEOUT_S = 5.0


def _connect(bootstrap: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
    return sock


def _produce_frame(value: bytes, correlation_id: int, topic: str = "t") -> bytes:
    part = ProduceRequest.TopicProduceData.PartitionProduceData(
        index=0, records=record_batch(value)
    )
    data = ProduceRequest.TopicProduceData(name=topic, partition_data=[part])
    request = ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[data])
    request.with_header(correlation_id=correlation_id, client_id="test")
    return bytes(request.encode(version=3, header=True, framed=True))


def _answer(sock: socket.socket) -> tuple[int, int]:
    """(correlation id, base offset) of a Produce v3 answer."""
    frame = read_frame(sock)
    response = ProduceResponse.decode(frame, version=3, header=True)
    (correlation_id,) = struct.unpack_from(">i", frame)
    return correlation_id, response.responses[0].partition_responses[0].base_offset


def _closed(sock: socket.socket, within_s: float = TIMEOUT_S) -> bool:
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _metadata(sock: socket.socket, topics: list[str] | None) -> MetadataResponse:
    request = MetadataRequest(
        topics=None
        if topics is None
        else [MetadataRequest.MetadataRequestTopic(name=t) for t in topics]
    )
    request.with_header(correlation_id=5, client_id="test")
    sock.sendall(bytes(request.encode(version=9, header=True, framed=True)))
    return MetadataResponse.decode(read_frame(sock), version=9, header=True)


@pytest.fixture
def server():
    """The lab's server with topic "t" (one partition), created by a Metadata request."""
    with cl.serve(bugs="fixed", partitions=1) as s:
        with _connect(s.bootstrap) as sock:
            _metadata(sock, ["t"])
        yield s


def test_metadata_answers_point_clients_at_the_proxy(server):
    with proxy(server.bootstrap) as p, _connect(p.bootstrap) as sock:
        answer = _metadata(sock, None)
    assert [(b.host, b.port) for b in answer.brokers] == [("127.0.0.1", p.port)]
    assert p.events == []


@pytest.mark.slow
def test_a_real_client_through_the_proxy_reads_exactly_what_it_wrote(server):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    with proxy(server.bootstrap, faults=["slice:bytes=7", "latency:ms=1"]) as p:
        producer = KafkaProducer(bootstrap_servers=p.bootstrap, acks=-1)
        offsets = [producer.send("t", b"%d" % i, partition=0).get(TIMEOUT_S).offset
                   for i in range(30)]  # fmt: skip
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=p.bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=1000)  # fmt: skip
        consumer.assign([TopicPartition("t", 0)])
        got = [(m.offset, m.value) for m in consumer]
        consumer.close()
    assert offsets == list(range(30))
    assert got == [(i, b"%d" % i) for i in range(30)]
    assert p.requests[0] >= 1 and p.requests[1] >= 1  # produce and fetch went through it


@pytest.mark.slow
def test_bandwidth_holds_a_direction_to_its_rate_and_changes_no_byte(server):
    value = bytes(range(256)) * 32  # 8 KiB: a frame takes about a second at 8 KB/s
    faults = ["bandwidth:rate=8,on=request"]
    with proxy(server.bootstrap, faults=faults) as p, _connect(p.bootstrap) as sock:
        started = time.monotonic()
        sock.sendall(_produce_frame(value, 1) + _produce_frame(value, 2))
        answers = [_answer(sock), _answer(sock)]
        elapsed = time.monotonic() - started
    assert answers == [(1, 0), (2, 1)]  # written at offsets: their CRCs held, no byte changed
    assert elapsed >= 0.9  # the second request waited for the first's 8 KiB to pass
    assert len(server.produced) == 2


def test_drop_response_lets_the_broker_write_and_discards_only_that_answer(server):
    with proxy(server.bootstrap, faults=["drop-response:api=produce,at=1"]) as p:
        with _connect(p.bootstrap) as sock:
            sock.sendall(_produce_frame(b"a", 1) + _produce_frame(b"b", 2))
            assert _answer(sock) == (2, 1)  # the first answer never comes; the write did
        (event,) = p.events
    assert (event.kind, event.api, event.correlation_id) == ("drop-response", "produce", 1)
    assert len(server.produced) == 2


@pytest.mark.parametrize("kind, written", [("reset-before", 0), ("reset-after", 1)])
def test_reset_before_never_reaches_the_broker_and_reset_after_does(server, kind, written):
    with proxy(server.bootstrap, faults=[f"{kind}:api=produce,at=1"]) as p:
        with _connect(p.bootstrap) as sock:
            sock.sendall(_produce_frame(b"a", 1))
            assert _closed(sock)
        assert [e.kind for e in p.events] == [kind]
    assert len(server.produced) == written


def test_a_held_request_reaches_the_broker_after_a_later_one_and_answers_keep_order(server):
    faults = ["delay:api=produce,at=1,ms=300"]
    with proxy(server.bootstrap, faults=faults) as p, _connect(p.bootstrap) as sock:
        sock.sendall(_produce_frame(b"first", 1) + _produce_frame(b"second", 2))
        answers = [_answer(sock), _answer(sock)]
    assert answers == [(1, 1), (2, 0)]  # "second" was written first, answered second
    assert p.events[0].action == "held the request 300 ms"


def test_a_held_answer_arrives_late(server):
    faults = ["delay:api=produce,on=response,ms=300"]
    with proxy(server.bootstrap, faults=faults) as p, _connect(p.bootstrap) as sock:
        started = time.monotonic()
        sock.sendall(_produce_frame(b"a", 1))
        assert _answer(sock) == (1, 0)
        assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("then", ["release", "reset"])
def test_a_blackhole_holds_every_connection_then_releases_or_resets(server, then):
    with proxy(server.bootstrap, faults=[f"blackhole:api=produce,at=1,ms=400,then={then}"]) as p:
        with _connect(p.bootstrap) as sock, _connect(p.bootstrap) as other:
            started = time.monotonic()
            sock.sendall(_produce_frame(b"a", 1))
            time.sleep(0.1)
            other.sendall(_produce_frame(b"b", 7))
            if then == "release":
                assert _answer(sock) == (1, 0) and _answer(other) == (7, 1)
                assert time.monotonic() - started >= 0.4
            else:
                assert _closed(sock) and _closed(other)
        assert [e.kind for e in p.events] == ["blackhole", "blackhole-end"]


def test_a_timed_blackhole_starts_on_the_clock_without_a_request(server):
    with proxy(server.bootstrap, faults=["blackhole:at=200ms,ms=300"]) as p:
        deadline = time.monotonic() + TIMEOUT_S
        while len(p.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.kind for e in p.events] == ["blackhole", "blackhole-end"]
        assert p.events[0].time_s >= 0.2  # not before its time (after it: the loop's load)
        assert p.events[1].time_s - p.events[0].time_s >= 0.3


def test_heal_stops_every_fault(server):
    with proxy(server.bootstrap, faults=["drop-response:api=produce"]) as p:
        p.heal()
        with _connect(p.bootstrap) as sock:
            sock.sendall(_produce_frame(b"a", 1))
            assert _answer(sock) == (1, 0)
    assert p.events == []


def test_an_oversized_frame_closes_only_its_own_connection(server):
    p = proxy(server.bootstrap, max_frame_bytes=1024)
    with p, _connect(p.bootstrap) as bad, _connect(p.bootstrap) as good:
        bad.sendall(struct.pack(">i", 4096) + b"x" * 100)
        assert _closed(bad)
        good.sendall(_produce_frame(b"a", 1))
        assert _answer(good) == (1, 0)


def test_an_unreachable_upstream_costs_only_that_connection():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{free.getsockname()[1]}"  # bound, never listening: refused
        with proxy(dead) as p, _connect(p.bootstrap) as sock:
            started = time.monotonic()
            assert _closed(sock)
            assert time.monotonic() - started >= UNREACHABLE_HOLD_S * 0.9
            assert p._thread.is_alive()


def test_stop_closes_every_connection_listener_and_thread(server):
    p = proxy(server.bootstrap)
    sock = _connect(p.bootstrap)
    threads = threading.active_count()
    p.stop()
    assert _closed(sock)
    sock.close()
    assert not p._thread.is_alive() and threading.active_count() == threads - 1
    with pytest.raises(ConnectionRefusedError):
        _connect(p.bootstrap)


def test_bad_arguments_are_refused_before_anything_listens():
    with pytest.raises(InvalidArgumentError, match="upstream must be HOST:PORT"):
        proxy("localhost")
    with pytest.raises(FaultSpecError, match="needs a broker the lab starts"):
        proxy("127.0.0.1:9", faults=["kill:every=1s"])
