"""The bug catalogue and the version presets.

Each bug is one switch in the engine: one guard removed or one step swapped, in the place
chronik had it -- one function, or for hw_only_acks_all the two that 3ed116d fixed together
(`grep -n "bugs\\." chronik_lab/` lists those places; each entry's `where` names them). With no
switch on, the engine is a correct Kafka-style log ("fixed"). Each preset is chronik's code at
its tag, switches it never fixed included; `v1.0` is the v1.0.0 release as tagged.

Each guard tests the engine's state before it reads its switch (`if state_differs and
bugs.x:`), so a switch is read only where it could change the result: `cl.explain` records which
switches a run read (sim/switch_reads.py) and settles every combination that agrees on those at
once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chronik_lab.errors import InvalidArgumentError, UnknownBugError


@dataclass(frozen=True)
class Bug:
    name: str
    summary: str
    introduced_in: str
    fixed_in: str
    # the commit that fixed it; for a bug never fixed, one that has it; for another broker's
    # bug, repo#number of the change that fixed it there
    chronik_commit: str
    where: str


_CATALOGUE = [
    Bug(
        "cumulative_update_buffer",
        "flush_partition also calls update_buffer with every record of every pending batch "
        "(at v0.7.4 the buffer's only source; from 3ed116d on, records the produce path had "
        "already buffered)",
        "v0.7.4",
        "v0.7.6",
        "fc6e6ce",
        "engine/produce.py: _complete_flush",
    ),
    Bug(
        "blind_append_buffer",
        "update_buffer does records.extend(records) with no check for offsets already buffered",
        "v0.7.4",
        "v0.7.6",
        "fc6e6ce",
        "engine/buffer.py: update_buffer",
    ),
    Bug(
        "no_mark_flushed",
        "nothing removes flushed records from the fetch-side buffer",
        "v0.7.4",
        "v0.7.6",
        "fc6e6ce",
        "engine/produce.py: _complete_flush",
    ),
    Bug(
        "mark_flushed_clears_all",
        "mark_flushed clears the whole buffer instead of keeping records above the flushed offset",
        "v0.7.6",
        "v1.0",
        "8eb1c4d",
        "engine/buffer.py: mark_flushed",
    ),
    Bug(
        "active_segment_invisible",
        "the active segment is registered with the metadata store (visible to fetch) only when "
        "it rotates (256 MB or 30 s), not on every write (8eb1c4d returns the active segment's "
        "metadata; a1d9255 also uploads it at flush time). At v0.7.4 every flush ended with "
        "flush_all, which sealed and registered the segment; 3ed116d removed that call",
        "v0.7.5",
        "v1.0",
        "8eb1c4d",
        "engine/segment_log.py: append",
    ),
    Bug(
        "buffer_first_fetch",
        "fetch reads every buffered record in [offset, hw) first, in buffer order, then segments "
        "from the last pushed offset + 1",
        "v0.7.4",
        "v0.7.6",
        "fc6e6ce",
        "engine/fetch.py: fetch",
    ),
    Bug(
        "renumber_response_offsets",
        "the response encoder writes base_offset = records[0].offset and offset_delta = position, "
        "so the client sees records[0].offset + position instead of each record's own offset "
        "(chronik never changed it through v1.0.0: harmless once fetch returns each offset "
        "once, in order); on the wire that one batch carries no producer id, epoch or sequence "
        "(encode_kafka_records)",
        "v0.7.4",
        "never",
        "e4f2615",
        "engine/fetch.py: encode_response; wire/batches.py: encode_batch",
    ),
    Bug(
        "chronik_fetch_range",
        "fetch answers OFFSET_OUT_OF_RANGE only below the log start offset; any offset at or "
        "above the high watermark, however far above the log end, gets an empty response "
        "(Kafka: out of range above the log end offset), so a consumer pushed past the log end "
        "is never told to reset",
        "v0.7.4",
        "never",
        "a25b774",
        "engine/fetch.py: fetch",
    ),
    Bug(
        "hw_only_acks_all",
        "the producer's high watermark advances only for acks=-1 requests, and fetch takes its "
        "high watermark from the registered segments alone (last visible offset + 1); the "
        "producer's serves only as the buffer's gate. Records neither flushed to a visible "
        "segment nor (for acks=-1) buffered below it stay unreadable",
        "v0.7.4",
        "v0.7.5",
        "3ed116d",
        "engine/fetch.py: fetch_high_watermark; engine/produce.py: produce_to_partition",
    ),
    Bug(
        "flush_every_request",
        "produce_to_partition ends with flush_partition (not flush_partition_if_needed) and does "
        "not call update_buffer itself: every request is flushed, and only the flush fills the "
        "fetch buffer",
        "v0.7.4",
        "v0.7.5",
        "3ed116d",
        "engine/produce.py: produce_to_partition",
    ),
    Bug(
        "buffer_keeps_last_1000",
        "update_buffer keeps only the last 1000 records (records.drain(0..trim)): records "
        "neither flushed nor visible are dropped when more than 1000 wait",
        "v0.7.4",
        "never",
        "a25b774",
        "engine/buffer.py: update_buffer",
    ),
    Bug(
        "crc32_ieee_batches",
        # no hyphenated words: `chronik-lab bugs` wraps summaries with textwrap
        "fetch responses' record batches carry an IEEE CRC32 (crc32fast) where Kafka's v2 format "
        "needs CRC32C: clients that check CRCs by default (aiokafka, the kafka package 3.x) "
        "reject the batch, librdkafka and the kafka package 2.0.2 do not look; only the wire "
        "server has it, the engine itself never encodes bytes (kafka_records.rs calculate_crc32 "
        "since the file's first commit b3884a2, still so after v1.0.0)",
        "v0.7.4",
        "never",
        "e4f2615",
        "wire/batches.py: encode_batch",
    ),
]

_CATALOGUE += [
    Bug(
        "ack_before_durable",
        "a produce is acknowledged while its records are only in pending_batches in memory, "
        "until a flush writes them (every flush_batches requests or linger): a killed process "
        "loses acknowledged records (the lab forgets its write ahead log on recovery). From "
        "3ed116d (v0.7.5) on produce_to_partition flushes only when needed; at v0.7.4 it ended "
        "every request with flush_partition and flush_all, which uploaded the segment before "
        "the answer. chronik v1.0.0 routed produce through a WAL handler whose record parser "
        "was a stub returning no records (wal_integration.rs), so nothing reached "
        "its WAL; produce_to_partition wrote its WAL before the high watermark from 3f95f0d "
        "(v1.3.51) on",
        "v0.7.5",
        "v1.3.51",
        "3f95f0d",
        # the lab writes its log either way and forgets it on recovery: the same loss, and a
        # switch read only where it changes the result
        "engine/partition.py: Partition.recover",
    ),
    Bug(
        "no_producer_dedup",
        "the broker ignores the idempotent producer's sequence numbers: a retried batch is "
        "appended again at new offsets, a gap or an old epoch is accepted (Redpanda up to "
        "21.10.2, Redpanda issue 3039; this lab's wire server before issue 18)",
        "redpanda",
        "#3077",
        "redpanda#3077",  # redpanda-data/redpanda: the 5-batch window (#3040 first made it fatal)
        "engine/produce.py: produce_to_partition",
    ),
    Bug(
        "dedup_last_sequence_only",
        "one expected sequence per producer and partition instead of a window of 5 batches, "
        "0 for a producer the partition holds nothing of: a lower sequence (a retry) is "
        "answered DUPLICATE_SEQUENCE_NUMBER with no offsets, a higher one OUT_OF_ORDER "
        "(chronik's validate_producer_sequence at every tag v0.7.4 to v1.0.0; Tansu 0.6's "
        "idempotent_sequence_check)",
        "v0.7.4",
        "never",
        "e4f2615",
        "engine/producer_state.py: ProducerState.check",
    ),
    Bug(
        "producer_state_lost_on_restart",
        "the producer state is kept in memory only and not rebuilt on recovery, so a batch "
        "retried across a broker restart is appended again (chronik's producer_info HashMap, "
        "v0.7.4 to v1.0.0; Kafka rebuilds it from its log and snapshots)",
        "v0.7.4",
        "never",
        "e4f2615",
        "engine/partition.py: Partition.recover",
    ),
]

BUGS: dict[str, Bug] = {bug.name: bug for bug in _CATALOGUE}

# Every preset was checked against chronik's code at its tag (fetch_handler.rs: fetch_partition,
# fetch_records, update_buffer, mark_flushed, encode_kafka_records; produce_handler.rs:
# produce_to_partition, flush_partition; chronik-storage segment_writer.rs: write_dual_format,
# flush_all). The switches chronik never changed through v1.0.0 (crc32_ieee_batches: the wire
# server's, kafka_records.rs calculate_crc32 at every tag):
_ALWAYS = frozenset(
    {
        "renumber_response_offsets",
        "chronik_fetch_range",
        "buffer_keeps_last_1000",
        "crc32_ieee_batches",
        # produce_handler.rs validate_producer_sequence / update_producer_sequence, the same at
        # every tag: one expected sequence per producer, in an in-memory HashMap
        "dedup_last_sequence_only",
        "producer_state_lost_on_restart",
    }
)
# From 3ed116d (v0.7.5) on produce_handler.rs answered acks=1 and -1 with the batch in
# pending_batches only (flush_partition_if_needed); at v0.7.4 every request ended with
# flush_partition, whose flush_all uploaded the segment before the answer.
_FROM_V075 = _ALWAYS | {"ack_before_durable"}
# v0.7.4: the high watermark only for acks=-1 and read from segments; every request flushed (and
# flush_all made each flush visible); only the flush filled the buffer, by extend; buffer first.
_V074 = _ALWAYS | {
    "hw_only_acks_all",
    "flush_every_request",
    "cumulative_update_buffer",
    "blind_append_buffer",
    "no_mark_flushed",
    "buffer_first_fetch",
}
# v0.7.5 (3ed116d, e4f2615): the produce path also buffers, flush_all is gone (the active segment
# is invisible until it rotates), the high watermark moves for every acks level.
_V075 = _FROM_V075 | {
    "cumulative_update_buffer",
    "blind_append_buffer",
    "no_mark_flushed",
    "active_segment_invisible",
    "buffer_first_fetch",
}
# v0.7.6 (fc6e6ce) removed the cumulative update, deduplicated update_buffer (against the
# offsets buffered now), split fetch into segment and buffer phases and added mark_flushed --
# which cleared the whole buffer while the active segment was still invisible: the 90% loss.
_V076 = _FROM_V075 | {"mark_flushed_clears_all", "active_segment_invisible"}
# v1.0.0 as released (tag v1.0.0): 8eb1c4d made the active segment visible, mark_flushed keep
# the records above the flushed offset, and update_buffer dedup by a HashSet and sort.
_V10 = _FROM_V075

PRESETS: dict[str, frozenset[str]] = {
    "v0.7.4": _V074,
    "v0.7.5": _V075,
    "v0.7.6": _V076,
    "v1.0": _V10,
    "fixed": frozenset(),
}

# The simulated clients' switches (sim/producer.py): documented client behaviours that turn a
# lost response or an out-of-order error into a duplicate. No chronik release has them (chronik
# is a broker), so no preset does either; `chronik_commit` names the issue that documents each
# (an Apache JIRA key, or repo#number).
_CATALOGUE_CLIENTS = [
    Bug(
        "retry_on_ambiguous_error",
        "the application takes a send whose outcome is unknown (a timeout, NotLeaderOrFollower) "
        "for a failure and sends the same records again, as a new send: the broker appended the "
        "first one, so the records are written twice, idempotence or not (KAFKA-13574; Jepsen "
        "counts such a send as indeterminate, never as failed)",
        "kafka clients",
        "never",
        "KAFKA-13574",
        "sim/producer.py: DeliveryProducer._timed_out",
    ),
    Bug(
        "epoch_bump_on_out_of_order",
        "the idempotent producer answers OUT_OF_ORDER_SEQUENCE_NUMBER by bumping its epoch and "
        "numbering every unacknowledged batch from sequence 0 again, instead of re-enqueuing "
        "the batch behind the earlier one still in flight: a batch the broker appended whose "
        "response was lost is sent under the new epoch, which no broker can deduplicate "
        "(confluentinc/librdkafka#4953, open; the Java client retries without a bump)",
        "librdkafka",
        "never",
        "librdkafka#4953",
        "sim/producer.py: DeliveryProducer._out_of_order",
    ),
]
BUGS.update((bug.name, bug) for bug in _CATALOGUE_CLIENTS)


def resolve_bugs(bugs: str | Iterable[str] | None) -> frozenset[str]:
    """Turn a preset name, a bug name, or an iterable of bug names into a set of bug names."""
    if bugs is None:
        return frozenset()
    if isinstance(bugs, (bytes, bytearray)):
        raise InvalidArgumentError(
            f"bugs must be a str (a preset or bug names), not {type(bugs).__name__} {bugs!r}"
        )
    if isinstance(bugs, str):
        if bugs in PRESETS:
            return PRESETS[bugs]
        names: Iterable[str] = [b for b in bugs.replace("+", ",").split(",") if b.strip()]
    else:
        try:
            names = list(bugs)
        except TypeError:
            raise InvalidArgumentError(
                f"bugs must be a preset name or bug names, not {type(bugs).__name__}"
            ) from None
    resolved: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentError(f"bug names must be str, not {type(name).__name__}")
        name = name.strip()
        if name in PRESETS:
            resolved |= PRESETS[name]
        elif name in BUGS:
            resolved.add(name)
        else:
            raise UnknownBugError(name, sorted(BUGS) + sorted(PRESETS))
    return frozenset(resolved)


class BugSet:
    """Attribute access to the active switches: `bugs.no_mark_flushed` is True when it is on.

    One slot per switch, set once here: the handlers read them on every request, and a slot
    costs a few nanoseconds where a __getattr__ lookup cost half a microsecond.
    """

    __slots__ = ("names", *BUGS)

    def __new__(cls, bugs: str | Iterable[str] | BugSet | None = None) -> BugSet:
        # A BugSet passes through as it is, so a subclass reaches the engine intact (explain's
        # records which switches a run reads: sim/switch_reads.py).
        return bugs if isinstance(bugs, BugSet) else super().__new__(cls)

    def __init__(self, bugs: str | Iterable[str] | BugSet | None = None) -> None:
        if bugs is self:  # passed through by __new__, already set up
            return
        self.names = resolve_bugs(bugs)
        for name in BUGS:
            setattr(self, name, name in self.names)

    def __repr__(self) -> str:
        return f"BugSet({sorted(self.names)})"
