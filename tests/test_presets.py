"""DESIGN section 1 at the broker level, for every preset: v0.7.5 duplicates, v0.7.6 loses,
v0.7.4, v1.0 and fixed are exact -- for the seed workload and for chronik's compat test."""

from __future__ import annotations

import pyarrow as pa
import pytest

import chronik_lab as cl
from chronik_lab.engine.records import FETCH_SCHEMA

T = "chronik-test"
SEED_IDS = [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]


def seed(make_broker, preset: str) -> cl.Broker:
    """The seed: requests [0..3] and [4..9] with acks=-1; the second one triggers the flush."""
    b = make_broker(data_dir=None, bugs=preset, flush_batches=2)
    b.produce(T, 0, [str(i) for i in range(4)], acks=-1)
    b.produce(T, 0, [str(i) for i in range(4, 10)], acks=-1)
    return b


def compat(make_broker, preset: str) -> cl.Broker:
    """chronik's test_single_partition_no_dup.py: ten single sends, acks=1, waiting for each."""
    b = make_broker(data_dir=None, bugs=preset, flush_batches=10)
    for i in range(10):
        b.produce(T, 0, [str(i)], acks=1)
    return b


def ids(table) -> list[int]:
    return [int(v) for v in table.column("value").to_pylist()]


def test_seed_v075_buffer_holds_0_3_then_0_9_then_4_9(make_broker) -> None:
    b = seed(make_broker, "v0.7.5")
    # [0-3] from the first request, [0-9] from flush's cumulative update_buffer, [4-9] from
    # the second request's own update_buffer (it runs after the acks=-1 flush)
    assert b.buffer(T, 0).column("offset").to_pylist() == SEED_IDS
    assert ids(b.buffer(T, 0)) == SEED_IDS


def test_seed_v075_fetch_returns_20_records_numbered_0_to_19(make_broker) -> None:
    b = seed(make_broker, "v0.7.5")
    f = b.fetch(T, 0, 0)
    assert f.records.column("offset").to_pylist() == list(range(20))
    assert ids(f.records) == SEED_IDS
    assert f.records.column("server_offset").to_pylist() == SEED_IDS
    assert f.high_watermark == 10


def test_seed_v075_flushed_segment_is_invisible(make_broker) -> None:
    b = seed(make_broker, "v0.7.5")
    segments = b.segments(T, 0)
    assert segments["record_count"].tolist() == [10]
    assert segments["visible"].tolist() == [False]


def test_seed_v076_loses_the_first_request(make_broker) -> None:
    b = seed(make_broker, "v0.7.6")
    # 0-9 flushed into the invisible active segment, mark_flushed emptied the buffer, and then
    # the second request's own update_buffer put 4-9 back (no floor at the flushed offset)
    assert ids(b.fetch(T, 0, 0).records) == [4, 5, 6, 7, 8, 9]
    assert b.buffer(T, 0).column("offset").to_pylist() == [4, 5, 6, 7, 8, 9]
    assert b.high_watermark(T, 0) == 10
    segments = b.segments(T, 0)
    assert segments["record_count"].tolist() == [10]
    assert segments["visible"].tolist() == [False]


def test_seed_v076_records_come_back_when_the_segment_rotates(make_broker) -> None:
    b = seed(make_broker, "v0.7.6")
    b.advance(30_000)  # rotation by age registers the sealed segment
    assert b.segments(T, 0)["visible"].tolist() == [True]
    assert ids(b.fetch(T, 0, 0).records) == list(range(10))


@pytest.mark.parametrize("preset", ["v0.7.4", "v1.0", "fixed"])
def test_seed_fixed_is_exact(make_broker, preset: str) -> None:
    b = seed(make_broker, preset)
    f = b.fetch(T, 0, 0)
    assert f.records.column("offset").to_pylist() == list(range(10))
    assert ids(f.records) == list(range(10))
    assert b.segments(T, 0)["visible"].all()


@pytest.mark.parametrize("preset", ["v1.0", "fixed"])
def test_seed_records_reenter_the_buffer_after_their_flush_and_fetch_skips_them(
    make_broker, preset: str
) -> None:
    # The acks=-1 flush runs before the request's update_buffer, and chronik's dedup checks
    # only the offsets buffered now: 4-9 are buffered again, already in the visible segment.
    # Phase 2 reads only above the last visible offset, so they are not served twice.
    b = seed(make_broker, preset)
    assert b.buffer(T, 0).column("offset").to_pylist() == [4, 5, 6, 7, 8, 9]
    assert ids(b.fetch(T, 0, 4).records) == [4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize(
    "preset, expected_ids",
    [
        # the tenth send triggers the flush; its cumulative update_buffer buffers 0-9 again
        ("v0.7.5", list(range(10)) * 2),
        # the flush writes 0-9 to the invisible segment and mark_flushed clears the buffer
        ("v0.7.6", []),
        ("v1.0", list(range(10))),
        ("fixed", list(range(10))),
        # every request is flushed, and flush_all makes each flush a visible segment
        ("v0.7.4", list(range(10))),
    ],
)
def test_compat_single_sends(make_broker, preset: str, expected_ids: list[int]) -> None:
    b = compat(make_broker, preset)
    f = b.fetch(T, 0, 0)
    assert ids(f.records) == expected_ids
    # the client sees contiguous offsets from 0, however many records came back
    assert f.records.column("offset").to_pylist() == list(range(len(expected_ids)))
    assert f.high_watermark == 10


def test_compat_passes_only_with_the_fixed_presets(make_broker) -> None:
    # chronik's test requires exactly 10 messages, ids 0..9, offsets 0..9
    outcome = {}
    for preset in cl.PRESETS:
        f = compat(make_broker, preset).fetch(T, 0, 0)
        exact = f.records.column("offset").to_pylist() == list(range(10))
        outcome[preset] = exact and ids(f.records) == list(range(10))
    assert outcome == {
        "v0.7.4": True,
        "v0.7.5": False,
        "v0.7.6": False,
        "v1.0": True,
        "fixed": True,
    }


@pytest.mark.parametrize("preset", sorted(cl.PRESETS))
def test_before_any_flush_every_preset_serves_the_buffer_exactly(make_broker, preset) -> None:
    b = make_broker(bugs=preset, flush_batches=100)
    b.produce(T, 0, ["0", "1", "2"], acks=-1)
    b.produce(T, 0, ["3"], acks=-1)
    assert ids(b.fetch(T, 0, 0).records) == [0, 1, 2, 3]
    assert ids(b.fetch(T, 0, 2).records) == [2, 3]


@pytest.mark.parametrize("preset", sorted(cl.PRESETS))
def test_fetch_results_share_one_schema_under_every_preset(make_broker, preset) -> None:
    # so that a consumer's polls, empty or not, concatenate into one table
    b = seed(make_broker, preset)
    full, empty = b.fetch(T, 0, 0), b.fetch(T, 0, 10)
    assert full.records.schema == empty.records.schema == FETCH_SCHEMA
    assert pa.concat_tables([full.records, empty.records]).num_rows == full.records.num_rows


@pytest.mark.parametrize("max_records", [1, 5, 14, 19])
def test_v075_max_records_takes_the_first_records_of_the_buggy_response(max_records) -> None:
    # The buffer-first fetch stops reading once it has max_records (a buggy buffer can be
    # long), and returns the first ones of the full 20-record response, in the same order.
    with cl.Broker(bugs="v0.7.5", flush_batches=2) as b:
        b.produce("t", 0, [str(i) for i in range(4)], acks=-1)
        b.produce("t", 0, [str(i) for i in range(4, 10)], acks=-1)
        full = b.fetch("t", 0, 0).records.column("value").to_pylist()
        part = b.fetch("t", 0, 0, max_records=max_records).records
    assert part.column("value").to_pylist() == full[:max_records]
    assert part.column("offset").to_pylist() == list(range(max_records))
