"""One vocabulary: `outcome` and `cl.check`'s counts and stats give the same duplicate,
redelivered and lost numbers (counts.py's definitions), checked against a plain-Python recount."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

import chronik_lab as cl
from chronik_lab.checker.counts import (
    OUTCOME_KEYS,
    lost_ids,
    outcome,
    outcome_sentence,
    outcome_word,
)
from chronik_lab.checker.history import COLUMNS
from chronik_lab.checker.verdict import check


def history_of(sent: int, partition_of: list[int], received: list[tuple[int, int, int]]):
    """Ids 0..sent-1 each acknowledged once (partition_of[id], offset id); then one poll per
    received (partition, offset, id) row, by one consumer, in order."""
    rows = [(i, 0, "send", "ok", partition_of[i], i, i) for i in range(sent)]
    rows += [(sent + k, 100, "poll", "ok", p, o, v) for k, (p, o, v) in enumerate(received)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def reference(sent: int, received: list[tuple[int, int, int]]) -> dict[str, int]:
    """The definitions, recounted with Python sets and counters."""
    offsets_of: dict[tuple[int, int], set[int]] = {}
    for p, o, v in received:
        offsets_of.setdefault((p, v), set()).add(o)
    records = Counter(received)
    got = {v for _, _, v in received}
    return {
        "received": len(received),
        "distinct": len(offsets_of),
        "duplicates": sum(len(o) - 1 for o in offsets_of.values()),
        "redelivered": sum(n - 1 for n in records.values()),
        "lost": sum(1 for i in range(sent) if i not in got),
    }


def test_one_reread_is_redelivered_not_a_duplicate_in_both():
    # id 0 at offset 0 received twice by one consumer: a rewind, not a second write.
    h = history_of(1, [0], [(0, 0, 0), (0, 0, 0)])
    report = check(h)
    assert {t: n for t, n in report.counts.items() if n} == {"nonmonotonic-poll": 1}
    assert report.stats["redelivered"] == 1 and report.stats["duplicated"] == 0
    polls = h[h.f == "poll"]
    assert outcome(polls, 1) == {
        "received": 2, "distinct": 1, "duplicates": 0, "redelivered": 1, "lost": 0,
    }  # fmt: skip
    assert "redelivered 1" in report.summary()


def test_an_id_at_two_offsets_is_a_duplicate_in_both():
    h = history_of(1, [0], [(0, 0, 0), (0, 4, 0)])
    report = check(h)
    assert report.counts["duplicate"] == 1 and report.stats["redelivered"] == 0
    assert outcome(h[h.f == "poll"], 1)["duplicates"] == 1


def test_a_consumer_reset_to_earliest_redelivers_and_both_counts_say_so():
    # v0.7.5 under Kafka's fetch range: the seed's renumbered offsets send the consumer back to
    # offset 0 again and again, so the same 20 records arrive many times: 10 duplicates (ids at
    # two offsets), everything else re-delivered.
    bugs = sorted(cl.PRESETS["v0.7.5"] - {"chronik_fetch_range"})
    run = cl.run(cl.SEED.with_bugs(bugs))
    o = outcome(run.received, len(run.sent))
    s = run.report.stats
    assert o["duplicates"] == s["duplicated"] == 10
    assert o["redelivered"] == s["redelivered"] == len(run.received) - 20 > 0
    assert o["received"] == o["distinct"] + o["duplicates"] + o["redelivered"]


def test_without_offsets_every_extra_receipt_counts_as_a_duplicate():
    assert outcome([0, 0, 1], 3) == {
        "received": 3, "distinct": 2, "duplicates": 1, "redelivered": 0, "lost": 1,
    }  # fmt: skip


def test_a_received_table_with_message_id_column_is_read_like_a_run():
    table = pd.DataFrame({"partition": [0, 0], "offset": [3, 3], "message_id": [1, 1]})
    assert outcome(table, 2)["redelivered"] == 1
    assert list(outcome(table, 2)) == list(OUTCOME_KEYS)


def _counts(received: int, duplicates: int = 0, redelivered: int = 0, lost: int = 0) -> dict:
    return {
        "received": received,
        "duplicates": duplicates,
        "redelivered": redelivered,
        "lost": lost,
    }


def test_each_outcome_has_one_word():
    assert outcome_word(_counts(20, duplicates=10)) == "duplicates"
    assert outcome_word(_counts(6, lost=4)) == "loss"
    assert outcome_word(_counts(12, duplicates=4, lost=2)) == "duplicates and loss"
    assert outcome_word(_counts(10)) == "exact"
    assert outcome_word(_counts(30, redelivered=20)) == "exact"  # a re-read loses nothing


def test_each_outcome_has_one_sentence():
    assert outcome_sentence(10, _counts(20, duplicates=10)) == "10 sent, 20 received: 10 duplicated"
    assert outcome_sentence(10, _counts(0, lost=10)) == "10 sent, 0 received: all 10 lost"
    assert outcome_sentence(10, _counts(6, lost=4)) == "10 sent, 6 received: 4 lost"
    assert outcome_sentence(10, _counts(10)) == "10 sent, 10 received: each exactly once"
    assert (
        outcome_sentence(10, _counts(80, duplicates=10, redelivered=60))
        == "10 sent, 80 received: 10 duplicated, 60 redelivered"
    )
    assert (
        outcome_sentence(10_000, _counts(12_000, duplicates=4_000, lost=2_000))
        == "10,000 sent, 12,000 received: 4,000 duplicated, 2,000 lost"
    )
    # an index entry may give received, duplicates and lost only
    assert outcome_sentence(10, {"received": 10, "duplicates": 0, "lost": 0}).endswith("once")


def test_lost_ids_are_the_sent_never_received():
    assert lost_ids([0, 2, 2], [0, 1, 2, 3]).tolist() == [1, 3]


@st.composite
def deliveries(draw):
    sent = draw(st.integers(1, 12))
    partitions = draw(st.integers(1, 3))
    partition_of = draw(st.lists(st.integers(0, partitions - 1), min_size=sent, max_size=sent))
    # Each received row: an id (sometimes one never sent) at some offset of its partition.
    picks = st.tuples(st.integers(0, sent + 1), st.integers(0, 15))
    received = [
        (partition_of[v] if v < sent else 0, o, v) for v, o in draw(st.lists(picks, max_size=30))
    ]
    # Re-deliver some rows verbatim (a rewind), so both kinds occur together.
    again = draw(st.lists(st.integers(0, max(len(received) - 1, 0)), max_size=5))
    received += [received[i] for i in again if received]
    return sent, partition_of, received


@given(deliveries())
def test_outcome_matches_the_reference_recount(case):
    sent, _, received = case
    table = pd.DataFrame(received, columns=["partition", "offset", "message_id"])
    assert outcome(table, sent) == reference(sent, received)
    o = outcome(table, sent)
    assert o["received"] == o["distinct"] + o["duplicates"] + o["redelivered"]


@given(deliveries())
def test_check_stats_and_outcome_agree_when_every_send_is_acknowledged(case):
    sent, partition_of, received = case
    received = [r for r in received if r[2] < sent]  # the checker keys ids by their partition
    h = history_of(sent, partition_of, received)
    report = check(h)
    o = outcome(h[h.f == "poll"], sent)
    s = report.stats
    assert o["duplicates"] == s["duplicated"] == report.counts["duplicate"]
    assert o["redelivered"] == s["redelivered"]
    assert o["lost"] == s["lost"] == report.counts["lost-write"] + report.counts["unseen"]
    assert (o["received"], o["distinct"]) == (s["received"], s["distinct_received"])
    assert np.array_equal(
        lost_ids(h.loc[h.f == "poll", "value"], range(sent)),
        sorted(set(range(sent)) - {v for _, _, v in received}),
    )
