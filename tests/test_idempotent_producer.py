"""Kafka's idempotent producer in the engine: `Broker.produce(..., producer_id=,
producer_epoch=, base_sequence=)` keeps each producer's last 5 batches, answers a retry of one of
them with its original offsets, refuses gaps and fenced epochs without appending, wraps
sequences at 2^31, and rebuilds its state from the segments on recovery."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import chronik_lab as cl
from chronik_lab.engine.producer_state import NUM_BATCHES_TO_RETAIN, increment_sequence

T = "t"


def send(b: cl.Broker, seq: int, count: int = 1, pid: int = 3, epoch: int = 0, tag: str = "v"):
    values = [f"{tag}{seq}-{i}" for i in range(count)]
    return b.produce(T, 0, values, producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def test_a_retry_of_any_of_the_last_five_batches_gets_its_original_offsets(make_broker) -> None:
    b = make_broker(flush_batches=3)
    firsts = [send(b, 2 * i, 2) for i in range(6)]  # batches at sequences 0, 2, ..., 10
    for i in range(1, 6):  # the last five: sequences 2..10
        retry = send(b, 2 * i, 2)
        assert retry.duplicate
        assert (retry.base_offset, retry.last_offset) == (firsts[i].base_offset, 2 * i + 1)
    assert b.log_end_offset(T, 0) == 12  # nothing appended by the retries


def test_a_retry_from_before_the_window_is_out_of_order_and_appends_nothing(make_broker) -> None:
    b = make_broker()
    for i in range(NUM_BATCHES_TO_RETAIN + 1):
        send(b, i)
    with pytest.raises(cl.OutOfOrderSequenceError) as info:
        send(b, 0)  # six batches ago: no longer retained (Kafka answers the same)
    err = info.value
    assert (err.producer_id, err.producer_epoch, err.expected_sequence, err.base_sequence) == (
        3,
        0,
        6,
        0,
    )
    assert b.log_end_offset(T, 0) == 6


def test_a_gap_in_sequence_is_out_of_order_and_appends_nothing(make_broker) -> None:
    b = make_broker()
    send(b, 0, 3)
    with pytest.raises(cl.OutOfOrderSequenceError, match="base sequence 4, expected 3"):
        send(b, 4)
    assert b.log_end_offset(T, 0) == 3
    assert send(b, 3).base_offset == 3  # the producer goes on from where it was


def test_an_older_epoch_is_fenced_and_a_newer_one_starts_at_zero(make_broker) -> None:
    b = make_broker()
    send(b, 0, epoch=2)
    with pytest.raises(cl.InvalidProducerEpochError) as info:
        send(b, 1, epoch=1)
    assert (info.value.producer_epoch, info.value.current_epoch) == (1, 2)
    with pytest.raises(cl.OutOfOrderSequenceError):
        send(b, 5, epoch=3)  # a new epoch must start at sequence 0
    assert send(b, 0, epoch=3).base_offset == 1
    assert not send(b, 1, epoch=3).duplicate
    # the new epoch cleared the old epoch's window: its batch 0 is not a retry any more
    with pytest.raises(cl.InvalidProducerEpochError):
        send(b, 0, epoch=2)
    assert b.log_end_offset(T, 0) == 3


def test_sequences_wrap_at_two_to_the_31(make_broker) -> None:
    top = 2**31 - 1
    b = make_broker()
    send(b, top - 1, 3)  # sequences 2^31-2, 2^31-1, 0
    nxt = send(b, 1)
    assert (nxt.base_offset, nxt.duplicate) == (3, False)
    assert send(b, top - 1, 3).duplicate  # the wrapped batch is still found in the window
    assert increment_sequence(top, 1) == 0 and increment_sequence(top - 1, 2) == 0


@pytest.mark.parametrize("flush_batches", [1, 10], ids=["in-a-segment", "in-the-wal"])
def test_a_batch_across_the_wrap_is_still_a_duplicate_after_a_kill(
    make_broker, tmp_path, flush_batches
):
    top = 2**31 - 1
    b = make_broker(flush_batches=flush_batches)
    send(b, top - 1, 3)  # sequences 2^31-2, 2^31-1, 0 at offsets 0-2
    # the data_dir as a SIGKILL now would leave it: unflushed, the batch is in the WAL only
    killed = tmp_path / "after-kill"
    shutil.copytree(b.data_dir, killed, ignore=shutil.ignore_patterns(".lock"))
    b = make_broker(data_dir=killed, flush_batches=flush_batches)
    assert b.pending(T, 0).num_rows == (0 if flush_batches == 1 else 3)
    again = send(b, top - 1, 3)
    assert (again.duplicate, again.base_offset, again.last_offset) == (True, 0, 2)
    assert send(b, 1).base_offset == 3  # the next sequence after the wrap, in order


def test_an_unknown_producer_may_start_at_any_sequence(make_broker) -> None:
    # Kafka accepts a producer whose state it holds no more (retention removed its batches)
    b = make_broker()
    assert send(b, 41).base_offset == 0
    assert send(b, 42).base_offset == 1


def test_under_chronik_s_one_sequence_check_an_unknown_producer_starts_at_zero(make_broker):
    # chronik's validate_producer_sequence: `sequence_numbers.get(..).map(|s| s + 1)
    # .unwrap_or(0)` -- a producer it holds nothing of is expected at 0
    b = make_broker(bugs=["dedup_last_sequence_only"])
    with pytest.raises(cl.OutOfOrderSequenceError) as info:
        send(b, 41)
    assert (info.value.expected_sequence, info.value.base_sequence) == (0, 41)
    assert send(b, 0).base_offset == 0  # refused before: nothing was appended


def test_producers_and_partitions_are_independent(make_broker) -> None:
    b = make_broker()
    send(b, 0, pid=1)
    send(b, 0, pid=2)
    b.produce(T, 1, [b"x"], producer_id=1, producer_epoch=0, base_sequence=0)
    assert send(b, 0, pid=2).duplicate
    assert b.log_end_offset(T, 0) == 2 and b.log_end_offset(T, 1) == 1


def test_each_request_meets_its_own_producer_s_state_when_producers_take_turns(make_broker):
    # the produce path skips the check for the batch that continues the last one recorded:
    # only the same producer id, epoch and sequence may take that shortcut
    b = make_broker()
    send(b, 0, pid=2)  # producer 2 continues at sequence 1
    send(b, 0, 2, pid=1)  # producer 1 continues at sequence 2: the batch recorded last
    with pytest.raises(cl.OutOfOrderSequenceError, match="base sequence 2, expected 1"):
        send(b, 2, pid=2)  # producer 1's next sequence, a gap for producer 2
    assert send(b, 0, epoch=1, pid=1).base_offset == 3  # a new epoch starts at 0
    with pytest.raises(cl.InvalidProducerEpochError):
        send(b, 1, epoch=0, pid=1)  # the fenced epoch, at the sequence that followed in it
    assert send(b, 1, epoch=1, pid=1).base_offset == 4
    assert send(b, 1, epoch=1, pid=1).duplicate  # a retry of the batch recorded last
    assert send(b, 1, pid=2).base_offset == 5
    assert b.log_end_offset(T, 0) == 6


@pytest.mark.parametrize(
    "fields",
    [
        {"producer_id": 1},
        {"producer_id": 1, "producer_epoch": 0},
        {"producer_id": -1, "producer_epoch": 0, "base_sequence": 0},
        {"producer_id": 1, "producer_epoch": 2**15, "base_sequence": 0},
        {"producer_id": 1, "producer_epoch": 0, "base_sequence": 2**31},
        {"producer_id": True, "producer_epoch": 0, "base_sequence": 0},
        {"producer_id": 1, "producer_epoch": "0", "base_sequence": 0},
    ],
)
def test_bad_producer_fields_are_refused_and_change_nothing(make_broker, fields) -> None:
    b = make_broker()
    with pytest.raises(cl.InvalidArgumentError):
        b.produce(T, 0, [b"x"], **fields)
    assert b.partitions() == []


def test_fetch_keeps_the_producer_fields_of_every_record(make_broker) -> None:
    b = make_broker(flush_batches=2)
    send(b, 0, 2, pid=9, epoch=4)
    b.produce(T, 0, [b"plain"])
    send(b, 2, 1, pid=9, epoch=4)  # flushed with the plain one into one record batch
    records = b.fetch(T, 0).records
    assert records.column("producer_id").to_pylist() == [9, 9, -1, 9]
    assert records.column("producer_epoch").to_pylist() == [4, 4, -1, 4]
    assert records.column("base_sequence").to_pylist() == [0, 0, -1, 2]


def test_init_producer_id_never_hands_out_an_id_twice_across_restarts(make_broker) -> None:
    b = make_broker()
    first = [b.init_producer_id() for _ in range(3)]
    assert first == [(0, 0), (1, 0), (2, 0)]
    b.close()
    b = make_broker()
    assert b.init_producer_id() == (3, 0)


def test_a_retry_after_a_restart_is_still_deduplicated(make_broker) -> None:
    b = make_broker(flush_batches=1, segment_bytes=1)  # every batch its own sealed segment
    for i in range(7):
        send(b, 2 * i, 2, pid=5)
    send(b, 0, 1, pid=6)
    b.close()
    b = make_broker(flush_batches=1)
    for i in range(2, 7):
        assert send(b, 2 * i, 2, pid=5).base_offset == 2 * i
        assert send(b, 2 * i, 2, pid=5).duplicate
    with pytest.raises(cl.OutOfOrderSequenceError):
        send(b, 2, 2, pid=5)  # out of the window: as before the restart
    assert send(b, 0, 1, pid=6).duplicate
    assert send(b, 14, 1, pid=5).base_offset == 15


# -- against a reference model ---------------------------------------------------------------
@dataclass
class Model:
    """Kafka's rules, written plainly: per producer, its epoch and its appended batches."""

    epochs: dict[int, int] = field(default_factory=dict)
    batches: dict[int, list[tuple[int, int, int, int]]] = field(default_factory=dict)
    end: int = 0

    def produce(self, pid: int, epoch: int, seq: int, count: int) -> tuple[str, int]:
        last_seq = (seq + count - 1) % 2**31
        if pid in self.epochs:
            current = self.epochs[pid]
            kept = self.batches[pid][-5:]
            if epoch < current:
                return "fenced", -1
            if epoch == current:
                for first_seq, last, first_offset, _ in kept:
                    if (first_seq, last) == (seq, last_seq):
                        return "duplicate", first_offset
                expected = (kept[-1][1] + 1) % 2**31 if kept else 0
                if seq != expected:
                    return "out_of_order", -1
            elif seq != 0:
                return "out_of_order", -1
            if epoch != current:
                self.batches[pid] = []
        self.epochs[pid] = epoch
        self.batches.setdefault(pid, []).append((seq, last_seq, self.end, self.end + count - 1))
        self.end += count
        return "appended", self.end - count


ops = st.lists(
    st.tuples(
        st.sampled_from(["next", "retry", "gap", "bump", "old", "restart"]),
        st.integers(0, 2),  # producer
        st.integers(1, 3),  # records
        st.integers(0, 7),  # which retained batch to retry
    ),
    max_size=40,
)


@given(ops=ops)
@settings(max_examples=settings().max_examples * 3 // 5, deadline=None)  # ci 60, dev 6
def test_the_engine_agrees_with_kafkas_rules_across_restarts(tmp_path_factory, ops) -> None:
    data_dir = tmp_path_factory.mktemp("idem")
    model = Model()
    b = cl.Broker(data_dir, flush_batches=2)
    state: dict[int, tuple[int, int]] = {}  # the client's view: pid -> (epoch, next sequence)
    try:
        for op, pid, count, back in ops:
            if op == "restart":
                b.close()
                b = cl.Broker(data_dir, flush_batches=2)
                continue
            epoch, nxt = state.get(pid, (0, 0))
            seq = nxt
            if op == "retry":
                sent = model.batches.get(pid, [])
                if not sent:
                    continue
                seq, last_seq, first_offset, last_offset = sent[-1 - back % len(sent)]
                count = last_offset - first_offset + 1
                epoch = model.epochs[pid]
            elif op == "gap":
                seq = (nxt + 1 + back) % 2**31
            elif op == "bump":
                epoch, seq = epoch + 1, 0
            elif op == "old":
                epoch = max(0, epoch - 1)
            want, offset = model.produce(pid, epoch, seq, count)
            try:
                r = b.produce(
                    T, 0, [b"x"] * count, producer_id=pid, producer_epoch=epoch, base_sequence=seq
                )
                got = ("duplicate" if r.duplicate else "appended", r.base_offset)
            except cl.InvalidProducerEpochError:
                got = ("fenced", -1)
            except cl.OutOfOrderSequenceError:
                got = ("out_of_order", -1)
            assert got == (want, offset)
            if want == "appended":
                state[pid] = (epoch, (seq + count) % 2**31)
        if model.end:
            assert b.log_end_offset(T, 0) == model.end
    finally:
        b.close()


def test_many_small_idempotent_batches_read_back_with_their_fields(make_broker) -> None:
    # one record batch per request: a fetch decodes them in one go (engine/fastread.py)
    b = make_broker(flush_batches=1)
    for i in range(20):
        send(b, i // 3, pid=i % 3)  # three producers, taking turns
    records = b.fetch(T, 0).records
    assert records.column("producer_id").to_pylist() == [i % 3 for i in range(20)]
    assert records.column("base_sequence").to_pylist() == [i // 3 for i in range(20)]
    assert records.column("producer_epoch").to_pylist() == [0] * 20
