"""Kafka's idempotent producer on one partition: the producer state and its checks.

Modelled on Kafka's `ProducerStateEntry`, `ProducerAppendInfo` and `UnifiedLog`'s duplicate
check (storage/.../internals/log), for a client's append:

- per producer id: its epoch and the last `NUM_BATCHES_TO_RETAIN` (5) batches' first and last
  sequence and first and last offset; a batch of a new epoch clears them;
- a batch of the current epoch whose sequence range equals a retained batch's is a duplicate:
  not appended, answered with the retained batch's offsets (`findDuplicateBatch`);
- an older epoch is fenced: InvalidProducerEpochError (`checkProducerEpoch`);
- a newer epoch must start at sequence 0, and within an epoch a batch must start right after
  the last one (`inSequence`: last + 1, or 0 after 2^31 - 1): else OutOfOrderSequenceError --
  also for a sequence from before the window, which no retained batch matches;
- a producer id this partition does not know accepts any sequence (Kafka accepts a producer
  whose state retention removed: `currentEntry.producerEpoch() == NO_PRODUCER_EPOCH`; chronik,
  under dedup_last_sequence_only, expects 0).

Sequences wrap at 2^31 as `DefaultRecordBatch.incrementSequence` does. The checks are per
batch, never per record. The state is rebuilt on recovery from the producer fields every record
carries in its segment (and the write-ahead log): `replay` takes the batches in offset order.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from chronik_lab.bugs import BugSet
from chronik_lab.engine.records import Producer
from chronik_lab.errors import (
    DuplicateSequenceError,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
)

NUM_BATCHES_TO_RETAIN = 5  # ProducerStateEntry.NUM_BATCHES_TO_RETAIN
SEQUENCE_MOD = 1 << 31  # sequences are int32 >= 0: after 2^31 - 1 comes 0


def increment_sequence(sequence: int, increment: int) -> int:
    """`DefaultRecordBatch.incrementSequence`: sequence + increment, wrapping at 2^31."""
    return (sequence + increment) % SEQUENCE_MOD


# One appended batch of a producer: (first_seq, last_seq, first_offset, last_offset). A plain
# tuple: one is made per idempotent produce, and a NamedTuple costs ten times as much to make.
BatchMetadata = tuple[int, int, int, int]


class ProducerEntry:
    """One producer id on one partition: its current `epoch` and its last batches, oldest
    first, at most NUM_BATCHES_TO_RETAIN, all of that epoch, their sequences and offsets
    increasing; `next_sequence`: the sequence the next batch of the epoch must start at (the
    last batch's last sequence + 1, wrapped), kept beside them so that the in-sequence check
    of every idempotent produce reads one slot. Not thread-safe."""

    __slots__ = ("epoch", "batches", "next_sequence")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.batches: deque[BatchMetadata] = deque(maxlen=NUM_BATCHES_TO_RETAIN)
        self.next_sequence = 0

    def find(self, first_seq: int, last_seq: int) -> BatchMetadata | None:
        for batch in self.batches:
            if batch[0] == first_seq and batch[1] == last_seq:
                return batch
        return None

    def __repr__(self) -> str:
        return f"ProducerEntry(epoch={self.epoch}, batches={list(self.batches)})"


class ProducerState:
    """The producer entries of one partition, by producer id (Kafka's ProducerStateManager).

    Invariants: each entry holds only batches of its epoch, at most NUM_BATCHES_TO_RETAIN, the
    ones appended last (in offset order); `check` changes nothing, `record` is called once per
    appended idempotent batch, after its append. `expected_next` is the (producer id, epoch,
    base sequence) of the batch that continues the last one recorded (None before any): a
    batch with exactly these fields is in sequence, and `check` would return None for it. Not
    thread-safe: the partition's caller serialises requests.
    """

    def __init__(self, bugs: BugSet) -> None:
        self.bugs = bugs
        self.producers: dict[int, ProducerEntry] = {}
        # The produce path compares a request's fields with this before calling `check`: one
        # producer sending in order (the usual case) costs a tuple comparison, not a call.
        self.expected_next: Producer | None = None

    def check(self, producer: Producer, first: int, last: int) -> BatchMetadata | None:
        """The retained batch this one -- `producer`'s fields, records at offsets
        `first..last` if appended -- repeats (a duplicate: append nothing, answer its offsets),
        or None: a new batch, in sequence, to append. Raises InvalidProducerEpochError or
        OutOfOrderSequenceError (or, under dedup_last_sequence_only, DuplicateSequenceError)
        and changes nothing."""
        pid, epoch, first_seq = producer
        entry = self.producers.get(pid)
        if entry is not None:
            if epoch < entry.epoch:
                raise InvalidProducerEpochError(pid, epoch, entry.epoch)
            if epoch > entry.epoch:
                if first_seq != 0:
                    raise OutOfOrderSequenceError(pid, epoch, 0, first_seq)
                return None
        expected = 0 if entry is None else entry.next_sequence
        if first_seq == expected:
            return None
        if self.bugs.dedup_last_sequence_only:
            # chronik's validate_producer_sequence (Tansu 0.6's idempotent_sequence_check):
            # one expected sequence per producer and partition -- 0 for a producer it holds
            # nothing of (`unwrap_or(0)`) -- and no window of batches: a lower one is
            # DUPLICATE_SEQUENCE_NUMBER, with no offsets to answer it with, a higher one
            # OUT_OF_ORDER_SEQUENCE_NUMBER.
            error = DuplicateSequenceError if first_seq < expected else OutOfOrderSequenceError
            raise error(pid, epoch, expected, first_seq)
        if entry is None:
            return None  # unknown producer: any sequence (Kafka's NO_PRODUCER_EPOCH case)
        duplicate = entry.find(first_seq, increment_sequence(first_seq, last - first))
        if duplicate is None:
            raise OutOfOrderSequenceError(pid, epoch, expected, first_seq)
        return duplicate

    def record(self, producer: Producer, first: int, last: int) -> None:
        """An idempotent batch of `producer` (its fields), records `first..last`, was appended
        (or is replayed)."""
        pid, epoch, first_seq = producer
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerEntry(epoch)
        elif entry.epoch != epoch:  # maybeUpdateProducerEpoch: a new epoch clears the window
            entry.epoch = epoch
            entry.batches.clear()
        # a one-record batch ends at the sequence it starts at: no int arithmetic to allocate
        last_seq = first_seq if first == last else (first_seq + last - first) % SEQUENCE_MOD
        entry.batches.append((first_seq, last_seq, first, last))
        entry.next_sequence = next_sequence = (last_seq + 1) % SEQUENCE_MOD
        self.expected_next = (pid, epoch, next_sequence)

    def replay(self, ids: np.ndarray, epochs: np.ndarray, seqs: np.ndarray, base: int) -> None:
        """Rebuild from the producer columns of records at offsets base, base+1, ... (a
        segment's, in offset order): each run of records with the same fields is one batch.
        Only each producer's last NUM_BATCHES_TO_RETAIN batches here reach `record`, so a
        segment of millions of batches costs a few numpy passes."""
        if not len(ids) or (ids < 0).all():
            return
        change = (ids[1:] != ids[:-1]) | (epochs[1:] != epochs[:-1]) | (seqs[1:] != seqs[:-1])
        starts = np.concatenate(([0], np.flatnonzero(change) + 1))
        ends = np.concatenate((starts[1:], [len(ids)])) - 1
        run_ids = ids[starts]
        runs = np.flatnonzero(run_ids >= 0)
        # The last NUM_BATCHES_TO_RETAIN runs of each producer id, kept in offset order.
        order = runs[np.lexsort((runs, run_ids[runs]))]
        grouped = run_ids[order]
        rank_from_end = _rank_from_end(grouped)
        keep = np.sort(order[rank_from_end < NUM_BATCHES_TO_RETAIN])
        for i in keep.tolist():
            s = int(starts[i])
            producer = (int(ids[s]), int(epochs[s]), int(seqs[s]))
            self.record(producer, base + s, base + int(ends[i]))

    def __len__(self) -> int:
        return len(self.producers)


def _rank_from_end(grouped: np.ndarray) -> np.ndarray:
    """For a sorted array of group keys, each element's position counted from its group's end
    (the last of a group: 0)."""
    n = len(grouped)
    if not n:
        return np.empty(0, dtype=np.int64)
    boundaries = np.flatnonzero(grouped[1:] != grouped[:-1]) + 1
    group_ends = np.concatenate((boundaries, [n])) - 1
    sizes = np.diff(np.concatenate(([0], boundaries, [n])))
    return np.repeat(group_ends, sizes) - np.arange(n)
