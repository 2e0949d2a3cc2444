"""The wire server at the byte level: real sockets on 127.0.0.1, requests built with the codec
library, answers decoded with it. Every server a test starts is stopped by its fixture."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from kafka.protocol.consumer import FetchRequest
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    MetadataRequest,
    MetadataResponse,
)
from kafka.protocol.producer import ProduceRequest
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from kafka_frames import call as _call
from kafka_frames import closed as _closed
from kafka_frames import connect as _connect
from kafka_frames import read_frame, record_batch

import chronik_lab as cl
from chronik_lab import wire
from chronik_lab.wire.batches import encode_batch
from chronik_lab.wire.protocol import SUPPORTED


@pytest.fixture
def server() -> Iterator[wire.Server]:
    s = cl.serve(bugs="fixed", partitions=1, max_frame_bytes=1024 * 1024)
    try:
        yield s
    finally:
        s.stop()


def _produce(values: list[bytes], topic: str = "t", compression: int = 0) -> ProduceRequest:
    batch = record_batch(*values, compression=compression)
    part = ProduceRequest.TopicProduceData.PartitionProduceData(index=0, records=batch)
    data = ProduceRequest.TopicProduceData(name=topic, partition_data=[part])
    return ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[data])


def _fetch(offset: int, topic: str = "t", max_wait_ms: int = 0) -> FetchRequest:
    p = FetchRequest.FetchTopic.FetchPartition(
        partition=0, fetch_offset=offset, partition_max_bytes=1 << 20
    )
    return FetchRequest(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=1,
        max_bytes=1 << 20,
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[p])],
    )


def _metadata(sock: socket.socket, topic: str = "t") -> None:
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)])
    meta = _call(sock, req, 1)
    assert meta.topics[0].error_code == 0


def test_api_versions_advertises_exactly_the_served_ranges(server):
    with _connect(server) as sock:
        resp = _call(sock, ApiVersionsRequest(), 0)
    assert resp.error_code == 0
    assert {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys} == SUPPORTED


def test_api_versions_above_the_range_answers_unsupported_version_as_v0(server):
    req = ApiVersionsRequest(client_software_name="x", client_software_version="1")
    req.with_header(correlation_id=9, client_id="test")
    with _connect(server) as sock:
        sock.sendall(req.encode(version=4, header=True, framed=True))
        resp = ApiVersionsResponse.decode(read_frame(sock), version=0, header=True)
    assert resp.error_code == 35
    assert resp.header.correlation_id == 9
    assert {k.api_key for k in resp.api_keys} == set(SUPPORTED)


@pytest.mark.parametrize("version", [2, 3, 7, 9])
def test_produce_then_fetch_round_trips_ids_and_offsets(server, version):
    with _connect(server) as sock:
        _metadata(sock)
        ack = _call(sock, _produce([b"a", b"b", b"c"]), version)
        part = ack.responses[0].partition_responses[0]
        assert (part.error_code, part.base_offset) == (0, 0)
        fetched = _call(sock, _fetch(1), 4 if version < 9 else 12)
    data = fetched.responses[0].partitions[0]
    assert data.error_code == 0 and data.high_watermark == 3
    records = [(r.offset, r.value) for batch in _batches(data.records) for r in batch]
    assert records == [(1, b"b"), (2, b"c")]


def _batches(data: bytes) -> list:
    records = MemoryRecords(bytes(data))
    out = []
    while (batch := records.next_batch()) is not None:
        assert batch.validate_crc()
        out.append(batch)
    return out


@pytest.mark.parametrize("codec", [1, 2, 3, 4])  # gzip, snappy, lz4, zstd
def test_compressed_producer_batches_are_accepted(server, codec):
    with _connect(server) as sock:
        _metadata(sock)
        ack = _call(sock, _produce([b"x" * 50, b"y" * 50], compression=codec), 7)
        assert ack.responses[0].partition_responses[0].error_code == 0
    assert server.broker.high_watermark("t", 0) == 2


def test_a_batch_with_a_bad_crc_is_refused_as_corrupt_message(server):
    req = _produce([b"a"])
    raw = bytearray(req.topic_data[0].partition_data[0].records)
    raw[-1] ^= 0xFF  # a flipped byte inside the CRC'd range
    req.topic_data[0].partition_data[0].records = bytes(raw)
    with _connect(server) as sock:
        _metadata(sock)
        ack = _call(sock, req, 7)
    assert ack.responses[0].partition_responses[0].error_code == 2
    assert server.broker.partitions() == []


def test_fetch_above_the_log_is_the_engines_offset_out_of_range(server):
    with _connect(server) as sock:
        _metadata(sock)
        _call(sock, _produce([b"a"]), 7)
        data = _call(sock, _fetch(5), 11).responses[0].partitions[0]
    assert data.error_code == 1


def test_fetch_at_the_high_watermark_waits_for_new_data(server):
    with _connect(server) as sock, _connect(server) as other:
        _metadata(sock)
        _call(sock, _produce([b"a"]), 7)
        later = threading.Timer(0.3, lambda: _call(other, _produce([b"b"]), 7))
        later.start()
        try:
            data = _call(sock, _fetch(1, max_wait_ms=3000), 11).responses[0].partitions[0]
        finally:
            later.join()
    assert [r.value for b in _batches(data.records) for r in b] == [b"b"]


def test_fetch_at_the_high_watermark_answers_empty_after_max_wait(server):
    with _connect(server) as sock:
        _metadata(sock)
        _call(sock, _produce([b"a"]), 7)
        data = _call(sock, _fetch(1, max_wait_ms=200), 11).responses[0].partitions[0]
    assert (data.error_code, data.records) == (0, b"")


def test_garbage_bytes_close_only_that_connection(server):
    with _connect(server) as bad, _connect(server) as good:
        bad.sendall(struct.pack(">i", 12) + b"\xff" * 12)
        assert _closed(bad)
        assert _call(good, ApiVersionsRequest(), 0).error_code == 0


def test_an_oversized_frame_is_refused_and_others_are_still_served(server):
    with _connect(server) as big, _connect(server) as good:
        big.sendall(struct.pack(">i", 2 * 1024 * 1024) + b"\x00" * 1024)
        assert _closed(big)
        assert _call(good, ApiVersionsRequest(), 0).error_code == 0


def test_an_unsupported_api_closes_the_connection_without_an_answer(server):
    frame = struct.pack(">hhih", 42, 0, 1, 4) + b"test" + b"\x00" * 8  # DeleteGroups
    with _connect(server) as sock, _connect(server) as good:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        assert _closed(sock)
        assert _call(good, ApiVersionsRequest(), 0).error_code == 0


def test_a_client_disconnecting_mid_request_leaves_the_server_serving(server):
    whole = _produce([b"a"])
    whole.with_header(correlation_id=1, client_id="test")
    raw = whole.encode(version=7, header=True, framed=True)
    with _connect(server) as sock:
        sock.sendall(raw[: len(raw) // 2])  # half a frame, then gone
    with _connect(server) as sock:
        _metadata(sock)
        ack = _call(sock, _produce([b"b"]), 7)
    assert ack.responses[0].partition_responses[0].base_offset == 0  # the half never landed


def test_produce_with_acks_0_gets_no_answer_but_is_written(server):
    req = _produce([b"a"])
    req.acks = 0
    with _connect(server) as sock:
        _metadata(sock)
        req.with_header(correlation_id=5, client_id="test")
        sock.sendall(req.encode(version=7, header=True, framed=True))
        answer = _call(sock, ApiVersionsRequest(), 0, correlation_id=6)  # the next answer
    assert answer.header.correlation_id == 6
    assert server.broker.high_watermark("t", 0) == 1


def test_stopping_leaves_no_thread_and_no_listening_socket():
    s = cl.serve(bugs="fixed")
    port = s.port
    with _connect(s) as sock:
        s.stop()
        assert _closed(sock)
    assert not [t for t in threading.enumerate() if t.name == "chronik-lab-wire"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_taken_port_is_a_server_error():
    with cl.serve() as first, pytest.raises(cl.ChronikLabError, match="cannot serve"):
        cl.serve(port=first.port)


def test_the_crc_switch_writes_ieee_crc32_and_only_there():
    import pyarrow as pa

    from chronik_lab.bugs import BugSet

    table = pa.table(
        {
            "offset": pa.array([0, 1], pa.int64()),
            "timestamp": pa.array([5, 5], pa.int64()),
            "key": pa.array([None, None], pa.binary()),
            "value": pa.array([b"a", b"b"], pa.binary()),
        }
    )
    good = encode_batch(table, BugSet("fixed"))
    bad = encode_batch(table, BugSet("crc32_ieee_batches"))
    assert DefaultRecordBatch(good).validate_crc()
    assert not DefaultRecordBatch(bad).validate_crc()
    assert good[:17] == bad[:17] and good[21:] == bad[21:]  # only the 4 CRC bytes differ
    import binascii

    assert struct.unpack_from(">I", bad, 17)[0] == binascii.crc32(bad[21:])


def test_renumbered_offsets_reach_the_bytes_as_base_plus_position():
    import pyarrow as pa

    from chronik_lab.bugs import BugSet

    table = pa.table(
        {
            "offset": pa.array([3, 4, 5, 3], pa.int64()),  # a repeat starts a new batch
            "timestamp": pa.array([0] * 4, pa.int64()),
            "key": pa.array([None] * 4, pa.binary()),
            "value": pa.array([b"a", b"b", b"c", b"d"], pa.binary()),
        }
    )
    batches = _batches(encode_batch(table, BugSet("fixed")))
    assert [b.base_offset for b in batches] == [3, 3]
    assert [[r.offset for r in b] for b in batches] == [[3, 4, 5], [3]]


def test_run_without_a_known_client_names_the_known_ones():
    with pytest.raises(cl.InvalidArgumentError, match="kafka-python"):
        cl.run(cl.SEED, client="no-such-client")


def test_importing_chronik_lab_does_not_load_the_codec():
    import subprocess
    import sys

    code = "import sys, chronik_lab; print('kafka.protocol.producer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _library_bytes(offsets, stamps, values) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder

    b = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 2**31 - 1)
    for o, t, v in zip(offsets, stamps, values, strict=True):
        b.append(o - offsets[0], t, None, v, ())
    buf = b.build()
    struct.pack_into(">q", buf, 0, offsets[0])
    return bytes(buf)


@pytest.mark.parametrize(
    "offsets, stamps, values",
    [
        ([0], [0], [b""]),
        ([5, 6, 7], [1_700_000_000_000] * 3, [b"a", b"bc", b"x" * 300]),
        ([10, 12, 400], [9, 3, 10**13], [b"q" * 20_000, b"", b"z" * 127]),
        (list(range(2**20, 2**20 + 200)), list(range(200)), [b"v%d" % i for i in range(200)]),
    ],
)
def test_the_vectorised_encoder_writes_the_librarys_bytes(offsets, stamps, values):
    import numpy as np
    import pyarrow as pa

    from chronik_lab.wire.fastbatch import plain_batch

    ours = plain_batch(np.array(offsets), np.array(stamps), pa.array(values, pa.binary()))
    assert bytes(ours) == _library_bytes(offsets, stamps, values)
    sliced = pa.array([b"skip", *values], pa.binary()).slice(1)  # a slice of a larger array
    assert bytes(plain_batch(np.array(offsets), np.array(stamps), sliced)) == bytes(ours)


def test_keys_and_null_values_go_through_the_library_builder():
    import pyarrow as pa

    from chronik_lab.bugs import BugSet

    table = pa.table(
        {
            "offset": pa.array([0, 1], pa.int64()),
            "timestamp": pa.array([1, 1], pa.int64()),
            "key": pa.array([b"k", None], pa.binary()),
            "value": pa.array([None, b"v"], pa.binary()),
        }
    )
    records = [
        (r.offset, r.key, r.value) for b in _batches(encode_batch(table, BugSet())) for r in b
    ]
    assert records == [(0, b"k", None), (1, None, b"v")]


@pytest.mark.parametrize("codec", [0, 1])
@pytest.mark.parametrize(
    "records",
    [
        [(None, b"a")],
        [(b"k", b"v" * 200), (None, None), (b"", b"")],
        [(None, b"x" * 100_000), (b"key" * 50, b"y")],
    ],
)
def test_decoding_producer_batches_agrees_with_the_library(records, codec):
    from chronik_lab.wire.batches import decode_records

    b = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 22)
    for key, value in records:
        b.append(timestamp=7, key=key, value=value)
    b.close()
    decoded = decode_records(b.buffer())
    assert decoded[:3] == ([k for k, _ in records], [v for _, v in records], 1)


def test_records_with_headers_are_read_by_the_library():
    from chronik_lab.wire.batches import decode_records

    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    b.append(timestamp=7, key=None, value=b"v", headers=[("h", b"1")])
    b.close()
    assert decode_records(b.buffer())[:3] == ([None], [b"v"], 1)


def _minimal_requests(version: int) -> dict:
    """One small request per served API, valid at every served version."""
    from kafka.protocol.admin import CreateTopicsRequest as CT
    from kafka.protocol.consumer import (
        HeartbeatRequest,
        JoinGroupRequest,
        LeaveGroupRequest,
        ListOffsetsRequest,
        OffsetCommitRequest,
        OffsetFetchRequest,
        SyncGroupRequest,
    )
    from kafka.protocol.metadata import FindCoordinatorRequest
    from kafka.protocol.producer import InitProducerIdRequest

    lo, oc, of = ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest
    member = {"group_id": "g", "generation_id": 1, "member_id": "nobody"}
    return {
        0: _produce([b"a"]),
        1: _fetch(0),
        2: lo(
            replica_id=-1,
            topics=[lo.ListOffsetsTopic(name="t", partitions=[
                lo.ListOffsetsTopic.ListOffsetsPartition(partition_index=0, timestamp=-2)])],
        ),
        3: MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="t")]),
        8: oc(
            group_id="g",
            generation_id_or_member_epoch=-1,
            member_id="",
            topics=[oc.OffsetCommitRequestTopic(name="t", partitions=[
                oc.OffsetCommitRequestTopic.OffsetCommitRequestPartition(
                    partition_index=0, committed_offset=1, committed_metadata="")])],
        ),
        9: of(group_id="g", topics=[of.OffsetFetchRequestTopic(name="t", partition_indexes=[0])]),
        10: FindCoordinatorRequest(key="g", key_type=0),
        11: JoinGroupRequest(
            group_id=f"j{version}",
            session_timeout_ms=10_000,
            rebalance_timeout_ms=10_000,
            member_id="",
            protocol_type="consumer",
            protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"m")],
        ),
        12: HeartbeatRequest(**member),
        13: LeaveGroupRequest(
            group_id="g",
            member_id="nobody",
            members=[LeaveGroupRequest.MemberIdentity(member_id="nobody")],
        ),
        14: SyncGroupRequest(**member, assignments=[]),
        18: ApiVersionsRequest(client_software_name="t", client_software_version="1"),
        19: CT(
            topics=[CT.CreatableTopic(name=f"c{version}", num_partitions=1,
                                      replication_factor=1, assignments=[], configs=[])],
            timeout_ms=1000,
        ),
        22: InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=1000),
    }  # fmt: skip


@pytest.mark.parametrize(
    "api, version", [(k, v) for k, (lo, hi) in SUPPORTED.items() for v in range(lo, hi + 1)]
)
def test_every_advertised_version_is_answered_in_that_version(server, api, version):
    with _connect(server) as sock:
        _metadata(sock)
        resp = _call(sock, _minimal_requests(version)[api], version, correlation_id=77)
    assert resp.header.correlation_id == 77
    errors = {getattr(resp, "error_code", 0)}
    assert errors <= {0, 25}  # 25: the heartbeat/sync/leave of a member that never joined


def test_a_flexible_request_headers_tagged_fields_are_skipped(server):
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="t")])
    req.with_header(correlation_id=5, client_id="test")
    raw = bytes(req.encode(version=9, header=True))
    header_end = 2 + 2 + 4 + 2 + len("test")  # key, version, correlation id, client id
    assert raw[header_end] == 0  # the header's empty tagged-field section
    tagged = bytes([1, 7, 3]) + b"abc"  # one field: tag 7, 3 bytes
    frame = raw[:header_end] + tagged + raw[header_end + 1 :]
    with _connect(server) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        resp = MetadataResponse.decode(read_frame(sock), version=9, header=True)
    assert resp.header.correlation_id == 5
    assert [t.name for t in resp.topics] == ["t"]


def test_a_header_whose_tagged_fields_run_past_the_frame_closes_the_connection(server):
    req = MetadataRequest(topics=[])
    req.with_header(correlation_id=5, client_id="test")
    raw = bytes(req.encode(version=9, header=True))
    header_end = 2 + 2 + 4 + 2 + len("test")
    frame = raw[:header_end] + bytes([1, 7, 100])  # a 100-byte field the frame lacks
    with _connect(server) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        assert _closed(sock)


def test_a_long_produce_request_round_trips_through_arrow_with_keys_and_nulls():
    # 64 records and more are decoded into Arrow arrays, which the engine takes as they are
    from chronik_lab.wire.batches import COLUMNS_MIN_RECORDS, decode_records

    n = COLUMNS_MIN_RECORDS + 10
    records = [(None if i % 3 else b"k%d" % i, None if i % 7 == 0 else b"v" * i) for i in range(n)]
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 22)
    for key, value in records:
        b.append(timestamp=7, key=key, value=value)
    b.close()
    decoded = decode_records(b.buffer())
    with cl.Broker(bugs="fixed") as broker:
        broker.produce("t", 0, decoded.values, decoded.keys, acks=-1)
        got = broker.fetch("t", 0, 0).records
    assert got.column("key").to_pylist() == [k for k, _ in records]
    assert got.column("value").to_pylist() == [v for _, v in records]


def test_a_tick_after_the_broker_closed_ends_the_ticker_without_an_error(caplog):
    # stop() closes the broker even when the server's thread outlived its join (a SIGTERM
    # during a long request): the ticker then meets a closed broker, which is no failure.
    with cl.serve(partitions=1, linger_ms=10) as server:
        with server.lock:
            server.broker.close()
        threading.Event().wait(0.2)  # several ticks
    assert "the tick failed" not in caplog.text
