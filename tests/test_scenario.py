"""Scenarios and runs: the seed and chronik's compat test on each version, the tables, the client.

The seed's observation is data (data/observed/); the run must give it back row for row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import chronik_lab as cl
from chronik_lab.errors import ChronikLabError, ScenarioError, UnknownBugError
from chronik_lab.sim import scenario as scenario_module
from chronik_lab.sim.clients import (
    Consumer,
    Producer,
    decode_ids,
    encode_value,
    partition_of,
    plan_requests,
)
from chronik_lab.sim.operations import Operations

OBSERVED = Path(__file__).resolve().parents[1] / "data" / "observed" / "chronik_v0.7.5_seed.csv"
PRESETS = ("v0.7.4", "v0.7.5", "v0.7.6", "v1.0")


def observed_seed() -> pd.DataFrame:
    return pd.read_csv(OBSERVED)


def compat_passes(run: cl.Run) -> bool:
    """chronik's test_single_partition_no_dup.py: exactly 10 messages, ids 0-9, offsets 0-9."""
    received = run.received
    return (
        len(received) == 10
        and sorted(received["message_id"]) == list(range(10))
        and received["offset"].tolist() == list(range(10))
    )


# -- the seed and the compat test, per version ----------------------------------------------
def test_seed_on_v075_receives_the_observed_records_exactly():
    got = cl.run(cl.SEED).received[["poll", "partition", "offset", "message_id"]]
    pd.testing.assert_frame_equal(got, observed_seed(), check_dtype=False)


def test_seed_on_v075_is_the_papers_twenty_ids():
    run = cl.run(cl.SEED)
    assert run.received["offset"].tolist() == list(range(20))
    assert run.received_ids == [0, 1, 2, 3, *range(10), *range(4, 10)]


def test_seed_on_v10_receives_each_id_once_at_its_own_offset():
    run = cl.run(cl.SEED.with_bugs("v1.0"))
    assert run.received_ids == list(range(10))
    assert run.received["offset"].tolist() == list(range(10))


def test_seed_on_v076_loses_messages():
    run = cl.run(cl.SEED.with_bugs("v0.7.6"))
    assert len(set(run.received_ids)) < 10


@pytest.mark.parametrize(
    ("preset", "passes"), [("v0.7.5", False), ("v0.7.6", False), ("v1.0", True)]
)
def test_compat_test_passes_only_on_v10(preset, passes):
    assert compat_passes(cl.run(cl.COMPAT.with_bugs(preset))) is passes


def test_compat_is_chroniks_test_workload():
    c = cl.COMPAT
    assert (c.messages, c.batch_sizes, c.acks, c.partitions) == (10, None, 1, 1)


def test_seed_report_counts_ten_duplicates_and_v10_report_is_ok():
    seed = cl.run(cl.SEED)
    assert not seed.report.ok
    assert seed.report.counts["duplicate"] > 0
    assert cl.run(cl.SEED.with_bugs("v1.0")).report.ok


@pytest.mark.parametrize("preset", ["v0.7.5", "v0.7.6"])
def test_compat_report_flags_the_buggy_versions(preset):
    assert not cl.run(cl.COMPAT.with_bugs(preset)).report.ok


def test_run_presets_runs_one_workload_per_version():
    runs = cl.run_presets(cl.SEED)
    assert list(runs) == list(PRESETS)
    assert [len(r.received) for r in runs.values()] == [10, 20, 6, 10]
    assert all(r.scenario.batch_sizes == (4, 6) for r in runs.values())


# -- the tables -----------------------------------------------------------------------------
def test_sent_records_each_message_with_its_offset_and_request():
    sent = cl.run(cl.SEED).sent
    assert sent["message_id"].tolist() == list(range(10))
    assert sent["offset"].tolist() == list(range(10))
    assert sent["request"].tolist() == [0] * 4 + [1] * 6


def test_history_has_the_checker_columns_and_one_row_per_record():
    run = cl.run(cl.SEED)
    h = run.history
    assert list(h.columns) == ["op_index", "process", "f", "type", "partition", "offset", "value"]
    assert (h["f"] == "send").sum() == 10
    assert (h["f"] == "poll").sum() == 20
    assert h["op_index"].is_monotonic_increasing


def test_acks_zero_sends_are_indeterminate_in_the_history():
    h = cl.run(cl.Scenario(messages=3, acks=0)).history
    assert set(h.loc[h["f"] == "send", "type"]) == {"info"}


def test_trace_attributes_every_broker_step_to_its_request_or_poll():
    trace = cl.run(cl.SEED).trace
    broker = trace[trace["actor"] == "broker"]
    produce = broker[broker["cause"] == "produce"]
    fetch = broker[broker["cause"] == "fetch"]
    assert produce["request"].notna().all() and fetch["poll"].notna().all()
    assert len(produce) + len(fetch) == len(broker)
    assert trace["step_index"].tolist() == list(range(len(trace)))


def test_trace_shows_the_flush_pushing_records_into_the_buffer_again():
    trace = cl.run(cl.SEED).trace
    updates = trace[trace["step"] == "update_buffer"]
    assert updates["source"].tolist() == ["produce", "flush", "produce"]
    flush_update = updates[updates["source"] == "flush"].iloc[0]
    assert (flush_update["first_offset"], flush_update["last_offset"]) == (0, 9)
    assert flush_update["request"] == 1


def test_buffer_snapshots_end_with_the_seeds_duplicated_buffer():
    bh = cl.run(cl.SEED).buffer_snapshots
    last = bh[bh["step_index"] == bh["step_index"].max()]
    assert list(zip(last["first_offset"], last["last_offset"], strict=True)) == [
        (0, 3),
        (0, 3),
        (4, 9),
        (4, 9),
    ]
    assert last["position"].tolist() == [0, 4, 8, 14]
    assert last["count"].sum() == 20


def test_segment_snapshots_show_the_flushed_segment_invisible_on_v076():
    sh = cl.run(cl.SEED.with_bugs("v0.7.6")).segment_snapshots
    assert sh.iloc[-1][["base_offset", "last_offset", "visible"]].tolist() == [0, 9, False]
    fixed = cl.run(cl.SEED).segment_snapshots  # v0.7.5 has the same invisible segment
    assert not fixed["visible"].any()
    assert cl.run(cl.SEED.with_bugs("v1.0")).segment_snapshots["visible"].iloc[-1]


def test_offsets_snapshots_track_the_high_watermark():
    oh = cl.run(cl.SEED.with_bugs("v1.0")).offsets_snapshots
    assert oh["high_watermark"].is_monotonic_increasing
    assert oh["high_watermark"].iloc[-1] == 10 and oh["log_end_offset"].iloc[-1] == 10


def test_snapshot_rows_are_per_buffer_entry_not_per_record():
    s = cl.Scenario(messages=200_000, batch_sizes=[200_000], acks=-1, flush_batches=1)
    run = cl.run(s)
    assert len(run.received) == 200_000
    assert len(run.buffer_snapshots) <= 2


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="counts maps in /proc")
def test_a_run_holds_no_segment_map_past_the_poll_that_read_it(monkeypatch):
    """Each segment read maps the file; what the consumer keeps of a poll must not point into
    that map, or every poll of a big batch keeps a map of the whole file alive."""
    live = []
    fetch = cl.Broker.fetch

    def counting_fetch(self, *args, **kwargs):
        maps = Path("/proc/self/maps").read_text().splitlines()
        live.append(sum(str(self.data_dir) in line for line in maps))
        return fetch(self, *args, **kwargs)

    monkeypatch.setattr(cl.Broker, "fetch", counting_fetch)
    run = cl.run(cl.Scenario(messages=20_000, batch_sizes=[20_000], flush_batches=1))
    assert len(run.received) == 20_000 and len(live) >= 20  # many polls of one segment batch
    assert max(live) <= 1, live


def test_snapshots_thin_at_the_row_limit_instead_of_stopping(monkeypatch):
    monkeypatch.setattr(scenario_module, "SNAPSHOT_ROW_LIMIT", 300)
    run = cl.run(cl.Scenario(messages=50, bugs="v0.7.5", flush_batches=100))
    assert run.snapshots_stride > 1
    assert len(run.buffer_snapshots) + len(run.segment_snapshots) <= 300
    assert run.offsets_snapshots["held_until"].iloc[-1] == len(run.trace)  # to the run's end
    assert run.summary()["snapshots_stride"] == run.snapshots_stride


def test_snapshots_off_gives_empty_tables_with_the_same_columns():
    on = cl.run(cl.SEED)
    off = cl.run(cl.Scenario(**{**cl.SEED.to_dict(), "snapshots": False}))
    for name in ("buffer_snapshots", "segment_snapshots", "offsets_snapshots"):
        assert getattr(off, name).empty
        assert list(getattr(off, name).columns) == list(getattr(on, name).columns)
    assert off.received.equals(on.received)


def test_summary_is_json_serialisable():
    summary = cl.run(cl.SEED).summary()
    back = json.loads(json.dumps(summary))
    assert back["sent"] == 10 and back["received"] == 20
    assert back["scenario"]["batch_sizes"] == [4, 6]


# -- determinism ----------------------------------------------------------------------------
TABLES = ("sent", "received", "history", "trace", "buffer_snapshots", "segment_snapshots")


@pytest.mark.parametrize(
    "scenario",
    [
        cl.SEED,
        cl.COMPAT,
        cl.Scenario(messages=30, batch_sizes=[7, 3, 20], acks=-1, bugs="v0.7.6", partitions=3),
        cl.Scenario(
            messages=12, bugs="v0.7.5", poll_every=2, linger_ms=10, keyed=True, partitions=2
        ),
    ],
)
def test_the_same_scenario_gives_identical_tables(scenario):
    a, b = cl.run(scenario), cl.run(scenario)
    for name in (*TABLES, "offsets_snapshots"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.summary() == b.summary()


# -- the clients ----------------------------------------------------------------------------
def test_the_producer_sends_the_ids_as_chroniks_compat_test_does():
    # The real send path (Producer.send inlines the encoding): what reaches the broker is
    # json.dumps({"id": i}) byte for byte, and decode_ids reads the ids back from a fetch.
    with cl.Broker() as broker:
        producer = Producer(broker, "t", 1, Operations(), lambda *a: None)
        for calls in plan_requests(4, (1, 3)):
            producer.send(calls)
        values = broker.fetch("t", 0).records.column("value")
    assert values.to_pylist() == [b'{"id": %d}' % i for i in range(4)]
    assert values.to_pylist() == [encode_value(i) for i in range(4)]
    assert decode_ids(values).tolist() == [0, 1, 2, 3]


def test_round_robin_starts_at_the_seed_partition():
    sent = cl.run(cl.Scenario(messages=6, partitions=3, seed=1)).sent
    assert sent["partition"].tolist() == [1, 2, 0, 1, 2, 0]


def test_keyed_messages_go_to_the_crc32_partition_of_their_key():
    sent = cl.run(cl.Scenario(messages=20, partitions=4, keyed=True)).sent
    import zlib

    assert sent["partition"].tolist() == [zlib.crc32(str(i).encode()) % 4 for i in range(20)]
    assert partition_of(5, 4, keyed=True) == zlib.crc32(b"5") % 4


def test_a_request_over_partitions_is_one_produce_per_partition():
    sent = cl.run(cl.Scenario(messages=6, batch_sizes=[6], partitions=2)).sent
    assert sent["request"].tolist() == [0] * 6
    assert sent.groupby("partition")["offset"].apply(list).tolist() == [[0, 1, 2], [0, 1, 2]]


def test_linger_flushes_between_requests():
    run = cl.run(cl.Scenario(messages=3, flush_batches=100, linger_ms=5))
    flushes = run.trace[run.trace["step"] == "flush_start"]
    assert (flushes["cause"] == "linger").all() and len(flushes) == 3
    assert run.received_ids == [0, 1, 2]


def test_poll_every_polls_between_requests():
    run = cl.run(cl.Scenario(messages=6, poll_every=2))
    assert run.received["poll"].nunique() == 3
    assert run.received_ids == list(range(6))


def test_max_records_splits_the_reads_into_several_polls():
    run = cl.run(cl.Scenario(messages=10, max_records=3))
    assert run.received["poll"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert run.received_ids == list(range(10))


def test_a_position_past_the_high_watermark_polls_again_and_finds_nothing_under_chronik():
    # v0.7.5 renumbers 12 duplicated records as offsets 4-15: the position (16) passes hw (10);
    # chronik's fetch range answers empty there, so nothing fails and nothing is read again.
    run = cl.run(cl.Scenario(**{**cl.SEED.to_dict(), "poll_every": 1}))
    assert run.failed_partitions == () and run.offset_resets == 0
    assert "poll_error" not in set(run.trace["step"])
    assert run.received["offset"].tolist() == list(range(16))


def test_the_consumer_stops_at_the_poll_cap():
    with cl.Broker() as broker:
        broker.produce("t", 0, [encode_value(i) for i in range(10)])
        consumer = Consumer(broker, "t", 1, 1, Operations(), lambda *a: None, max_polls=3)
        consumer.drain()
    assert consumer.capped and consumer.polls == 3


# -- bad scenarios --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"messages": 0},
        {"messages": "10"},
        {"messages": True},
        {"batch_sizes": [4, 5]},
        {"batch_sizes": [10, 0], "messages": 10},
        {"batch_sizes": "46"},
        {"batch_sizes": [4.0, 6.0]},
        {"acks": 2},
        {"acks": True},
        {"flush_batches": 0},
        {"partitions": 0},
        {"seed": 1.5},
        {"topic": "bad topic"},
        {"linger_ms": -1},
        {"poll_every": 0},
        {"max_records": 0},
        {"keyed": 1},
        {"bugs": 3},
    ],
)
def test_a_bad_scenario_raises_a_scenario_error(kwargs):
    with pytest.raises(ScenarioError):
        cl.Scenario(**kwargs)


@pytest.mark.parametrize("bugs", ["v9.9", ["no_such_bug"], ("cumulative_update_buffer", "x")])
def test_an_unknown_bug_raises_unknown_bug_error(bugs):
    with pytest.raises(UnknownBugError) as info:
        cl.Scenario(bugs=bugs)
    assert isinstance(info.value, ChronikLabError)


def test_batch_sizes_and_bug_lists_become_hashable_tuples():
    s = cl.Scenario(
        messages=10, batch_sizes=[4, 6], bugs=["no_mark_flushed", "blind_append_buffer"]
    )
    assert s.batch_sizes == (4, 6)
    assert s.bugs == ("blind_append_buffer", "no_mark_flushed")
    assert hash(s) == hash(cl.Scenario(messages=10, batch_sizes=(4, 6), bugs=s.bugs))


def test_run_needs_a_scenario():
    with pytest.raises(ChronikLabError):
        cl.run({"messages": 10})  # type: ignore[arg-type]
