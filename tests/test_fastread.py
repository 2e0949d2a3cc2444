"""Reading a run of small record batches in one go (engine/fastread.py) against pyarrow's
per-message decode: the same records, whatever the requests held, from any offset."""

from __future__ import annotations

import hypothesis.strategies as st
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import chronik_lab as cl
from chronik_lab.engine import fastread, segment
from chronik_lab.engine.records import SCHEMA

T = "t"
item = st.one_of(st.none(), st.binary(max_size=10), st.text(max_size=4))


@st.composite
def workloads(draw) -> list[tuple[list, list | None]]:
    requests = []
    for _ in range(draw(st.integers(1, 40))):
        n = draw(st.integers(1, 4))
        values = draw(st.lists(item, min_size=n, max_size=n))
        keys = draw(st.one_of(st.none(), st.lists(item, min_size=n, max_size=n)))
        requests.append((values, keys))
    return requests


def read_both(seg: segment.Segment, offset: int, max_records: int, monkeypatch) -> tuple:
    fast = pa.Table.from_batches(seg.read(offset, max_records), schema=SCHEMA)
    with monkeypatch.context() as m:
        m.setattr(segment, "BULK_MIN_BATCHES", 10**9)  # per-message decode only
        slow = pa.Table.from_batches(seg.read(offset, max_records), schema=SCHEMA)
    return fast, slow


@given(requests=workloads(), data=st.data())
@settings(
    max_examples=settings().max_examples * 3 // 5,  # ci 60, dev 12: each example runs a broker
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_a_run_of_small_batches_reads_as_the_per_message_decode(
    requests, data, monkeypatch, tmp_path_factory
) -> None:
    with cl.Broker(tmp_path_factory.mktemp("d"), flush_batches=1) as b:
        for values, keys in requests:
            b.produce(T, 0, values, keys)  # one record batch per request
        seg = b.partition_states[(T, 0)].writer.segments[0]
        end = seg.next_offset
        for _ in range(5):
            offset = data.draw(st.integers(0, end - 1), label="offset")
            max_records = data.draw(st.integers(1, end + 2), label="max_records")
            fast, slow = read_both(seg, offset, max_records, monkeypatch)
            fast.validate(full=True)
            assert fast.equals(slow)
            assert fast.column("offset").to_pylist() == list(
                range(offset, min(end, offset + max_records))
            )


def test_the_simulated_producers_batches_are_read_in_one_go(tmp_path, monkeypatch) -> None:
    calls = []
    real = fastread.decode_run
    monkeypatch.setattr(fastread, "decode_run", lambda *a: calls.append(1) or real(*a))
    with cl.Broker(tmp_path, flush_batches=2) as b:
        for i in range(100):
            b.produce(T, 0, [b'{"id": %d}' % i])
        got = b.fetch(T, 0, 3, max_records=60).records
        assert got.column("offset").to_pylist() == list(range(3, 63))
        assert got.column("value").to_pylist() == [b'{"id": %d}' % i for i in range(3, 63)]
        assert got.column("key").null_count == 60
    assert calls  # ...and the fast path did it


def test_recovered_batches_are_verified_one_by_one_before_a_run_is_read_at_once(
    tmp_path, monkeypatch
) -> None:
    with cl.Broker(tmp_path, flush_batches=1, segment_bytes=10_000) as b:
        for i in range(60):
            b.produce(T, 0, [b"v%d" % i], [b"k"] if i % 2 else None)
        assert len(b.segments(T, 0)) > 1
    runs = []
    real = fastread.decode_run
    monkeypatch.setattr(fastread, "decode_run", lambda *a: runs.append(1) or real(*a))
    with cl.Broker(tmp_path) as b:
        # the first segment, not the last: recovery left its batches to the first read
        n = int(b.segments(T, 0)["record_count"].iloc[0])
        first = b.fetch(T, 0, 0, max_records=n).records
        assert runs == []  # each batch checked on its own
        second = b.fetch(T, 0, 0, max_records=n).records
        assert runs == [1]  # verified now: one run, read in one go
        assert first.equals(second)
        assert second.column("value").to_pylist() == [b"v%d" % i for i in range(n)]
        everything = b.fetch(T, 0, 0).records
        assert everything.column("value").to_pylist() == [b"v%d" % i for i in range(60)]


@pytest.mark.parametrize("keys", [None, "all", "some"])
def test_mixed_nulls_fall_back_to_the_per_message_decode(tmp_path, monkeypatch, keys) -> None:
    with cl.Broker(tmp_path, flush_batches=1) as b:
        for i in range(20):
            k = None if keys is None else [b"k"] if keys == "all" or i % 3 else None
            b.produce(T, 0, [b"v%d" % i], k)
        seg = b.partition_states[(T, 0)].writer.segments[0]
        fast, slow = read_both(seg, 0, 20, monkeypatch)
        assert fast.equals(slow)
        keys_read = fast.column("key").to_pylist()
        assert keys_read == [
            None if keys is None or (keys == "some" and not i % 3) else b"k" for i in range(20)
        ]
