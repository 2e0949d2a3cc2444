"""The simulation's delivery settings and fault schedule (issue 18 §2; sim/faults.py).

Producer side: a lost response makes the client retry, and without idempotence the retry is
the same id at a new offset (a duplicate, producer side) -- only ever after a lost response.
Consumer side: a group member that crashes or loses its partition between processing and
committing reads the same offsets again (redelivered, consumer side), or under "before" never
processes them (lost). Against a reference model: how many copies of each request the log
must hold, `min(lost responses, retries) + 1`, in send order while one request is in flight.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bug_detection import PINNED

import chronik_lab as cl
from chronik_lab.errors import ScenarioError
from chronik_lab.notebook import narrative
from chronik_lab.sim.clients import plan_requests
from chronik_lab.viz import charts
from chronik_lab.viz.steps import fault_marks

LOST_ACK = {"messages": 6, "batch_sizes": (2, 2, 2), "acks": -1, "lost_acks": (2,)}
GROUP = {"messages": 6, "batch_sizes": (2, 2, 2), "acks": -1, "max_records": 2}


def faults(run: cl.Run) -> list[tuple[str, object, object]]:
    t = run.trace[run.trace["actor"] == "nemesis"]
    return list(zip(t["step"], t["request"], t["poll"], strict=True))


def ids_at(run: cl.Run) -> list[tuple[int, int]]:
    return list(zip(run.received["offset"], run.received["message_id"], strict=True))


# -- validation: each field named ------------------------------------------------------------
BAD = [
    ({"idempotence": 1}, "idempotence"),
    ({"retries": -1}, "retries"),
    ({"retries": True}, "retries"),
    ({"max_in_flight": 0}, "max_in_flight"),
    ({"lost_acks": [0]}, "lost_acks"),
    ({"lost_acks": [4]}, "lost_acks"),  # 3 requests
    ({"lost_acks": "2"}, "lost_acks"),
    ({"lost_acks": [1.0]}, "lost_acks"),
    ({"broker_restarts": [5]}, "broker_restarts"),  # 3 requests: at most 4 (the final consume)
    ({"broker_restarts": [2, 2]}, "broker_restarts"),
    ({"reordered": [1], "max_in_flight": 1}, "reordered"),
    ({"reordered": [3], "max_in_flight": 2}, "reordered"),  # no request 4 to overtake it
    ({"commit": "sometimes"}, "commit"),
    ({"consumer_crashes": [1]}, "consumer_crashes"),  # no group
    ({"rebalances": [0], "commit": "after"}, "rebalances"),
    ({"idempotence": True, "acks": 1, "retries": 1}, "idempotence"),
    ({"idempotence": True, "retries": 0}, "idempotence"),
    ({"idempotence": True, "retries": 1, "max_in_flight": 6}, "max_in_flight"),
    ({"lost_acks": [1], "acks": 0}, "lost_acks"),
]


@pytest.mark.parametrize(("fields", "named"), BAD, ids=[str(f) for f, _ in BAD])
def test_a_bad_delivery_field_is_a_scenario_error_naming_it(fields, named):
    base = {"messages": 6, "batch_sizes": (2, 2, 2), "acks": -1}
    with pytest.raises(ScenarioError, match=named):
        cl.Scenario(**(base | fields))


def test_schedules_are_normalised_and_serialisable():
    s = cl.Scenario(**(LOST_ACK | {"lost_acks": [3, 2, 2]}), retries=1, broker_restarts=[4, 1])
    assert s.lost_acks == (2, 2, 3) and s.broker_restarts == (1, 4)
    assert s.to_dict()["lost_acks"] == [2, 2, 3]
    assert cl.Scenario(**s.to_dict()) == s
    assert s.faulty and not cl.SEED.faulty


def test_a_real_client_refuses_the_simulated_fault_schedule():
    with pytest.raises(ScenarioError, match="lost_acks"):
        cl.run(cl.Scenario(**LOST_ACK), client="kafka-python")


# -- the producer side -----------------------------------------------------------------------
def test_a_lost_ack_retried_without_idempotence_is_the_same_ids_at_new_offsets():
    run = cl.run(cl.Scenario(**LOST_ACK, retries=1))
    assert ids_at(run) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 2), (5, 3), (6, 4), (7, 5)]
    assert run.report.counts["duplicate"] == 2  # producer side: ids 2 and 3 at a new offset
    assert run.report.stats["redelivered"] == 0
    assert faults(run) == [("lost_ack", 1, pd.NA)]
    # the application sent each id once and was told the retry's offsets
    assert run.sent["offset"].tolist() == [0, 1, 4, 5, 6, 7]


def test_without_retries_a_lost_ack_is_an_unknown_outcome_and_nothing_is_written_twice():
    run = cl.run(cl.Scenario(**LOST_ACK))
    assert [m for _, m in ids_at(run)] == list(range(6))
    assert run.report.ok
    sends = run.history[run.history["f"] == "send"]
    assert sends.loc[sends["type"] == "info", "value"].tolist() == [2, 3]
    assert sends.loc[sends["type"] == "info", "offset"].isna().all()
    assert run.sent["offset"].isna().tolist() == [False, False, True, True, False, False]


def test_retry_on_ambiguous_error_resends_what_the_client_gave_up_on():
    fixed = cl.run(cl.Scenario(**LOST_ACK))
    buggy = cl.run(cl.Scenario(**LOST_ACK, bugs=["retry_on_ambiguous_error"]))
    assert fixed.report.counts["duplicate"] == 0
    assert buggy.report.counts["duplicate"] == 2 and buggy.report.stats["redelivered"] == 0
    assert len(buggy.sent) == 6  # one row per id the application sent, however often


def test_a_lost_ack_listed_twice_loses_the_retrys_response_too():
    run = cl.run(cl.Scenario(**(LOST_ACK | {"lost_acks": (2, 2)}), retries=2))
    assert [m for _, m in ids_at(run)] == [0, 1, 2, 3, 2, 3, 2, 3, 4, 5]
    assert [f for f, _, _ in faults(run)] == ["lost_ack", "lost_ack"]


def test_a_reordered_request_reaches_the_broker_after_the_next_one():
    run = cl.run(cl.Scenario(**GROUP, max_in_flight=2, reordered=[1]))
    assert [m for _, m in ids_at(run)] == [2, 3, 0, 1, 4, 5]
    # the log holds the application's sends in another order than it sent them: without
    # idempotence Kafka keeps order only with one request in flight
    assert run.report.counts == {**dict.fromkeys(run.report.counts, 0), "nonmonotonic-send": 1}
    assert [f for f, _, _ in faults(run)] == ["reorder"]


def test_a_broker_restart_recovers_the_log_and_the_retry_goes_to_the_new_broker():
    run = cl.run(cl.Scenario(**LOST_ACK, retries=1, broker_restarts=[3], flush_batches=10))
    assert [f for f, _, _ in faults(run)] == ["lost_ack", "broker_restart"]
    assert [m for _, m in ids_at(run)] == [0, 1, 2, 3, 2, 3, 4, 5]
    restart = run.trace.loc[run.trace["step"] == "broker_restart", "step_index"].item()
    off = run.offsets_snapshots.set_index("step_index").loc[restart]
    # killed before any flush: the write-ahead log gives the 4 acknowledged records back,
    # pending a flush again
    assert (off["log_end_offset"], off["high_watermark"], off["pending_records"]) == (4, 4, 4)
    assert run.segment_snapshots.empty or restart not in set(run.segment_snapshots["step_index"])


def test_a_kill_loses_acknowledged_records_held_only_in_memory_under_ack_before_durable():
    s = cl.Scenario(messages=4, batch_sizes=(2, 2), acks=-1, flush_batches=10, broker_restarts=[3])
    assert cl.run(s).report.ok
    lost = cl.run(s.with_bugs(["ack_before_durable"]))
    assert lost.received_ids == [] and lost.report.stats["lost"] == 4


def test_a_restart_before_the_final_consume_is_step_requests_plus_one():
    run = cl.run(cl.Scenario(**GROUP, broker_restarts=[4]))
    assert [m for _, m in ids_at(run)] == list(range(6)) and run.report.ok


def test_the_same_scenario_gives_the_same_tables():
    s = cl.Scenario(**(LOST_ACK | {"lost_acks": (1, 3)}), retries=1, max_in_flight=2)
    s = cl.Scenario(**(s.to_dict() | {"broker_restarts": [2], "reordered": [2]}))
    a, b = cl.run(s), cl.run(s)
    for name in ("history", "trace", "offsets_snapshots", "segment_snapshots"):
        assert getattr(a, name).equals(getattr(b, name)), name


@st.composite
def producer_schedules(draw) -> cl.Scenario:
    messages = draw(st.integers(1, 24))
    cuts = sorted(draw(st.sets(st.integers(1, messages - 1), max_size=6))) if messages > 1 else []
    sizes = tuple(b - a for a, b in zip([0, *cuts], [*cuts, messages], strict=True))
    n = len(sizes)
    in_flight = draw(st.integers(1, 4))
    reorderable = list(range(1, n)) if in_flight > 1 else []
    return cl.Scenario(
        messages=messages,
        batch_sizes=sizes,
        acks=draw(st.sampled_from([-1, 1])),
        partitions=draw(st.integers(1, 3)),
        flush_batches=draw(st.integers(1, 4)),
        poll_every=draw(st.sampled_from([None, 2])),
        retries=draw(st.integers(0, 3)),
        max_in_flight=in_flight,
        lost_acks=draw(st.lists(st.integers(1, n), max_size=5)),
        reordered=draw(st.sets(st.sampled_from(reorderable), max_size=2)) if reorderable else (),
        broker_restarts=draw(st.sets(st.integers(1, n + 1), max_size=2)),
    )


def expected_log(s: cl.Scenario) -> dict[int, list[int]]:
    """The reference, per partition: each batch of request k written min(lost responses of k,
    retries) + 1 times -- each lost response after which the client still had a retry adds an
    attempt -- in send order, an attempt right after the one before (one request in flight)."""
    lost = Counter(s.lost_acks)
    log: dict[int, list[int]] = {p: [] for p in range(s.partitions)}
    for calls in plan_requests(s.messages, s.batch_sizes, s.partitions, s.keyed, s.seed):
        for call in calls:
            attempts = min(lost[call.request + 1], s.retries) + 1
            log[call.partition] += call.message_ids.tolist() * attempts
    return log


def at_least_once(s: cl.Scenario) -> None:
    run = cl.run(s)
    expected = expected_log(s)
    got = Counter(run.received["message_id"].tolist())
    assert got == Counter(i for ids in expected.values() for i in ids)  # extra copies: lost acks
    stats = run.report.stats
    assert stats["lost"] == 0 and stats["redelivered"] == 0  # copies at new offsets only
    assert run.report.counts["duplicate"] == sum(got.values()) - len(got)
    if s.max_in_flight == 1:  # one at a time: the log is the reference's, in order
        for p in range(s.partitions):
            mine = run.received[run.received["partition"] == p]["message_id"].tolist()
            assert mine == expected[p]


# Each property runs the profile's examples (100 in `make test`, 1000 under
# HYPOTHESIS_PROFILE=thorough) as a slow test, and a few as a fast one for the edit loop.
FEW = settings(max_examples=12)


@pytest.mark.slow
@given(producer_schedules())
def test_without_idempotence_the_fixed_lab_is_at_least_once_duplicating_only_after_lost_acks(s):
    at_least_once(s)


@FEW
@given(producer_schedules())
def test_without_idempotence_a_few_schedules_are_at_least_once(s):
    at_least_once(s)


# -- the idempotent producer (the engine's, issue 18 §1) -------------------------------------
IDEMPOTENT = {**LOST_ACK, "idempotence": True, "retries": 1}
# request 2 written, its response lost (in doubt); request 4 reaches the broker before 3
EPOCH_BUMP = PINNED["epoch_bump_on_out_of_order"][1]


def test_with_idempotence_a_lost_acks_retry_is_answered_with_the_original_offsets():
    run = cl.run(cl.Scenario(**IDEMPOTENT))
    assert ids_at(run) == [(i, i) for i in range(6)] and run.report.ok
    acks = run.trace[(run.trace["step"] == "ack") & (run.trace["request"] == 1)]
    assert acks["detail"].tolist() == ["a retry of a batch already written: its offsets 2-3"]
    assert run.sent["offset"].tolist() == list(range(6))


def test_a_retry_after_a_broker_restart_is_still_deduplicated():
    s = cl.Scenario(**IDEMPOTENT, broker_restarts=[3])
    assert [f for f, _, _ in faults(cl.run(s))] == ["lost_ack", "broker_restart"]
    assert cl.run(s).report.ok
    lost_state = cl.run(s.with_bugs(["producer_state_lost_on_restart"]))
    assert lost_state.report.counts["duplicate"] == 2


def test_under_chronik_s_producer_check_a_retry_after_a_restart_is_refused_not_duplicated():
    # chronik (every preset) lost its producer state on restart *and* expected sequence 0 of a
    # producer it held nothing of: the retry of sequence 2 is OUT_OF_ORDER, the producer gives
    # it up (outcome unknown), and a safe epoch bump lets the next request through
    s = cl.Scenario(**IDEMPOTENT, broker_restarts=[3])
    run = cl.run(s.with_bugs(["producer_state_lost_on_restart", "dedup_last_sequence_only"]))
    assert [m for _, m in ids_at(run)] == list(range(6)) and run.report.counts["duplicate"] == 0
    sends = run.history[run.history["f"] == "send"]
    assert sends.loc[sends["type"] == "info", "value"].tolist() == [2, 3]
    assert {"out_of_order", "gave_up", "safe_epoch_bump"} <= set(run.trace["step"])


def test_no_producer_dedup_writes_the_retry_again():
    run = cl.run(cl.Scenario(**IDEMPOTENT, bugs=["no_producer_dedup"]))
    assert [m for _, m in ids_at(run)] == [0, 1, 2, 3, 2, 3, 4, 5]


def test_epoch_bump_on_out_of_order_duplicates_a_batch_in_doubt():
    fixed = cl.run(cl.Scenario(**EPOCH_BUMP))
    assert [m for _, m in ids_at(fixed)] == list(range(8)) and fixed.report.ok
    steps = set(fixed.trace["step"])
    assert "out_of_order" in steps and "epoch_bump" not in steps  # sent again behind request 3
    buggy = cl.run(cl.Scenario(**EPOCH_BUMP, bugs=["epoch_bump_on_out_of_order"]))
    assert [m for _, m in ids_at(buggy)] == [0, 1, 2, 3, 4, 5, 2, 3, 6, 7]
    assert buggy.report.counts["duplicate"] == 2
    bump = buggy.trace[buggy.trace["step"] == "epoch_bump"]["detail"].tolist()
    assert bump == ["epoch 1: 2 unacknowledged batches numbered from 0 again"]


def test_a_reordered_first_batch_of_a_new_producer_is_sent_again_under_a_safe_epoch_bump():
    # a broker holding no state of the producer accepts request 2's sequence as its first (as
    # Kafka's does): request 1 is then out of order, and nothing is in doubt
    run = cl.run(cl.Scenario(**GROUP, idempotence=True, retries=1, max_in_flight=2, reordered=[1]))
    assert [m for _, m in ids_at(run)] == [2, 3, 0, 1, 4, 5]
    assert run.report.counts["duplicate"] == 0 and run.report.stats["lost"] == 0
    assert "safe_epoch_bump" in set(run.trace["step"])


@st.composite
def idempotent_schedules(draw) -> cl.Scenario:
    s = draw(producer_schedules())
    return cl.Scenario(
        **s.to_dict()
        | {
            "acks": -1,
            "idempotence": True,
            "retries": draw(st.integers(1, 4)),
            "max_in_flight": s.max_in_flight,
        }
    )


def exactly_once(s: cl.Scenario) -> None:
    run = cl.run(s)
    sends = run.history[run.history["f"] == "send"]
    acknowledged = set(sends.loc[sends["type"] == "ok", "value"])
    failed = set(sends.loc[sends["type"] == "fail", "value"])
    got = Counter(run.received["message_id"].tolist())
    # the reference: every acknowledged id exactly once, an unknown outcome at most once, a
    # refused one never
    assert all(got[i] == 1 for i in acknowledged)
    assert all(n == 1 for n in got.values())
    assert not failed & set(got)
    stats = run.report.stats
    assert run.report.counts["duplicate"] == 0 and stats["lost"] == 0
    assert stats["redelivered"] == 0
    if s.max_in_flight == 1:  # one at a time: each partition's log in send order
        order = sends.drop_duplicates("value").set_index("value")["partition"]
        for p in range(s.partitions):
            mine = run.received[run.received["partition"] == p]["message_id"].tolist()
            assert mine == [i for i in order.index if order[i] == p and got[i]]


@pytest.mark.slow
@given(idempotent_schedules())
def test_with_idempotence_the_fixed_lab_is_exactly_once_under_every_fault_schedule(s):
    exactly_once(s)


@FEW
@given(idempotent_schedules())
def test_with_idempotence_a_few_fault_schedules_are_exactly_once(s):
    exactly_once(s)


# -- the consumer side -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("commit", "redelivered", "lost"), [("after", 2, 0), ("auto", 2, 0), ("before", 0, 2)]
)
def test_a_consumer_crash_between_processing_and_commit(commit, redelivered, lost):
    run = cl.run(cl.Scenario(**GROUP, commit=commit, consumer_crashes=[2]))
    assert run.report.stats["redelivered"] == redelivered
    assert run.report.stats["lost"] == lost
    assert run.report.counts["duplicate"] == 0  # nothing was written twice
    assert run.report.counts["nonmonotonic-poll"] == 0  # the restarted member is a new process
    if redelivered:  # the same offsets again: the second poll's, 2 and 3
        again = run.received[run.received.duplicated(["offset"], keep="first")]
        assert again["offset"].tolist() == [2, 3]
    polls = run.history[run.history["f"] == "poll"]
    assert set(polls["process"]) == {"consumer", "consumer-2"}


@pytest.mark.parametrize(("commit", "redelivered"), [("after", 2), ("auto", 0), ("before", 0)])
def test_a_rebalance_moves_the_partition_to_a_member_starting_at_the_committed_offset(
    commit, redelivered
):
    run = cl.run(cl.Scenario(**GROUP, commit=commit, rebalances=[2]))
    assert run.report.stats["redelivered"] == redelivered
    assert run.report.stats["lost"] == 0 and run.report.ok
    polls = run.history[run.history["f"] == "poll"].drop_duplicates("op_index")
    members = polls["process"].tolist()
    assert members[:2] == ["consumer"] * 2 and set(members[2:]) == {"consumer-2"}


def test_without_a_group_the_consumer_is_unchanged():
    plain = cl.run(cl.Scenario(**GROUP))
    assert "commit" not in set(plain.trace["step"])
    assert [m for _, m in ids_at(plain)] == list(range(6))


CONSUMER_FAULTS = {
    "commit": st.sampled_from(["after", "auto", "before"]),
    "crashes": st.sets(st.integers(1, 12), max_size=3),
    "rebalances": st.sets(st.integers(1, 12), max_size=3),
    "max_records": st.integers(1, 4),
    "partitions": st.integers(1, 3),
}


@pytest.mark.slow
@given(**CONSUMER_FAULTS)
def test_consumer_faults_never_duplicate_and_lose_only_under_commit_before(**fields):
    consumer_faults_keep_their_side(**fields)


@FEW
@given(**CONSUMER_FAULTS)
def test_a_few_consumer_fault_schedules_never_duplicate(**fields):
    consumer_faults_keep_their_side(**fields)


def consumer_faults_keep_their_side(commit, crashes, rebalances, max_records, partitions):
    s = cl.Scenario(
        messages=10,
        partitions=partitions,
        batch_sizes=(3, 3, 4),
        acks=-1,
        max_records=max_records,
        commit=commit,
        consumer_crashes=sorted(crashes),
        rebalances=sorted(rebalances - crashes),
    )
    run = cl.run(s)
    stats = run.report.stats
    assert run.report.counts["duplicate"] == 0  # a re-read is at the same offset
    assert run.report.counts["nonmonotonic-poll"] == 0  # each member a process of its own
    assert run.report.counts["poll-skip"] == 0
    if commit != "before":
        assert stats["lost"] == 0  # at least once
    else:
        assert stats["redelivered"] == 0  # at most once


def test_one_run_s_duplicates_are_told_apart_by_side():
    # a lost response retried without idempotence (ids 2-3 at new offsets 4-5) and a crash
    # before the commit of poll 2 (offsets 2-3 read again by the restarted member)
    run = cl.run(
        cl.Scenario(**GROUP, retries=1, lost_acks=[2], commit="after", consumer_crashes=[2])
    )
    assert ids_at(run) == [
        (0, 0), (1, 1), (2, 2), (3, 3), (2, 2), (3, 3), (4, 2), (5, 3), (6, 4), (7, 5)
    ]  # fmt: skip
    assert run.report.counts["duplicate"] == 2  # producer side: the same id at a new offset
    assert run.report.stats["redelivered"] == 2  # consumer side: the same offset again
    assert run.report.stats["lost"] == 0
    text = narrative.delivery(run)
    assert "**Producer side:** 2 records duplicated -- the same id at a new offset" in text
    assert "**Consumer side:** 2 records redelivered -- the same offsets read again" in text


# -- the charts mark each fault on the step axis ---------------------------------------------
def _fault_rows(chart) -> list[dict]:
    spec = chart.to_dict()
    return [row for rows in spec.get("datasets", {}).values() for row in rows if "fault" in row]


# every kind of fault the schedule has, each once: the producer's and the consumer group's
EVERY_FAULT = {
    **GROUP,
    "retries": 1,
    "max_in_flight": 2,
    "lost_acks": (2,),
    "reordered": (1,),
    "broker_restarts": (3,),
    "flush_batches": 10,
    "commit": "after",
    "consumer_crashes": (1,),
    "rebalances": (2,),
}


@pytest.mark.parametrize("build", [charts.segment_map, charts.buffer_contents])
def test_each_fault_is_a_marker_on_the_step_axis(build):
    run = cl.run(cl.Scenario(**EVERY_FAULT))
    marked = {(r["fault"], r["step_index"]) for r in _fault_rows(build(run))}
    t = run.trace[run.trace["actor"] == "nemesis"]
    assert marked == set(zip(t["step"], t["step_index"], strict=True))
    kinds = {"lost_ack", "reorder", "broker_restart", "consumer_crash", "rebalance"}
    assert sorted(f for f, _ in marked) == sorted(kinds)  # each a row of its own
    assert not _fault_rows(build(cl.run(cl.Scenario(**GROUP))))  # no faults, no marker


def test_a_consumer_crash_marks_every_partition_its_member_owned():
    # two partitions, one member that has polled both: the crash after poll 2 (partition 1's
    # first) restarts both at their commits
    s = cl.Scenario(**GROUP, partitions=2, commit="after", consumer_crashes=[2])
    run = cl.run(s)
    for p in (0, 1):
        marks = fault_marks(run, p, len(run.trace))
        assert marks["fault"].tolist() == ["consumer_crash"], p
    text = narrative.delivery(run)
    assert text.count("crash after poll 2") == 1  # one fault, told once


# -- the prose says which side a duplicate is ------------------------------------------------
def test_the_prose_calls_a_lost_ack_retry_a_producer_side_duplicate():
    text = narrative.delivery(cl.run(cl.Scenario(**LOST_ACK, retries=1)))
    assert text.startswith("**Faults applied:** the response to request 2 (ids 2-3) is lost")
    assert "**Producer side:** 2 records duplicated -- the same id at a new offset" in text
    assert "all from requests whose response was lost" in text and "idempotence=True" in text
    assert "Consumer side" not in text


def test_the_prose_calls_a_crash_re_read_a_consumer_side_redelivery():
    text = narrative.delivery(cl.run(cl.Scenario(**GROUP, commit="after", consumer_crashes=[2])))
    assert "**Producer side:** no id was written twice." in text
    assert "**Consumer side:** 2 records redelivered -- the same offsets read again" in text
    lost = narrative.delivery(cl.run(cl.Scenario(**GROUP, commit="before", consumer_crashes=[2])))
    assert "nothing was read again" in lost and "lost to the application" in lost


def test_the_prose_does_not_blame_a_lost_ack_for_chronik_s_buffer():
    text = narrative.delivery(cl.run(cl.SEED))
    assert "**No fault was scheduled**" in text
    assert "not (only) after a lost response: the broker itself wrote them twice" in text


# -- explain ranks the client's settings and switches beside chronik's -----------------------
def minimal_causes(
    observed: list[int], scenario: cl.Scenario, switches: list[str] | None = None
) -> list[tuple[str, ...]]:
    ranking = cl.explain(observed, scenario, early_stop=True, switches=switches)
    return sorted(tuple(b) for b in ranking.loc[ranking["minimal"], "bugs"])


# v0.7.5's buffer switches the seed reads, for the fast variants (2^5 runs at most)
CHRONIK_BUFFER = (
    "cumulative_update_buffer",
    "blind_append_buffer",
    "no_mark_flushed",
    "buffer_first_fetch",
)
BROKER_DEDUP = {"no_producer_dedup", "producer_state_lost_on_restart"}


def explained_by_the_producer_state(s: cl.Scenario, bug: str, **explain) -> None:
    """A duplicate at a new offset after a lost ack, idempotence on: explained by a switch of
    the broker's producer state (the window or its recovery), never by chronik's buffer."""
    observed = cl.run(s.with_bugs([bug])).received_ids
    assert observed == [0, 1, 2, 3, 2, 3, 4, 5]
    ranking = cl.explain(observed, s, early_stop=True, **explain)
    causes = ranking.loc[ranking["minimal"], "bugs"].map(set).tolist()
    assert causes and all(len(c) == 1 and c <= BROKER_DEDUP for c in causes)
    assert {bug} in causes
    exact = ranking.loc[ranking["exact"], "bugs"].map(set)
    assert all(c & BROKER_DEDUP for c in exact)  # every exact explanation has one
    assert not ranking.loc[ranking["bugs"].map(len) == 0, "exact"].any()  # fixed: no duplicate


IDEMPOTENT_CASES = [
    (IDEMPOTENT | {"flush_batches": 2}, "no_producer_dedup"),
    (IDEMPOTENT | {"flush_batches": 2, "broker_restarts": (3,)}, "producer_state_lost_on_restart"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fields", "bug"), IDEMPOTENT_CASES, ids=["window", "restart"])
def test_explain_blames_the_producer_state_not_chronik_s_buffer_for_a_retry_s_duplicate(
    fields, bug
):
    explained_by_the_producer_state(cl.Scenario(**fields), bug)  # all 18 switches


@pytest.mark.parametrize(("fields", "bug"), IDEMPOTENT_CASES, ids=["window", "restart"])
def test_explain_among_chronik_s_buffer_switches_blames_the_producer_state(fields, bug):
    switches = [*CHRONIK_BUFFER, bug]
    explained_by_the_producer_state(cl.Scenario(**fields), bug, switches=switches)


# every switch (slow), or chronik's buffer switches beside the client's (fast)
SWITCH_SETS = [
    pytest.param(None, marks=pytest.mark.slow, id="all"),
    pytest.param([*CHRONIK_BUFFER, "no_producer_dedup", "retry_on_ambiguous_error"], id="few"),
]


@pytest.mark.parametrize("switches", SWITCH_SETS)
def test_explain_finds_a_lost_ack_retry_without_idempotence_needs_no_broker_switch(switches):
    s = cl.Scenario(**LOST_ACK, retries=1, flush_batches=2)
    observed = cl.run(s).received_ids
    assert observed == [0, 1, 2, 3, 2, 3, 4, 5]
    # the workload's own retry: idempotence is off
    assert minimal_causes(observed, s, switches) == [()]


@pytest.mark.parametrize("switches", SWITCH_SETS)
def test_explain_names_retry_on_ambiguous_error_not_chronik_s_buffer(switches):
    s = cl.Scenario(**LOST_ACK, flush_batches=2)
    observed = cl.run(s.with_bugs(["retry_on_ambiguous_error"])).received_ids
    assert minimal_causes(observed, s, switches) == [("retry_on_ambiguous_error",)]
