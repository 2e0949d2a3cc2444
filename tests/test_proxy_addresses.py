"""The proxy's only body reads: broker addresses in Metadata and FindCoordinator answers, the
acks of a Produce request. Checked against kafka-python's own encoders and decoders for every
version they have (flexible ones included)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.protocol.metadata import FindCoordinatorResponse, MetadataResponse
from kafka.protocol.producer import ProduceRequest

from chronik_lab.wire import addresses

HOSTS = st.text(st.sampled_from("abcdefghijklmnop.-0123456789"), min_size=1, max_size=40)
PORTS = st.integers(1, 65535)


def _frame(api_key: int, version: int, body: bytes) -> bytes:
    """A response frame (no size): correlation id, header tags when flexible, the body."""
    flexible = addresses.flexible(api_key, version)
    return struct.pack(">i", 77) + (b"\x00" if flexible else b"") + body


def _metadata(version: int, brokers: list[tuple[str, int]]) -> bytes:
    cls = MetadataResponse
    broker = cls.MetadataResponseBroker
    topic = cls.MetadataResponseTopic
    part = topic.MetadataResponsePartition
    partitions = [
        part(
            error_code=0,
            partition_index=i,
            leader_id=0,
            leader_epoch=1,
            replica_nodes=[0],
            isr_nodes=[0],
            offline_replicas=[],
        )
        for i in range(3)
    ]
    fields = {"brokers": [broker(node_id=i, host=h, port=p, rack="r" if i % 2 else None)
                          for i, (h, p) in enumerate(brokers)],
              "topics": [topic(error_code=0, name="t", is_internal=False, partitions=partitions)],
              "cluster_id": "c", "controller_id": 0, "throttle_time_ms": 5}  # fmt: skip
    return bytes(cls(**fields).encode(version=version))


def _decoded(api_key: int, cls, version: int, frame: bytes):
    start = addresses.response_body_start(api_key, version, frame)
    return cls.decode(memoryview(frame)[start:], version=version)


@given(brokers=st.lists(st.tuples(HOSTS, PORTS), min_size=1, max_size=4), data=st.data())
def test_metadata_addresses_are_replaced_and_everything_else_kept_in_every_version(brokers, data):
    version = data.draw(st.integers(MetadataResponse.min_version, MetadataResponse.max_version))
    frame = _frame(3, version, _metadata(version, brokers))
    found = addresses.addresses(3, version, frame)
    assert [(a.host, a.port) for a in found] == brokers
    out = addresses.rewrite(frame, found, lambda h, p: ("127.0.0.1", 40000 + found.index(
        next(a for a in found if (a.host, a.port) == (h, p)))))  # fmt: skip
    before = _decoded(3, MetadataResponse, version, frame)
    after = _decoded(3, MetadataResponse, version, out)
    assert [(b.host, b.port) for b in after.brokers] == [
        ("127.0.0.1", 40000 + found.index(next(a for a in found if (a.host, a.port) == hp)))
        for hp in brokers
    ]
    assert [b.node_id for b in after.brokers] == [b.node_id for b in before.brokers]
    assert after.to_dict()["topics"] == before.to_dict()["topics"]


@pytest.mark.parametrize("version", range(0, FindCoordinatorResponse.max_version + 1))
def test_find_coordinator_addresses_are_replaced_in_every_version(version):
    cls = FindCoordinatorResponse
    if version >= 4:
        entry = cls.Coordinator(key="g", node_id=3, host="broker-1.example", port=9093,
                                error_code=0, error_message=None)  # fmt: skip
        body = cls(throttle_time_ms=0, coordinators=[entry]).encode(version=version)
    else:
        body = cls(throttle_time_ms=0, error_code=0, error_message=None, node_id=3,
                   host="broker-1.example", port=9093).encode(version=version)  # fmt: skip
    frame = _frame(10, version, bytes(body))
    found = addresses.addresses(10, version, frame)
    assert [(a.host, a.port) for a in found] == [("broker-1.example", 9093)]
    out = _decoded(10, cls, version, addresses.rewrite(frame, found, lambda h, p: ("::1", 5)))
    got = out.coordinators[0] if version >= 4 else out
    assert (got.host, got.port, got.node_id) == ("::1", 5, 3)


def test_a_truncated_answer_is_a_body_error_not_a_crash():
    frame = _frame(3, 1, _metadata(1, [("h", 1)]))
    with pytest.raises(addresses.BodyError):
        addresses.addresses(3, 1, frame[:9])


@given(acks=st.sampled_from([0, 1, -1]), txn=st.none() | st.text(max_size=5), data=st.data())
def test_produce_acks_are_read_in_every_version(acks, txn, data):
    version = data.draw(st.integers(ProduceRequest.min_version, ProduceRequest.max_version))
    fields = {"acks": acks, "timeout_ms": 1000, "topic_data": []}
    if version >= 3:
        fields["transactional_id"] = txn
    request = ProduceRequest(**fields)
    request.with_header(correlation_id=9, client_id="c")
    frame = bytes(request.encode(header=True, version=version))
    assert addresses.produce_acks(frame) == acks
