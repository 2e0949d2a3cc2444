"""The checker: one hand-made history per anomaly type, clean histories with no false alarm, the
seed pattern, history files, bad input, log invariants, and hypothesis tests against a reference
recount in plain Python."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronik_lab.checker import anomalies
from chronik_lab.checker.history import COLUMNS, normalise_history, read_history, write_history
from chronik_lab.checker.verdict import ANOMALY_TYPES, CheckReport, check, check_log
from chronik_lab.errors import ChronikLabError, HistoryError

SEED_IDS = [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9]


# --- building histories ----------------------------------------------------------------------


def sends(ids, offsets=None, partition=0, process=0, first_op=0, type_="ok") -> list[dict]:
    """One send op per id, acknowledged at `offsets` (default: the ids)."""
    offsets = ids if offsets is None else offsets
    return [
        row(first_op + i, process, "send", type_, partition, o, v)
        for i, (o, v) in enumerate(zip(offsets, ids, strict=True))
    ]


def poll(op, offsets, values=None, partition=0, process=100) -> list[dict]:
    """One poll op receiving `values` (default: the offsets) at `offsets`, in that order."""
    values = offsets if values is None else values
    return [
        row(op, process, "poll", "ok", partition, o, v)
        for o, v in zip(offsets, values, strict=True)
    ]


def row(op, process, f, type_, partition, offset, value) -> dict:
    return {
        "op_index": op,
        "process": process,
        "f": f,
        "type": type_,
        "partition": partition,
        "offset": offset,
        "value": value,
    }


def frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for part in parts for r in part], columns=list(COLUMNS))


def found(report: CheckReport) -> dict[str, int]:
    return {t: n for t, n in report.counts.items() if n}


def of_type(report: CheckReport, type_: str) -> pd.DataFrame:
    return report.anomalies[report.anomalies["type"] == type_]


@contextmanager
def sorted_codes() -> Iterator[None]:
    """Force the code layout the checker uses for sparse ids and offsets (a sort, no table)."""
    saved = anomalies.DENSE_PER_ROW, anomalies.DENSE_MIN
    anomalies.DENSE_PER_ROW = anomalies.DENSE_MIN = 0
    try:
        yield
    finally:
        anomalies.DENSE_PER_ROW, anomalies.DENSE_MIN = saved


def seed_history() -> pd.DataFrame:
    """Chronik v0.7.5: batches [0..3] and [4..9] acknowledged, 20 records received."""
    return frame(
        sends([0, 1, 2, 3]),
        sends([4, 5, 6, 7, 8, 9], first_op=4),
        poll(10, range(4), SEED_IDS[:4]),
        poll(11, range(4, 20), SEED_IDS[4:]),
    )


# --- the seed -----------------------------------------------------------------------------------


def test_seed_pattern_is_three_runs():
    report = check(seed_history())
    runs = report.pattern[
        ["partition", "offset_start", "offset_end", "value_start", "value_end", "count"]
    ]
    assert runs.to_numpy().tolist() == [
        [0, 0, 3, 0, 3, 4],
        [0, 4, 13, 0, 9, 10],
        [0, 14, 19, 4, 9, 6],
    ]
    assert report.pattern_text() == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


def test_seed_reports_every_id_duplicated_once_and_the_offsets_acked_for_other_ids():
    report = check(seed_history())
    assert found(report) == {"duplicate": 10, "inconsistent-offsets": 6}
    dups = of_type(report, "duplicate")
    assert dups["value"].tolist() == list(range(10))
    assert dups["offsets"].tolist()[0] == [0, 4] and dups["offsets"].tolist()[9] == [13, 19]
    assert dups["op_indexes"].tolist()[0] == [10, 11]
    # Offsets 4..9 were acknowledged for ids 4..9 and received holding ids 0..5.
    assert of_type(report, "inconsistent-offsets")["offsets"].tolist() == [
        [o] for o in range(4, 10)
    ]
    assert report.stats == {
        "sent": 10,
        "acknowledged": 10,
        "received": 20,
        "distinct_received": 10,
        "duplicated": 10,
        "redelivered": 0,
        "lost": 0,
        "lost_write": 0,
        "unseen": 0,
    }


def test_seed_report_is_the_same_with_far_or_sparse_ids_partitions_and_offsets():
    dense = check(seed_history())
    with sorted_codes():
        forced = check(seed_history())
    pd.testing.assert_frame_equal(forced.anomalies, dense.anomalies)
    pd.testing.assert_frame_equal(forced.pattern, dense.pattern)
    far = check(seed_history().assign(partition=2**31 - 1, offset=lambda h: h.offset + 10**12))
    assert far.counts == dense.counts
    assert far.pattern["offset_start"].tolist() == [10**12, 10**12 + 4, 10**12 + 14]
    sparse = check(seed_history().assign(value=lambda h: h.value * 10**15))
    assert sparse.counts == dense.counts
    assert of_type(sparse, "duplicate")["value"].tolist() == [i * 10**15 for i in range(10)]


def test_summary_and_html_show_the_pattern_and_the_verdict():
    report = check(seed_history())
    assert "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9" in report.summary()
    assert "duplicate 10" in report.summary().splitlines()[0]
    assert "14–19 ↦ 4–9" in report._repr_html_()
    assert check(frame(sends([0]), poll(1, [0]))).summary().startswith("history check: ok")
    assert repr(report) == "<CheckReport: 16 anomalies (duplicate 10, inconsistent-offsets 6)>"


def test_to_dict_is_json_with_every_count():
    data = json.loads(json.dumps(check(seed_history()).to_dict()))
    assert data["ok"] is False
    assert set(data["counts"]) == set(ANOMALY_TYPES)
    assert data["pattern"] == "0–3 ↦ 0–3, 4–13 ↦ 0–9, 14–19 ↦ 4–9"


# --- one history per anomaly type ----------------------------------------------------------


def test_duplicate_counts_each_extra_offset_of_an_id():
    report = check(frame(poll(1, [0, 1, 2, 3, 4, 5], [0, 1, 2, 1, 3, 1])))
    assert found(report) == {"duplicate": 2}
    dup = of_type(report, "duplicate").iloc[0]
    assert (dup["value"], dup["offsets"], dup["count"]) == (1, [1, 3, 5], 2)


def test_duplicate_counts_offsets_not_deliveries():
    history = frame(poll(1, [0, 1, 2, 3], [0, 1, 2, 1]), poll(2, [1], [1], process=101))
    dup = of_type(check(history), "duplicate").iloc[0]
    assert (dup["value"], dup["offsets"], dup["count"]) == (1, [1, 3], 1)
    assert dup["detail"] == "received 3 times at 2 offsets: 1, 3"


def test_a_detail_names_the_first_ten_offsets_and_counts_the_rest():
    history = frame(poll(1, list(range(100_000)), [7] * 100_000))
    dup = of_type(check(history), "duplicate").iloc[0]
    assert dup["detail"] == (
        "received 100000 times at 100000 offsets: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … (99990 more)"
    )
    assert len(dup["offsets"]) == 100_000 and dup["count"] == 99_999  # the data stays whole


def test_an_id_acknowledged_at_many_offsets_has_a_short_detail():
    history = frame(sends([3] * 30, list(range(30))), poll(40, [0], [3]))
    moved = of_type(check(history), "inconsistent-offsets").iloc[0]
    assert moved["detail"] == (
        "id 3 at different offsets: acknowledged at 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … (20 more);"
        " received at 0"
    )


def test_same_record_read_by_two_consumers_is_not_a_duplicate():
    history = frame(
        sends([0, 1, 2]), poll(3, [0, 1, 2], process=100), poll(4, [0, 1, 2], process=101)
    )
    assert check(history).ok


def test_lost_write_is_an_acked_id_missing_below_a_received_one():
    report = check(frame(sends([0, 1, 2, 3, 4]), poll(5, [0, 1, 3, 4])))
    assert found(report) == {"lost-write": 1, "offset-gap": 1}
    assert of_type(report, "lost-write")["value"].tolist() == [2]
    assert of_type(report, "offset-gap")["offsets"].tolist() == [[2, 2]]


def test_unseen_is_an_acked_id_missing_with_nothing_later_received():
    report = check(frame(sends([0, 1, 2, 3, 4]), poll(5, [0, 1, 2])))
    assert found(report) == {"unseen": 2}
    assert of_type(report, "unseen")["value"].tolist() == [3, 4]


def test_id_acked_twice_and_never_received_is_one_unseen_at_its_first_offset():
    report = check(frame(sends([0, 1, 2, 2]), poll(4, [0, 1])).assign(offset=[0, 1, 2, 3, 0, 1]))
    assert found(report) == {"unseen": 1, "inconsistent-offsets": 1}
    assert of_type(report, "unseen")["offsets"].tolist() == [[2]]


def test_failed_and_indeterminate_sends_are_never_lost():
    history = frame(
        sends([0, 1]),
        sends([7], [None], first_op=2, type_="fail"),
        sends([8], [None], first_op=3, type_="info"),
        poll(4, [0, 1]),
    )
    assert check(history).ok


def test_poll_skip_is_a_poll_starting_past_the_previous_polls_end():
    # Another consumer reads offsets 3..4, so no offset is missing: only the skip remains.
    history = frame(poll(1, [0, 1, 2]), poll(2, [5, 6]), poll(3, [3, 4], process=101))
    report = check(history)
    assert found(report) == {"poll-skip": 1}
    skip = of_type(report, "poll-skip").iloc[0]
    assert (skip["process"], skip["offsets"], skip["op_indexes"]) == (100, [2, 5], [1, 2])


def test_nonmonotonic_poll_across_polls():
    report = check(frame(poll(1, [0, 1, 2]), poll(2, [1, 2, 3])))
    assert found(report) == {"nonmonotonic-poll": 1}
    assert of_type(report, "nonmonotonic-poll")["offsets"].tolist() == [[2, 1]]


def test_nonmonotonic_poll_within_one_poll():
    report = check(frame(poll(1, [0, 2, 1])))
    assert found(report) == {"nonmonotonic-poll": 1}
    assert of_type(report, "nonmonotonic-poll")["value"].tolist() == [1]


def test_inconsistent_offsets_when_an_offset_holds_two_ids():
    history = frame(sends([0, 1, 2]), poll(3, [0, 1, 2]), poll(4, [1], [9], process=101))
    report = check(history)
    assert found(report) == {"inconsistent-offsets": 1}
    bad = of_type(report, "inconsistent-offsets").iloc[0]
    assert bad["offsets"] == [1] and pd.isna(bad["value"])
    assert "acknowledged 1; received 1, 9" in bad["detail"]


def test_inconsistent_offsets_when_an_id_is_received_away_from_its_ack():
    report = check(frame(sends([0]), poll(1, [5], [0])))
    assert found(report) == {"inconsistent-offsets": 1}
    bad = of_type(report, "inconsistent-offsets").iloc[0]
    assert (bad["value"], bad["offsets"]) == (0, [0, 5])


def test_nonmonotonic_send_is_a_process_acked_backwards():
    report = check(frame(sends([0, 2, 1], [0, 2, 1]), poll(3, [0, 1, 2])))
    assert found(report) == {"nonmonotonic-send": 1}
    assert of_type(report, "nonmonotonic-send")["offsets"].tolist() == [[2, 1]]


def test_offset_gap_reports_the_missing_range():
    report = check(frame(poll(1, [0, 1, 4, 5])))
    assert found(report) == {"offset-gap": 1}
    assert of_type(report, "offset-gap")["offsets"].tolist() == [[2, 3]]


# --- clean histories -------------------------------------------------------------------------


def test_clean_history_with_partitions_producers_and_consumers():
    history = frame(
        sends([0, 3, 6], [0, 1, 2], partition=0, process=0),
        sends([1, 4], [0, 1], partition=1, process=1, first_op=10),
        sends([2, 5, 7], [0, 1, 2], partition=2, process=0, first_op=20),
        sends([8], [3], partition=0, process=1, first_op=30),
        poll(40, [0, 1], [0, 3], partition=0, process=100),
        poll(40, [0, 1], [1, 4], partition=1, process=100),
        poll(41, [2, 3], [6, 8], partition=0, process=100),
        poll(42, [0, 1, 2], [2, 5, 7], partition=2, process="consumer-b"),
    )
    report = check(history)
    assert report.ok, report.summary()
    assert report.stats["received"] == report.stats["acknowledged"] == 9
    assert len(report.pattern) == 9  # ids are interleaved across partitions: one run each


def test_partitions_are_checked_apart():
    # Partition 1 is read from offset 5 (its start was trimmed): no gap, skip or reordering.
    history = frame(
        poll(1, [0, 1], partition=0), poll(1, [5, 6], partition=1),
        poll(2, [2], partition=0), poll(2, [7], partition=1),
    )  # fmt: skip
    report = check(history)
    assert report.ok, report.summary()
    assert report.pattern_text() == "partition 0: 0–2 ↦ 0–2\npartition 1: 5–7 ↦ 5–7"


def test_same_partition_number_in_two_topics_is_two_logs():
    history = frame(
        sends([0, 1]),
        poll(2, [0, 1]),
        sends([5, 6], [0, 1], first_op=3),
        poll(5, [0, 1], [5, 6], process=101),
    )
    history["topic"] = ["a"] * 4 + ["b"] * 4
    report = check(history)
    assert report.ok and report.pattern["topic"].tolist() == ["a", "b"]
    history.loc[7, "topic"] = "a"  # now topic a has id 6 at offset 1 next to id 1
    assert found(check(history)) == {"inconsistent-offsets": 1, "unseen": 1}


def test_rows_out_of_op_order_are_read_in_op_order():
    history = frame(sends([0, 1, 2, 3]), poll(4, [0, 1]), poll(5, [2, 3]))
    shuffled = pd.concat([history.iloc[6:8], history.iloc[0:4], history.iloc[4:6]])
    assert check(shuffled).ok  # rows of one op keep their order; ops are reordered


def test_empty_history_is_ok():
    report = check(frame())
    assert report.ok and report.pattern.empty and report.pattern_text() == ""
    assert list(report.anomalies.columns[:3]) == ["type", "partition", "process"]


# --- files and bad input --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".json"])
def test_history_file_round_trip(tmp_path: Path, suffix: str):
    history = frame(
        sends([0, 1]),
        sends([2], [None], first_op=2, type_="fail"),
        poll(3, [0, 1], process="consumer"),
    )
    path = write_history(history, tmp_path / f"h{suffix}")
    back = read_history(path)
    pd.testing.assert_frame_equal(back, normalise_history(history))
    assert back["offset"].isna().tolist() == [False, False, True, False, False]
    assert check(back).to_dict() == check(history).to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.drop(columns=["value"]), "missing column(s) value"),
        (lambda h: h.assign(f="get"), "'f' must be one of send/poll"),
        (lambda h: h.assign(type="maybe"), "'type' must be one of ok/fail/info"),
        (lambda h: h.assign(f=pd.Categorical(["get"] * 2)), "send/poll, found 'get'"),
        (lambda h: h.assign(f=[None, "poll"]), "send/poll, found an empty cell"),
        (lambda h: h.assign(f=1), "send/poll, found 1"),
        (lambda h: h.assign(offset="x"), "'offset' must hold integers"),
        (lambda h: h.assign(value=0.5), "'value' must hold integers"),
        (lambda h: h.assign(offset=None), "'offset' is empty on an ok row"),
        (lambda h: h.assign(partition=True), "'partition' must hold integers"),
        (lambda h: h.assign(process=None), "'process' has empty cells"),
    ],
)
def test_bad_history_raises_history_error_in_one_line(change, message):
    with pytest.raises(HistoryError, match=re.escape(message)) as e:
        check(change(frame(sends([0]), poll(1, [0]))))
    assert "\n" not in str(e.value) and isinstance(e.value, ChronikLabError)


def test_not_a_table_raises_history_error():
    with pytest.raises(HistoryError, match="must be a pandas DataFrame"):
        check([1, 2, 3])


def test_arrow_table_is_accepted():
    assert check(pa.Table.from_pandas(frame(sends([0]), poll(1, [0])))).ok


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no history file"),
        ("history.txt", "x", "unknown history file type"),
        ("broken.parquet", "not parquet", "cannot read history"),
        ("broken.jsonl", "{not json", "cannot read history"),
    ],
)
def test_unreadable_history_file_raises_history_error(tmp_path: Path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(HistoryError, match=message):
        read_history(path)


def test_write_history_refuses_unknown_suffix(tmp_path: Path):
    with pytest.raises(HistoryError, match="unknown history file type"):
        write_history(frame(poll(1, [0])), tmp_path / "h.xlsx")


# --- hypothesis: clean histories, and injected faults against a reference recount -------------


@st.composite
def clean_histories(draw) -> pd.DataFrame:
    """Producers send ids to random partitions, each send acked at the partition's next offset
    (some sends fail or time out and are not written); one consumer then polls every partition
    in contiguous chunks, several partitions per poll, and maybe a second consumer re-reads the
    start of a partition. Ops are written in a random order."""
    partitions = draw(st.integers(1, 3))
    n = draw(st.integers(0, 30))
    ops: list[list[dict]] = []
    next_offset = [0] * partitions
    logs: list[list[int]] = [[] for _ in range(partitions)]
    for value in range(n):
        p = draw(st.integers(0, partitions - 1))
        process = draw(st.integers(0, 2))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"]))
        offset = next_offset[p] if kind == "ok" else None
        if kind == "ok":
            next_offset[p] += 1
            logs[p].append(value)
        ops.append([row(len(ops), process, "send", kind, p, offset, value)])
    position = [0] * partitions
    while any(position[p] < len(logs[p]) for p in range(partitions)):
        rows = []
        for p in draw(st.permutations(range(partitions))):
            take = draw(st.integers(0, 4))
            for o in range(position[p], min(position[p] + take, len(logs[p]))):
                rows.append(row(len(ops), 100, "poll", "ok", p, o, logs[p][o]))
            position[p] = min(position[p] + take, len(logs[p]))
        if rows:
            ops.append(rows)
    if draw(st.booleans()):  # a second consumer re-reads the start of one partition
        p = draw(st.integers(0, partitions - 1))
        upto = draw(st.integers(0, len(logs[p])))
        ops.append([row(len(ops), 101, "poll", "ok", p, o, logs[p][o]) for o in range(upto)])
    order = draw(st.permutations(range(len(ops))))
    return frame(*[ops[i] for i in order])


@given(clean_histories())
def test_random_clean_histories_are_ok(history):
    report = check(history)
    assert report.ok, report.summary()
    first_consumer = history[(history.f == "poll") & (history.process == 100)]
    assert report.stats["distinct_received"] == len(first_consumer)


def reference(history: pd.DataFrame) -> tuple[dict, set, set]:
    """Duplicates (id -> extra offsets), lost-write ids and unseen ids, recounted with dicts."""
    offsets_of = defaultdict(set)
    acked: dict[tuple, int] = {}
    for r in history.itertuples(index=False):
        key = (r.partition, r.value)
        if r.f == "poll" and r.type == "ok":
            offsets_of[key].add(r.offset)
        elif r.f == "send" and r.type == "ok":
            acked[key] = min(acked.get(key, r.offset), r.offset)
    dups = {k: len(v) - 1 for k, v in offsets_of.items() if len(v) > 1}
    latest: dict[int, int] = {}
    for (p, v), o in acked.items():
        if (p, v) in offsets_of:
            latest[p] = max(latest.get(p, o), o)
    missing = [(p, v) for (p, v) in acked if (p, v) not in offsets_of]
    lost = {k for k in missing if acked[k] < latest.get(k[0], -1)}
    return dups, lost, set(missing) - lost


def reported(report: CheckReport, type_: str) -> dict:
    rows = of_type(report, type_)
    return dict(zip(zip(rows["partition"], rows["value"], strict=True), rows["count"], strict=True))


@given(clean_histories(), st.data(), st.booleans())
def test_injected_duplicates_and_drops_match_the_reference(history, data, sparse):
    polls = np.flatnonzero((history["f"] == "poll").to_numpy())
    if not len(polls):
        return
    picks = data.draw(st.lists(st.sampled_from(list(polls)), min_size=1, max_size=4))
    dropped = data.draw(st.lists(st.sampled_from(list(polls)), max_size=3))
    extra = []
    for i, pick in enumerate(picks):
        # The broker serves the record again at a new offset past the end, in a later poll.
        copy = history.iloc[pick].to_dict()
        tail = history.loc[history.partition == copy["partition"], "offset"].max()
        extra.append(copy | {"op_index": 10_000 + i, "offset": int(tail) + 1 + i})
    faulty = pd.concat([history.drop(index=history.index[dropped]), pd.DataFrame(extra)])
    faulty = faulty.astype({"offset": "Int64"})
    dups, lost, unseen = reference(faulty)
    if sparse:
        with sorted_codes():
            report = check(faulty)
    else:
        report = check(faulty)
    assert reported(report, "duplicate") == dups
    assert set(reported(report, "lost-write")) == lost
    assert set(reported(report, "unseen")) == unseen
    assert report.stats["duplicated"] == sum(dups.values())


# --- log invariants --------------------------------------------------------------------------


class FakeBroker:
    """Just the four methods check_log reads."""

    def __init__(self, segments, buffer, hw, leo):
        self._segments = pd.DataFrame(
            segments, columns=["base_offset", "last_offset", "record_count", "visible"]
        )
        self._buffer = pa.table({"offset": pa.array(buffer, pa.int64())})
        self._hw, self._leo = hw, leo

    def segments(self, topic, partition):
        return self._segments

    def buffer(self, topic, partition):
        return self._buffer

    def high_watermark(self, topic, partition):
        return self._hw

    def log_end_offset(self, topic, partition):
        return self._leo


def violations(broker: FakeBroker) -> list[str]:
    return check_log(broker, "t", 0).violations["invariant"].tolist()


def test_log_with_contiguous_segments_and_buffer_above_them_is_ok():
    broker = FakeBroker([(0, 9, 10, True), (10, 19, 10, True)], [20, 21, 22], 23, 23)
    report = check_log(broker, "t", 0)
    assert report.ok and "ok" in report.summary()


def test_overlapping_segments_are_reported():
    assert violations(FakeBroker([(0, 9, 10, True), (5, 14, 10, True)], [], 15, 15)) == [
        "segments-overlap"
    ]


def test_hole_between_segments_is_reported():
    broker = FakeBroker([(0, 9, 10, True), (12, 19, 8, True)], [], 20, 20)
    assert violations(broker) == ["segments-contiguous"]
    assert "offsets 10–11 are in no segment" in check_log(broker, "t", 0).summary()


def test_buffered_record_at_or_below_last_visible_segment_is_reported():
    broker = FakeBroker([(0, 9, 10, True), (10, 19, 10, False)], [8, 9, 10, 11], 20, 20)
    assert violations(broker) == ["buffer-above-segments"]  # the invisible one does not count
    assert "buffered 8–9 at or below" in check_log(broker, "t", 0).summary()


def test_offset_buffered_twice_is_reported():
    # Chronik v0.7.5: the produce path and the flush both put [0..3] in the buffer.
    broker = FakeBroker([], [0, 1, 2, 3, 0, 1, 2, 3, 4, 5], 6, 6)
    assert violations(broker) == ["buffer-unique"]
    assert "0–3 (4 extra)" in check_log(broker, "t", 0).summary()


def test_high_watermark_above_log_end_is_reported():
    assert violations(FakeBroker([(0, 9, 10, True)], [], 11, 10)) == ["high-watermark"]


def test_empty_active_segment_without_last_offset_is_ignored():
    broker = FakeBroker([(0, 9, 10, True), (10, None, 0, False)], [10, 11], 12, 12)
    report = check_log(broker, "t", 0)
    assert report.ok and report.facts["segments"] == 2
    assert repr(report).startswith("<LogReport: log t-0: ok")


def test_broker_answer_of_the_wrong_shape_raises():
    broker = FakeBroker([], [], 0, 0)
    broker._segments = broker._segments.drop(columns=["visible"])
    with pytest.raises(ChronikLabError, match="lacks column"):
        check_log(broker, "t", 0)
