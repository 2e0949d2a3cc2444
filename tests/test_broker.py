"""Kafka-style behaviour of the correct (v1.0) broker: offsets, fetch bounds, segments on disk."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pytest

import chronik_lab as cl
from chronik_lab.engine.segment import Segment

T = "topic"
# the stored columns: a record, and the idempotent producer fields of its request
STORED = ("offset", "timestamp", "key", "value", "producer_id", "producer_epoch", "base_sequence")


def ids(values: range | list[int]) -> list[bytes]:
    return [str(i).encode() for i in values]


def produce_range(b: cl.Broker, lo: int, hi: int, acks: int = -1) -> cl.ProduceResult:
    """Produce the values str(lo) .. str(hi-1), so a record's value names its offset."""
    return b.produce(T, 0, [str(i) for i in range(lo, hi)], acks=acks)


def offsets(f: cl.FetchResult) -> list[int]:
    return f.records.column("offset").to_pylist()


def values(f: cl.FetchResult) -> list[bytes | None]:
    return f.records.column("value").to_pylist()


# -- produce -------------------------------------------------------------------------------
def test_produce_returns_contiguous_offsets(broker: cl.Broker) -> None:
    first = broker.produce(T, 0, [b"a", b"b", b"c"])
    second = broker.produce(T, 0, [b"d", b"e"])
    assert (first.base_offset, first.last_offset) == (0, 2)
    assert (second.base_offset, second.last_offset) == (3, 4)
    assert second.high_watermark == 5
    assert (second.topic, second.partition) == (T, 0)


def test_partitions_have_independent_offsets(broker: cl.Broker) -> None:
    broker.produce(T, 0, [b"a", b"b"])
    other = broker.produce(T, 1, [b"x"])
    third = broker.produce("other", 0, [b"y"])
    assert other.base_offset == third.base_offset == 0
    assert broker.partitions() == [("other", 0), (T, 0), (T, 1)]
    assert values(broker.fetch(T, 1)) == [b"x"]


@pytest.mark.parametrize("flush", [False, True], ids=["buffered", "flushed"])
def test_produce_keeps_the_records_as_they_were_sent(make_broker, flush: bool) -> None:
    # The caller may reuse or change its lists (and bytearrays) once produce returned.
    b = make_broker(flush_batches=100)
    item = bytearray(b"abc")
    values, keys = [item, b"b"], [b"k", None]
    b.produce(T, 0, values, keys=keys, acks=1)
    item[:] = b"XYZ"
    values[1], keys[1] = b"changed", b"changed"
    values.append(b"extra")
    if flush:
        b.flush()
    records = b.fetch(T, 0).records
    assert records.column("value").to_pylist() == [b"abc", b"b"]
    assert records.column("key").to_pylist() == [b"k", None]


# -- fetch ---------------------------------------------------------------------------------
def test_read_from_the_start(make_broker) -> None:
    b = make_broker(flush_batches=2)
    for lo in range(0, 10, 2):
        produce_range(b, lo, lo + 2)
    f = b.fetch(T, 0, 0)
    assert offsets(f) == list(range(10))
    assert values(f) == ids(range(10))
    assert f.records.column("server_offset").to_pylist() == list(range(10))
    assert (f.high_watermark, f.log_start_offset) == (10, 0)


@pytest.mark.parametrize("flushed", [True, False], ids=["segment", "buffer"])
def test_read_from_the_middle_of_a_batch(make_broker, flushed: bool) -> None:
    b = make_broker(flush_batches=100)
    produce_range(b, 0, 10)
    if flushed:
        b.flush()
    assert len(b.buffer(T, 0)) == (0 if flushed else 10)
    f = b.fetch(T, 0, 4)
    assert offsets(f) == list(range(4, 10))
    assert values(f) == ids(range(4, 10))


def test_read_across_segment_boundaries(make_broker) -> None:
    # segment_bytes=1: every flush seals its segment, so each request lands in its own file.
    b = make_broker(flush_batches=1, segment_bytes=1)
    for lo in range(0, 15, 3):
        produce_range(b, lo, lo + 3)
    segments = b.segments(T, 0)
    assert segments["base_offset"].tolist() == [0, 3, 6, 9, 12]
    assert segments["sealed"].all()
    assert offsets(b.fetch(T, 0, 2)) == list(range(2, 15))
    f = b.fetch(T, 0, 4, max_records=7)
    assert offsets(f) == list(range(4, 11))
    assert values(f) == ids(range(4, 11))


def test_read_across_segments_and_buffer(make_broker) -> None:
    b = make_broker(flush_batches=2, segment_bytes=1)
    produce_range(b, 0, 4, acks=1)
    produce_range(b, 4, 8, acks=1)  # second pending batch: flushed into a segment
    produce_range(b, 8, 10, acks=1)  # buffered only
    assert b.buffer(T, 0).column("offset").to_pylist() == [8, 9]
    assert offsets(b.fetch(T, 0, 6)) == [6, 7, 8, 9]


def test_read_after_last_returns_nothing(broker: cl.Broker) -> None:
    produce_range(broker, 0, 5)
    f = broker.fetch(T, 0, 5)
    assert f.records.num_rows == 0
    assert len(f) == 0
    assert f.high_watermark == 5
    assert f.records.schema.names == [*STORED, "server_offset"]


def test_fetch_at_high_watermark_of_an_empty_partition_returns_nothing(
    broker: cl.Broker,
) -> None:
    produce_range(broker, 0, 1, acks=0)
    broker.flush()
    assert broker.fetch(T, 0, 1).records.num_rows == 0


def test_fetch_above_high_watermark_is_out_of_range(broker: cl.Broker) -> None:
    produce_range(broker, 0, 5)
    with pytest.raises(cl.OffsetOutOfRangeError) as info:
        broker.fetch(T, 0, 6)
    err = info.value
    assert (err.offset, err.log_start_offset, err.log_end_offset) == (6, 0, 5)
    assert isinstance(err, cl.ChronikLabError)


def test_fetch_below_log_start_is_out_of_range(make_broker, data_dir: Path) -> None:
    # The log start moves when leading segments are gone (as after Kafka's retention).
    b = make_broker(flush_batches=1, segment_bytes=1)
    produce_range(b, 0, 3)
    produce_range(b, 3, 6)
    b.close()
    first = Path(b.segments(T, 0)["path"][0])
    first.unlink()
    reopened = make_broker()
    assert reopened.log_start_offset(T, 0) == 3
    with pytest.raises(cl.OffsetOutOfRangeError) as info:
        reopened.fetch(T, 0, 2)
    err = info.value
    assert (err.offset, err.log_start_offset, err.log_end_offset) == (2, 3, 6)
    f = reopened.fetch(T, 0, 3)
    assert offsets(f) == [3, 4, 5]
    assert f.log_start_offset == 3


def test_max_records_caps_the_fetch(broker: cl.Broker) -> None:
    produce_range(broker, 0, 10)
    assert offsets(broker.fetch(T, 0, 2, max_records=3)) == [2, 3, 4]
    assert offsets(broker.fetch(T, 0, 8, max_records=5)) == [8, 9]


def test_max_bytes_smaller_than_one_record_returns_exactly_one(broker: cl.Broker) -> None:
    # KIP-74: the first record is returned whatever its size, so a consumer always progresses.
    broker.produce(T, 0, [b"x" * 100, b"y" * 100])
    f = broker.fetch(T, 0, 0, max_bytes=1)
    assert values(f) == [b"x" * 100]


def test_max_bytes_counts_key_and_value_bytes_across_records(broker: cl.Broker) -> None:
    broker.produce(T, 0, [b"v" * 10] * 5, keys=[b"k" * 5] * 5)  # 15 bytes a record
    assert offsets(broker.fetch(T, 0, 0, max_bytes=44)) == [0, 1]
    assert offsets(broker.fetch(T, 0, 0, max_bytes=45)) == [0, 1, 2]
    assert offsets(broker.fetch(T, 0, 1, max_bytes=45, max_records=2)) == [1, 2]


def test_max_bytes_spans_segments_and_buffer(make_broker) -> None:
    b = make_broker(flush_batches=1, segment_bytes=1)
    b.produce(T, 0, [b"a" * 10] * 2)
    b.produce(T, 0, [b"b" * 10] * 2)
    b.produce(T, 0, [b"c" * 10] * 2, acks=1)  # not flushed: in the buffer
    assert len(b.buffer(T, 0)) == 0  # flush_batches=1 flushes every request
    assert offsets(b.fetch(T, 0, 1, max_bytes=35)) == [1, 2, 3]


def test_keys_round_trip(broker: cl.Broker) -> None:
    broker.produce(T, 0, [b"v0", b"v1", b"v2"], keys=[b"k0", None, "k\u00e9"])
    f = broker.fetch(T, 0)
    assert f.records.column("key").to_pylist() == [b"k0", None, "k\u00e9".encode()]


def test_records_without_keys_have_null_keys(broker: cl.Broker) -> None:
    broker.produce(T, 0, [b"v0"])
    assert broker.fetch(T, 0).records.column("key").to_pylist() == [None]


def test_str_values_are_utf8(broker: cl.Broker) -> None:
    broker.produce(T, 0, ["caf\u00e9", "\u65e5\u672c", ""])
    assert values(broker.fetch(T, 0)) == ["caf\u00e9".encode(), "\u65e5\u672c".encode(), b""]


def test_none_values_are_served_as_null(make_broker) -> None:
    b = make_broker(flush_batches=1)
    b.produce(T, 0, [None, b"x", None])
    b.produce(T, 0, [None], acks=1)
    assert values(b.fetch(T, 0)) == [None, b"x", None, None]


def test_records_carry_the_simulated_produce_time(broker: cl.Broker) -> None:
    broker.produce(T, 0, [b"a"])
    broker.advance(250)
    broker.produce(T, 0, [b"b"])
    assert broker.fetch(T, 0).records.column("timestamp").to_pylist() == [0, 250]


# -- persistence ---------------------------------------------------------------------------
def test_reopen_continues_offsets(make_broker) -> None:
    b = make_broker(flush_batches=100)
    produce_range(b, 0, 7)
    b.close()  # close flushes what is pending
    reopened = make_broker()
    assert reopened.high_watermark(T, 0) == reopened.log_end_offset(T, 0) == 7
    assert produce_range(reopened, 7, 9).base_offset == 7
    assert values(reopened.fetch(T, 0)) == ids(range(9))


def test_reopen_finds_every_topic_partition(make_broker) -> None:
    b = make_broker()
    b.produce("a-b", 3, [b"x"])
    b.produce("c", 0, [b"y", b"z"])
    b.close()
    reopened = make_broker()
    assert reopened.partitions() == [("a-b", 3), ("c", 0)]
    assert reopened.high_watermark("c", 0) == 2


def test_private_data_dir_is_removed_on_close() -> None:
    b = cl.Broker(data_dir=None)
    b.produce(T, 0, [b"x"])
    b.flush()
    directory = b.data_dir
    assert any(directory.rglob("*.arrows"))
    b.close()
    assert not directory.exists()


def test_given_data_dir_persists_after_close(data_dir: Path) -> None:
    with cl.Broker(data_dir) as b:
        b.produce(T, 0, [b"x"])
    # the segment, and the write-ahead log (empty: everything is flushed)
    names = sorted(p.name for p in (data_dir / f"{T}-0").iterdir())
    assert names == [f"{0:020d}.arrows", "pending.wal"]


def test_close_twice_is_harmless(broker: cl.Broker) -> None:
    broker.close()
    broker.close()


# -- flushing and rotation -----------------------------------------------------------------
def test_flush_forces_a_flush(make_broker) -> None:
    b = make_broker(flush_batches=100)
    produce_range(b, 0, 3, acks=1)
    assert b.pending(T, 0).num_rows == 3
    assert b.segments(T, 0).empty
    b.flush(T, 0)
    assert b.pending(T, 0).num_rows == 0
    assert b.segments(T, 0)["record_count"].tolist() == [3]
    assert len(b.buffer(T, 0)) == 0


def test_flush_of_a_topic_flushes_only_its_partitions(make_broker) -> None:
    b = make_broker(flush_batches=100)
    b.produce("a", 0, [b"x"])
    b.produce("a", 1, [b"x"])
    b.produce("b", 0, [b"x"])
    b.flush("a")
    assert [b.pending(*tp).num_rows for tp in b.partitions()] == [0, 0, 1]


def test_flush_batches_threshold_flushes_pending_batches(make_broker) -> None:
    b = make_broker(flush_batches=3)
    produce_range(b, 0, 1, acks=1)
    produce_range(b, 1, 2, acks=1)
    assert b.pending(T, 0).num_rows == 2
    produce_range(b, 2, 3, acks=1)
    assert b.pending(T, 0).num_rows == 0
    assert b.segments(T, 0)["last_offset"].tolist() == [2]


def test_linger_ms_flushes_once_the_clock_passes_it(make_broker) -> None:
    b = make_broker(flush_batches=100, linger_ms=100)
    produce_range(b, 0, 2, acks=1)
    b.advance(99)
    assert b.pending(T, 0).num_rows == 2
    b.advance(1)
    assert b.pending(T, 0).num_rows == 0
    assert b.segments(T, 0)["record_count"].tolist() == [2]


def test_without_linger_advancing_the_clock_flushes_nothing(make_broker) -> None:
    b = make_broker(flush_batches=100)
    produce_range(b, 0, 2, acks=1)
    b.advance(10**9)
    assert b.pending(T, 0).num_rows == 2


def test_segment_rotates_by_age(make_broker) -> None:
    b = make_broker(flush_batches=1, segment_ms=1000)
    produce_range(b, 0, 2)
    b.advance(999)
    assert b.segments(T, 0)["sealed"].tolist() == [False]
    b.advance(1)
    assert b.segments(T, 0)["sealed"].tolist() == [True]
    produce_range(b, 2, 4)
    segments = b.segments(T, 0)
    assert segments["base_offset"].tolist() == [0, 2]
    assert segments["sealed"].tolist() == [True, False]
    assert segments["created_ms"].tolist() == [0, 1000]


def test_segment_rotates_by_size(make_broker) -> None:
    b = make_broker(flush_batches=1, segment_bytes=2000)
    for lo in range(0, 30, 3):
        produce_range(b, lo, lo + 3)
    segments = b.segments(T, 0)
    assert len(segments) > 1
    sealed = segments[segments["sealed"]]
    assert (sealed["size_bytes"] >= 2000).all()
    # a segment is sealed by the flush that took it past the limit, not before
    assert ((sealed["size_bytes"] - 2000) < sealed["size_bytes"] / sealed["batch_count"]).all()
    assert offsets(b.fetch(T, 0)) == list(range(30))


# -- segments on disk ----------------------------------------------------------------------
def test_segment_files_are_named_by_their_20_digit_base_offset(make_broker, data_dir) -> None:
    b = make_broker(flush_batches=1, segment_bytes=1)
    produce_range(b, 0, 3)
    produce_range(b, 3, 12)
    names = sorted(p.name for p in (data_dir / f"{T}-0").glob("*.arrows"))
    assert names == ["00000000000000000000.arrows", "00000000000000000003.arrows"]
    assert all(re.fullmatch(r"\d{20}\.arrows", n) for n in names)
    assert b.segments(T, 0)["path"].tolist() == [str(data_dir / f"{T}-0" / n) for n in names]


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "active"])
def test_segment_files_are_arrow_ipc_streams(make_broker, sealed: bool) -> None:
    b = make_broker(flush_batches=1, segment_bytes=10**9 if not sealed else 1)
    b.produce(T, 0, [b"a", None], keys=[b"k", b"l"])
    if not sealed:
        b.produce(T, 0, ["c"])  # a second batch in the same, still active, file
    path = b.segments(T, 0)["path"][0]
    with pa.ipc.open_stream(path) as reader:
        table = reader.read_all()
    assert table.schema.names == [*STORED]
    expected = [b"a", None] if sealed else [b"a", None, b"c"]
    assert table.column("value").to_pylist() == expected
    assert table.column("offset").to_pylist() == list(range(len(expected)))


def test_segments_frame_describes_each_segment(make_broker) -> None:
    b = make_broker(flush_batches=1, segment_bytes=1)
    b.produce(T, 0, [b"a"] * 3)
    b.advance(5)
    b.produce(T, 0, [b"b"] * 2)
    segments = b.segments(T, 0)
    assert list(segments.columns) == [
        "base_offset",
        "last_offset",
        "record_count",
        "batch_count",
        "size_bytes",
        "visible",
        "sealed",
        "created_ms",
        "path",
    ]
    assert segments["base_offset"].tolist() == [0, 3]
    assert segments["last_offset"].tolist() == [2, 4]
    assert segments["record_count"].tolist() == [3, 2]
    assert segments["batch_count"].tolist() == [1, 1]
    assert segments["visible"].tolist() == [True, True]
    assert segments["created_ms"].tolist() == [0, 5]
    sizes = [os.path.getsize(p) for p in segments["path"]]
    assert segments["size_bytes"].tolist() == sizes


def test_segments_frame_of_a_partition_without_segments_is_empty(make_broker) -> None:
    b = make_broker(flush_batches=10)
    b.produce(T, 0, [b"a"])
    segments = b.segments(T, 0)
    assert segments.empty
    assert "base_offset" in segments.columns


def test_buffer_holds_unflushed_records_in_offset_order(make_broker) -> None:
    b = make_broker(flush_batches=10)
    produce_range(b, 0, 2, acks=1)
    b.produce(T, 0, [None], keys=[b"k"], acks=0)
    buffered = b.buffer(T, 0)
    assert buffered.schema.names == [*STORED]
    assert buffered.column("offset").to_pylist() == [0, 1, 2]
    assert buffered.column("value").to_pylist() == [b"0", b"1", None]
    assert buffered.column("key").to_pylist() == [None, None, b"k"]
    assert b.pending(T, 0).column("offset").to_pylist() == [0, 1, 2]
    b.flush()
    assert b.buffer(T, 0).num_rows == 0


def test_fetch_reads_only_the_floor_segment_and_those_after(make_broker, monkeypatch) -> None:
    b = make_broker(flush_batches=1, segment_bytes=1)
    for lo in range(0, 30, 3):
        produce_range(b, lo, lo + 3)
    assert len(b.segments(T, 0)) == 10
    read_bases: list[int] = []
    original = Segment.read

    def spy(self: Segment, offset: int, max_records: int) -> list[pa.RecordBatch]:
        read_bases.append(self.base_offset)
        return original(self, offset, max_records)

    monkeypatch.setattr(Segment, "read", spy)
    f = b.fetch(T, 0, 14, max_records=4)
    assert offsets(f) == [14, 15, 16, 17]
    assert read_bases == [12, 15]  # the floor segment of 14, then the next; never 0..9
    read_bases.clear()
    assert offsets(b.fetch(T, 0, 27)) == [27, 28, 29]
    assert read_bases == [27]


@pytest.mark.parametrize("fsync", [True, False])
def test_fsync_option_decides_whether_flush_calls_os_fsync(
    make_broker, monkeypatch, fsync: bool
) -> None:
    calls: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    b = make_broker(flush_batches=1, fsync=fsync)
    b.produce(T, 0, [b"x"])
    assert bool(calls) is fsync
    before = len(calls)
    b.close()  # sealing writes the end-of-stream marker: synced too when fsync is on
    assert (len(calls) > before) is fsync


def test_broker_is_a_context_manager(data_dir: Path) -> None:
    with cl.Broker(data_dir, flush_batches=100) as b:
        b.produce(T, 0, [b"x"])
    with pytest.raises(cl.BrokerClosedError):
        b.produce(T, 0, [b"y"])
    with cl.Broker(data_dir) as reopened:
        assert values(reopened.fetch(T, 0)) == [b"x"]


def test_a_flush_in_flight_keeps_its_records_readable_from_the_buffer(make_broker) -> None:
    b = make_broker(data_dir=None, flush_batches=2, flush_ms=10)
    produce_range(b, 0, 1, acks=1)
    produce_range(b, 1, 2, acks=1)  # the second request starts a flush that takes 10 ms
    assert b.segments(T, 0).empty  # nothing is written yet ...
    produce_range(b, 2, 3, acks=1)  # ... and a request arrives while it is in flight
    assert b.pending(T, 0).column("offset").to_pylist() == [0, 1, 2]
    assert offsets(b.fetch(T, 0)) == [0, 1, 2]
    b.advance(10)  # the write completes: 0-1 move to the segment, 2 stays buffered
    assert b.segments(T, 0)[["base_offset", "last_offset"]].values.tolist() == [[0, 1]]
    assert b.buffer(T, 0).column("offset").to_pylist() == [2]
    assert offsets(b.fetch(T, 0)) == [0, 1, 2]


def test_a_forced_flush_completes_a_flush_in_flight_first(make_broker) -> None:
    b = make_broker(data_dir=None, flush_batches=2, flush_ms=1_000)
    produce_range(b, 0, 1, acks=1)
    produce_range(b, 1, 2, acks=1)
    produce_range(b, 2, 3, acks=1)
    b.flush()  # written before flush() returns, whatever flush_ms says
    segments = b.segments(T, 0)  # both flushes, in order, in the one active segment
    assert segments[["last_offset", "batch_count"]].values.tolist() == [[2, 2]]
    assert b.pending(T, 0).num_rows == 0
