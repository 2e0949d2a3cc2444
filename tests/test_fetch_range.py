"""The fetch range (issue 11 item 4): Kafka's rule in the fixed engine, chronik's as a switch,
and the consumer's auto_offset_reset after an out-of-range fetch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import chronik_lab as cl
from chronik_lab.errors import ScenarioError
from chronik_lab.sim.clients import MAX_RESETS

T = "topic"

# The seed on v0.7.5 with Kafka's range rule instead of chronik's: the renumbered response puts
# the consumer's position at 20 while the log ends at 10.
KAFKA_RANGE_V075 = tuple(sorted(cl.PRESETS["v0.7.5"] - {"chronik_fetch_range"}))


def lagging_broker(bugs: tuple[str, ...] = ()) -> cl.Broker:
    """Five records, not committed: acks=1 under hw_only_acks_all leaves the high watermark at 0."""
    b = cl.Broker(bugs=("hw_only_acks_all", *bugs))
    b.produce(T, 0, [b"%d" % i for i in range(5)], acks=1)
    assert (b.high_watermark(T, 0), b.log_end_offset(T, 0)) == (0, 5)
    return b


@pytest.mark.parametrize("offset", [0, 3, 5])
def test_kafka_fetch_between_high_watermark_and_log_end_is_empty(offset: int) -> None:
    with lagging_broker() as b:
        assert b.fetch(T, 0, offset).records.num_rows == 0


def test_kafka_fetch_above_the_log_end_is_out_of_range() -> None:
    with lagging_broker() as b, pytest.raises(cl.OffsetOutOfRangeError) as info:
        b.fetch(T, 0, 6)
    assert (info.value.offset, info.value.log_end_offset) == (6, 5)


@pytest.mark.parametrize("offset", [6, 10, 10_000])
def test_chronik_fetch_range_answers_empty_far_above_the_log_end(offset: int) -> None:
    with lagging_broker(("chronik_fetch_range",)) as b:
        assert b.fetch(T, 0, offset).records.num_rows == 0


def test_chronik_fetch_range_still_raises_below_the_log_start(make_broker, data_dir) -> None:
    b = make_broker(bugs="chronik_fetch_range", flush_batches=1, segment_bytes=1)
    b.produce(T, 0, [b"a", b"b"])
    b.produce(T, 0, [b"c"])
    b.close()
    Path(b.segments(T, 0)["path"][0]).unlink()
    reopened = make_broker(bugs="chronik_fetch_range")
    assert reopened.log_start_offset(T, 0) == 2
    with pytest.raises(cl.OffsetOutOfRangeError):
        reopened.fetch(T, 0, 1)


@pytest.mark.parametrize("preset", ["v0.7.5", "v0.7.6", "v1.0"])
def test_chronik_presets_have_chronik_fetch_range(preset: str) -> None:
    assert "chronik_fetch_range" in cl.PRESETS[preset]


def test_fixed_has_kafkas_fetch_range() -> None:
    assert cl.PRESETS["fixed"] == frozenset()


def test_renumbered_offsets_redeliver_under_kafkas_range_until_the_reset_cap() -> None:
    run = cl.run(cl.SEED.with_bugs(KAFKA_RANGE_V075))
    per_id = run.received["message_id"].value_counts()
    assert run.offset_resets == MAX_RESETS and run.consumer_capped
    # every id came back twice (renumbered) in the first read and in each read after a reset
    assert (per_id == 2 * (MAX_RESETS + 1)).all()
    assert len(run.received) == 20 * (MAX_RESETS + 1)


def test_renumbered_offsets_are_not_redelivered_under_chronik_range() -> None:
    # chronik's compat test saw this: 20 records, then empty fetches at position 20.
    run = cl.run(cl.SEED)
    assert run.offset_resets == 0 and not run.consumer_capped
    assert len(run.received) == 20 and run.received["message_id"].value_counts().max() == 2
    assert run.received["offset"].tolist() == list(range(20))


def test_reset_to_latest_after_out_of_range_reads_nothing_again() -> None:
    scenario = dataclasses.replace(cl.SEED, bugs=KAFKA_RANGE_V075, auto_offset_reset="latest")
    run = cl.run(scenario)
    assert run.offset_resets == 1 and not run.consumer_capped
    assert len(run.received) == 20


def test_reset_none_ends_the_partitions_consumption() -> None:
    scenario = dataclasses.replace(cl.SEED, bugs=KAFKA_RANGE_V075, auto_offset_reset="none")
    run = cl.run(scenario)
    assert run.failed_partitions == (0,) and run.offset_resets == 0
    assert "poll_error" in set(run.trace["step"])
    assert len(run.received) == 20


@pytest.mark.parametrize("value", ["smallest", "", None, 0])
def test_bad_auto_offset_reset_is_refused(value: object) -> None:
    with pytest.raises(ScenarioError, match="auto_offset_reset"):
        cl.Scenario(auto_offset_reset=value)  # type: ignore[arg-type]


def test_fixed_engine_never_resets_the_consumer() -> None:
    run = cl.run(dataclasses.replace(cl.SEED, bugs="fixed", poll_every=1))
    assert run.offset_resets == 0 and run.received_ids == list(range(10))
