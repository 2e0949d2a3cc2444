"""Each bug switch, alone, changes the engine in the way its catalogue entry documents; the
catalogue and the presets are consistent with each other and with the engine's code."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

import chronik_lab as cl
from chronik_lab.bugs import BugSet, resolve_bugs
from chronik_lab.engine.buffer import PartitionBuffer
from chronik_lab.engine.fetch import encode_response
from chronik_lab.engine.records import make_batch

T = "topic"
PACKAGE = Path(cl.__file__).parent


def broker(make_broker, bug: str | None, **kwargs: Any) -> cl.Broker:
    """A broker with exactly one bug switch on (or none)."""
    return make_broker(data_dir=None, bugs=[] if bug is None else [bug], **kwargs)


def produce_range(b: cl.Broker, lo: int, hi: int, acks: int) -> None:
    b.produce(T, 0, [str(i) for i in range(lo, hi)], acks=acks)


def offsets(table: pa.Table) -> list[int]:
    return table.column("offset").to_pylist()


def values(table: pa.Table) -> list[int]:
    return [int(v) for v in table.column("value").to_pylist()]


# -- one test per switch -------------------------------------------------------------------
@pytest.mark.parametrize("bug", [None, "cumulative_update_buffer"])
def test_cumulative_update_buffer_makes_flush_push_pending_records(make_broker, bug) -> None:
    events: list[dict] = []
    b = broker(make_broker, bug, flush_batches=2, tracer=events.append)
    produce_range(b, 0, 4, acks=-1)
    produce_range(b, 4, 10, acks=-1)  # its acks=-1 flush runs before its own update_buffer
    updates = [(e["source"], e["ranges"]) for e in events if e["step"] == "update_buffer"]
    if bug:
        # flush buffers the pending 4-9 (0-3 are deduplicated) and then marks 0-9 flushed, so
        # the request's own update finds 4-9 gone and buffers them again
        assert updates == [("produce", [(0, 3)]), ("flush", [(4, 9)]), ("produce", [(4, 9)])]
    else:
        assert updates == [("produce", [(0, 3)]), ("produce", [(4, 9)])]
    assert values(b.fetch(T, 0).records) == list(range(10))


@pytest.mark.parametrize("bugs", [(), ("blind_append_buffer",)])
def test_records_flushed_before_their_update_buffer_reenter_the_buffer(make_broker, bugs) -> None:
    # chronik's dedup (fc6e6ce, 8eb1c4d) checks the offsets buffered now, with no floor at the
    # flushed offset: the acks=-1 flush empties the buffer, then the request buffers 0-3.
    b = make_broker(data_dir=None, bugs=bugs, flush_batches=1)
    produce_range(b, 0, 4, acks=-1)
    assert offsets(b.buffer(T, 0)) == [0, 1, 2, 3]
    assert values(b.fetch(T, 0).records) == [0, 1, 2, 3]  # phase 2 skips them


def test_update_buffer_sorts_by_offset_and_skips_buffered_offsets() -> None:
    buffer = PartitionBuffer(BugSet([]))
    buffer.update_buffer([make_batch(4, [b"e", b"f"], None, 0)])
    added = buffer.update_buffer([make_batch(0, [b"a"] * 6, None, 0)])  # 0-5, 4-5 buffered
    assert added == [(0, 3)]
    assert offsets(buffer.to_table()) == [0, 1, 2, 3, 4, 5]
    assert buffer.to_table().column("value").to_pylist()[4:] == [b"e", b"f"]


@pytest.mark.parametrize("bug", [None, "blind_append_buffer"])
def test_blind_append_buffer_appends_the_same_offsets_twice(bug) -> None:
    buffer = PartitionBuffer(BugSet([] if bug is None else [bug]))
    batch = make_batch(0, [b"a", b"b"], None, 0)
    assert buffer.update_buffer([batch]) == [(0, 1)]
    assert buffer.update_buffer([batch]) == ([(0, 1)] if bug else [])
    assert offsets(buffer.to_table()) == ([0, 1, 0, 1] if bug else [0, 1])


@pytest.mark.parametrize("bug", [None, "no_mark_flushed"])
def test_no_mark_flushed_keeps_flushed_records_in_the_buffer(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=100)
    produce_range(b, 0, 4, acks=1)
    b.flush()
    assert offsets(b.buffer(T, 0)) == ([0, 1, 2, 3] if bug else [])
    assert values(b.fetch(T, 0).records) == [0, 1, 2, 3]


@pytest.mark.parametrize("bug", [None, "mark_flushed_clears_all"])
def test_mark_flushed_clears_all_drops_records_above_the_flushed_offset(bug) -> None:
    buffer = PartitionBuffer(BugSet([] if bug is None else [bug]))
    buffer.update_buffer([make_batch(0, [b"x"] * 6, None, 0), make_batch(6, [b"y"] * 4, None, 0)])
    buffer.mark_flushed(3)
    assert offsets(buffer.to_table()) == ([] if bug else list(range(4, 10)))
    assert buffer.flushed_through == 3


@pytest.mark.parametrize("bug", [None, "mark_flushed_clears_all"])
def test_mark_flushed_clears_all_loses_records_buffered_during_a_flush(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=2, flush_ms=10)
    produce_range(b, 0, 1, acks=1)
    produce_range(b, 1, 2, acks=1)  # the second request starts a flush that ends at 10 ms
    produce_range(b, 2, 3, acks=1)  # buffered while the flush is in flight
    b.advance(10)  # the flush ends: mark_flushed(1)
    assert offsets(b.buffer(T, 0)) == ([] if bug else [2])
    assert values(b.fetch(T, 0).records) == ([0, 1] if bug else [0, 1, 2])


@pytest.mark.parametrize("bug", [None, "active_segment_invisible"])
def test_active_segment_invisible_hides_flushed_records_until_rotation(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=100, segment_ms=1000)
    produce_range(b, 0, 4, acks=1)
    b.flush()
    assert b.segments(T, 0)["visible"].tolist() == [not bug]
    assert values(b.fetch(T, 0).records) == ([] if bug else [0, 1, 2, 3])
    b.advance(1000)  # rotation seals and registers the segment
    assert b.segments(T, 0)["visible"].tolist() == [True]
    assert values(b.fetch(T, 0).records) == [0, 1, 2, 3]


@pytest.mark.parametrize("bug", [None, "buffer_first_fetch"])
def test_buffer_first_fetch_skips_segments_below_the_buffer(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=100)
    produce_range(b, 0, 4, acks=1)
    b.flush()
    produce_range(b, 4, 6, acks=1)  # buffered, not flushed
    # buffer first (4, 5), then segments from the last pushed offset + 1 = 6: 0-3 are skipped
    assert values(b.fetch(T, 0).records) == ([4, 5] if bug else list(range(6)))
    assert values(b.fetch(T, 0, 4).records) == [4, 5]


@pytest.mark.parametrize("bug", [None, "renumber_response_offsets"])
def test_renumber_response_offsets_numbers_records_from_the_first(bug) -> None:
    p = SimpleNamespace(bugs=BugSet([] if bug is None else [bug]))
    batches = [make_batch(4, [b"a", b"b"], None, 0), make_batch(2, [b"c"], None, 0)]
    records = encode_response(p, batches)
    assert offsets(records) == ([4, 5, 6] if bug else [4, 5, 2])
    assert records.column("server_offset").to_pylist() == [4, 5, 2]


def test_renumber_response_offsets_alone_is_harmless(make_broker) -> None:
    # As its catalogue entry says: once fetch returns each offset once, in order, renumbering
    # from the first record gives every record its own offset.
    fetched = []
    for bug in (None, "renumber_response_offsets"):
        b = broker(make_broker, bug, flush_batches=2)
        produce_range(b, 0, 4, acks=-1)
        produce_range(b, 4, 10, acks=-1)
        fetched.append(b.fetch(T, 0, 3).records)
    assert fetched[0].equals(fetched[1])


@pytest.mark.parametrize("bug", [None, "hw_only_acks_all"])
def test_hw_only_acks_all_leaves_acks_0_and_1_records_unreadable(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=100)
    produce_range(b, 0, 2, acks=1)
    produce_range(b, 2, 3, acks=0)
    assert b.log_end_offset(T, 0) == 3
    assert b.high_watermark(T, 0) == (0 if bug else 3)
    assert values(b.fetch(T, 0).records) == ([] if bug else [0, 1, 2])
    produce_range(b, 3, 4, acks=-1)  # acks=-1 moves the producer's high watermark ...
    assert b.high_watermark(T, 0) == 4
    # ... but fetch reads its high watermark from the segments: nothing is visible yet
    assert values(b.fetch(T, 0).records) == ([] if bug else [0, 1, 2, 3])
    b.flush()  # a visible segment up to 3: fetch's high watermark is 4
    f = b.fetch(T, 0)
    assert values(f.records) == [0, 1, 2, 3] and f.high_watermark == 4


@pytest.mark.parametrize("bug", [None, "flush_every_request"])
def test_flush_every_request_flushes_each_request_and_only_the_flush_buffers(
    make_broker, bug
) -> None:
    events: list[dict] = []
    b = broker(make_broker, bug, flush_batches=100, tracer=events.append)
    produce_range(b, 0, 2, acks=1)
    produce_range(b, 2, 3, acks=1)
    assert b.segments(T, 0)["record_count"].sum() == (3 if bug else 0)
    updates = [e["ranges"] for e in events if e["step"] == "update_buffer"]
    assert updates == ([] if bug else [[(0, 1)], [(2, 2)]])
    assert values(b.fetch(T, 0).records) == [0, 1, 2]


@pytest.mark.parametrize("bug", [None, "buffer_keeps_last_1000"])
def test_buffer_keeps_last_1000_drops_the_oldest_buffered_records(bug) -> None:
    buffer = PartitionBuffer(BugSet([] if bug is None else [bug]))
    for first in range(0, 1200, 100):
        buffer.update_buffer([make_batch(first, [b"x"] * 100, None, 0)], first + 100)
    kept = offsets(buffer.to_table())
    assert kept == (list(range(200, 1200)) if bug else list(range(1200)))
    assert buffer.base_offset == (200 if bug else 0)


@pytest.mark.parametrize("bug", [None, "chronik_fetch_range"])
def test_chronik_fetch_range_answers_empty_above_the_log_end(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=100)
    produce_range(b, 0, 3, acks=1)
    if bug:
        assert b.fetch(T, 0, 50).records.num_rows == 0
    else:
        with pytest.raises(cl.OffsetOutOfRangeError):
            b.fetch(T, 0, 50)
    assert values(b.fetch(T, 0, 3).records) == []  # at the log end: empty under both rules


@pytest.mark.parametrize("bug", [None, "crc32_ieee_batches"])
def test_crc32_ieee_batches_changes_the_wire_crc_and_nothing_in_the_engine(make_broker, bug):
    from kafka.record.default_records import DefaultRecordBatch

    from chronik_lab.wire.batches import encode_batch

    b = broker(make_broker, bug, flush_batches=1)
    produce_range(b, 0, 3, acks=-1)
    fetched = b.fetch(T, 0).records
    assert values(fetched) == [0, 1, 2]  # the engine's answer is the same either way
    assert DefaultRecordBatch(encode_batch(fetched, b.bugs)).validate_crc() is (bug is None)


def send(b: cl.Broker, first: int, count: int, pid: int = 7, epoch: int = 0) -> cl.ProduceResult:
    """An idempotent producer's batch: values first..first+count-1, sequences the same."""
    return b.produce(
        T,
        0,
        [str(i) for i in range(first, first + count)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=first,
    )


@pytest.mark.parametrize("bug", [None, "no_producer_dedup"])
def test_no_producer_dedup_appends_a_retried_batch_again(make_broker, bug) -> None:
    b = broker(make_broker, bug, flush_batches=2)
    send(b, 0, 2)
    send(b, 2, 3)
    retry = send(b, 0, 2)  # the first batch again: its answer was lost
    if bug:
        assert (retry.base_offset, retry.duplicate) == (5, False)
        assert values(b.fetch(T, 0).records) == [0, 1, 2, 3, 4, 0, 1]
    else:
        assert (retry.base_offset, retry.last_offset, retry.duplicate) == (0, 1, True)
        assert values(b.fetch(T, 0).records) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("bug", [None, "dedup_last_sequence_only"])
def test_dedup_last_sequence_only_refuses_a_retry_without_its_offsets(make_broker, bug) -> None:
    b = broker(make_broker, bug)
    for first in (0, 2, 4):
        send(b, first, 2)
    if bug:
        with pytest.raises(cl.DuplicateSequenceError) as info:
            send(b, 2, 2)  # the second batch again, not the last one
        assert (info.value.expected_sequence, info.value.base_sequence) == (6, 2)
    else:
        retry = send(b, 2, 2)
        assert (retry.base_offset, retry.last_offset, retry.duplicate) == (2, 3, True)
    assert values(b.fetch(T, 0).records) == list(range(6))  # nothing appended either way


@pytest.mark.parametrize("bug", [None, "producer_state_lost_on_restart"])
def test_producer_state_lost_on_restart_appends_a_retry_across_a_restart(
    make_broker, data_dir, bug
) -> None:
    bugs = [] if bug is None else [bug]
    b = make_broker(bugs=bugs, flush_batches=1)
    send(b, 0, 2)
    send(b, 2, 2)
    b.close()
    b = make_broker(bugs=bugs, flush_batches=1)  # the restarted broker recovers data_dir
    retry = send(b, 2, 2)
    if bug:
        assert (retry.base_offset, retry.duplicate) == (4, False)
        assert values(b.fetch(T, 0).records) == [0, 1, 2, 3, 2, 3]
    else:
        assert (retry.base_offset, retry.duplicate) == (2, True)
        assert values(b.fetch(T, 0).records) == [0, 1, 2, 3]


@pytest.mark.parametrize("bug", [None, "ack_before_durable"])
def test_ack_before_durable_loses_acknowledged_records_on_a_kill(make_broker, tmp_path, bug):
    b = broker(make_broker, bug, flush_batches=10)
    produce_range(b, 0, 4, acks=-1)  # acknowledged, fewer than flush_batches: not flushed
    killed = tmp_path / "killed"  # what a SIGKILL leaves: the files as they are now
    shutil.copytree(b.data_dir, killed, ignore=shutil.ignore_patterns(".lock"))
    recovered = make_broker(data_dir=killed, bugs=[] if bug is None else [bug])
    if bug:
        assert recovered.partitions() == []  # nothing was in a file: all four lost
    else:
        assert values(recovered.fetch(T, 0).records) == [0, 1, 2, 3]


def _targeted_bugs() -> set[str]:
    """The switches some test above is parametrized over as `bug`."""
    found: set[str] = set()
    for name, test in globals().items():
        for mark in getattr(test, "pytestmark", []) if name.startswith("test_") else []:
            if mark.name == "parametrize" and mark.args[0] == "bug":
                found |= {value for value in mark.args[1] if value}
    return found


@pytest.mark.parametrize("name", sorted(cl.BUGS))
def test_every_bug_has_a_targeted_test_above(name: str) -> None:
    assert name in _targeted_bugs()


# -- the catalogue and the presets ---------------------------------------------------------
def test_fixed_preset_has_no_switch() -> None:
    assert cl.PRESETS["fixed"] == frozenset()
    assert resolve_bugs("fixed") == resolve_bugs(None) == frozenset()


def test_v1_0_is_the_release_with_the_switches_its_code_still_has() -> None:
    # 8eb1c4d fixed mark_flushed and made the active segment visible; the rest stayed.
    assert {"chronik_fetch_range"} <= cl.PRESETS["v1.0"]
    assert not {"mark_flushed_clears_all", "active_segment_invisible"} & cl.PRESETS["v1.0"]


def test_presets_name_only_catalogued_bugs() -> None:
    assert {"v0.7.5", "v0.7.6", "v1.0", "fixed"} <= set(cl.PRESETS)
    for names in cl.PRESETS.values():
        assert isinstance(names, frozenset)
        assert names <= set(cl.BUGS)


def test_v075_and_v076_presets_hold_the_bugs_of_design_section_1() -> None:
    assert {"cumulative_update_buffer", "blind_append_buffer", "no_mark_flushed"} <= cl.PRESETS[
        "v0.7.5"
    ]
    assert {"mark_flushed_clears_all", "active_segment_invisible"} <= cl.PRESETS["v0.7.6"]
    # fc6e6ce fixed these in v0.7.6
    assert not {"cumulative_update_buffer", "blind_append_buffer"} & cl.PRESETS["v0.7.6"]


@pytest.mark.parametrize("name", sorted(cl.BUGS))
def test_every_bug_has_a_chronik_commit_and_a_summary(name: str) -> None:
    bug = cl.BUGS[name]
    assert bug.name == name
    # a chronik commit, or for another broker's bug the change that fixed it there
    assert re.fullmatch(r"[0-9a-f]{7,40}|[\w.-]+/[\w.-]+#\d+", bug.chronik_commit)
    assert bug.summary and bug.introduced_in and bug.fixed_in


@pytest.mark.parametrize("name", sorted(cl.BUGS))
def test_every_bug_switch_is_read_once_in_each_module_its_entry_names(name: str) -> None:
    modules = sorted(part.split(":")[0].strip() for part in cl.BUGS[name].where.split(";"))
    places = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "bugs.py"  # the catalogue itself
        for line in path.read_text().splitlines()
        if re.search(rf"\bbugs\.{name}\b", line)
    ]
    assert places == modules


def test_bug_names_resolve_from_presets_names_and_lists() -> None:
    assert resolve_bugs("no_mark_flushed") == {"no_mark_flushed"}
    assert resolve_bugs("no_mark_flushed, buffer_first_fetch") == {
        "no_mark_flushed",
        "buffer_first_fetch",
    }
    assert resolve_bugs("fixed+hw_only_acks_all") == {"hw_only_acks_all"}
    assert resolve_bugs("v1.0+hw_only_acks_all") == cl.PRESETS["v1.0"] | {"hw_only_acks_all"}
    assert resolve_bugs(["v0.7.6", "no_mark_flushed"]) == cl.PRESETS["v0.7.6"] | {"no_mark_flushed"}
    assert resolve_bugs(()) == frozenset()


@pytest.mark.parametrize(
    "bugs", ["nope", "v0.7.7", ["no_mark_flushed", "nope"], "v0.7.5+nope", ("NO_MARK_FLUSHED",)]
)
def test_unknown_bug_names_raise_unknown_bug_error(bugs) -> None:
    with pytest.raises(cl.UnknownBugError) as info:
        resolve_bugs(bugs)
    assert info.value.name in {"nope", "v0.7.7", "NO_MARK_FLUSHED"}
    assert set(cl.BUGS) <= set(info.value.known)
    with pytest.raises(cl.UnknownBugError):
        cl.Broker(bugs=bugs)


@pytest.mark.parametrize("bugs", [b"v1.0", bytearray(b"v0.7.5")])
def test_bytes_bugs_are_refused_with_a_clear_message(bugs) -> None:
    with pytest.raises(cl.InvalidArgumentError, match="bugs must be a str") as info:
        resolve_bugs(bugs)
    assert "not int" not in str(info.value)
    with pytest.raises(cl.InvalidArgumentError, match="bugs must be a str"):
        cl.Scenario(bugs=bugs)  # type: ignore[arg-type]


def test_a_bugset_refuses_to_answer_for_a_bug_it_does_not_know() -> None:
    # a typo in an engine guard must fail loudly, not read as "switch off"
    with pytest.raises(AttributeError):
        BugSet("v0.7.5").no_such_bug  # noqa: B018
    assert BugSet("v0.7.5").no_mark_flushed is True
    assert BugSet("v1.0").no_mark_flushed is False
