"""The hand-written Produce codec (chronik_lab/wire/produce_codec.py) against kafka-python's, for
every version the server serves: the same request fields read, the same response bytes written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.protocol.producer import ProduceRequest, ProduceResponse

from chronik_lab.wire.produce_codec import ProduceAnswer, decode_produce
from chronik_lab.wire.protocol import SUPPORTED, FrameError, parse_request

VERSIONS = range(SUPPORTED[0][0], SUPPORTED[0][1] + 1)
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
records = st.one_of(st.none(), st.binary(max_size=300))
partitions = st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), records), max_size=4)
topics = st.lists(st.tuples(names, partitions), max_size=3)
answers = st.lists(
    st.tuples(
        names,
        st.lists(
            st.tuples(
                st.integers(-(2**31), 2**31 - 1),
                st.integers(-(2**15), 2**15 - 1),
                st.integers(-(2**63), 2**63 - 1),
                st.integers(-(2**63), 2**63 - 1),
            ),
            max_size=4,
        ),
    ),
    max_size=3,
)


def _library_request(version, transactional_id, acks, timeout_ms, topic_data):
    P = ProduceRequest
    data = [
        P.TopicProduceData(
            name=name,
            partition_data=[
                P.TopicProduceData.PartitionProduceData(index=i, records=r) for i, r in parts
            ],
        )
        for name, parts in topic_data
    ]
    req = P(transactional_id=transactional_id, acks=acks, timeout_ms=timeout_ms, topic_data=data)
    req.with_header(correlation_id=3, client_id="test")
    return bytes(req.encode(version=version, header=True))


@pytest.mark.parametrize("version", VERSIONS)
@given(
    transactional_id=st.one_of(st.none(), names),
    acks=st.sampled_from([-1, 0, 1]),
    timeout_ms=st.integers(0, 2**31 - 1),
    topic_data=topics,
)
def test_a_produce_request_reads_as_the_library_reads_it(
    version, transactional_id, acks, timeout_ms, topic_data
):
    frame = _library_request(version, transactional_id, acks, timeout_ms, topic_data)
    ours = parse_request(frame).body
    theirs = ProduceRequest.decode(frame, version=version, header=True)
    assert (ours.acks, ours.timeout_ms) == (theirs.acks, theirs.timeout_ms)
    if version >= 3:
        assert ours.transactional_id == theirs.transactional_id == transactional_id
    read = [
        (
            t.name,
            [(p.index, None if p.records is None else bytes(p.records)) for p in t.partition_data],
        )
        for t in ours.topic_data
    ]
    assert read == [(name, [(i, r) for i, r in parts]) for name, parts in topic_data]


@pytest.mark.parametrize("version", VERSIONS)
@given(topics=answers)
def test_a_produce_answer_writes_the_librarys_bytes(version, topics):
    R = ProduceResponse.TopicProduceResponse
    theirs = ProduceResponse(
        responses=[
            R(
                name=name,
                partition_responses=[
                    R.PartitionProduceResponse(
                        index=i,
                        error_code=e,
                        base_offset=b,
                        log_append_time_ms=-1,
                        log_start_offset=s,
                    )
                    for i, e, b, s in parts
                ],
            )
            for name, parts in topics
        ],
        throttle_time_ms=0,
    )
    assert ProduceAnswer(topics).encode(version) == bytes(theirs.encode(version=version))


@pytest.mark.parametrize("version", [3, 9])
def test_a_cut_short_produce_request_is_a_frame_error(version):
    frame = _library_request(version, None, -1, 1000, [("t", [(0, b"x" * 50)])])
    for end in (len(frame) - 1, len(frame) - 30):
        with pytest.raises(FrameError):
            parse_request(frame[:end])


def test_a_null_topic_array_is_a_frame_error():
    body = memoryview(b"\xff\xff" + b"\x00\x01" + b"\x00\x00\x03\xe8" + b"\xff\xff\xff\xff")
    with pytest.raises(ValueError):
        decode_produce(body, 3)
