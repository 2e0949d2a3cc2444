"""The checker against the engine: silent on the fixed broker, and every bug switch detectable.

For each switch there is a pinned workload and bug set S containing it where `cl.check` reports
an anomaly type that the same workload on S without that switch does not -- for all but
renumber_response_offsets, S without the switch is even clean. The workloads were found by a
search over small workloads (1-10 messages, batch splits, acks, flush thresholds, partitions,
poll_every, max_records) and bug sets, smallest sets first, then pinned here.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import chronik_lab as cl


@st.composite
def workloads(draw) -> cl.Scenario:
    messages = draw(st.integers(1, 40))
    if draw(st.booleans()):
        batch_sizes = None
    else:
        cuts = (
            sorted(draw(st.sets(st.integers(1, messages - 1), max_size=6))) if messages > 1 else []
        )
        bounds = [0, *cuts, messages]
        batch_sizes = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    return cl.Scenario(
        messages=messages,
        batch_sizes=batch_sizes,
        acks=draw(st.sampled_from([-1, 0, 1])),
        bugs="fixed",
        flush_batches=draw(st.integers(1, 12)),
        partitions=draw(st.integers(1, 4)),
        seed=draw(st.integers(0, 3)),
        linger_ms=draw(st.none() | st.integers(0, 20)),
        flush_ms=draw(st.sampled_from([0, 0, 1, 5, 30])),
        poll_every=draw(st.none() | st.integers(1, 5)),
        max_records=draw(st.sampled_from([1, 2, 3, 7, 500])),
        keyed=draw(st.booleans()),
    )


@given(workloads())
def test_the_fixed_broker_delivers_every_workload_exactly_once_in_order(scenario):
    run = cl.run(scenario)
    assert run.report.ok, run.report.summary()
    assert not run.failed_partitions and not run.consumer_capped
    for p in range(scenario.partitions):
        sent = run.sent[run.sent["partition"] == p]
        got = run.received[run.received["partition"] == p]
        assert got["message_id"].tolist() == sent["message_id"].tolist()
        assert got["offset"].tolist() == sent["offset"].tolist()


def anomaly_types(scenario: cl.Scenario) -> set[str]:
    return {kind for kind, n in cl.run(scenario).report.counts.items() if n}


# bug -> (the other switches on, workload fields, the anomaly type the bug adds)
IDEMPOTENT_RETRY = {
    "messages": 6,
    "batch_sizes": (2, 2, 2),
    "acks": -1,
    "idempotence": True,
    "retries": 1,
    "lost_acks": (2,),
}
SINGLE_SENDS = {"messages": 3, "batch_sizes": None, "acks": -1}
PINNED = {
    # Each acks=-1 request is flushed (invisibly) before it re-enters the buffer; only the last
    # request is served, from the buffer.
    "active_segment_invisible": ((), {**SINGLE_SENDS, "flush_batches": 1}, "lost-write"),
    # The flush's copy and the request's own are both kept: each record twice.
    "blind_append_buffer": (
        ("buffer_first_fetch", "cumulative_update_buffer", "no_mark_flushed"),
        {**SINGLE_SENDS, "flush_batches": 1},
        "nonmonotonic-poll",
    ),
    # 99 requests of 20 records wait for the release flush policy's 100th: the buffer keeps
    # the last 1000 of the 1980, and nothing is in a segment yet.
    "buffer_keeps_last_1000": (
        (),
        {"messages": 1980, "batch_sizes": (20,) * 99, "acks": 1, "flush_batches": 100},
        "lost-write",
    ),
    # v0.7.4's produce path: only the flush buffers, so with the segment invisible nothing is
    # readable (the records are flushed, but not registered).
    "flush_every_request": (
        ("active_segment_invisible",),
        {**SINGLE_SENDS, "acks": 1, "flush_batches": 10},
        "unseen",
    ),
    "buffer_first_fetch": ((), {**SINGLE_SENDS, "flush_batches": 2}, "lost-write"),
    "cumulative_update_buffer": (
        ("active_segment_invisible", "blind_append_buffer", "no_mark_flushed"),
        {**SINGLE_SENDS, "flush_batches": 1},
        "nonmonotonic-poll",  # each record twice at its own offset: 0 0 1 1 2 2
    ),
    # acks=1 records below the flush threshold: buffered, but fetch's high watermark (from the
    # segments) is 0 and the buffer's gate (the producer's, 0) is closed.
    "hw_only_acks_all": ((), {**SINGLE_SENDS, "acks": 1, "flush_batches": 10}, "unseen"),
    # chronik's compat workload: without mark_flushed the flush's second copy stays buffered.
    "no_mark_flushed": (
        ("blind_append_buffer", "buffer_first_fetch", "cumulative_update_buffer"),
        {"messages": 10, "batch_sizes": None, "acks": 1, "flush_batches": 10},
        "nonmonotonic-poll",
    ),
    # A flush still in flight (flush_ms) while later requests are buffered: clearing the whole
    # buffer at its end drops records it never wrote. With flushes that complete at once no
    # record above the flushed offset is ever buffered, and the switch would be invisible.
    "mark_flushed_clears_all": (
        (),
        {
            **SINGLE_SENDS,
            "messages": 6,
            "acks": 1,
            "flush_batches": 2,
            "linger_ms": 2,
            "flush_ms": 5,
        },
        "lost-write",
    ),
    # Renumbering cannot turn a clean run into a bad one (a correct fetch returns contiguous
    # offsets, which it leaves as they are); it changes *what* the client sees: the seed's
    # repeated offsets 0 1 2 3 0 1 ... become fresh offsets 0..19, i.e. true duplicates.
    "renumber_response_offsets": (
        (
            "blind_append_buffer",
            "buffer_first_fetch",
            "cumulative_update_buffer",
            "no_mark_flushed",
        ),
        {"messages": 10, "batch_sizes": (4, 6), "acks": -1, "flush_batches": 2},
        "duplicate",
    ),
    # The client side (sim/producer.py). The response to request 2 is lost and the producer
    # has no retries: it gives up, the outcome unknown. The application then sends the same ids
    # again -- written twice, at a new offset.
    "retry_on_ambiguous_error": (
        (),
        {"messages": 6, "batch_sizes": (2, 2, 2), "acks": -1, "lost_acks": (2,)},
        "duplicate",
    ),
    # librdkafka#4953: request 2 is written and its response lost; request 4 overtakes request 3
    # (OUT_OF_ORDER_SEQUENCE_NUMBER); the bump renumbers request 2, which is written again.
    "epoch_bump_on_out_of_order": (
        (),
        {
            "messages": 8,
            "batch_sizes": (2, 2, 2, 2),
            "acks": -1,
            "idempotence": True,
            "retries": 2,
            "max_in_flight": 3,
            "lost_acks": (2,),
            "reordered": (3,),
        },
        "duplicate",
    ),
    # The broker side of the idempotent producer, through the simulated producer: a retry
    # after a lost response is written again (without the switch: answered with its offsets).
    "no_producer_dedup": ((), IDEMPOTENT_RETRY, "duplicate"),
    # A kill before the final consume, nothing flushed yet: the acknowledged records were only
    # in memory (the write-ahead log forgotten on recovery).
    "ack_before_durable": (
        (),
        {"messages": 4, "batch_sizes": (2, 2), "acks": -1, "broker_restarts": (3,)},
        "unseen",
    ),
    "producer_state_lost_on_restart": (
        (),
        {**IDEMPOTENT_RETRY, "broker_restarts": (3,)},  # the retry reaches a restarted broker
        "duplicate",
    ),
}


# Switches that hide an anomaly rather than add one: bug -> (others, workload, the kind it hides).
MASKING = {
    # Kafka's range rule tells the consumer pushed past the log end (the seed's renumbered
    # position 20 for a log of 10) OFFSET_OUT_OF_RANGE; it resets to earliest and reads the
    # partition again, and again: re-delivery. chronik's rule answers empty instead.
    "chronik_fetch_range": (
        (
            "blind_append_buffer",
            "buffer_first_fetch",
            "cumulative_update_buffer",
            "no_mark_flushed",
            "renumber_response_offsets",
        ),
        {"messages": 10, "batch_sizes": (4, 6), "acks": -1, "flush_batches": 2},
        "nonmonotonic-poll",
    ),
}


@pytest.mark.parametrize("bug", sorted(MASKING))
def test_each_masking_switch_hides_an_anomaly_the_checker_reports_without_it(bug):
    others, fields, kind = MASKING[bug]
    without = cl.Scenario(**fields, bugs=others)
    assert kind in anomaly_types(without)
    assert kind not in anomaly_types(without.with_bugs((bug, *others)))


@pytest.mark.parametrize("bug", sorted(PINNED))
def test_each_bug_switch_makes_the_checker_report_an_anomaly(bug):
    others, fields, kind = PINNED[bug]
    without = cl.Scenario(**fields, bugs=others)
    with_bug = without.with_bugs((bug, *others))
    assert kind in anomaly_types(with_bug)
    assert kind not in anomaly_types(without)


# Switches only the wire server reads: the in-process engine's answers do not change, and their
# detection is a real client's (tests/test_wire_clients.py: CRC-checking clients refuse).
WIRE_ONLY = {"crc32_ieee_batches"}

# Switches that change what a client is told, never what the log holds: no anomaly to find.
# dedup_last_sequence_only answers a retry DUPLICATE_SEQUENCE_NUMBER, without its offsets: the
# record is written once, and the simulated producer's send becomes info (outcome unknown).
TOLD_ONLY = {"dedup_last_sequence_only": IDEMPOTENT_RETRY | {"max_in_flight": 2}}


@pytest.mark.parametrize("bug", sorted(TOLD_ONLY))
def test_a_told_only_switch_leaves_the_log_exact_and_the_client_without_offsets(bug):
    without = cl.run(cl.Scenario(**TOLD_ONLY[bug]))
    with_bug = cl.run(cl.Scenario(**TOLD_ONLY[bug], bugs=[bug]))
    assert without.report.ok and with_bug.report.ok
    assert with_bug.received_ids == without.received_ids
    assert with_bug.report.stats["acknowledged"] < without.report.stats["acknowledged"]


def test_dedup_last_sequence_only_answers_a_retry_without_its_offsets():
    # request 2's response is lost while request 3 is in flight: its retry's sequence is below
    # the one expected. Kafka's window answers it with offsets 2-3; one expected sequence
    # answers DUPLICATE_SEQUENCE_NUMBER, and the producer never learns where ids 2-3 are.
    def sends(bugs: list[str]) -> list[tuple[int, str, object]]:
        run = cl.run(cl.Scenario(**TOLD_ONLY["dedup_last_sequence_only"], bugs=bugs))
        h = run.history[run.history["f"] == "send"]
        offsets = h["offset"].astype(object).where(h["offset"].notna(), None)
        return list(zip(h["value"], h["type"], offsets, strict=True))

    assert sends([]) == [(i, "ok", i) for i in range(6)]
    told = sends(["dedup_last_sequence_only"])
    assert told == [(0, "ok", 0), (1, "ok", 1), (2, "info", None), (3, "info", None),
                    (4, "ok", 4), (5, "ok", 5)]  # fmt: skip


def test_every_bug_switch_has_a_pinned_detection_workload():
    assert set(PINNED) | set(MASKING) | WIRE_ONLY | set(TOLD_ONLY) == set(cl.BUGS)
    assert not set(PINNED) & set(MASKING)
